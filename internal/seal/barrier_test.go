package seal

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"cshub/internal/hub"
)

// newTestBarrier returns an unsealed barrier on a fresh in-memory KeyStore, with the given
// workspaces added, and its root key.
func newTestBarrier(t testing.TB, workspaces ...string) (*Barrier, *memKeyStore, []byte) {
	t.Helper()
	ks := &memKeyStore{}
	b := New(ks)
	root, err := NewRootKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Initialize(context.Background(), root); err != nil {
		t.Fatalf("Initialize: %v", err)
	}
	for _, ws := range workspaces {
		if err := b.AddWorkspace(context.Background(), ws); err != nil {
			t.Fatalf("AddWorkspace(%q): %v", ws, err)
		}
	}
	return b, ks, root
}

// wantCode fails unless err carries code.
func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := hub.ErrorCode(err); got != code {
		t.Fatalf("%s: error code %q (%v), want %q", what, got, err, code)
	}
}

func TestRoundTrip(t *testing.T) {
	b, _, _ := newTestBarrier(t, "cert-eu", "exercise-2026")
	big := bytes.Repeat([]byte(`{"type":"indicator"}`), 100)
	for _, tc := range []struct {
		loc   Location
		plain []byte
	}{
		{Location{"cert-eu", "object", "indicator--1", "2026-01-01T00:00:00.000Z"}, []byte(`{"type":"indicator"}`)},
		{Location{"cert-eu", "object", "indicator--1", "2026-01-01T00:00:00.000Z"}, nil},
		{Location{"exercise-2026", "note", "n1", ""}, []byte{0}},
		{Location{"exercise-2026", "object", "malware--2", "v"}, big},
		{Location{"", "totp", "42", ""}, []byte("JBSWY3DPEHPK3PXP")},
		{Location{"", "audit", "7", "7"}, []byte(`{"who":"alice"}`)},
	} {
		c, err := b.Encrypt(tc.loc, tc.plain)
		if err != nil {
			t.Fatalf("Encrypt(%v): %v", tc.loc, err)
		}
		if got, want := len(c), len(tc.plain)+Overhead; got != want {
			t.Errorf("len(Encrypt(%v)) = %d, want %d", tc.loc, got, want)
		}
		if len(tc.plain) > 4 && bytes.Contains(c, tc.plain) {
			t.Errorf("Encrypt(%v) holds the plaintext", tc.loc)
		}
		if term, err := Term(c); err != nil || term != 1 {
			t.Errorf("Term = %d, %v; want 1", term, err)
		}
		again, _ := b.Encrypt(tc.loc, tc.plain)
		if bytes.Equal(c, again) {
			t.Errorf("two encryptions at %v are equal: nonce reused", tc.loc)
		}
		got, err := b.Decrypt(tc.loc, c)
		if err != nil {
			t.Fatalf("Decrypt(%v): %v", tc.loc, err)
		}
		if !bytes.Equal(got, tc.plain) {
			t.Errorf("Decrypt(%v) = %q, want %q", tc.loc, got, tc.plain)
		}
	}
}

func TestLocationChecks(t *testing.T) {
	b, _, _ := newTestBarrier(t, "a")
	_, err := b.Encrypt(Location{Workspace: "a"}, []byte("x"))
	wantCode(t, "Encrypt without kind", err, hub.EInvalid)
	if f := hub.ErrorField(err); f != "kind" {
		t.Errorf("field = %q, want kind", f)
	}
	_, err = b.Encrypt(Location{Workspace: "nope", Kind: "object"}, []byte("x"))
	wantCode(t, "Encrypt for unknown workspace", err, hub.ENotFound)
	if !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("error %q does not name the workspace", err)
	}
}

func TestMovedCiphertext(t *testing.T) {
	b, _, _ := newTestBarrier(t, "a", "b")
	loc := Location{"a", "object", "indicator--1", "v1"}
	c, err := b.Encrypt(loc, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		loc  Location
		code string
	}{
		{"other workspace", Location{"b", "object", "indicator--1", "v1"}, hub.EIntegrity},
		{"workspace without key", Location{"c", "object", "indicator--1", "v1"}, hub.ENotFound},
		{"hub workspace", Location{"", "object", "indicator--1", "v1"}, hub.EIntegrity},
		{"other id", Location{"a", "object", "indicator--2", "v1"}, hub.EIntegrity},
		{"other version", Location{"a", "object", "indicator--1", "v2"}, hub.EIntegrity},
		{"other kind", Location{"a", "note", "indicator--1", "v1"}, hub.EIntegrity},
		{"shifted boundary", Location{"a", "object", "indicator--1v", "1"}, hub.EIntegrity},
		{"shifted into kind", Location{"a", "objecti", "ndicator--1", "v1"}, hub.EIntegrity},
	} {
		got, err := b.Decrypt(tc.loc, c)
		if got != nil {
			t.Errorf("%s: Decrypt returned data %q", tc.name, got)
		}
		wantCode(t, tc.name, err, tc.code)
	}
}

func TestFlippedBits(t *testing.T) {
	b, _, _ := newTestBarrier(t, "a")
	loc := Location{"a", "object", "x", "1"}
	c, err := b.Encrypt(loc, []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range c {
		for bit := range 8 {
			d := bytes.Clone(c)
			d[i] ^= 1 << bit
			got, err := b.Decrypt(loc, d)
			if got != nil || hub.ErrorCode(err) != hub.EIntegrity {
				t.Fatalf("byte %d bit %d flipped: Decrypt = %q, %v; want EIntegrity", i, bit, got, err)
			}
		}
	}
}

func TestTruncated(t *testing.T) {
	b, _, _ := newTestBarrier(t, "a")
	loc := Location{"a", "object", "x", "1"}
	c, err := b.Encrypt(loc, []byte("a short body"))
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(c) {
		got, err := b.Decrypt(loc, c[:n])
		if got != nil || hub.ErrorCode(err) != hub.EIntegrity {
			t.Fatalf("truncated to %d: Decrypt = %q, %v; want EIntegrity", n, got, err)
		}
		if n < minSealed {
			if _, err := Term(c[:n]); hub.ErrorCode(err) != hub.EIntegrity {
				t.Fatalf("Term of %d bytes: %v, want EIntegrity", n, err)
			}
		}
	}
	got, err := b.Decrypt(loc, append(bytes.Clone(c), 0))
	if got != nil || hub.ErrorCode(err) != hub.EIntegrity {
		t.Fatalf("extended: Decrypt = %q, %v; want EIntegrity", got, err)
	}
}

func TestUnknownTerm(t *testing.T) {
	b, ks, _ := newTestBarrier(t, "a")
	loc := Location{"a", "object", "x", "1"}
	c, err := b.Encrypt(loc, []byte("body"))
	if err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint32(c[1:5], 99)
	reads := ks.readCount()
	got, err := b.Decrypt(loc, c)
	if got != nil {
		t.Fatalf("Decrypt returned %q", got)
	}
	wantCode(t, "unknown term", err, hub.EIntegrity)
	if !strings.Contains(err.Error(), "term 99") {
		t.Errorf("error %q does not name the term", err)
	}
	// The barrier looked once in the store for a newer keyring before giving up.
	if got := ks.readCount() - reads; got != 1 {
		t.Errorf("store reads on a miss = %d, want 1", got)
	}
	binary.BigEndian.PutUint32(c[1:5], 0)
	_, err = b.Decrypt(loc, c)
	wantCode(t, "term 0", err, hub.EIntegrity)
	c[0] = 2
	_, err = b.Decrypt(loc, c)
	wantCode(t, "format 2", err, hub.EIntegrity)
}

func TestSealed(t *testing.T) {
	ctx := context.Background()
	ks := &memKeyStore{}
	b := New(ks)
	if !b.Sealed() {
		t.Fatal("a new barrier is not sealed")
	}
	check := func(why string) {
		t.Helper()
		loc := Location{"a", "object", "x", "1"}
		calls := map[string]error{}
		_, calls["Encrypt"] = b.Encrypt(loc, []byte("x"))
		_, calls["Decrypt"] = b.Decrypt(loc, make([]byte, 64))
		_, _, calls["Rewrap"] = b.Rewrap(loc, make([]byte, 64))
		_, calls["Token"] = b.Token("domain", "example.org")
		_, calls["MACKey"] = b.MACKey()
		_, calls["Status"] = b.Status()
		_, calls["Workspaces"] = b.Workspaces()
		_, calls["Rotate"] = b.Rotate(ctx)
		calls["AddWorkspace"] = b.AddWorkspace(ctx, "a")
		calls["DestroyWorkspace"] = b.DestroyWorkspace(ctx, "a")
		calls["Reload"] = b.Reload(ctx)
		calls["Rekey"] = b.Rekey(ctx, make([]byte, 32))
		for name, err := range calls {
			wantCode(t, name, err, hub.ESealed)
			if msg := hub.ErrorMessage(err); !strings.HasPrefix(msg, "the hub is sealed: ") || !strings.Contains(msg, why) {
				t.Errorf("%s: message %q, want one saying %q", name, msg, why)
			}
		}
	}
	check("no root key was given; start it with --root-key-file or CSHUB_ROOT_KEY")

	root, _ := NewRootKey()
	wantCode(t, "Unseal without keyring", b.Unseal(ctx, root), hub.ENotFound)
	wantCode(t, "Initialize with short key", b.Initialize(ctx, root[:16]), hub.EInvalid)
	if err := b.Initialize(ctx, root); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "Initialize again", b.Initialize(ctx, root), hub.EConflict)
	b.Seal()
	if !b.Sealed() {
		t.Fatal("Seal did not seal")
	}
	check("sealed by an operator")
	wantCode(t, "Initialize over an existing keyring", b.Initialize(ctx, root), hub.EConflict)

	wrong, _ := NewRootKey()
	err := b.Unseal(ctx, wrong)
	wantCode(t, "Unseal with a wrong key", err, hub.ESealed)
	if !strings.Contains(err.Error(), "does not open") {
		t.Errorf("wrong-key error %q does not say why", err)
	}
	if !b.Sealed() {
		t.Fatal("a wrong key unsealed the barrier")
	}
	if err := b.Unseal(ctx, root); err != nil {
		t.Fatalf("Unseal: %v", err)
	}
	if b.Sealed() {
		t.Fatal("Unseal left the barrier sealed")
	}
}

func TestTamperedKeyring(t *testing.T) {
	ctx := context.Background()
	_, ks, root := newTestBarrier(t, "a")
	blob, _ := ks.snapshot()
	for i := range blob {
		d := bytes.Clone(blob)
		d[i] ^= 0x01
		ks.restore(d)
		b := New(ks)
		err := b.Unseal(ctx, root)
		if code := hub.ErrorCode(err); code != hub.ESealed && code != hub.EIntegrity {
			t.Fatalf("byte %d of the keyring flipped: Unseal = %v, want ESealed or EIntegrity", i, err)
		}
		if !b.Sealed() {
			t.Fatalf("byte %d flipped: barrier unsealed", i)
		}
	}
}

func TestRotate(t *testing.T) {
	ctx := context.Background()
	b, ks, root := newTestBarrier(t, "a", "b")
	locA := Location{"a", "object", "x", "1"}
	old, err := b.Encrypt(locA, []byte("before"))
	if err != nil {
		t.Fatal(err)
	}
	term, err := b.Rotate(ctx)
	if err != nil || term != 2 {
		t.Fatalf("Rotate = %d, %v; want 2", term, err)
	}
	if got, err := b.Decrypt(locA, old); err != nil || string(got) != "before" {
		t.Fatalf("old value after Rotate: %q, %v", got, err)
	}
	nu, err := b.Encrypt(locA, []byte("after"))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := Term(nu); got != 2 {
		t.Errorf("Term(new) = %d, want 2", got)
	}
	re, changed, err := b.Rewrap(locA, old)
	if err != nil || !changed {
		t.Fatalf("Rewrap(old) = changed %v, %v; want changed", changed, err)
	}
	if got, _ := Term(re); got != 2 {
		t.Errorf("Term(rewrapped) = %d, want 2", got)
	}
	if got, err := b.Decrypt(locA, re); err != nil || string(got) != "before" {
		t.Fatalf("rewrapped value: %q, %v", got, err)
	}
	same, changed, err := b.Rewrap(locA, nu)
	if err != nil || changed || !bytes.Equal(same, nu) {
		t.Fatalf("Rewrap(current) = changed %v, %v; want the same value", changed, err)
	}
	_, _, err = b.Rewrap(Location{"b", "object", "x", "1"}, old)
	wantCode(t, "Rewrap at another location", err, hub.EIntegrity)

	if err := b.AddWorkspace(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	st, err := b.Status()
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		term   uint32
		ws     int
		active bool
	}{{1, 2, false}, {2, 3, true}}
	if len(st) != len(want) {
		t.Fatalf("Status has %d terms, want %d", len(st), len(want))
	}
	for i, w := range want {
		if st[i].Term != w.term || st[i].Workspaces != w.ws || st[i].Active != w.active || st[i].Created.IsZero() {
			t.Errorf("Status[%d] = %+v, want term %d, %d workspaces, active %v", i, st[i], w.term, w.ws, w.active)
		}
	}
	ws, _ := b.Workspaces()
	if got, want := strings.Join(ws, ","), "a,b,c"; got != want {
		t.Errorf("Workspaces = %s, want %s", got, want)
	}

	// A barrier unsealed afresh from the store reads every term.
	b2 := New(ks)
	if err := b2.Unseal(ctx, root); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]byte{old, nu, re} {
		if _, err := b2.Decrypt(locA, c); err != nil {
			t.Errorf("restarted barrier: %v", err)
		}
	}
}

func TestCryptoShred(t *testing.T) {
	ctx := context.Background()
	b, ks, root := newTestBarrier(t, "doomed", "kept")
	locD := Location{"doomed", "object", "x", "1"}
	locK := Location{"kept", "object", "x", "1"}
	cD1, _ := b.Encrypt(locD, []byte("term one"))
	if _, err := b.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	cD2, _ := b.Encrypt(locD, []byte("term two"))
	cK, _ := b.Encrypt(locK, []byte("kept"))
	oldBlob, _ := ks.snapshot() // a backup taken before the shredding

	if err := b.DestroyWorkspace(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	b2 := New(ks) // a replica, or the hub after a restart
	if err := b2.Unseal(ctx, root); err != nil {
		t.Fatal(err)
	}
	for name, bb := range map[string]*Barrier{"same barrier": b, "unsealed afresh": b2} {
		for _, c := range [][]byte{cD1, cD2} {
			got, err := bb.Decrypt(locD, c)
			if got != nil {
				t.Fatalf("%s: shredded value opened: %q", name, got)
			}
			wantCode(t, name, err, hub.ENotFound)
			if !strings.Contains(err.Error(), "workspace key destroyed") {
				t.Errorf("%s: error %q does not say the key was destroyed", name, err)
			}
		}
		if got, err := bb.Decrypt(locK, cK); err != nil || string(got) != "kept" {
			t.Errorf("%s: other workspace: %q, %v", name, got, err)
		}
		_, err := bb.Encrypt(locD, []byte("x"))
		wantCode(t, name+": Encrypt in destroyed workspace", err, hub.ENotFound)
	}
	// The keyring as stored holds no key of the workspace in any term.
	blob, _ := ks.snapshot()
	h, err := parseBlob(blob)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := openKeyring(root, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, term := range ring.Terms {
		if _, ok := term.Keys["doomed"]; ok {
			t.Errorf("term %d still holds the destroyed workspace's key", term.Number)
		}
	}

	wantCode(t, "destroying again", b.DestroyWorkspace(ctx, "doomed"), "")
	wantCode(t, "destroying an unknown workspace", b.DestroyWorkspace(ctx, "never"), hub.ENotFound)
	wantCode(t, "destroying the hub key", b.DestroyWorkspace(ctx, ""), hub.EInvalid)

	// Re-creating the slug gives new keys that do not open the old content.
	if err := b.AddWorkspace(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	_, err = b.Decrypt(locD, cD2)
	wantCode(t, "old value after re-creation", err, hub.EIntegrity)
	if c, err := b.Encrypt(locD, []byte("new life")); err != nil {
		t.Fatal(err)
	} else if got, err := b.Decrypt(locD, c); err != nil || string(got) != "new life" {
		t.Fatalf("re-created workspace: %q, %v", got, err)
	}

	// A backup of the keyring still opens with the root key that sealed it; Rekey and
	// discarding the old root key make such copies useless.
	newRoot, _ := NewRootKey()
	if err := b.Rekey(ctx, newRoot); err != nil {
		t.Fatal(err)
	}
	b3 := New(ks)
	wantCode(t, "Unseal with the old root after Rekey", b3.Unseal(ctx, root), hub.ESealed)
	if err := b3.Unseal(ctx, newRoot); err != nil {
		t.Fatal(err)
	}
	if _, err := b3.Decrypt(locK, cK); err != nil {
		t.Fatalf("after Rekey: %v", err)
	}
	if h, _ := parseBlob(oldBlob); h == nil {
		t.Fatal("backup blob does not parse")
	} else if _, err := openKeyring(newRoot, h); hub.ErrorCode(err) != hub.ESealed {
		t.Fatalf("new root opened the old backup: %v", err)
	}
}

func TestReplicas(t *testing.T) {
	ctx := context.Background()
	a, ks, root := newTestBarrier(t, "x")
	b := New(ks)
	if err := b.Unseal(ctx, root); err != nil {
		t.Fatal(err)
	}
	// A workspace added on a: b finds its key on first use.
	if err := a.AddWorkspace(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	loc := Location{"new", "object", "o", "1"}
	c, err := b.Encrypt(loc, []byte("from b"))
	if err != nil {
		t.Fatalf("b.Encrypt in a workspace a added: %v", err)
	}
	if got, err := a.Decrypt(loc, c); err != nil || string(got) != "from b" {
		t.Fatalf("a.Decrypt: %q, %v", got, err)
	}
	// A term added on a: b reads values sealed under it.
	if _, err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	c2, _ := a.Encrypt(loc, []byte("term 2"))
	if got, err := b.Decrypt(loc, c2); err != nil || string(got) != "term 2" {
		t.Fatalf("b.Decrypt of a newer term: %q, %v", got, err)
	}
	// Writers racing: a stale b loses the version race, re-reads and still applies its change.
	if _, err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.AddWorkspace(ctx, "from-b"); err != nil {
		t.Fatalf("stale b.AddWorkspace: %v", err)
	}
	term, err := b.Rotate(ctx)
	if err != nil || term != 4 {
		t.Fatalf("b.Rotate = %d, %v; want 4", term, err)
	}
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ := a.Status()
	if got := st[len(st)-1]; got.Term != 4 || got.Workspaces != 3 {
		t.Fatalf("a after Reload: newest %+v, want term 4 with 3 workspaces", got)
	}
	reads := ks.readCount()
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if ks.readCount() != reads+1 {
		t.Errorf("Reload read the store %d times, want 1", ks.readCount()-reads)
	}
}

func TestPassphrase(t *testing.T) {
	ctx := context.Background()
	fast := KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}
	pass := []byte("correct horse battery staple")
	ks := &memKeyStore{}
	b := New(ks)
	wantCode(t, "short passphrase", b.InitializePassphrase(ctx, []byte("short"), fast), hub.EInvalid)
	if err := b.InitializePassphrase(ctx, pass, fast); err != nil {
		t.Fatal(err)
	}
	if err := b.AddWorkspace(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	loc := Location{"a", "object", "x", "1"}
	c, _ := b.Encrypt(loc, []byte("content"))
	if _, err := b.Rotate(ctx); err != nil { // a save must keep the KDF parameters
		t.Fatal(err)
	}
	kdf, err := StoredKDF(ctx, ks)
	if err != nil {
		t.Fatal(err)
	}
	if len(kdf.Salt) != 32 || kdf.Time != 1 || kdf.MemoryKiB != 8*1024 || kdf.Threads != 1 {
		t.Errorf("StoredKDF = %+v", kdf)
	}

	b2 := New(ks)
	err = b2.UnsealPassphrase(ctx, []byte("incorrect horse battery staple"))
	wantCode(t, "wrong passphrase", err, hub.ESealed)
	if err := b2.UnsealPassphrase(ctx, pass); err != nil {
		t.Fatalf("UnsealPassphrase: %v", err)
	}
	if got, err := b2.Decrypt(loc, c); err != nil || string(got) != "content" {
		t.Fatalf("Decrypt after re-derivation: %q, %v", got, err)
	}
	b3 := New(ks)
	if err := b3.UnsealFrom(ctx, Passphrase{Store: ks, Secret: pass}); err != nil {
		t.Fatalf("UnsealFrom(Passphrase): %v", err)
	}

	// Changing the passphrase: the old one stops working, the content stays.
	newPass := []byte("a completely different passphrase")
	if err := b3.RekeyPassphrase(ctx, newPass, fast); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "old passphrase after RekeyPassphrase", New(ks).UnsealPassphrase(ctx, pass), hub.ESealed)
	b4 := New(ks)
	if err := b4.UnsealPassphrase(ctx, newPass); err != nil {
		t.Fatalf("new passphrase: %v", err)
	}
	if got, err := b4.Decrypt(loc, c); err != nil || string(got) != "content" {
		t.Fatalf("Decrypt after RekeyPassphrase: %q, %v", got, err)
	}
	if k, _ := StoredKDF(ctx, ks); bytes.Equal(k.Salt, kdf.Salt) {
		t.Error("RekeyPassphrase kept the old salt")
	}

	// The same passphrase on another hub gives another root key: the salt is fresh.
	ks2 := &memKeyStore{}
	if err := New(ks2).InitializePassphrase(ctx, pass, fast); err != nil {
		t.Fatal(err)
	}
	kdf2, _ := StoredKDF(ctx, ks2)
	if bytes.Equal(kdf.Salt, kdf2.Salt) {
		t.Error("two hubs share a salt")
	}
	k1, _ := DeriveRootKey(pass, kdf)
	k2, _ := DeriveRootKey(pass, kdf2)
	if bytes.Equal(k1, k2) {
		t.Error("two hubs derived the same root key")
	}

	// A hub keyed with bytes has no passphrase parameters.
	_, rawKS, _ := newTestBarrier(t)
	_, err = StoredKDF(ctx, rawKS)
	wantCode(t, "StoredKDF of a raw-key hub", err, hub.EInvalid)
	_, err = StoredKDF(ctx, &memKeyStore{})
	wantCode(t, "StoredKDF without keyring", err, hub.ENotFound)
}

func TestKDFBounds(t *testing.T) {
	salt := make([]byte, 16)
	for _, p := range []KDFParams{
		{Salt: salt[:8], Time: 1, MemoryKiB: 8192, Threads: 1},
		{Salt: salt, Time: 0, MemoryKiB: 8192, Threads: 1},
		{Salt: salt, Time: 1, MemoryKiB: 1024, Threads: 1},
		{Salt: salt, Time: 1, MemoryKiB: 1 << 30, Threads: 1},
		{Salt: salt, Time: 1, MemoryKiB: 8192, Threads: 0},
	} {
		_, err := DeriveRootKey([]byte("a long enough passphrase"), p)
		wantCode(t, fmt.Sprintf("DeriveRootKey(%+v)", p), err, hub.EInvalid)
	}
}

func TestToken(t *testing.T) {
	ctx := context.Background()
	b, ks, root := newTestBarrier(t, "a")
	tok, err := b.Token("domain", "evil.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != TokenSize {
		t.Fatalf("len(token) = %d, want %d", len(tok), TokenSize)
	}
	again, _ := b.Token("domain", "evil.example")
	if !bytes.Equal(tok, again) {
		t.Error("the same value gave two tokens")
	}
	for _, other := range [][2]string{{"domain", "evil.example."}, {"url", "evil.example"}, {"domai", "nevil.example"}} {
		o, err := b.Token(other[0], other[1])
		if err != nil || bytes.Equal(o, tok) {
			t.Errorf("Token(%q, %q) = %x, %v; want a different token", other[0], other[1], o, err)
		}
	}
	_, err = b.Token("a\x00b", "c")
	wantCode(t, "kind with a zero byte", err, hub.EInvalid)
	_, err = b.Token("", "c")
	wantCode(t, "empty kind", err, hub.EInvalid)

	// Same token after a restart and a rotation: blind indexes stay valid.
	if _, err := b.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	b2 := New(ks)
	if err := b2.Unseal(ctx, root); err != nil {
		t.Fatal(err)
	}
	if t2, _ := b2.Token("domain", "evil.example"); !bytes.Equal(t2, tok) {
		t.Error("token changed across restart and rotation")
	}
	// Another hub, another key, another token.
	other, _, _ := newTestBarrier(t)
	if t3, _ := other.Token("domain", "evil.example"); bytes.Equal(t3, tok) {
		t.Error("two hubs gave the same token")
	}
}

func TestMACKey(t *testing.T) {
	ctx := context.Background()
	b, ks, root := newTestBarrier(t)
	k, err := b.MACKey()
	if err != nil || len(k) != 32 {
		t.Fatalf("MACKey = %d bytes, %v", len(k), err)
	}
	k[0] ^= 0xff
	k2, _ := b.MACKey()
	if k2[0] == k[0] {
		t.Error("MACKey returned its own slice")
	}
	b2 := New(ks)
	if err := b2.Unseal(ctx, root); err != nil {
		t.Fatal(err)
	}
	if k3, _ := b2.MACKey(); !bytes.Equal(k2, k3) {
		t.Error("MACKey changed across restart")
	}
	tok, _ := b.Token("x", "y")
	if bytes.Equal(k2[:TokenSize], tok) {
		t.Error("suspicious: token equals key prefix")
	}
}

func TestPlain(t *testing.T) {
	var s Sealer = Plain{}
	in := []byte("body")
	c, err := s.Encrypt(Location{}, in)
	if err != nil || !bytes.Equal(c, in) {
		t.Fatalf("Plain.Encrypt = %q, %v", c, err)
	}
	c[0] = 'X'
	if in[0] != 'b' {
		t.Error("Plain.Encrypt aliases its input")
	}
	p, err := s.Decrypt(Location{}, in)
	if err != nil || !bytes.Equal(p, in) {
		t.Fatalf("Plain.Decrypt = %q, %v", p, err)
	}
}

// TestConcurrentRotate runs readers and writers against rotations and workspace changes; run
// it with -race.
func TestConcurrentRotate(t *testing.T) {
	ctx := context.Background()
	b, ks, root := newTestBarrier(t, "a", "b")
	replica := New(ks)
	if err := replica.Unseal(ctx, root); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws := []string{"a", "b"}[g%2]
			var kept [][]byte
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				loc := Location{ws, "object", fmt.Sprint(g), "1"}
				body := []byte(fmt.Sprintf("g%d i%d", g, i))
				c, err := b.Encrypt(loc, body)
				if err != nil {
					errs <- err
					return
				}
				if i%10 == 0 {
					kept = append(kept, c)
				}
				// The other replica reads what this one wrote, across rotations.
				reader := b
				if i%2 == 1 {
					reader = replica
				}
				got, err := reader.Decrypt(loc, c)
				if err != nil || !bytes.Equal(got, body) {
					errs <- fmt.Errorf("Decrypt = %q, %v; want %q", got, err, body)
					return
				}
				if len(kept) > 0 {
					if _, _, err := b.Rewrap(loc, kept[0]); err != nil {
						errs <- err
						return
					}
				}
				if _, err := b.Token("ip", fmt.Sprint(i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 20 {
		if _, err := b.Rotate(ctx); err != nil {
			t.Error(err)
		}
		if err := b.AddWorkspace(ctx, fmt.Sprint("w", i)); err != nil {
			t.Error(err)
		}
		if i%5 == 0 {
			if err := replica.Reload(ctx); err != nil {
				t.Error(err)
			}
		}
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st, _ := b.Status(); len(st) != 21 {
		t.Errorf("terms = %d, want 21", len(st))
	}
}

// TestRefreshPastStaleSnapshot: a reader holding a snapshot older than one installed meanwhile
// (by Reload) must not settle for that one when it too lacks the key.
func TestRefreshPastStaleSnapshot(t *testing.T) {
	ctx := context.Background()
	a, ks, root := newTestBarrier(t, "w")
	r := New(ks)
	if err := r.Unseal(ctx, root); err != nil {
		t.Fatal(err)
	}
	stale := r.state.Load() // what a reader loaded before the Reload below
	if _, err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	loc := Location{"w", "object", "x", "1"}
	c, err := a.Encrypt(loc, []byte("term 3"))
	if err != nil {
		t.Fatal(err)
	}
	got, _, term, err := r.decrypt(nil, stale, loc, c)
	if err != nil || string(got) != "term 3" || term != 3 {
		t.Fatalf("decrypt with a stale snapshot = %q, term %d, %v; want term 3", got, term, err)
	}
}

// TestDecryptAppend: the plaintext goes after what dst holds, and a value that does not
// authenticate leaves dst as it was.
func TestDecryptAppend(t *testing.T) {
	b, _, _ := newTestBarrier(t, "a")
	loc := Location{"a", "export", "7", ""}
	for _, s := range []Sealer{b, Plain{}} {
		c, err := s.Encrypt(loc, []byte("record"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.DecryptAppend([]byte("prev|"), loc, c)
		if err != nil || string(got) != "prev|record" {
			t.Fatalf("%T.DecryptAppend = %q, %v; want %q", s, got, err, "prev|record")
		}
	}
	c, err := b.Encrypt(loc, []byte("record"))
	if err != nil {
		t.Fatal(err)
	}
	c[len(c)-1] ^= 1
	dst := make([]byte, 5, 64)
	copy(dst, "prev|")
	got, err := b.DecryptAppend(dst, loc, c)
	wantCode(t, "DecryptAppend of an altered value", err, hub.EIntegrity)
	if string(got) != "prev|" {
		t.Errorf("DecryptAppend of an altered value = %q; want dst as it was", got)
	}
}

// TestDecryptAppendAllocs: opening into a buffer with room allocates nothing, which is what
// lets a cold export open a million records into one buffer per core.
func TestDecryptAppendAllocs(t *testing.T) {
	b, _, _ := newTestBarrier(t, "a")
	loc := ExportLocation("a")
	c, err := b.Encrypt(loc, []byte("record"))
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := b.DecryptAppend(dst, loc, c); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("DecryptAppend allocates %v times; want 0", n)
	}
}
