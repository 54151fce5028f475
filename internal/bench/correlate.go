package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"cshub/internal/correlation"
	"cshub/internal/kb"
	"cshub/internal/match"
	"cshub/internal/seal"
	"cshub/internal/store/sqlite"
)

// CorrelationWorkload is the value stream the correlation figures are measured on: the mix of
// SyntheticIndicators (60% IPv4 addresses and CIDR blocks, 25% domains, 15% SHA-256 hashes),
// each value one indicator's, most of them unique, some shared by a few indicators, a few held
// so often that they become common-value nodes.
type CorrelationWorkload struct {
	seed   uint64
	shared int // distinct values of the shared pool
}

// Shares of the stream, in per mille: values drawn from the pool of very common values (20 of
// them, each held by thousands of objects at 10M) and from the shared pool (a fortieth of the
// stream, so each of its values is held by about four objects); the rest is fresh.
const (
	commonPerMille = 10
	sharedPerMille = 90
	commonValues   = 20
)

// correlateEvent is the size of the new event `cshub bench` correlates, as the issue names it.
const correlateEvent = 10_000

// NewCorrelationWorkload returns the workload of a store of n values.
func NewCorrelationWorkload(n int, seed uint64) *CorrelationWorkload {
	return &CorrelationWorkload{seed: seed, shared: max(n/40, 1)}
}

// Value returns the i-th value of the stream as (STIX type, value); the same i gives the same
// value, so a stream of billions needs no memory.
func (w *CorrelationWorkload) Value(i uint64) (typ, value string) {
	r := rand.New(rand.NewPCG(w.seed, i))
	switch p := r.IntN(1000); {
	case p < commonPerMille:
		r = rand.New(rand.NewPCG(w.seed^1, uint64(r.IntN(commonValues))))
	case p < commonPerMille+sharedPerMille:
		r = rand.New(rand.NewPCG(w.seed^2, uint64(r.IntN(w.shared))))
	}
	_, typ, value = syntheticValue(r)
	return typ, value
}

// correlator turns values into tokens with a real barrier and links them in an index: what the
// hub does with each stored indicator, short of reading it from the store.
type correlator struct {
	tk  kb.Tokenizer
	idx *correlation.Index
}

// put links object number i (one indicator of value (typ, value)) and returns the links made:
// pairwise links plus common-value nodes joined.
func (c *correlator) put(ws string, i uint64, typ, value string) (int, error) {
	key, err := match.Canonical(typ, value)
	if err != nil {
		return 0, err
	}
	t, err := c.tk.Token(kb.TokenValue, key)
	if err != nil {
		return 0, err
	}
	changes := c.idx.Put(correlation.Object{Workspace: ws, ID: "indicator--" + strconv.FormatUint(i, 16), Author: "bench"},
		[]correlation.Token{correlation.Token(t)})
	n := 0
	for _, ch := range changes {
		n += len(ch.Others)
		if ch.Common {
			n++
		}
	}
	return n, nil
}

// Correlate measures the correlation index on a store of n values (one indicator each) from
// the workload: recorrelating all n from scratch (canonical form, blind-index token with a real
// barrier, links), and correlating a new event of event values against them. End to end means
// from the plaintext value to the links made; reading the objects from the store, decoding
// their JSON and parsing their patterns are not included (they are the load pass every
// in-memory index of the hub shares), nor is delivering the event over the bus. Each figure
// has beside it the same values canonicalised and tokenised into a bare Go map in the same run
// (inserting them all, looking the event's up): the floor, without links.
func Correlate(ctx context.Context, dir string, n, event int) ([]Row, error) {
	st, b, err := sealedStore(ctx, filepath.Join(dir, "correlate.db"))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	w := NewCorrelationWorkload(n, 1)

	// The baselines first, so that their garbage is gone before the index is built.
	token := func(i uint64) (correlation.Token, error) {
		typ, value := w.Value(i)
		key, err := match.Canonical(typ, value)
		if err != nil {
			return correlation.Token{}, err
		}
		t, err := b.Token(kb.TokenValue, key)
		return correlation.Token(t), err
	}
	bare := make(map[correlation.Token]uint32, n)
	start, cpu := time.Now(), cpuTime()
	for i := range n {
		t, err := token(uint64(i))
		if err != nil {
			return nil, err
		}
		bare[t] = uint32(i)
	}
	bareBuild, bareBuildCPU := time.Since(start), cpuTime()-cpu
	start = time.Now()
	hits := 0
	for j := range event {
		t, err := token(uint64(n + j))
		if err != nil {
			return nil, err
		}
		if _, ok := bare[t]; ok {
			hits++
		}
	}
	bareEvent := time.Since(start)
	bare = nil
	runtime.GC()

	c := &correlator{tk: b, idx: correlation.New(0)}
	c.idx.Grow(n+event, n+event)
	start, cpu = time.Now(), cpuTime()
	for i := range n {
		typ, value := w.Value(uint64(i))
		if _, err := c.put("store", uint64(i), typ, value); err != nil {
			return nil, err
		}
	}
	rebuild, rebuildCPU := time.Since(start), cpuTime()-cpu
	stats := c.idx.Stats()
	start = time.Now()
	links := 0
	for j := range event {
		typ, value := w.Value(uint64(n + j))
		made, err := c.put("event", uint64(n+j), typ, value)
		if err != nil {
			return nil, err
		}
		links += made
	}
	correlate := time.Since(start)
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	runtime.KeepAlive(c)

	// On a loaded machine the wall clock counts the time other processes ran; the process's
	// CPU time (garbage collection included) says what the work itself cost.
	recorrelate := fmt.Sprintf("recorrelate %d values from scratch (%d distinct, %d common nodes, %d links; heap %d MB; CPU %.1f s, baseline's %.1f s)",
		n, stats.Values, stats.Common, stats.Links, mem.HeapAlloc>>20, rebuildCPU.Seconds(), bareBuildCPU.Seconds())
	newEvent := fmt.Sprintf("correlate a new %d-value event against %d (%d links made, %d bare-map hits)", event, n, links, hits)
	return []Row{
		{Name: recorrelate, Value: ms(rebuild), Unit: "ms", Baseline: "the same values tokenised into a bare Go map", Base: ms(bareBuild)},
		{Name: newEvent, Value: ms(correlate), Unit: "ms", Baseline: "the event's values tokenised and looked up in that map", Base: ms(bareEvent)},
	}, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// sealedStore opens a new SQLite store at path with a barrier over it as sealBench makes it.
// The caller closes the store.
func sealedStore(ctx context.Context, path string) (*sqlite.DB, *seal.Barrier, error) {
	st, err := sqlite.Open(path)
	if err != nil {
		return nil, nil, err
	}
	b, _, err := sealBench(ctx, st)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, b, nil
}
