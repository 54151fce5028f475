package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"cshub/internal/api"
	"cshub/internal/audit"
	"cshub/internal/auth"
	"cshub/internal/bus"
	"cshub/internal/collab"
	"cshub/internal/demo"
	"cshub/internal/exercise"
	"cshub/internal/feed"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/kb"
	"cshub/internal/members"
	"cshub/internal/policy"
	"cshub/internal/seal"
	"cshub/internal/search"
	"cshub/internal/warninglist"
)

// clock is the test hub's time, shared by the authenticator, the sessions and the web server.
// Each login moves it on by one TOTP period, so that the one-time-code replay guard accepts the
// next code.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type testUser struct {
	id                              int64
	org, username, password, secret string
	role                            hub.Role
}

// testHub is the web interface over a real SQLite store, a real barrier and real members, served
// over TLS, with three member organisations sharing a community workspace and one analyst each,
// enrolled in TOTP.
type testHub struct {
	srv      *httptest.Server
	kb       *kb.Service
	web      *Server
	store    hub.Store
	sessions *auth.Sessions
	clock    *clock
	users    map[string]testUser // by org; also "admin:cert-fr" (an org admin) and "operator"
	audit    *audit.Log
	index    *search.Index
	admin    *api.Admin
	bus      hub.Bus
	members  *members.Service
	// The feature services behind the case, exercise, policy and feed pages.
	collab    *collab.Service
	exercises *exercise.Service
	policy    *policy.Tracker
	feeds     *feed.Service
	// unfollow stops the web server following the bus (ingest syncs the indexes directly).
	unfollow context.CancelFunc
}

func newTestHub(tb testing.TB) *testHub { return newTestHubOn(tb, "sqlite") }

// newTestHubOn is newTestHub on backend, one of hubtest.Backends().
func newTestHubOn(tb testing.TB, backend string) *testHub {
	tb.Helper()
	ctx := context.Background()
	st := hubtest.OpenStore(tb, backend)
	b := seal.New(st)
	root, _ := seal.NewRootKey()
	if err := b.Initialize(ctx, root); err != nil {
		tb.Fatal(err)
	}
	key, err := b.MACKey()
	if err != nil {
		tb.Fatal(err)
	}
	clk := &clock{t: time.Now().Truncate(30 * time.Second)}
	sessions := &auth.Sessions{Key: key, Idle: 30 * time.Minute, Absolute: 12 * time.Hour}
	a, err := auth.New(auth.Config{
		Directory: st, Params: auth.Argon2Params{Memory: 8 << 10, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Open: members.TOTPOpener(b), Sessions: sessions, Now: clk.Now,
	})
	if err != nil {
		tb.Fatal(err)
	}
	m := members.New(st, b, a, nil)
	h := &testHub{clock: clk, store: st, sessions: sessions, users: map[string]testUser{}}
	orgs := []string{"cert-fr", "cert-be", "cert-uk"}
	names := map[string]string{"cert-fr": "CERT-FR (France)", "cert-be": "CERT.be (Belgium)", "cert-uk": "NCSC (United Kingdom)", "hub-operator": "Hub operator"}
	for _, code := range append(orgs, "hub-operator") {
		kind := hub.OrgMember
		if code == "hub-operator" {
			kind = hub.OrgOperator
		}
		if err := m.CreateOrg(ctx, &hub.Org{Code: code, Name: names[code], Country: "FR", Kind: kind, Active: true}); err != nil {
			tb.Fatal(err)
		}
	}
	if err := m.CreateWorkspace(ctx, &hub.Workspace{Slug: "community", Name: "Community", Kind: hub.WorkspaceCommunity, Members: orgs}); err != nil {
		tb.Fatal(err)
	}
	// Each member has a private workspace named by its code, as in the demo: saved searches
	// are kept there.
	for _, code := range orgs {
		if err := m.CreateWorkspace(ctx, &hub.Workspace{Slug: code, Name: names[code], Kind: hub.WorkspacePrivate, Members: []string{code}}); err != nil {
			tb.Fatal(err)
		}
	}
	users := []struct {
		key, org, name string
		role           hub.Role
	}{
		{"cert-fr", "cert-fr", "cert-fr-analyst", hub.RoleAnalyst},
		{"cert-be", "cert-be", "cert-be-analyst", hub.RoleAnalyst},
		{"cert-uk", "cert-uk", "cert-uk-analyst", hub.RoleAnalyst},
		{"admin:cert-fr", "cert-fr", "cert-fr-admin", hub.RoleAdmin},
		{"operator", "hub-operator", "operator", hub.RoleOperator},
	}
	for _, u := range users {
		pw := rand.Text()
		cu, err := m.CreateUser(ctx, members.NewUser{Org: u.org, Username: u.name, Role: u.role, Password: pw, TOTP: true})
		if err != nil {
			tb.Fatal(err)
		}
		h.users[u.key] = testUser{id: cu.User.ID, org: u.org, username: cu.User.Username, role: u.role, password: pw, secret: cu.TOTPSecret}
	}
	events := bus.New(bus.Options{})
	tb.Cleanup(func() { events.Close() })
	h.bus = events
	h.kb = kb.New(kb.Config{Store: st, Sealer: b, Bus: events})
	h.audit = audit.New(st, audit.Barrier{B: b}, clk.Now)
	h.index = search.New()
	h.admin, err = api.NewAdmin(api.AdminConfig{Dir: st, Members: m, Audit: h.audit, Now: clk.Now})
	if err != nil {
		tb.Fatal(err)
	}
	h.members = m
	h.collab = collab.New(collab.Config{KB: h.kb, Dir: st})
	h.exercises = exercise.New(exercise.Config{KB: h.kb, Dir: st, Workspaces: m, Audit: h.audit})
	h.policy = policy.New(h.kb)
	h.feeds = feed.New(feed.Config{KB: h.kb, Dir: st, Warninglists: warninglist.Default()})
	h.web, err = New(Config{KB: h.kb, Dir: st, Auth: a, Sessions: sessions, Audit: h.audit, Name: "Allied CSHub", Now: clk.Now,
		Search: h.index, Admin: h.admin, Keys: b, Collab: h.collab, Exercises: h.exercises, Policy: h.policy, Feeds: h.feeds})
	if err != nil {
		tb.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	tb.Cleanup(stop)
	h.unfollow = stop
	if err := h.web.Start(runCtx, events); err != nil {
		tb.Fatal(err)
	}
	h.srv = httptest.NewTLSServer(h.web)
	tb.Cleanup(h.srv.Close)
	return h
}

// ingest stores a bundle as org into the community workspace, and puts what it stored into the
// search index and the index of back references at once, so that tests need not wait for the
// bus to deliver it (TestStartFollowsTheBus checks that it does).
func (h *testHub) ingest(tb testing.TB, org string, bundle []byte, recipients ...string) *kb.Summary {
	tb.Helper()
	sum, err := h.kb.Ingest(context.Background(), kb.Submission{Org: org, Workspace: "community", Recipients: recipients}, bytes.NewReader(bundle))
	if err != nil {
		tb.Fatal(err)
	}
	if len(sum.Rejected) > 0 {
		tb.Fatalf("ingest rejected %+v", sum.Rejected)
	}
	h.sync(tb, sum.IDs)
	return sum
}

// sync adds the latest versions of ids to the search index and the index of back references.
func (h *testHub) sync(tb testing.TB, ids []string) {
	tb.Helper()
	for len(ids) > 0 {
		n := min(len(ids), 500)
		objs, err := h.kb.List(context.Background(), hub.Filter{Viewer: hub.Viewer{System: true}, IDs: ids[:n], Limit: 4 * n})
		if err != nil {
			tb.Fatal(err)
		}
		for _, o := range objs {
			if err := h.index.Add(o); err != nil {
				tb.Fatal(err)
			}
			h.web.refs.add(o)
		}
		ids = ids[n:]
	}
}

// browser is a client with a cookie jar that does not follow redirects, so that tests see them.
type browser struct {
	h *testHub
	c *http.Client
}

func (h *testHub) browser(tb testing.TB) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	c := *h.srv.Client() // a copy: each browser has its own jar
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{h: h, c: &c}
}

type response struct {
	code   int
	header http.Header
	body   string
}

func (b *browser) do(tb testing.TB, req *http.Request) response {
	tb.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(body)}
}

func (b *browser) get(tb testing.TB, path string) response {
	tb.Helper()
	req, err := http.NewRequest("GET", b.h.srv.URL+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return b.do(tb, req)
}

// post sends a form as a same-origin browser would, with Origin and Sec-Fetch-Site set;
// headers may add or override them.
func (b *browser) post(tb testing.TB, path string, form url.Values, headers ...string) response {
	tb.Helper()
	req, err := http.NewRequest("POST", b.h.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.h.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	return b.do(tb, req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(tb testing.TB, body string) string {
	tb.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		tb.Fatalf("no CSRF token in page:\n%s", body)
	}
	return m[1]
}

func (h *testHub) code(tb testing.TB, u testUser) string {
	tb.Helper()
	c, err := totp.GenerateCodeCustom(u.secret, h.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// loginForm fetches the login page and returns a form with its CSRF token.
func (b *browser) loginForm(tb testing.TB, username, password, code string) url.Values {
	tb.Helper()
	r := b.get(tb, "/login")
	if r.code != 200 {
		tb.Fatalf("GET /login = %d", r.code)
	}
	return url.Values{"csrf": {csrfOf(tb, r.body)}, "username": {username}, "password": {password}, "totp": {code}}
}

// login signs u in and fails the test unless that works.
func (b *browser) login(tb testing.TB, u testUser) {
	tb.Helper()
	b.h.clock.Advance(30 * time.Second)
	r := b.post(tb, "/login", b.loginForm(tb, u.username, u.password, b.h.code(tb, u)))
	if r.code != http.StatusSeeOther || r.header.Get("Location") != "/" {
		tb.Fatalf("login of %s = %d (Location %q):\n%s", u.username, r.code, r.header.Get("Location"), r.body)
	}
}

func file(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestLoginWithTOTP(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) { testLoginWithTOTP(t, newTestHubOn(t, backend)) })
	}
}

func testLoginWithTOTP(t *testing.T, h *testHub) {
	b := h.browser(t)
	u := h.users["cert-fr"]

	r := b.get(t, "/login")
	for _, want := range []string{`<label for="username">`, `<label for="password">`, `<label for="totp">`, `name="csrf"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("login page lacks %s", want)
		}
	}
	h.clock.Advance(30 * time.Second)
	r = b.post(t, "/login", b.loginForm(t, u.username, u.password, h.code(t, u)))
	if r.code != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("login = %d, Location %q, want 303 to /:\n%s", r.code, r.header.Get("Location"), r.body)
	}
	var session *http.Cookie
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == auth.SessionCookieName {
			session = c
		}
	}
	if session == nil {
		t.Fatal("no session cookie set")
	}
	if !session.Secure || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/" {
		t.Errorf("session cookie %v: want Secure, HttpOnly, SameSite=Strict, Path=/", session)
	}

	r = b.get(t, "/")
	if r.code != 200 {
		t.Fatalf("GET / after login = %d", r.code)
	}
	for _, want := range []string{u.username, "CERT-FR (France)", "Allied CSHub", `action="/logout"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	items, err := h.audit.List(context.Background(), 0, 10)
	if err != nil || len(items) != 1 || items[0].Action != "login" || items[0].Actor != u.username || items[0].Org != "cert-fr" {
		t.Errorf("audit after login: %+v, %v; want one login entry for %s", items, err, u.username)
	}
	// Signed in, the login page sends the user on to the dashboard.
	if r := b.get(t, "/login"); r.code != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Errorf("GET /login when signed in = %d %q, want 303 to /", r.code, r.header.Get("Location"))
	}
}

func alertOf(body string) string {
	_, after, ok := strings.Cut(body, `role="alert">`)
	if !ok {
		return ""
	}
	msg, _, _ := strings.Cut(after, "<")
	return msg
}

func TestLoginFailuresAreGeneric(t *testing.T) {
	h := newTestHub(t)
	u := h.users["cert-be"]
	cases := []struct{ name, username, password, code string }{
		{"wrong TOTP", u.username, u.password, "000000"},
		{"no TOTP", u.username, u.password, ""},
		{"wrong password", u.username, "not the password", "123456"},
		{"unknown user", "nobody", u.password, "123456"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := h.browser(t)
			code := tc.code
			if code == "123456" { // a valid code, so that only the other factor is wrong
				code = h.code(t, u)
			}
			r := b.post(t, "/login", b.loginForm(t, tc.username, tc.password, code))
			if r.code != 200 {
				t.Fatalf("status %d, want 200 with the form again", r.code)
			}
			if got := alertOf(r.body); got != msgLoginFailed {
				t.Errorf("message %q, want %q", got, msgLoginFailed)
			}
			for _, c := range (&http.Response{Header: r.header}).Cookies() {
				if c.Name == auth.SessionCookieName && c.Value != "" {
					t.Errorf("failed login set a session cookie")
				}
			}
			if r := b.get(t, "/"); r.code != http.StatusSeeOther {
				t.Errorf("GET / after failed login = %d, want 303", r.code)
			}
		})
	}
	// The right code still works: failures stayed below the lock-out.
	h.browser(t).login(t, u)
}

func TestLoginThrottled(t *testing.T) {
	h := newTestHub(t)
	u := h.users["cert-uk"]
	b := h.browser(t)
	var last response
	for range 6 {
		last = b.post(t, "/login", b.loginForm(t, u.username, "wrong password", ""))
	}
	if last.code != http.StatusTooManyRequests || alertOf(last.body) != msgLoginWait {
		t.Fatalf("sixth failure = %d %q, want 429 %q", last.code, alertOf(last.body), msgLoginWait)
	}
	// Locked out: even the right credentials are refused with the same message.
	h.clock.Advance(30 * time.Second)
	r := b.post(t, "/login", b.loginForm(t, u.username, u.password, h.code(t, u)))
	if r.code != http.StatusTooManyRequests || alertOf(r.body) != msgLoginWait {
		t.Errorf("right credentials while locked = %d %q, want 429 %q", r.code, alertOf(r.body), msgLoginWait)
	}
}

func TestLoginCSRF(t *testing.T) {
	h := newTestHub(t)
	u := h.users["cert-fr"]
	other := h.browser(t)
	otherToken := other.loginForm(t, "x", "y", "").Get("csrf")

	cases := []struct {
		name    string
		edit    func(url.Values)
		headers []string
		fresh   bool // post without having fetched the form: no pre-session cookie
	}{
		{name: "no token", edit: func(f url.Values) { f.Del("csrf") }},
		{name: "empty token", edit: func(f url.Values) { f.Set("csrf", "") }},
		{name: "forged token", edit: func(f url.Values) { f.Set("csrf", strings.Repeat("A", 43)) }},
		{name: "another browser's token", edit: func(f url.Values) { f.Set("csrf", otherToken) }},
		{name: "no pre-session cookie", fresh: true},
		{name: "cross-site fetch", headers: []string{"Sec-Fetch-Site", "cross-site"}},
		{name: "foreign origin", headers: []string{"Sec-Fetch-Site", "", "Origin", "https://evil.example"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := h.browser(t)
			h.clock.Advance(30 * time.Second)
			form := b.loginForm(t, u.username, u.password, h.code(t, u))
			if tc.edit != nil {
				tc.edit(form)
			}
			if tc.fresh {
				b = h.browser(t)
				form.Set("csrf", otherToken)
			}
			r := b.post(t, "/login", form, tc.headers...)
			if r.code != http.StatusForbidden {
				t.Fatalf("status %d, want 403", r.code)
			}
			if r := b.get(t, "/"); r.code != http.StatusSeeOther {
				t.Errorf("GET / after refused login = %d, want 303", r.code)
			}
		})
	}
	// The acceptance check's request: a bare POST.
	resp, err := h.srv.Client().PostForm(h.srv.URL+"/login", url.Values{"username": {"x"}, "password": {"y"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("bare POST /login = %d, want 403", resp.StatusCode)
	}
}

func TestLogout(t *testing.T) {
	h := newTestHub(t)
	b := h.browser(t)
	b.login(t, h.users["cert-fr"])
	dash := b.get(t, "/")
	token := csrfOf(t, dash.body)

	if r := b.post(t, "/logout", url.Values{}); r.code != http.StatusForbidden {
		t.Errorf("logout without token = %d, want 403", r.code)
	}
	if r := b.post(t, "/logout", url.Values{"csrf": {"x" + token}}); r.code != http.StatusForbidden {
		t.Errorf("logout with a wrong token = %d, want 403", r.code)
	}
	if r := b.post(t, "/logout", url.Values{"csrf": {token}}, "Sec-Fetch-Site", "cross-site"); r.code != http.StatusForbidden {
		t.Errorf("cross-site logout = %d, want 403", r.code)
	}
	if r := b.get(t, "/"); r.code != 200 {
		t.Fatalf("refused logouts ended the session: GET / = %d", r.code)
	}

	r := b.post(t, "/logout", url.Values{"csrf": {token}})
	if r.code != http.StatusSeeOther || r.header.Get("Location") != "/login" {
		t.Fatalf("logout = %d %q, want 303 to /login", r.code, r.header.Get("Location"))
	}
	cleared := false
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == auth.SessionCookieName && c.MaxAge < 0 {
			cleared = true
		}
	}
	if !cleared {
		t.Errorf("logout did not clear the session cookie: %v", r.header["Set-Cookie"])
	}
	if r := b.get(t, "/"); r.code != http.StatusSeeOther || r.header.Get("Location") != "/login" {
		t.Errorf("GET / after logout = %d %q, want 303 to /login", r.code, r.header.Get("Location"))
	}
}

func TestSessionRequired(t *testing.T) {
	h := newTestHub(t)
	for _, path := range []string{"/", "/objects/indicator--2fd6d87e-3bbb-528b-ab8e-d2816ad3b1ca"} {
		b := h.browser(t)
		if r := b.get(t, path); r.code != http.StatusSeeOther || r.header.Get("Location") != "/login" {
			t.Errorf("GET %s without session = %d %q, want 303 to /login", path, r.code, r.header.Get("Location"))
		}
		u, _ := url.Parse(h.srv.URL)
		b.c.Jar.SetCookies(u, []*http.Cookie{{Name: auth.SessionCookieName, Value: "v1.eyJ1IjoxfQ.AAAA", Path: "/"}})
		if r := b.get(t, path); r.code != http.StatusSeeOther || r.header.Get("Location") != "/login" {
			t.Errorf("GET %s with a forged session = %d %q, want 303 to /login", path, r.code, r.header.Get("Location"))
		}
	}
	// A session past its idle time ends.
	b := h.browser(t)
	b.login(t, h.users["cert-be"])
	h.clock.Advance(31 * time.Minute)
	if r := b.get(t, "/"); r.code != http.StatusSeeOther {
		t.Errorf("GET / after 31 idle minutes = %d, want 303", r.code)
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newTestHub(t)
	sum := h.ingest(t, "cert-fr", file(t, "scenario.json"))
	b := h.browser(t)
	anon := h.browser(t)
	b.login(t, h.users["cert-fr"])
	want := map[string]string{
		"Content-Security-Policy":   "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Frame-Options":           "DENY",
		"Referrer-Policy":           "no-referrer",
		"X-Content-Type-Options":    "nosniff",
		"Strict-Transport-Security": "max-age=31536000",
	}
	pages := []struct {
		name string
		r    response
		code int
	}{
		{"login", anon.get(t, "/login"), 200},
		{"dashboard", b.get(t, "/"), 200},
		{"object", b.get(t, "/objects/"+sum.IDs[0]), 200},
		{"missing object", b.get(t, "/objects/indicator--00000000-0000-4000-8000-000000000000"), 404},
		{"no such page", b.get(t, "/nowhere"), 404},
		{"static", b.get(t, "/static/cshub.css"), 200},
		{"static directory", b.get(t, "/static/"), 404},
		{"redirect", anon.get(t, "/"), 303},
		{"refused POST", anon.post(t, "/login", url.Values{}), 403},
		{"GET of a POST-only path", anon.get(t, "/logout"), 404},
	}
	for _, p := range pages {
		if p.r.code != p.code {
			t.Errorf("%s: status %d, want %d", p.name, p.r.code, p.code)
		}
		for k, v := range want {
			if got := p.r.header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", p.name, k, got, v)
			}
		}
	}
	// No inline script or style that the policy would block: the one script is a static file.
	for _, p := range pages[:5] {
		body := strings.ReplaceAll(p.r.body, `<script src="/static/cshub.js?v=`+h.web.staticTag+`" defer></script>`, "")
		for _, bad := range []string{"<script", "style=", "<style", " on"} {
			if strings.Contains(body, bad+"") && (bad != " on" || regexp.MustCompile(` on[a-z]+=`).MatchString(body)) {
				t.Errorf("%s: page contains %q, which the CSP forbids", p.name, bad)
			}
		}
	}
	if ct := pages[5].r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("static CSS served as %q", ct)
	}
}

func TestRedObjectIsNotFoundForOthers(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) { testRedObjectIsNotFoundForOthers(t, newTestHubOn(t, backend)) })
	}
}

func testRedObjectIsNotFoundForOthers(t *testing.T, h *testHub) {
	h.ingest(t, "cert-fr", file(t, "red-finding.json"), "cert-be")
	const id = "indicator--2fd6d87e-3bbb-528b-ab8e-d2816ad3b1ca"
	const missing = "indicator--00000000-0000-4000-8000-000000000000"
	bodies := map[string]string{}
	for org, want := range map[string]int{"cert-fr": 200, "cert-be": 200, "cert-uk": 404} {
		b := h.browser(t)
		b.login(t, h.users[org])
		r := b.get(t, "/objects/"+id)
		if r.code != want {
			t.Fatalf("%s: GET RED object = %d, want %d", org, r.code, want)
		}
		if want == 200 {
			if !strings.Contains(r.body, `class="tlp-banner tlp-red"`) || !strings.Contains(r.body, "TLP:RED") {
				t.Errorf("%s: RED object page without a RED banner", org)
			}
			if !strings.Contains(r.body, "Restricted sensor finding") {
				t.Errorf("%s: RED object page without its name", org)
			}
		}
		dash := b.get(t, "/")
		if got := strings.Contains(dash.body, id); got != (want == 200) {
			t.Errorf("%s: dashboard lists the RED object = %v, want %v", org, got, want == 200)
		}
		if org == "cert-uk" {
			bodies["hidden"] = r.body
			bodies["missing"] = b.get(t, "/objects/"+missing).body
		}
	}
	if bodies["hidden"] != bodies["missing"] {
		t.Errorf("a hidden RED object's page differs from a missing one's:\n%s\n---\n%s", bodies["hidden"], bodies["missing"])
	}
}

func TestDashboard(t *testing.T) {
	h := newTestHub(t)
	h.ingest(t, "cert-fr", file(t, "scenario.json"))
	b := h.browser(t)
	b.login(t, h.users["cert-uk"])
	r := b.get(t, "/")
	for _, want := range []string{
		`<tr><th scope="row">indicator</th><td class="num">3</td></tr>`,
		`<tfoot><tr><th scope="row">Total</th><td class="num">8</td></tr></tfoot>`,
		`href="/objects/indicator--0f4208e2-1357-5d38-a8b3-065ff8822306"`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("dashboard lacks %s:\n%s", want, r.body)
		}
	}
}

// TestNewest checks the search for the newest objects against a plain listing, for viewers
// seeing many, few and no objects.
func TestNewest(t *testing.T) {
	h := newTestHub(t)
	ctx := context.Background()
	// 45 objects from cert-fr, then 3 RED ones for cert-be only, interleaved with more.
	for i := range 45 {
		h.ingest(t, "cert-fr", bundleOf(note(i, "note", "")))
		if i%15 == 0 {
			h.ingest(t, "cert-fr", bundleOf(note(100+i, "red note", "red")), "cert-be")
		}
	}
	for _, tc := range []struct {
		org  string
		want int
	}{{"cert-fr", 20}, {"cert-be", 20}, {"cert-uk", 20}} {
		v := hub.Viewer{Org: tc.org, Workspaces: []string{"community"}}
		all, err := h.kb.List(ctx, hub.Filter{Viewer: v, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		// Without a count, with the right one, and with stale ones from before deletions.
		for _, visible := range []int64{0, int64(len(all)), int64(len(all)) + 5, 1000} {
			got, err := h.web.newest(ctx, v, 20, visible)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Fatalf("%s, visible %d: %d newest, want %d", tc.org, visible, len(got), tc.want)
			}
			for i, o := range got {
				if w := all[len(all)-1-i]; o.Seq != w.Seq {
					t.Errorf("%s, visible %d: newest[%d].Seq = %d, want %d", tc.org, visible, i, o.Seq, w.Seq)
				}
			}
		}
	}
	// Fewer than asked for, and nothing at all.
	v := hub.Viewer{Org: "cert-uk", Workspaces: []string{"community"}}
	if got, err := h.web.newest(ctx, v, 100, 45); err != nil || len(got) != 45 {
		t.Errorf("newest 100 of 45 = %d, %v; want 45", len(got), err)
	}
	if got, err := h.web.newest(ctx, hub.Viewer{Org: "cert-uk"}, 20, 0); err != nil || len(got) != 0 {
		t.Errorf("newest for a viewer without workspaces = %d, %v; want 0", len(got), err)
	}
}

// serve renders path on srv as u, server-side, with a session issued now.
func (h *testHub) serve(tb testing.TB, srv http.Handler, u testUser, path string) *httptest.ResponseRecorder {
	tb.Helper()
	value, err := h.sessions.Issue(auth.Principal{UserID: u.id, Username: u.username, Org: u.org, Role: u.role}, h.clock.Now())
	if err != nil {
		tb.Fatal(err)
	}
	req := httptest.NewRequest("GET", path, nil)
	req.AddCookie(&http.Cookie{Name: auth.SessionCookieName, Value: value})
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec
}

// groupCounter gives the real store the optional TypeCounter ability, counting over a listing.
type groupCounter struct{ hub.ObjectStore }

func (g groupCounter) CountObjectsByType(ctx context.Context, f hub.Filter) (map[string]int64, error) {
	m := map[string]int64{}
	for after := int64(0); ; {
		objs, err := g.ListObjects(ctx, hub.Filter{Viewer: f.Viewer, Workspaces: f.Workspaces, AfterSeq: after, Limit: 100})
		if err != nil || len(objs) == 0 {
			return m, err
		}
		for _, o := range objs {
			m[o.Type]++
		}
		after = objs[len(objs)-1].Seq
	}
}

func TestDashboardCounts(t *testing.T) {
	h := newTestHub(t)
	custom := map[string]any{
		"type": "x-acme-widget", "spec_version": "2.1", "id": "x-acme-widget--44444444-4444-4444-8444-444444444444",
		"created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z", "name": "widget",
	}
	h.ingest(t, "cert-fr", bundleOf(custom, note(1, "first", "")))
	u := h.users["cert-uk"]
	row := func(typ string, n int) string {
		return fmt.Sprintf(`<tr><th scope="row">%s</th><td class="num">%d</td></tr>`, typ, n)
	}
	check := func(name string, body string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: dashboard lacks %s", name, w)
			}
		}
	}
	// Before Start has built the index of references, the store counts countedTypes.
	unstarted, err := New(Config{KB: h.kb, Dir: h.store, Auth: h.web.auth, Sessions: h.sessions, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	body := h.serve(t, unstarted, u, "/").Body.String()
	check("per type", body, row("note", 1), row("other types", 1))

	// Those counts are reused for a minute; the newest objects are not.
	h.ingest(t, "cert-fr", bundleOf(note(2, "second", "")))
	body = h.serve(t, unstarted, u, "/").Body.String()
	check("cached", body, row("note", 1), "note--00000000-0000-4000-8000-000000000002")
	h.clock.Advance(countsTTL + time.Second)
	body = h.serve(t, unstarted, u, "/").Body.String()
	check("after the TTL", body, row("note", 2))

	// Once started, the index counts every type by name, afresh.
	h.ingest(t, "cert-fr", bundleOf(note(3, "third", "")))
	body = h.serve(t, h.web, u, "/").Body.String()
	check("index", body, row("note", 3), row("x-acme-widget", 1), `<td class="num">4</td></tr></tfoot>`)
	if strings.Contains(body, "other types") {
		t.Error("index: dashboard shows other types")
	}

	// A store that counts by type counts every type by name, afresh.
	grouped, err := New(Config{KB: h.kb, Dir: h.store, Objects: groupCounter{h.store}, Auth: h.web.auth, Sessions: h.sessions, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	body = h.serve(t, grouped, u, "/").Body.String()
	check("TypeCounter", body, row("note", 3), row("x-acme-widget", 1), `<td class="num">4</td></tr></tfoot>`)
	if strings.Contains(body, "other types") {
		t.Error("TypeCounter: dashboard shows other types")
	}
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	h := newTestHub(t)
	ok := Config{KB: h.kb, Dir: h.store, Auth: h.web.auth, Sessions: h.sessions}
	if _, err := New(ok); err != nil {
		t.Fatalf("complete config: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"no KB", func(c *Config) { c.KB = nil }},
		{"no Dir", func(c *Config) { c.Dir = nil }},
		{"no Auth", func(c *Config) { c.Auth = nil }},
		{"no Sessions", func(c *Config) { c.Sessions = nil }},
		{"short key", func(c *Config) {
			c.Sessions = &auth.Sessions{Key: make([]byte, 16), Idle: time.Minute, Absolute: time.Hour}
		}},
		{"no lifetimes", func(c *Config) { c.Sessions = &auth.Sessions{Key: make([]byte, 32)} }},
	} {
		c := ok
		tc.edit(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
}

// seedDemoCase gives the hub the demo's collaboration: cert-us and cert-nl join the community
// workspace as in the demo, the seed scenario is stored there, and collab.SeedDemo opens the
// "APT28 phishing-domain take-down" case led by cert-fr, with its tasks, links and notes.
func (h *testHub) seedDemoCase(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	op := api.LocalOperator("test")
	for _, o := range []api.NewOrg{{Code: "cert-us", Name: "CISA/US-CERT (United States)", Country: "US"}, {Code: "cert-nl", Name: "NCSC-NL (Netherlands)", Country: "NL"}} {
		if _, err := h.admin.CreateOrg(ctx, op, o); err != nil {
			tb.Fatal(err)
		}
		if _, err := h.admin.AddMember(ctx, op, "community", o.Code); err != nil {
			tb.Fatal(err)
		}
	}
	h.ingest(tb, "cert-fr", demo.SeedBundle())
	if err := collab.SeedDemo(ctx, h.collab); err != nil {
		tb.Fatal(err)
	}
}

// demoCaseID returns the id of the case seedDemoCase opened.
func (h *testHub) demoCaseID(tb testing.TB) string {
	tb.Helper()
	cs, err := h.collab.Cases(context.Background(), "cert-fr", "community")
	if err != nil {
		tb.Fatal(err)
	}
	for _, c := range cs {
		if c.Title == "APT28 phishing-domain take-down" {
			return c.ID
		}
	}
	tb.Fatal("no APT28 take-down case")
	return ""
}
