package web

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"slices"
	"strings"
	"time"

	"cshub/internal/hub"
)

var timeZero time.Time

// parseTemplates parses each page template together with the layout, so that every page
// defines its own "title" and "main" blocks.
func (s *Server) parseTemplates() error {
	funcs := template.FuncMap{
		"tlpClass":   tlpClass,
		"tlpRule":    tlpRule,
		"date":       formatTime,
		"iso":        func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"has":        slices.Contains[[]string],
		"policyPath": policyPath,
		// text writes a value as it marshals to text (export.Age as "30d"), for types
		// without a String method.
		"text": func(m encoding.TextMarshaler) (string, error) {
			b, err := m.MarshalText()
			return string(b), err
		},
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	s.pages = make(map[string]*template.Template)
	for _, n := range names {
		base := strings.TrimPrefix(n, "templates/")
		if base == "layout.html" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return fmt.Errorf("web: parsing %s: %w", n, err)
		}
		s.pages[base] = t
	}
	return nil
}

// tlpClass returns the CSS class suffix of a TLP level.
func tlpClass(t hub.TLP) string {
	switch t {
	case hub.TLPClear:
		return "clear"
	case hub.TLPGreen:
		return "green"
	case hub.TLPAmber:
		return "amber"
	case hub.TLPAmberStrict:
		return "amber-strict"
	case hub.TLPRed:
		return "red"
	}
	return "unset"
}

// tlpRule returns the TLP 2.0 sharing rule of a level in a sentence (after FIRST's definitions).
func tlpRule(t hub.TLP) string {
	switch t {
	case hub.TLPClear:
		return "Disclosure is not limited."
	case hub.TLPGreen:
		return "Limited disclosure: recipients may share this within their community, not publicly."
	case hub.TLPAmber:
		return "Limited disclosure: recipients may share this on a need-to-know basis within their organisation and its clients."
	case hub.TLPAmberStrict:
		return "Limited disclosure: recipients may share this only within their own organisation."
	case hub.TLPRed:
		return "For the eyes and ears of the individual recipients only. No further disclosure."
	}
	return ""
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// stixFields are the properties of a STIX object the pages show; everything else appears in the
// full JSON only.
type stixFields struct {
	Name               string   `json:"name"`
	Description        string   `json:"description"`
	Aliases            []string `json:"aliases"`
	Labels             []string `json:"labels"`
	Pattern            string   `json:"pattern"`
	PatternType        string   `json:"pattern_type"`
	Value              string   `json:"value"`    // observables such as ipv4-addr and domain-name
	Abstract           string   `json:"abstract"` // notes
	SightingOfRef      string   `json:"sighting_of_ref"`
	RelationshipType   string   `json:"relationship_type"`
	SourceRef          string   `json:"source_ref"`
	TargetRef          string   `json:"target_ref"`
	CreatedByRef       string   `json:"created_by_ref"`
	ExternalReferences []struct {
		SourceName  string `json:"source_name"`
		ExternalID  string `json:"external_id"`
		URL         string `json:"url"`
		Description string `json:"description"`
	} `json:"external_references"`
	KillChainPhases []struct {
		KillChainName string `json:"kill_chain_name"`
		PhaseName     string `json:"phase_name"`
	} `json:"kill_chain_phases"`
}

// objectRow is one object in a listing.
type objectRow struct {
	ID, Type, Name, Workspace string
	TLP                       hub.TLP
	Added                     time.Time // when the hub stored this version
}

func rowOf(o *hub.Object) objectRow {
	var f stixFields
	json.Unmarshal(o.Body, &f) // a body that does not decode shows without a name
	return objectRow{ID: o.ID, Type: o.Type, Name: displayName(&f), Workspace: o.Workspace, TLP: o.TLP, Added: o.Added}
}

func displayName(f *stixFields) string {
	switch {
	case f.Name != "":
		return f.Name
	case f.Value != "":
		return f.Value
	case f.RelationshipType != "":
		return typeOf(f.SourceRef) + " " + f.RelationshipType + " " + typeOf(f.TargetRef)
	case f.Abstract != "":
		return f.Abstract
	case f.SightingOfRef != "":
		return "sighting of " + typeOf(f.SightingOfRef)
	}
	return ""
}

// typeOf returns the type part of a STIX id, "indicator" for "indicator--…".
func typeOf(id string) string {
	t, _, _ := strings.Cut(id, "--")
	return t
}

// extRef is an external reference; Link is set only for http and https URLs, so that no other
// scheme (javascript:, data:) ever becomes a link.
type extRef struct {
	Source, ExternalID, URL, Description string
	Link                                 bool
}

type killChainPhase struct{ Chain, Phase string }

// objectView is what the object page shows.
type objectView struct {
	ID, Type, Name, Description string
	Aliases, Labels             []string
	Pattern, PatternType        string
	CreatedBy                   string
	Source, Target              string // of a relationship
	Created, Modified, Added    time.Time
	Workspace, Author           string
	TLP                         hub.TLP
	Recipients                  []string
	Revoked                     bool
	Refs                        []extRef
	KillChain                   []killChainPhase
	JSON                        string // the whole object, indented
}

// Title returns the page title: the object's name, or its id.
func (v *objectView) Title() string {
	if v.Name != "" {
		return v.Name
	}
	return v.ID
}

// viewOf returns what the page shows of o to a user of org (an anonymous contribution's
// author is shown to the author alone).
func viewOf(o *hub.Object, org string) *objectView {
	var f stixFields
	json.Unmarshal(o.Body, &f) // a body that does not decode still shows its metadata and JSON
	v := &objectView{
		ID: o.ID, Type: o.Type, Name: displayName(&f), Description: f.Description,
		Aliases: f.Aliases, Labels: f.Labels, Pattern: f.Pattern, PatternType: f.PatternType,
		CreatedBy: f.CreatedByRef, Source: f.SourceRef, Target: f.TargetRef,
		Created: o.Created, Modified: o.Modified, Added: o.Added,
		Workspace: o.Workspace, Author: o.AuthorFor(org), TLP: o.TLP, Recipients: o.Recipients, Revoked: o.Revoked,
	}
	for _, r := range f.ExternalReferences {
		v.Refs = append(v.Refs, extRef{Source: r.SourceName, ExternalID: r.ExternalID, URL: r.URL,
			Description: r.Description, Link: webURL(r.URL)})
	}
	for _, k := range f.KillChainPhases {
		v.KillChain = append(v.KillChain, killChainPhase{k.KillChainName, k.PhaseName})
	}
	var buf bytes.Buffer
	if json.Indent(&buf, o.Body, "", "  ") == nil {
		v.JSON = buf.String()
	} else {
		v.JSON = string(o.Body)
	}
	return v
}

// webURL reports whether s is an absolute http or https URL.
func webURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}
