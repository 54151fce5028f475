// Package federation pulls STIX objects from other hubs (or any TAXII 2.1 server) into a
// workspace of this hub: ad hoc (cshub sync) or on a schedule for configured peers (cshub peer,
// cshub serve).
//
// Outbound, this hub serves peers on the TAXII federation API root (package taxii), decided on
// access.PathFederate. Inbound, what a sync pulls is ingested through the knowledge base as a
// submission of the receiving organisation into the receiving workspace: objects keep their
// bodies, hence their TLP markings and their author identity (created_by_ref); they are stored
// under the receiving workspace's rules (only the receiving organisation adds versions, TLP is
// never lowered). An object that arrives without a TLP marking is stored as TLP:AMBER at least,
// since the peer's default for it is unknown here and a lower level would release it further
// than its source did. An object marked TLP:RED is refused: RED never crosses between hubs,
// whatever a misbehaving peer sends.
//
// Where a peer is and how far its sync has come is kept in the store without a table of its own:
// one custom STIX object of type x-cshub-peer per source (API root, collection, receiving
// workspace), in the receiving workspace, marked TLP:RED with no recipients so that only the
// receiving organisation may read it, sealed with the workspace key like every body. Its
// credentials (token, key) are write-only: they are sealed a second time, on their own, at a
// location bound to the source's configuration (seal.PeerCredentialsLocation), and only this
// package opens them, so the organisation's users, who may read the record through the API,
// see ciphertext, and a record rewritten by them to point elsewhere no longer opens them. It is
// created once through the knowledge base and then updated in place with the store's
// compare-and-swap of sealed bodies (hub.ObjectStore.ReplaceBodies), so the cursor neither grows
// a version per page nor can two replicas move it at once unnoticed. Both stores hold it alike.
package federation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/seal"
	"cshub/internal/stix"
)

// PeerType is the STIX type of the object that holds a peer's configuration and sync state.
const PeerType = "x-cshub-peer"

// Peer is a source this hub pulls from, where its objects go, how to reach it, and how far the
// sync has come. Configured peers (Every > 0) are synced on a schedule by serve; a source synced
// ad hoc keeps a Peer without a schedule or credentials, for its cursor.
type Peer struct {
	Name       string `json:"name,omitempty"` // unique among configured peers; "" for an ad hoc source
	URL        string `json:"url"`            // TAXII API root, e.g. https://hub-a.example/taxii2/federation/
	Collection string `json:"collection"`     // collection id or alias at the source
	Workspace  string `json:"workspace"`      // receiving workspace
	Org        string `json:"org"`            // receiving organisation: the submitter of what arrives

	// Credentials at the source: Token for Bearer, else User and Key for Basic.
	Token string `json:"token,omitempty"`
	User  string `json:"user,omitempty"`
	Key   string `json:"key,omitempty"`
	// CA is the PEM of the certificates the source's TLS certificate is checked against; empty
	// means the system's roots.
	CA string `json:"ca,omitempty"`
	// Insecure skips TLS verification; allowed for loopback sources only (tests).
	Insecure bool          `json:"insecure,omitempty"`
	Every    time.Duration `json:"every,omitempty"` // schedule; 0 for ad hoc sources
	Removed  bool          `json:"removed,omitempty"`

	State State `json:"state"`
}

// State is how far the sync of a source has come.
type State struct {
	// AddedAfter is the newest date_added of every completed run: the next run asks for what
	// was added after it.
	AddedAfter time.Time `json:"added_after,omitzero"`
	// A run under way (after a failure or an interruption): it resumes with Next, the next
	// value of its last committed page, asked with added_after RunFrom; High is the newest
	// date_added it has committed.
	RunFrom time.Time `json:"run_from,omitzero"`
	Next    string    `json:"next,omitempty"`
	High    time.Time `json:"high,omitzero"`
	// LastRun and LastError tell how the last run ended.
	LastRun   time.Time `json:"last_run,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	Pulled    int64     `json:"pulled"` // objects received over all runs
}

// ID returns the STIX id of the object holding p: derived from the source and the receiving
// workspace, so that a configured peer and an ad hoc sync of the same source share one cursor.
func (p *Peer) ID() string {
	h := sha256.Sum256([]byte("cshub/peer\x00" + normalizeURL(p.URL) + "\x00" + p.Collection + "\x00" + p.Workspace))
	u := h[:16]
	u[6] = u[6]&0x0f | 0x40 // a version 4 UUID, as STIX requires of identifiers' UUID part
	u[8] = u[8]&0x3f | 0x80
	x := hex.EncodeToString(u)
	return PeerType + "--" + x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// normalizeURL gives an API root URL one trailing slash.
func normalizeURL(u string) string { return strings.TrimRight(u, "/") + "/" }

// check validates p's configuration, naming the offending field.
func (p *Peer) check() error {
	switch {
	case !strings.HasPrefix(p.URL, "https://") && !strings.HasPrefix(p.URL, "http://"):
		return hub.FieldError("from", "%q is not an http(s) URL of a TAXII API root", p.URL)
	case p.Collection == "":
		return hub.FieldError("collection", "required: the collection id or alias at the source")
	case p.Workspace == "":
		return hub.FieldError("into", "required: the receiving workspace")
	case p.Org == "":
		return hub.FieldError("org", "required: the receiving organisation, a member of the workspace")
	case p.Every < 0:
		return hub.FieldError("every", "must not be negative")
	}
	return nil
}

// Registry keeps Peers in the store as described in the package comment. It is safe for
// concurrent use.
type Registry struct {
	kb     *kb.Service
	store  hub.Store
	sealer seal.Sealer
	log    *slog.Logger
	now    func() time.Time
}

// Config holds what a Registry and a Syncer are built from; KB, Store and Sealer are required
// and must be the same hub's. Log nil discards; Now nil is time.Now.
type Config struct {
	KB     *kb.Service
	Store  hub.Store
	Sealer seal.Sealer
	Log    *slog.Logger
	Now    func() time.Time
}

// NewRegistry returns a Registry.
func NewRegistry(c Config) *Registry {
	r := &Registry{kb: c.KB, store: c.Store, sealer: c.Sealer, log: c.Log, now: c.Now}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r
}

// record is a Peer as stored: the stored version (sealed body) it was read from.
type record struct {
	obj  *hub.Object // Seq and sealed Body: the compare-and-swap's expectation
	meta peerObject
	peer Peer
}

// peerObject is the STIX envelope of a Peer.
type peerObject struct {
	Type        string   `json:"type"`
	SpecVersion string   `json:"spec_version"`
	ID          string   `json:"id"`
	Created     string   `json:"created"`
	Modified    string   `json:"modified"`
	Name        string   `json:"name"`
	Markings    []string `json:"object_marking_refs"`
	Peer        *Peer    `json:"x_cshub_peer"` // without Token and Key
	// Credentials is the sealed JSON of the Peer's secrets, see the package comment.
	Credentials []byte `json:"x_cshub_credentials,omitempty"`
}

// secrets are the credentials of a Peer that are sealed on their own.
type secrets struct {
	Token string `json:"token,omitempty"`
	Key   string `json:"key,omitempty"`
}

// configDigest names the configuration of p that its credentials are given for: everything
// that says where they are sent and how the source is trusted.
func configDigest(p *Peer) string {
	c, _ := json.Marshal([]any{normalizeURL(p.URL), p.Collection, p.Workspace, p.Org, p.User, p.CA, p.Insecure})
	h := sha256.Sum256(c)
	return hex.EncodeToString(h[:])
}

// Put stores p's configuration, creating its object or replacing the configuration of the one
// there (its sync state is kept). The receiving organisation must be a member of the workspace.
func (r *Registry) Put(ctx context.Context, p Peer) (*Peer, error) {
	p.URL = normalizeURL(p.URL)
	if err := p.check(); err != nil {
		return nil, err
	}
	if p.Name != "" {
		other, err := r.byName(ctx, p.Name)
		switch {
		case err == nil && other.obj.ID != p.ID():
			return nil, &hub.Error{Code: hub.EConflict, Field: "name", Message: fmt.Sprintf("peer %q pulls from another source already", p.Name)}
		case err != nil && hub.ErrorCode(err) != hub.ENotFound:
			return nil, err
		}
	}
	rec, err := r.ensure(ctx, &p)
	if err != nil {
		return nil, err
	}
	p.State = rec.peer.State
	return &p, r.save(ctx, rec, func(q *Peer) { *q = p })
}

// ensure returns the record of p, creating it when there is none.
func (r *Registry) ensure(ctx context.Context, p *Peer) (*record, error) {
	rec, err := r.load(ctx, p.Workspace, p.ID())
	if hub.ErrorCode(err) != hub.ENotFound {
		return rec, err
	}
	now := r.now().UTC().Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z")
	fresh := *p
	fresh.Token, fresh.User, fresh.Key = "", "", "" // credentials go in by the compare-and-swap below
	obj := peerObject{Type: PeerType, SpecVersion: "2.1", ID: p.ID(), Created: now, Modified: now,
		Name: "TAXII source " + p.URL + " " + p.Collection, Markings: []string{stix.TLP2Red}, Peer: &fresh}
	body, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	bundle := append(append([]byte(`{"type":"bundle","id":"bundle--`+strings.TrimPrefix(p.ID(), PeerType+"--")+`","objects":[`), body...), "]}"...)
	sum, err := r.kb.Ingest(ctx, kb.Submission{Org: p.Org, Actor: "federation", Workspace: p.Workspace}, bytes.NewReader(bundle))
	if err != nil {
		return nil, err
	}
	if len(sum.Rejected) > 0 {
		return nil, hub.Errorf(hub.EInternal, "federation: the peer record was refused: %s", sum.Rejected[0].Reason)
	}
	return r.load(ctx, p.Workspace, p.ID())
}

// load reads the record id in workspace ws; ENotFound when there is none.
func (r *Registry) load(ctx context.Context, ws, id string) (*record, error) {
	objs, err := r.store.ListObjects(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, Workspaces: []string{ws}, IDs: []string{id}, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, hub.Errorf(hub.ENotFound, "no TAXII source %s in workspace %q", id, ws)
	}
	return r.open(objs[0])
}

// open reads the record of a stored (sealed) object.
func (r *Registry) open(o *hub.Object) (*record, error) {
	plain, err := r.sealer.Decrypt(seal.ObjectLocation(o), o.Body)
	if err != nil {
		return nil, err
	}
	rec := &record{obj: o}
	if err := json.Unmarshal(plain, &rec.meta); err != nil || rec.meta.Peer == nil {
		return nil, hub.Errorf(hub.EIntegrity, "federation: the record %s is not a peer: %v", o.ID, err)
	}
	rec.peer = *rec.meta.Peer
	if rec.peer.ID() != o.ID {
		return nil, hub.Errorf(hub.EIntegrity, "federation: the record %s names another source (%s %s)", o.ID, rec.peer.URL, rec.peer.Collection)
	}
	if len(rec.meta.Credentials) > 0 {
		plain, err := r.sealer.Decrypt(seal.PeerCredentialsLocation(o.Workspace, o.ID, configDigest(&rec.peer)), rec.meta.Credentials)
		if err != nil {
			return nil, hub.Errorf(hub.EIntegrity, "federation: the credentials of TAXII source %s do not open for its configuration, "+
				"which was changed outside the peer commands; add the peer again: %v", rec.peer.URL, err)
		}
		var sec secrets
		if err := json.Unmarshal(plain, &sec); err != nil {
			return nil, hub.Errorf(hub.EIntegrity, "federation: the credentials of TAXII source %s: %v", rec.peer.URL, err)
		}
		rec.peer.Token, rec.peer.Key = sec.Token, sec.Key
	}
	return rec, nil
}

// save applies change to the record's Peer and stores it in place of the body rec was read
// from. When that body changed meanwhile only by being re-sealed (a key rewrap), the change is
// applied to the fresh one; when its Peer changed (another replica's sync, a peer command), the
// save is EConflict and nothing is written.
func (r *Registry) save(ctx context.Context, rec *record, change func(*Peer)) error {
	for range 3 {
		p := rec.peer
		change(&p)
		meta, err := r.stored(rec.obj, rec.meta, p)
		if err != nil {
			return err
		}
		plain, err := json.Marshal(meta)
		if err != nil {
			return err
		}
		sealed, err := r.sealer.Encrypt(seal.ObjectLocation(rec.obj), plain)
		if err != nil {
			return err
		}
		n, err := r.store.ReplaceBodies(ctx, []hub.BodyUpdate{{Seq: rec.obj.Seq, Old: rec.obj.Body, New: sealed}})
		if err != nil {
			return err
		}
		if n == 1 {
			rec.obj.Body, rec.peer = sealed, p
			return nil
		}
		fresh, err := r.load(ctx, rec.obj.Workspace, rec.obj.ID)
		if err != nil {
			return err
		}
		if !samePeer(fresh.peer, rec.peer) {
			return hub.Errorf(hub.EConflict, "the TAXII source %s was changed meanwhile by another sync or command", rec.peer.URL)
		}
		rec = fresh
	}
	return hub.Errorf(hub.EConflict, "the TAXII source record keeps changing under this sync")
}

// stored returns meta holding p as it is stored in object o: its credentials sealed apart.
func (r *Registry) stored(o *hub.Object, meta peerObject, p Peer) (peerObject, error) {
	bare := p
	bare.Token, bare.Key = "", ""
	meta.Peer, meta.Credentials = &bare, nil
	if p.Token == "" && p.Key == "" {
		return meta, nil
	}
	plain, err := json.Marshal(secrets{Token: p.Token, Key: p.Key})
	if err != nil {
		return meta, err
	}
	meta.Credentials, err = r.sealer.Encrypt(seal.PeerCredentialsLocation(o.Workspace, o.ID, configDigest(&p)), plain)
	return meta, err
}

func samePeer(a, b Peer) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// List returns the configured peers (those with a name, not removed), sorted by name.
func (r *Registry) List(ctx context.Context) ([]*Peer, error) {
	recs, err := r.records(ctx)
	if err != nil {
		return nil, err
	}
	var out []*Peer
	for _, rec := range recs {
		if rec.peer.Name != "" && !rec.peer.Removed {
			out = append(out, &rec.peer)
		}
	}
	slices.SortFunc(out, func(a, b *Peer) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// records reads every peer record of the hub.
func (r *Registry) records(ctx context.Context) ([]*record, error) {
	f := hub.Filter{Viewer: hub.Viewer{System: true}, Types: []string{PeerType}, Limit: 1000}
	var out []*record
	for {
		objs, err := r.store.ListObjects(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			rec, err := r.open(o)
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
		}
		if len(objs) < f.Limit {
			return out, nil
		}
		f.AfterSeq = objs[len(objs)-1].Seq
	}
}

// byName returns the record of the configured peer name.
func (r *Registry) byName(ctx context.Context, name string) (*record, error) {
	recs, err := r.records(ctx)
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		if rec.peer.Name == name && !rec.peer.Removed {
			return rec, nil
		}
	}
	return nil, &hub.Error{Code: hub.ENotFound, Field: "name", Message: fmt.Sprintf("no peer %q", name)}
}

// Remove ends the schedule of peer name and forgets its credentials. Its record stays, with its
// cursor, so that adding the source again goes on where it stopped.
func (r *Registry) Remove(ctx context.Context, name string) error {
	rec, err := r.byName(ctx, name)
	if err != nil {
		return err
	}
	return r.save(ctx, rec, func(p *Peer) {
		p.Removed, p.Name, p.Every = true, "", 0
		p.Token, p.User, p.Key = "", "", ""
	})
}

// Get returns the stored Peer of p's source (URL, Collection, Workspace); ENotFound when that
// source was never synced or configured.
func (r *Registry) Get(ctx context.Context, p Peer) (*Peer, error) {
	p.URL = normalizeURL(p.URL)
	rec, err := r.load(ctx, p.Workspace, p.ID())
	if err != nil {
		return nil, err
	}
	return &rec.peer, nil
}

// SetState replaces the sync state of p's source, for an operator who wants a source pulled
// again from some point (the zero State: from the beginning).
func (r *Registry) SetState(ctx context.Context, p Peer, st State) error {
	p.URL = normalizeURL(p.URL)
	rec, err := r.load(ctx, p.Workspace, p.ID())
	if err != nil {
		return err
	}
	return r.save(ctx, rec, func(q *Peer) { q.State = st })
}

// Named returns the configured peer name.
func (r *Registry) Named(ctx context.Context, name string) (*Peer, error) {
	rec, err := r.byName(ctx, name)
	if err != nil {
		return nil, err
	}
	return &rec.peer, nil
}
