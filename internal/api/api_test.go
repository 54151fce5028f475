package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cshub/internal/api"
	"cshub/internal/auth"
	"cshub/internal/bus"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/lookup"
	"cshub/internal/members"
	"cshub/internal/seal"
	"cshub/internal/search"
	"cshub/internal/store/sqlite"
)

// testHub is the API over a real SQLite store and a real barrier, served over TLS, with an
// analyst and a read-only key for each of three members.
type testHub struct {
	srv  *httptest.Server
	keys map[string]string // org → write key; org+":read" → read key
}

func newTestHub(t *testing.T) *testHub {
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
	orgs := []string{"cert-fr", "cert-be", "cert-uk"}
	h := &testHub{keys: map[string]string{}}
	for _, code := range orgs {
		if err := m.CreateOrg(ctx, &hub.Org{Code: code, Name: code, Country: "FR", Kind: hub.OrgMember, Active: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.CreateWorkspace(ctx, &hub.Workspace{Slug: "community", Kind: hub.WorkspaceCommunity, Members: orgs}); err != nil {
		t.Fatal(err)
	}
	for _, code := range orgs {
		cu, err := m.CreateUser(ctx, members.NewUser{Org: code, Username: code + "-analyst", Role: hub.RoleAnalyst, Password: rand.Text()})
		if err != nil {
			t.Fatal(err)
		}
		if h.keys[code], _, err = m.CreateAPIKey(ctx, cu.User, hub.ScopeWrite, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if h.keys[code+":read"], _, err = m.CreateAPIKey(ctx, cu.User, hub.ScopeRead, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	events := bus.New(bus.Options{})
	t.Cleanup(func() { events.Close() })
	k := kb.New(kb.Config{Store: st, Sealer: b, Bus: events})
	lookups := lookup.New(k, nil)
	lctx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	if _, err := lookups.Start(lctx, events); err != nil {
		t.Fatal(err)
	}
	index := search.New()
	indexed, err := events.Subscribe(lctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	go k.Follow(lctx, indexed, func(o *hub.Object) { index.Add(o) })
	h.srv = httptest.NewTLSServer(api.New(api.Config{KB: k, Dir: st, Auth: a, Lookup: lookups, Search: index}))
	t.Cleanup(h.srv.Close)
	return h
}

// do sends a request as org (key "" for none) and returns the status and body.
func (h *testHub) do(t *testing.T, key, method, path string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func file(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBundleIngestListAndGet(t *testing.T) {
	h := newTestHub(t)
	code, body := h.do(t, h.keys["cert-fr"], "POST", "/api/v1/workspaces/community/bundles", file(t, "scenario.json"))
	if code != 200 {
		t.Fatalf("POST bundle: %d %s", code, body)
	}
	var sum kb.Summary
	if err := json.Unmarshal(body, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Accepted != 8 || len(sum.IDs) != 8 {
		t.Fatalf("summary %s, want 8 accepted with their ids", body)
	}

	// Page through the indicators two at a time: every page full but the last, no repeats.
	seen := map[string]bool{}
	after := ""
	for pages := 0; ; pages++ {
		path := "/api/v1/objects?type=indicator&limit=2"
		if after != "" {
			path += "&after=" + after
		}
		code, body := h.do(t, h.keys["cert-uk"], "GET", path, nil)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		var page struct {
			Objects []map[string]any
			Next    string
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Objects {
			id := o["id"].(string)
			if seen[id] {
				t.Fatalf("%s listed twice", id)
			}
			seen[id] = true
		}
		if page.Next == "" {
			break
		}
		after = page.Next
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != 3 {
		t.Errorf("listed %d indicators, want 3", len(seen))
	}

	code, body = h.do(t, h.keys["cert-uk"], "GET", "/api/v1/objects/indicator--0f4208e2-1357-5d38-a8b3-065ff8822306", nil)
	if code != 200 || !strings.Contains(string(body), "login-ministry.example") {
		t.Fatalf("GET object: %d %s", code, body)
	}
	code, _ = h.do(t, h.keys["cert-uk"], "GET", "/api/v1/objects/indicator--0f4208e2-1357-5d38-a8b3-065ff8822306?version=2019-02-01T00:00:00.000Z", nil)
	if code != 200 {
		t.Errorf("GET object by version: %d", code)
	}
	code, _ = h.do(t, h.keys["cert-uk"], "GET", "/api/v1/objects/indicator--0f4208e2-1357-5d38-a8b3-065ff8822306?version=2020-01-01T00:00:00Z", nil)
	if code != 404 {
		t.Errorf("GET a version that does not exist: %d, want 404", code)
	}
}

func TestRedObjectIsNotFoundForOthers(t *testing.T) {
	h := newTestHub(t)
	code, body := h.do(t, h.keys["cert-fr"], "POST", "/api/v1/workspaces/community/bundles?recipients=cert-be", file(t, "red-finding.json"))
	if code != 200 {
		t.Fatalf("POST: %d %s", code, body)
	}
	const id = "indicator--2fd6d87e-3bbb-528b-ab8e-d2816ad3b1ca"
	for org, want := range map[string]int{"cert-fr": 200, "cert-be": 200, "cert-uk": 404} {
		if code, body := h.do(t, h.keys[org], "GET", "/api/v1/objects/"+id, nil); code != want {
			t.Errorf("%s: GET RED object = %d %s, want %d", org, code, body, want)
		}
		_, body := h.do(t, h.keys[org], "GET", "/api/v1/objects?type=indicator", nil)
		if got := bytes.Contains(body, []byte(id)); got != (want == 200) {
			t.Errorf("%s: listed = %v, want %v", org, got, want == 200)
		}
	}
	_, missing := h.do(t, h.keys["cert-uk"], "GET", "/api/v1/objects/indicator--00000000-0000-4000-8000-000000000000", nil)
	_, hidden := h.do(t, h.keys["cert-uk"], "GET", "/api/v1/objects/"+id, nil)
	if !bytes.Equal(bytes.ReplaceAll(hidden, []byte(id), nil), bytes.ReplaceAll(missing, []byte("indicator--00000000-0000-4000-8000-000000000000"), nil)) {
		t.Errorf("a hidden RED object answers differently from a missing one:\n%s\n%s", hidden, missing)
	}
}

func TestErrorsNameTheFieldAndReason(t *testing.T) {
	h := newTestHub(t)
	cases := []struct {
		name, key, method, path string
		body                    []byte
		status                  int
		field                   string
	}{
		{"no key", "", "GET", "/api/v1/objects", nil, 401, "Authorization"},
		{"bad key", "cshub_0123456789abcdef_" + strings.Repeat("a", 52), "GET", "/api/v1/objects", nil, 401, ""},
		{"read key writes", h.keys["cert-fr:read"], "POST", "/api/v1/workspaces/community/bundles", file(t, "scenario.json"), 403, "Authorization"},
		{"bad limit", h.keys["cert-fr"], "GET", "/api/v1/objects?limit=0", nil, 400, "limit"},
		{"bad cursor", h.keys["cert-fr"], "GET", "/api/v1/objects?after=x", nil, 400, "after"},
		{"bad version", h.keys["cert-fr"], "GET", "/api/v1/objects/x?version=yesterday", nil, 400, "version"},
		{"bad tlp", h.keys["cert-fr"], "POST", "/api/v1/workspaces/community/bundles?tlp=purple", file(t, "scenario.json"), 400, "tlp"},
		{"unknown workspace", h.keys["cert-fr"], "POST", "/api/v1/workspaces/nowhere/bundles", file(t, "scenario.json"), 400, "workspace"},
		{"unknown recipient", h.keys["cert-fr"], "POST", "/api/v1/workspaces/community/bundles?recipients=cert-zz", file(t, "red-finding.json"), 400, "recipients"},
		{"not JSON", h.keys["cert-fr"], "POST", "/api/v1/workspaces/community/bundles", []byte("{not json"), 400, "body"},
		{"no such endpoint", h.keys["cert-fr"], "GET", "/api/v1/nothing", nil, 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := h.do(t, tc.key, tc.method, tc.path, tc.body)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %s", code, tc.status, body)
			}
			var e struct {
				Error struct{ Code, Field, Message string }
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body is not JSON: %s", body)
			}
			if e.Error.Code == "" || e.Error.Message == "" {
				t.Errorf("error without code or message: %s", body)
			}
			if e.Error.Field != tc.field {
				t.Errorf("field = %q, want %q (%s)", e.Error.Field, tc.field, body)
			}
		})
	}
}

func TestHealthz(t *testing.T) {
	h := newTestHub(t)
	if code, body := h.do(t, "", "GET", "/healthz", nil); code != 200 || !bytes.Contains(body, []byte("ok")) {
		t.Fatalf("healthz: %d %s", code, body)
	}
}

func TestTextIngestLinksExtractedEntities(t *testing.T) {
	h := newTestHub(t)
	req, _ := http.NewRequest("POST", h.srv.URL+"/api/v1/workspaces/community/ingest", bytes.NewReader(file(t, "report.txt")))
	req.Header.Set("Authorization", "Bearer "+h.keys["cert-fr"])
	req.Header.Set("Content-Type", "text/plain")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("ingest text: %d %s", resp.StatusCode, body)
	}
	var sum kb.Summary
	if err := json.Unmarshal(body, &sum); err != nil {
		t.Fatal(err)
	}
	var report string
	for _, id := range sum.IDs {
		if strings.HasPrefix(id, "report--") {
			report = id
		}
	}
	if report == "" {
		t.Fatalf("no report among the ids: %s", body)
	}
	_, rep := h.do(t, h.keys["cert-uk"], "GET", "/api/v1/objects/"+report, nil)
	for _, want := range []string{
		"intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c", // APT28, from "Sofacy" and "Fancy Bear"
		"intrusion-set--269e8108-68c6-4f99-b911-14b2e765dec2", // MuddyWater
		"tool--b76b2d94-60e4-4107-a903-4a3a7622fb3b",          // LaZagne
	} {
		if !bytes.Contains(rep, []byte(want)) {
			t.Errorf("report does not link %s: %s", want, rep)
		}
	}
	_, inds := h.do(t, h.keys["cert-uk"], "GET", "/api/v1/objects?type=indicator", nil)
	for _, want := range []string{"login-ministry.example", "secure-mail.example.net"} {
		if !bytes.Contains(inds, []byte(want)) {
			t.Errorf("no indicator for the defanged %s", want)
		}
	}
}

func TestMatchExactCaseParentDomainCIDRAndAccess(t *testing.T) {
	h := newTestHub(t)
	for _, b := range []struct{ path, file string }{
		{"/api/v1/workspaces/community/bundles", "scenario.json"},
		{"/api/v1/workspaces/community/bundles?recipients=cert-be", "red-finding.json"},
	} {
		if code, body := h.do(t, h.keys["cert-fr"], "POST", b.path, file(t, b.file)); code != 200 {
			t.Fatalf("POST %s: %d %s", b.file, code, body)
		}
	}
	values := []string{"login-ministry.example", "www.login-ministry.example", "203.0.113.9", "8.8.8.8", "example.org", "LOGIN-MINISTRY.EXAMPLE", "192.0.2.55"}
	want := map[string]string{"login-ministry.example": "exact", "www.login-ministry.example": "parent-domain", "203.0.113.9": "cidr", "LOGIN-MINISTRY.EXAMPLE": "exact"}
	query, _ := json.Marshal(map[string]any{"values": values})
	lists := map[string][]string{}
	ask := func(org string) map[string][]map[string]any {
		code, body := h.do(t, h.keys[org], "POST", "/api/v1/match", query)
		if code != 200 {
			t.Fatalf("match as %s: %d %s", org, code, body)
		}
		var r struct {
			Results []struct {
				Value        string
				Matches      []map[string]any
				Warninglists []string
			}
		}
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		out := map[string][]map[string]any{}
		for _, x := range r.Results {
			out[x.Value] = x.Matches
			lists[x.Value] = x.Warninglists
		}
		return out
	}
	// The index follows the bus in order: once the RED finding, posted last, matches for its
	// recipient, everything before it is indexed too.
	deadline := time.Now().Add(5 * time.Second)
	for len(ask("cert-be")["192.0.2.55"]) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got := ask("cert-uk")
	for _, v := range values {
		how, hit := want[v]
		if (len(got[v]) > 0) != hit {
			t.Errorf("%s: %d matches for cert-uk, want hit=%v", v, len(got[v]), hit)
			continue
		}
		if hit && got[v][0]["how"] != how {
			t.Errorf("%s matched %v, want %s", v, got[v][0]["how"], how)
		}
	}
	// A hit in a documentation range is flagged; a hit on a real-looking name is not, and a
	// value without hits says nothing (8.8.8.8 is a public resolver but nobody shared it).
	if l := lists["203.0.113.9"]; !slices.Contains(l, "List of RFC 5735 CIDR blocks") {
		t.Errorf("203.0.113.9 warninglists %q, want the RFC 5735 list", l)
	}
	if l := lists["login-ministry.example"]; l != nil {
		t.Errorf("login-ministry.example warninglists %q, want none", l)
	}
	if l := lists["8.8.8.8"]; l != nil {
		t.Errorf("8.8.8.8 has no matches but warninglists %q", l)
	}
	if len(ask("cert-be")["192.0.2.55"]) != 1 {
		t.Error("the RED indicator does not match for its recipient cert-be")
	}
	if code, body := h.do(t, h.keys["cert-fr"], "POST", "/api/v1/match", []byte(`{"values":[]}`)); code != 400 || !bytes.Contains(body, []byte(`"values"`)) {
		t.Errorf("empty values: %d %s", code, body)
	}
}

// TestMatchBodies: bodies outside the plain form are read (or refused, naming the field) as
// encoding/json reads them, and every answer is byte for byte what encoding/json writes.
func TestMatchBodies(t *testing.T) {
	h := newTestHub(t)
	if code, body := h.do(t, h.keys["cert-fr"], "POST", "/api/v1/workspaces/community/bundles", file(t, "scenario.json")); code != 200 {
		t.Fatalf("POST scenario: %d %s", code, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) { // the index follows the bus
		if _, body := h.do(t, h.keys["cert-uk"], "POST", "/api/v1/match", []byte(`{"values":["login-ministry.example"]}`)); bytes.Contains(body, []byte(`"how"`)) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range []struct {
		body  string
		code  int
		field string // for an error
		hits  int    // values with matches, for an answer
	}{
		{`{"values":["login-ministry.example","8.8.8.8","a<b>&c","é"]}`, 200, "", 1},
		{`{"values":["www.login-ministry.example","\u0038.8.8.8"]}`, 200, "", 1},
		{`{"Values":["login-ministry.example"]}`, 200, "", 1},
		{`{"values":["login-ministry.example"],"more":true} trailing`, 200, "", 1},
		{"{\"values\":[\"\xff\"]}", 200, "", 0},
		{`{"values":[]}`, 400, "values", 0},
		{`{"values":null}`, 400, "values", 0},
		{`{"other":["x"]}`, 400, "values", 0},
		{`{"values":"login-ministry.example"}`, 400, "body", 0},
		{`{"values":[1]}`, 400, "body", 0},
		{`{"values":["a"`, 400, "body", 0},
		{``, 400, "body", 0},
	} {
		code, body := h.do(t, h.keys["cert-uk"], "POST", "/api/v1/match", []byte(c.body))
		if code != c.code {
			t.Errorf("%s: %d %s; want %d", c.body, code, body, c.code)
			continue
		}
		if code != 200 {
			var e struct{ Error struct{ Field string } }
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Field != c.field {
				t.Errorf("%s: %s; want an error naming %q", c.body, body, c.field)
			}
			continue
		}
		var answer struct{ Results []lookup.Result }
		if err := json.Unmarshal(body, &answer); err != nil {
			t.Fatalf("%s: %v: %s", c.body, err, body)
		}
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(map[string]any{"results": answer.Results}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, want.Bytes()) {
			t.Errorf("%s: answer\n%s\nencoding/json writes\n%s", c.body, body, want.Bytes())
		}
		hits := 0
		for _, r := range answer.Results {
			if len(r.Matches) > 0 {
				hits++
			}
		}
		if hits != c.hits {
			t.Errorf("%s: %d values with matches; want %d: %s", c.body, hits, c.hits, body)
		}
	}
}

// TestMatchObservedOverAPI: a sensor posts what it saw as observed-data; the RED indicator
// answers only for its recipient, and a bundle without observations names the field.
func TestMatchObservedOverAPI(t *testing.T) {
	h := newTestHub(t)
	if code, body := h.do(t, h.keys["cert-fr"], "POST", "/api/v1/workspaces/community/bundles?recipients=cert-be", file(t, "red-finding.json")); code != 200 {
		t.Fatalf("POST red finding: %d %s", code, body)
	}
	observed := []byte(`{"type":"bundle","id":"bundle--1d1c3f0e-2a54-4b8e-9a51-0c9a1e1f2b33","objects":[
		{"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--7d2a1f40-8a4b-4a3c-9f2e-1b2c3d4e5f60","value":"192.0.2.55"},
		{"type":"observed-data","spec_version":"2.1","id":"observed-data--0f1e2d3c-4b5a-4968-8776-655443322110",
		 "created":"2026-11-20T08:00:00.000Z","modified":"2026-11-20T08:00:00.000Z","first_observed":"2026-11-20T07:00:00Z",
		 "last_observed":"2026-11-20T07:00:00Z","number_observed":3,"object_refs":["ipv4-addr--7d2a1f40-8a4b-4a3c-9f2e-1b2c3d4e5f60"]}]}`)
	hits := func(org string) int {
		code, body := h.do(t, h.keys[org], "POST", "/api/v1/match/observed", observed)
		if code != 200 {
			t.Fatalf("as %s: %d %s", org, code, body)
		}
		var r struct {
			Results []struct{ Matches []map[string]any }
		}
		if err := json.Unmarshal(body, &r); err != nil || len(r.Results) != 1 {
			t.Fatalf("as %s: %v %s", org, err, body)
		}
		return len(r.Results[0].Matches)
	}
	deadline := time.Now().Add(5 * time.Second)
	for hits("cert-be") == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // the index follows the bus
	}
	if be, uk := hits("cert-be"), hits("cert-uk"); be != 1 || uk != 0 {
		t.Errorf("RED indicator: %d hits for its recipient cert-be, %d for cert-uk; want 1 and 0", be, uk)
	}
	if code, body := h.do(t, h.keys["cert-uk"], "POST", "/api/v1/match/observed", []byte(`{"type":"bundle","objects":[]}`)); code != 400 || !bytes.Contains(body, []byte(`"objects"`)) {
		t.Errorf("no observations: %d %s", code, body)
	}
}

func TestSearchFindsOnlyWhatTheCallerMaySee(t *testing.T) {
	h := newTestHub(t)
	h.do(t, h.keys["cert-fr"], "POST", "/api/v1/workspaces/community/bundles", file(t, "scenario.json"))
	h.do(t, h.keys["cert-fr"], "POST", "/api/v1/workspaces/community/bundles?recipients=cert-be", file(t, "red-finding.json"))
	type page struct {
		Results []struct {
			Object     map[string]any
			Score      float64
			Highlights []string
		}
		Total int
	}
	ask := func(org, q string) page {
		code, body := h.do(t, h.keys[org], "GET", "/api/v1/search?q="+url.QueryEscape(q), nil)
		if code != 200 {
			t.Fatalf("search %q as %s: %d %s", q, org, code, body)
		}
		var p page
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	deadline := time.Now().Add(5 * time.Second)
	for ask("cert-be", "restricted").Total == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if p := ask("cert-uk", "login-ministry.example"); p.Total == 0 || p.Results[0].Object["name"] != "Phishing domain login-ministry.example" || len(p.Results[0].Highlights) == 0 {
		t.Errorf("cert-uk searching the phishing domain: %+v", p)
	}
	if p := ask("cert-uk", "restricted sensor"); p.Total != 0 || len(p.Results) != 0 {
		t.Errorf("cert-uk sees the RED finding in search: %+v", p)
	}
	if p := ask("cert-be", "restricted sensor"); p.Total != 1 {
		t.Errorf("cert-be, its recipient, does not find the RED finding: %+v", p)
	}
	if code, body := h.do(t, h.keys["cert-uk"], "GET", "/api/v1/search?q=%22unbalanced", nil); code != 400 || !bytes.Contains(body, []byte(`"q"`)) {
		t.Errorf("bad query: %d %s", code, body)
	}
}
