// Package feed serves delta feeds to enforcement points: an organisation defines named feeds
// (an export.Selection each), and a firewall, resolver or sensor polls
// GET /api/v1/feeds/{name}?since=CURSOR: the first call returns the whole current set, later
// ones only what was added, changed or removed since the cursor, with a new cursor. A feed can
// also be fetched whole as a file in any export format, with an ETag.
//
// # Where definitions live
//
// A feed definition is a custom STIX object, x-cshub-feed, stored through package kb in the
// organisation's private workspace and marked TLP:RED with no recipients: it is sealed like
// all content, only its author may read it or add versions (kb's rule), and it reaches both
// stores without a change to hub.Store. Its id is derived from the organisation and the name,
// so that a name is one object; deleting a feed adds a revoked version.
//
// # Cursors
//
// A cursor names a Point of the store's history (export.Catalog replays every version by its
// store Seq and judges validity at the Point's time) together with the version of the feed
// definition and a digest of the workspaces the organisation may read. The delta between two
// Points is computed from the Catalog, not from anything kept per client, so a cursor works on
// every replica and costs nothing to hold. If the definition or the organisation's workspaces
// changed since the cursor, or the cursor is from a future this replica has not loaded, the
// answer is the full set again (Full: true), which the client takes as a reset. Cursors are
// not secret: a forged one only yields another delta between two sets the caller may receive.
//
// The Catalog loads by store Seq, which both stores hand out in commit order (PostgreSQL's
// writers hold the seq row until they commit), so a poll never passes a version still being
// written and misses it.
//
// Feeds are shared with tools, so the access decision is access.PathFeed: never TLP:RED, and
// TLP:AMBER+STRICT only from its author.
package feed

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"cshub/internal/access"
	"cshub/internal/bus"
	"cshub/internal/export"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/stix"
	"cshub/internal/warninglist"
)

// Type is the STIX type of feed definitions.
const Type = "x-cshub-feed"

// Definition is a feed: its name within its organisation and what it carries.
type Definition struct {
	Name      string           `json:"name"`
	Org       string           `json:"org"`
	Selection export.Selection `json:"selection"`
	Created   time.Time        `json:"created"`
	Modified  time.Time        `json:"modified"` // the version; a cursor is tied to it
	Workspace string           `json:"-"`        // where the definition is kept
}

// Config holds what a Service is built from. KB and Dir are required.
type Config struct {
	KB           *kb.Service
	Dir          hub.DirectoryStore
	Warninglists *warninglist.Set // as export.Config
	Log          *slog.Logger
	Now          func() time.Time // nil: time.Now
}

// Service keeps feed definitions and answers polls. It is safe for concurrent use.
type Service struct {
	kb      *kb.Service
	dir     hub.DirectoryStore
	log     *slog.Logger
	now     func() time.Time
	catalog *export.Catalog

	mu sync.Mutex // serialises definition changes, so that versions get increasing times
}

// Start has s follow deletions announced on b (hub.EventDelete), so that the next poll reports
// a deleted indicator as removed; without it a deleted version stays in s's Catalog until the
// Service is made anew. Call it once, before serving.
func (s *Service) Start(ctx context.Context, b hub.Bus) error {
	events, err := b.Subscribe(ctx, 0)
	if err != nil {
		return err
	}
	go func() {
		// The Catalog needs the deleted version's Seq, which the event carries; it reloads
		// nothing, so it reads the events itself rather than through kb.FollowChanges.
		for e := range events {
			if e.Kind == hub.EventDelete {
				s.catalog.Forget(e.Workspace, e.ObjectID, e.ObjectSeq)
			}
		}
		if err := bus.Err(b, events); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Warn("feeds: event stream ended; deletions reach feeds only after a restart", "err", err)
		}
	}()
	return nil
}

// New returns a Service. Its Catalog is loaded on the first poll.
func New(c Config) *Service {
	s := &Service{kb: c.KB, dir: c.Dir, log: c.Log, now: c.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.catalog = export.NewCatalog(export.Config{KB: c.KB, Warninglists: c.Warninglists, KeepBodies: true, Now: s.now})
	return s
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// CheckName returns an EInvalid error on field "name" unless name is 1 to 63 lower-case
// letters, digits, dots, dashes and underscores, starting with a letter or digit: safe in a
// URL path and a file name.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return hub.FieldError("name", "%q: 1 to 63 of a-z 0-9 . _ -, starting with a letter or digit", name)
	}
	return nil
}

func objectID(org, name string) string {
	return Type + "--" + export.NameUUID(Type+"\x00"+org+"\x00"+name)
}

// body is the STIX form of a definition.
type body struct {
	Type        string           `json:"type"`
	SpecVersion string           `json:"spec_version"`
	ID          string           `json:"id"`
	Created     string           `json:"created"`
	Modified    string           `json:"modified"`
	Name        string           `json:"name"`
	Selection   export.Selection `json:"x_cshub_selection"`
	Revoked     bool             `json:"revoked,omitempty"`
	Markings    []string         `json:"object_marking_refs"`
}

const stamp = "2006-01-02T15:04:05.000Z"

// latest returns the newest version of org's definition called name, revoked or not; ENotFound
// if there never was one.
func (s *Service) latest(ctx context.Context, org, name string) (*hub.Object, error) {
	v, err := access.ViewerFor(ctx, s.dir, org, access.PathRead)
	if err != nil {
		return nil, err
	}
	objs, err := s.kb.List(ctx, hub.Filter{Viewer: v, Types: []string{Type}, IDs: []string{objectID(org, name)}, Limit: 10})
	if err != nil {
		return nil, err
	}
	var best *hub.Object
	for _, o := range objs {
		// Only the author may add versions (kb), so a definition is the organisation's own;
		// the check is kept so that no other path could make one appear here.
		if o.Author == org && (best == nil || o.Modified.After(best.Modified)) {
			best = o
		}
	}
	if best == nil {
		return nil, hub.Errorf(hub.ENotFound, "no feed %q", name)
	}
	return best, nil
}

func definition(o *hub.Object) (*Definition, bool, error) {
	var b body
	if err := json.Unmarshal(o.Body, &b); err != nil {
		return nil, false, hub.Errorf(hub.EIntegrity, "feed definition %s: %v", o.ID, err)
	}
	return &Definition{Name: b.Name, Org: o.Author, Selection: b.Selection, Created: o.Created, Modified: o.Modified, Workspace: o.Workspace}, b.Revoked || o.Revoked, nil
}

// Get returns org's feed called name; ENotFound if there is none or it was deleted.
func (s *Service) Get(ctx context.Context, org, name string) (*Definition, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	o, err := s.latest(ctx, org, name)
	if err != nil {
		return nil, err
	}
	d, revoked, err := definition(o)
	if err != nil {
		return nil, err
	}
	if revoked {
		return nil, hub.Errorf(hub.ENotFound, "no feed %q", name)
	}
	return d, nil
}

// List returns org's feeds by name.
func (s *Service) List(ctx context.Context, org string) ([]*Definition, error) {
	v, err := access.ViewerFor(ctx, s.dir, org, access.PathRead)
	if err != nil {
		return nil, err
	}
	f := hub.Filter{Viewer: v, Types: []string{Type}, Limit: 1000}
	out := []*Definition{}
	for {
		objs, err := s.kb.List(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if o.Author != org {
				continue
			}
			d, revoked, err := definition(o)
			if err != nil {
				return nil, err
			}
			if !revoked {
				out = append(out, d)
			}
		}
		if len(objs) < f.Limit {
			break
		}
		f.AfterSeq = objs[len(objs)-1].Seq
	}
	slices.SortFunc(out, func(a, b *Definition) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// privateWorkspace returns the slug of org's own workspace, where its definitions are kept.
func (s *Service) privateWorkspace(ctx context.Context, org string) (string, error) {
	wss, err := s.dir.WorkspacesOf(ctx, org)
	if err != nil {
		return "", err
	}
	for _, w := range wss {
		if w.Kind == hub.WorkspacePrivate && slices.Equal(w.Members, []string{org}) {
			return w.Slug, nil
		}
	}
	return "", hub.Errorf(hub.EConflict, "feeds are kept sealed in the organisation's private workspace, and %s has none: add one (cshub workspace add --kind private --slug %s --members %s)", org, org, org)
}

// Create stores a new feed of org called name; EConflict if org has one by that name.
func (s *Service) Create(ctx context.Context, org, actor, name string, sel export.Selection) (*Definition, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if err := sel.Check(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ws, created, after, err := s.slot(ctx, org, name)
	if err != nil {
		return nil, err
	}
	if err := s.put(ctx, org, actor, ws, body{Name: name, Selection: sel}, created, after); err != nil {
		return nil, err
	}
	return s.Get(ctx, org, name)
}

// slot finds where a new version of name goes: the workspace, its created time and the time
// the new version must come after. It fails with EConflict if a live feed has the name.
func (s *Service) slot(ctx context.Context, org, name string) (ws string, created, after time.Time, err error) {
	o, err := s.latest(ctx, org, name)
	if hub.ErrorCode(err) == hub.ENotFound {
		ws, err = s.privateWorkspace(ctx, org)
		return ws, time.Time{}, time.Time{}, err
	}
	if err != nil {
		return "", time.Time{}, time.Time{}, err
	}
	_, revoked, err := definition(o)
	if err != nil {
		return "", time.Time{}, time.Time{}, err
	}
	if !revoked {
		return "", time.Time{}, time.Time{}, &hub.Error{Code: hub.EConflict, Field: "name", Message: "a feed called " + name + " exists; delete it first"}
	}
	return o.Workspace, o.Created, o.Modified, nil
}

// Delete removes org's feed called name: a revoked version of its definition.
func (s *Service) Delete(ctx context.Context, org, actor, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.Get(ctx, org, name)
	if err != nil {
		return err
	}
	return s.put(ctx, org, actor, d.Workspace, body{Name: name, Selection: d.Selection, Revoked: true}, d.Created, d.Modified)
}

// put stores a version of a definition, modified after after (milliseconds, as STIX
// timestamps are kept here).
func (s *Service) put(ctx context.Context, org, actor, ws string, b body, created, after time.Time) error {
	mod := s.now().UTC().Truncate(time.Millisecond)
	if !mod.After(after) {
		mod = after.Add(time.Millisecond)
	}
	if created.IsZero() {
		created = mod
	}
	b.Type, b.SpecVersion, b.ID = Type, "2.1", objectID(org, b.Name)
	b.Created, b.Modified = created.UTC().Format(stamp), mod.Format(stamp)
	b.Markings = []string{stix.TLP2Red}
	obj, err := json.Marshal(b)
	if err != nil {
		return err
	}
	bundle := `{"type":"bundle","id":"bundle--` + export.NameUUID(string(obj)) + `","objects":[` + string(obj) + `]}`
	sum, err := s.kb.Ingest(ctx, kb.Submission{Org: org, Actor: actor, Workspace: ws, DefaultTLP: hub.TLPRed}, strings.NewReader(bundle))
	if err != nil {
		return err
	}
	if len(sum.Rejected) > 0 {
		return hub.Errorf(hub.EInternal, "feed definition rejected: %s", sum.Rejected[0].Reason)
	}
	return nil
}
