package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"cshub/internal/api"
	"cshub/internal/audit"
	"cshub/internal/auth"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/members"
	"cshub/internal/seal"
	"cshub/internal/store/sqlite"
)

// clock is a settable time shared by the authenticator and the admin, so that tests can let
// keys expire.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// adminHub is the API with identity administration over a real SQLite store, barrier and
// audit log. Organisations: hub-op (operator), cert-fr, cert-uk, cert-be (members), each member
// with an admin; cert-fr also with an analyst and a reader. keys maps a user name to an API key
// with the widest scope their role allows; ids maps a user name to their id.
type adminHub struct {
	srv   *httptest.Server
	st    hub.Store
	auth  *auth.Authenticator
	audit *audit.Log
	clock *clock
	admin *api.Admin
	keys  map[string]string
	ids   map[string]int64
}

func newAdminHub(t *testing.T) *adminHub {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newAdminHubOn(t, st)
}

// onEachStore runs f on an adminHub over SQLite and, when CSHUB_TEST_PG is set, PostgreSQL.
func onEachStore(t *testing.T, f func(t *testing.T, h *adminHub)) {
	t.Run("sqlite", func(t *testing.T) { f(t, newAdminHub(t)) })
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv("CSHUB_TEST_PG")
		if base == "" {
			t.Skip("CSHUB_TEST_PG is unset: set it to a PostgreSQL URL, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
		}
		f(t, newAdminHubOn(t, openPostgresSchema(t, base)))
	})
}

func newAdminHubOn(t *testing.T, st hub.Store) *adminHub {
	t.Helper()
	ctx := context.Background()
	b := seal.New(st)
	root, _ := seal.NewRootKey()
	if err := b.Initialize(ctx, root); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)}
	a, err := auth.New(auth.Config{Directory: st, Open: members.TOTPOpener(b), Now: clk.now,
		Params: auth.Argon2Params{Memory: 8 << 10, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	if err != nil {
		t.Fatal(err)
	}
	m := members.New(st, b, a, clk.now)
	h := &adminHub{st: st, auth: a, clock: clk, keys: map[string]string{}, ids: map[string]int64{},
		audit: audit.New(st, audit.Barrier{B: b}, clk.now)}
	m.SetAudit(h.audit)
	for _, o := range []hub.Org{
		{Code: "hub-op", Name: "Hub operator", Country: "BE", Kind: hub.OrgOperator, Active: true},
		{Code: "cert-fr", Name: "CERT-FR", Country: "FR", Kind: hub.OrgMember, Active: true},
		{Code: "cert-uk", Name: "NCSC-UK", Country: "GB", Kind: hub.OrgMember, Active: true},
		{Code: "cert-be", Name: "CCB", Country: "BE", Kind: hub.OrgMember, Active: true},
	} {
		if err := m.CreateOrg(ctx, &o); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.CreateWorkspace(ctx, &hub.Workspace{Slug: "community", Kind: hub.WorkspaceCommunity, Members: []string{"cert-fr", "cert-uk", "cert-be"}}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		org, name string
		role      hub.Role
	}{
		{"hub-op", "op", hub.RoleOperator},
		{"cert-fr", "fr-admin", hub.RoleAdmin},
		{"cert-fr", "fr-analyst", hub.RoleAnalyst},
		{"cert-fr", "fr-reader", hub.RoleReader},
		{"cert-uk", "uk-admin", hub.RoleAdmin},
		{"cert-uk", "uk-analyst", hub.RoleAnalyst},
		{"cert-be", "be-admin", hub.RoleAdmin},
	} {
		cu, err := m.CreateUser(ctx, members.NewUser{Org: u.org, Username: u.name, Role: u.role, Password: rand.Text()})
		if err != nil {
			t.Fatal(err)
		}
		h.ids[u.name] = cu.User.ID
		if h.keys[u.name], _, err = m.CreateAPIKey(ctx, cu.User, auth.RoleScope(u.role), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	s := api.New(api.Config{KB: kb.New(kb.Config{Store: st, Sealer: b}), Dir: st, Auth: a})
	adm, err := api.NewAdmin(api.AdminConfig{Dir: st, Members: m, Audit: h.audit, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	s.EnableAdmin(adm)
	h.admin = adm
	h.srv = httptest.NewTLSServer(s)
	t.Cleanup(h.srv.Close)
	return h
}

// call sends body (marshalled unless it is a string or nil) with key and decodes the answer.
func (h *adminHub) call(t *testing.T, key, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
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
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: answer is not a JSON object: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// errorOf returns the code and field of an error answer.
func errorOf(body map[string]any) (code, field string) {
	e, _ := body["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return code, field
}

// key makes an API key through the API as the holder of key and returns its secret and id.
func (h *adminHub) key(t *testing.T, key string, req map[string]any) (secret, id string) {
	t.Helper()
	code, body := h.call(t, key, "POST", "/api/v1/keys", req)
	if code != 201 {
		t.Fatalf("POST /keys %v: %d %v", req, code, body)
	}
	return body["secret"].(string), body["key"].(map[string]any)["id"].(string)
}

// TestAdminRulesHold tries to break the rule "an org admin manages only their own
// organisation; the hub operator manages all", each attempt expecting its status and field.
func TestAdminRulesHold(t *testing.T) { onEachStore(t, testAdminRulesHold) }

func testAdminRulesHold(t *testing.T, h *adminHub) {
	k, id := h.keys, h.ids
	_, ukKey := h.key(t, k["uk-analyst"], map[string]any{"scope": "read"})
	frAdminRead, _ := h.key(t, k["fr-admin"], map[string]any{"scope": "read"})
	shortLived, _ := h.key(t, k["fr-analyst"], map[string]any{"scope": "write", "expires": "2026-11-24T00:00:00Z"})

	cases := []struct {
		name, key, method, path string
		body                    any
		status                  int
		field                   string
	}{
		// Users.
		{"fr admin creates a user in cert-uk", k["fr-admin"], "POST", "/api/v1/users", map[string]any{"org": "cert-uk", "username": "mole", "role": "analyst"}, 403, "org"},
		{"fr admin makes an operator", k["fr-admin"], "POST", "/api/v1/users", map[string]any{"username": "fr-op", "role": "operator"}, 403, "role"},
		{"operator makes an operator in a member org", k["op"], "POST", "/api/v1/users", map[string]any{"org": "cert-fr", "username": "fr-op", "role": "operator"}, 400, "role"},
		{"unknown role", k["fr-admin"], "POST", "/api/v1/users", map[string]any{"username": "fr-x", "role": "root"}, 400, "role"},
		{"bad user name", k["fr-admin"], "POST", "/api/v1/users", map[string]any{"username": "Fr X", "role": "reader"}, 400, "username"},
		{"weak password", k["fr-admin"], "POST", "/api/v1/users", map[string]any{"username": "fr-x", "role": "reader", "password": "password123"}, 400, "password"},
		{"user name taken", k["fr-admin"], "POST", "/api/v1/users", map[string]any{"username": "uk-admin", "role": "reader"}, 409, "username"},
		{"user in unknown org", k["op"], "POST", "/api/v1/users", map[string]any{"org": "cert-zz", "username": "zz", "role": "reader"}, 400, "org"},
		{"analyst creates a user", k["fr-analyst"], "POST", "/api/v1/users", map[string]any{"username": "fr-y", "role": "reader"}, 403, "Authorization"},
		{"admin's read key creates a user", frAdminRead, "POST", "/api/v1/users", map[string]any{"username": "fr-y", "role": "reader"}, 403, "Authorization"},
		{"fr admin lists cert-uk users", k["fr-admin"], "GET", "/api/v1/users?org=cert-uk", nil, 403, "org"},
		{"analyst lists users", k["fr-analyst"], "GET", "/api/v1/users", nil, 403, "Authorization"},
		{"fr admin changes a cert-uk user", k["fr-admin"], "PATCH", fmt.Sprintf("/api/v1/users/%d", id["uk-analyst"]), map[string]any{"active": false}, 404, "id"},
		{"fr admin promotes to operator", k["fr-admin"], "PATCH", fmt.Sprintf("/api/v1/users/%d", id["fr-analyst"]), map[string]any{"role": "operator"}, 403, "role"},
		{"admin demotes themselves", k["fr-admin"], "PATCH", fmt.Sprintf("/api/v1/users/%d", id["fr-admin"]), map[string]any{"role": "reader"}, 400, "role"},
		{"admin deactivates themselves", k["fr-admin"], "PATCH", fmt.Sprintf("/api/v1/users/%d", id["fr-admin"]), map[string]any{"active": false}, 400, "active"},
		{"bad user id", k["fr-admin"], "PATCH", "/api/v1/users/x", map[string]any{"active": false}, 400, "id"},
		{"empty change", k["fr-admin"], "PATCH", fmt.Sprintf("/api/v1/users/%d", id["fr-analyst"]), map[string]any{}, 400, "body"},
		{"active as a string", k["fr-admin"], "PATCH", fmt.Sprintf("/api/v1/users/%d", id["fr-analyst"]), `{"active":"no"}`, 400, "active"},

		// Keys.
		{"analyst creates a key for another user", k["fr-analyst"], "POST", "/api/v1/keys", map[string]any{"user_id": id["fr-reader"], "scope": "read"}, 403, "user_id"},
		{"admin grants a key wider than the role", k["fr-admin"], "POST", "/api/v1/keys", map[string]any{"user_id": id["fr-analyst"], "scope": "admin"}, 400, "scope"},
		{"admin grants a reader a write key", k["fr-admin"], "POST", "/api/v1/keys", map[string]any{"user_id": id["fr-reader"], "scope": "write"}, 400, "scope"},
		{"analyst mints an admin key", k["fr-analyst"], "POST", "/api/v1/keys", map[string]any{"scope": "admin"}, 403, "scope"},
		{"read key mints a write key", frAdminRead, "POST", "/api/v1/keys", map[string]any{"scope": "write"}, 403, "scope"},
		{"expiring key mints a key for ever", shortLived, "POST", "/api/v1/keys", map[string]any{"scope": "read"}, 403, "expires"},
		{"expiring key mints a longer-lived key", shortLived, "POST", "/api/v1/keys", map[string]any{"scope": "read", "expires": "2026-12-01T00:00:00Z"}, 403, "expires"},
		{"fr admin creates a key for a cert-uk user", k["fr-admin"], "POST", "/api/v1/keys", map[string]any{"user_id": id["uk-analyst"], "scope": "read"}, 404, "user_id"},
		{"unknown scope", k["fr-analyst"], "POST", "/api/v1/keys", map[string]any{"scope": "root"}, 400, "scope"},
		{"expiry not a time", k["fr-analyst"], "POST", "/api/v1/keys", map[string]any{"scope": "read", "expires": "tomorrow"}, 400, "expires"},
		{"expiry in the past", k["fr-analyst"], "POST", "/api/v1/keys", map[string]any{"scope": "read", "expires": "2020-01-01T00:00:00Z"}, 400, "expires"},
		{"fr admin revokes a cert-uk key", k["fr-admin"], "DELETE", "/api/v1/keys/" + ukKey, nil, 404, "id"},
		{"analyst revokes a colleague's key", k["fr-analyst"], "DELETE", "/api/v1/keys/" + mustKeyID(t, k["fr-reader"]), nil, 404, "id"},
		{"fr admin lists cert-uk keys", k["fr-admin"], "GET", "/api/v1/keys?org=cert-uk", nil, 403, "org"},
		{"analyst lists a colleague's keys", k["fr-analyst"], "GET", fmt.Sprintf("/api/v1/keys?user_id=%d", id["fr-reader"]), nil, 403, "user_id"},

		// Workspaces.
		{"read key creates a workspace", k["fr-reader"], "POST", "/api/v1/workspaces", map[string]any{"slug": "fr-uk"}, 403, "Authorization"},
		{"write key creates a workspace", k["fr-analyst"], "POST", "/api/v1/workspaces", map[string]any{"slug": "fr-uk"}, 403, "Authorization"},
		{"admin creates a community workspace", k["fr-admin"], "POST", "/api/v1/workspaces", map[string]any{"slug": "all", "kind": "community"}, 403, "kind"},
		{"unknown member", k["fr-admin"], "POST", "/api/v1/workspaces", map[string]any{"slug": "fr-zz", "members": []string{"cert-uk", "cert-zz"}}, 400, "members[1]"},
		{"bad default TLP", k["fr-admin"], "POST", "/api/v1/workspaces", map[string]any{"slug": "fr-uk", "default_tlp": "purple"}, 400, "default_tlp"},
		{"bad slug", k["fr-admin"], "POST", "/api/v1/workspaces", map[string]any{"slug": "_keys"}, 400, "slug"},
		{"slug taken", k["fr-admin"], "POST", "/api/v1/workspaces", map[string]any{"slug": "community"}, 409, "slug"},
		{"unknown field", k["fr-admin"], "POST", "/api/v1/workspaces", map[string]any{"slug": "fr-uk", "colour": "red"}, 400, "colour"},
		{"not JSON", k["fr-admin"], "POST", "/api/v1/workspaces", "{", 400, "body"},
		{"member admin changes the community", k["uk-admin"], "POST", "/api/v1/workspaces/community/members", map[string]any{"org": "hub-op"}, 403, "workspace"},
		{"admin removes from the community", k["uk-admin"], "DELETE", "/api/v1/workspaces/community/members/cert-fr", nil, 403, "workspace"},
		{"add to an unknown workspace", k["fr-admin"], "POST", "/api/v1/workspaces/nowhere/members", map[string]any{"org": "cert-uk"}, 404, "workspace"},

		// Organisations.
		{"admin creates an org", k["fr-admin"], "POST", "/api/v1/orgs", map[string]any{"code": "cert-de", "name": "CERT-Bund", "country": "DE"}, 403, "Authorization"},
		{"admin deactivates another org", k["fr-admin"], "PATCH", "/api/v1/orgs/cert-uk", map[string]any{"active": false}, 403, "Authorization"},
		{"three-letter country", k["op"], "POST", "/api/v1/orgs", map[string]any{"code": "cert-de", "name": "CERT-Bund", "country": "DEU"}, 400, "country"},
		{"unknown kind", k["op"], "POST", "/api/v1/orgs", map[string]any{"code": "cert-de", "name": "CERT-Bund", "country": "DE", "kind": "state"}, 400, "kind"},
		{"bad code", k["op"], "POST", "/api/v1/orgs", map[string]any{"code": "CERT DE", "name": "CERT-Bund", "country": "DE"}, 400, "code"},
		{"no name", k["op"], "POST", "/api/v1/orgs", map[string]any{"code": "cert-de", "country": "DE"}, 400, "name"},
		{"code taken", k["op"], "POST", "/api/v1/orgs", map[string]any{"code": "cert-fr", "name": "x", "country": "FR"}, 409, "code"},
		{"operator deactivates their own org", k["op"], "PATCH", "/api/v1/orgs/hub-op", map[string]any{"active": false}, 400, "active"},
		{"unknown org", k["op"], "PATCH", "/api/v1/orgs/cert-zz", map[string]any{"active": false}, 404, "code"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := h.call(t, tc.key, tc.method, tc.path, tc.body)
			ecode, field := errorOf(body)
			if code != tc.status || field != tc.field {
				t.Fatalf("got %d field %q (%v), want %d field %q", code, field, body, tc.status, tc.field)
			}
			if ecode == "" {
				t.Errorf("no error code: %v", body)
			}
		})
	}

	// None of the refused attempts left a trace.
	if _, err := h.st.UserByName(context.Background(), "mole"); hub.ErrorCode(err) != hub.ENotFound {
		t.Errorf("user mole: err %v, want not found", err)
	}
	if u, _ := h.st.User(context.Background(), id["uk-analyst"]); !u.Active {
		t.Error("cert-fr's admin deactivated a cert-uk user")
	}
}

// mustKeyID returns the public id of a key secret.
func mustKeyID(t *testing.T, secret string) string {
	t.Helper()
	id, err := auth.ParseAPIKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestGroupWorkspaceMembers walks a bilateral workspace through its life: members manage it,
// outsiders cannot see it, and its last member cannot leave.
func TestGroupWorkspaceMembers(t *testing.T) { onEachStore(t, testGroupWorkspaceMembers) }

func testGroupWorkspaceMembers(t *testing.T, h *adminHub) {
	k := h.keys
	code, body := h.call(t, k["fr-admin"], "POST", "/api/v1/workspaces",
		map[string]any{"slug": "fr-uk", "name": "FR–UK bilateral", "members": []string{"cert-uk"}, "default_tlp": "amber+strict"})
	if code != 201 {
		t.Fatalf("create: %d %v", code, body)
	}
	if got := fmt.Sprint(body["members"]); got != "[cert-fr cert-uk]" {
		t.Errorf("members %s, want the creator and cert-uk", got)
	}
	if body["default_tlp"] != "amber+strict" || body["kind"] != "group" {
		t.Errorf("created %v, want a group workspace with default amber+strict", body)
	}

	steps := []struct {
		who, method, path string
		body              any
		status            int
		field             string
		members           string
	}{
		{"be-admin", "POST", "/api/v1/workspaces/fr-uk/members", map[string]any{"org": "cert-be"}, 404, "workspace", ""}, // not a member: cannot see it
		{"uk-analyst", "POST", "/api/v1/workspaces/fr-uk/members", map[string]any{"org": "cert-be"}, 403, "Authorization", ""},
		{"uk-admin", "POST", "/api/v1/workspaces/fr-uk/members", map[string]any{"org": "cert-zz"}, 400, "org", ""},
		{"uk-admin", "POST", "/api/v1/workspaces/fr-uk/members", map[string]any{"org": "cert-be"}, 200, "", "[cert-be cert-fr cert-uk]"},
		{"uk-admin", "DELETE", "/api/v1/workspaces/fr-uk/members/cert-fr", nil, 200, "", "[cert-be cert-uk]"},
		{"fr-admin", "DELETE", "/api/v1/workspaces/fr-uk/members/cert-uk", nil, 404, "workspace", ""}, // no longer a member
		{"be-admin", "DELETE", "/api/v1/workspaces/fr-uk/members/cert-fr", nil, 404, "org", ""},
		{"be-admin", "DELETE", "/api/v1/workspaces/fr-uk/members/cert-uk", nil, 200, "", "[cert-be]"},
		{"be-admin", "DELETE", "/api/v1/workspaces/fr-uk/members/cert-be", nil, 409, "org", ""}, // the last member
		{"op", "DELETE", "/api/v1/workspaces/fr-uk/members/cert-be", nil, 409, "org", ""},       // not even the operator
		{"op", "POST", "/api/v1/workspaces/fr-uk/members", map[string]any{"org": "cert-fr"}, 200, "", "[cert-be cert-fr]"},
	}
	for i, s := range steps {
		code, body := h.call(t, k[s.who], s.method, s.path, s.body)
		_, field := errorOf(body)
		if code != s.status || field != s.field {
			t.Fatalf("step %d (%s %s %s): %d field %q %v, want %d field %q", i, s.who, s.method, s.path, code, field, body, s.status, s.field)
		}
		if s.members != "" && fmt.Sprint(body["members"]) != s.members {
			t.Errorf("step %d: members %v, want %s", i, body["members"], s.members)
		}
	}

	// cert-uk left: its workspace list no longer shows fr-uk; the operator sees every workspace.
	for who, want := range map[string]bool{"uk-analyst": false, "fr-reader": true, "op": true} {
		_, body := h.call(t, k[who], "GET", "/api/v1/workspaces", nil)
		raw, _ := json.Marshal(body)
		if got := bytes.Contains(raw, []byte(`"fr-uk"`)); got != want {
			t.Errorf("%s lists fr-uk: %v, want %v", who, got, want)
		}
	}
}

// TestCredentialsRefusedAtOnce checks that deactivating, revoking, expiring and demoting take
// effect on the very next request.
func TestCredentialsRefusedAtOnce(t *testing.T) { onEachStore(t, testCredentialsRefusedAtOnce) }

func testCredentialsRefusedAtOnce(t *testing.T, h *adminHub) {
	k := h.keys
	whoami := func(key string) int {
		code, _ := h.call(t, key, "GET", "/api/v1/whoami", nil)
		return code
	}

	// A deactivated organisation's keys are refused at once, and work again on reactivation.
	if got := whoami(k["uk-analyst"]); got != 200 {
		t.Fatalf("cert-uk key before: %d", got)
	}
	if code, body := h.call(t, k["op"], "PATCH", "/api/v1/orgs/cert-uk", map[string]any{"active": false}); code != 200 || body["active"] != false {
		t.Fatalf("deactivate cert-uk: %d %v", code, body)
	}
	for _, u := range []string{"uk-analyst", "uk-admin"} {
		if got := whoami(k[u]); got != 401 {
			t.Errorf("%s's key after cert-uk was deactivated: %d, want 401", u, got)
		}
	}
	if code, _ := h.call(t, k["fr-admin"], "POST", "/api/v1/workspaces", map[string]any{"slug": "fr-uk", "members": []string{"cert-uk"}}); code != 400 {
		t.Errorf("a workspace with an inactive member: %d, want 400", code)
	}
	h.call(t, k["op"], "PATCH", "/api/v1/orgs/cert-uk", map[string]any{"active": true})
	if got := whoami(k["uk-analyst"]); got != 200 {
		t.Errorf("cert-uk key after reactivation: %d, want 200", got)
	}

	// A revoked key: by its owner, and by the org's admin.
	own, ownID := h.key(t, k["fr-analyst"], map[string]any{"scope": "read"})
	other, otherID := h.key(t, k["fr-analyst"], map[string]any{"scope": "write"})
	if got := whoami(own); got != 200 {
		t.Fatalf("new key: %d", got)
	}
	if code, body := h.call(t, k["fr-analyst"], "DELETE", "/api/v1/keys/"+ownID, nil); code != 200 || body["revoked"] != true {
		t.Fatalf("revoke own key: %d %v", code, body)
	}
	if code, _ := h.call(t, k["fr-admin"], "DELETE", "/api/v1/keys/"+otherID, nil); code != 200 {
		t.Fatalf("admin revokes an analyst's key: %d", code)
	}
	for _, key := range []string{own, other} {
		if got := whoami(key); got != 401 {
			t.Errorf("revoked key: %d, want 401", got)
		}
	}
	if code, _ := h.call(t, k["fr-analyst"], "DELETE", "/api/v1/keys/"+ownID, nil); code != 200 {
		t.Errorf("revoking again: %d, want 200", code)
	}

	// An expired key.
	exp, _ := h.key(t, k["fr-analyst"], map[string]any{"scope": "read", "expires": "2026-11-23T01:00:00Z"})
	if got := whoami(exp); got != 200 {
		t.Fatalf("expiring key before expiry: %d", got)
	}
	h.clock.add(time.Hour)
	if got := whoami(exp); got != 401 {
		t.Errorf("expired key: %d, want 401", got)
	}

	// A demoted user's write key narrows to read; a deactivated user's key is refused.
	ana := fmt.Sprintf("/api/v1/users/%d", h.ids["fr-analyst"])
	if code, body := h.call(t, k["fr-admin"], "PATCH", ana, map[string]any{"role": "reader"}); code != 200 || body["role"] != "reader" {
		t.Fatalf("demote: %d %v", code, body)
	}
	if code, body := h.call(t, k["fr-analyst"], "POST", "/api/v1/keys", map[string]any{"scope": "write"}); code != 403 {
		t.Errorf("demoted analyst mints a write key: %d %v, want 403", code, body)
	}
	if code, _ := h.call(t, k["fr-admin"], "PATCH", ana, map[string]any{"active": false}); code != 200 {
		t.Fatalf("deactivate: %d", code)
	}
	if got := whoami(k["fr-analyst"]); got != 401 {
		t.Errorf("deactivated user's key: %d, want 401", got)
	}
	if code, body := h.call(t, k["fr-admin"], "POST", "/api/v1/keys", map[string]any{"user_id": h.ids["fr-analyst"], "scope": "read"}); code != 400 {
		t.Errorf("key for a deactivated user: %d %v, want 400", code, body)
	}
}

// TestCreateUserShowsSecretsOnce creates a user with a generated password and a TOTP
// enrolment, logs in with them, and checks that listings show neither.
func TestCreateUserShowsSecretsOnce(t *testing.T) {
	h := newAdminHub(t)
	code, body := h.call(t, h.keys["fr-admin"], "POST", "/api/v1/users", map[string]any{"username": "fr-new", "role": "director", "totp": true})
	if code != 201 {
		t.Fatalf("create: %d %v", code, body)
	}
	pw, _ := body["password"].(string)
	secret, _ := body["totp_secret"].(string)
	url, _ := body["totp_url"].(string)
	if len(pw) < 20 || secret == "" || !strings.HasPrefix(url, "otpauth://totp/") {
		t.Fatalf("secrets not shown: %v", body)
	}
	user := body["user"].(map[string]any)
	if user["org"] != "cert-fr" || user["role"] != "director" || user["totp"] != true {
		t.Errorf("user %v", user)
	}
	otp, err := totp.GenerateCode(secret, h.clock.now())
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.auth.Login(context.Background(), "fr-new", pw, otp, "")
	if err != nil || p.Org != "cert-fr" || p.Role != hub.RoleDirector {
		t.Fatalf("login with the shown secrets: %+v, %v", p, err)
	}

	_, list := h.call(t, h.keys["fr-admin"], "GET", "/api/v1/users", nil)
	raw, _ := json.Marshal(list)
	if bytes.Contains(raw, []byte(pw)) || bytes.Contains(raw, []byte("argon2")) || bytes.Contains(raw, []byte(secret)) {
		t.Errorf("the user list shows a secret: %s", raw)
	}
	if bytes.Contains(raw, []byte("uk-admin")) || !bytes.Contains(raw, []byte("fr-new")) {
		t.Errorf("cert-fr's admin sees: %s", raw)
	}

	// A given password is not echoed.
	_, body = h.call(t, h.keys["fr-admin"], "POST", "/api/v1/users", map[string]any{"username": "fr-given", "role": "reader", "password": "tulip-orbit-canyon-7"})
	if _, ok := body["password"]; ok {
		t.Errorf("a given password is echoed: %v", body)
	}
}

// TestInvitations: an admin invites a user of their own organisation only; the invitee sets a
// password and gets a second factor with recovery codes; the token works once, is no API key,
// and expires.
func TestInvitations(t *testing.T) { onEachStore(t, testInvitations) }

func testInvitations(t *testing.T, h *adminHub) {
	ctx := context.Background()
	invite := func(key string, req map[string]any) (int, map[string]any) {
		return h.call(t, key, "POST", "/api/v1/invitations", req)
	}
	for _, c := range []struct {
		name, key string
		req       map[string]any
		status    int
		field     string
	}{
		{"another org", h.keys["be-admin"], map[string]any{"org": "cert-fr", "username": "x1", "role": "analyst"}, 403, "org"},
		{"analyst", h.keys["fr-analyst"], map[string]any{"username": "x2", "role": "analyst"}, 403, ""},
		{"operator role", h.keys["fr-admin"], map[string]any{"username": "x3", "role": "operator"}, 403, "role"},
		{"taken name", h.keys["fr-admin"], map[string]any{"username": "fr-reader", "role": "analyst"}, 409, "username"},
	} {
		if code, body := invite(c.key, c.req); code != c.status {
			t.Errorf("%s: %d %v, want %d", c.name, code, body, c.status)
		} else if _, field := errorOf(body); c.field != "" && field != c.field {
			t.Errorf("%s: error on %q, want %q", c.name, field, c.field)
		}
	}
	code, body := invite(h.keys["fr-admin"], map[string]any{"username": "fr-invited", "role": "analyst"})
	if code != 201 {
		t.Fatalf("invite: %d %v", code, body)
	}
	token := body["token"].(string)
	if u := body["user"].(map[string]any); u["active"] != false || u["org"] != "cert-fr" {
		t.Errorf("invited user %v, want inactive in cert-fr", u)
	}
	if _, err := h.auth.APIKey(ctx, token); hub.ErrorCode(err) != hub.EUnauthorized {
		t.Errorf("the invitation token authenticated as an API key: %v", err)
	}
	if _, err := h.auth.Login(ctx, "fr-invited", "", "", ""); hub.ErrorCode(err) != hub.EUnauthorized {
		t.Errorf("an invited user logged in before accepting: %v", err)
	}

	accept := func(token, password string) (int, map[string]any) {
		return h.call(t, "", "POST", "/api/v1/invitations/accept", map[string]any{"token": token, "password": password})
	}
	if code, body := accept(token, "password1"); code != 400 {
		t.Errorf("weak password: %d %v", code, body)
	} else if _, field := errorOf(body); field != "password" {
		t.Errorf("weak password: error on %q", field)
	}
	if code, body := accept(token[:len(token)-2]+"xx", "sapphire-harbour-meadow-41"); code != 401 {
		t.Errorf("forged token: %d %v", code, body)
	}
	code, body = accept(token, "sapphire-harbour-meadow-41")
	if code != 200 {
		t.Fatalf("accept: %d %v", code, body)
	}
	secret, _ := body["totp_secret"].(string)
	codes, _ := body["recovery_codes"].([]any)
	if secret == "" || len(codes) != 10 || body["user"].(map[string]any)["active"] != true {
		t.Fatalf("acceptance shows %v", body)
	}
	if code, body := accept(token, "sapphire-harbour-meadow-42"); code != 401 {
		t.Errorf("token used twice: %d %v", code, body)
	} else if _, field := errorOf(body); field != "token" {
		t.Errorf("token used twice: error on %q", field)
	}
	otp, _ := totp.GenerateCode(secret, h.clock.now())
	if _, err := h.auth.Login(ctx, "fr-invited", "sapphire-harbour-meadow-41", otp, ""); err != nil {
		t.Errorf("login after accepting: %v", err)
	}
	if _, err := h.auth.Login(ctx, "fr-invited", "sapphire-harbour-meadow-41", codes[4].(string), ""); err != nil {
		t.Errorf("login with a recovery code: %v", err)
	}
	if u, _ := h.st.UserByName(ctx, "fr-invited"); len(u.RecoveryCodes) != 9 {
		t.Errorf("%d recovery codes stored after one was spent, want 9", len(u.RecoveryCodes))
	}

	// An invitation not accepted in time is void.
	_, body = invite(h.keys["fr-admin"], map[string]any{"username": "fr-late", "role": "reader"})
	h.clock.add(8 * 24 * time.Hour)
	if code, body := accept(body["token"].(string), "sapphire-harbour-meadow-43"); code != 401 {
		t.Errorf("expired invitation: %d %v", code, body)
	}
}

// TestLogOutEverywhere: a user ends their own sessions, an admin those of their organisation's
// users, nobody those of another organisation's; deactivation ends them too.
func TestLogOutEverywhere(t *testing.T) { onEachStore(t, testLogOutEverywhere) }

func testLogOutEverywhere(t *testing.T, h *adminHub) {
	ctx := context.Background()
	after := func(name string) time.Time {
		u, err := h.st.UserByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return u.SessionsAfter
	}
	logout := func(key, name string) int {
		code, _ := h.call(t, key, "POST", fmt.Sprintf("/api/v1/users/%d/logout", h.ids[name]), nil)
		return code
	}
	if code := logout(h.keys["fr-reader"], "fr-reader"); code != 200 || after("fr-reader").IsZero() {
		t.Errorf("own logout: %d, sessions after %v", code, after("fr-reader"))
	}
	if code := logout(h.keys["fr-reader"], "fr-analyst"); code != 403 || !after("fr-analyst").IsZero() {
		t.Errorf("a reader logged out a colleague: %d", code)
	}
	if code := logout(h.keys["uk-admin"], "fr-analyst"); code != 404 || !after("fr-analyst").IsZero() {
		t.Errorf("another org's admin logged out fr-analyst: %d", code)
	}
	if code := logout(h.keys["fr-admin"], "fr-analyst"); code != 200 || after("fr-analyst").IsZero() {
		t.Errorf("admin logout: %d", code)
	}
	h.clock.add(time.Minute)
	if code, body := h.call(t, h.keys["uk-admin"], "PATCH", fmt.Sprintf("/api/v1/users/%d", h.ids["uk-analyst"]), map[string]any{"active": false}); code != 200 {
		t.Fatalf("deactivate: %d %v", code, body)
	}
	if !after("uk-analyst").Equal(h.clock.now()) {
		t.Errorf("deactivation left sessions valid after %v", after("uk-analyst"))
	}
}

// TestAdminChangesAreAudited checks that each change leaves an audit entry naming the actor
// and that refusals leave none.
func TestAdminChangesAreAudited(t *testing.T) {
	h := newAdminHub(t)
	k := h.keys
	steps := []struct {
		key, method, path string
		body              any
	}{
		{k["op"], "POST", "/api/v1/orgs", map[string]any{"code": "cert-de", "name": "CERT-Bund", "country": "de"}},
		{k["op"], "PATCH", "/api/v1/orgs/cert-de", map[string]any{"active": false}},
		{k["fr-admin"], "POST", "/api/v1/workspaces", map[string]any{"slug": "fr-uk", "members": []string{"cert-uk"}}},
		{k["fr-admin"], "POST", "/api/v1/workspaces/fr-uk/members", map[string]any{"org": "cert-be"}},
		{k["fr-admin"], "DELETE", "/api/v1/workspaces/fr-uk/members/cert-be", nil},
		{k["fr-admin"], "POST", "/api/v1/users", map[string]any{"username": "fr-new", "role": "reader"}},
		{k["fr-admin"], "PATCH", fmt.Sprintf("/api/v1/users/%d", h.ids["fr-reader"]), map[string]any{"active": false}},
		{k["fr-admin"], "POST", "/api/v1/users", map[string]any{"org": "cert-uk", "username": "mole", "role": "reader"}}, // refused
	}
	for _, s := range steps {
		h.call(t, s.key, s.method, s.path, s.body)
	}
	_, newest := h.key(t, k["fr-admin"], map[string]any{"scope": "read"})
	h.call(t, k["fr-admin"], "DELETE", "/api/v1/keys/"+newest, nil)
	h.call(t, k["fr-analyst"], "DELETE", "/api/v1/keys/"+mustKeyID(t, k["fr-admin"]), nil) // refused

	items, err := h.audit.List(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		got = append(got, it.Org+"/"+it.Actor+" "+it.Action+" "+it.Target)
	}
	want := []string{
		"hub-op/op org.create cert-de",
		"hub-op/op org.update cert-de",
		"cert-fr/fr-admin workspace.create fr-uk",
		"cert-fr/fr-admin workspace.member-add fr-uk",
		"cert-fr/fr-admin workspace.member-remove fr-uk",
		fmt.Sprintf("cert-fr/fr-admin user.create %d", h.ids["be-admin"]+1),
		fmt.Sprintf("cert-fr/fr-admin user.update %d", h.ids["fr-reader"]),
		"cert-fr/fr-admin apikey.create " + newest,
		"cert-fr/fr-admin apikey.revoke " + newest,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r, err := h.audit.Verify(context.Background()); err != nil || r.Broken != nil {
		t.Errorf("audit chain: %+v, %v", r, err)
	}
	if !bytes.Contains(items[6].Details, []byte(`"active":{"from":true,"to":false}`)) {
		t.Errorf("user.update details %s, want the change", items[6].Details)
	}
}

// TestLastMemberSurvivesConcurrentRemovals removes both members of a bilateral workspace at
// the same time, again and again: at most one removal may succeed, and a member always remains.
func TestLastMemberSurvivesConcurrentRemovals(t *testing.T) {
	onEachStore(t, testLastMemberSurvivesConcurrentRemovals)
}

func testLastMemberSurvivesConcurrentRemovals(t *testing.T, h *adminHub) {
	for i := range 8 {
		slug := fmt.Sprintf("pair-%d", i)
		if code, body := h.call(t, h.keys["fr-admin"], "POST", "/api/v1/workspaces", map[string]any{"slug": slug, "members": []string{"cert-uk"}}); code != 201 {
			t.Fatalf("create: %d %v", code, body)
		}
		codes := make(chan int, 2)
		var wg sync.WaitGroup
		for _, org := range []string{"cert-fr", "cert-uk"} {
			wg.Go(func() {
				// Not h.call: t.Fatal may not be called from another goroutine.
				req, _ := http.NewRequest("DELETE", h.srv.URL+"/api/v1/workspaces/"+slug+"/members/"+org, nil)
				req.Header.Set("Authorization", "Bearer "+h.keys["op"])
				resp, err := h.srv.Client().Do(req)
				if err != nil {
					codes <- 0
					return
				}
				resp.Body.Close()
				codes <- resp.StatusCode
			})
		}
		wg.Wait()
		close(codes)
		ok := 0
		for c := range codes {
			switch c {
			case 200:
				ok++
			case 409:
			default:
				t.Errorf("%s: removal answered %d", slug, c)
			}
		}
		w, err := h.st.Workspace(context.Background(), slug)
		if err != nil {
			t.Fatal(err)
		}
		if ok > 1 || len(w.Members) == 0 || len(w.Members) != 2-ok {
			t.Errorf("%s: %d removals succeeded, members left %v", slug, ok, w.Members)
		}
	}
}

// TestMachinesDoNotAdminister checks that a client certificate, even one mapped with the admin
// scope, administers nothing: identity administration is done by people.
func TestMachinesDoNotAdminister(t *testing.T) {
	h := newAdminHub(t)
	ctx := context.Background()
	p := &auth.Principal{Org: "cert-fr", Username: "fr-sensor", Scope: hub.ScopeAdmin, Via: auth.ViaMTLS}
	attempts := map[string]error{}
	_, attempts["create workspace"] = h.admin.CreateWorkspace(ctx, p, api.NewWorkspace{Slug: "fr-uk", Members: []string{"cert-uk"}})
	_, attempts["create user"] = h.admin.CreateUser(ctx, p, api.NewUser{Username: "fr-x", Role: hub.RoleAdmin})
	_, attempts["list users"] = h.admin.Users(ctx, p, "")
	_, attempts["add member"] = h.admin.AddMember(ctx, p, "community", "hub-op")
	_, attempts["change user"] = h.admin.UpdateUser(ctx, p, h.ids["fr-analyst"], api.UserChange{Active: new(bool)})
	_, attempts["create org"] = h.admin.CreateOrg(ctx, p, api.NewOrg{Code: "cert-de", Name: "x", Country: "DE"})
	for what, err := range attempts {
		if hub.ErrorCode(err) != hub.EForbidden || hub.ErrorField(err) != "Authorization" {
			t.Errorf("%s as a client certificate: %v, want forbidden on Authorization", what, err)
		}
	}
	_, err := h.admin.CreateAPIKey(ctx, p, api.NewKey{Scope: hub.ScopeRead}, time.Time{})
	if hub.ErrorCode(err) != hub.EInvalid || hub.ErrorField(err) != "user_id" {
		t.Errorf("a client certificate makes itself a key: %v, want invalid on user_id", err)
	}
}

func TestOnlyTheOperatorDeletesAWorkspace(t *testing.T) { onEachStore(t, testDeleteWorkspace) }

func testDeleteWorkspace(t *testing.T, h *adminHub) {
	k := h.keys
	if code, body := h.call(t, k["fr-admin"], "POST", "/api/v1/workspaces", map[string]any{"slug": "fr-uk", "members": []string{"cert-uk"}}); code != 201 {
		t.Fatalf("create: %d %v", code, body)
	}
	for _, step := range []struct {
		who    string
		status int
		field  string
	}{
		{"be-admin", 404, "workspace"}, // not a member: as if it did not exist
		{"fr-admin", 403, "workspace"}, // a member, but not the operator
		{"op", 200, ""},
		{"op", 404, ""}, // gone
	} {
		code, body := h.call(t, k[step.who], "DELETE", "/api/v1/workspaces/fr-uk", nil)
		if code != step.status {
			t.Fatalf("%s DELETE: %d %v, want %d", step.who, code, body, step.status)
		}
		if _, field := errorOf(body); step.field != "" && field != step.field {
			t.Errorf("%s DELETE: error field %q, want %q", step.who, field, step.field)
		}
	}
	_, body := h.call(t, k["fr-admin"], "GET", "/api/v1/workspaces", nil)
	if strings.Contains(fmt.Sprint(body), "fr-uk") {
		t.Errorf("the deleted workspace is still listed: %v", body)
	}
	items, err := h.audit.List(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	deleted := false
	for _, it := range items {
		deleted = deleted || (it.Action == "workspace.delete" && it.Target == "fr-uk")
	}
	if !deleted {
		t.Error("the deletion is not in the audit log")
	}
}
