package web

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"

	"cshub/internal/gather"
	"cshub/internal/hub"
	"cshub/internal/kb"
)

// maxUpload bounds an ingest form: a file or pasted text of up to 16 MiB (the gatherer's own
// limit on free text) and the form's other fields.
const maxUpload = 16<<20 + 64<<10

// ingestFormats are the formats the form offers, as package gather names them.
var ingestFormats = []struct{ Value, Label string }{
	{gather.FormatAuto, "Detect"}, {gather.FormatText, "Free text report"}, {gather.FormatSTIX, "STIX 2.1 bundle"},
	{gather.FormatMISP, "MISP event"}, {gather.FormatCSV, "CSV"}, {gather.FormatIOCList, "IOC list"},
}

type ingestPage struct {
	ReadOnly   bool // the user's role may not share
	Formats    []struct{ Value, Label string }
	Workspaces []string
	TLPs       []string
	Orgs       []hub.Org
	Form       ingestInput
	Preview    *gather.Preview // entities found in pasted text, to accept or drop
	Summary    *kb.Summary
	Error      string
}

// ingestInput is what the user filled in, kept across the preview step.
type ingestInput struct {
	Text, Title, Format, Workspace, TLP string
	Recipients                          []string
	Accept                              map[string]bool // candidate ids kept in the preview
}

// ingestForm serves GET /ingest: the form to upload a file or paste a report.
func (s *Server) ingestForm(w http.ResponseWriter, r *http.Request) {
	ip, err := s.ingestChoices(r.Context(), principal(r.Context()))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "ingest.html", &page{Title: "Ingest", Nav: "ingest", Data: ip})
}

// errReadOnly refuses an ingest by a user whose role only reads, as the API refuses a read key.
var errReadOnly = &hub.Error{Code: hub.EForbidden, Message: "Your role reads only: ask an analyst of your organisation to share this."}

// ingestChoices returns an ingest page with the choices of its form: the workspaces the user's
// organisation reads (writing to one it is not a member of is refused by the knowledge base),
// the TLP levels and the organisations a TLP:RED submission may be addressed to.
func (s *Server) ingestChoices(ctx context.Context, u *viewer) (*ingestPage, error) {
	ip := &ingestPage{ReadOnly: !u.Allows(hub.ScopeWrite), Formats: ingestFormats, Workspaces: u.Viewer.Workspaces,
		TLPs: []string{"", "clear", "green", "amber", "amber+strict", "red"}}
	// Preselect a shared workspace: the private one, named by the organisation's code, keeps
	// what the organisation does not share.
	for _, ws := range ip.Workspaces {
		if ws != u.Org {
			ip.Form.Workspace = ws
			break
		}
	}
	orgs, err := s.dir.Orgs(ctx)
	if err != nil {
		return nil, err
	}
	for _, o := range orgs {
		if o.Code != u.Org && o.Active {
			ip.Orgs = append(ip.Orgs, *o)
		}
	}
	return ip, nil
}

// ingest serves POST /ingest. With action "preview" and free text, it shows the entities the
// text yields, each with a box to keep or drop it; with action "save" it stores the submission
// (the reviewed text linked to the kept entities only, or the file or text as the gatherer
// reads it) and shows the summary.
func (s *Server) ingest(w http.ResponseWriter, r *http.Request) {
	if !s.checkForm(w, r, maxUpload) {
		return
	}
	ctx := r.Context()
	u := principal(ctx)
	if !u.Allows(hub.ScopeWrite) {
		s.fail(w, r, errReadOnly)
		return
	}
	ip, err := s.ingestChoices(ctx, u)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := ingestInput{Text: r.PostFormValue("text"), Title: strings.TrimSpace(r.PostFormValue("title")),
		Format: r.PostFormValue("format"), Workspace: r.PostFormValue("workspace"), TLP: r.PostFormValue("tlp"),
		Recipients: r.PostForm["recipients"], Accept: map[string]bool{}}
	for _, id := range r.PostForm["accept"] {
		f.Accept[id] = true
	}
	ip.Form = f
	tlp, err := hub.ParseTLP(f.TLP)
	if f.TLP == "" {
		tlp, err = hub.TLPUnset, nil
	}
	switch {
	case err != nil:
		ip.Error = "Choose a TLP level from the list."
	case !slices.Contains(u.Viewer.Workspaces, f.Workspace):
		ip.Error = "Choose a workspace your organisation is a member of."
	}
	var body io.Reader
	var contentType string
	if file, hdr, ferr := r.FormFile("file"); ferr == nil {
		defer file.Close()
		if hdr.Size > 0 {
			body, contentType = file, hdr.Header.Get("Content-Type")
		}
	}
	// Pasted free text can be previewed and reviewed; a file is read as the gatherer reads it.
	pasted := false
	if body == nil {
		if strings.TrimSpace(f.Text) == "" {
			ip.Error = "Paste a report or choose a file."
		}
		body = strings.NewReader(f.Text)
		pasted = f.Format == gather.FormatText || f.Format == gather.FormatAuto && gather.Detect("", []byte(f.Text)) == gather.FormatText
	}
	if ip.Error != "" {
		s.render(w, r, http.StatusBadRequest, "ingest.html", &page{Title: "Ingest", Nav: "ingest", Data: ip})
		return
	}
	req := gather.Request{Submission: kb.Submission{Org: u.Org, Actor: u.Username, Workspace: f.Workspace,
		Recipients: f.Recipients, DefaultTLP: tlp}, Format: f.Format, ContentType: contentType, Title: f.Title}

	var sum *kb.Summary
	switch {
	case r.PostFormValue("action") == "preview" && pasted:
		ip.Preview, err = s.gather.Preview(ctx, f.Title, f.Text)
		if err == nil {
			for _, c := range ip.Preview.Entities {
				// A value on a warninglist is probably not malicious: dropped unless kept.
				ip.Form.Accept[c.ID] = len(c.Warninglists) == 0
			}
		}
	case r.PostFormValue("reviewed") != "" && pasted:
		sum, err = s.gather.Submit(ctx, req, f.Text, r.PostForm["accept"])
	default:
		sum, err = s.gather.Ingest(ctx, req, body)
	}
	if err != nil {
		if code := hub.ErrorCode(err); code != hub.EInvalid && code != hub.ETooLarge && code != hub.EForbidden {
			s.fail(w, r, err)
			return
		}
		ip.Error = hub.ErrorMessage(err)
		s.render(w, r, http.StatusBadRequest, "ingest.html", &page{Title: "Ingest", Nav: "ingest", Data: ip})
		return
	}
	ip.Summary = sum
	s.render(w, r, http.StatusOK, "ingest.html", &page{Title: "Ingest", Nav: "ingest", Data: ip})
}
