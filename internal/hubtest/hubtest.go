// Package hubtest builds a whole hub for tests of the packages above the store: a real store
// (SQLite, or PostgreSQL when CSHUB_TEST_PG is set), a real barrier, bus, knowledge base, audit
// log, authenticator and members service, with three member CERTs sharing a community
// workspace and an API key of each scope for each of them. Features that serve endpoints mount
// them on the API with Serve.
package hubtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"cshub/internal/api"
	"cshub/internal/audit"
	"cshub/internal/auth"
	"cshub/internal/bus"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/members"
	"cshub/internal/seal"
	"cshub/internal/store/postgres"
	"cshub/internal/store/postgres/pgtest"
	"cshub/internal/store/sqlite"
)

// Orgs are the member organisations every test hub has, all in workspace Community.
var Orgs = []string{"cert-fr", "cert-be", "cert-uk"}

// Community is the workspace every member of a test hub belongs to.
const Community = "community"

// Backends names the stores a test hub can run on: "sqlite" always, "postgres" too when
// CSHUB_TEST_PG is set. Run a test over each with t.Run(backend, …) so that every feature is
// proven on both.
func Backends() []string {
	if pgtest.Available() {
		return []string{"sqlite", "postgres"}
	}
	return []string{"sqlite"}
}

// Hub is a hub assembled for a test. Its parts are closed when the test ends.
type Hub struct {
	Store   hub.Store
	Barrier *seal.Barrier
	Bus     *bus.Bus
	KB      *kb.Service
	Audit   *audit.Log
	Auth    *auth.Authenticator
	Members *members.Service
	// Keys holds an API key per organisation: Keys[org] may write, Keys[org+":read"] only read,
	// Keys[org+":admin"] is an organisation admin's admin-scoped key.
	Keys map[string]string
	// Users holds each organisation's analyst.
	Users map[string]*hub.User
}

// OpenStore returns an empty store on backend ("sqlite" or "postgres"; "" means sqlite),
// closed when tb ends, for tests that fill the directory themselves. A postgres store skips tb
// when CSHUB_TEST_PG is unset.
func OpenStore(tb testing.TB, backend string) hub.Store {
	tb.Helper()
	var st hub.Store
	var err error
	switch backend {
	case "", "sqlite":
		st, err = sqlite.Open(filepath.Join(tb.TempDir(), "hub.db"))
	case "postgres":
		st, err = postgres.Open(context.Background(), pgtest.Schema(tb))
	default:
		tb.Fatalf("hubtest: unknown backend %q", backend)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// Barrier initialises a barrier over st with a new root key and a data key for each of
// workspaces, as members.CreateWorkspace would make them.
func Barrier(tb testing.TB, st hub.Store, workspaces ...string) *seal.Barrier {
	tb.Helper()
	ctx := context.Background()
	b := seal.New(st)
	root, err := seal.NewRootKey()
	if err != nil {
		tb.Fatal(err)
	}
	if err := b.Initialize(ctx, root); err != nil {
		tb.Fatal(err)
	}
	for _, ws := range workspaces {
		if err := b.AddWorkspace(ctx, ws); err != nil {
			tb.Fatal(err)
		}
	}
	return b
}

// New returns a hub on backend (as for OpenStore).
func New(tb testing.TB, backend string) *Hub {
	tb.Helper()
	ctx := context.Background()
	st := OpenStore(tb, backend)
	b := Barrier(tb, st)
	// Cheap argon2id parameters: tests create many users, and the strength of the hash is
	// tested in package auth.
	a, err := auth.New(auth.Config{Directory: st, Open: members.TOTPOpener(b),
		Params: auth.Argon2Params{Memory: 8 << 10, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	if err != nil {
		tb.Fatal(err)
	}
	events := bus.New(bus.Options{})
	tb.Cleanup(func() { events.Close() })
	log := audit.New(st, audit.Barrier{B: b}, nil)
	h := &Hub{
		Store: st, Barrier: b, Bus: events, Audit: log, Auth: a,
		KB:      kb.New(kb.Config{Store: st, Sealer: b, Bus: events, Audit: log}),
		Members: members.New(st, b, a, nil),
		Keys:    map[string]string{},
		Users:   map[string]*hub.User{},
	}
	h.Members.SetAudit(log)
	for _, code := range Orgs {
		if err := h.Members.CreateOrg(ctx, &hub.Org{Code: code, Name: code, Country: "FR", Kind: hub.OrgMember, Active: true}); err != nil {
			tb.Fatal(err)
		}
	}
	if err := h.Members.CreateWorkspace(ctx, &hub.Workspace{Slug: Community, Kind: hub.WorkspaceCommunity, Members: Orgs}); err != nil {
		tb.Fatal(err)
	}
	for _, code := range Orgs {
		h.Users[code] = h.User(tb, code, code+"-analyst", hub.RoleAnalyst)
		h.Keys[code] = h.Key(tb, h.Users[code], hub.ScopeWrite)
		h.Keys[code+":read"] = h.Key(tb, h.Users[code], hub.ScopeRead)
		h.Keys[code+":admin"] = h.Key(tb, h.User(tb, code, code+"-admin", hub.RoleAdmin), hub.ScopeAdmin)
	}
	return h
}

// User creates a user of org with role and a random password.
func (h *Hub) User(tb testing.TB, org, username string, role hub.Role) *hub.User {
	tb.Helper()
	cu, err := h.Members.CreateUser(context.Background(), members.NewUser{Org: org, Username: username, Role: role, Password: rand.Text()})
	if err != nil {
		tb.Fatal(err)
	}
	return cu.User
}

// Key returns a new API key of u with scope, never expiring.
func (h *Hub) Key(tb testing.TB, u *hub.User, scope hub.Scope) string {
	tb.Helper()
	key, _, err := h.Members.CreateAPIKey(context.Background(), u, scope, time.Time{})
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

// Ingest stores a STIX bundle in ws as org, with recipients for TLP:RED, and fails tb on error.
func (h *Hub) Ingest(tb testing.TB, org, ws string, bundle []byte, recipients ...string) *kb.Summary {
	tb.Helper()
	sum, err := h.KB.Ingest(context.Background(), kb.Submission{Org: org, Workspace: ws, Recipients: recipients}, bytes.NewReader(bundle))
	if err != nil {
		tb.Fatal(err)
	}
	return sum
}

// Delete deletes each of objs's versions from the store and announces it with a
// hub.EventDelete, as TAXII DELETE does, so that what follows the bus drops it.
func (h *Hub) Delete(tb testing.TB, objs ...*hub.Object) {
	tb.Helper()
	ctx := context.Background()
	for _, o := range objs {
		if _, err := h.Store.DeleteObjects(ctx, []int64{o.Seq}); err != nil {
			tb.Fatal(err)
		}
		if _, err := h.Bus.Publish(ctx, hub.Event{Kind: hub.EventDelete, ObjectID: o.ID, ObjectSeq: o.Seq, Type: o.Type,
			Workspace: o.Workspace, Author: o.Author, TLP: o.TLP}); err != nil {
			tb.Fatal(err)
		}
	}
}

// Server is the hub's JSON API served over TLS on loopback.
type Server struct {
	*httptest.Server
}

// Serve serves the API over TLS with the given features mounted, until tb ends. cfg, when not
// nil, may set what else the API serves (lookup, search, stream); its KB, Dir and Auth are
// this hub's.
func (h *Hub) Serve(tb testing.TB, cfg *api.Config, features ...api.Routes) *Server {
	tb.Helper()
	var c api.Config
	if cfg != nil {
		c = *cfg
	}
	c.KB, c.Dir, c.Auth = h.KB, h.Store, h.Auth
	c.Features = append(c.Features, features...)
	srv := httptest.NewTLSServer(api.New(c))
	tb.Cleanup(srv.Close)
	return &Server{srv}
}

// Do sends a request with key as bearer token ("" for none) and returns the status and body.
func (s *Server) Do(tb testing.TB, key, method, path string, body []byte) (int, []byte) {
	tb.Helper()
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, b
}
