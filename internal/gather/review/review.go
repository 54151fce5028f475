// Package review serves an analyst's review of a free-text report over the API: the hub shows
// what it extracted from a text (POST /api/v1/workspaces/{ws}/preview, nothing saved), the
// analyst accepts or drops each entity, and the text is saved as a report linked to the
// accepted ones only (POST /api/v1/workspaces/{ws}/reports). The preview takes a JSON body
// {"title","text"}, or an uploaded file as the raw body of any other content type with the
// title in ?title=. The work is package gather's; this package only speaks HTTP, so that the
// web interface can call gather directly.
package review

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"

	"cshub/internal/access"
	"cshub/internal/api"
	"cshub/internal/auth"
	"cshub/internal/gather"
	"cshub/internal/hub"
	"cshub/internal/kb"
)

// Routes serves the review endpoints. Its fields are required.
type Routes struct {
	Gather *gather.Service
	Dir    hub.DirectoryStore
}

// Routes implements api.Routes.
func (rt Routes) Routes(r *api.Router) {
	r.Handle("POST /api/v1/workspaces/{ws}/preview", hub.ScopeWrite, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		var in struct {
			Title string `json:"title"`
			Text  string `json:"text"`
		}
		if isJSON(req.Header.Get("Content-Type")) {
			if err := rt.decode(w, req, p, &in); err != nil {
				return err
			}
		} else {
			if err := rt.member(req, p); err != nil {
				return err
			}
			b, err := io.ReadAll(http.MaxBytesReader(w, req.Body, gather.MaxText))
			if err != nil {
				return bodyError(err)
			}
			in.Title, in.Text = req.URL.Query().Get("title"), string(b)
		}
		pv, err := rt.Gather.Preview(req.Context(), in.Title, in.Text)
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, pv)
		return nil
	})
	r.Handle("POST /api/v1/workspaces/{ws}/reports", hub.ScopeWrite, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		var in struct {
			Title      string    `json:"title"`
			Text       string    `json:"text"`
			Accept     *[]string `json:"accept"`
			TLP        string    `json:"tlp"`
			Recipients []string  `json:"recipients"`
		}
		if err := rt.decode(w, req, p, &in); err != nil {
			return err
		}
		if in.Accept == nil {
			// Saying nothing is not accepting everything: a reviewed submission names what it keeps.
			return hub.FieldError("accept", "required: the ids of the accepted entities from the preview ([] for none)")
		}
		sub := gather.Request{
			Submission: kb.Submission{Org: p.Org, Actor: p.Username, Workspace: req.PathValue("ws"), Recipients: in.Recipients},
			Title:      in.Title,
		}
		if in.TLP != "" {
			tlp, err := hub.ParseTLP(in.TLP)
			if err != nil {
				return err
			}
			sub.DefaultTLP = tlp
		}
		sum, err := rt.Gather.Submit(req.Context(), sub, in.Text, *in.Accept)
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, sum)
		return nil
	})
}

// member checks that the caller's organisation is a member of the path's workspace. One it is
// not a member of is "not found", as at ingest.
func (rt Routes) member(req *http.Request, p *auth.Principal) error {
	viewer, err := access.ViewerFor(req.Context(), rt.Dir, p.Org, access.PathRead)
	if err != nil {
		return err
	}
	if ws := req.PathValue("ws"); !slices.Contains(viewer.Workspaces, ws) {
		return hub.FieldError("workspace", "no workspace %q", ws)
	}
	return nil
}

func isJSON(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "application/json" || contentType == ""
}

func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &hub.Error{Code: hub.ETooLarge, Field: "body", Message: "the body is larger than " + strconv.FormatInt(mbe.Limit, 10) + " bytes"}
	}
	return &hub.Error{Code: hub.EInvalid, Field: "body", Message: "not the JSON object expected: " + err.Error(), Err: err}
}

// decode checks that the caller may write in the path's workspace and reads the JSON body
// into v.
func (rt Routes) decode(w http.ResponseWriter, req *http.Request, p *auth.Principal, v any) error {
	if err := rt.member(req, p); err != nil {
		return err
	}
	// The text is bounded by gather.MaxText; JSON escaping may double it, and the rest is small.
	return api.DecodeJSON(http.MaxBytesReader(w, req.Body, 2*gather.MaxText+64<<10), v)
}
