package api

import (
	"encoding/json"
	"io"
	"net/http"

	"cshub/internal/access"
	"cshub/internal/hub"
	"cshub/internal/lookup"
)

// maxMatchValues bounds one match request; a SIEM with more values sends more requests.
const maxMatchValues = 100_000

// match serves POST /api/v1/match {"values":[...]}: per value, the indicators the caller may
// see that it hits, and how.
func (s *Server) match(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Values []string `json:"values"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20))
	if err := dec.Decode(&req); err != nil {
		s.error(w, r, hub.FieldError("body", "not a JSON object {\"values\":[...]}: %v", err))
		return
	}
	if len(req.Values) == 0 {
		s.error(w, r, hub.FieldError("values", "give at least one value"))
		return
	}
	if len(req.Values) > maxMatchValues {
		s.error(w, r, hub.FieldError("values", "at most %d values per request, not %d", maxMatchValues, len(req.Values)))
		return
	}
	v, err := access.ViewerFor(r.Context(), s.dir, principal(r).Org, access.PathMatch)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.json(w, http.StatusOK, map[string]any{"results": s.lookup.Lookup(v, req.Values)})
}

// maxObservedBody bounds a bundle of observations to evaluate: a sensor's batch, not an archive.
const maxObservedBody = 16 << 20

// matchObserved serves POST /api/v1/match/observed: a STIX bundle of observed-data with their
// SCOs in, per observed-data the indicators the caller may see whose patterns it satisfies out.
func (s *Server) matchObserved(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxObservedBody))
	if err != nil {
		s.error(w, r, hub.FieldError("body", "unreadable or larger than %d bytes: %v", maxObservedBody, err))
		return
	}
	obs, err := lookup.ReadObserved(body)
	if err != nil {
		s.error(w, r, err)
		return
	}
	v, err := access.ViewerFor(r.Context(), s.dir, principal(r).Org, access.PathMatch)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.json(w, http.StatusOK, map[string]any{"results": s.lookup.MatchObserved(v, obs)})
}
