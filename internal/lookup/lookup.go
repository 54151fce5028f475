// Package lookup answers a CERT's first question to the hub — "have we or our allies seen
// this?" — for one value or millions. It keeps package match's index of every indicator current
// from the store and the bus, and filters every hit through the access rule before anyone sees
// it: the index itself knows nothing of who may see what.
package lookup

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"cshub/internal/access"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/match"
	"cshub/internal/snapshot"
	"cshub/internal/stix/pattern"
	"cshub/internal/warninglist"
)

// indicator is what the service keeps per indexed indicator version: what a hit reports and
// what the access rule needs, never the rest of the object.
type indicator struct {
	id, workspace, author, name string
	tlp                         hub.TLP
	recipients                  []string
	confidence                  int
	removed                     bool
	until                       int64  // valid_until in Unix nanoseconds; 0 for none
	pattern                     string // as stored, for the snapshot
	// pat is kept only when an index hit does not settle a match (the pattern is not
	// FullyServed), for MatchObserved to evaluate; most indicators are one comparison and
	// keep nothing.
	pat *pattern.Pattern
}

// Service is the lookup service. It is safe for concurrent use.
type Service struct {
	kb    *kb.Service
	idx   *match.Index
	lists *warninglist.Set
	log   *slog.Logger

	mu     sync.RWMutex
	refs   []indicator          // by match.Ref; guarded by mu
	latest map[string]match.Ref // workspace+"\x00"+id → ref of its indexed version; guarded by mu
	// scan holds the indicators no index entry can find (a match may need no indexed
	// constant, as in [process:name = 'x']): MatchObserved evaluates them on every
	// observation. Guarded by mu.
	scan map[match.Ref]bool
}

// New returns an empty Service; Load fills it and Follow keeps it current.
func New(k *kb.Service, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{kb: k, idx: match.New(time.Now), lists: warninglist.Default(), log: log, latest: map[string]match.Ref{}, scan: map[match.Ref]bool{}}
}

var system = hub.Viewer{System: true}

// Load indexes every indicator in the store, in pages, and returns how many it indexed.
func (s *Service) Load(ctx context.Context) (int, error) {
	f := hub.Filter{Viewer: system, Types: []string{"indicator"}, Limit: 1000}
	n := 0
	for {
		objs, err := s.kb.List(ctx, f)
		if err != nil {
			return n, err
		}
		for _, o := range objs {
			if s.add(o) {
				n++
			}
		}
		if len(objs) < f.Limit {
			return n, nil
		}
		f.AfterSeq = objs[len(objs)-1].Seq
	}
}

// Start indexes every stored indicator and then keeps the index current from b until ctx ends:
// new indicators and new versions are indexed, revoked ones withdrawn. It subscribes before it
// loads, so that nothing stored in between is missed (an indicator seen twice is indexed once).
// b may be nil for a one-shot lookup (the CLI). Serve uses StartSaved instead, to restart from
// a snapshot.
func (s *Service) Start(ctx context.Context, b hub.Bus) (int, error) {
	if b == nil {
		return s.Load(ctx)
	}
	f, err := s.StartSaved(ctx, snapshot.Config{Bus: b})
	if err != nil {
		return 0, err
	}
	return f.Objects, nil
}

// snapshotFormat versions the encoding of Sections; a snapshot of another version is refused
// and the index rebuilt.
const snapshotFormat = 1

// StartSaved is Start that saves the index in c.Path and, on the next start, resumes from
// there (see package snapshot). c.Bus, c.Path, c.Sealer and c.Every are the caller's; the rest
// is filled in here.
func (s *Service) StartSaved(ctx context.Context, c snapshot.Config) (*snapshot.Follower, error) {
	c.Index, c.Format, c.KB, c.Log = "lookup", snapshotFormat, s.kb, s.log
	return snapshot.Start(ctx, c, (*saved)(s))
}

// Remove withdraws the indicator (workspace, id), whose every version was deleted.
func (s *Service) Remove(workspace, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(workspace + "\x00" + id)
}

// removeLocked withdraws the indexed version of key, if any. s.mu is held.
func (s *Service) removeLocked(key string) {
	if old, ok := s.latest[key]; ok {
		s.idx.Remove(old)
		s.refs[old].removed, s.refs[old].pat = true, nil
		delete(s.latest, key)
		delete(s.scan, old)
	}
}

// add indexes one indicator version, replacing the version indexed before for the same
// (workspace, id). It reports whether the indicator is now indexed.
func (s *Service) add(o *hub.Object) bool {
	var body struct {
		Name        string    `json:"name"`
		Pattern     string    `json:"pattern"`
		PatternType string    `json:"pattern_type"`
		ValidUntil  time.Time `json:"valid_until"`
		Revoked     bool      `json:"revoked"`
		Confidence  int       `json:"confidence"`
	}
	if err := json.Unmarshal(o.Body, &body); err != nil {
		s.log.Warn("lookup: unreadable indicator", "id", o.ID, "err", err)
		return false
	}
	if body.Revoked || o.Revoked || body.PatternType != "stix" {
		s.Remove(o.Workspace, o.ID)
		return false
	}
	ind := indicator{id: o.ID, workspace: o.Workspace, author: o.Author, name: body.Name,
		tlp: o.TLP, recipients: o.Recipients, confidence: body.Confidence, pattern: body.Pattern}
	if !body.ValidUntil.IsZero() {
		ind.until = body.ValidUntil.UnixNano()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addLocked(ind)
}

// addLocked indexes ind, replacing the version indexed before for the same (workspace, id),
// and reports whether it is now indexed. s.mu is held.
func (s *Service) addLocked(ind indicator) bool {
	s.removeLocked(ind.workspace + "\x00" + ind.id)
	p, err := pattern.Parse(ind.pattern)
	if err != nil {
		return false // validated at ingest; a pattern this parser refuses is not indexable
	}
	entries := p.Entries()
	indexable := p.Indexable()
	if len(entries) == 0 && indexable {
		return false
	}
	ref := match.Ref(len(s.refs))
	if !p.FullyServed() {
		ind.pat = p
	}
	s.refs = append(s.refs, ind)
	added := false
	for _, e := range entries {
		if err := s.idx.Add(ref, e); err == nil {
			added = true
		}
	}
	if !indexable {
		s.scan[ref] = true
		added = true
	}
	if ind.until != 0 {
		s.idx.SetValidUntil(ref, time.Unix(0, ind.until))
	}
	if added {
		s.latest[ind.workspace+"\x00"+ind.id] = ref
	}
	return added
}

// Match is one indicator a value hit, as the caller may see it.
type Match struct {
	ID         string `json:"id"`
	Name       string `json:"name,omitempty"`
	Workspace  string `json:"workspace"`
	TLP        string `json:"tlp"`
	Author     string `json:"author"`
	Confidence int    `json:"confidence,omitempty"`
	How        string `json:"how"`     // exact, cidr, parent-domain, prefix, suffix
	Matched    string `json:"matched"` // the indicator value that matched
}

// Result is what one looked-up value hit.
type Result struct {
	Value   string  `json:"value"`
	Matches []Match `json:"matches"`
	// Warninglists names the MISP warninglists that hold a value with matches: a hit on a
	// public resolver or a popular site is probably a false positive, and the analyst should
	// see that before acting on it.
	Warninglists []string `json:"warninglists,omitempty"`
}

// Lookup looks up values and returns, per value in order, the indicators v may see that match
// it. A value that hits only what v may not see is reported exactly like a miss.
func (s *Service) Lookup(v hub.Viewer, values []string) []Result {
	qs := make([]match.Query, len(values))
	out := make([]Result, len(values))
	for i, val := range values {
		qs[i] = match.Query{Value: val}
		out[i] = Result{Value: val, Matches: []Match{}}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.idx.LookupBatch(qs, func(i int, h match.Hit) {
		ind := &s.refs[h.Ref]
		o := hub.Object{Workspace: ind.workspace, Author: ind.author, TLP: ind.tlp, Recipients: ind.recipients}
		if ind.removed || !access.Visible(v, &o) {
			return
		}
		out[i].Matches = append(out[i].Matches, Match{ID: ind.id, Name: ind.name, Workspace: ind.workspace,
			TLP: ind.tlp.String(), Author: ind.author, Confidence: ind.confidence, How: h.How, Matched: h.Matched})
	})
	for i := range out {
		if len(out[i].Matches) > 0 {
			out[i].Warninglists = s.lists.Lookup("", out[i].Value)
		}
	}
	return out
}
