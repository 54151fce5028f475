package accesstest

import (
	"context"
	"fmt"
	"slices"
	"time"

	"cshub/internal/hub"
)

// Store is what Load writes into: any hub.Store has these methods.
type Store interface {
	hub.DirectoryStore
	hub.ObjectStore
}

// Load writes w into st: its organisations, its workspaces with their members (adding and then
// removing the memberships in w.Removed), and its objects in one PutObjects batch added at now.
// seal, when not nil, is given a copy of each object before it is stored to replace its Body
// with the sealed form (stores only ever hold sealed bodies); w itself is never modified.
// st should be empty: Load fails on an organisation, workspace or member that exists already.
// With package seal's barrier, add a key for each of w.Workspaces before sealing into them.
func (w *World) Load(ctx context.Context, st Store, now time.Time, seal func(*hub.Object) error) error {
	if err := w.LoadDirectory(ctx, st); err != nil {
		return err
	}
	objs := make([]*hub.Object, len(w.Objects))
	for i, o := range w.Objects {
		c := *o
		c.Recipients = slices.Clone(o.Recipients)
		c.Body = slices.Clone(o.Body)
		if seal != nil {
			if err := seal(&c); err != nil {
				return fmt.Errorf("accesstest: seal %s: %w", o.ID, err)
			}
		}
		objs[i] = &c
	}
	added, err := st.PutObjects(ctx, objs, hub.PutOptions{Now: now})
	if err != nil {
		return fmt.Errorf("accesstest: put objects: %w", err)
	}
	if added != len(objs) {
		return fmt.Errorf("accesstest: put objects: added %d of %d", added, len(objs))
	}
	return nil
}

// LoadDirectory writes w's organisations, workspaces and memberships into dir.
func (w *World) LoadDirectory(ctx context.Context, dir hub.DirectoryStore) error {
	for _, o := range w.Orgs {
		c := *o
		if err := dir.CreateOrg(ctx, &c); err != nil {
			return fmt.Errorf("accesstest: create org %s: %w", o.Code, err)
		}
	}
	for _, x := range w.Workspaces {
		c := *x
		c.Members = nil // added one by one below, so that no store sees a member twice
		if err := dir.CreateWorkspace(ctx, &c); err != nil {
			return fmt.Errorf("accesstest: create workspace %s: %w", x.Slug, err)
		}
		for _, m := range x.Members {
			if err := dir.AddMember(ctx, x.Slug, m); err != nil {
				return fmt.Errorf("accesstest: add %s to %s: %w", m, x.Slug, err)
			}
		}
	}
	for _, r := range w.Removed {
		if err := dir.AddMember(ctx, r[0], r[1]); err != nil {
			return fmt.Errorf("accesstest: add %s to %s: %w", r[1], r[0], err)
		}
		if err := dir.RemoveMember(ctx, r[0], r[1]); err != nil {
			return fmt.Errorf("accesstest: remove %s from %s: %w", r[1], r[0], err)
		}
	}
	return nil
}

// Directory returns a read-only hub.DirectoryStore over w's organisations and workspaces, for
// tests of code that reads the directory when no real store is at hand. Its writing methods
// fail with hub.EForbidden, and it holds no users or API keys.
func (w *World) Directory() hub.DirectoryStore { return directory{w} }

type directory struct{ w *World }

func notFound(what, key string) error { return hub.Errorf(hub.ENotFound, "%s %q not found", what, key) }

func readOnly() error { return hub.Errorf(hub.EForbidden, "accesstest: directory is read-only") }

func cloneWorkspace(x *hub.Workspace) *hub.Workspace {
	c := *x
	c.Members = slices.Clone(x.Members)
	return &c
}

func (d directory) Org(_ context.Context, code string) (*hub.Org, error) {
	o := d.w.orgs[code]
	if o == nil {
		return nil, notFound("organisation", code)
	}
	c := *o
	return &c, nil
}

func (d directory) Orgs(context.Context) ([]*hub.Org, error) {
	s := make([]*hub.Org, len(d.w.Orgs))
	for i, o := range d.w.Orgs {
		c := *o
		s[i] = &c
	}
	return s, nil
}

func (d directory) Workspace(_ context.Context, slug string) (*hub.Workspace, error) {
	x := d.w.wss[slug]
	if x == nil {
		return nil, notFound("workspace", slug)
	}
	return cloneWorkspace(x), nil
}

func (d directory) Workspaces(context.Context) ([]*hub.Workspace, error) {
	s := make([]*hub.Workspace, len(d.w.Workspaces))
	for i, x := range d.w.Workspaces {
		s[i] = cloneWorkspace(x)
	}
	return s, nil
}

func (d directory) WorkspacesOf(_ context.Context, org string) ([]*hub.Workspace, error) {
	var s []*hub.Workspace
	for _, x := range d.w.Workspaces {
		if slices.Contains(x.Members, org) {
			s = append(s, cloneWorkspace(x))
		}
	}
	return s, nil
}

func (d directory) CreateOrg(context.Context, *hub.Org) error             { return readOnly() }
func (d directory) UpdateOrg(context.Context, *hub.Org) error             { return readOnly() }
func (d directory) CreateWorkspace(context.Context, *hub.Workspace) error { return readOnly() }
func (d directory) AddMember(context.Context, string, string) error       { return readOnly() }
func (d directory) RemoveMember(context.Context, string, string) error    { return readOnly() }
func (d directory) DeleteWorkspace(context.Context, string) error         { return readOnly() }
func (d directory) CreateUser(context.Context, *hub.User) error           { return readOnly() }
func (d directory) UpdateUser(context.Context, *hub.User) error           { return readOnly() }
func (d directory) CreateAPIKey(context.Context, *hub.APIKey) error       { return readOnly() }
func (d directory) RevokeAPIKey(context.Context, string) error            { return readOnly() }

func (d directory) User(_ context.Context, id int64) (*hub.User, error) {
	return nil, notFound("user", fmt.Sprint(id))
}

func (d directory) UserByName(_ context.Context, name string) (*hub.User, error) {
	return nil, notFound("user", name)
}

func (d directory) Users(context.Context, string) ([]*hub.User, error) { return nil, nil }

func (d directory) APIKey(_ context.Context, id string) (*hub.APIKey, error) {
	return nil, notFound("API key", id)
}

func (d directory) APIKeys(context.Context, string) ([]*hub.APIKey, error) { return nil, nil }
