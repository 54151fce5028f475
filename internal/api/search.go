package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"cshub/internal/access"
	"cshub/internal/hub"
)

type searchResult struct {
	Object     json.RawMessage `json:"object"`
	Score      float64         `json:"score"`
	Highlights []string        `json:"highlights"`
}

// search serves GET /api/v1/search?q=&limit=&cursor=: ranked full-text search with filters, over
// what the caller may see only (the index applies the access rule before it ranks and pages).
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 0
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			s.error(w, r, hub.FieldError("limit", "not a whole number"))
			return
		}
		limit = n
	}
	v, err := access.ViewerFor(r.Context(), s.dir, principal(r).Org, access.PathSearch)
	if err != nil {
		s.error(w, r, err)
		return
	}
	res, err := s.searcher.Search(r.Context(), v, q.Get("q"), limit, q.Get("cursor"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	// The index holds no bodies: fetch them through the knowledge base with the same viewer.
	ids := make([]string, len(res.Hits))
	for i, h := range res.Hits {
		ids[i] = h.ID
	}
	found := map[string]*hub.Object{}
	if len(ids) > 0 {
		objs, err := s.kb.List(r.Context(), hub.Filter{Viewer: v, IDs: ids, Limit: len(ids) * 4})
		if err != nil {
			s.error(w, r, err)
			return
		}
		for _, o := range objs {
			found[o.Workspace+"\x00"+o.ID] = o
		}
	}
	out := struct {
		Results []searchResult `json:"results"`
		Next    string         `json:"next,omitempty"`
		Total   int            `json:"total"`
	}{Results: []searchResult{}, Next: res.Next, Total: res.Total}
	p := principal(r)
	for _, h := range res.Hits {
		o, ok := found[h.Workspace+"\x00"+h.ID]
		if !ok {
			continue // gone since it was indexed
		}
		s.kb.RecordRead(r.Context(), p.Org, p.Username, o)
		out.Results = append(out.Results, searchResult{Object: o.Body, Score: h.Score, Highlights: h.Highlights})
	}
	s.json(w, http.StatusOK, out)
}
