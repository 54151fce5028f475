package match_test

import (
	"fmt"
	"time"

	"cshub/internal/match"
	"cshub/internal/stix/pattern"
)

func Example() {
	x := match.New(time.Now)

	// A rebuild: a Builder fed with every live indicator, then Swap.
	// Refs index the caller's own table of indicators.
	indicators := []string{
		"[domain-name:value = 'senate.group']",
		"[ipv4-addr:value ISSUBSET '203.0.113.0/24']",
	}
	b := x.NewBuilder(len(indicators))
	for ref, p := range indicators {
		pat, err := pattern.Parse(p)
		if err != nil {
			panic(err)
		}
		for _, e := range pat.Entries() {
			if err := b.Add(match.Ref(ref), e); err != nil {
				panic(err)
			}
		}
	}
	if err := x.Swap(b.Build()); err != nil {
		panic(err)
	}

	// Each hit must then be checked against the requester's access.
	for _, h := range x.Lookup("", "Login.Senate.Group") {
		fmt.Println(indicators[h.Ref], h.How, h.Matched)
	}
	for _, h := range x.Lookup("ipv4-addr", "203.0.113.9") {
		fmt.Println(indicators[h.Ref], h.How, h.Matched)
	}
	// Output:
	// [domain-name:value = 'senate.group'] parent-domain senate.group
	// [ipv4-addr:value ISSUBSET '203.0.113.0/24'] cidr 203.0.113.0/24
}
