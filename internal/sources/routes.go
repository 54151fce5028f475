package sources

import (
	"net/http"

	"cshub/internal/access"
	"cshub/internal/api"
	"cshub/internal/auth"
	"cshub/internal/hub"
)

// Routes serves the subscriptions of the caller's organisation over the API:
//
//	GET    /api/v1/sources            the organisation's sources with their status
//	POST   /api/v1/sources            subscribe: {"name","url","kind","workspace","tlp"}
//	DELETE /api/v1/sources/{id}       unsubscribe
//	POST   /api/v1/sources/{id}/poll  poll now; answers the source with its new status
type Routes struct {
	Sources *Service
	Dir     hub.DirectoryStore
}

// Routes implements api.Routes.
func (rt Routes) Routes(r *api.Router) {
	r.Handle("GET /api/v1/sources", hub.ScopeRead, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		v, err := access.ViewerFor(req.Context(), rt.Dir, p.Org, access.PathRead)
		if err != nil {
			return err
		}
		list, err := rt.Sources.List(req.Context(), v)
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"sources": list})
		return nil
	})
	r.Handle("POST /api/v1/sources", hub.ScopeWrite, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		var n NewSource
		if err := api.DecodeJSON(http.MaxBytesReader(w, req.Body, 64<<10), &n); err != nil {
			return err
		}
		n.Org, n.Actor = p.Org, p.Username
		src, err := rt.Sources.Add(req.Context(), n)
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusCreated, src)
		return nil
	})
	r.Handle("DELETE /api/v1/sources/{id}", hub.ScopeWrite, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		v, err := access.ViewerFor(req.Context(), rt.Dir, p.Org, access.PathRead)
		if err != nil {
			return err
		}
		if err := rt.Sources.Remove(req.Context(), v, p.Org, p.Username, req.PathValue("id")); err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, map[string]string{"removed": req.PathValue("id")})
		return nil
	})
	r.Handle("POST /api/v1/sources/{id}/poll", hub.ScopeWrite, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		v, err := access.ViewerFor(req.Context(), rt.Dir, p.Org, access.PathRead)
		if err != nil {
			return err
		}
		src, err := rt.Sources.Poll(req.Context(), v, p.Org, req.PathValue("id"))
		if src == nil && err != nil {
			return err
		}
		// A failed run is the source's news, not the request's: it is in the status.
		api.WriteJSON(w, http.StatusOK, src)
		return nil
	})
}
