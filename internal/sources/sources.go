// Package sources keeps organisations' subscriptions to outside sources and polls them: news
// and policy feeds (RSS or Atom), MISP feeds, and CSV or plain IOC lists, each polled into a
// workspace under a TLP. Requests are conditional (ETag, Last-Modified), items already seen
// are skipped by their content, and every source records its last run, its last error and how
// many items it brought, so that one broken feed is visible and does not stop the others.
//
// Subscriptions are kept in the knowledge base, not beside it: each is a custom STIX object of
// type x-cshub-source in the workspace it feeds, authored by the subscribing organisation and
// marked TLP:RED without recipients, so that only that organisation sees it. It is thereby
// sealed with the workspace's key, stored on either store without a change to hub.Store,
// audited at every change, and gone with its workspace. Each change of its state is a new
// version (only the author may add one, which the poller does on the author's behalf); a
// removed subscription is a revoked version. The poll state (validators, hashes of the items
// seen) travels in the object, so that any replica can take over the polling.
package sources

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"cshub/internal/gather"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/misp"
)

// Type is the STIX type of a subscription object.
const Type = "x-cshub-source"

// Kinds of source.
const (
	KindNews   = "news"   // RSS or Atom: each item a threat report through the free-text pipeline
	KindPolicy = "policy" // RSS or Atom whose items are policy developments (report type policy-development)
	KindMISP   = "misp"   // a MISP feed: manifest.json and one file per event
	KindList   = "list"   // a CSV or plain-text IOC list at one URL
)

var kinds = []string{KindNews, KindPolicy, KindMISP, KindList}

// maxSeen bounds the item hashes a source remembers: a feed shows its recent items, and an item
// that left it more than this many items ago does not come back.
const maxSeen = 2000

// heartbeat is how old a subscription's stored last run may grow before an unchanged poll
// stores a new version anyway: often enough that the status on another replica is current to
// the hour, rarely enough that idle feeds do not pile up versions.
const heartbeat = time.Hour

// Source is a subscription as its organisation sees it.
type Source struct {
	ID        string    `json:"id"`
	Org       string    `json:"org"`
	Workspace string    `json:"workspace"`
	Name      string    `json:"name"`
	URL       string    `json:"url"`
	Kind      string    `json:"kind"`
	TLP       hub.TLP   `json:"tlp,omitzero"` // given to what the source brings; unset: the workspace's default
	Created   time.Time `json:"created"`
	Status    Status    `json:"status"`
}

// Status is how a source's polls went.
type Status struct {
	LastRun     time.Time `json:"last_run,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"` // of the last run; empty when it succeeded
	LastNew     int       `json:"last_new"`             // items new at the last run
	Items       int       `json:"items"`                // items brought since the subscription
}

// state is what a source remembers between polls.
type state struct {
	ETag         string          `json:"etag,omitempty"`
	LastModified string          `json:"last_modified,omitempty"`
	Seen         []string        `json:"seen,omitempty"` // hashes of the items ingested, oldest first
	MISP         *misp.FeedState `json:"misp,omitempty"`
}

// record is the body of a subscription object.
type record struct {
	Type        string  `json:"type"`
	SpecVersion string  `json:"spec_version"`
	ID          string  `json:"id"`
	Created     string  `json:"created"`
	Modified    string  `json:"modified"`
	Revoked     bool    `json:"revoked,omitempty"`
	Name        string  `json:"name"`
	URL         string  `json:"url"`
	Kind        string  `json:"kind"`
	TLP         hub.TLP `json:"tlp,omitzero"`
	Status      Status  `json:"status"`
	State       state   `json:"state"`
}

const stamp = "2006-01-02T15:04:05.000Z"

// Config holds what a Service is built from. KB and Gather are required.
type Config struct {
	KB     *kb.Service
	Gather *gather.Service
	Guard  Guard        // how sources are fetched
	Log    *slog.Logger // nil: discard
	Now    func() time.Time
}

// Service keeps and polls subscriptions. It is safe for concurrent use; polls of one source
// run one at a time in a process (across replicas, schedule.Every runs PollAll on one).
type Service struct {
	kb     *kb.Service
	gather *gather.Service
	guard  Guard
	client *http.Client
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	polling map[string]*sync.Mutex // guarded by mu: one lock per source id
}

// New returns a Service.
func New(c Config) *Service {
	s := &Service{kb: c.KB, gather: c.Gather, guard: c.Guard, client: c.Guard.Client(), log: c.Log, now: c.Now, polling: map[string]*sync.Mutex{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// NewSource is what a subscription is made from.
type NewSource struct {
	Org       string  `json:"-"` // the subscribing organisation; it must be a member of Workspace
	Actor     string  `json:"-"` // who subscribes, for the audit log
	Workspace string  `json:"workspace"`
	Name      string  `json:"name"` // default: the URL's host
	URL       string  `json:"url"`
	Kind      string  `json:"kind"`
	TLP       hub.TLP `json:"tlp"`
}

// Add subscribes n.Org to a source. A URL the guard refuses, an unknown kind, or a workspace
// the organisation is not a member of is EInvalid naming the field. Nothing is fetched yet.
func (s *Service) Add(ctx context.Context, n NewSource) (*Source, error) {
	u, err := s.guard.CheckURL(n.URL)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(kinds, n.Kind) {
		return nil, hub.FieldError("kind", "%q is not a kind of source (%s)", n.Kind, strings.Join(kinds, ", "))
	}
	if n.Workspace == "" {
		return nil, hub.FieldError("workspace", "required: the workspace the source feeds")
	}
	name := strings.TrimSpace(n.Name)
	if name == "" {
		name = u.Host
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	x := hex.EncodeToString(id[:])
	now := s.now().UTC().Format(stamp)
	rec := &record{Type: Type, SpecVersion: "2.1", ID: Type + "--" + x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:],
		Created: now, Modified: now, Name: name, URL: u.String(), Kind: n.Kind, TLP: n.TLP}
	if err := s.put(ctx, n.Org, n.Actor, n.Workspace, rec); err != nil {
		return nil, err
	}
	return rec.source(n.Org, n.Workspace), nil
}

// put stores rec as a new version in ws, authored by org, TLP:RED for org alone.
func (s *Service) put(ctx context.Context, org, actor, ws string, rec *record) error {
	b, err := json.Marshal(struct {
		Type    string    `json:"type"`
		ID      string    `json:"id"`
		Objects []*record `json:"objects"`
	}{"bundle", "bundle--" + rec.ID[len(Type)+2:], []*record{rec}})
	if err != nil {
		return err
	}
	sum, err := s.kb.Ingest(ctx, kb.Submission{Org: org, Actor: actor, Workspace: ws, DefaultTLP: hub.TLPRed}, bytes.NewReader(b))
	if err != nil {
		return err
	}
	if len(sum.Rejected) > 0 {
		return hub.Errorf(hub.EInternal, "sources: subscription %s refused: %s", rec.ID, sum.Rejected[0].Reason)
	}
	return nil
}

func (r *record) source(org, ws string) *Source {
	created, _ := time.Parse(time.RFC3339Nano, r.Created)
	return &Source{ID: r.ID, Org: org, Workspace: ws, Name: r.Name, URL: r.URL, Kind: r.Kind, TLP: r.TLP, Created: created, Status: r.Status}
}

// stored is a subscription as read from the knowledge base.
type stored struct {
	obj *hub.Object
	rec *record
}

// list returns the subscriptions v may see, or the one with id when id is not empty; revoked
// ones are left out.
func (s *Service) list(ctx context.Context, v hub.Viewer, id string) ([]stored, error) {
	f := hub.Filter{Viewer: v, Types: []string{Type}, Limit: 1000}
	if id != "" {
		f.IDs = []string{id}
	}
	var out []stored
	for {
		objs, err := s.kb.List(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			var r record
			if err := json.Unmarshal(o.Body, &r); err != nil {
				s.log.Warn("sources: unreadable subscription", "id", o.ID, "err", err)
				continue
			}
			if !r.Revoked {
				out = append(out, stored{o, &r})
			}
		}
		if len(objs) < f.Limit {
			return out, nil
		}
		f.AfterSeq = objs[len(objs)-1].Seq
	}
}

// List returns the subscriptions v may see (those of v's organisation: others' are TLP:RED to
// them), ordered by name.
func (s *Service) List(ctx context.Context, v hub.Viewer) ([]Source, error) {
	st, err := s.list(ctx, v, "")
	if err != nil {
		return nil, err
	}
	out := make([]Source, len(st))
	for i, x := range st {
		out[i] = *x.rec.source(x.obj.Author, x.obj.Workspace)
	}
	slices.SortFunc(out, func(a, b Source) int { return strings.Compare(a.Name+a.ID, b.Name+b.ID) })
	return out, nil
}

// one returns the subscription id that v may see and org may change: ENotFound otherwise.
func (s *Service) one(ctx context.Context, v hub.Viewer, org, id string) (stored, error) {
	st, err := s.list(ctx, v, id)
	if err != nil {
		return stored{}, err
	}
	for _, x := range st {
		if x.obj.Author == org || v.System {
			return x, nil
		}
	}
	return stored{}, hub.Errorf(hub.ENotFound, "no source %q", id)
}

// Remove ends org's subscription id (v is org's viewer): a revoked version of it is stored, and
// what it brought stays.
func (s *Service) Remove(ctx context.Context, v hub.Viewer, org, actor, id string) error {
	x, err := s.one(ctx, v, org, id)
	if err != nil {
		return err
	}
	rec := *x.rec
	rec.Revoked = true
	rec.Modified = s.next(x.rec)
	return s.put(ctx, x.obj.Author, actor, x.obj.Workspace, &rec)
}

// next returns a modified timestamp for the next version of r: now, or just after r's when the
// clock has not moved on, so that every change is a version of its own.
func (s *Service) next(r *record) string {
	now := s.now().UTC().Truncate(time.Millisecond)
	if prev, err := time.Parse(time.RFC3339Nano, r.Modified); err == nil && !now.After(prev) {
		now = prev.Add(time.Millisecond)
	}
	return now.Format(stamp)
}

// Poll polls org's subscription id now (v is org's viewer) and returns it with its status.
func (s *Service) Poll(ctx context.Context, v hub.Viewer, org, id string) (*Source, error) {
	x, err := s.one(ctx, v, org, id)
	if err != nil {
		return nil, err
	}
	return s.poll(ctx, x)
}

// PollAll polls every subscription of the hub, one after the other; a source that fails has
// its error recorded and the others are polled still. It returns an error only when the
// subscriptions cannot be listed: the job for schedule.Every.
func (s *Service) PollAll(ctx context.Context) error {
	st, err := s.list(ctx, hub.Viewer{System: true}, "")
	if err != nil {
		return err
	}
	for _, x := range st {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, err := s.poll(ctx, x); err != nil {
			s.log.Warn("source poll failed", "source", x.rec.ID, "name", x.rec.Name, "err", err)
		}
	}
	return nil
}

// poll fetches one source, ingests what is new and stores its new state and status. The
// returned error is the run's, also recorded in the status.
func (s *Service) poll(ctx context.Context, x stored) (*Source, error) {
	s.mu.Lock()
	lock, ok := s.polling[x.rec.ID]
	if !ok {
		lock = &sync.Mutex{}
		s.polling[x.rec.ID] = lock
	}
	s.mu.Unlock()
	lock.Lock()
	defer lock.Unlock()
	// Another poll may have stored a newer version while this one waited.
	if fresh, err := s.list(ctx, hub.Viewer{System: true}, x.rec.ID); err == nil {
		if i := slices.IndexFunc(fresh, func(f stored) bool { return f.obj.Workspace == x.obj.Workspace }); i >= 0 {
			x = fresh[i]
		}
	}

	rec := *x.rec
	sub := kb.Submission{Org: x.obj.Author, Actor: "source " + rec.ID, Workspace: x.obj.Workspace, DefaultTLP: rec.TLP}
	var n int
	var err error
	switch rec.Kind {
	case KindNews, KindPolicy:
		n, err = s.pollNews(ctx, &rec, sub)
	case KindMISP:
		n, err = s.pollMISP(ctx, &rec, sub)
	case KindList:
		n, err = s.pollList(ctx, &rec, sub)
	default:
		err = hub.FieldError("kind", "%q is not a kind of source", rec.Kind)
	}
	now := s.now().UTC()
	rec.Status.LastRun, rec.Status.LastNew = now, n
	rec.Status.Items += n
	rec.Status.LastError = ""
	if err != nil {
		rec.Status.LastError = describe(err)
	} else {
		rec.Status.LastSuccess = now
	}
	if changed(x.rec, &rec) {
		rec.Modified = s.next(x.rec)
		if perr := s.put(context.WithoutCancel(ctx), x.obj.Author, sub.Actor, x.obj.Workspace, &rec); perr != nil {
			return nil, fmt.Errorf("sources: storing the state of %s: %w", rec.ID, perr)
		}
	}
	return rec.source(x.obj.Author, x.obj.Workspace), err
}

// changed reports whether a poll's result must be stored: anything but the run times changed,
// or the stored last run is older than heartbeat.
func changed(old, next *record) bool {
	a, b := *old, *next
	if b.Status.LastRun.Sub(a.Status.LastRun) >= heartbeat {
		return true
	}
	a.Status.LastRun, a.Status.LastSuccess = time.Time{}, time.Time{}
	b.Status.LastRun, b.Status.LastSuccess = time.Time{}, time.Time{}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return !bytes.Equal(ja, jb)
}

// describe is an error as a source's status shows it.
func describe(err error) string {
	if m := hub.ErrorMessage(err); m != "internal error" {
		if f := hub.ErrorField(err); f != "" {
			return f + ": " + m
		}
		return m
	}
	return err.Error()
}
