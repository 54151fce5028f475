package match

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"cshub/internal/hub"
	"cshub/internal/stix/pattern"
)

// Ref is the caller's handle for one indicator: an index into a table the
// caller owns and maps back to the indicator object. Refs are at most
// 2^31-1. The index stores refs, never the objects.
type Ref uint32

// Hit is one indicator entry matching a looked-up value.
type Hit struct {
	Ref Ref
	// How is HowExact, HowCIDR, HowParentDomain, HowPrefix or HowSuffix.
	How string
	// Matched is the indicator value that matched, canonical: the value
	// itself, the CIDR block, the parent domain, or the prefix or suffix.
	Matched string
}

// Query is one value to look up. Type is as for Canonical; "" classifies
// the value by its form.
type Query struct {
	Type, Value string
}

// Index is the in-memory indicator matching index. It answers which
// indicator entries (pattern.Entry values added under caller refs) match an
// observed value: exactly after canonicalisation, by CIDR containment, as a
// parent domain, or by prefix or suffix.
//
// The index returns Refs and knows nothing of who may see what. The caller
// maps each Ref to its indicator and MUST apply access control (workspace,
// TLP, recipients) to every hit before showing or acting on it: a hit only
// says that some indicator in the whole hub matches.
//
// An Index is a published, immutable snapshot plus a small mutable delta.
// Lookups load the current snapshot through an atomic pointer and never
// wait for a rebuild or a Swap; they take a read lock on the delta only
// while it is non-empty, and writers hold that lock for one insertion.
// Rebuilds run in the background: NewBuilder, Add every live indicator,
// Build, Swap; or Compact, which rebuilds from the index's own contents.
// Add, Remove and SetValidUntil on the Index act at once; the
// changes made after a Builder was created are replayed onto its snapshot
// at Swap, so nothing done during a rebuild is lost.
//
// All methods are safe for concurrent use.
type Index struct {
	clock func() time.Time
	seed  maphash.Seed
	cur   atomic.Pointer[view]

	mu      sync.Mutex // serialises writers; guards the fields below
	seq     uint64     // sequence number of the last change
	journal []change   // changes since the builder of the current snapshot began
	gen     uint64     // builders created
	swapGen uint64     // gen of the current snapshot's builder
}

// view is what readers load: the base layer, its delta and the ref states.
type view struct {
	base   *layer
	states *refStates
	delta  *delta
}

// delta is the mutable layer for adds between rebuilds.
type delta struct {
	mu sync.RWMutex // guards l
	n  atomic.Int64 // entries added; readers skip the lock while it is 0
	l  *layer
}

type change struct {
	seq   uint64
	ref   Ref
	add   bool
	entry pattern.Entry // when add
	state uint32        // when !add
}

// New returns an empty Index. clock gives the time against which validity
// windows are checked at lookup; nil means time.Now.
func New(clock func() time.Time) *Index {
	if clock == nil {
		clock = time.Now
	}
	x := &Index{clock: clock, seed: maphash.MakeSeed()}
	x.cur.Store(&view{base: newLayer(x.seed, 0), states: new(refStates), delta: x.newDelta()})
	return x
}

func (x *Index) newDelta() *delta { return &delta{l: newLayer(x.seed, 0)} }

// Add adds one entry for ref to the live index, through the delta layer.
// The entry is served at once. The delta, and a journal of the changes to
// replay at the next Swap, grow until that Swap: rebuild from time to time. It returns a *hub.Error if the entry's value
// does not canonicalise (see Canonical), if the entry is a /0 block, or if
// the index does not serve its property.
func (x *Index) Add(ref Ref, e pattern.Entry) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	d := x.cur.Load().delta
	d.mu.Lock()
	err := d.l.add(ref, e)
	d.mu.Unlock()
	if err != nil {
		return err
	}
	d.n.Add(1)
	x.seq++
	x.journal = append(x.journal, change{seq: x.seq, ref: ref, add: true, entry: e})
	return nil
}

// Remove withdraws every entry of ref (a revoked or deleted indicator) at
// once. The entries stay in memory as tombstones until a rebuild that
// leaves them out. A removed ref stays removed: the caller must not reuse
// it for another indicator until a snapshot built after the Remove (by a
// Builder created after it) has been swapped in.
func (x *Index) Remove(ref Ref) { x.setState(ref, stateRemoved) }

// SetValidUntil sets the end of ref's validity window (an indicator's
// valid_until): from that instant, to the second, lookups skip its
// entries. The zero time means no end. It has no effect on a removed ref.
func (x *Index) SetValidUntil(ref Ref, until time.Time) { x.setState(ref, deadline(until)) }

func (x *Index) setState(ref Ref, st uint32) {
	x.mu.Lock()
	defer x.mu.Unlock()
	v := x.cur.Load()
	if v.states.get(uint32(ref)) == stateRemoved {
		return
	}
	v.states.set(uint32(ref), st)
	x.seq++
	x.journal = append(x.journal, change{seq: x.seq, ref: ref, state: st})
}

// Builder builds a snapshot in the background while the Index serves
// lookups. A Builder is not safe for concurrent use; it is used once.
type Builder struct {
	x        *Index
	l        *layer
	states   *refStates
	startSeq uint64
	gen      uint64
	n        int
	built    bool
}

// NewBuilder returns a Builder for a new snapshot of x. sizeHint is the
// expected number of exact entries (0 if unknown). The caller should read
// its indicators after NewBuilder returns: changes made to x from then on
// are replayed onto the snapshot at Swap, so an indicator that the
// Builder misses but that is added to x meanwhile is not lost.
func (x *Index) NewBuilder(sizeHint int) *Builder {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.gen++
	return &Builder{x: x, l: newLayer(x.seed, sizeHint), states: new(refStates), startSeq: x.seq, gen: x.gen}
}

// Add adds one entry for ref; see Index.Add for the errors.
func (b *Builder) Add(ref Ref, e pattern.Entry) error {
	if b.built {
		return hub.Errorf(hub.EInternal, "match: Builder used after Build")
	}
	if err := b.l.add(ref, e); err != nil {
		return err
	}
	b.n++
	return nil
}

// SetValidUntil sets the end of ref's validity window; the zero time means
// no end.
func (b *Builder) SetValidUntil(ref Ref, until time.Time) {
	b.states.set(uint32(ref), deadline(until))
}

// Build finishes the snapshot. The Builder may not be used afterwards.
func (b *Builder) Build() *Snapshot {
	b.built = true
	b.l.seal()
	return &Snapshot{x: b.x, base: b.l, states: b.states, startSeq: b.startSeq, gen: b.gen, entries: b.n}
}

// Snapshot is a built, immutable base layer waiting to be swapped in.
type Snapshot struct {
	x        *Index
	base     *layer
	states   *refStates
	startSeq uint64
	gen      uint64
	entries  int
	swapped  bool // guarded by x.mu
}

// Entries returns the number of entries added to the snapshot's Builder.
func (s *Snapshot) Entries() int { return s.entries }

// Swap publishes s as x's base layer. The adds, removals and validity
// changes made to x since s's Builder was created are replayed onto it;
// the rest of the old delta is dropped, as the Builder is taken to have
// covered it. Readers never block: those already running finish on the
// old snapshot. Swap fails if s comes from another Index, was swapped
// before, or its Builder was created before the current snapshot's.
func (x *Index) Swap(s *Snapshot) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case s.x != x:
		return hub.Errorf(hub.EInternal, "match: snapshot of another index")
	case s.swapped:
		return hub.Errorf(hub.EConflict, "match: snapshot swapped in already")
	case s.gen < x.swapGen:
		return hub.Errorf(hub.EConflict, "match: snapshot older than the current one")
	}
	d := x.newDelta()
	var keep []change
	for _, c := range x.journal {
		if c.seq <= s.startSeq {
			continue
		}
		keep = append(keep, c)
		if c.add {
			if d.l.add(c.ref, c.entry) == nil {
				d.n.Add(1)
			}
		} else {
			s.states.set(uint32(c.ref), c.state)
		}
	}
	s.swapped = true
	x.journal, x.swapGen = keep, s.gen
	x.cur.Store(&view{base: s.base, states: s.states, delta: d})
	return nil
}

// Stats describes the index's size.
type Stats struct {
	ExactSlots   int // slots in the base exact table
	ExactEntries int // entries in it
	ArenaBytes   int // canonical key bytes
	CIDRBlocks   int // blocks in the base trie
	DeltaEntries int // entries in the delta layer
	Bytes        int // memory of the base table, arena and ref states (not the trie)
}

// Stats returns the index's size.
func (x *Index) Stats() Stats {
	v := x.cur.Load()
	return Stats{
		ExactSlots:   len(v.base.exact.fps),
		ExactEntries: v.base.exact.n,
		ArenaBytes:   len(v.base.exact.arena),
		CIDRBlocks:   v.base.nCIDR,
		DeltaEntries: int(v.delta.n.Load()),
		Bytes:        v.base.exact.bytes() + v.states.bytes(),
	}
}

// Lookup returns the hits on one value, each (ref, how, matched) at most
// once; nil for none or for a value that does not canonicalise. Refs that
// are removed, or whose validity window ended by the clock, are left out.
// The caller must still apply access control to every hit (see Index).
func (x *Index) Lookup(typ, value string) []Hit {
	var (
		hits   []Hit
		probes [16]probe
	)
	x.lookup([]Query{{typ, value}}, probes[:], func(_ int, h Hit) { hits = append(hits, h) })
	return hits
}

func (d *delta) lookup(h uint64, key []byte, ok filter, emit func(Hit)) {
	if d.n.Load() == 0 {
		return
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	d.l.lookupExact(h, key, ok, emit)
	d.l.lookupMore(key, true, ok, emit)
}

// appendHit appends h unless hits has it: an entry in both a snapshot and
// the delta replayed onto it would otherwise be reported twice.
func appendHit(hits []Hit, h Hit) []Hit {
	for _, o := range hits {
		if o == h {
			return hits
		}
	}
	return append(hits, h)
}

// batchSize is how many queries LookupBatch hashes before probing: enough
// independent loads in flight to hide memory latency.
const batchSize = 16

// probe is one exact-table probe of a lookup: for the value's own key or,
// for a domain, for the key of one of its parents.
type probe struct {
	lo, hi int32 // the key is scratch[lo:hi]; offsets, so that scratch stays on the stack
	h      uint64
	home   int
	first  uint32 // the fingerprint at home, loaded ahead of the probe
	// For an IPv4 address, loaded ahead: its cover4 word and its cell.
	cover, cell uint64
	sink        uint32 // other loads made ahead land here
	parent      bool
}

// LookupBatch looks up every query and calls out for each hit with the
// query's index, as Lookup would report it; queries whose value does not
// canonicalise have no hits. Within each batch of queries it computes all
// the keys and hashes (of the values and of their parent domains) first,
// and touches every home slot before probing any, so that the cache misses
// of a large table overlap instead of queuing. out is called from the
// calling goroutine, in query order.
func (x *Index) LookupBatch(qs []Query, out func(i int, h Hit)) {
	var probes [8 * batchSize]probe
	x.lookup(qs, probes[:], out)
}

// lookup runs queries in batches of at most batchSize and len(probes)
// probes.
func (x *Index) lookup(qs []Query, probes []probe, out func(i int, h Hit)) {
	v := x.cur.Load()
	c := checker{states: v.states, clock: x.clock}
	t := v.base.exact
	var (
		scratch = make([]byte, 0, 1024)
		keys    [batchSize][]byte
		span    [batchSize + 1]int // the probes of query j are probes[span[j]:span[j+1]]
		parents [batchSize]bool    // parent domains are among the probes
		hits    []Hit
	)
	emit := func(h Hit) { hits = appendHit(hits, h) }
	// The class of the type of the previous query: a stream's queries
	// mostly share their type.
	typ := ""
	tc, hexLen, hashName := classOf(typ)
	for start := 0; start < len(qs); {
		scratch = scratch[:0]
		np, n := 0, 0
		for ; n < batchSize && start+n < len(qs) && np < len(probes); n++ {
			span[n] = np
			q := qs[start+n]
			if q.Type != typ {
				typ = q.Type
				tc, hexLen, hashName = classOf(typ)
			}
			s0 := len(scratch)
			var err error
			if scratch, err = appendKeyClass(scratch, tc, hexLen, hashName, q.Type, q.Value); err != nil {
				keys[n] = nil
				continue
			}
			k := scratch[s0:len(scratch):len(scratch)]
			keys[n] = k
			probes[np] = probe{lo: int32(s0), hi: int32(len(scratch)), h: t.hash(k)}
			np++
			parents[n] = false
			if keyKind(k) != kDomain || np+countDots(k) > len(probes) {
				continue
			}
			parents[n] = true
			name := k[:len(k)-1]
			for i := 0; i < len(name); i++ {
				if name[i] == '.' {
					p := k[i+1:]
					if !hasDot(p[:len(p)-1]) {
						break // two labels at least
					}
					probes[np] = probe{lo: int32(s0 + i + 1), hi: int32(len(scratch)), h: t.hash(p), parent: true}
					np++
				}
			}
		}
		span[n] = np
		for i := range probes[:np] {
			probes[i].home = t.slot(probes[i].h)
		}
		// Independent loads: the CPU keeps many of them in flight.
		for i := range probes[:np] {
			if probes[i].parent && !t.mayParent(probes[i].h) {
				probes[i].first = 0 // the filter answers for the table
				continue
			}
			probes[i].first = t.fps[probes[i].home]
		}
		// A home slot with the key's fingerprint is nearly always a hit:
		// load what the probe will read there, the record and the ref's
		// state.
		for i := range probes[:np] {
			if p := &probes[i]; p.first == fp(p.h) {
				p.sink = uint32(t.arena[t.offs[p.home]]) + v.states.get(t.refs[p.home]&^refHostCIDR)
			}
		}
		if cover := v.base.cover4; cover != nil {
			// What the CIDR step of an IPv4 address will read: the bitmap
			// word, then the cell, then the state of the ref of a cell
			// that is one entry; the loads of each round independent of
			// one another.
			for j := range n {
				if k := keys[j]; keyKind(k) == kIPv4 {
					probes[span[j]].cover = cover[slash24Key(k)/64]
				}
			}
			for j := range n {
				if k, p := keys[j], &probes[span[j]]; keyKind(k) == kIPv4 && p.cover&(1<<(slash24Key(k)%64)) != 0 {
					p.cell, _ = v.base.cell(slash24Key(k))
				}
			}
			for j := range n {
				if p := &probes[span[j]]; keyKind(keys[j]) == kIPv4 && p.cell != 0 && p.cell&cellList == 0 {
					p.sink = v.states.get(uint32(p.cell))
				}
			}
		}
		for j := range n {
			if keys[j] == nil {
				continue
			}
			hits = hits[:0]
			for _, p := range probes[span[j]:span[j+1]] {
				switch {
				case p.first == 0: // an empty home slot: not in the table
				case p.parent:
					v.base.lookupParent(p.h, scratch[p.lo:p.hi], c.ok, emit)
				default:
					v.base.lookupExact(p.h, scratch[p.lo:p.hi], c.ok, emit)
				}
			}
			v.base.lookupMore(keys[j], !parents[j], c.ok, emit)
			v.delta.lookup(probes[span[j]].h, keys[j], c.ok, emit)
			for _, h := range hits {
				out(start+j, h)
			}
		}
		start += n
	}
}

func countDots(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '.' {
			n++
		}
	}
	return n
}
