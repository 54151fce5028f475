package web

import (
	"net/http"

	"cshub/internal/export"
	"cshub/internal/feed"
	"cshub/internal/hub"
)

// The feed pages list the user's organisation's feeds from feed.Service and serve each as a
// file in any export format, for a browser signed in with a session (the API's feed URLs take
// an API key). A feed of another organisation is not found, as the service decides.

type feedsPage struct {
	Feeds   []*feed.Definition
	Formats []string
	Write   bool // the user's role may delete feeds
}

// feedsPage serves GET /feeds.
func (s *Server) feedsPage(w http.ResponseWriter, r *http.Request) {
	u := principal(r.Context())
	ds, err := s.feeds.List(r.Context(), u.Org)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "feeds.html", &page{Title: "Feeds", Nav: "feeds",
		Data: feedsPage{Feeds: ds, Formats: export.Formats(), Write: u.Allows(hub.ScopeWrite)}})
}

// feedFile serves GET /feeds/{name}/{format}: the whole feed as a file, as the API's
// ?format= does.
func (s *Server) feedFile(w http.ResponseWriter, r *http.Request) {
	f, err := export.LookupFormat(r.PathValue("format"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	name := r.PathValue("name")
	if err := feed.CheckName(name); err != nil {
		s.fail(w, r, err)
		return
	}
	inds, meta, etag, err := s.feeds.File(r.Context(), principal(r.Context()).Org, name, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, no-cache")
	h.Set("Content-Type", f.ContentType)
	// CheckName above keeps the name to characters that need no quoting in the header.
	h.Set("Content-Disposition", `attachment; filename="`+name+f.Ext+`"`)
	if err := f.Write(w, inds, meta); err != nil {
		s.log.Debug("web: feed write failed", "feed", name, "err", err)
	}
}

// deleteFeed serves POST /feeds/{name}/delete, under the API's rule: a role that writes may.
func (s *Server) deleteFeed(w http.ResponseWriter, r *http.Request) {
	u, ok := s.writeForm(w, r)
	if !ok {
		return
	}
	if err := s.feeds.Delete(r.Context(), u.Org, u.Username, r.PathValue("name")); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/feeds", http.StatusSeeOther)
}
