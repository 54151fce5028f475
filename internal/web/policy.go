package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"cshub/internal/policy"
)

// The policy pages show policy.Tracker's documents with the citations found, at each request,
// among the objects the user's organisation may read on access.PathRead (the viewer the
// session carries), as the API does.

type policyPage struct {
	Filter policy.Filter
	Docs   []policy.Document
	// The facet values of the documents listed, sorted, which the filter fields suggest.
	Actors, Issues, Statuses, Kinds []string
}

// facets fills in the facet values of p's documents.
func (p *policyPage) facets() {
	for _, d := range p.Docs {
		p.Actors = append(p.Actors, d.Actors...)
		p.Issues = append(p.Issues, d.Issues...)
		p.Statuses = append(p.Statuses, d.Status)
		p.Kinds = append(p.Kinds, d.Kind)
	}
	for _, l := range []*[]string{&p.Actors, &p.Issues, &p.Statuses, &p.Kinds} {
		slices.Sort(*l)
		*l = slices.Compact(*l)
	}
}

// policyPage serves GET /policy[?actor=&issue=&status=&kind=]: the tracked documents the
// filters select, newest first.
func (s *Server) policyPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := policy.Filter{Actor: strings.TrimSpace(q.Get("actor")), Issue: strings.TrimSpace(q.Get("issue")),
		Status: strings.TrimSpace(q.Get("status")), Kind: strings.TrimSpace(q.Get("kind"))}
	docs, err := s.policy.Documents(r.Context(), principal(r.Context()).Viewer, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pp := &policyPage{Filter: f, Docs: docs}
	pp.facets()
	s.render(w, r, http.StatusOK, "policy.html", &page{Title: "Policy tracker", Nav: "policy", Data: pp})
}

// policyDocument serves GET /policy/{symbol...}: one document, its status and what cites it.
// Symbols hold slashes, which the path keeps as they are.
func (s *Server) policyDocument(w http.ResponseWriter, r *http.Request) {
	d, err := s.policy.Document(r.Context(), principal(r.Context()).Viewer, r.PathValue("symbol"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "policydoc.html", &page{Title: d.Title, Nav: "policy", Data: d})
}

// policyPath returns the page of the document with symbol: its slashes stay path separators,
// each segment is escaped.
func policyPath(symbol string) string {
	parts := strings.Split(symbol, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return "/policy/" + strings.Join(parts, "/")
}
