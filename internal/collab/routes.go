package collab

import (
	"net/http"

	"cshub/internal/api"
	"cshub/internal/auth"
	"cshub/internal/hub"
)

// Routes is the collaboration API, mounted through api.Config.Features:
//
//	POST  /api/v1/sightings                       record a sighting (SightingInput)
//	GET   /api/v1/sightings?object=ID             sightings of an object, counts per TLP, score
//	POST  /api/v1/notes                           add a note or a reply (NoteInput)
//	GET   /api/v1/notes?object=ID                 the discussion about an object, threaded
//	GET   /api/v1/notes?mentions=me               notes that mention the caller's organisation
//	POST  /api/v1/opinions                        record the caller's assessment (OpinionInput)
//	GET   /api/v1/attribution[?object=ID]         assessments per claim, side by side
//	POST  /api/v1/workspaces/{ws}/cases           open a case (CaseInput)
//	GET   /api/v1/cases[?workspace=WS]            cases the caller may see
//	GET   /api/v1/cases/{id}                      one case
//	PATCH /api/v1/cases/{id}                      change it (lead only)
//	POST  /api/v1/cases/{id}/tasks                add a task (TaskInput)
//	PATCH /api/v1/cases/{id}/tasks/{task}         change a task
//	POST  /api/v1/cases/{id}/links                link objects ({"object_refs":[…]})
//	GET   /api/v1/cases/{id}/timeline             everything that happened
//	GET   /api/v1/correlations[?object=ID]        correlation notices of the caller
//	GET   /api/v1/objects/{id}/correlations       an object's correlation links (both directions)
type Routes struct {
	S *Service
}

// Routes installs the endpoints.
func (rs Routes) Routes(r *api.Router) {
	s := rs.S
	write := func(pattern string, status int, fn func(req *http.Request, p *auth.Principal) (any, error)) {
		r.Handle(pattern, hub.ScopeWrite, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
			r.LimitBody(w, req)
			out, err := fn(req, p)
			if err != nil {
				return err
			}
			api.WriteJSON(w, status, out)
			return nil
		})
	}
	get := func(pattern string, fn func(req *http.Request, p *auth.Principal) (any, error)) {
		r.Handle(pattern, hub.ScopeRead, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
			out, err := fn(req, p)
			if err != nil {
				return err
			}
			api.WriteJSON(w, http.StatusOK, out)
			return nil
		})
	}
	actor := func(p *auth.Principal) Actor { return Actor{Org: p.Org, Name: p.Username} }

	write("POST /api/v1/sightings", http.StatusCreated, func(req *http.Request, p *auth.Principal) (any, error) {
		var in SightingInput
		if err := api.DecodeJSON(req.Body, &in); err != nil {
			return nil, err
		}
		return s.RecordSighting(req.Context(), actor(p), in)
	})
	get("GET /api/v1/sightings", func(req *http.Request, p *auth.Principal) (any, error) {
		return s.SightingsOf(req.Context(), p.Org, req.URL.Query().Get("object"))
	})
	write("POST /api/v1/notes", http.StatusCreated, func(req *http.Request, p *auth.Principal) (any, error) {
		var in NoteInput
		if err := api.DecodeJSON(req.Body, &in); err != nil {
			return nil, err
		}
		return s.AddNote(req.Context(), actor(p), in)
	})
	get("GET /api/v1/notes", func(req *http.Request, p *auth.Principal) (any, error) {
		q := req.URL.Query()
		switch m := q.Get("mentions"); {
		case m == "me":
			return s.Mentions(req.Context(), p.Org)
		case m != "":
			return nil, hub.FieldError("mentions", "only \"me\" is supported: an organisation reads its own mentions")
		}
		return s.NotesOn(req.Context(), p.Org, q.Get("object"))
	})
	write("POST /api/v1/opinions", http.StatusCreated, func(req *http.Request, p *auth.Principal) (any, error) {
		var in OpinionInput
		if err := api.DecodeJSON(req.Body, &in); err != nil {
			return nil, err
		}
		return s.RecordOpinion(req.Context(), actor(p), in)
	})
	get("GET /api/v1/attribution", func(req *http.Request, p *auth.Principal) (any, error) {
		return s.Attribution(req.Context(), p.Org, req.URL.Query().Get("object"))
	})
	write("POST /api/v1/workspaces/{ws}/cases", http.StatusCreated, func(req *http.Request, p *auth.Principal) (any, error) {
		var in CaseInput
		if err := api.DecodeJSON(req.Body, &in); err != nil {
			return nil, err
		}
		return s.OpenCase(req.Context(), actor(p), req.PathValue("ws"), in)
	})
	get("GET /api/v1/cases", func(req *http.Request, p *auth.Principal) (any, error) {
		return s.Cases(req.Context(), p.Org, req.URL.Query().Get("workspace"))
	})
	get("GET /api/v1/cases/{id}", func(req *http.Request, p *auth.Principal) (any, error) {
		return s.Case(req.Context(), p.Org, req.PathValue("id"))
	})
	write("PATCH /api/v1/cases/{id}", http.StatusOK, func(req *http.Request, p *auth.Principal) (any, error) {
		var in CaseInput
		if err := api.DecodeJSON(req.Body, &in); err != nil {
			return nil, err
		}
		return s.UpdateCase(req.Context(), actor(p), req.PathValue("id"), in)
	})
	write("POST /api/v1/cases/{id}/tasks", http.StatusCreated, func(req *http.Request, p *auth.Principal) (any, error) {
		var in TaskInput
		if err := api.DecodeJSON(req.Body, &in); err != nil {
			return nil, err
		}
		return s.AddTask(req.Context(), actor(p), req.PathValue("id"), in)
	})
	write("PATCH /api/v1/cases/{id}/tasks/{task}", http.StatusOK, func(req *http.Request, p *auth.Principal) (any, error) {
		var in TaskInput
		if err := api.DecodeJSON(req.Body, &in); err != nil {
			return nil, err
		}
		return s.UpdateTask(req.Context(), actor(p), req.PathValue("id"), req.PathValue("task"), in)
	})
	write("POST /api/v1/cases/{id}/links", http.StatusOK, func(req *http.Request, p *auth.Principal) (any, error) {
		var in struct {
			ObjectRefs []string `json:"object_refs"`
		}
		if err := api.DecodeJSON(req.Body, &in); err != nil {
			return nil, err
		}
		return s.Link(req.Context(), actor(p), req.PathValue("id"), in.ObjectRefs)
	})
	get("GET /api/v1/cases/{id}/timeline", func(req *http.Request, p *auth.Principal) (any, error) {
		return s.Timeline(req.Context(), p.Org, req.PathValue("id"))
	})
	get("GET /api/v1/correlations", func(req *http.Request, p *auth.Principal) (any, error) {
		return s.Correlations(req.Context(), p.Org, req.URL.Query().Get("object"))
	})
	get("GET /api/v1/objects/{id}/correlations", func(req *http.Request, p *auth.Principal) (any, error) {
		return s.LinksOf(req.Context(), p.Org, req.PathValue("id"))
	})
}
