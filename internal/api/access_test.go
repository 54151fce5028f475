package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"cshub/internal/access"
	"cshub/internal/access/accesstest"
	"cshub/internal/api"
	"cshub/internal/auth"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/kb"
	"cshub/internal/members"
	"cshub/internal/seal"
	"cshub/internal/store/postgres"
	"cshub/internal/store/sqlite"
)

// TestAccessOverAPI is the adversarial access test of every read path the API has. A generated
// World (organisations active, inactive and unknown; workspaces private, community, group,
// exercise and empty; objects at every TLP level with random authors and recipients) is loaded
// into a real store with bodies sealed by a real barrier, each organisation gets an API key,
// and for every (organisation, object) triple on PathRead the API must answer exactly as the
// TLP 2.0 text (accesstest's Expect) does: GET /api/v1/objects/{id} is 200 with the object
// when it is visible and otherwise a 404 indistinguishable from that of an object that does
// not exist, and the paged listings hold exactly the visible objects. A single leak or wrong
// refusal fails the test.
func TestAccessOverAPI(t *testing.T) {
	// 110 objects × 10 organisations = 1,100 triples on PathRead alone (11,000 in all).
	w := accesstest.Generate(2026, 110)
	checkWorldShape(t, w)
	for _, b := range []struct {
		name string
		open func(t *testing.T) hub.Store // skips t when the store is not available
	}{
		{"sqlite", func(t *testing.T) hub.Store {
			st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
			if err != nil {
				t.Fatal(err)
			}
			return st
		}},
		{"postgres", func(t *testing.T) hub.Store {
			base := os.Getenv("CSHUB_TEST_PG")
			if base == "" {
				t.Skip("CSHUB_TEST_PG is unset: set it to a PostgreSQL URL, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
			}
			return openPostgresSchema(t, base)
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			h := newAccessHub(t, b.open(t), w)
			h.checkGet(t)
			h.checkListings(t)
		})
	}
}

// checkWorldShape makes sure the World is as adversarial as the issue asks, so that a change
// to the generator cannot quietly weaken this test.
func checkWorldShape(t *testing.T, w *accesstest.World) {
	t.Helper()
	read := 0
	for _, tr := range w.Triples {
		if tr.Path == access.PathRead {
			read++
		}
	}
	tlps := map[hub.TLP]bool{}
	for _, o := range w.Objects {
		tlps[o.TLP] = true
	}
	switch {
	case read < 1000:
		t.Fatalf("%d triples on PathRead, want at least 1,000", read)
	case len(w.Orgs) < 5:
		t.Fatalf("%d organisations, want at least 5", len(w.Orgs))
	case len(w.Workspaces) < 3:
		t.Fatalf("%d workspaces, want at least 3", len(w.Workspaces))
	case len(tlps) != 5:
		t.Fatalf("objects at %d TLP levels, want all 5", len(tlps))
	}
}

// accessHub is the API over one store loaded with a World, served over TLS.
type accessHub struct {
	w    *accesstest.World
	srv  *httptest.Server
	keys map[string]string // org code → read key; accesstest.Unknown has a well-formed key that was never stored
}

func newAccessHub(t *testing.T, st hub.Store, w *accesstest.World) *accessHub {
	t.Helper()
	ctx := context.Background()
	t.Cleanup(func() { st.Close() })
	var slugs []string
	for _, x := range w.Workspaces {
		slugs = append(slugs, x.Slug)
	}
	b := hubtest.Barrier(t, st, slugs...)
	sealBody := func(o *hub.Object) error {
		// Where package kb opens a body: the workspace, the object and its version.
		loc := seal.Location{Workspace: o.Workspace, Kind: "object", ID: o.ID, Version: o.Modified.UTC().Format(time.RFC3339Nano)}
		c, err := b.Encrypt(loc, o.Body)
		o.Body = c
		return err
	}
	if err := w.Load(ctx, st, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), sealBody); err != nil {
		t.Fatal(err)
	}

	a, err := auth.New(auth.Config{Directory: st, Params: auth.Argon2Params{Memory: 8 << 10, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	if err != nil {
		t.Fatal(err)
	}
	m := members.New(st, b, a, nil)
	h := &accessHub{w: w, keys: map[string]string{}}
	for _, o := range w.Orgs {
		cu, err := m.CreateUser(ctx, members.NewUser{Org: o.Code, Username: o.Code + "-analyst", Role: hub.RoleAnalyst, Password: rand.Text()})
		if err != nil {
			t.Fatalf("user of %s: %v", o.Code, err)
		}
		if h.keys[o.Code], _, err = m.CreateAPIKey(ctx, cu.User, hub.ScopeRead, time.Time{}); err != nil {
			t.Fatalf("key of %s: %v", o.Code, err)
		}
	}
	h.keys[accesstest.Unknown], _ = auth.NewAPIKey(accesstest.Unknown, 1<<40, hub.ScopeRead, time.Time{})

	h.srv = httptest.NewTLSServer(api.New(api.Config{KB: kb.New(kb.Config{Store: st, Sealer: b}), Dir: st, Auth: a}))
	t.Cleanup(h.srv.Close)
	return h
}

// refused reports whether org's key is refused outright (401): an inactive or unknown
// organisation, which sees nothing.
func (h *accessHub) refused(org string) bool {
	o := h.w.Org(org)
	return o == nil || !o.Active
}

// response is what the API answered.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (h *accessHub) get(org, path string) (response, error) {
	req, err := http.NewRequest("GET", h.srv.URL+path, nil)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Authorization", "Bearer "+h.keys[org])
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}, err
}

// missingID returns an id of the same type as id that no object has.
func missingID(id string) string {
	typ, _, _ := strings.Cut(id, "--")
	return typ + "--00000000-0000-4000-8000-000000000000"
}

// checkGet asks GET /api/v1/objects/{id} about every PathRead triple, for the latest version
// and for the version named by its modified time (another query in the store), and compares
// the answers with Expect.
func (h *accessHub) checkGet(t *testing.T) {
	t.Helper()
	// What each organisation is told about an object that does not exist: a refusal must read
	// exactly the same once the ids are blanked out.
	absent := map[string]response{}
	rw := *h.w // the same World, asked on PathRead only: the one path this API serves
	rw.Triples = slices.DeleteFunc(slices.Clone(h.w.Triples), func(tr accesstest.Triple) bool { return tr.Path != access.PathRead })
	var asked, allowed int
	leaks, refusals, err := rw.Compare(func(tr accesstest.Triple) (bool, error) {
		asked++
		latest, err := h.fetch(tr.Org, tr.Object, "", absent)
		if err != nil {
			return latest, err
		}
		versioned, err := h.fetch(tr.Org, tr.Object, "?version="+url.QueryEscape(tr.Object.Modified.Format(time.RFC3339Nano)), absent)
		if err != nil {
			return versioned, fmt.Errorf("with ?version: %w", err)
		}
		if latest != versioned {
			t.Errorf("GET %s as %s: found = %v for the latest version but %v for the version by its modified time",
				tr.Object.ID, tr.Org, latest, versioned)
		}
		if latest {
			allowed++
		}
		return latest || versioned, nil // either one letting the object out is a leak
	})
	for _, m := range leaks {
		t.Errorf("GET /api/v1/objects/{id}: %v", m)
	}
	for _, m := range refusals {
		t.Errorf("GET /api/v1/objects/{id}: %v", m)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("GET: %d triples, %d allowed, %d leaks, %d wrong refusals", asked, allowed, len(leaks), len(refusals))
}

// fetch asks GET /api/v1/objects/{id}query as org and reports whether it gave o out. A 200
// must carry o; a 404 (a 401 for an organisation whose key is refused) must read exactly like
// the answer about an id that does not exist, kept in absent.
func (h *accessHub) fetch(org string, o *hub.Object, query string, absent map[string]response) (bool, error) {
	r, err := h.get(org, "/api/v1/objects/"+url.PathEscape(o.ID)+query)
	if err != nil {
		return false, err
	}
	switch r.status {
	case http.StatusOK:
		if !sameJSON(r.body, o.Body) {
			return true, fmt.Errorf("body %s, want %s", r.body, o.Body)
		}
		for k, want := range map[string]string{"X-Cshub-Workspace": o.Workspace, "X-Cshub-Tlp": o.TLP.String(), "X-Cshub-Author": o.Author} {
			if got := r.header.Get(k); got != want {
				return true, fmt.Errorf("header %s = %q, want %q", k, got, want)
			}
		}
		return true, nil
	case http.StatusNotFound, http.StatusUnauthorized:
		if (r.status == http.StatusUnauthorized) != h.refused(org) {
			return false, fmt.Errorf("status %d for an organisation that is active=%v: %s", r.status, !h.refused(org), r.body)
		}
		miss := missingID(o.ID)
		path := "/api/v1/objects/" + miss + query
		a, ok := absent[org+" "+path]
		if !ok {
			if a, err = h.get(org, path); err != nil {
				return false, err
			}
			absent[org+" "+path] = a
		}
		blank := func(b []byte, id string) []byte { return bytes.ReplaceAll(b, []byte(id), []byte("ID")) }
		if a.status != r.status || !bytes.Equal(blank(r.body, o.ID), blank(a.body, miss)) || !sameHeaders(a.header, r.header) {
			return false, fmt.Errorf("a refusal reads differently from a missing object:\n%d %v %s\n%d %v %s", r.status, r.header, r.body, a.status, a.header, a.body)
		}
		return false, nil
	}
	return false, fmt.Errorf("status %d: %s", r.status, r.body)
}

// checkListings pages through GET /api/v1/objects as every organisation, in all and narrowed to
// each workspace (a narrowing that replaced the caller's workspaces instead of intersecting
// with them would leak), and compares each listing with ExpectObjects.
func (h *accessHub) checkListings(t *testing.T) {
	t.Helper()
	orgs := []string{accesstest.Unknown}
	for _, o := range h.w.Orgs {
		orgs = append(orgs, o.Code)
	}
	scopes := []string{""}
	for _, x := range h.w.Workspaces {
		scopes = append(scopes, x.Slug)
	}
	scopes = append(scopes, "no-such-workspace")
	var listed, leaks, refusals int
	for _, org := range orgs {
		for _, ws := range scopes {
			var want []*hub.Object
			for _, o := range h.w.ExpectObjects(org, access.PathRead) {
				if ws == "" || o.Workspace == ws {
					want = append(want, o)
				}
			}
			got, err := h.list(org, ws, 7)
			if err != nil {
				t.Fatalf("%s lists %q: %v", org, ws, err)
			}
			listed += len(got)
			wantIDs := make([]string, len(want))
			wantBody := map[string][]byte{}
			for i, o := range want {
				wantIDs[i] = o.ID
				wantBody[o.ID] = o.Body
			}
			gotIDs := make([]string, len(got))
			for i, g := range got {
				gotIDs[i] = g.id
				if b, ok := wantBody[g.id]; ok && !sameJSON(g.body, b) {
					t.Errorf("%s lists %q: body of %s is %s, want %s", org, ws, g.id, g.body, b)
				}
			}
			for _, id := range gotIDs {
				if _, ok := wantBody[id]; !ok {
					leaks++
					t.Errorf("%s lists %q: LEAKED %s", org, ws, id)
				}
			}
			for _, id := range wantIDs {
				if !slices.Contains(gotIDs, id) {
					refusals++
					t.Errorf("%s lists %q: wrongly left out %s", org, ws, id)
				}
			}
			if !slices.Equal(gotIDs, wantIDs) && !t.Failed() {
				t.Errorf("%s lists %q in the order %v, want the order of storing %v", org, ws, gotIDs, wantIDs)
			}
		}
	}
	t.Logf("listings: %d organisations × %d scopes, %d objects listed, %d leaks, %d wrong refusals",
		len(orgs), len(scopes), listed, leaks, refusals)
}

type listed struct {
	id   string
	body json.RawMessage
}

// list pages through GET /api/v1/objects?limit=limit[&workspace=ws] as org and returns what it
// lists, checking that every page but the last is full and no object comes twice. An
// organisation whose key is refused must get 401 and so lists nothing.
func (h *accessHub) list(org, ws string, limit int) ([]listed, error) {
	var out []listed
	seen := map[string]bool{}
	after := ""
	for pages := 0; ; pages++ {
		q := url.Values{"limit": {fmt.Sprint(limit)}}
		if ws != "" {
			q.Set("workspace", ws)
		}
		if after != "" {
			q.Set("after", after)
		}
		r, err := h.get(org, "/api/v1/objects?"+q.Encode())
		if err != nil {
			return nil, err
		}
		if h.refused(org) {
			if r.status != http.StatusUnauthorized {
				return nil, fmt.Errorf("status %d for a refused organisation, want 401: %s", r.status, r.body)
			}
			return nil, nil
		}
		if r.status != http.StatusOK {
			return nil, fmt.Errorf("page %d: status %d: %s", pages, r.status, r.body)
		}
		var page struct {
			Objects []json.RawMessage
			Next    string
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			return nil, fmt.Errorf("page %d: %v: %s", pages, err, r.body)
		}
		for _, b := range page.Objects {
			var o struct{ ID string }
			if err := json.Unmarshal(b, &o); err != nil || o.ID == "" {
				return nil, fmt.Errorf("page %d: listed %s, not a STIX object", pages, b)
			}
			if seen[o.ID] {
				return nil, fmt.Errorf("page %d: %s listed twice", pages, o.ID)
			}
			seen[o.ID] = true
			out = append(out, listed{o.ID, b})
		}
		if page.Next == "" {
			if len(page.Objects) >= limit {
				return nil, fmt.Errorf("page %d is full but has no next cursor", pages)
			}
			return out, nil
		}
		if len(page.Objects) != limit {
			return nil, fmt.Errorf("page %d has %d objects and a next cursor: every page but the last must hold %d", pages, len(page.Objects), limit)
		}
		if pages > len(h.w.Objects) {
			return nil, fmt.Errorf("paging does not end")
		}
		after = page.Next
	}
}

// sameJSON reports whether a and b are the same JSON once insignificant space is removed.
func sameJSON(a, b []byte) bool {
	var ca, cb bytes.Buffer
	return json.Compact(&ca, a) == nil && json.Compact(&cb, b) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
}

// sameHeaders reports whether a and b are the same response headers but for the time they were
// sent.
func sameHeaders(a, b http.Header) bool {
	a, b = a.Clone(), b.Clone()
	a.Del("Date")
	b.Del("Date")
	return reflect.DeepEqual(a, b)
}

// openPostgresSchema opens a PostgreSQL store in a schema of its own, so that tests running at
// the same time do not meet, and drops the schema when t ends (after the store is closed).
func openPostgresSchema(t *testing.T, base string) hub.Store {
	t.Helper()
	ctx := context.Background()
	schema := fmt.Sprintf("cshub_api_access_%d_%d", os.Getpid(), mrand.Uint64()%1_000_000_000)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("CSHUB_TEST_PG: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("CSHUB_TEST_PG: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	st, err := postgres.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	return st
}
