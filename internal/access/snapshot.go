package access

import (
	"context"
	"fmt"
	"slices"

	"cshub/internal/hub"
)

// Snapshot is a read-only copy of the directory facts access decisions need: which
// organisations are active, what kind each workspace is and who its members are. Paths that
// decide many objects for many organisations (the live stream, correlation notices, federation)
// load one and refresh it when the directory changes, instead of asking the store per object.
// A Snapshot is safe for concurrent use; it never changes after Load.
type Snapshot struct {
	active  map[string]bool                // org code -> active
	kinds   map[string]hub.WorkspaceKind   // workspace slug -> kind
	members map[string]map[string]struct{} // workspace slug -> member org codes
}

// Load reads a Snapshot from dir.
func Load(ctx context.Context, dir hub.DirectoryStore) (*Snapshot, error) {
	orgs, err := dir.Orgs(ctx)
	if err != nil {
		return nil, fmt.Errorf("access: load organisations: %w", err)
	}
	wss, err := dir.Workspaces(ctx)
	if err != nil {
		return nil, fmt.Errorf("access: load workspaces: %w", err)
	}
	s := &Snapshot{
		active:  make(map[string]bool, len(orgs)),
		kinds:   make(map[string]hub.WorkspaceKind, len(wss)),
		members: make(map[string]map[string]struct{}, len(wss)),
	}
	for _, o := range orgs {
		s.active[o.Code] = o.Active
	}
	for _, w := range wss {
		s.kinds[w.Slug] = w.Kind
		s.members[w.Slug] = make(map[string]struct{})
	}
	// Memberships come from WorkspacesOf, the same query ViewerFor uses, so that a Snapshot and
	// a Viewer can never disagree on who is a member, whatever Workspace.Members holds.
	for _, o := range orgs {
		mine, err := dir.WorkspacesOf(ctx, o.Code)
		if err != nil {
			return nil, fmt.Errorf("access: load workspaces of %q: %w", o.Code, err)
		}
		for _, w := range mine {
			if m, ok := s.members[w.Slug]; ok {
				m[o.Code] = struct{}{}
			}
		}
	}
	return s, nil
}

// Facts returns what s knows of org and workspace, for Decide.
func (s *Snapshot) Facts(org, workspace string) Facts {
	_, member := s.members[workspace][org]
	return Facts{Active: s.active[org], Member: member, Kind: s.kinds[workspace]}
}

// Decide is Decide with the facts of org and o's workspace taken from s.
func (s *Snapshot) Decide(org string, o *hub.Object, p Path) Decision {
	if o == nil {
		return Decide(org, Facts{}, o, p)
	}
	return Decide(org, s.Facts(org, o.Workspace), o, p)
}

// Viewer returns the Viewer ViewerFor would build for org on path p from the same directory
// state; an unknown or inactive organisation gets one that sees nothing.
func (s *Snapshot) Viewer(org string, p Path) hub.Viewer {
	v := hub.Viewer{Org: org}
	if !p.valid() || !s.active[org] {
		return v
	}
	for slug, m := range s.members {
		if _, ok := m[org]; ok && p.showsWorkspace(s.kinds[slug]) {
			v.Workspaces = append(v.Workspaces, slug)
		}
	}
	slices.Sort(v.Workspaces)
	return v
}

// EventObject returns the access metadata of e as an Object without a body, so that the live
// stream and correlation notices can Decide on events exactly as on stored objects.
func EventObject(e hub.Event) *hub.Object {
	return &hub.Object{
		Seq:        e.ObjectSeq,
		ID:         e.ObjectID,
		Type:       e.Type,
		Workspace:  e.Workspace,
		Author:     e.Author,
		TLP:        e.TLP,
		Recipients: e.Recipients,
	}
}
