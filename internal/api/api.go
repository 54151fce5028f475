// Package api serves the hub's JSON API over HTTP: one route table on the standard ServeMux,
// middleware as plain function composition, and one place that turns a hub.Error into a status.
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"cshub/internal/audit"
	"cshub/internal/auth"
	"cshub/internal/gather"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/lookup"
	"cshub/internal/search"
	"cshub/internal/stream"
)

// DefaultMaxBody bounds a request body: a STIX bundle of a few hundred megabytes is a real
// submission; anything larger is refused before it is read.
const DefaultMaxBody = 1 << 30

// Config holds what a Server is built from.
type Config struct {
	KB      *kb.Service
	Gather  *gather.Service // nil: a gatherer over KB
	Dir     hub.DirectoryStore
	Auth    *auth.Authenticator
	Log     *slog.Logger
	MaxBody int64 // 0 means DefaultMaxBody
	// Stream serves GET /api/v1/stream, the live updates; the route is absent when nil.
	Stream *stream.Server
	// Lookup serves POST /api/v1/match; the route is absent when nil.
	Lookup *lookup.Service
	// Search serves GET /api/v1/search; the route is absent when nil.
	Search *search.Index
	// Admin serves the identity administration endpoints (admin.go); absent when nil.
	Admin *Admin
	// Features install their own endpoints (see Routes).
	Features []Routes
	// Audit records the use of each machine credential (API key, client certificate) once per
	// KeyUseWindow; nil records nothing.
	Audit Recorder
}

// Server is the JSON API. Its Handler is safe for concurrent use.
type Server struct {
	kb       *kb.Service
	gather   *gather.Service
	dir      hub.DirectoryStore
	auth     *auth.Authenticator
	log      *slog.Logger
	maxBody  int64
	stream   *stream.Server
	lookup   *lookup.Service
	searcher *search.Index
	uses     *keyUses
	mux      *http.ServeMux
}

// New returns a Server with its routes installed.
func New(c Config) *Server {
	s := &Server{kb: c.KB, gather: c.Gather, dir: c.Dir, auth: c.Auth, log: c.Log, maxBody: c.MaxBody, stream: c.Stream, lookup: c.Lookup, searcher: c.Search}
	if c.Audit != nil {
		s.uses = &keyUses{audit: c.Audit, last: map[string]time.Time{}}
	}
	if s.gather == nil {
		s.gather = gather.New(c.KB, nil)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxBody == 0 {
		s.maxBody = DefaultMaxBody
	}
	s.mux = http.NewServeMux()
	s.routes()
	if c.Admin != nil {
		s.EnableAdmin(c.Admin)
	}
	for _, f := range c.Features {
		f.Routes(&Router{s: s})
	}
	return s
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", s.healthz)

	s.mux.Handle("GET /api/v1/objects", s.authed(hub.ScopeRead, s.listObjects))
	s.mux.Handle("GET /api/v1/objects/{id}", s.authed(hub.ScopeRead, s.getObject))
	s.mux.Handle("POST /api/v1/workspaces/{ws}/bundles", s.authed(hub.ScopeWrite, s.postBundle))
	s.mux.Handle("POST /api/v1/workspaces/{ws}/ingest", s.authed(hub.ScopeWrite, s.postIngest))
	s.mux.Handle("GET /api/v1/whoami", s.authed(hub.ScopeRead, s.whoami))
	if s.searcher != nil {
		s.mux.Handle("GET /api/v1/search", s.authed(hub.ScopeRead, s.search))
	}
	if s.lookup != nil {
		s.mux.Handle("POST /api/v1/match", s.authed(hub.ScopeRead, s.match))
		s.mux.Handle("POST /api/v1/match/observed", s.authed(hub.ScopeRead, s.matchObserved))
	}
	if s.stream != nil {
		s.mux.Handle("GET /api/v1/stream", s.authed(hub.ScopeRead, func(w http.ResponseWriter, r *http.Request) {
			s.stream.Serve(w, r, principal(r).Org)
		}))
	}

	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.error(w, r, hub.Errorf(hub.ENotFound, "no API endpoint %s %s", r.Method, r.URL.Path))
	})
}

// ServeHTTP makes a Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	s.json(w, http.StatusOK, map[string]string{"status": "ok"})
}

type principalKey struct{}

// authed wraps h so that it runs only for a caller with a valid API key allowing scope.
func (s *Server) authed(scope hub.Scope, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cshub"`)
			s.error(w, r, err)
			return
		}
		if !p.Allows(scope) {
			s.error(w, r, &hub.Error{Code: hub.EForbidden, Field: "Authorization", Message: "this key's scope is " + string(p.Scope) + "; the endpoint needs " + string(scope)})
			return
		}
		if s.uses != nil {
			if err := s.uses.note(r, p); err != nil {
				s.log.Error("audit of key use failed", "org", p.Org, "via", p.Via, "err", err)
			}
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

func (s *Server) authenticate(r *http.Request) (*auth.Principal, error) {
	if p, ok, err := s.viaCertificate(r); ok {
		return p, err
	}
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !equalFoldASCII(h[:len(prefix)], prefix) {
		return nil, &hub.Error{Code: hub.EUnauthorized, Field: "Authorization", Message: "send an API key as 'Authorization: Bearer <key>'"}
	}
	return s.auth.APIKey(r.Context(), h[len(prefix):])
}

// KeyUseWindow is how often the use of one machine credential is audited: a sensor matching
// every second would otherwise bury the log, while an hourly entry still tells who used which
// key, from where, and until when.
const KeyUseWindow = time.Hour

// keyUses audits the use of API keys and client certificates, once per credential per window
// on each replica.
type keyUses struct {
	audit Recorder
	mu    sync.Mutex
	last  map[string]time.Time // credential → when its use was last recorded; guarded by mu
}

func (k *keyUses) note(r *http.Request, p *auth.Principal) error {
	var cred string
	switch p.Via {
	case auth.ViaKey:
		cred = "key:" + p.KeyID
	case auth.ViaMTLS:
		cred = "certificate:" + p.Username
	default:
		return nil // people's logins are audited when they log in
	}
	now := time.Now()
	k.mu.Lock()
	if now.Sub(k.last[cred]) < KeyUseWindow {
		k.mu.Unlock()
		return nil
	}
	k.last[cred] = now
	k.mu.Unlock()
	_, err := k.audit.Record(r.Context(), audit.Entry{Org: p.Org, Actor: p.Username, Action: "key.use", Target: cred,
		Details: map[string]string{"method": r.Method, "path": r.URL.Path, "address": r.RemoteAddr, "scope": string(p.Scope)}})
	if err != nil {
		k.mu.Lock()
		delete(k.last, cred) // try again with the next request
		k.mu.Unlock()
	}
	return err
}

func principal(r *http.Request) *auth.Principal {
	p, _ := r.Context().Value(principalKey{}).(*auth.Principal)
	return p
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	s.json(w, http.StatusOK, map[string]any{"org": p.Org, "user": p.Username, "role": p.Role, "scope": p.Scope, "via": p.Via})
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Field   string `json:"field,omitempty"`
		Message string `json:"message"`
	} `json:"error"`
}

// error writes err as {"error":{"code","field","message"}}. Internal errors are logged with
// their cause and shown to the client only as "internal error".
func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	code := hub.ErrorCode(err)
	var b errorBody
	b.Error.Code = code
	b.Error.Field = hub.ErrorField(err)
	b.Error.Message = hub.ErrorMessage(err)
	if code == hub.EInternal {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	s.json(w, hub.HTTPStatus(code), b)
}

func (s *Server) json(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.log.Debug("response write failed", "err", err)
	}
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
