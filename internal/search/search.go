// Package search is the hub's full-text search: an inverted index over the latest version of
// every object (names, aliases, descriptions, report and note text, indicator values) with
// phrase and prefix queries, structured filters, BM25F ranking, highlights and cursor pages.
//
// The index lives only in memory and is rebuilt from the sealed store when the hub starts
// (Build), then kept current with Add and Remove as objects arrive. This keeps the promise of
// the sealing layer: an inverted index on disk, even one of keyed tokens (as the blind index of
// package seal), gives away document frequencies, lengths and co-occurrences, which for short
// names and indicator values is much of the content; and keyed tokens cannot serve prefix
// queries, ranking or highlights, which need the words. The price is memory (about 1.4 GB at
// a million objects) and a rebuild at start (BenchmarkBuild, BenchmarkBuildFromStore). Memory
// can reach disk only through swap or a core dump, which a hub host should disable anyway, as
// the opened keyring is in memory too.
//
// Access control is applied inside the query: every candidate is tested with the store rule
// of package access (hub.ObjectStore: workspace membership, TLP:RED only to the author and
// recipients) before it is scored, counted or paged, so pages are always full and totals count
// only what the viewer may see. The rule is compiled per query against the index's interned
// names; TestViewFilterIsVisible proves it equal to access.Visible. Exercise separation and
// inactive organisations come with the viewer, built by access.ViewerFor on access.PathSearch
// (or PathExercise for the exercise UI).
package search

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"cshub/internal/hub"
)

// doc is what the index keeps of one object version: the metadata filters and access need,
// the Seq that fetches the body from the store, the field lengths for ranking and the
// searchable text for highlights.
//
// A doc holds only what every candidate of a search needs, in 40 bytes, so that scanning many
// candidates stays in cache; the id and text of doc n are Index.ids[n] and Index.texts[n].
type doc struct {
	seq       int64
	modified  int64  // Unix nanoseconds; 0 when the object has none (matches no time filter)
	rcpt      uint32 // index in Index.rcpts of the recipients; 0 for none
	lens      [nFields]uint16
	workspace uint16 // interned in Index.names
	author    uint16
	typ       uint16
	tlp       hub.TLP
	dead      bool // replaced by a newer version or removed
	stale     bool // revoked or deprecated
}

// postings lists the documents holding one term, in increasing doc number.
type postings struct {
	docs   []uint32
	tfs    []uint32 // term frequency per field, one byte each (saturating), fName lowest
	pos    []uint32 // positions of all postings, concatenated
	posEnd []uint32 // posEnd[i]: end of posting i's positions in pos
}

// Keys of the special terms that filters and exact-name ranking use. They begin with a byte
// no folded word begins with, so no text query can reach them.
const (
	keyLabel = "\x01l"
	keyPhase = "\x01p"
	keyExact = "\x01x"
	// Metadata keys: not needed to filter (the doc holds the metadata) but to drive a search
	// that has no text, such as type:indicator author:cert-nl, from a short list.
	keyType   = "\x01t"
	keyAuthor = "\x01a"
	keyWS     = "\x01w"
	keyTLP    = "\x01T"
)

// Index is an in-memory inverted index. It is safe for concurrent use: searches run in
// parallel, Add and Remove exclude them briefly.
type Index struct {
	now func() time.Time

	mu        sync.RWMutex
	docs      []doc             // by doc number; guarded by mu, as everything below
	ids       []string          // by doc number: STIX id
	texts     []string          // by doc number: fields separated by sepField, for highlights
	rcpts     [][]uint16        // recipient lists (interned); rcpts[0] is the empty list
	byKey     map[string]uint32 // workspace + "\x00" + id -> doc number of the live version
	terms     map[string]uint32 // term -> index in plists
	plists    []postings
	sorted    []string // dictionary in order, for prefix queries
	pending   []string // terms added since sorted was last merged
	names     []string // interned workspace, organisation and type names
	nameIDs   map[string]uint16
	live      int
	lenSum    [nFields]int64 // sum of field lengths over live docs, for average lengths
	withField [nFields]int   // live docs with a non-empty field
}

// New returns an empty Index.
func New() *Index {
	return &Index{
		now:     time.Now,
		byKey:   make(map[string]uint32),
		terms:   make(map[string]uint32),
		nameIDs: make(map[string]uint16),
		rcpts:   [][]uint16{nil},
	}
}

// Len returns how many objects the index holds (latest versions only).
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.live
}

// unixNano is t in Unix nanoseconds, 0 for the zero time (which UnixNano leaves undefined).
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func docKey(workspace, id string) string { return workspace + "\x00" + id }

// intern returns the number of name; the caller holds mu for writing.
func (x *Index) intern(name string) (uint16, error) {
	if n, ok := x.nameIDs[name]; ok {
		return n, nil
	}
	if len(x.names) >= 1<<16 {
		return 0, hub.Errorf(hub.ETooLarge, "search: more than 65536 workspaces, organisations and types")
	}
	n := uint16(len(x.names))
	x.names = append(x.names, name)
	x.nameIDs[name] = n
	return n, nil
}

// Add indexes o, whose Body is the opened STIX JSON, as the latest version of (o.Workspace,
// o.ID). It replaces an older version already indexed; a version older than the indexed one
// (by Modified, then Seq) is ignored, so replaying events is harmless. A body that is not
// JSON is an EInvalid *hub.Error naming field "body".
func (x *Index) Add(o *hub.Object) error {
	if o == nil || o.ID == "" || o.Workspace == "" {
		return hub.FieldError("object", "an object needs an id and a workspace")
	}
	e, err := extract(o.Body)
	if err != nil {
		return &hub.Error{Code: hub.EInvalid, Field: "body", Message: fmt.Sprintf("%s is not STIX JSON", o.ID), Err: err}
	}
	typ := o.Type
	if typ == "" {
		typ, _, _ = strings.Cut(o.ID, "--")
	}
	en := entry{ID: o.ID, Seq: o.Seq, Modified: unixNano(o.Modified), TLP: o.TLP, Recipients: o.Recipients,
		// An anonymous contribution is not findable by its author: the search would name them.
		Author: o.AuthorFor(""), Type: typ, Stale: e.stale, Fields: e.fields,
		Keys: []string{keyType + strings.ToLower(typ), keyAuthor + strings.ToLower(o.Author), keyWS + o.Workspace, keyTLP + o.TLP.String()}}
	for _, l := range e.labels {
		en.Keys = append(en.Keys, keyLabel+l)
	}
	for _, p := range e.phases {
		en.Keys = append(en.Keys, keyPhase+p)
	}
	for _, k := range e.exactly {
		if parts, _ := queryTokens(k); len(parts) > 0 {
			en.Keys = append(en.Keys, keyExact+strings.Join(parts, " "))
		}
	}
	return x.add(o.Workspace, &en)
}

// entry is what the index takes of one object version: what Add extracts from it, and what
// a snapshot saves (the field names are its format).
type entry struct {
	ID         string
	Seq        int64
	Modified   int64 // Unix nanoseconds, 0 for none
	TLP        hub.TLP
	Recipients []string
	Author     string // as the search shows it: "" for an anonymous contribution
	Type       string
	Stale      bool
	Fields     [nFields]string
	Keys       []string // the special terms (type, author, workspace, TLP, labels, ...) it is posted under
}

// add indexes en as the latest version of (workspace, en.ID), as Add says.
func (x *Index) add(workspace string, en *entry) error {
	// Tokenize and group by term outside the lock; only the posting appends need it.
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	sc.reset()
	var lens [nFields]uint16
	pos := 0
	for f := range nFields {
		var n int
		for i, v := range strings.Split(en.Fields[f], sepValue) {
			if i > 0 {
				pos += 2 // values of a field never form a phrase across each other
			}
			pos = tokenize(v, pos, func(t token) {
				sc.add(t.text, f, t.pos)
				if !t.compound {
					n++
				}
			})
		}
		pos += 8
		lens[f] = uint16(min(n, 1<<16-1))
	}

	x.mu.Lock()
	defer x.mu.Unlock()
	key := docKey(workspace, en.ID)
	if old, ok := x.byKey[key]; ok {
		d := &x.docs[old]
		if en.Modified < d.modified || (en.Modified == d.modified && en.Seq < d.seq) {
			return nil
		}
	}
	if len(x.docs) >= 1<<32-1 {
		return hub.Errorf(hub.ETooLarge, "search: the index is full")
	}
	d := doc{seq: en.Seq, modified: en.Modified, tlp: en.TLP, stale: en.Stale, lens: lens}
	var err error
	if d.workspace, err = x.intern(workspace); err != nil {
		return err
	}
	if d.author, err = x.intern(en.Author); err != nil {
		return err
	}
	if d.typ, err = x.intern(en.Type); err != nil {
		return err
	}
	var rcpt []uint16
	for _, r := range en.Recipients {
		n, err := x.intern(r)
		if err != nil {
			return err
		}
		rcpt = append(rcpt, n)
	}
	if len(rcpt) > 0 {
		d.rcpt = uint32(len(x.rcpts))
		x.rcpts = append(x.rcpts, rcpt)
	}
	if old, ok := x.byKey[key]; ok {
		x.kill(old)
	}
	n := uint32(len(x.docs))
	x.docs = append(x.docs, d)
	x.ids = append(x.ids, en.ID)
	x.texts = append(x.texts, strings.Join(en.Fields[:], sepField))
	x.byKey[key] = n
	x.live++
	for f := range nFields {
		x.lenSum[f] += int64(lens[f])
		if lens[f] > 0 {
			x.withField[f]++
		}
	}

	for t, k := range sc.terms {
		a := &sc.accs[k]
		slices.Sort(a.pos) // compounds arrive after their parts
		x.post(t, n, a.tf, a.pos)
	}
	for _, k := range en.Keys {
		x.post(k, n, 0, nil)
	}
	return nil
}

// scratch groups the tokens of one document by term. Add takes one from scratchPool so that
// indexing a document allocates little besides what the index keeps.
type scratch struct {
	terms map[string]int32 // term -> index in accs
	accs  []termAcc
}

type termAcc struct {
	tf  uint32 // packed field frequencies, as in postings.tfs
	pos []uint32
}

var scratchPool = sync.Pool{New: func() any { return &scratch{terms: make(map[string]int32)} }}

func (s *scratch) reset() {
	clear(s.terms)
	s.accs = s.accs[:0]
}

func (s *scratch) add(term string, f, pos int) {
	k, ok := s.terms[term]
	if !ok {
		k = int32(len(s.accs))
		s.terms[term] = k
		if len(s.accs) < cap(s.accs) {
			s.accs = s.accs[:k+1]
			s.accs[k].tf, s.accs[k].pos = 0, s.accs[k].pos[:0]
		} else {
			s.accs = append(s.accs, termAcc{})
		}
	}
	a := &s.accs[k]
	if shift := 8 * f; (a.tf>>shift)&0xff < 0xff {
		a.tf += 1 << shift
	}
	a.pos = append(a.pos, uint32(pos))
}

// post appends doc n to term t's postings; the caller holds mu for writing. Doc numbers only
// grow, so appending keeps every list sorted.
func (x *Index) post(t string, n uint32, tf uint32, pos []uint32) {
	k, ok := x.terms[t]
	if !ok {
		t = strings.Clone(t) // t may point into a body; keep only the term
		k = uint32(len(x.plists))
		x.plists = append(x.plists, postings{})
		x.terms[t] = k
		if t[0] != 0x01 {
			x.pending = append(x.pending, t)
			if len(x.pending) > 4096 {
				x.mergePending()
			}
		}
	}
	p := &x.plists[k]
	if len(p.docs) > 0 && p.docs[len(p.docs)-1] == n {
		return // a label or phase given twice
	}
	p.docs = append(p.docs, n)
	p.tfs = append(p.tfs, tf)
	p.pos = append(p.pos, pos...)
	p.posEnd = append(p.posEnd, uint32(len(p.pos)))
}

// get returns the postings of term t, or nil; the caller holds mu.
func (x *Index) get(t string) *postings {
	if k, ok := x.terms[t]; ok {
		return &x.plists[k]
	}
	return nil
}

// mergePending folds new terms into the sorted dictionary; the caller holds mu for writing.
func (x *Index) mergePending() {
	slices.Sort(x.pending)
	merged := make([]string, 0, len(x.sorted)+len(x.pending))
	i, j := 0, 0
	for i < len(x.sorted) && j < len(x.pending) {
		if x.sorted[i] < x.pending[j] {
			merged = append(merged, x.sorted[i])
			i++
		} else {
			merged = append(merged, x.pending[j])
			j++
		}
	}
	merged = append(merged, x.sorted[i:]...)
	merged = append(merged, x.pending[j:]...)
	x.sorted, x.pending = merged, x.pending[:0]
}

// kill marks doc n dead; the caller holds mu for writing. Its postings stay until the index
// is rebuilt; searches skip dead documents.
func (x *Index) kill(n uint32) {
	d := &x.docs[n]
	if d.dead {
		return
	}
	d.dead = true
	x.texts[n] = ""
	x.live--
	for f := range nFields {
		x.lenSum[f] -= int64(d.lens[f])
		if d.lens[f] > 0 {
			x.withField[f]--
		}
	}
}

// Remove takes the object (workspace, id) out of the index; removing what is not indexed does
// nothing.
func (x *Index) Remove(workspace, id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	key := docKey(workspace, id)
	if n, ok := x.byKey[key]; ok {
		x.kill(n)
		delete(x.byKey, key)
	}
}

// RemoveWorkspace takes every object of the workspace out of the index, for when the
// workspace is deleted (and its keys shredded).
func (x *Index) RemoveWorkspace(workspace string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	prefix := workspace + "\x00"
	for key, n := range x.byKey {
		if strings.HasPrefix(key, prefix) {
			x.kill(n)
			delete(x.byKey, key)
		}
	}
}

// Source is what Build reads objects from; *kb.Service is one.
type Source interface {
	// List returns the objects selected by f that f.Viewer may see, bodies opened, by Seq.
	List(ctx context.Context, f hub.Filter) ([]*hub.Object, error)
}

// BuildStats says what Build did.
type BuildStats struct {
	Objects  int           // objects indexed
	Skipped  int           // objects whose body could not be indexed (not STIX JSON)
	Duration time.Duration // wall time, reading and opening included
}

// Rate returns the objects indexed per second.
func (s BuildStats) Rate() float64 {
	if s.Duration <= 0 {
		return 0
	}
	return float64(s.Objects) / s.Duration.Seconds()
}

// buildPage is how many objects Build asks the store for at a time: large enough to amortise
// a query, small enough that the opened bodies of one page stay a few megabytes.
const buildPage = 1000

// Build returns a new Index holding the latest version of every object of src, read as the
// hub itself (a System viewer) in pages of 1,000. Objects whose bodies do not parse are
// skipped and counted. It stops with ctx.
func Build(ctx context.Context, src Source) (*Index, BuildStats, error) {
	x := New()
	st, err := x.load(ctx, src)
	if err != nil {
		return nil, st, err
	}
	return x, st, nil
}

// load adds every object of src to x, as Build says.
func (x *Index) load(ctx context.Context, src Source) (BuildStats, error) {
	start := time.Now()
	var st BuildStats
	var after int64
	for {
		objs, err := src.List(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, AfterSeq: after, Limit: buildPage})
		if err != nil {
			return st, fmt.Errorf("search: build: %w", err)
		}
		for _, o := range objs {
			if err := x.Add(o); err != nil {
				if hub.ErrorCode(err) != hub.EInvalid {
					return st, fmt.Errorf("search: build: %w", err)
				}
				st.Skipped++
				continue
			}
			st.Objects++
		}
		if len(objs) == 0 {
			break // not len < buildPage: a store may cap pages below what was asked
		}
		after = objs[len(objs)-1].Seq
		if err := ctx.Err(); err != nil {
			return st, err
		}
	}
	st.Duration = time.Since(start)
	return st, nil
}
