package web

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"cshub/internal/access"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/snapshot"
)

// The object pages show what refers to an object: relationships, sightings, notes, opinions and
// reports. The store can only look objects up by id, type or blind-index token, not by the ids
// their bodies mention, so the Server keeps this in-memory index of back references, built from
// the knowledge base at Start and kept current from the bus, as the search index is.
//
// The index holds ids and the access metadata of the referring objects (workspace, author, TLP,
// recipients), never their content: every listing is filtered by access.Visible for the
// viewer before anything is counted or fetched, and the bodies are then read through the
// knowledge base with the viewer, so a page shows exactly what the viewer may read.

// backRef is one object referring to another.
type backRef struct {
	meta    *hub.Object // the referring version's metadata; Body is nil
	prop    string      // the property holding the reference: source_ref, target_ref, sighting_of_ref, object_refs, …
	relType string      // relationship_type, for relationships
	other   string      // for a relationship, the id at its other end
}

// refIndex maps object ids to the objects referring to them, and holds the metadata of the
// latest version of every object for the dashboard's statistics (about 200 bytes an object,
// against the kilobytes of a sealed body the store would otherwise read for each). It is safe for
// concurrent use.
type refIndex struct {
	mu    sync.RWMutex
	by    map[string][]backRef   // target id -> referrers; guarded by mu
	filed map[string][]string    // workspace+"\x00"+referrer id -> the targets it is filed under
	meta  map[string]*hub.Object // workspace+"\x00"+id -> metadata of the latest version, no body
	ready bool                   // built from the store; guarded by mu
}

func newRefIndex() *refIndex {
	return &refIndex{by: map[string][]backRef{}, filed: map[string][]string{}, meta: map[string]*hub.Object{}}
}

// refFields are the reference properties the index reads.
type refFields struct {
	RelationshipType string   `json:"relationship_type"`
	SourceRef        string   `json:"source_ref"`
	TargetRef        string   `json:"target_ref"`
	SightingOfRef    string   `json:"sighting_of_ref"`
	WhereSightedRefs []string `json:"where_sighted_refs"`
	ObservedDataRefs []string `json:"observed_data_refs"`
	ObjectRefs       []string `json:"object_refs"`
}

// add files the latest version o of an object under every id it refers to, replacing what an
// earlier version filed. Bodies that are not JSON refer to nothing.
func (x *refIndex) add(o *hub.Object) {
	meta := *o
	meta.Body, meta.Tokens = nil, nil
	key := o.Workspace + "\x00" + o.ID
	var f refFields
	if json.Unmarshal(o.Body, &f) != nil {
		x.mu.Lock()
		x.meta[key] = &meta
		x.mu.Unlock()
		return
	}
	var refs []struct {
		target string
		r      backRef
	}
	put := func(target string, r backRef) {
		if target != "" && target != o.ID {
			r.meta = &meta
			refs = append(refs, struct {
				target string
				r      backRef
			}{target, r})
		}
	}
	if o.Type == "relationship" {
		put(f.SourceRef, backRef{prop: "source_ref", relType: f.RelationshipType, other: f.TargetRef})
		put(f.TargetRef, backRef{prop: "target_ref", relType: f.RelationshipType, other: f.SourceRef})
	}
	put(f.SightingOfRef, backRef{prop: "sighting_of_ref"})
	for _, id := range f.WhereSightedRefs {
		put(id, backRef{prop: "where_sighted_refs"})
	}
	for _, id := range f.ObservedDataRefs {
		put(id, backRef{prop: "observed_data_refs"})
	}
	for _, id := range f.ObjectRefs {
		put(id, backRef{prop: "object_refs"})
	}

	x.mu.Lock()
	defer x.mu.Unlock()
	x.unfileLocked(o.Workspace, o.ID)
	x.meta[key] = &meta
	var targets []string
	for _, r := range refs {
		x.by[r.target] = append(x.by[r.target], r.r)
		targets = append(targets, r.target)
	}
	if len(targets) > 0 {
		x.filed[key] = targets
	}
}

// unfileLocked takes what the object (workspace, id) refers to out of the index; x.mu is held.
func (x *refIndex) unfileLocked(workspace, id string) {
	key := workspace + "\x00" + id
	for _, t := range x.filed[key] {
		x.by[t] = slices.DeleteFunc(x.by[t], func(r backRef) bool {
			return r.meta.ID == id && r.meta.Workspace == workspace
		})
		if len(x.by[t]) == 0 {
			delete(x.by, t)
		}
	}
	delete(x.filed, key)
}

// remove forgets the object (workspace, id), none of whose versions remain.
func (x *refIndex) remove(workspace, id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.unfileLocked(workspace, id)
	delete(x.meta, workspace+"\x00"+id)
}

// to returns the references to id that v may see, in the order they were filed, and whether the
// index has been built.
func (x *refIndex) to(v hub.Viewer, id string) ([]backRef, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []backRef
	for _, r := range x.by[id] {
		if access.Visible(v, r.meta) {
			out = append(out, r)
		}
	}
	return out, x.ready
}

// buildPage is how many objects Start reads from the store at a time.
const buildPage = 1000

// Start builds the index of back references that object pages and the dashboard use, from every
// object in the knowledge base, and keeps it current from b until ctx ends. It returns once the
// index is built; until it is called, object pages show no relationships, sightings or notes
// and say that the index is not loaded.
func (s *Server) Start(ctx context.Context, b hub.Bus) error {
	_, err := s.StartSaved(ctx, snapshot.Config{Bus: b})
	return err
}

// StartSaved is Start that saves the index in c.Path and resumes from there on the next
// start (see package snapshot). c.Bus, c.Path, c.Sealer and c.Every are the caller's.
func (s *Server) StartSaved(ctx context.Context, c snapshot.Config) (*snapshot.Follower, error) {
	c.Index, c.Format, c.KB, c.Log = "refs", refsFormat, s.kb, s.log
	return snapshot.Start(ctx, c, &savedRefs{x: s.refs, src: s.kb})
}

// load adds every object of src; Start calls it when it has no snapshot to resume from.
func (x *refIndex) load(ctx context.Context, src *kb.Service) (int, error) {
	n := 0
	var after int64
	for {
		objs, err := src.List(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, AfterSeq: after, Limit: buildPage})
		if err != nil {
			return n, fmt.Errorf("web: loading references: %w", err)
		}
		if len(objs) == 0 {
			break
		}
		for _, o := range objs {
			x.add(o)
		}
		n += len(objs)
		after = objs[len(objs)-1].Seq
	}
	x.mu.Lock()
	x.ready = true
	x.mu.Unlock()
	return n, nil
}
