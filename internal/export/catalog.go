package export

import (
	"context"
	"hash/maphash"
	"runtime"
	"slices"
	"sync"
	"time"

	"cshub/internal/access"
	"cshub/internal/export/record"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/parsort"
	"cshub/internal/prefault"
	"cshub/internal/warninglist"
)

// Point is a moment of the hub's history as a Catalog replays it: the object versions stored
// up to store Seq, with validity windows judged at Time.
type Point struct {
	Seq  int64
	Time time.Time
}

// Config holds what a Catalog is built from. KB is required.
type Config struct {
	KB *kb.Service
	// Warninglists flags values of real services (Set.Benign), which Select leaves out unless a
	// Selection asks for them; nil flags nothing.
	Warninglists *warninglist.Set
	// KeepBodies keeps each indicator's STIX JSON, which the stix and misp formats need.
	KeepBodies bool
	// BodiesFor, with KeepBodies, keeps the bodies only of the versions its Viewer may take
	// away by its Path: a one-off export for one organisation need not read the others into
	// memory, such as the AMBER+STRICT indicators of other authors. Select for another
	// viewer may then return indicators without a body, which Format.Write refuses.
	BodiesFor *View
	// LatestOnly loads only the latest version of each indicator and sighting: enough to Select
	// at the newest Point (a one-off export), not to answer for earlier Points (feeds).
	LatestOnly bool
	// Now gives the Time of the Point a Sync reaches; nil means time.Now.
	Now func() time.Time
}

// Catalog is the in-memory record of every indicator and sighting version in the store, as
// the hub (a System viewer) sees them; every answer it gives is filtered for one viewer by
// package access. It is safe for concurrent use: Sync takes the write lock, the rest the read
// lock.
type Catalog struct {
	kb     *kb.Service
	wl     *warninglist.Set
	keep   bool
	bodyOf *View // with keep, whose bodies to keep; nil: all
	all    bool
	now    func() time.Time

	mu        sync.RWMutex
	seq       int64                   // every version with Seq <= seq is loaded; guarded by mu
	seed      maphash.Seed            // of the hashes inds finds histories by
	inds      histories               // the histories of the indicators, by the hash of their id; guarded by mu
	hists     [][]history             // the values of inds, a slab at a time (see newHistory); guarded by mu
	nhists    int                     // how many of hists are taken, in order; guarded by mu
	sighted   map[string][]*sightings // indicator id → sightings of it; guarded by mu
	sights    map[key]*sightings      // workspace and id of a sighting → its versions; guarded by mu
	touched   []touch                 // (Seq, indicator id) of every version loaded, in Seq order; guarded by mu
	deadlines []deadline              // validity bounds, sorted by time; guarded by mu
	pending   []deadline              // bounds loaded since deadlines was last sorted; guarded by mu
	benign    map[Value]bool          // the values on a warninglist of real services; guarded by mu
	clock     time.Time               // the latest Point.Time handed out or deletion time recorded; guarded by mu
}

// key names an indicator or sighting within the hub, as Indicator.Key does, without building a
// string for each of a million versions loaded.
type key struct{ workspace, id string }

type touch struct {
	seq int64
	id  string
}

type deadline struct {
	t  time.Time
	id string
}

// stored is what every version the Catalog holds carries: where it was stored and, once the
// hub deleted it, when the Catalog learnt so.
type stored struct {
	seq  int64
	gone time.Time      // zero: not deleted
	obj  *record.Object // the metadata in the version's record
}

// in reports whether the version is part of the hub's history as of p.
func (s *stored) in(p Point) bool {
	return s.seq <= p.Seq && (s.gone.IsZero() || p.Time.Before(s.gone))
}

// latest returns the version of vs in force at p: the latest by modified among those stored by
// then and not deleted by then. vs is in Seq order.
func latest[V any](vs []V, p Point, st func(*V) *stored) *V {
	var best *V
	for i := range vs {
		v := &vs[i]
		s := st(v)
		if s.seq > p.Seq {
			break
		}
		if s.in(p) && (best == nil || !s.obj.Modified.Before(st(best).obj.Modified)) {
			best = v
		}
	}
	return best
}

// version is one indicator version: its access metadata and, when it is exportable, its
// record. A version that is revoked or carries nothing exportable still supersedes the ones
// before it.
type version struct {
	stored
	rec  *record.Record // nil: nothing to export
	body []byte         // the STIX JSON, kept only with KeepBodies
	// benign says whether a value of rec is on a warninglist of real services, and so in
	// Catalog.benign: a list holds a value or not whichever indicator carries it, so the values
	// of the others need not be looked up there, a million times in a cold export.
	benign bool
}

// history holds the versions of one indicator. Most have one: it is held in first, allocated
// with the history.
type history struct {
	versions []version
	first    [1]version
	hash     uint64   // of the indicator's id: see Catalog.idHash
	next     *history // the next history in its chain of Catalog.inds
}

// historySlab is how many histories are allocated at once.
const historySlab = 1024

// newHistory returns an empty history. Histories are allocated a slab at a time, and taken in
// order, so that Select shares them out by number: a cold export loads a million; c.mu is held.
func (c *Catalog) newHistory() *history {
	if c.nhists%historySlab == 0 {
		c.hists = append(c.hists, make([]history, historySlab))
		prefault.Slice(c.hists[len(c.hists)-1])
	}
	h := c.nth(c.nhists)
	c.nhists++
	h.versions = h.first[:0]
	return h
}

// nth returns the history taken i-th by newHistory.
func (c *Catalog) nth(i int) *history { return &c.hists[i/historySlab][i%historySlab] }

// is reports whether h is the history of k; h holds a version.
func (h *history) is(k key) bool {
	o := h.versions[0].obj
	return o.ID == k.id && o.Workspace == k.workspace
}

// idHash returns the hash of an indicator id that c.inds finds its histories by. The hashes
// of a million ids loaded at once are taken on every core by parse: hashing the keys in a map
// itself, and again each time it grew, was the most of what loading them cost the one core
// that adds them.
func (c *Catalog) idHash(id string) uint64 { return maphash.String(c.seed, id) }

// history returns the history of k, whose id hashes to hash, or nil; c.mu is held.
func (c *Catalog) history(k key, hash uint64) *history {
	h := c.inds.chain(hash)
	for h != nil && (h.hash != hash || !h.is(k)) {
		h = h.next
	}
	return h
}

func (h *history) at(p Point) *version {
	return latest(h.versions, p, func(v *version) *stored { return &v.stored })
}

type sightVersion struct {
	stored
	of    string // sighting_of_ref
	fp    bool   // x_cshub_false_positive
	count int
}

type sightings struct{ versions []sightVersion }

func (s *sightings) at(p Point) *sightVersion {
	return latest(s.versions, p, func(v *sightVersion) *stored { return &v.stored })
}

// NewCatalog returns an empty Catalog; Sync loads it.
func NewCatalog(c Config) *Catalog {
	now := c.Now
	if now == nil {
		now = time.Now
	}
	return &Catalog{kb: c.KB, wl: c.Warninglists, keep: c.KeepBodies, bodyOf: c.BodiesFor, all: !c.LatestOnly, now: now, seed: maphash.MakeSeed(),
		sighted: map[string][]*sightings{}, sights: map[key]*sightings{}, benign: map[Value]bool{}}
}

// recordPage is how many export records Sync reads from the store at once.
const recordPage = 10000

var system = hub.Viewer{System: true}

// Sync loads every indicator and sighting version stored since the last Sync and returns the
// Point it reached: the highest Seq loaded and the current time. Progress, when not nil, is
// called after each page with the number of versions loaded so far.
func (c *Catalog) Sync(ctx context.Context, progress func(loaded int)) (Point, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Reading a page from the store (and opening it) costs about as much as parsing and
	// adding one, so one goroutine reads the next page while this one takes in the last.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan page, 1)
	go c.read(ctx, pages)
	loaded := 0
	var batch []parsed
	for pg := range pages {
		if pg.err != nil {
			return Point{Seq: c.seq, Time: c.tick(false)}, pg.err
		}
		batch = c.parse(pg, batch)
		for _, p := range batch {
			if p.rec.Object.Type == "indicator" {
				c.addIndicator(p)
			} else {
				c.addSighting(p.rec)
			}
			c.seq = max(c.seq, p.rec.Object.Seq)
		}
		loaded += pg.len()
		if progress != nil && pg.len() > 0 {
			progress(loaded)
		}
	}
	if err := ctx.Err(); err != nil {
		// The readers stop at a cancelled context without a word: pages may be missing.
		return Point{Seq: c.seq, Time: c.tick(false)}, err
	}
	if len(c.pending) > len(c.deadlines)/8 {
		c.deadlines = append(c.deadlines, c.pending...)
		c.pending = c.pending[:0]
		slices.SortFunc(c.deadlines, func(a, b deadline) int { return a.t.Compare(b.t) })
	}
	return Point{Seq: c.seq, Time: c.tick(false)}, nil
}

// page is one page of versions read by read, or the error that ended the reading: their export
// records and, when the Catalog keeps bodies, the bodies of their indicators (bodies[i] of
// recs[i]).
type page struct {
	recs   []record.Record
	bodies [][]byte
	err    error
}

func (pg *page) len() int { return len(pg.recs) }

// read sends to pages every indicator and sighting version stored after c.seq, a page at a
// time, then closes it. It reads the versions' export records, which are a fraction of the
// objects to read and need no parsing, and with bodies to keep, the bodies of the indicator
// versions of each page beside them: while goroutines read those of a page and the next,
// each on a connection of its own, another reads the records of the one after. Reading the
// bodies of a page costs a core about twice what reading its records does: with one reader
// of bodies, the rest of a cold export waited on it.
func (c *Catalog) read(ctx context.Context, pages chan<- page) {
	if !c.keep {
		c.readRecords(ctx, pages)
		return
	}
	defer close(pages)
	recs := make(chan page, 1)
	go c.readRecords(ctx, recs)
	// Each page's bodies are read on a goroutine of its own, which hands the page over on
	// a channel of its own; those channels queue in page order.
	queue := make(chan chan page, bodyReaders-1)
	go func() {
		defer close(queue)
		for pg := range recs {
			done := make(chan page, 1) // never blocks its reader, whatever becomes of read
			select {
			case queue <- done:
			case <-ctx.Done():
				return
			}
			go func() { done <- c.withBodies(ctx, pg) }()
		}
	}()
	for done := range queue {
		pg := <-done
		select {
		case pages <- pg:
		case <-ctx.Done():
			return
		}
		if pg.err != nil {
			return
		}
	}
}

// bodyReaders is how many pages' bodies read reads at once.
const bodyReaders = 2

// withBodies reads the bodies of the indicator versions of pg that the Catalog keeps.
func (c *Catalog) withBodies(ctx context.Context, pg page) page {
	if pg.err == nil {
		pg.bodies, pg.err = c.kb.ExportBodies(ctx, pg.recs, c.keepsBody)
	}
	if pg.err == nil {
		pg.recs, pg.bodies = c.stillStored(pg.recs, pg.bodies)
	}
	return pg
}

// readRecords sends to pages the export records of every indicator and sighting version stored
// after c.seq, a page at a time, then closes it. It reads c.seq before the first send, while
// Sync holds c.mu and has not yet changed it. Records come in every version: the Catalog keeps
// the latest of each itself. Reading a page from the store takes one core and opening it every
// core, so one goroutine reads the next page while this one opens the last: in turn, the
// cores would wait on the reading a third of a cold export's loading.
func (c *Catalog) readRecords(ctx context.Context, pages chan<- page) {
	defer close(pages)
	sealed := make(chan sealedPage, 1)
	// Opened pages go back to be read into again (hub.RecordPage): one being read, one
	// waiting, one being opened.
	free := make(chan *hub.RecordPage, 3)
	go c.readSealed(ctx, c.seq, sealed, free)
	for sp := range sealed {
		pg := page{err: sp.err}
		if pg.err == nil {
			pg.recs, pg.err = c.kb.OpenExportRecords(sp.page.Records())
			free <- sp.page // never blocks: no more pages are about than free holds
		}
		select {
		case pages <- pg:
		case <-ctx.Done():
			return
		}
		if pg.err != nil {
			return
		}
	}
}

// sealedPage is a page of export records as stored, or the error that ended the reading.
type sealedPage struct {
	page *hub.RecordPage
	err  error
}

// readSealed sends to pages the sealed export records stored after Seq after, a page at a
// time, then closes it. It reads into the pages free gives back, or new ones.
func (c *Catalog) readSealed(ctx context.Context, after int64, pages chan<- sealedPage, free <-chan *hub.RecordPage) {
	defer close(pages)
	for {
		var sp sealedPage
		select {
		case sp.page = <-free:
		default:
			sp.page = new(hub.RecordPage)
		}
		sp.err = c.kb.SealedExportRecords(ctx, after, recordPage, sp.page)
		recs := sp.page.Records()
		last := sp.err != nil || len(recs) < recordPage
		if !last {
			after = recs[len(recs)-1].Seq
		}
		select {
		case pages <- sp:
		case <-ctx.Done():
			return
		}
		if last {
			return
		}
	}
}

// keepsBody reports whether the Catalog keeps the body of the version of r: one that exports
// anything, is not revoked and, with BodiesFor, goes to its viewer. Select returns no other.
func (c *Catalog) keepsBody(r *record.Record) bool {
	if !exports(r) || r.Object.Revoked {
		return false
	}
	if c.bodyOf == nil {
		return true
	}
	o := r.Object.Hub()
	return access.Allow(c.bodyOf.Viewer, &o, c.bodyOf.Path)
}

// stillStored returns recs and their bodies without the indicator versions whose body the
// Catalog keeps and did not find: deleted between the reading of their records and that of
// the bodies, they are left out as if the page had been read after the deletion, which Forget
// then skips. A version whose body is not kept stays as its record was read, before.
func (c *Catalog) stillStored(recs []record.Record, bodies [][]byte) ([]record.Record, [][]byte) {
	n := 0
	for i := range recs {
		if recs[i].Object.Type == "indicator" && bodies[i] == nil && c.keepsBody(&recs[i]) {
			continue
		}
		if n < i {
			recs[n], bodies[n] = recs[i], bodies[i]
		}
		n++
	}
	return recs[:n], bodies[:n]
}

// tick returns the current time for a Point or, with after, for a deletion, such that a
// deletion falls strictly after every Point handed out before it and at or before every Point
// handed out after it, whatever the clock does; c.mu is held.
func (c *Catalog) tick(after bool) time.Time {
	t := c.now()
	switch {
	case after && !t.After(c.clock):
		t = c.clock.Add(time.Nanosecond)
	case t.Before(c.clock):
		t = c.clock
	}
	c.clock = t
	return t
}

// Forget records that the hub deleted the version of (workspace, id) stored at seq, an
// indicator or a sighting: from the next Point on, Select and Delta answer as if it had never
// been stored, and Delta reports the indicators it takes away. A version the Catalog has not
// loaded is skipped: the store no longer holds it, so no Sync will.
func (c *Catalog) Forget(workspace, id string, seq int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := key{workspace, id}
	var st *stored
	of := id // the indicator whose export changes
	if h := c.history(k, c.idHash(id)); h != nil {
		if i := slices.IndexFunc(h.versions, func(v version) bool { return v.seq == seq }); i >= 0 {
			st = &h.versions[i].stored
		}
	} else if s := c.sights[k]; s != nil {
		if i := slices.IndexFunc(s.versions, func(v sightVersion) bool { return v.seq == seq }); i >= 0 {
			st, of = &s.versions[i].stored, s.versions[i].of
		}
	}
	if st == nil || !st.gone.IsZero() {
		return
	}
	st.gone = c.tick(true)
	if c.all {
		// A deletion is a deadline: Delta looks at the indicators whose bounds fall between
		// its Points.
		c.pending = append(c.pending, deadline{st.gone, of})
	}
}

// parsed is a version's export record and, for an indicator, whether it exports anything, its
// STIX JSON when the Catalog keeps bodies, and those of its values that are on a warninglist of
// real services.
type parsed struct {
	rec     *record.Record
	hash    uint64 // of an indicator's id (idHash)
	exports bool
	body    []byte
	benign  []Value
}

// parse takes the records of a page and asks the warninglists about the indicators' values, on
// every core: the warninglists cost about as much as reading the records. It writes into the
// memory of out, which the caller passes page after page: nothing keeps a parsed once its page
// is added, and a slice a page was 70 MB of a million versions' garbage.
func (c *Catalog) parse(pg page, out []parsed) []parsed {
	out = slices.Grow(out[:0], pg.len())[:pg.len()]
	clear(out)
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(out); i += workers {
				p := &out[i]
				p.rec = &pg.recs[i]
				if p.rec.Object.Type == "indicator" {
					p.hash = c.idHash(p.rec.Object.ID)
				}
				if p.exports = exports(p.rec); !p.exports {
					continue
				}
				if c.keep {
					p.body = pg.bodies[i]
				}
				if c.wl != nil {
					for _, val := range p.rec.Values {
						if len(c.wl.Benign(val.Type, val.Value)) > 0 {
							p.benign = append(p.benign, val)
						}
					}
				}
			}
		})
	}
	wg.Wait()
	return out
}

// exports reports whether r is of an indicator version that exports anything.
func exports(r *record.Record) bool {
	return r.Object.Type == "indicator" && len(r.Values) > 0
}

// indicator returns what the record of an indicator version that exports exports. The catalog
// builds it only for what a selection takes.
func indicator(r *record.Record, body []byte) Indicator {
	return Indicator{Record: r, Values: r.Values, Body: body}
}

// supersedes reports whether a version modified at m takes the place of the one a Catalog that
// keeps only the latest versions holds in vs: the newer by modified, the later stored of two
// alike, as latest decides.
func supersedes[V any](vs []V, m time.Time, st func(*V) *stored) bool {
	return len(vs) == 0 || !m.Before(st(&vs[len(vs)-1]).obj.Modified)
}

// addIndicator records one indicator version, which parse read; c.mu is held.
func (c *Catalog) addIndicator(p parsed) {
	o := &p.rec.Object
	k := key{o.Workspace, o.ID}
	h := c.history(k, p.hash)
	if h == nil {
		h = c.newHistory()
		h.hash = p.hash
		c.inds.add(h)
	}
	if !c.all {
		if !supersedes(h.versions, o.Modified, func(v *version) *stored { return &v.stored }) {
			return
		}
		h.versions = h.versions[:0]
	}
	for _, b := range p.benign {
		c.benign[b] = true // values not on a list are left out: the map stays small
	}
	v := version{stored: stored{seq: o.Seq, obj: o}}
	if p.exports {
		v.rec, v.body, v.benign = p.rec, p.body, len(p.benign) > 0
	}
	h.versions = append(h.versions, v)
	if !c.all {
		return // what Delta needs is kept only for a Catalog that answers for earlier Points
	}
	c.touched = append(c.touched, touch{o.Seq, o.ID})
	if v.rec != nil {
		for _, t := range []time.Time{v.rec.ValidFrom, v.rec.ValidUntil} {
			if !t.IsZero() {
				c.pending = append(c.pending, deadline{t, o.ID})
			}
		}
	}
}

// addSighting records one sighting version; c.mu is held.
func (c *Catalog) addSighting(r *record.Record) {
	if r.Of == "" {
		return
	}
	o := &r.Object
	k := key{o.Workspace, o.ID}
	s := c.sights[k]
	if s == nil {
		s = &sightings{}
		c.sights[k] = s
	}
	if !slices.Contains(c.sighted[r.Of], s) {
		c.sighted[r.Of] = append(c.sighted[r.Of], s)
	}
	if !c.all {
		if !supersedes(s.versions, o.Modified, func(v *sightVersion) *stored { return &v.stored }) {
			return
		}
		s.versions = s.versions[:0]
	}
	s.versions = append(s.versions, sightVersion{stored: stored{seq: o.Seq, obj: o}, of: r.Of, fp: r.FalsePositive, count: r.Count})
	if c.all {
		c.touched = append(c.touched, touch{o.Seq, r.Of})
	}
}

// View is one organisation's view for Select and Delta: the viewer built by access.ViewerFor
// for Path, the path whose rule decides (access.PathExport or access.PathFeed), and the
// Selection.
type View struct {
	Viewer    hub.Viewer
	Path      access.Path
	Selection Selection
}

// eval returns what h exports for w at p, or nil; c.mu is held.
func (c *Catalog) eval(h *history, w *View, p Point) *Indicator {
	out := new(Indicator)
	if !c.evalInto(h, w, p, out) {
		return nil
	}
	return out
}

// evalInto is eval writing into out, which the caller allocates, and reporting whether h exports
// anything.
func (c *Catalog) evalInto(h *history, w *View, p Point, out *Indicator) bool {
	ver := h.at(p)
	if ver == nil || ver.rec == nil || ver.obj.Revoked {
		return false
	}
	if o := ver.obj.Hub(); !access.Allow(w.Viewer, &o, w.Path) {
		return false
	}
	*out = indicator(ver.rec, ver.body)
	s, in := &w.Selection, out
	switch {
	case len(s.Workspaces) > 0 && !slices.Contains(s.Workspaces, in.Workspace),
		len(s.TLP) > 0 && !slices.Contains(s.TLP, in.TLP),
		!in.ValidFrom.IsZero() && in.ValidFrom.After(p.Time),
		!in.ValidUntil.IsZero() && !in.ValidUntil.After(p.Time),
		s.MinConfidence > 0 && in.Confidence < s.MinConfidence,
		s.MaxAge > 0 && p.Time.Sub(in.Modified) > time.Duration(s.MaxAge):
		return false
	}
	keep := func(v Value) bool {
		return (len(s.Types) == 0 || slices.Contains(s.Types, v.Type)) && (s.Warninglisted || !ver.benign || !c.benign[v])
	}
	// The record's values are shared unless some are left out.
	if all := in.Values; slices.ContainsFunc(all, func(v Value) bool { return !keep(v) }) {
		out.Values = nil
		for _, v := range all {
			if keep(v) {
				out.Values = append(out.Values, v)
			}
		}
		if len(out.Values) == 0 {
			return false
		}
	}
	for _, sh := range c.sighted[in.ID] {
		sv := sh.at(p)
		if sv == nil || sv.of != in.ID || sv.obj.Revoked {
			continue
		}
		if o := sv.obj.Hub(); !access.Visible(w.Viewer, &o) {
			continue
		}
		if sv.fp {
			out.FalsePositives++
		} else {
			out.Sightings += sv.count
		}
	}
	return (out.FalsePositives == 0 || s.FalsePositives) && out.Sightings >= s.MinSightings
}

// Select returns what w exports at p, most relevant first (see Selection.Limit).
func (c *Catalog) Select(w *View, p Point) []*Indicator {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.selectAll(w, p)
}

// selectSlab is how many indicators selectAll allocates at once.
const selectSlab = 4096

func (c *Catalog) selectAll(w *View, p Point) []*Indicator {
	// Judging a million indicators for one viewer is a second of work for one core, and
	// each judgement stands alone, so the cores share it, a contiguous part each. What they
	// select is allocated a slab at a time, not an indicator at a time. Each core sorts its
	// part by rank, and the sorted parts are merged (package parsort).
	parts := make([][]rank, parsort.Parts(c.nhists))
	var wg sync.WaitGroup
	for i := range parts {
		wg.Go(func() {
			lo, hi := i*c.nhists/len(parts), (i+1)*c.nhists/len(parts)
			parts[i] = make([]rank, 0, hi-lo)
			prefault.Slice(parts[i])
			var slab []Indicator
			for j := lo; j < hi; j++ {
				h := c.nth(j)
				if len(slab) == cap(slab) {
					slab = make([]Indicator, 0, selectSlab)
					prefault.Slice(slab)
				}
				slab = slab[:len(slab)+1]
				if ind := &slab[len(slab)-1]; c.evalInto(h, w, p, ind) {
					parts[i] = append(parts[i], rankOf(ind))
				} else {
					slab = slab[:len(slab)-1]
				}
			}
			slices.SortFunc(parts[i], byRank)
		})
	}
	wg.Wait()
	ranks := parsort.Merge(parts, byRank)
	if l := w.Selection.Limit; l > 0 && len(ranks) > l {
		ranks = ranks[:l]
	}
	out := make([]*Indicator, len(ranks))
	for i, r := range ranks {
		out[i] = r.ind
	}
	return out
}

// Delta returns how what w exports changed from one Point to a later one: the indicators
// exported at to that were not exported at from or changed since (another version, other
// sightings), and the keys (Indicator.Key) of those exported at from and no longer at to. A
// client holding the set of from that replaces and deletes by key holds the set of to.
func (c *Catalog) Delta(w *View, from, to Point) (changed []*Indicator, removed []string) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if w.Selection.Limit > 0 || w.Selection.MaxAge > 0 {
		// Which indicators make the cut, or age out, depends on all of them: compare the
		// whole sets.
		return diff(c.selectAll(w, from), c.selectAll(w, to))
	}
	var before, after []*Indicator
	for id := range c.candidates(from, to) {
		hash := c.idHash(id)
		for h := c.inds.chain(hash); h != nil; h = h.next {
			if h.hash != hash || h.versions[0].obj.ID != id {
				continue // another id in the chain
			}
			if ind := c.eval(h, w, from); ind != nil {
				before = append(before, ind)
			}
			if ind := c.eval(h, w, to); ind != nil {
				after = append(after, ind)
			}
		}
	}
	slices.SortFunc(after, relevant)
	return diff(before, after)
}

// candidates returns the ids of the indicators whose export may differ between from and to:
// those with a version or a sighting stored in between, and those whose validity began or
// ended, or a version or sighting of which was deleted (Forget), in between; c.mu is held.
func (c *Catalog) candidates(from, to Point) map[string]struct{} {
	ids := map[string]struct{}{}
	i, _ := slices.BinarySearchFunc(c.touched, from.Seq+1, func(t touch, s int64) int {
		switch {
		case t.seq < s:
			return -1
		case t.seq > s:
			return 1
		}
		return 0
	})
	for ; i < len(c.touched) && c.touched[i].seq <= to.Seq; i++ {
		ids[c.touched[i].id] = struct{}{}
	}
	lo, hi := from.Time, to.Time
	if hi.Before(lo) {
		lo, hi = hi, lo
	}
	in := func(d deadline) bool { return d.t.After(lo) && !d.t.After(hi) }
	j, _ := slices.BinarySearchFunc(c.deadlines, lo, func(d deadline, t time.Time) int {
		if !d.t.After(t) {
			return -1
		}
		return 1
	})
	for ; j < len(c.deadlines) && in(c.deadlines[j]); j++ {
		ids[c.deadlines[j].id] = struct{}{}
	}
	for _, d := range c.pending {
		if in(d) {
			ids[d.id] = struct{}{}
		}
	}
	return ids
}

// diff compares two exports by key.
func diff(before, after []*Indicator) (changed []*Indicator, removed []string) {
	old := make(map[string]*Indicator, len(before))
	for _, ind := range before {
		old[ind.Key()] = ind
	}
	for _, ind := range after {
		k := ind.Key()
		if o, ok := old[k]; !ok || !same(o, ind) {
			changed = append(changed, ind)
		}
		delete(old, k)
	}
	for k := range old {
		removed = append(removed, k)
	}
	slices.Sort(removed)
	return changed, removed
}

// same reports whether a and b, two exports of one indicator, carry the same record.
func same(a, b *Indicator) bool {
	return a.Modified.Equal(b.Modified) && a.Sightings == b.Sightings &&
		a.FalsePositives == b.FalsePositives && slices.Equal(a.Values, b.Values)
}
