package match

import (
	"encoding/hex"
	"flag"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gaissmai/bart"

	"cshub/internal/stix/pattern"
)

// benchN is the number of indicators of the big benchmarks. They run only
// under -bench; the default run of the package never builds them.
var benchN = flag.Int("match.n", 10_000_000, "indicators in the big match benchmarks")

// gen makes indicator i of a deterministic, mixed data set: 60% IPv4 (a
// tenth of them CIDR blocks /20 to /30), 25% domains (a third with a
// subdomain), 15% hashes (MD5, SHA-1, SHA-256 in equal parts). Indicator
// i is the same in every run.
type gen struct {
	pcg *rand.PCG
	r   *rand.Rand
	buf []byte
}

func newGen() *gen {
	p := rand.NewPCG(0, 0)
	return &gen{pcg: p, r: rand.New(p)}
}

var tlds = []string{"com", "net", "org", "ru", "cn", "info", "xyz", "top", "de", "io", "co.uk", "group"}

const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"

func (g *gen) entry(i int) pattern.Entry {
	g.pcg.Seed(0x5eed, uint64(i))
	r := g.r
	b := g.buf[:0]
	switch k := i % 20; {
	case k < 12:
		a := r.Uint32()
		b = strconv.AppendUint(b, uint64(a>>24), 10)
		for s := 16; s >= 0; s -= 8 {
			b = append(b, '.')
			b = strconv.AppendUint(b, uint64(a>>s&255), 10)
		}
		g.buf = b
		if k == 0 || k == 6 { // 2 in 12: CIDR blocks
			bits := 20 + r.IntN(11)
			p := netip.PrefixFrom(netip.MustParseAddr(string(b)), bits).Masked()
			return pattern.Entry{Type: "ipv4-addr", Path: "value", Kind: pattern.CIDR, Value: p.String()}
		}
		return pattern.Entry{Type: "ipv4-addr", Path: "value", Kind: pattern.Exact, Value: string(b)}
	case k < 17:
		if r.IntN(3) == 0 {
			b = appendLabel(b, r, 3, 8)
			b = append(b, '.')
		}
		b = appendLabel(b, r, 6, 14)
		b = append(b, '.')
		b = append(b, tlds[r.IntN(len(tlds))]...)
		g.buf = b
		return pattern.Entry{Type: "domain-name", Path: "value", Kind: pattern.Exact, Value: string(b)}
	}
	var raw [32]byte
	n, path := 16, "hashes.MD5"
	switch r.IntN(3) {
	case 1:
		n, path = 20, "hashes.'SHA-1'"
	case 2:
		n, path = 32, "hashes.'SHA-256'"
	}
	for j := 0; j < n; j += 8 {
		v := r.Uint64()
		for k := 0; k < 8 && j+k < n; k++ {
			raw[j+k] = byte(v >> (8 * k))
		}
	}
	return pattern.Entry{Type: "file", Path: path, Kind: pattern.Exact, Value: hex.EncodeToString(raw[:n])}
}

func appendLabel(b []byte, r *rand.Rand, lo, hi int) []byte {
	n := lo + r.IntN(hi-lo+1)
	for range n {
		b = append(b, alnum[r.IntN(len(alnum))])
	}
	return b
}

// query returns the observed value for indicator i as a query: an address
// inside a CIDR block, other values as written, domains upper-cased at times.
func (g *gen) query(i int) Query {
	e := g.entry(i)
	switch {
	case e.Kind == pattern.CIDR:
		p := netip.MustParsePrefix(e.Value)
		return Query{"ipv4-addr", p.Addr().Next().String()}
	case e.Type == "domain-name" && i%3 == 0:
		return Query{"domain-name", strings.ToUpper(e.Value)}
	case e.Type == "file":
		return Query{"file", e.Value}
	}
	return Query{e.Type, e.Value}
}

// stream returns n queries, one in ten for an indicator of the first
// size, the rest for values not indexed (the same generator, beyond size).
func stream(size, n int, seed uint64) []Query {
	g := newGen()
	r := rand.New(rand.NewPCG(seed, 1))
	qs := make([]Query, n)
	for j := range qs {
		if r.IntN(10) == 0 {
			qs[j] = g.query(r.IntN(size))
		} else {
			qs[j] = g.query(size + r.IntN(size))
		}
	}
	return qs
}

func buildBench(n int, until time.Time) *Index {
	x := New(func() time.Time { return until.Add(-time.Hour) })
	g := newGen()
	b := x.NewBuilder(n)
	for i := range n {
		if err := b.Add(Ref(i), g.entry(i)); err != nil {
			panic(err)
		}
		b.SetValidUntil(Ref(i), until)
	}
	if err := x.Swap(b.Build()); err != nil {
		panic(err)
	}
	return x
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkBuild builds the index of -match.n mixed indicators, each with a
// validity window, and reports the heap it holds per indicator and the
// build time by the wall clock and in CPU seconds (data generation
// included; gen-s is generation alone).
func BenchmarkBuild(b *testing.B) {
	n := *benchN
	until := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		g := newGen()
		t0 := time.Now()
		for i := range n {
			g.entry(i)
		}
		genTime := time.Since(t0)

		before := heapAlloc()
		t0 = time.Now()
		c0 := processCPU()
		x := buildBench(n, until)
		buildTime := time.Since(t0)
		b.ReportMetric((processCPU() - c0).Seconds(), "build-cpu-s")
		after := heapAlloc()
		st := x.Stats()
		b.ReportMetric(float64(after-before)/float64(n), "heap-B/indicator")
		b.ReportMetric(buildTime.Seconds(), "build-s")
		b.ReportMetric(genTime.Seconds(), "gen-s")
		b.ReportMetric(float64(st.ExactSlots)*12/float64(n), "table-B/indicator")
		b.ReportMetric(float64(st.ArenaBytes)/float64(n), "arena-B/indicator")
		runtime.KeepAlive(x)
	}
}

// bigIndex is built once per process for the lookup benchmarks.
var bigIndex = sync.OnceValue(func() *Index {
	return buildBench(*benchN, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
})

// settle collects garbage before a timed loop, so that a collection started
// by the setup does not run during it.
func settle() { runtime.GC() }

// contender is one way of doing a benchmark's lookups: run does the
// lookups of queries [off, off+n) of the benchmark's stream and returns
// the hits.
type contender struct {
	name string
	run  func(off, n int) int
}

// compare runs the contenders in turns, chunk by chunk over the same query
// stream, and reports each one's rate: <name>-lookups/s by the wall clock
// and <name>-lookups/cpu-s by the CPU time of the benchmark's thread.
// Taking turns gives every contender the same conditions on a shared,
// loaded machine; the CPU-time rate leaves out the time the thread waited
// for a core, which on a loaded machine is most of the wall time.
func compare(b *testing.B, size int, cs ...contender) {
	const chunk = 4096
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	settle()
	wall := make([]time.Duration, len(cs))
	cpu := make([]time.Duration, len(cs))
	hits := make([]int, len(cs))
	off := 0
	for b.Loop() {
		for i, c := range cs {
			t0, c0 := time.Now(), threadCPU()
			hits[i] += c.run(off, chunk)
			cpu[i] += threadCPU() - c0
			wall[i] += time.Since(t0)
		}
		off = (off + chunk) % size
	}
	for i, c := range cs {
		b.ReportMetric(float64(b.N*chunk)/wall[i].Seconds(), c.name+"-lookups/s")
		if cpu[i] > 0 {
			b.ReportMetric(float64(b.N*chunk)/cpu[i].Seconds(), c.name+"-lookups/cpu-s")
		}
	}
	b.ReportMetric(float64(hits[0])/float64(b.N*chunk), "hits/lookup")
}

// processCPU returns the CPU time of the process, garbage collection included.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// threadCPU returns the CPU time of the calling OS thread (Linux), or 0.
func threadCPU() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD
	var ru syscall.Rusage
	if syscall.Getrusage(rusageThread, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func lookupEach(x *Index, qs []Query) func(off, n int) int {
	return func(off, n int) int {
		hits := 0
		for _, q := range qs[off : off+n] {
			hits += len(x.Lookup(q.Type, q.Value))
		}
		return hits
	}
}

func lookupBatch(x *Index, qs []Query) func(off, n int) int {
	return func(off, n int) int {
		hits := 0
		x.LookupBatch(qs[off:off+n], func(int, Hit) { hits++ })
		return hits
	}
}

// BenchmarkExact compares exact lookups on a stream of mostly misses (one
// query in ten is for an indexed value) with a bare map[string]struct{} of
// the same canonical keys:
//
//   - map: the map, given keys canonical already;
//   - probe: the index's exact table, given canonical keys like the map;
//   - probe-batch: the same, 16 keys at a time with their home slots
//     loaded before any is probed;
//   - Lookup, LookupBatch: the whole lookup from raw values (canonicalising,
//     and also trying CIDR blocks and parent domains).
func BenchmarkExact(b *testing.B) {
	n := *benchN
	x := bigIndex()
	const size = 1 << 20
	qs := stream(n, size, 7)
	canon := make([]string, len(qs))
	keys := make([][]byte, len(qs))
	for i, q := range qs {
		canon[i], _ = Canonical(q.Type, q.Value)
		keys[i], _ = appendKey(nil, q.Type, q.Value)
	}
	before := heapAlloc()
	m := make(map[string]struct{}, n)
	g := newGen()
	for i := range n {
		if e := g.entry(i); e.Kind == pattern.Exact {
			c, _ := Canonical(e.Type, e.Value)
			m[c] = struct{}{}
		}
	}
	mapBytes := float64(heapAlloc()-before) / float64(len(m))
	t := x.cur.Load().base.exact
	compare(b, size,
		contender{"map", func(off, n int) int {
			hits := 0
			for _, k := range canon[off : off+n] {
				if _, ok := m[k]; ok {
					hits++
				}
			}
			return hits
		}},
		contender{"probe", func(off, n int) int {
			hits := 0
			for _, k := range keys[off : off+n] {
				if _, ok := t.find(t.hash(k), k); ok {
					hits++
				}
			}
			return hits
		}},
		contender{"probe-batch", func(off, n int) int {
			// As probe, but hashing 16 keys and loading their home slots
			// before probing any, as LookupBatch does.
			hits := 0
			var hs [16]uint64
			var first [16]uint32
			ks := keys[off : off+n]
			for len(ks) > 0 {
				m := min(16, len(ks))
				for j, k := range ks[:m] {
					hs[j] = t.hash(k)
				}
				for j := range m {
					first[j] = t.fps[t.slot(hs[j])]
				}
				for j, k := range ks[:m] {
					if first[j] != 0 {
						if _, ok := t.find(hs[j], k); ok {
							hits++
						}
					}
				}
				ks = ks[m:]
			}
			return hits
		}},
		contender{"Lookup", lookupEach(x, qs)},
		contender{"LookupBatch", lookupBatch(x, qs)},
	)
	b.ReportMetric(mapBytes, "map-heap-B/key")
	runtime.KeepAlive(m)
}

// BenchmarkCIDR compares address lookups against the CIDR blocks of the big
// index with a bare bart.Table holding the same blocks: bart (Contains on
// parsed addresses), cidr (the index's CIDR step on parsed addresses), and
// the whole Lookup and LookupBatch from address text (parsing, the exact
// table, then the blocks).
func BenchmarkCIDR(b *testing.B) {
	n := *benchN
	x := bigIndex()
	var t bart.Table[uint32]
	g := newGen()
	for i := range n {
		if e := g.entry(i); e.Kind == pattern.CIDR {
			t.Insert(netip.MustParsePrefix(e.Value), uint32(i))
		}
	}
	// Addresses: one in ten inside a block, the rest random.
	r := rand.New(rand.NewPCG(11, 1))
	const size = 1 << 20
	addrs := make([]netip.Addr, size)
	qs := make([]Query, size)
	for j := range addrs {
		if r.IntN(10) == 0 {
			i := 20 * r.IntN(n/20)
			addrs[j] = netip.MustParsePrefix(g.entry(i).Value).Addr().Next()
		} else {
			var a [4]byte
			v := r.Uint32()
			a[0], a[1], a[2], a[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
			addrs[j] = netip.AddrFrom4(a)
		}
		qs[j] = Query{"ipv4-addr", addrs[j].String()}
	}
	b.ReportMetric(float64(t.Size()), "blocks")
	l := x.cur.Load().base
	ok := func(uint32) bool { return true }
	compare(b, size,
		contender{"bart", func(off, n int) int {
			hits := 0
			for _, a := range addrs[off : off+n] {
				if t.Contains(a) {
					hits++
				}
			}
			return hits
		}},
		contender{"cidr", func(off, n int) int {
			hits := 0
			emit := func(Hit) { hits++ }
			for _, a := range addrs[off : off+n] {
				l.lookupCIDR(netip.PrefixFrom(a, 32), ok, emit)
			}
			return hits
		}},
		contender{"Lookup", lookupEach(x, qs)},
		contender{"LookupBatch", lookupBatch(x, qs)},
	)
}

// BenchmarkParentDomain looks up names two labels below domains, one in ten
// indexed, each lookup trying the name and its parents. The baseline, map,
// probes a bare map[string]struct{} of the domain indicators for the name
// and each parent down to two labels, given the names in canonical form
// already (as they are generated).
func BenchmarkParentDomain(b *testing.B) {
	n := *benchN
	x := bigIndex()
	g := newGen()
	r := rand.New(rand.NewPCG(13, 1))
	const size = 1 << 20
	qs := make([]Query, size)
	for j := range qs {
		i := 20*r.IntN(n/20) + 12 + r.IntN(5) // a domain indicator
		if r.IntN(10) != 0 {
			i += n // beyond the index: a miss
		}
		qs[j] = Query{"domain-name", "www.login." + g.entry(i).Value}
	}
	m := make(map[string]struct{}, n/4)
	for i := range n {
		if e := g.entry(i); e.Type == "domain-name" {
			m[e.Value] = struct{}{}
		}
	}
	compare(b, size,
		contender{"map", func(off, n int) int {
			hits := 0
			for _, q := range qs[off : off+n] {
				for name := q.Value; strings.Contains(name, "."); {
					if _, ok := m[name]; ok {
						hits++
					}
					_, name, _ = strings.Cut(name, ".")
				}
			}
			return hits
		}},
		contender{"Lookup", lookupEach(x, qs)},
		contender{"LookupBatch", lookupBatch(x, qs)},
	)
	runtime.KeepAlive(m)
}
