package seal

import (
	"context"
	"fmt"
)

func Example() {
	ctx := context.Background()
	ks := &memKeyStore{} // in the hub: the SQLite or PostgreSQL store
	b := New(ks)

	_, err := b.Encrypt(Location{"cert-eu", "object", "indicator--1", "v1"}, []byte("{}"))
	fmt.Println(err)

	root, _ := NewRootKey() // in the hub: LoadKeyFile, RootKeyFromEnv or a Passphrase
	if err := b.Initialize(ctx, root); err != nil {
		panic(err)
	}
	if err := b.AddWorkspace(ctx, "cert-eu"); err != nil {
		panic(err)
	}
	loc := Location{Workspace: "cert-eu", Kind: "object", ID: "indicator--1", Version: "2026-01-01T00:00:00Z"}
	sealed, _ := b.Encrypt(loc, []byte(`{"type":"indicator"}`))
	term, _ := Term(sealed)
	plain, _ := b.Decrypt(loc, sealed)
	fmt.Println(term, string(plain))

	loc.Version = "2026-02-01T00:00:00Z"
	_, err = b.Decrypt(loc, sealed)
	fmt.Println(err)
	// Output:
	// sealed: the hub is sealed: no root key was given; start it with --root-key-file or CSHUB_ROOT_KEY
	// 1 {"type":"indicator"}
	// integrity: sealed value at cert-eu/object/indicator--1@2026-02-01T00:00:00Z does not authenticate: it was altered, moved from another place, or sealed under since-replaced workspace keys
}
