package api

import (
	"encoding/json"
	"net/http"

	"cshub/internal/auth"
	"cshub/internal/hub"
)

// Routes is a feature that serves its own endpoints under /api/v1/ (exercises, exports, cases):
// it lives in its own package and installs its handlers through a Router, so that it shares the
// API's authentication, scopes and error format without this package knowing it.
type Routes interface {
	Routes(r *Router)
}

// HandlerFunc serves one request for an authenticated caller. A returned error is written as the
// API's error body with the status of its hub error code; a handler that returns nil has written
// its response.
type HandlerFunc func(w http.ResponseWriter, r *http.Request, p *auth.Principal) error

// Router installs a feature's endpoints on the API's route table.
type Router struct{ s *Server }

// Handle serves pattern (a net/http ServeMux pattern such as "GET /api/v1/exercises/{id}") for
// callers whose credentials allow scope.
func (rt *Router) Handle(pattern string, scope hub.Scope, h HandlerFunc) {
	rt.s.mux.Handle(pattern, rt.s.authed(scope, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r, principal(r)); err != nil {
			rt.s.error(w, r, err)
		}
	}))
}

// LimitBody bounds r's body by the API's maximum request size.
func (rt *Router) LimitBody(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, rt.s.maxBody)
}

// WriteJSON writes v as the JSON response with status. A failed write is the client's going
// away and is not reported: the status is already sent.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
