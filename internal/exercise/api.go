package exercise

import (
	"errors"
	"io"
	"net/http"

	"cshub/internal/api"
	"cshub/internal/auth"
	"cshub/internal/hub"
)

// Routes serves the exercise endpoints on the API (it implements api.Routes):
//
//	GET  /api/v1/exercises                          the exercises the caller's organisation directs, scores or plays
//	POST /api/v1/exercises/{id}/{action}            director: start, pause, resume, jump {"by"}, release {"inject","team"}, end, freeze, unfreeze
//	POST /api/v1/exercises/{id}/scores              director, white team: {"team","inject","task","points","comment"}
//	GET  /api/v1/exercises/{id}/injects?team=       injects received (a blue team's own)
//	GET  /api/v1/exercises/{id}/tasks?team=         tasks of released injects with scores
//	GET  /api/v1/exercises/{id}/scoreboard?live=1   frozen for blue teams while frozen
//	GET  /api/v1/exercises/{id}/report?format=html  after-action report, JSON or printable HTML
func (s *Service) Routes(r *api.Router) {
	actor := func(p *auth.Principal) Actor { return Actor{Org: p.Org, User: p.Username} }
	r.Handle("GET /api/v1/exercises", hub.ScopeRead, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		list, err := s.List(req.Context(), p.Org)
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"exercises": list})
		return nil
	})
	r.Handle("POST /api/v1/exercises/{id}/scores", hub.ScopeWrite, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		r.LimitBody(w, req)
		var m ManualScore
		if err := decode(req.Body, &m); err != nil {
			return err
		}
		if err := s.Score(req.Context(), req.PathValue("id"), actor(p), m); err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusCreated, m)
		return nil
	})
	r.Handle("POST /api/v1/exercises/{id}/{action}", hub.ScopeWrite, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		r.LimitBody(w, req)
		var c Control
		if err := decode(req.Body, &c); err != nil {
			return err
		}
		c.Action = req.PathValue("action")
		st, err := s.Apply(req.Context(), req.PathValue("id"), actor(p), c)
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"status": st.Status, "elapsed": Duration(st.elapsed(s.now())), "frozen": !st.FrozenAt.IsZero()})
		return nil
	})
	r.Handle("GET /api/v1/exercises/{id}/injects", hub.ScopeRead, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		ds, err := s.Injects(req.Context(), req.PathValue("id"), actor(p), req.URL.Query().Get("team"))
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"injects": ds})
		return nil
	})
	r.Handle("GET /api/v1/exercises/{id}/tasks", hub.ScopeRead, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		ts, err := s.Tasks(req.Context(), req.PathValue("id"), actor(p), req.URL.Query().Get("team"))
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"tasks": ts})
		return nil
	})
	r.Handle("GET /api/v1/exercises/{id}/scoreboard", hub.ScopeRead, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		b, err := s.Board(req.Context(), req.PathValue("id"), actor(p), req.URL.Query().Get("live") == "1")
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, b)
		return nil
	})
	r.Handle("GET /api/v1/exercises/{id}/report", hub.ScopeRead, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		rep, err := s.Report(req.Context(), req.PathValue("id"), actor(p))
		if err != nil {
			return err
		}
		switch req.URL.Query().Get("format") {
		case "", "json":
			api.WriteJSON(w, http.StatusOK, rep)
		case "html":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
			return rep.WriteHTML(w)
		default:
			return hub.FieldError("format", "is json or html")
		}
		return nil
	})
}

// decode reads an optional JSON body into v; an empty body leaves v as it is.
func decode(r io.Reader, v any) error {
	if err := api.DecodeJSON(r, v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
