package auth

import (
	"context"
	"sync"

	"cshub/internal/hub"
)

// memDir is a small in-memory hub.DirectoryStore for these tests: users, organisations and API
// keys only; the workspace methods are not used by package auth.
type memDir struct {
	mu    sync.Mutex
	orgs  map[string]hub.Org
	users map[int64]hub.User
	keys  map[string]hub.APIKey
	next  int64
}

var _ hub.DirectoryStore = (*memDir)(nil)

func newMemDir() *memDir {
	return &memDir{orgs: map[string]hub.Org{}, users: map[int64]hub.User{}, keys: map[string]hub.APIKey{}}
}

func notFound(what string) error { return hub.Errorf(hub.ENotFound, "%s not found", what) }

func (d *memDir) CreateOrg(_ context.Context, o *hub.Org) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.orgs[o.Code]; ok {
		return hub.Errorf(hub.EConflict, "org exists")
	}
	d.orgs[o.Code] = *o
	return nil
}

func (d *memDir) UpdateOrg(_ context.Context, o *hub.Org) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.orgs[o.Code]; !ok {
		return notFound("org")
	}
	d.orgs[o.Code] = *o
	return nil
}

func (d *memDir) Org(_ context.Context, code string) (*hub.Org, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	o, ok := d.orgs[code]
	if !ok {
		return nil, notFound("org")
	}
	return &o, nil
}

func (d *memDir) Orgs(context.Context) ([]*hub.Org, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*hub.Org
	for _, o := range d.orgs {
		out = append(out, &o)
	}
	return out, nil
}

func (d *memDir) CreateWorkspace(context.Context, *hub.Workspace) error {
	return hub.Errorf(hub.EInternal, "unused")
}
func (d *memDir) Workspace(context.Context, string) (*hub.Workspace, error) {
	return nil, notFound("workspace")
}
func (d *memDir) Workspaces(context.Context) ([]*hub.Workspace, error)           { return nil, nil }
func (d *memDir) WorkspacesOf(context.Context, string) ([]*hub.Workspace, error) { return nil, nil }
func (d *memDir) AddMember(context.Context, string, string) error                { return notFound("workspace") }
func (d *memDir) RemoveMember(context.Context, string, string) error             { return notFound("workspace") }
func (d *memDir) DeleteWorkspace(context.Context, string) error                  { return notFound("workspace") }

func (d *memDir) CreateUser(_ context.Context, u *hub.User) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, x := range d.users {
		if x.Username == u.Username {
			return hub.Errorf(hub.EConflict, "user exists")
		}
	}
	d.next++
	u.ID = d.next
	d.users[u.ID] = *u
	return nil
}

func (d *memDir) UpdateUser(_ context.Context, u *hub.User) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.users[u.ID]; !ok {
		return notFound("user")
	}
	d.users[u.ID] = *u
	return nil
}

func (d *memDir) User(_ context.Context, id int64) (*hub.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	u, ok := d.users[id]
	if !ok {
		return nil, notFound("user")
	}
	return &u, nil
}

func (d *memDir) UserByName(_ context.Context, name string) (*hub.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, u := range d.users {
		if u.Username == name {
			return &u, nil
		}
	}
	return nil, notFound("user")
}

func (d *memDir) Users(_ context.Context, org string) ([]*hub.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*hub.User
	for _, u := range d.users {
		if org == "" || u.Org == org {
			out = append(out, &u)
		}
	}
	return out, nil
}

func (d *memDir) CreateAPIKey(_ context.Context, k *hub.APIKey) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.keys[k.ID]; ok {
		return hub.Errorf(hub.EConflict, "key exists")
	}
	d.keys[k.ID] = *k
	return nil
}

func (d *memDir) APIKey(_ context.Context, id string) (*hub.APIKey, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k, ok := d.keys[id]
	if !ok {
		return nil, notFound("API key")
	}
	return &k, nil
}

func (d *memDir) APIKeys(_ context.Context, org string) ([]*hub.APIKey, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*hub.APIKey
	for _, k := range d.keys {
		if org == "" || k.Org == org {
			out = append(out, &k)
		}
	}
	return out, nil
}

func (d *memDir) RevokeAPIKey(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	k, ok := d.keys[id]
	if !ok {
		return notFound("API key")
	}
	k.Revoked = true
	d.keys[id] = k
	return nil
}
