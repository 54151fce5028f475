package policy

import (
	"net/http"

	"cshub/internal/access"
	"cshub/internal/api"
	"cshub/internal/auth"
	"cshub/internal/hub"
)

// Routes serves the tracker over the API: GET /api/v1/policy?actor=&issue=&status=&kind= lists
// the documents, GET /api/v1/policy/{symbol} shows one (the symbol's slashes as they are or
// escaped as %2F). Citations are those the caller's organisation may read.
type Routes struct {
	Tracker *Tracker
	Dir     hub.DirectoryStore
}

// Routes implements api.Routes.
func (rt Routes) Routes(r *api.Router) {
	r.Handle("GET /api/v1/policy", hub.ScopeRead, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		v, err := access.ViewerFor(req.Context(), rt.Dir, p.Org, access.PathRead)
		if err != nil {
			return err
		}
		q := req.URL.Query()
		docs, err := rt.Tracker.Documents(req.Context(), v, Filter{Actor: q.Get("actor"), Issue: q.Get("issue"), Status: q.Get("status"), Kind: q.Get("kind")})
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"documents": docs})
		return nil
	})
	r.Handle("GET /api/v1/policy/{symbol...}", hub.ScopeRead, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		v, err := access.ViewerFor(req.Context(), rt.Dir, p.Org, access.PathRead)
		if err != nil {
			return err
		}
		d, err := rt.Tracker.Document(req.Context(), v, req.PathValue("symbol"))
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, d)
		return nil
	})
}
