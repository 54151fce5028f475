package match

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cshub/internal/hub"
	"cshub/internal/stix/pattern"
)

// entriesOf parses a STIX pattern and returns its index entries.
func entriesOf(t testing.TB, p string) []pattern.Entry {
	t.Helper()
	pat, err := pattern.Parse(p)
	if err != nil {
		t.Fatalf("pattern.Parse(%q): %v", p, err)
	}
	return pat.Entries()
}

// build makes an Index holding the patterns, pattern i under ref i.
func build(t testing.TB, clock func() time.Time, patterns ...string) *Index {
	t.Helper()
	x := New(clock)
	b := x.NewBuilder(len(patterns))
	for i, p := range patterns {
		for _, e := range entriesOf(t, p) {
			if err := b.Add(Ref(i), e); err != nil {
				t.Fatalf("Add(%d, %+v): %v", i, e, err)
			}
		}
	}
	if err := x.Swap(b.Build()); err != nil {
		t.Fatal(err)
	}
	return x
}

func sortHits(h []Hit) []Hit {
	slices.SortFunc(h, func(a, b Hit) int {
		if a.Ref != b.Ref {
			return int(a.Ref) - int(b.Ref)
		}
		if a.How != b.How {
			if a.How < b.How {
				return -1
			}
			return 1
		}
		if a.Matched < b.Matched {
			return -1
		}
		if a.Matched > b.Matched {
			return 1
		}
		return 0
	})
	return h
}

var testPatterns = []string{
	0:  "[ipv4-addr:value = '198.51.100.7']",
	1:  "[ipv4-addr:value ISSUBSET '203.0.113.0/24']",
	2:  "[ipv6-addr:value ISSUBSET '2001:db8:aa::/48']",
	3:  "[ipv4-addr:value ISSUBSET '192.0.2.9/32']",
	4:  "[ipv6-addr:value ISSUBSET '2001:db8::9/128']",
	5:  "[domain-name:value = 'senate.group']",
	6:  "[domain-name:value = 'Bücher.Example']",
	7:  "[url:value = 'HTTP://Example.COM:80/a']",
	8:  "[file:hashes.'SHA-256' = 'E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855']",
	9:  "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
	10: "[email-addr:value = 'Phish@Evil.Example']",
	11: "[domain-name:value = 'group']",
	12: "[domain-name:value = 'co.uk']",
	13: "[url:value LIKE 'http://files.example/dl/%']",
	14: "[domain-name:value MATCHES '\\\\.dyn\\\\.example$']",
	15: "[ipv4-addr:value ISSUBSET '203.0.0.0/16']",
	16: "[ipv4-addr:value = '198.51.100.7' OR ipv6-addr:value = '::ffff:198.51.100.7']",
	17: "[ipv6-addr:value = '2001:DB8::1']",
	18: "[ipv4-addr:value ISSUBSET '198.18.7.128/25']",
}

func TestLookup(t *testing.T) {
	x := build(t, nil, testPatterns...)
	for _, tt := range []struct {
		typ, value string
		want       []Hit
	}{
		{"ipv4-addr", "198.51.100.7", []Hit{{0, HowExact, "198.51.100.7"}, {16, HowExact, "198.51.100.7"}}},
		{"", "::ffff:198.51.100.7", []Hit{{0, HowExact, "198.51.100.7"}, {16, HowExact, "198.51.100.7"}}},
		{"ipv4-addr", "198.51.100.8", nil},
		{"ipv4-addr", "203.0.113.77", []Hit{{1, HowCIDR, "203.0.113.0/24"}, {15, HowCIDR, "203.0.0.0/16"}}},
		{"ipv4-addr", "203.0.200.1", []Hit{{15, HowCIDR, "203.0.0.0/16"}}},
		{"ipv4-addr", "203.0.113.0/25", []Hit{{1, HowCIDR, "203.0.113.0/24"}, {15, HowCIDR, "203.0.0.0/16"}}},
		{"ipv6-addr", "2001:db8:aa:1::5", []Hit{{2, HowCIDR, "2001:db8:aa::/48"}}},
		{"ipv6-addr", "2001:db8:ab::5", nil},
		{"ipv4-addr", "198.18.7.200", []Hit{{18, HowCIDR, "198.18.7.128/25"}}},
		{"ipv4-addr", "198.18.7.5", nil}, // same /24, outside the block
		{"ipv4-addr", "198.18.8.1", nil},
		{"ipv4-addr", "198.18.7.192/26", []Hit{{18, HowCIDR, "198.18.7.128/25"}}},
		{"ipv4-addr", "198.18.0.0/16", nil},
		{"ipv4-addr", "192.0.2.9", []Hit{{3, HowCIDR, "192.0.2.9/32"}}},
		{"ipv4-addr", "192.0.2.10", nil},
		{"ipv6-addr", "2001:DB8:0::9", []Hit{{4, HowCIDR, "2001:db8::9/128"}}},
		{"ipv6-addr", "2001:db8::1", []Hit{{17, HowExact, "2001:db8::1"}}},
		{"domain-name", "senate.group", []Hit{{5, HowExact, "senate.group"}}},
		{"domain-name", "SENATE.GROUP.", []Hit{{5, HowExact, "senate.group"}}},
		{"domain-name", "login.senate.group", []Hit{{5, HowParentDomain, "senate.group"}}},
		{"domain-name", "a.b.login.senate.group", []Hit{{5, HowParentDomain, "senate.group"}}},
		{"domain-name", strings.Repeat("x.", 40) + "login.senate.group", []Hit{{5, HowParentDomain, "senate.group"}}}, // more parents than a batch probes at once
		{"domain-name", "other.group", nil},                                                                           // "group" is one label
		{"domain-name", "group", []Hit{{11, HowExact, "group"}}},                                                      // exact still matches
		{"domain-name", "bbc.co.uk", nil},                                                                             // co.uk is a public suffix
		{"domain-name", "xn--bcher-kva.example", []Hit{{6, HowExact, "xn--bcher-kva.example"}}},
		{"domain-name", "bücher.example", []Hit{{6, HowExact, "xn--bcher-kva.example"}}},
		{"domain-name", "www.BÜCHER.example", []Hit{{6, HowParentDomain, "xn--bcher-kva.example"}}},
		{"url", "http://example.com/a", []Hit{{7, HowExact, "http://example.com/a"}}},
		{"url", "http://EXAMPLE.com:80/%61", []Hit{{7, HowExact, "http://example.com/a"}}},
		{"url", "http://example.com/b", nil},
		{"file", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", []Hit{{8, HowExact, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}},
		{"md5", "D41D8CD98F00B204E9800998ECF8427E", []Hit{{9, HowExact, "d41d8cd98f00b204e9800998ecf8427e"}}},
		{"", "D41D8CD98F00B204E9800998ECF8427E", []Hit{{9, HowExact, "d41d8cd98f00b204e9800998ecf8427e"}}},
		{"email-addr", "Phish@EVIL.example", []Hit{{10, HowExact, "Phish@evil.example"}}},
		{"email-addr", "phish@evil.example", nil}, // the local part is case-sensitive
		{"url", "http://files.example/dl/x.exe", []Hit{{13, HowPrefix, "http://files.example/dl/"}}},
		{"domain-name", "a.dyn.example", []Hit{{14, HowSuffix, ".dyn.example"}}},
		{"", "not a value", nil},
	} {
		got := sortHits(x.Lookup(tt.typ, tt.value))
		if !slices.Equal(got, sortHits(tt.want)) {
			t.Errorf("Lookup(%q, %q) = %v; want %v", tt.typ, tt.value, got, tt.want)
		}
		// LookupBatch agrees with Lookup.
		var batch []Hit
		x.LookupBatch([]Query{{"", "unrelated.example"}, {tt.typ, tt.value}}, func(i int, h Hit) {
			if i == 1 {
				batch = append(batch, h)
			}
		})
		if !slices.Equal(sortHits(batch), got) {
			t.Errorf("LookupBatch(%q, %q) = %v; want %v", tt.typ, tt.value, batch, got)
		}
	}
}

// TestLookupBatchMany checks LookupBatch against Lookup over more queries
// than one batch holds, with long names that overflow the probe space.
func TestLookupBatchMany(t *testing.T) {
	x := build(t, nil, testPatterns...)
	var qs []Query
	for i := range 100 {
		switch i % 4 {
		case 0:
			qs = append(qs, Query{"", fmt.Sprintf("203.0.%d.1", i)})
		case 1:
			qs = append(qs, Query{"", strings.Repeat("a.", i) + "senate.group"})
		case 2:
			qs = append(qs, Query{"domain-name", "bücher.example"})
		default:
			qs = append(qs, Query{"", "junk value"})
		}
	}
	got := make([][]Hit, len(qs))
	last := -1
	x.LookupBatch(qs, func(i int, h Hit) {
		if i < last {
			t.Fatalf("hit for query %d after one for query %d", i, last)
		}
		last = i
		got[i] = append(got[i], h)
	})
	for i, q := range qs {
		if want := x.Lookup(q.Type, q.Value); !slices.Equal(sortHits(got[i]), sortHits(want)) {
			t.Errorf("query %d %+v: LookupBatch %v, Lookup %v", i, q, got[i], want)
		}
		if len(got[i]) == 0 && i%4 != 3 {
			t.Errorf("query %d %+v: no hits", i, q)
		}
	}
}

func TestAddRefusals(t *testing.T) {
	x := New(nil)
	for _, tt := range []struct {
		e     pattern.Entry
		field string
	}{
		{pattern.Entry{Type: "ipv4-addr", Path: "value", Kind: pattern.CIDR, Value: "0.0.0.0/0"}, "value"},
		{pattern.Entry{Type: "ipv6-addr", Path: "value", Kind: pattern.CIDR, Value: "::/0"}, "value"},
		{pattern.Entry{Type: "ipv4-addr", Path: "value", Kind: pattern.Exact, Value: "nonsense"}, "value"},
		{pattern.Entry{Type: "file", Path: "hashes.MD5", Kind: pattern.Exact, Value: "abc"}, "value"},
		{pattern.Entry{Type: "file", Path: "name", Kind: pattern.Exact, Value: "a.exe"}, "type"},
		{pattern.Entry{Type: "domain-name", Path: "value", Kind: pattern.CIDR, Value: "10.0.0.0/8"}, "value"},
	} {
		err := x.Add(1, tt.e)
		if hub.ErrorCode(err) != hub.EInvalid || hub.ErrorField(err) != tt.field {
			t.Errorf("Add(%+v) = %v; want an invalid error on %q", tt.e, err, tt.field)
		}
	}
	// /0 through the parser, and a clear message.
	b := x.NewBuilder(0)
	err := b.Add(1, entriesOf(t, "[ipv4-addr:value ISSUBSET '0.0.0.0/0']")[0])
	if err == nil {
		t.Fatal("Builder.Add of 0.0.0.0/0: no error")
	}
	t.Logf("0.0.0.0/0: %v", err)
	if err := x.Add(maxRef+1, pattern.Entry{Type: "domain-name", Path: "value", Value: "a.example"}); hub.ErrorField(err) != "ref" {
		t.Errorf("Add with ref above the limit: %v; want an error on ref", err)
	}
}

func TestValidityAndRemoval(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Unix())
	clock := func() time.Time { return time.Unix(now.Load(), 0) }
	x := build(t, clock,
		"[domain-name:value = 'a.example']",
		"[domain-name:value = 'a.example']",
		"[ipv4-addr:value ISSUBSET '10.0.0.0/8']",
	)
	refs := func(typ, v string) []Ref {
		var out []Ref
		for _, h := range sortHits(x.Lookup(typ, v)) {
			out = append(out, h.Ref)
		}
		return out
	}
	if got, want := refs("domain-name", "a.example"), []Ref{0, 1}; !slices.Equal(got, want) {
		t.Fatalf("before: refs %v; want %v", got, want)
	}
	x.SetValidUntil(0, clock().Add(time.Hour))
	x.SetValidUntil(2, clock().Add(time.Hour))
	if got, want := refs("domain-name", "a.example"), []Ref{0, 1}; !slices.Equal(got, want) {
		t.Errorf("still valid: refs %v; want %v", got, want)
	}
	now.Add(3600) // valid_until reached: no longer valid
	if got, want := refs("domain-name", "a.example"), []Ref{1}; !slices.Equal(got, want) {
		t.Errorf("expired: refs %v; want %v", got, want)
	}
	if got := refs("ipv4-addr", "10.1.2.3"); got != nil {
		t.Errorf("expired CIDR: refs %v; want none", got)
	}
	x.Remove(1)
	if got := refs("domain-name", "a.example"); got != nil {
		t.Errorf("removed: refs %v; want none", got)
	}
	x.SetValidUntil(1, time.Time{}) // no effect on a removed ref
	if got := refs("domain-name", "sub.a.example"); got != nil {
		t.Errorf("removed, parent: refs %v; want none", got)
	}
}

// TestDeltaAndSwap checks that adds and removals made on the live index
// while a rebuild runs survive the Swap, and that the rebuild drops what
// its builder left out.
func TestDeltaAndSwap(t *testing.T) {
	x := build(t, nil, "[domain-name:value = 'old.example']", "[domain-name:value = 'gone.example']")
	dom := func(v string) pattern.Entry {
		return pattern.Entry{Type: "domain-name", Path: "value", Kind: pattern.Exact, Value: v}
	}
	if err := x.Add(5, dom("early.example")); err != nil {
		t.Fatal(err)
	}
	if got := x.Lookup("domain-name", "early.example"); len(got) != 1 || got[0].Ref != 5 {
		t.Fatalf("delta add: %v; want ref 5", got)
	}
	// A rebuild starts; the store it reads has old, early and keep (not gone).
	b := x.NewBuilder(0)
	for ref, v := range map[Ref]string{0: "old.example", 5: "early.example", 7: "keep.example"} {
		if err := b.Add(ref, dom(v)); err != nil {
			t.Fatal(err)
		}
	}
	// Meanwhile the live index changes.
	if err := x.Add(6, dom("late.example")); err != nil {
		t.Fatal(err)
	}
	x.Remove(0)
	if err := x.Swap(b.Build()); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		v    string
		want []Ref
	}{
		{"old.example", nil},  // removed during the rebuild
		{"gone.example", nil}, // left out by the rebuild
		{"early.example", []Ref{5}},
		{"late.example", []Ref{6}}, // added during the rebuild
		{"keep.example", []Ref{7}},
	} {
		var got []Ref
		for _, h := range x.Lookup("domain-name", tt.v) {
			got = append(got, h.Ref)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("after Swap, %s: refs %v; want %v", tt.v, got, tt.want)
		}
	}
	if got := x.Stats().DeltaEntries; got != 1 {
		t.Errorf("delta entries after Swap = %d; want 1", got)
	}
	old := x.NewBuilder(0).Build()
	if err := x.Swap(x.NewBuilder(0).Build()); err != nil {
		t.Fatal(err)
	}
	if err := x.Swap(old); hub.ErrorCode(err) != hub.EConflict {
		t.Errorf("Swap of an older snapshot: %v; want a conflict", err)
	}
}

// TestConcurrentSwap runs readers while snapshots are swapped and the delta
// written; run it with -race.
func TestConcurrentSwap(t *testing.T) {
	x := New(nil)
	const n = 2000
	entry := func(i int) pattern.Entry {
		return pattern.Entry{Type: "domain-name", Path: "value", Kind: pattern.Exact, Value: fmt.Sprintf("h%d.example", i)}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var looked atomic.Int64
	for r := range 4 {
		wg.Go(func() {
			qs := make([]Query, 32)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				v := (i*7 + r) % n
				for _, h := range x.Lookup("domain-name", fmt.Sprintf("www.h%d.example", v)) {
					if h.How != HowParentDomain || h.Matched != fmt.Sprintf("h%d.example", v) {
						t.Errorf("hit %+v for h%d", h, v)
					}
				}
				for j := range qs {
					qs[j] = Query{"", fmt.Sprintf("10.%d.0.1", (i+j)%256)}
				}
				x.LookupBatch(qs, func(int, Hit) {})
				looked.Add(1)
			}
		})
	}
	for round := range 20 {
		b := x.NewBuilder(n)
		for i := range n {
			if err := b.Add(Ref(i), entry(i)); err != nil {
				t.Fatal(err)
			}
		}
		b.Add(Ref(n), pattern.Entry{Type: "ipv4-addr", Path: "value", Kind: pattern.CIDR, Value: fmt.Sprintf("10.%d.0.0/16", round)})
		x.Add(Ref(n+round), entry(n+round))
		x.Remove(Ref(round))
		if err := x.Swap(b.Build()); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if looked.Load() == 0 {
		t.Error("readers did no lookups")
	}
}
