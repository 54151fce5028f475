package taxii

import (
	"context"
	"slices"

	"cshub/internal/access"
	"cshub/internal/auth"
	"cshub/internal/hub"
)

// peer builds the caller of the federation API root (FederationRootPath), where another hub
// pulls with the credentials of an organisation of kind member or observer that stands for it.
// Every object is decided by access.Decide on access.PathFederate: never TLP:RED, AMBER and
// AMBER+STRICT only from workspaces the peer is a member of, CLEAR and GREEN also from the
// community workspaces it is not a member of. Its collections are therefore its own workspaces
// and every community workspace; private and group workspaces of others are not offered even
// where Decide would allow their GREEN, because they were shared with chosen organisations,
// not with the hub's community.
func (s *Server) peer(ctx context.Context, p *auth.Principal) (*caller, error) {
	org, err := s.dir.Org(ctx, p.Org)
	if err != nil {
		return nil, err
	}
	if org.Kind != hub.OrgMember && org.Kind != hub.OrgObserver {
		return nil, &hub.Error{Code: hub.EForbidden, Field: "Authorization",
			Message: "the federation API root serves peer hubs, enrolled as organisations of kind member or observer"}
	}
	v, err := access.ViewerFor(ctx, s.dir, p.Org, access.PathFederate)
	if err != nil {
		return nil, err
	}
	member := make(map[string]bool, len(v.Workspaces))
	for _, slug := range v.Workspaces {
		member[slug] = true
	}
	wss, err := s.dir.Workspaces(ctx)
	if err != nil {
		return nil, err
	}
	kinds := make(map[string]hub.WorkspaceKind, len(wss))
	for _, w := range wss {
		kinds[w.Slug] = w.Kind
		if org.Active && w.Kind == hub.WorkspaceCommunity && !member[w.Slug] {
			v.Workspaces = append(v.Workspaces, w.Slug)
		}
	}
	slices.Sort(v.Workspaces)
	return &caller{Principal: p, path: access.PathFederate, viewer: v, allow: func(o *hub.Object) bool {
		f := access.Facts{Active: org.Active, Member: member[o.Workspace], Kind: kinds[o.Workspace]}
		return access.Decide(p.Org, f, o, access.PathFederate).Allow
	}}, nil
}
