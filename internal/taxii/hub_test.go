package taxii_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cshub/internal/auth"
	"cshub/internal/bus"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/members"
	"cshub/internal/seal"
	"cshub/internal/store/sqlite"
	"cshub/internal/taxii"
)

// testHub is the TAXII server over a real SQLite store and a real barrier, mounted as the lead
// mounts it: under /taxii2/ beside another handler at /.
type testHub struct {
	srv     *httptest.Server
	handler http.Handler // the outer mux, for benchmarks without a network
	kb      *kb.Service
	bus     *bus.Bus          // carries the deletions the server announces
	keys    map[string]string // org → write key; org+":read" → read key
	users   map[string]string // org → user name of the keys
}

// The test world: three members in "community", cert-fr alone in "fr-private", and all three in
// the exercise workspace "drill", which TAXII never shows.
var orgs = []string{"cert-fr", "cert-be", "cert-uk"}

func newTestHub(t testing.TB) *testHub {
	t.Helper()
	return newTestHubWith(t, nil)
}

// newTestHubWith builds the test hub with a TAXII configuration changed by edit.
func newTestHubWith(t testing.TB, edit func(*taxii.Config)) *testHub {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := seal.New(st)
	root, _ := seal.NewRootKey()
	if err := b.Initialize(ctx, root); err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{Directory: st, Params: auth.Argon2Params{Memory: 8 << 10, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	if err != nil {
		t.Fatal(err)
	}
	m := members.New(st, b, a, nil)
	h := &testHub{keys: map[string]string{}, users: map[string]string{}}
	for _, code := range orgs {
		if err := m.CreateOrg(ctx, &hub.Org{Code: code, Name: code, Country: "FR", Kind: hub.OrgMember, Active: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []*hub.Workspace{
		{Slug: "community", Name: "Community", Kind: hub.WorkspaceCommunity, Members: orgs},
		{Slug: "fr-private", Kind: hub.WorkspacePrivate, Members: []string{"cert-fr"}},
		{Slug: "drill", Name: "Drill", Kind: hub.WorkspaceExercise, Members: orgs},
	} {
		if err := m.CreateWorkspace(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	for _, code := range orgs {
		cu, err := m.CreateUser(ctx, members.NewUser{Org: code, Username: code + "-analyst", Role: hub.RoleAnalyst, Password: rand.Text()})
		if err != nil {
			t.Fatal(err)
		}
		h.users[code] = cu.User.Username
		if h.keys[code], _, err = m.CreateAPIKey(ctx, cu.User, hub.ScopeWrite, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if h.keys[code+":read"], _, err = m.CreateAPIKey(ctx, cu.User, hub.ScopeRead, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	h.kb = kb.New(kb.Config{Store: st, Sealer: b})
	h.bus = bus.New(bus.Options{})
	t.Cleanup(func() { h.bus.Close() })
	mux := http.NewServeMux()
	cfg := taxii.Config{KB: h.kb, Dir: st, Objects: st, Bus: h.bus, Auth: a, Title: "test hub", MaxContentLength: 1 << 20, MaxStatuses: 3}
	if edit != nil {
		edit(&cfg)
	}
	mux.Handle("/taxii2/", taxii.New(cfg))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "api", http.StatusTeapot) })
	h.handler = mux
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	return h
}

// response is what a request got back.
type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response %d is not JSON: %v\n%s", r.code, err, r.body)
	}
}

// req sends a request with the given key (none when ""), the TAXII Accept header unless hdr sets
// another, and, for a body, the TAXII Content-Type unless hdr sets another.
func (h *testHub) req(t testing.TB, key, method, path string, body []byte, hdr ...string) response {
	t.Helper()
	r, err := h.try(key, method, path, body, hdr...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// try is req for goroutines other than the test's own, which may not call t.Fatal.
func (h *testHub) try(key, method, path string, body []byte, hdr ...string) (response, error) {
	req, err := http.NewRequest(method, h.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Accept", taxii.MediaType)
	if body != nil {
		req.Header.Set("Content-Type", taxii.MediaType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{resp.StatusCode, resp.Header, b}, nil
}

func (h *testHub) get(t testing.TB, org, path string, hdr ...string) response {
	t.Helper()
	return h.req(t, h.keys[org], "GET", path, nil, hdr...)
}

// post adds the objects to a collection as org and returns the status resource.
func (h *testHub) post(t testing.TB, org, coll string, objs ...string) status {
	t.Helper()
	r := h.req(t, h.keys[org], "POST", root+"collections/"+coll+"/objects/", envelope(objs...))
	if r.code != http.StatusAccepted {
		t.Fatalf("POST objects: %d %s", r.code, r.body)
	}
	var st status
	r.decode(t, &st)
	return st
}

const root = "/taxii2/cshub/"

var community = taxii.CollectionID("community")

func envelope(objs ...string) []byte {
	return []byte(`{"objects":[` + strings.Join(objs, ",") + `]}`)
}

// indicator returns a STIX 2.1 indicator; n numbers its UUID, modified is its version and
// markings its object_marking_refs.
func indicator(n int, modified string, markings ...string) string {
	refs := ""
	if len(markings) > 0 {
		b, _ := json.Marshal(markings)
		refs = `,"object_marking_refs":` + string(b)
	}
	return fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-%012d",`+
		`"created":"2020-01-01T00:00:00.000Z","modified":%q,"name":"indicator %d","pattern":"[ipv4-addr:value = '192.0.2.%d']",`+
		`"pattern_type":"stix","valid_from":"2020-01-01T00:00:00Z"%s}`, n, modified, n, n%250, refs)
}

func indicatorID(n int) string { return fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", n) }

func malware(n int) string {
	return fmt.Sprintf(`{"type":"malware","spec_version":"2.1","id":"malware--00000000-0000-4000-8000-%012d",`+
		`"created":"2021-01-01T00:00:00.000Z","modified":"2021-01-01T00:00:00.000Z","name":"malware %d","is_family":true}`, n, n)
}

const (
	tlpGreen = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
	tlpRed   = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
)

// Resources as a client reads them.
type (
	envelopeRes struct {
		More    bool             `json:"more"`
		Next    string           `json:"next"`
		Objects []map[string]any `json:"objects"`
	}
	status struct {
		ID           string `json:"id"`
		Status       string `json:"status"`
		TotalCount   int    `json:"total_count"`
		SuccessCount int    `json:"success_count"`
		FailureCount int    `json:"failure_count"`
		PendingCount int    `json:"pending_count"`
		Successes    []statusDetail
		Failures     []statusDetail
	}
	statusDetail struct{ ID, Version, Message string }
	errorRes     struct {
		Title       string            `json:"title"`
		Description string            `json:"description"`
		ErrorCode   string            `json:"error_code"`
		HTTPStatus  string            `json:"http_status"`
		Details     map[string]string `json:"details"`
	}
	manifestRes struct {
		More    bool   `json:"more"`
		Next    string `json:"next"`
		Objects []struct {
			ID        string `json:"id"`
			DateAdded string `json:"date_added"`
			Version   string `json:"version"`
			MediaType string `json:"media_type"`
		} `json:"objects"`
	}
	versionsRes struct {
		More     bool     `json:"more"`
		Versions []string `json:"versions"`
	}
)

func ids(e envelopeRes) []string {
	var out []string
	for _, o := range e.Objects {
		out = append(out, o["id"].(string)+"@"+o["modified"].(string))
	}
	return out
}
