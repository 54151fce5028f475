package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cshub/internal/access"
	"cshub/internal/gather"
	"cshub/internal/hub"
	"cshub/internal/kb"
)

const (
	defaultLimit = 100
	maxLimit     = 10000
)

type objectPage struct {
	Objects []json.RawMessage `json:"objects"`
	Next    string            `json:"next,omitempty"`
}

// listObjects serves GET /api/v1/objects?type=&workspace=&limit=&after=: the latest version of
// each object the caller may see, oldest first, with a cursor for the next page.
func (s *Server) listObjects(w http.ResponseWriter, r *http.Request) {
	v, err := access.ViewerFor(r.Context(), s.dir, principal(r).Org, access.PathRead)
	if err != nil {
		s.error(w, r, err)
		return
	}
	q := r.URL.Query()
	f := hub.Filter{Viewer: v, Types: list(q["type"]), Workspaces: list(q["workspace"]), Limit: defaultLimit}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxLimit {
			s.error(w, r, hub.FieldError("limit", "must be a whole number from 1 to %d", maxLimit))
			return
		}
		f.Limit = n
	}
	if a := q.Get("after"); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 0 {
			s.error(w, r, hub.FieldError("after", "not a cursor from a previous page's \"next\""))
			return
		}
		f.AfterSeq = n
	}
	objs, err := s.kb.List(r.Context(), f)
	if err != nil {
		s.error(w, r, err)
		return
	}
	page := objectPage{Objects: make([]json.RawMessage, len(objs))}
	p := principal(r)
	for i, o := range objs {
		page.Objects[i] = o.Body
		s.kb.RecordRead(r.Context(), p.Org, p.Username, o)
	}
	if len(objs) == f.Limit {
		page.Next = strconv.FormatInt(objs[len(objs)-1].Seq, 10)
	}
	s.json(w, http.StatusOK, page)
}

// getObject serves GET /api/v1/objects/{id}[?version=TIMESTAMP]: the object as STIX JSON, with
// where it lives and how it is marked in headers.
func (s *Server) getObject(w http.ResponseWriter, r *http.Request) {
	v, err := access.ViewerFor(r.Context(), s.dir, principal(r).Org, access.PathRead)
	if err != nil {
		s.error(w, r, err)
		return
	}
	var version time.Time
	if ver := r.URL.Query().Get("version"); ver != "" {
		version, err = time.Parse(time.RFC3339Nano, ver)
		if err != nil {
			s.error(w, r, hub.FieldError("version", "not an RFC 3339 timestamp (the object's modified)"))
			return
		}
	}
	o, err := s.kb.Get(r.Context(), v, r.PathValue("id"), version)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.kb.RecordRead(r.Context(), principal(r).Org, principal(r).Username, o)
	w.Header().Set("X-Cshub-Workspace", o.Workspace)
	w.Header().Set("X-Cshub-Tlp", o.TLP.String())
	if author := o.AuthorFor(principal(r).Org); author != "" {
		w.Header().Set("X-Cshub-Author", author)
	}
	w.Header().Set("Content-Type", "application/stix+json;version=2.1")
	w.WriteHeader(http.StatusOK)
	w.Write(o.Body)
}

// postBundle serves POST /api/v1/workspaces/{ws}/bundles?recipients=&tlp=: ingest of a STIX
// bundle (plain or gzip'd), answered with the ingest summary.
func (s *Server) postBundle(w http.ResponseWriter, r *http.Request) {
	s.ingest(w, r, gather.FormatSTIX)
}

// postIngest serves POST /api/v1/workspaces/{ws}/ingest?format=&title=&recipients=&tlp=: any
// format the hub reads, detected from the content type and the content unless format is given.
func (s *Server) postIngest(w http.ResponseWriter, r *http.Request) {
	s.ingest(w, r, r.URL.Query().Get("format"))
}

func (s *Server) ingest(w http.ResponseWriter, r *http.Request, format string) {
	p := principal(r)
	q := r.URL.Query()
	req := gather.Request{
		Submission:  kb.Submission{Org: p.Org, Actor: p.Username, Workspace: r.PathValue("ws"), Recipients: list(q["recipients"])},
		Format:      format,
		ContentType: r.Header.Get("Content-Type"),
		Title:       q.Get("title"),
	}
	if t := q.Get("tlp"); t != "" {
		tlp, err := hub.ParseTLP(t)
		if err != nil {
			s.error(w, r, err)
			return
		}
		req.DefaultTLP = tlp
	}
	body := http.MaxBytesReader(w, r.Body, s.maxBody)
	sum, err := s.gather.Ingest(r.Context(), req, body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = &hub.Error{Code: hub.ETooLarge, Field: "body", Message: "the body is larger than " + strconv.FormatInt(mbe.Limit, 10) + " bytes"}
		}
		if sum != nil {
			// Part of the submission was committed before the failure: say what, with the error.
			s.json(w, hub.HTTPStatus(hub.ErrorCode(err)), map[string]any{
				"error":   map[string]string{"code": hub.ErrorCode(err), "field": hub.ErrorField(err), "message": hub.ErrorMessage(err)},
				"summary": sum,
			})
			return
		}
		s.error(w, r, err)
		return
	}
	s.json(w, http.StatusOK, sum)
}

// list splits repeated and comma-separated query values into one list without empty items.
func list(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, x := range strings.Split(v, ",") {
			if x = strings.TrimSpace(x); x != "" {
				out = append(out, x)
			}
		}
	}
	return out
}
