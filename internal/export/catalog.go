package export

import (
	"context"
	"encoding/json"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"cshub/internal/access"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/match"
	"cshub/internal/stix/pattern"
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
	kb   *kb.Service
	wl   *warninglist.Set
	keep bool
	all  bool
	now  func() time.Time

	mu        sync.RWMutex
	seq       int64                   // every version with Seq <= seq is loaded; guarded by mu
	inds      map[string]*history     // Indicator.Key → versions; guarded by mu
	byID      map[string][]*history   // indicator id → its histories (one per workspace); guarded by mu
	sighted   map[string][]*sightings // indicator id → sightings of it; guarded by mu
	sights    map[string]*sightings   // workspace/id of a sighting → its versions; guarded by mu
	touched   []touch                 // (Seq, indicator id) of every version loaded, in Seq order; guarded by mu
	deadlines []deadline              // validity bounds, sorted by time; guarded by mu
	pending   []deadline              // bounds loaded since deadlines was last sorted; guarded by mu
	benign    map[Value]bool          // the values on a warninglist of real services; guarded by mu
	clock     time.Time               // the latest Point.Time handed out or deletion time recorded; guarded by mu
}

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
	gone time.Time  // zero: not deleted
	obj  hub.Object // Workspace, Author, TLP, Recipients, Modified, Revoked; no body
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
	ind *Indicator // nil: nothing to export
}

type history struct{ versions []version }

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
	return &Catalog{kb: c.KB, wl: c.Warninglists, keep: c.KeepBodies, all: !c.LatestOnly, now: now,
		inds: map[string]*history{}, byID: map[string][]*history{}, sighted: map[string][]*sightings{},
		sights: map[string]*sightings{}, benign: map[Value]bool{}}
}

// syncPage is how many versions Sync reads from the store at once.
const syncPage = 1000

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
	for pg := range pages {
		if pg.err != nil {
			return Point{Seq: c.seq, Time: c.tick(false)}, pg.err
		}
		parsed := c.parse(pg.objs)
		for i, o := range pg.objs {
			if o.Type == "indicator" {
				c.addIndicator(o, parsed[i])
			} else {
				c.addSighting(o)
			}
			c.seq = max(c.seq, o.Seq)
		}
		loaded += len(pg.objs)
		if progress != nil && len(pg.objs) > 0 {
			progress(loaded)
		}
	}
	if len(c.pending) > len(c.deadlines)/8 {
		c.deadlines = append(c.deadlines, c.pending...)
		c.pending = c.pending[:0]
		slices.SortFunc(c.deadlines, func(a, b deadline) int { return a.t.Compare(b.t) })
	}
	return Point{Seq: c.seq, Time: c.tick(false)}, nil
}

// page is one page of versions read by read, or the error that ended the reading.
type page struct {
	objs []*hub.Object
	err  error
}

// read sends to pages every indicator and sighting version stored after c.seq, a page at a
// time, then closes it. It reads c.seq before the first send, while Sync holds c.mu and has not
// yet changed it.
func (c *Catalog) read(ctx context.Context, pages chan<- page) {
	defer close(pages)
	f := hub.Filter{Viewer: system, Types: []string{"indicator", "sighting"}, AfterSeq: c.seq, AllVersions: c.all,
		Limit: syncPage, NoTokens: true}
	for {
		objs, err := c.kb.List(ctx, f)
		select {
		case pages <- page{objs, err}:
		case <-ctx.Done():
			return
		}
		if err != nil || len(objs) < f.Limit {
			return
		}
		f.AfterSeq = objs[len(objs)-1].Seq
	}
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
	key := workspace + "/" + id
	var st *stored
	of := id // the indicator whose export changes
	if h := c.inds[key]; h != nil {
		if i := slices.IndexFunc(h.versions, func(v version) bool { return v.seq == seq }); i >= 0 {
			st = &h.versions[i].stored
		}
	} else if s := c.sights[key]; s != nil {
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

func meta(o *hub.Object) hub.Object {
	return hub.Object{ID: o.ID, Type: o.Type, Workspace: o.Workspace, Author: o.Author, TLP: o.TLP,
		Recipients: o.Recipients, Modified: o.Modified, Revoked: o.Revoked}
}

// parsed is an indicator version's exportable record, or nil, and whether each of its values
// is on a warninglist of real services.
type parsed struct {
	ind    *Indicator
	benign []bool
}

// parse reads the exportable record of each indicator of a page (nil for other objects) and
// asks the warninglists about its values, on every core: decoding bodies and patterns costs as
// much as reading them from the store.
func (c *Catalog) parse(objs []*hub.Object) []parsed {
	out := make([]parsed, len(objs))
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(objs); i += workers {
				if objs[i].Type != "indicator" {
					continue
				}
				ind := indicator(objs[i], c.keep)
				out[i].ind = ind
				if ind != nil && c.wl != nil {
					out[i].benign = make([]bool, len(ind.Values))
					for j, val := range ind.Values {
						out[i].benign[j] = len(c.wl.Benign(val.Type, val.Value)) > 0
					}
				}
			}
		})
	}
	wg.Wait()
	return out
}

// addIndicator records one indicator version, whose record parse made; c.mu is held.
func (c *Catalog) addIndicator(o *hub.Object, p parsed) {
	key := o.Workspace + "/" + o.ID
	h := c.inds[key]
	if h == nil {
		h = &history{}
		c.inds[key] = h
		if c.all { // only Delta looks indicators up by id
			c.byID[o.ID] = append(c.byID[o.ID], h)
		}
	}
	ind := p.ind
	v := version{stored: stored{seq: o.Seq, obj: meta(o)}, ind: ind}
	for j, b := range p.benign {
		if b {
			c.benign[ind.Values[j]] = true // values not on a list are left out: the map stays small
		}
	}
	if !c.all {
		h.versions = h.versions[:0]
	}
	h.versions = append(h.versions, v)
	if !c.all {
		return // what Delta needs is kept only for a Catalog that answers for earlier Points
	}
	c.touched = append(c.touched, touch{o.Seq, o.ID})
	if v.ind != nil {
		for _, t := range []time.Time{v.ind.ValidFrom, v.ind.ValidUntil} {
			if !t.IsZero() {
				c.pending = append(c.pending, deadline{t, o.ID})
			}
		}
	}
}

// indicator reads the exportable record of an indicator version, or nil; with keep, the
// record keeps the body. It touches nothing shared, so pages are parsed in parallel.
func indicator(o *hub.Object, keep bool) *Indicator {
	var body struct {
		Name        string    `json:"name"`
		Pattern     string    `json:"pattern"`
		PatternType string    `json:"pattern_type"`
		ValidFrom   time.Time `json:"valid_from"`
		ValidUntil  time.Time `json:"valid_until"`
		Confidence  *int      `json:"confidence"`
		Revoked     bool      `json:"revoked"`
	}
	if json.Unmarshal(o.Body, &body) != nil || body.Revoked || o.Revoked || body.PatternType != "stix" {
		return nil
	}
	p, err := pattern.Parse(body.Pattern)
	if err != nil || !enforceable(p.Expr) {
		return nil
	}
	ind := &Indicator{ID: o.ID, Workspace: o.Workspace, Author: o.Author, Name: body.Name, TLP: o.TLP,
		Confidence: -1, Created: o.Created, Modified: o.Modified, ValidFrom: body.ValidFrom, ValidUntil: body.ValidUntil}
	if body.Confidence != nil {
		ind.Confidence = *body.Confidence
	}
	for _, e := range p.Entries() {
		if v, ok := valueOf(e); ok && !slices.Contains(ind.Values, v) {
			ind.Values = append(ind.Values, v)
		}
	}
	if len(ind.Values) == 0 {
		return nil
	}
	if keep {
		ind.Body = o.Body
	}
	return ind
}

// enforceable reports whether blocking a pattern's Exact and CIDR entries blocks what the
// pattern matches and no more. It is pattern.FullyServed (asked of each comparison), except that
// ISSUBSET on an address counts as decided by its block: FullyServed does not count it because
// an observed value may itself be a wider block, but the packets, queries and answers an
// enforcement point sees carry single addresses.
func enforceable(e pattern.ObservationExpr) bool {
	switch e := e.(type) {
	case *pattern.ObservationBracket:
		return enforceableComp(e.Comparison)
	case *pattern.ObservationCompound:
		return e.Op == pattern.ObsOr && !slices.ContainsFunc(e.Operands, func(o pattern.ObservationExpr) bool { return !enforceable(o) })
	}
	return false
}

func enforceableComp(c pattern.ComparisonExpr) bool {
	switch c := c.(type) {
	case *pattern.Comparison:
		one := &pattern.Pattern{Expr: &pattern.ObservationBracket{Comparison: c}}
		if c.Op == pattern.OpIsSubset && !c.Negated {
			return len(one.Entries()) > 0 // an address block it could read
		}
		return one.FullyServed()
	case *pattern.ComparisonCompound:
		return c.Op == pattern.Or && !slices.ContainsFunc(c.Operands, func(o pattern.ComparisonExpr) bool { return !enforceableComp(o) })
	}
	return false
}

// valueOf turns an index entry into an exportable value: exact values and CIDR blocks in
// canonical form; prefixes and suffixes are not enforceable as values.
func valueOf(e pattern.Entry) (Value, bool) {
	if e.Kind != pattern.Exact && e.Kind != pattern.CIDR {
		return Value{}, false
	}
	v := Value{Type: e.Type}
	typ := e.Type
	if e.Type == "file" {
		algo, ok := strings.CutPrefix(e.Path, "hashes.")
		if !ok {
			return Value{}, false
		}
		v.Hash = strings.ToUpper(strings.Trim(algo, "'"))
		typ = v.Hash
	}
	canon, err := match.Canonical(typ, e.Value)
	if err != nil {
		return Value{}, false
	}
	v.Value = canon
	return v, true
}

// addSighting records one sighting version; c.mu is held.
func (c *Catalog) addSighting(o *hub.Object) {
	var body struct {
		Of            string `json:"sighting_of_ref"`
		Count         *int   `json:"count"`
		FalsePositive bool   `json:"x_cshub_false_positive"`
	}
	if json.Unmarshal(o.Body, &body) != nil || !strings.HasPrefix(body.Of, "indicator--") {
		return
	}
	key := o.Workspace + "/" + o.ID
	s := c.sights[key]
	if s == nil {
		s = &sightings{}
		c.sights[key] = s
	}
	if !slices.Contains(c.sighted[body.Of], s) {
		c.sighted[body.Of] = append(c.sighted[body.Of], s)
	}
	n := 1
	if body.Count != nil {
		n = max(*body.Count, 0)
	}
	if !c.all {
		s.versions = s.versions[:0]
	}
	s.versions = append(s.versions, sightVersion{stored: stored{seq: o.Seq, obj: meta(o)}, of: body.Of, fp: body.FalsePositive, count: n})
	if c.all {
		c.touched = append(c.touched, touch{o.Seq, body.Of})
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
	ver := h.at(p)
	if ver == nil || ver.ind == nil || ver.obj.Revoked || !access.Allow(w.Viewer, &ver.obj, w.Path) {
		return nil
	}
	s, in := &w.Selection, ver.ind
	switch {
	case len(s.Workspaces) > 0 && !slices.Contains(s.Workspaces, in.Workspace),
		len(s.TLP) > 0 && !slices.Contains(s.TLP, in.TLP),
		!in.ValidFrom.IsZero() && in.ValidFrom.After(p.Time),
		!in.ValidUntil.IsZero() && !in.ValidUntil.After(p.Time),
		s.MinConfidence > 0 && in.Confidence < s.MinConfidence,
		s.MaxAge > 0 && p.Time.Sub(in.Modified) > time.Duration(s.MaxAge):
		return nil
	}
	out := *in
	out.Values = nil
	for _, v := range in.Values {
		if (len(s.Types) == 0 || slices.Contains(s.Types, v.Type)) && (s.Warninglisted || !c.benign[v]) {
			out.Values = append(out.Values, v)
		}
	}
	if len(out.Values) == 0 {
		return nil
	}
	if len(out.Values) == len(in.Values) {
		out.Values = in.Values // share the slice: nothing was left out
	}
	for _, sh := range c.sighted[in.ID] {
		sv := sh.at(p)
		if sv == nil || sv.of != in.ID || sv.obj.Revoked || !access.Visible(w.Viewer, &sv.obj) {
			continue
		}
		if sv.fp {
			out.FalsePositives++
		} else {
			out.Sightings += sv.count
		}
	}
	if (out.FalsePositives > 0 && !s.FalsePositives) || out.Sightings < s.MinSightings {
		return nil
	}
	return &out
}

// Select returns what w exports at p, most relevant first (see Selection.Limit).
func (c *Catalog) Select(w *View, p Point) []*Indicator {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.selectAll(w, p)
}

func (c *Catalog) selectAll(w *View, p Point) []*Indicator {
	var out []*Indicator
	for _, h := range c.inds {
		if ind := c.eval(h, w, p); ind != nil {
			out = append(out, ind)
		}
	}
	slices.SortFunc(out, relevant)
	if l := w.Selection.Limit; l > 0 && len(out) > l {
		out = out[:l:l]
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
		for _, h := range c.byID[id] {
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
