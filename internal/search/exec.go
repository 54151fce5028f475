package search

import (
	"container/heap"
	"context"
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"math"
	"math/bits"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"cshub/internal/hub"
)

// bm25K1 is the BM25 saturation: the usual value.
const bm25K1 = 1.2

// fieldB is the BM25 length normalisation per field. Aliases normalise little: an intrusion
// set with fifteen aliases is no less the "Fancy Bear" than one with two.
var fieldB = [nFields]float64{fName: 0.5, fAlias: 0.2, fValue: 0.5, fText: 0.75}

// Ranking adjustments beyond BM25F.
const (
	staleScale = 0.5 // the object is revoked or deprecated
)

// Page sizes.
const (
	DefaultLimit = 20   // results per page when the caller gives no limit
	MaxLimit     = 1000 // the largest page Search returns
)

// maxExpansion bounds how many dictionary terms one prefix stands for; beyond
// maxScoredExpansion postings a prefix matches at a constant score (see expand).
const (
	maxExpansion       = 4096
	maxScoredExpansion = 20000
)

// Highlight marks. A highlight is plain text in which each matched span is enclosed in
// MarkStart … MarkEnd. Any « or » of the object's own text is replaced by ‹ or › in
// highlights, so the marks are unambiguous: an HTML page escapes the whole string and then
// replaces MarkStart and MarkEnd with <mark> and </mark>.
const (
	MarkStart = "«"
	MarkEnd   = "»"
)

// Hit is one search result: which object, how well it matched and where.
type Hit struct {
	Seq        int64 // the version's Seq: fetch the body with it
	ID         string
	Workspace  string
	Type       string
	Score      float64
	Highlights []string // snippets with the matched words marked (see MarkStart)
}

// Result is one page of a search.
type Result struct {
	Hits []Hit
	// Next is the opaque cursor of the following page, "" on the last page.
	Next string
	// Total is how many objects the viewer may see match the query, over all pages. Objects
	// the viewer may not see are never counted.
	Total int
}

// Search runs the query q (see ParseQuery) for viewer v and returns one page of at most limit
// hits (DefaultLimit when limit is 0), best first: by score, then newest Seq. A query without
// words (filters only) ranks newest first. cursor is "" for the first page, else the Next of
// the previous page of the same query; scores move a little as the index changes, so paging
// while objects arrive may repeat or skip a hit near a page boundary. Only objects v may see
// under the store rule (access.Visible) are matched, ranked, counted or paged. Bad syntax is a
// *hub.Error naming field "q"; a bad limit or cursor names "limit" or "cursor".
func (x *Index) Search(ctx context.Context, v hub.Viewer, q string, limit int, cursor string) (*Result, error) {
	query, err := ParseQuery(q)
	if err != nil {
		return nil, err
	}
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit < 0 || limit > MaxLimit:
		return nil, hub.FieldError("limit", "must be between 1 and %d", MaxLimit)
	}
	var after *rank
	if cursor != "" {
		r, err := decodeCursor(cursor, q)
		if err != nil {
			return nil, err
		}
		after = &r
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.run(ctx, v, &query, limit, after, q)
}

// rank orders hits: higher score first, then higher Seq.
type rank struct {
	score float64
	seq   int64
}

// before reports whether a ranks before b.
func (a rank) before(b rank) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.seq > b.seq
}

func encodeCursor(r rank, q string) string {
	var b [21]byte
	b[0] = 1
	binary.BigEndian.PutUint64(b[1:], math.Float64bits(r.score))
	binary.BigEndian.PutUint64(b[9:], uint64(r.seq))
	binary.BigEndian.PutUint32(b[17:], queryHash(q))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodeCursor(s, q string) (rank, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 21 || b[0] != 1 {
		return rank{}, hub.FieldError("cursor", "not a search cursor")
	}
	if binary.BigEndian.Uint32(b[17:]) != queryHash(q) {
		return rank{}, hub.FieldError("cursor", "the cursor belongs to another query")
	}
	r := rank{score: math.Float64frombits(binary.BigEndian.Uint64(b[1:])), seq: int64(binary.BigEndian.Uint64(b[9:]))}
	if math.IsNaN(r.score) {
		return rank{}, hub.FieldError("cursor", "not a search cursor")
	}
	return r, nil
}

func queryHash(q string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(q))
	return h.Sum32()
}

// leg walks one postings list forward during a search.
type leg struct {
	p   *postings
	i   int     // current index in p.docs
	idf float64 // 0: matches but does not score
}

// seek moves l to the first posting at or after doc n and reports whether it is n. Candidates
// come in increasing order, so legs only move forward; galloping keeps long skips cheap.
func (l *leg) seek(n uint32) bool {
	docs := l.p.docs
	if l.i >= len(docs) {
		return false
	}
	if docs[l.i] < n {
		step := 1
		hi := l.i + step
		for hi < len(docs) && docs[hi] < n {
			l.i = hi
			step *= 2
			hi = l.i + step
		}
		hi = min(hi, len(docs))
		l.i += sortSearch(docs[l.i:hi], n)
	}
	return l.i < len(docs) && docs[l.i] == n
}

func sortSearch(s []uint32, n uint32) int {
	lo, hi := 0, len(s)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s[m] < n {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// positions returns the positions of the current posting.
func (l *leg) positions() []uint32 {
	start := uint32(0)
	if l.i > 0 {
		start = l.p.posEnd[l.i-1]
	}
	return l.p.pos[start:l.p.posEnd[l.i]]
}

// cond is one condition on a candidate: all legs hold it, in consecutive positions if phrase.
type cond struct {
	legs   []*leg
	phrase bool
	not    bool
}

// has reports whether every leg of c holds document n, leaving the legs on it.
func (c *cond) has(n uint32) bool {
	for _, l := range c.legs {
		if !l.seek(n) {
			return false
		}
	}
	return true
}

// inOrder reports whether the words of phrase c, whose legs stand on one document, occur
// there one after the other.
func (c *cond) inOrder() bool {
	// Each position of the first word starts a candidate run; the others must follow it.
	// Positions are sorted, so one forward cursor per word suffices.
	var curBuf [8]int
	var posBuf [8][]uint32
	at, ps := curBuf[:0], posBuf[:0]
	if len(c.legs) <= len(curBuf) {
		at, ps = curBuf[:len(c.legs)], posBuf[:len(c.legs)]
	} else {
		at, ps = make([]int, len(c.legs)), make([][]uint32, len(c.legs))
	}
	for k, l := range c.legs {
		ps[k] = l.positions()
	}
next:
	for _, p0 := range ps[0] {
		for k := 1; k < len(ps); k++ {
			want := p0 + uint32(k)
			for at[k] < len(ps[k]) && ps[k][at[k]] < want {
				at[k]++
			}
			if at[k] == len(ps[k]) {
				return false
			}
			if ps[k][at[k]] != want {
				continue next
			}
		}
		return true
	}
	return false
}

var empty = &postings{}

// idf is the BM25 inverse document frequency of a term found in df documents.
func (x *Index) idf(df int) float64 {
	return math.Log(1 + (float64(max(x.live-df, 0))+0.5)/(float64(df)+0.5))
}

// expand returns the postings of every term that starts with prefix, merged into one list
// whose field frequencies are the sums; the caller holds mu.
func (x *Index) expand(prefix string) *postings {
	var lists []*postings
	i, _ := slices.BinarySearch(x.sorted, prefix)
	for ; i < len(x.sorted) && strings.HasPrefix(x.sorted[i], prefix) && len(lists) < maxExpansion; i++ {
		lists = append(lists, x.get(x.sorted[i]))
	}
	for _, t := range x.pending {
		if strings.HasPrefix(t, prefix) && len(lists) < maxExpansion {
			lists = append(lists, x.get(t))
		}
	}
	switch len(lists) {
	case 0:
		return empty
	case 1:
		return lists[0]
	}
	total := 0
	for _, p := range lists {
		total += len(p.docs)
	}
	out := &postings{}
	if total > maxScoredExpansion {
		// Many words (a short prefix): match their union at a constant score, as a filter,
		// from a bitset over the documents rather than by merging field frequencies.
		out.docs = x.bitsetUnion(lists, total)
		return out
	}
	pairs := make([]uint64, 0, total)
	for _, p := range lists {
		for j, n := range p.docs {
			pairs = append(pairs, uint64(n)<<32|uint64(p.tfs[j]))
		}
	}
	slices.Sort(pairs)
	for _, pr := range pairs {
		n, tf := uint32(pr>>32), uint32(pr)
		if k := len(out.docs) - 1; k >= 0 && out.docs[k] == n {
			out.tfs[k] = addTF(out.tfs[k], tf)
			continue
		}
		out.docs = append(out.docs, n)
		out.tfs = append(out.tfs, tf)
	}
	return out
}

// addTF adds packed field frequencies, saturating each byte.
func addTF(a, b uint32) uint32 {
	var out uint32
	for f := range nFields {
		s := 8 * f
		out |= min((a>>s)&0xff+(b>>s)&0xff, 0xff) << s
	}
	return out
}

// union returns the documents of any of keys, for filters whose values are alternatives.
func (x *Index) union(prefix string, keys []string) *postings {
	var lists []*postings
	total := 0
	for _, k := range keys {
		if p := x.get(prefix + k); p != nil && len(p.docs) > 0 {
			lists = append(lists, p)
			total += len(p.docs)
		}
	}
	switch len(lists) {
	case 0:
		return empty
	case 1:
		return &postings{docs: lists[0].docs}
	}
	if total > maxScoredExpansion {
		return &postings{docs: x.bitsetUnion(lists, total)}
	}
	docs := make([]uint32, 0, total)
	for _, p := range lists {
		docs = append(docs, p.docs...)
	}
	slices.Sort(docs)
	return &postings{docs: slices.Compact(docs)}
}

// bitsetUnion returns the sorted union of the documents of lists through a bitset over all
// documents: linear in the postings, whatever their overlap.
func (x *Index) bitsetUnion(lists []*postings, total int) []uint32 {
	set := make([]uint64, (len(x.docs)+63)/64)
	for _, p := range lists {
		for _, n := range p.docs {
			set[n/64] |= 1 << (n % 64)
		}
	}
	docs := make([]uint32, 0, total)
	for i, w := range set {
		for w != 0 {
			docs = append(docs, uint32(i*64+bits.TrailingZeros64(w)))
			w &= w - 1
		}
	}
	return docs
}

// set returns a membership table over interned names; names never interned match nothing.
func (x *Index) set(names []string, fold func(string) string) []bool {
	if len(names) == 0 {
		return nil
	}
	s := make([]bool, len(x.names))
	for i, n := range x.names {
		if slices.Contains(names, fold(n)) {
			s[i] = true
		}
	}
	return s
}

// run executes q; the caller holds mu for reading.
func (x *Index) run(ctx context.Context, v hub.Viewer, q *Query, limit int, after *rank, qtext string) (*Result, error) {
	vis := x.viewFilter(v)
	var conds []*cond
	var scoring []*leg
	var exactWords []string
	for _, c := range q.Clauses {
		cd := &cond{not: c.Not}
		switch {
		case c.Kind == Prefix:
			cd.legs = []*leg{{p: x.expand(c.Tokens[0])}}
		default:
			// A compound ("192.0.2.55") is found as the phrase of its parts, so that it is
			// found inside a longer compound (a URL) too; standing alone it also scores as
			// the whole token below.
			for _, t := range c.Tokens {
				cd.legs = append(cd.legs, &leg{p: x.lookup(t)})
			}
			cd.phrase = len(cd.legs) > 1
		}
		if !c.Not {
			for _, l := range cd.legs {
				l.idf = x.idf(len(l.p.docs))
				scoring = append(scoring, l)
			}
			if c.Kind != Prefix {
				exactWords = append(exactWords, c.Tokens...)
			}
			if c.Whole != "" {
				if p := x.get(c.Whole); p != nil {
					scoring = append(scoring, &leg{p: p, idf: x.idf(len(p.docs))})
				}
			}
		}
		conds = append(conds, cd)
	}
	if len(q.Labels) > 0 {
		conds = append(conds, &cond{legs: []*leg{{p: x.union(keyLabel, q.Labels)}}})
	}
	if len(q.Phases) > 0 {
		conds = append(conds, &cond{legs: []*leg{{p: x.union(keyPhase, q.Phases)}}})
	}
	var exact *leg
	var exactBonus float64
	if len(exactWords) > 0 && len(exactWords) == countTokens(q) {
		if p := x.get(keyExact + strings.Join(exactWords, " ")); p != nil {
			exact = &leg{p: p}
			for _, l := range scoring {
				exactBonus += l.idf * (bm25K1 + 1)
			}
		}
	}

	types := x.set(q.Types, strings.ToLower)
	wss := x.set(q.Workspaces, func(s string) string { return s })
	authors := x.set(q.Authors, strings.ToLower)
	var tlps [hub.TLPRed + 1]bool
	for _, t := range q.TLPs {
		tlps[t] = true
	}
	var fromNS, untilNS int64 // 0: open
	if from, until := q.window(x.now()); !from.IsZero() || !until.IsZero() {
		fromNS, untilNS = unixNano(from), unixNano(until)
		if !from.IsZero() && fromNS == 0 {
			fromNS = 1 // the epoch itself is a bound, not "open"
		}
	}
	var avg [nFields]float64
	for f := range nFields {
		// The average over documents that have the field: most objects have no aliases,
		// and counting them would make every alias list look long.
		avg[f] = max(1, float64(x.lenSum[f])/float64(max(x.withField[f], 1)))
	}

	// The driver is the positive condition with the shortest list; without one, every document.
	var driver *leg
	for _, c := range conds {
		if c.not {
			continue
		}
		for _, l := range c.legs {
			if driver == nil || len(l.p.docs) < len(driver.p.docs) {
				driver = l
			}
		}
	}
	// A metadata filter's list may be shorter still; the filter itself is checked per
	// document below, so its list only chooses the candidates.
	for _, f := range []struct {
		key  string
		vals []string
	}{{keyType, q.Types}, {keyAuthor, q.Authors}, {keyWS, q.Workspaces}, {keyTLP, tlpNames(q.TLPs)}} {
		if len(f.vals) == 0 {
			continue
		}
		if l := (&leg{p: x.union(f.key, f.vals)}); driver == nil || len(l.p.docs) < len(driver.p.docs) {
			driver = l
		}
	}
	n := len(x.docs)
	if driver != nil {
		n = len(driver.p.docs)
	}

	res := &Result{}
	top := &hitHeap{}
	behind := 0 // visible matches that rank after the cursor
	for k := range n {
		if k&0xffff == 0xffff {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		dn := uint32(k)
		if driver != nil {
			dn = driver.p.docs[k]
		}
		// Postings first: they are read in order, while a doc is a jump in memory, and for
		// several common words most candidates fail here.
		ok := true
		for _, c := range conds {
			if !c.not && !c.has(dn) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		d := &x.docs[dn]
		if d.dead || !vis.sees(d) {
			continue
		}
		if (types != nil && !types[d.typ]) || (wss != nil && !wss[d.workspace]) ||
			(authors != nil && !authors[d.author]) || (len(q.TLPs) > 0 && !tlps[d.tlp]) ||
			(fromNS != 0 && (d.modified == 0 || d.modified < fromNS)) ||
			(untilNS != 0 && (d.modified == 0 || d.modified >= untilNS)) {
			continue
		}
		for _, c := range conds {
			if c.not {
				if c.has(dn) && (!c.phrase || c.inOrder()) {
					ok = false
					break
				}
			} else if c.phrase && !c.inOrder() {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		score := 0.0
		for _, l := range scoring {
			if !l.seek(dn) {
				continue // an optional leg (a whole compound) the document lacks
			}
			if l.p.tfs == nil {
				score += l.idf // a constant-score prefix
				continue
			}
			tfs := l.p.tfs[l.i]
			var w float64
			for f := range nFields {
				if tf := (tfs >> (8 * f)) & 0xff; tf != 0 {
					w += fieldWeight[f] * float64(tf) / (1 - fieldB[f] + fieldB[f]*float64(d.lens[f])/avg[f])
				}
			}
			score += l.idf * w * (bm25K1 + 1) / (w + bm25K1)
		}
		if exact != nil && exact.seek(dn) {
			// The query is the object's name or one of its aliases: the object itself ranks
			// above anything that only mentions it. exactBonus exceeds any BM25 sum.
			score += exactBonus
		}
		if d.stale {
			score *= staleScale
		}
		res.Total++
		r := rank{score: score, seq: d.seq}
		if after != nil && !after.before(r) {
			continue
		}
		behind++
		if top.Len() < limit {
			heap.Push(top, scored{r, dn})
		} else if r.before((*top)[0].rank) {
			(*top)[0] = scored{r, dn}
			heap.Fix(top, 0)
		}
	}
	page := make([]scored, top.Len())
	for i := len(page) - 1; i >= 0; i-- {
		page[i] = heap.Pop(top).(scored)
	}
	marks := highlightTerms(q)
	for _, s := range page {
		d := &x.docs[s.doc]
		res.Hits = append(res.Hits, Hit{Seq: d.seq, ID: x.ids[s.doc], Workspace: x.names[d.workspace],
			Type: x.names[d.typ], Score: s.score, Highlights: highlights(x.texts[s.doc], marks)})
	}
	if behind > limit {
		res.Next = encodeCursor(page[len(page)-1].rank, qtext)
	}
	return res, nil
}

func tlpNames(ts []hub.TLP) []string {
	var s []string
	for _, t := range ts {
		s = append(s, t.String())
	}
	return s
}

// countTokens counts the words of q's positive term and phrase clauses, so that the exact
// boost applies only when they are the whole query.
func countTokens(q *Query) int {
	n := 0
	for _, c := range q.Clauses {
		if c.Not || c.Kind == Prefix {
			return -1
		}
		n += len(c.Tokens)
	}
	return n
}

func (x *Index) lookup(t string) *postings {
	if p := x.get(t); p != nil {
		return p
	}
	return empty
}

// viewFilter is the store rule of package access, compiled for one viewer against the
// interned names: exactly access.Visible on each document's metadata (proved by
// TestViewFilterIsVisible).
type viewFilter struct {
	system   bool
	ws       []bool // by interned name
	org      uint16
	orgKnown bool       // the viewer's organisation is interned and not ""
	rcpts    [][]uint16 // the index's recipient lists
}

func (x *Index) viewFilter(v hub.Viewer) viewFilter {
	f := viewFilter{system: v.System, ws: make([]bool, len(x.names)), rcpts: x.rcpts}
	for _, w := range v.Workspaces {
		if n, ok := x.nameIDs[w]; ok {
			f.ws[n] = true
		}
	}
	if v.Org != "" {
		f.org, f.orgKnown = x.nameIDs[v.Org]
	}
	return f
}

func (f *viewFilter) sees(d *doc) bool {
	if f.system {
		return true
	}
	if !f.ws[d.workspace] {
		return false
	}
	if d.tlp != hub.TLPRed {
		return true
	}
	return f.orgKnown && (d.author == f.org || slices.Contains(f.rcpts[d.rcpt], f.org))
}

type scored struct {
	rank
	doc uint32
}

// hitHeap is a min-heap by rank: its root is the worst hit kept so far.
type hitHeap []scored

func (h hitHeap) Len() int           { return len(h) }
func (h hitHeap) Less(i, j int) bool { return h[j].rank.before(h[i].rank) }
func (h hitHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *hitHeap) Push(v any)        { *h = append(*h, v.(scored)) }
func (h *hitHeap) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}

// marker says which folded tokens a highlight marks: single words and prefixes wherever they
// occur, the words of a phrase (or of a compound such as a domain) only in sequence.
type marker struct {
	words    map[string]bool
	prefixes []string
	phrases  [][]string
}

func highlightTerms(q *Query) marker {
	m := marker{words: make(map[string]bool)}
	for _, c := range q.Clauses {
		switch {
		case c.Not:
		case c.Kind == Prefix:
			m.prefixes = append(m.prefixes, c.Tokens[0])
		case len(c.Tokens) == 1:
			m.words[c.Tokens[0]] = true
		default:
			m.phrases = append(m.phrases, c.Tokens)
			if c.Whole != "" {
				m.words[c.Whole] = true
			}
		}
	}
	return m
}

func (m marker) empty() bool { return len(m.words) == 0 && len(m.prefixes) == 0 && len(m.phrases) == 0 }

func (m marker) match(t string) bool {
	if m.words[t] {
		return true
	}
	for _, p := range m.prefixes {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

// spans returns the byte ranges of value that m marks, in order, merged where they touch.
func (m marker) spans(value string) [][2]int {
	var spans [][2]int
	var parts []token
	tokenize(value, 0, func(t token) {
		if !t.compound {
			parts = append(parts, t)
		}
		if m.match(t.text) {
			spans = append(spans, [2]int{t.start, t.end})
		}
	})
	for _, ph := range m.phrases {
		for i := 0; i+len(ph) <= len(parts); i++ {
			ok := true
			for k, w := range ph {
				if parts[i+k].text != w {
					ok = false
					break
				}
			}
			if ok {
				spans = append(spans, [2]int{parts[i].start, parts[i+len(ph)-1].end})
			}
		}
	}
	if len(spans) == 0 {
		return nil
	}
	slices.SortFunc(spans, func(a, b [2]int) int {
		if a[0] != b[0] {
			return a[0] - b[0]
		}
		return b[1] - a[1]
	})
	out := spans[:1]
	for _, s := range spans[1:] {
		last := &out[len(out)-1]
		if s[0] <= last[1] || joins(value[last[1]:s[0]]) {
			// Overlapping, contained, or "Fancy Bear" and "192.0.2.55" inside a URL: one mark.
			last[1] = max(last[1], s[1])
			continue
		}
		out = append(out, s)
	}
	return out
}

// Snippet sizes, in bytes of the object's text.
const (
	maxHighlights = 3
	snippetBefore = 60
	snippetLen    = 200
)

// highlights returns up to maxHighlights snippets of text (fields separated by sepField,
// values by sepValue) around the words m marks, names and aliases first.
func highlights(text string, m marker) []string {
	if m.empty() {
		return nil
	}
	var out []string
	for field := range strings.SplitSeq(text, sepField) {
		for value := range strings.SplitSeq(field, sepValue) {
			if len(out) == maxHighlights {
				return out
			}
			if spans := m.spans(value); len(spans) > 0 {
				out = append(out, snippet(value, spans))
			}
		}
	}
	return out
}

// snippet cuts a window of value around its first span and marks the spans inside it.
func snippet(value string, spans [][2]int) string {
	from, to := 0, len(value)
	if len(value) > snippetLen {
		from = max(0, spans[0][0]-snippetBefore)
		if i := strings.IndexByte(value[from:spans[0][0]], ' '); from > 0 && i >= 0 {
			from += i + 1 // start on a word
		}
		to = min(len(value), from+snippetLen)
		to = max(to, spans[0][1])
		if i := strings.LastIndexByte(value[spans[0][1]:to], ' '); to < len(value) && i >= 0 {
			to = spans[0][1] + i
		}
		for from > 0 && !utf8.RuneStart(value[from]) {
			from--
		}
		for to < len(value) && !utf8.RuneStart(value[to]) {
			to++
		}
	}
	var b strings.Builder
	if from > 0 {
		b.WriteString("…")
	}
	at := from
	for _, s := range spans {
		if s[0] < from || s[1] > to {
			continue
		}
		writeClean(&b, value[at:s[0]])
		b.WriteString(MarkStart)
		writeClean(&b, value[s[0]:s[1]])
		b.WriteString(MarkEnd)
		at = s[1]
	}
	writeClean(&b, value[at:to])
	if to < len(value) {
		b.WriteString("…")
	}
	return b.String()
}

// writeClean writes s with the mark characters replaced and control characters as spaces.
func writeClean(b *strings.Builder, s string) {
	for _, r := range s {
		switch {
		case r == '«':
			r = '‹'
		case r == '»':
			r = '›'
		case unicode.IsControl(r):
			r = ' '
		}
		b.WriteRune(r)
	}
}

// joins reports whether the text between two marked words lets them be marked as one: only
// spaces ("Fancy Bear"), or one joiner ("192.0.2.55" inside a URL).
func joins(gap string) bool {
	if strings.TrimSpace(gap) == "" {
		return true
	}
	r, n := utf8.DecodeRuneInString(gap)
	return n == len(gap) && isJoiner(r)
}
