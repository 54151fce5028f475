// Package collab is the hub's collaboration layer: sightings, notes, attribution opinions,
// cases for coordinated response, and correlation notices. Everything it records is a STIX
// object (sighting, note, opinion) or a cshub custom object (x-cshub-case,
// x-cshub-case-action) stored through package kb, so it is sealed on disk, versioned by its
// author's organisation only, announced on the bus and served to each reader under the access
// rules of package access, on both stores, without a table of its own.
//
// Several organisations act on one case although kb lets only an object's author add versions
// of it: the lead organisation authors the x-cshub-case object (title, severity, status,
// participants), and every other act (a task, a task update, a linked object) is an
// x-cshub-case-action authored by whoever acted. A case's state and timeline are folded from
// both at read time, and the fold itself applies the case rules, so that an action submitted
// through the plain bundle API by an organisation that may not act on the case changes
// nothing.
package collab

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"cshub/internal/access"
	"cshub/internal/correlation"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/stix"
)

// AnonymousOrg is what readers other than the author see in place of the organisation that
// recorded an anonymous sighting.
const AnonymousOrg = "a member"

// Custom STIX properties this package writes and reads; the first two are the contract with
// the other parts of the hub (scores, matching, feeds).
const (
	PropFalsePositive = "x_cshub_false_positive"
	PropAnonymous     = "x_cshub_anonymous"
	PropInReplyTo     = "x_cshub_in_reply_to"
	PropMentions      = "x_cshub_mentions"
)

// Custom object types of cases.
const (
	TypeCase       = "x-cshub-case"
	TypeCaseAction = "x-cshub-case-action"
)

// pageSize is how many objects one store read returns while this package walks a listing.
const pageSize = 1000

// Service records and reads collaboration objects. It is safe for concurrent use.
type Service struct {
	kb    *kb.Service
	dir   hub.DirectoryStore
	links *correlation.Index // filled and kept current by StartLinks
	log   *slog.Logger
	now   func() time.Time
}

// Config holds what a Service is built from. KB and Dir are required; Log defaults to a
// discarding logger, Now to time.Now and CommonAfter to correlation.DefaultCommonAfter.
type Config struct {
	KB  *kb.Service
	Dir hub.DirectoryStore
	Log *slog.Logger
	Now func() time.Time
	// CommonAfter is the correlation index's common-value threshold: a value held by more
	// objects than this links them to one common-value node instead of to each other.
	CommonAfter int
}

// New returns a Service.
func New(c Config) *Service {
	s := &Service{kb: c.KB, dir: c.Dir, links: correlation.New(c.CommonAfter), log: c.Log, now: c.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Actor is who acts: the organisation and, for the audit log, the user or key.
type Actor struct {
	Org  string
	Name string
}

// placement is where a new object goes and how it is marked.
type placement struct {
	workspace  string
	tlp        hub.TLP
	recipients []string
}

// placeAfter returns the placement of an object that speaks about target: in target's
// workspace, never less restricted than target (a sighting of a TLP:RED indicator is itself
// RED, addressed to those who may see the indicator), so that whoever may read the new object
// may read what it is about. want raises the TLP further when set.
func placeAfter(actor string, target *hub.Object, want hub.TLP) placement {
	p := placement{workspace: target.Workspace, tlp: max(want, target.TLP)}
	if target.TLP == hub.TLPRed {
		p.recipients = others(actor, append([]string{target.Author}, target.Recipients...))
	}
	return p
}

// others returns orgs without actor, sorted and without duplicates.
func others(actor string, orgs []string) []string {
	var out []string
	for _, o := range orgs {
		if o != actor && o != "" {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// viewer returns the viewer org reads with on path p.
func (s *Service) viewer(ctx context.Context, org string, p access.Path) (hub.Viewer, error) {
	return access.ViewerFor(ctx, s.dir, org, p)
}

// get returns the latest version of id that v may see, ENotFound naming field otherwise.
func (s *Service) get(ctx context.Context, v hub.Viewer, field, id string) (*hub.Object, error) {
	if id == "" {
		return nil, hub.FieldError(field, "required")
	}
	o, err := s.kb.Get(ctx, v, id, time.Time{})
	if hub.ErrorCode(err) == hub.ENotFound {
		return nil, &hub.Error{Code: hub.ENotFound, Field: field, Message: fmt.Sprintf("no object %q", id)}
	}
	return o, err
}

// list returns every latest version of the given types v may see, in Seq order, walking the
// store page by page.
func (s *Service) list(ctx context.Context, v hub.Viewer, types ...string) ([]*hub.Object, error) {
	var out []*hub.Object
	f := hub.Filter{Viewer: v, Types: types, Limit: pageSize}
	for {
		page, err := s.kb.List(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < pageSize {
			return out, nil
		}
		f.AfterSeq = page[len(page)-1].Seq
	}
}

// put stores obj (a STIX object without marking, which p gives) as actor's and returns the
// stored version. A rejection by the knowledge base is an EInvalid naming the object.
func (s *Service) put(ctx context.Context, a Actor, p placement, obj map[string]any) (*hub.Object, error) {
	obj["spec_version"] = "2.1"
	bundle, err := json.Marshal(map[string]any{"type": "bundle", "id": stix.NewID("bundle"), "objects": []any{obj}})
	if err != nil {
		return nil, fmt.Errorf("collab: encoding %v: %w", obj["id"], err)
	}
	sum, err := s.kb.Ingest(ctx, kb.Submission{Org: a.Org, Actor: a.Name, Workspace: p.workspace, Recipients: p.recipients, DefaultTLP: p.tlp}, bytes.NewReader(bundle))
	if err != nil {
		return nil, err
	}
	if len(sum.Rejected) > 0 {
		return nil, hub.FieldError("body", "%s", sum.Rejected[0].Reason)
	}
	id, _ := obj["id"].(string)
	v := hub.Viewer{System: true}
	objs, err := s.kb.List(ctx, hub.Filter{Viewer: v, IDs: []string{id}, Workspaces: []string{p.workspace}, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, hub.Errorf(hub.EInternal, "collab: %s not stored", id)
	}
	return objs[0], nil
}

// stixTime formats t as STIX timestamps are written, in UTC with milliseconds.
func stixTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// derivedID returns a STIX identifier of type typ whose (version 5 style) UUID is fixed by
// name: the same name always gives the same id, so that an organisation's opinion on a claim
// is one object with versions rather than a pile of objects.
func derivedID(typ, name string) string {
	h := sha1.Sum([]byte("cshub collab\x00" + typ + "\x00" + name))
	var u [16]byte
	copy(u[:], h[:16])
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return typ + "--" + stix.FormatUUID(u)
}

// checkRef reports whether id looks like a STIX identifier, as a field error otherwise.
func checkRef(field, id string) error {
	typ, uuid, ok := strings.Cut(id, "--")
	if !ok || typ == "" || len(uuid) != 36 {
		return hub.FieldError(field, "%q is not a STIX identifier (type--uuid)", id)
	}
	return nil
}

// decode decodes o's body into v.
func decode(o *hub.Object, v any) error {
	if err := json.Unmarshal(o.Body, v); err != nil {
		return &hub.Error{Code: hub.EIntegrity, Message: "stored " + o.ID + " is not the JSON it was", Err: err}
	}
	return nil
}

// parseTLP reads an optional TLP field of a request.
func parseTLP(field, s string) (hub.TLP, error) {
	if s == "" {
		return hub.TLPUnset, nil
	}
	t, err := hub.ParseTLP(s)
	if err != nil {
		return 0, hub.FieldError(field, "%q is not a TLP 2.0 level (clear, green, amber, amber+strict, red)", s)
	}
	return t, nil
}

// refType returns the type part of a STIX identifier, "" when it has none.
func refType(id string) string {
	typ, _, ok := strings.Cut(id, "--")
	if !ok {
		return ""
	}
	return typ
}
