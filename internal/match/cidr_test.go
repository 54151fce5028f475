package match

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"cshub/internal/stix/pattern"
)

// TestCIDRAgainstScan checks the CIDR hits of addresses and blocks against
// a scan of every block, on many nested and overlapping IPv4 blocks (a /24
// covered by one block alone, by nested ones, by a block shorter or longer
// than /24, blocks held by two refs), inserted in random order, some in the
// snapshot and some in the delta, and again after Compact.
func TestCIDRAgainstScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	type block struct {
		p   netip.Prefix
		ref Ref
	}
	// Blocks of 10.0.0.0/10, so that they often overlap.
	random := func(bits int) netip.Prefix {
		a := netip.AddrFrom4([4]byte{10, byte(r.IntN(64)), byte(r.IntN(256)), byte(r.IntN(256))})
		return netip.PrefixFrom(a, bits).Masked()
	}
	var blocks []block
	for i := range 3000 {
		p := random(18 + r.IntN(15))
		blocks = append(blocks, block{p, Ref(i)})
		if i%50 == 0 {
			blocks = append(blocks, block{p, Ref(100_000 + i)}) // a second ref on the block
		}
	}
	for i := range maxCellList + 4 { // more blocks in one /24 than a cell lists
		blocks = append(blocks, block{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(4 * i)}), 30), Ref(200_000 + i)})
	}
	r.Shuffle(len(blocks), func(i, j int) { blocks[i], blocks[j] = blocks[j], blocks[i] })
	entry := func(b block) pattern.Entry {
		return pattern.Entry{Type: "ipv4-addr", Path: "value", Kind: pattern.CIDR, Value: b.p.String()}
	}
	x := New(nil)
	bld := x.NewBuilder(0)
	half := len(blocks) * 2 / 3
	for _, b := range blocks[:half] {
		if err := bld.Add(b.ref, entry(b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Swap(bld.Build()); err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks[half:] {
		if err := x.Add(b.ref, entry(b)); err != nil {
			t.Fatal(err)
		}
	}
	var qs []Query
	var want [][]Hit
	for range 5000 {
		q := random(24 + r.IntN(9))
		switch r.IntN(8) {
		case 0:
			q = random(17 + r.IntN(7))
		case 1, 2, 3, 4: // in a block, often near another in its /24
			b := blocks[r.IntN(len(blocks))].p
			a := b.Addr().As4()
			v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
			v += r.Uint32N(uint32(1) << (32 - b.Bits()))
			q = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), max(24, b.Bits())+r.IntN(33-max(24, b.Bits()))).Masked()
		}
		var hits []Hit
		for _, b := range blocks {
			if b.p.Bits() <= q.Bits() && b.p.Contains(q.Addr()) {
				hits = append(hits, Hit{b.ref, HowCIDR, b.p.String()})
			}
		}
		text := q.String()
		if q.IsSingleIP() {
			text = q.Addr().String()
		}
		qs = append(qs, Query{"ipv4-addr", text})
		want = append(want, sortHits(hits))
	}
	check := func(stage string) {
		t.Helper()
		got := make([][]Hit, len(qs))
		x.LookupBatch(qs, func(i int, h Hit) { got[i] = append(got[i], h) })
		hits := 0
		for i, q := range qs {
			if g := sortHits(got[i]); !slices.Equal(g, want[i]) {
				t.Fatalf("%s: LookupBatch %s: %v; want %v", stage, q.Value, g, want[i])
			}
			if i%10 == 0 {
				if g := sortHits(x.Lookup(q.Type, q.Value)); !slices.Equal(g, want[i]) {
					t.Fatalf("%s: Lookup %s: %v; want %v", stage, q.Value, g, want[i])
				}
			}
			hits += len(want[i])
		}
		if hits < len(qs)/4 {
			t.Fatalf("%s: only %d hits in %d queries; the blocks are too sparse to test much", stage, hits, len(qs))
		}
	}
	check("snapshot and delta")
	if err := x.Compact(); err != nil {
		t.Fatal(err)
	}
	check("compacted")
	kinds := map[string]int{}
	for _, c := range x.cur.Load().base.cells {
		switch {
		case c == cellTrie:
			kinds["trie"]++
		case c&cellList != 0:
			kinds["list"]++
		default:
			kinds["entry"]++
		}
	}
	if len(kinds) != 3 {
		t.Errorf("the compacted snapshot's cells are not of all three kinds: %v", kinds)
	}
}

// TestParentFilter checks that no parent domain is lost to the snapshot's
// parent filter, in a snapshot large enough to fill it, and that names
// without listed parents are left out.
func TestParentFilter(t *testing.T) {
	x := New(nil)
	b := x.NewBuilder(0)
	const n = 20000
	for i := range n {
		if err := b.Add(Ref(i), pattern.Entry{Type: "domain-name", Path: "value", Kind: pattern.Exact, Value: fmt.Sprintf("d%d.example", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Swap(b.Build()); err != nil {
		t.Fatal(err)
	}
	if x.cur.Load().base.exact.parents == nil {
		t.Fatal("the snapshot has no parent filter")
	}
	qs := make([]Query, 2*n)
	for i := range n {
		qs[i] = Query{"domain-name", fmt.Sprintf("a.b.d%d.example", i)}
		qs[n+i] = Query{"domain-name", fmt.Sprintf("a.b.e%d.example", i)}
	}
	found := make([]bool, n)
	x.LookupBatch(qs, func(i int, h Hit) {
		if i >= n || h != (Hit{Ref(i), HowParentDomain, fmt.Sprintf("d%d.example", i)}) {
			t.Fatalf("query %s: hit %+v", qs[i].Value, h)
		}
		found[i] = true
	})
	if i := slices.Index(found, false); i >= 0 {
		t.Fatalf("query %s: no hit", qs[i].Value)
	}
}
