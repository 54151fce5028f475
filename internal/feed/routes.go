package feed

import (
	"encoding/json"
	"net/http"
	"strings"

	"cshub/internal/api"
	"cshub/internal/auth"
	"cshub/internal/export"
	"cshub/internal/hub"
)

// Routes serves the feed endpoints on the API:
//
//	GET    /api/v1/feeds                  the caller's organisation's feeds (read)
//	POST   /api/v1/feeds                  {"name": …, "selection": {…}} creates one (write)
//	GET    /api/v1/feeds/{name}           ?since=CURSOR: a Delta; ?format=F: the whole feed as a file (read)
//	DELETE /api/v1/feeds/{name}           deletes one (write)
//
// A feed belongs to an organisation: another organisation's feed is "not found".
func (s *Service) Routes(r *api.Router) {
	r.Handle("GET /api/v1/feeds", hub.ScopeRead, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		ds, err := s.List(req.Context(), p.Org)
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"feeds": ds})
		return nil
	})
	r.Handle("POST /api/v1/feeds", hub.ScopeWrite, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		r.LimitBody(w, req)
		var in struct {
			Name      string           `json:"name"`
			Selection export.Selection `json:"selection"`
		}
		dec := json.NewDecoder(req.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			return hub.FieldError("body", "%v", err)
		}
		d, err := s.Create(req.Context(), p.Org, actor(p), in.Name, in.Selection)
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusCreated, d)
		return nil
	})
	r.Handle("DELETE /api/v1/feeds/{name}", hub.ScopeWrite, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		if err := s.Delete(req.Context(), p.Org, actor(p), req.PathValue("name")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	r.Handle("GET /api/v1/feeds/{name}", hub.ScopeRead, s.serveFeed)
}

func actor(p *auth.Principal) string {
	if p.Username != "" {
		return p.Username
	}
	return p.Via
}

func (s *Service) serveFeed(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
	q := req.URL.Query()
	for k, vs := range q {
		switch {
		case k != "since" && k != "format":
			return hub.FieldError(k, "unknown parameter; a feed takes since or format (its filters are in its definition)")
		case len(vs) != 1:
			return hub.FieldError(k, "give it once")
		}
	}
	name := req.PathValue("name")
	if !q.Has("format") {
		d, err := s.Poll(req.Context(), p.Org, name, q.Get("since"))
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, d)
		return nil
	}
	if q.Has("since") {
		return hub.FieldError("since", "a feed fetched as a file is always whole; use If-None-Match to skip an unchanged one")
	}
	f, err := export.LookupFormat(q.Get("format"))
	if err != nil {
		return err
	}
	inds, meta, etag, err := s.File(req.Context(), p.Org, name, f)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("ETag", etag)
	// The caller may keep the file but must ask again before using it: If-None-Match makes
	// that cheap.
	h.Set("Cache-Control", "private, no-cache")
	if matches(req.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Type", f.ContentType)
	h.Set("Content-Disposition", `attachment; filename="`+name+f.Ext+`"`)
	// A write error after this point is the client going away; the status is sent.
	_ = f.Write(w, inds, meta)
	return nil
}

// matches reports whether an If-None-Match header names etag (weak comparison, RFC 9110).
func matches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}
