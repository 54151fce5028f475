// Package web serves the hub's server-rendered web interface: login, the dashboard, search,
// object pages, ingest, administration, and, when their services are configured, cases,
// exercises, the policy tracker and feeds, with html/template templates and static assets
// embedded in the binary. Every page works without JavaScript; one small script adds keyboard
// shortcuts and the dashboard's live notice.
//
// Every response carries a strict Content-Security-Policy (no inline script or style, nothing
// from other origins; the printable after-action report of an exercise alone may carry its own
// inline style sheet and nothing else), and every POST form carries a CSRF token bound to the session, or before
// login to a signed pre-session cookie. Pages read objects only through a hub.Viewer built by
// package access for the path they serve (access.PathRead for object pages and listings,
// PathSearch for search, PathStats for the dashboard's statistics), so the web UI shows exactly
// what the JSON API shows. Administration goes through api.Admin, the API's own rules, and the
// feature pages through their services (collab.Service, exercise.Service, policy.Tracker,
// feed.Service), called for the user's organisation as the API's handlers call them.
package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"cshub/internal/api"
	"cshub/internal/audit"
	"cshub/internal/auth"
	"cshub/internal/collab"
	"cshub/internal/exercise"
	"cshub/internal/feed"
	"cshub/internal/gather"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/policy"
	"cshub/internal/seal"
	"cshub/internal/search"
	"cshub/internal/stream"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// contentSecurityPolicy is sent with every response. It allows styles, scripts and images from
// the hub itself only (images also as data: URIs), forms posting only to the hub, and no
// framing: a value from an object that slipped past escaping still could not run.
// connect-src 'self' lets the dashboard's script follow the live stream of the hub itself.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxFormBody bounds what a POST form may send; the login form needs a few hundred bytes.
const maxFormBody = 16 << 10

// Config holds what a Server is built from. KB, Dir, Auth and Sessions are required. Auth must
// have been built with the same Sessions in its auth.Config, since pages authenticate the session
// cookie through Auth.Session.
type Config struct {
	KB       *kb.Service
	Dir      hub.DirectoryStore
	Auth     *auth.Authenticator
	Sessions *auth.Sessions

	// Objects counts and pages objects for the dashboard without opening their bodies. Nil: Dir,
	// if it is also a hub.ObjectStore (as a hub.Store is).
	Objects hub.ObjectStore

	// Audit records logins and failed logins, and is the log the administration pages list
	// and verify; nil records nothing and leaves the audit page out (tests).
	Audit AuditLog

	// Search answers the search page; nil leaves /search out.
	Search *search.Index
	// Gather ingests what the ingest page submits; nil means a gatherer over KB.
	Gather *gather.Service
	// Admin applies the identity administration rules for the administration pages (the same
	// rules as the JSON API's); nil leaves /admin out.
	Admin *api.Admin
	// Keys reports the keyring's terms on the administration pages; nil leaves them out.
	Keys KeyStatus
	// Stream serves /live, the live updates the dashboard's script follows; nil leaves it out,
	// and the dashboard is then only as fresh as its last load.
	Stream *stream.Server

	// Collab serves the case pages (/cases/…) and the dashboard's open cases; nil leaves them
	// out. The pages read and act only through it, so they apply the same case rules as the API.
	Collab *collab.Service
	// Exercises serves /exercises/…, read and controlled through the service's roles on
	// access.PathExercise; nil leaves them out.
	Exercises *exercise.Service
	// Policy serves the policy tracker, /policy/…; nil leaves it out.
	Policy *policy.Tracker
	// Feeds serves /feeds/…, the user's organisation's feeds; nil leaves them out.
	Feeds *feed.Service

	Name string       // shown in the header; "" means "cshub"
	Log  *slog.Logger // nil: discard
	// Now is the clock sessions are issued by; nil means time.Now. It must agree with the
	// clock of Auth, which verifies them.
	Now func() time.Time
}

// AuditLog is the audit log as the web interface uses it; *audit.Log is one.
type AuditLog interface {
	kb.Recorder
	List(ctx context.Context, after int64, limit int) ([]audit.Item, error)
	Head(ctx context.Context) (audit.Head, error)
	Verify(ctx context.Context) (audit.Report, error)
}

// KeyStatus lists the keyring's terms; *seal.Barrier is one.
type KeyStatus interface {
	Status() ([]seal.TermInfo, error)
}

// Server is the web interface, an http.Handler for "/", "/login", "/logout", "/objects/{id}",
// "/ingest", "/static/…" and, when configured, "/search", "/admin/…", "/live", "/cases/…",
// "/exercises/…", "/policy/…" and "/feeds/…". Call Start
// to load the index of references that object pages and the dashboard use. Mount it at "/"
// beside the JSON API, which keeps "/api/", "/healthz" and "/taxii2/". It is safe for
// concurrent use.
type Server struct {
	kb       *kb.Service
	dir      hub.DirectoryStore
	objects  hub.ObjectStore
	auth     *auth.Authenticator
	sessions *auth.Sessions
	audit    AuditLog
	search   *search.Index
	gather   *gather.Service
	admin    *api.Admin
	keys     KeyStatus
	stream   *stream.Server
	collab   *collab.Service
	exercise *exercise.Service
	policy   *policy.Tracker
	feeds    *feed.Service
	refs     *refIndex
	csrfKey  []byte
	name     string
	log      *slog.Logger
	now      func() time.Time

	countCache countCache
	statsCache statsCache

	pages     map[string]*template.Template // by page file name; read-only after New
	staticTag string                        // content hash of the static files, for cache busting
	static    http.Handler
	handler   http.Handler
}

// New returns a Server with its templates parsed and its routes installed. It fails when a
// required field is missing or the Sessions are unusable.
func New(c Config) (*Server, error) {
	switch {
	case c.KB == nil:
		return nil, errors.New("web: Config.KB is required")
	case c.Dir == nil:
		return nil, errors.New("web: Config.Dir is required")
	case c.Auth == nil:
		return nil, errors.New("web: Config.Auth is required")
	case c.Sessions == nil:
		return nil, errors.New("web: Config.Sessions is required")
	case len(c.Sessions.Key) < 32:
		return nil, errors.New("web: Config.Sessions.Key must hold at least 32 bytes")
	case c.Sessions.Idle <= 0 || c.Sessions.Absolute <= 0:
		return nil, errors.New("web: Config.Sessions.Idle and Absolute must be positive")
	}
	s := &Server{
		kb: c.KB, dir: c.Dir, objects: c.Objects, auth: c.Auth, sessions: c.Sessions, audit: c.Audit,
		search: c.Search, gather: c.Gather, admin: c.Admin, keys: c.Keys, stream: c.Stream, refs: newRefIndex(),
		collab: c.Collab, exercise: c.Exercises, policy: c.Policy, feeds: c.Feeds,
		csrfKey: deriveKey(c.Sessions.Key, "cshub web csrf v1"),
		name:    c.Name, log: c.Log, now: c.Now,
	}
	if s.objects == nil {
		objs, ok := c.Dir.(hub.ObjectStore)
		if !ok {
			return nil, errors.New("web: Config.Objects is required when Dir is not also a hub.ObjectStore")
		}
		s.objects = objs
	}
	if s.name == "" {
		s.name = "cshub"
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.gather == nil {
		s.gather = gather.New(s.kb, s.now)
	}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	s.staticTag, err = hashFS(sub)
	if err != nil {
		return nil, err
	}
	s.static = http.StripPrefix("/static/", http.FileServerFS(sub))
	s.handler = s.routes()
	return s, nil
}

// routes is the route table of the web interface, wrapped in the middleware every response
// passes: security headers first, so that even errors from the mux carry them, then the
// cross-origin check on unsafe methods.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /static/", s.serveStatic)

	mux.HandleFunc("GET /login", s.loginForm)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)

	mux.Handle("GET /{$}", s.authed(s.dashboard))
	mux.Handle("GET /objects/{id}", s.authed(s.object))
	mux.Handle("GET /ingest", s.authed(s.ingestForm))
	mux.Handle("POST /ingest", s.authed(s.ingest))
	if s.search != nil {
		mux.Handle("GET /search", s.authed(s.searchPage))
		mux.Handle("POST /search/saved", s.authed(s.saveSearch))
		mux.Handle("POST /search/saved/{id}/delete", s.authed(s.deleteSearch))
	}
	if s.stream != nil {
		mux.Handle("GET /live", s.authed(func(w http.ResponseWriter, r *http.Request) {
			s.stream.Serve(w, r, principal(r.Context()).Org)
		}))
	}
	if s.admin != nil {
		s.adminRoutes(mux)
	}
	if s.collab != nil {
		mux.Handle("GET /cases", s.authed(s.casesPage))
		mux.Handle("GET /cases/{id}", s.authed(s.casePage))
		mux.Handle("POST /cases/{id}/status", s.authed(s.caseChange(s.changeCaseStatus)))
		mux.Handle("POST /cases/{id}/tasks", s.authed(s.caseChange(s.addCaseTask)))
		mux.Handle("POST /cases/{id}/tasks/{task}", s.authed(s.caseChange(s.changeCaseTask)))
	}
	if s.exercise != nil {
		mux.Handle("GET /exercises", s.authed(s.exercisesPage))
		mux.Handle("GET /exercises/{id}", s.authed(s.exercisePage))
		mux.Handle("GET /exercises/{id}/report", s.authed(s.exerciseReport))
		mux.Handle("POST /exercises/{id}/control", s.authed(s.exerciseControl))
	}
	if s.policy != nil {
		mux.Handle("GET /policy", s.authed(s.policyPage))
		mux.Handle("GET /policy/{symbol...}", s.authed(s.policyDocument))
	}
	if s.feeds != nil {
		mux.Handle("GET /feeds", s.authed(s.feedsPage))
		mux.Handle("GET /feeds/{name}/{format}", s.authed(s.feedFile))
		mux.Handle("POST /feeds/{name}/delete", s.authed(s.deleteFeed))
	}

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.notFound(w, r)
	})

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Info("web: cross-origin request refused", "method", r.Method, "path", r.URL.Path,
			"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
		s.forbidden(w, r)
	}))
	return securityHeaders(cop.Handler(mux))
}

// ServeHTTP makes a Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// securityHeaders sets the headers every response carries, before h writes anything.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		if r.TLS != nil {
			// Only over TLS: a browser must not be told to insist on HTTPS by a plain-HTTP
			// loopback server (--insecure-http) that cannot serve it.
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/") { // no directory listings
		s.notFound(w, r)
		return
	}
	// Pages link to static files with ?v=<content hash>, so a changed file has a new URL and
	// the old one may be cached for long.
	if r.URL.Query().Get("v") == s.staticTag {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	s.static.ServeHTTP(w, r)
}

// hashFS returns a short hex digest of every file in fsys, to tag static URLs.
func hashFS(fsys fs.FS) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		h.Write([]byte(path))
		h.Write([]byte{0})
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}

// fail renders the error page for err. Not-found errors all render the same page, whatever
// their message, so that a TLP:RED object hidden from the viewer looks exactly like a missing
// one. Internal errors are logged with their cause and shown only as "internal error".
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := hub.ErrorCode(err)
	switch code {
	case hub.ENotFound:
		s.notFound(w, r)
		return
	case hub.EInternal:
		s.log.Error("web: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	msg := hub.ErrorMessage(err)
	if code == hub.EInternal {
		msg = "Something went wrong on the hub. The error was logged; try again later."
	}
	s.render(w, r, hub.HTTPStatus(code), "error.html", &page{Title: "Error", Data: errorPage{Message: msg}})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusNotFound, "notfound.html", &page{Title: "Not found"})
}

func (s *Server) forbidden(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusForbidden, "error.html", &page{Title: "Forbidden", Data: errorPage{
		Message: "The request was refused because it did not come from a form of this hub. Reload the page and try again.",
	}})
}

type errorPage struct{ Message string }

// page is what every template receives: the layout's fields and the page's own Data.
type page struct {
	Title  string
	Hub    string
	User   *auth.Principal // nil before login
	Org    string          // the user's organisation's name
	CSRF   string          // token for the forms of this page
	Nav    string          // which nav entry is current
	CSS    string          // URL of the style sheet
	JS     string          // URL of the script
	Search bool            // the search page exists
	Admin  bool            // the administration pages exist
	TLP    hub.TLP         // the page's banner; TLPUnset for none
	Data   any

	// Which of the optional feature pages exist, for the navigation.
	Cases, Exercises, Policy, Feeds bool
}

// render executes the page template into a buffer and then sends it, so that a failing template
// yields a clean error response instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, p *page) {
	p.Hub = s.name
	p.CSS = "/static/cshub.css?v=" + s.staticTag
	p.JS = "/static/cshub.js?v=" + s.staticTag
	p.Search, p.Admin = s.search != nil, s.admin != nil
	p.Cases, p.Exercises, p.Policy, p.Feeds = s.collab != nil, s.exercise != nil, s.policy != nil, s.feeds != nil
	if p.User == nil {
		if u := principal(r.Context()); u != nil {
			p.User = u.Principal
			p.Org = u.OrgName
			p.CSRF = s.sessionToken(u.Principal)
		}
	}
	t := s.pages[name]
	var buf bytes.Buffer
	if t == nil {
		s.log.Error("web: no template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.Error("web: rendering page", "name", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if _, err := w.Write(buf.Bytes()); err != nil {
		s.log.Debug("web: response write failed", "err", err)
	}
}

// viewer is the signed-in user of a request, as authed puts it in the request's context.
type viewer struct {
	*auth.Principal
	OrgName string
	Viewer  hub.Viewer
}

type viewerKey struct{}

// writeForm checks a posted form (CSRF token, size) and that its user may write, and answers
// the request itself when either fails.
func (s *Server) writeForm(w http.ResponseWriter, r *http.Request) (*viewer, bool) {
	if !s.checkForm(w, r, maxFormBody) {
		return nil, false
	}
	u := principal(r.Context())
	if !u.Allows(hub.ScopeWrite) {
		s.fail(w, r, errReadOnly)
		return nil, false
	}
	return u, true
}

func principal(ctx context.Context) *viewer {
	v, _ := ctx.Value(viewerKey{}).(*viewer)
	return v
}
