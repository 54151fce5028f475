package webhook

import (
	"net/http"

	"cshub/internal/api"
	"cshub/internal/auth"
	"cshub/internal/hub"
)

// Routes is the webhook API, mounted through api.Config.Features. Registering and deleting
// need an admin-scoped key of the organisation, since a webhook sends its data off the hub:
//
//	POST   /api/v1/webhooks                   register (Input); answers with the secret, once
//	GET    /api/v1/webhooks                   the organisation's webhooks
//	DELETE /api/v1/webhooks/{id}              end one
//	GET    /api/v1/webhooks/{id}/deliveries   its recent delivery attempts
type Routes struct {
	S *Service
}

// Routes installs the endpoints.
func (rs Routes) Routes(r *api.Router) {
	s := rs.S
	r.Handle("POST /api/v1/webhooks", hub.ScopeAdmin, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		r.LimitBody(w, req)
		var in Input
		if err := api.DecodeJSON(req.Body, &in); err != nil {
			return err
		}
		reg, err := s.Register(req.Context(), p.Org, p.Username, in)
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusCreated, reg)
		return nil
	})
	r.Handle("GET /api/v1/webhooks", hub.ScopeRead, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		hooks, err := s.Hooks(req.Context(), p.Org)
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, hooks)
		return nil
	})
	r.Handle("DELETE /api/v1/webhooks/{id}", hub.ScopeAdmin, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		if err := s.Delete(req.Context(), p.Org, p.Username, req.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	r.Handle("GET /api/v1/webhooks/{id}/deliveries", hub.ScopeRead, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		log, err := s.Deliveries(req.Context(), p.Org, req.PathValue("id"))
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, log)
		return nil
	})
}
