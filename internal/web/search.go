package web

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"cshub/internal/access"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/search"
	"cshub/internal/stix"
)

// The search page runs the full-text index's query language (package search) with a form for its
// filters, so that what an analyst types and what the form adds are one query. Sorting other
// than by relevance and page numbers need the whole result list: the page collects up to
// sortCap hits (ids and metadata only, from the index), sorts them and opens the bodies of the
// one page shown.

const (
	perPage = 25
	// sortCap bounds the hits one search collects; beyond it the page says that only the best
	// sortCap are sorted and paged.
	sortCap = 2 * search.MaxLimit
)

// searchFilters are the form's structured filters, each a filter of the query language.
var searchFilters = []string{"type", "workspace", "tlp", "author", "label", "after", "before"}

// sortOrders are the orders the page offers.
var sortOrders = []struct{ Value, Label string }{
	{"relevance", "Relevance"}, {"newest", "Newest first"}, {"oldest", "Oldest first"}, {"type", "Type"},
}

type searchPage struct {
	Q       string
	Filters map[string]string // the form's filter values by name
	Sort    string
	Sorts   []struct{ Value, Label string }
	Options searchOptions
	Ran     bool // a query was given
	Hits    []searchHit
	Total   int
	Capped  bool // more than sortCap matched
	Page    int  // 1-based
	Pages   int
	Prev    string // URL of the previous page, "" on the first
	Next    string
	Saved   []savedSearch
	Error   string
	Query   string // the query string of this search without the page, for saving
}

type searchOptions struct {
	Types      []string
	Workspaces []string
	TLPs       []string
	Authors    []hub.Org
}

type searchHit struct {
	objectRow
	Author     string
	Modified   string
	Highlights [][]highlightPart
}

// highlightPart is a run of a snippet, marked when it matched.
type highlightPart struct {
	Text string
	Mark bool
}

// searchPage serves GET /search: the search form and, with a query or filters, one page of
// results that the user may see under access.PathSearch.
func (s *Server) searchPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := principal(ctx)
	q := r.URL.Query()
	sp := &searchPage{Q: strings.TrimSpace(q.Get("q")), Filters: map[string]string{}, Sort: q.Get("sort"), Sorts: sortOrders, Page: 1}
	if !slices.ContainsFunc(sortOrders, func(o struct{ Value, Label string }) bool { return o.Value == sp.Sort }) {
		sp.Sort = "relevance"
	}
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 1 {
		sp.Page = n
	}
	v, err := access.ViewerFor(ctx, s.dir, u.Org, access.PathSearch)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if sp.Options, err = s.searchOptions(ctx, v); err != nil {
		s.fail(w, r, err)
		return
	}
	if sp.Saved, err = s.savedSearches(ctx, u); err != nil {
		s.fail(w, r, err)
		return
	}
	query := sp.Q
	for _, f := range searchFilters {
		val := strings.TrimSpace(q.Get(f))
		if val == "" {
			continue
		}
		sp.Filters[f] = val
		if strings.ContainsAny(val, " \t\"") {
			sp.Error = "A " + f + " filter is one word, without spaces or quotes."
			continue
		}
		query += " " + f + ":" + val
	}
	query = strings.TrimSpace(query)
	sp.Query = s.searchURL(sp, 0)[len("/search?"):]
	if query == "" || sp.Error != "" {
		s.render(w, r, http.StatusOK, "search.html", &page{Title: "Search", Nav: "search", Data: sp})
		return
	}
	sp.Ran = true
	hits, total, err := s.collect(ctx, v, query)
	if err != nil {
		if hub.ErrorCode(err) != hub.EInvalid {
			s.fail(w, r, err)
			return
		}
		sp.Error = hub.ErrorMessage(err)
		s.render(w, r, http.StatusOK, "search.html", &page{Title: "Search", Nav: "search", Data: sp})
		return
	}
	sp.Total, sp.Capped = total, total > len(hits)
	sortHits(hits, sp.Sort)
	sp.Pages = max(1, (len(hits)+perPage-1)/perPage)
	sp.Page = min(sp.Page, sp.Pages)
	shown := hits[(sp.Page-1)*perPage : min(len(hits), sp.Page*perPage)]
	if sp.Page > 1 {
		sp.Prev = s.searchURL(sp, sp.Page-1)
	}
	if sp.Page < sp.Pages {
		sp.Next = s.searchURL(sp, sp.Page+1)
	}
	if sp.Hits, err = s.openHits(ctx, u, v, shown); err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "search.html", &page{Title: "Search: " + query, Nav: "search", Data: sp})
}

// searchURL returns the URL of the search sp on page n (0: no page parameter).
func (s *Server) searchURL(sp *searchPage, n int) string {
	q := url.Values{}
	if sp.Q != "" {
		q.Set("q", sp.Q)
	}
	for _, f := range searchFilters {
		if v := sp.Filters[f]; v != "" {
			q.Set(f, v)
		}
	}
	if sp.Sort != "relevance" {
		q.Set("sort", sp.Sort)
	}
	if n > 1 {
		q.Set("page", strconv.Itoa(n))
	}
	return "/search?" + q.Encode()
}

// collect runs query for v and returns up to sortCap hits, best first, and the total.
func (s *Server) collect(ctx context.Context, v hub.Viewer, query string) ([]search.Hit, int, error) {
	var hits []search.Hit
	total, cursor := 0, ""
	for len(hits) < sortCap {
		res, err := s.search.Search(ctx, v, query, search.MaxLimit, cursor)
		if err != nil {
			return nil, 0, err
		}
		hits = append(hits, res.Hits...)
		total = res.Total
		if res.Next == "" {
			break
		}
		cursor = res.Next
	}
	return hits, total, nil
}

// sortHits orders hits, which come best first, by the chosen order; ties keep relevance order.
func sortHits(hits []search.Hit, order string) {
	switch order {
	case "newest":
		slices.SortStableFunc(hits, func(a, b search.Hit) int { return cmpInt(b.Seq, a.Seq) })
	case "oldest":
		slices.SortStableFunc(hits, func(a, b search.Hit) int { return cmpInt(a.Seq, b.Seq) })
	case "type":
		slices.SortStableFunc(hits, func(a, b search.Hit) int { return strings.Compare(a.Type, b.Type) })
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// openHits reads the bodies of hits through the knowledge base with v, in the order of hits.
// Reading a TLP:RED object is audited, as in the API.
func (s *Server) openHits(ctx context.Context, u *viewer, v hub.Viewer, hits []search.Hit) ([]searchHit, error) {
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	found := map[string]*hub.Object{}
	if len(ids) > 0 {
		objs, err := s.kb.List(ctx, hub.Filter{Viewer: v, IDs: ids, Limit: len(ids) * 4})
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			found[o.Workspace+"\x00"+o.ID] = o
		}
	}
	out := make([]searchHit, 0, len(hits))
	for _, h := range hits {
		o := found[h.Workspace+"\x00"+h.ID]
		if o == nil {
			continue // gone since it was indexed
		}
		s.kb.RecordRead(ctx, u.Org, u.Username, o)
		sh := searchHit{objectRow: rowOf(o), Author: o.Author, Modified: formatTime(o.Modified)}
		for _, hl := range h.Highlights {
			sh.Highlights = append(sh.Highlights, splitMarks(hl))
		}
		out = append(out, sh)
	}
	return out, nil
}

// splitMarks splits a snippet of the index at its «» marks.
func splitMarks(s string) []highlightPart {
	var out []highlightPart
	for s != "" {
		before, rest, ok := strings.Cut(s, search.MarkStart)
		if before != "" {
			out = append(out, highlightPart{Text: before})
		}
		if !ok {
			break
		}
		marked, after, _ := strings.Cut(rest, search.MarkEnd)
		out = append(out, highlightPart{Text: marked, Mark: true})
		s = after
	}
	return out
}

// searchOptions are the choices of the form's filters: the types counted on the dashboard,
// the workspaces v reads, the TLP levels and the organisations.
func (s *Server) searchOptions(ctx context.Context, v hub.Viewer) (searchOptions, error) {
	o := searchOptions{Types: countedTypes, Workspaces: v.Workspaces,
		TLPs: []string{"clear", "green", "amber", "amber+strict", "red"}}
	orgs, err := s.dir.Orgs(ctx)
	if err != nil {
		return o, err
	}
	for _, org := range orgs {
		o.Authors = append(o.Authors, *org)
	}
	return o, nil
}

// Saved searches are kept as custom STIX objects of type savedSearchType in the user's
// organisation's private workspace, authored by the organisation and marked TLP:RED without
// recipients: sealed with that workspace's key like any content, visible to the organisation
// only, and needing no change to the store. The owner is the user's name in x_cshub_owner;
// the page lists only the user's own. Deleting one revokes it (a new version with revoked set),
// since only versions are ever added.
const savedSearchType = "x-cshub-saved-search"

type savedSearch struct {
	ID, Name, URL string
}

type savedSearchBody struct {
	Type        string `json:"type"`
	SpecVersion string `json:"spec_version"`
	ID          string `json:"id"`
	Created     string `json:"created"`
	Modified    string `json:"modified"`
	Name        string `json:"name"`
	Query       string `json:"x_cshub_query"`
	Owner       string `json:"x_cshub_owner"`
	Revoked     bool   `json:"revoked,omitempty"`
}

// privateWorkspace returns the slug of org's private workspace, or "" when it has none.
func (s *Server) privateWorkspace(ctx context.Context, org string) (string, error) {
	wss, err := s.dir.WorkspacesOf(ctx, org)
	if err != nil {
		return "", err
	}
	for _, w := range wss {
		if w.Kind == hub.WorkspacePrivate && len(w.Members) == 1 && w.Members[0] == org {
			return w.Slug, nil
		}
	}
	return "", nil
}

// savedSearchObjects returns u's saved searches that are not revoked, as stored.
func (s *Server) savedSearchObjects(ctx context.Context, u *viewer) ([]savedSearchBody, string, error) {
	ws, err := s.privateWorkspace(ctx, u.Org)
	if err != nil || ws == "" {
		return nil, ws, err
	}
	objs, err := s.kb.List(ctx, hub.Filter{Viewer: u.Viewer, Types: []string{savedSearchType}, Workspaces: []string{ws}, Limit: 1000})
	if err != nil {
		return nil, ws, err
	}
	var out []savedSearchBody
	for _, o := range objs {
		var b savedSearchBody
		if o.Author != u.Org || json.Unmarshal(o.Body, &b) != nil || b.Owner != u.Username || b.Revoked || o.Revoked {
			continue
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b savedSearchBody) int { return strings.Compare(a.Name, b.Name) })
	return out, ws, nil
}

func (s *Server) savedSearches(ctx context.Context, u *viewer) ([]savedSearch, error) {
	objs, _, err := s.savedSearchObjects(ctx, u)
	out := make([]savedSearch, len(objs))
	for i, b := range objs {
		out[i] = savedSearch{ID: b.ID, Name: b.Name, URL: "/search?" + b.Query}
	}
	return out, err
}

// checkForm parses r's form (multipart or not, within limit bytes) and checks its CSRF token
// against the session's; it writes the refusal itself and returns false when either fails.
func (s *Server) checkForm(w http.ResponseWriter, r *http.Request, limit int64) bool {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err = r.ParseMultipartForm(limit)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		s.fail(w, r, &hub.Error{Code: hub.EInvalid, Field: "form", Message: "the form could not be read: it may be too large", Err: err})
		return false
	}
	u := principal(r.Context())
	if !validToken(r.PostFormValue(csrfField), s.sessionToken(u.Principal)) {
		s.log.Info("web: form without a valid CSRF token", "path", r.URL.Path, "user", u.Username, "remote", r.RemoteAddr)
		s.forbidden(w, r)
		return false
	}
	return true
}

// saveSearch serves POST /search/saved: it stores the search in the form's query field under
// the given name and goes back to it.
func (s *Server) saveSearch(w http.ResponseWriter, r *http.Request) {
	if !s.checkForm(w, r, maxFormBody) {
		return
	}
	ctx := r.Context()
	u := principal(ctx)
	name := strings.TrimSpace(r.PostFormValue("name"))
	query := r.PostFormValue("query")
	switch {
	case name == "" || len(name) > 200:
		s.fail(w, r, hub.FieldError("name", "a saved search needs a name of at most 200 bytes"))
		return
	case len(query) > 4096:
		s.fail(w, r, hub.FieldError("query", "the search is too long to save"))
		return
	}
	if _, err := url.ParseQuery(query); err != nil {
		s.fail(w, r, hub.FieldError("query", "not a search of this page"))
		return
	}
	ws, err := s.privateWorkspace(ctx, u.Org)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ws == "" {
		s.fail(w, r, hub.Errorf(hub.EConflict, "your organisation has no private workspace to keep saved searches in; ask the hub operator for one"))
		return
	}
	now := s.now().UTC().Format("2006-01-02T15:04:05.000Z")
	b := savedSearchBody{Type: savedSearchType, SpecVersion: "2.1", ID: savedSearchType + "--" + stix.NewUUID(),
		Created: now, Modified: now, Name: name, Query: query, Owner: u.Username}
	if err := s.storeOwn(ctx, u, ws, b); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/search?"+query, http.StatusSeeOther)
}

// deleteSearch serves POST /search/saved/{id}/delete: it revokes one of the user's saved
// searches.
func (s *Server) deleteSearch(w http.ResponseWriter, r *http.Request) {
	if !s.checkForm(w, r, maxFormBody) {
		return
	}
	ctx := r.Context()
	u := principal(ctx)
	objs, ws, err := s.savedSearchObjects(ctx, u)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	i := slices.IndexFunc(objs, func(b savedSearchBody) bool { return b.ID == r.PathValue("id") })
	if i < 0 {
		s.notFound(w, r)
		return
	}
	b := objs[i]
	b.Modified, b.Revoked = s.now().UTC().Format("2006-01-02T15:04:05.000Z"), true
	if err := s.storeOwn(ctx, u, ws, b); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/search", http.StatusSeeOther)
}

// storeOwn ingests b as u's organisation into workspace ws, TLP:RED for the organisation only.
func (s *Server) storeOwn(ctx context.Context, u *viewer, ws string, b savedSearchBody) error {
	bundle, err := json.Marshal(map[string]any{"type": "bundle", "id": "bundle--" + stix.NewUUID(), "objects": []any{b}})
	if err != nil {
		return err
	}
	sum, err := s.kb.Ingest(ctx, kb.Submission{Org: u.Org, Actor: u.Username, Workspace: ws, DefaultTLP: hub.TLPRed}, bytes.NewReader(bundle))
	if err != nil {
		return err
	}
	if len(sum.Rejected) > 0 {
		return hub.Errorf(hub.EInternal, "saved search refused: %s", sum.Rejected[0].Reason)
	}
	return nil
}
