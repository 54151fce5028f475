package auth_test

import (
	"fmt"

	"cshub/internal/auth"
	"cshub/internal/hub"
)

func ExampleCheckPassword() {
	for _, pw := range []string{"P@ssw0rd2024!", "correct horse battery staple"} {
		if err := auth.CheckPassword(pw, "alice", "cert-fr"); err != nil {
			fmt.Printf("%s: %s\n", hub.ErrorField(err), hub.ErrorMessage(err))
			continue
		}
		fmt.Println("accepted")
	}
	// Output:
	// password: is too common: it is, or is built from, a well-known password
	// accepted
}

func ExamplePrincipal_Allows() {
	p := auth.Principal{Org: "cert-fr", Scope: hub.ScopeWrite, Via: auth.ViaKey}
	fmt.Println(p.Allows(hub.ScopeRead), p.Allows(hub.ScopeWrite), p.Allows(hub.ScopeAdmin))
	// Output: true true false
}
