// Package kb is the hub's knowledge base: the one place where objects enter and leave the store.
// It validates what members submit, applies the workspace's marking rules, seals bodies before
// they reach the store, opens them on the way out, and tells the bus what changed. Every read
// takes a hub.Viewer built by package access, and the store filters by it inside its queries.
package kb

import (
	"context"
	"log/slog"
	"time"

	"cshub/internal/audit"
	"cshub/internal/hub"
	"cshub/internal/seal"
)

// Service is the knowledge base. It is safe for concurrent use.
type Service struct {
	store  hub.Store
	sealer seal.Sealer
	bus    hub.Bus
	audit  Recorder
	log    *slog.Logger
	now    func() time.Time
}

// Recorder is where the service records what it did for the audit log; *audit.Log is one.
type Recorder interface {
	Record(ctx context.Context, e audit.Entry) (audit.Head, error)
}

// Config holds what a Service is built from. Store and Sealer are required; Bus may be nil when
// nothing listens, Audit when nothing is recorded (benchmarks), Log defaults to a discarding
// logger and Now to time.Now.
type Config struct {
	Store  hub.Store
	Sealer seal.Sealer
	Bus    hub.Bus
	Audit  Recorder
	Log    *slog.Logger
	Now    func() time.Time
}

// New returns a Service.
func New(c Config) *Service {
	s := &Service{store: c.Store, sealer: c.Sealer, bus: c.Bus, audit: c.Audit, log: c.Log, now: c.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Get returns the latest version of id that v may see, or the version modified at the given
// instant when version is not zero, with its body opened.
func (s *Service) Get(ctx context.Context, v hub.Viewer, id string, version time.Time) (*hub.Object, error) {
	o, err := s.store.GetObject(ctx, v, id, version)
	if err != nil {
		return nil, err
	}
	if err := s.open(o); err != nil {
		return nil, err
	}
	return o, nil
}

// List returns the objects selected by f that f.Viewer may see, with bodies opened, ordered by
// Seq. The last object's Seq is the cursor for the next page.
func (s *Service) List(ctx context.Context, f hub.Filter) ([]*hub.Object, error) {
	objs, err := s.store.ListObjects(ctx, f)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if err := s.open(o); err != nil {
			return nil, err
		}
	}
	return objs, nil
}

// record writes an audit entry. The action has happened when record is called, so a failure to
// record is logged loudly rather than undoing it.
func (s *Service) record(ctx context.Context, e audit.Entry) {
	if s.audit == nil {
		return
	}
	if _, err := s.audit.Record(ctx, e); err != nil {
		s.log.Error("audit record failed", "action", e.Action, "target", e.Target, "err", err)
	}
}

// RecordRead writes an audit entry for a read of TLP:RED content by an organisation other than
// its author: the author may want to know who read what was addressed to them.
func (s *Service) RecordRead(ctx context.Context, org, actor string, o *hub.Object) {
	if o.TLP != hub.TLPRed || o.Author == org {
		return
	}
	s.record(ctx, audit.Entry{Org: org, Actor: actor, Action: "read-red", Target: o.ID,
		Details: map[string]any{"workspace": o.Workspace, "author": o.Author, "version": o.Modified}})
}

func (s *Service) open(o *hub.Object) error {
	body, err := s.sealer.Decrypt(seal.ObjectLocation(o), o.Body)
	if err != nil {
		return err
	}
	o.Body = body
	return nil
}

// Follow calls fn, from the calling goroutine, with the object version of each object event on
// events (opened, as the hub sees it) until the subscription ends. In-memory indexes (matching,
// search) follow the store this way: subscribe first, then load what is stored, so that nothing
// is missed in between. An object announced twice is passed twice; callers keep the newest
// version. events is the caller's subscription, so the caller can ask the bus why it ended.
func (s *Service) Follow(ctx context.Context, events <-chan hub.Event, fn func(*hub.Object)) {
	s.FollowChanges(ctx, events, fn, nil)
}

// FollowChanges is Follow that also follows deletions: after a deleted version, fn gets the
// latest version that remains, and gone, when not nil, is called with the workspace and id of
// an object none of whose versions remain.
func (s *Service) FollowChanges(ctx context.Context, events <-chan hub.Event, fn func(*hub.Object), gone func(workspace, id string)) {
	s.FollowEvents(ctx, events, fn, gone, nil)
}

// FollowEvents is FollowChanges that also calls done, when not nil, with every event (of any
// kind) once fn and gone have handled it: a follower that saves its state to resume from
// later learns the Seq its state is current to.
func (s *Service) FollowEvents(ctx context.Context, events <-chan hub.Event, fn func(*hub.Object), gone func(workspace, id string), done func(hub.Event)) {
	for e := range events {
		if e.Kind == hub.EventObject || e.Kind == hub.EventDelete {
			s.apply(ctx, e, fn, gone)
		}
		if done != nil {
			done(e)
		}
	}
}

// apply hands fn the object version e announces, or gone its absence.
func (s *Service) apply(ctx context.Context, e hub.Event, fn func(*hub.Object), gone func(workspace, id string)) {
	objs, err := s.List(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, IDs: []string{e.ObjectID}, Workspaces: []string{e.Workspace}, Limit: 1})
	if err != nil {
		s.log.Error("following the store: loading an announced object", "id", e.ObjectID, "err", err)
		return
	}
	for _, o := range objs {
		fn(o)
	}
	if len(objs) == 0 && e.Kind == hub.EventDelete && gone != nil {
		gone(e.Workspace, e.ObjectID)
	}
}
