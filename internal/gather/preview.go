package gather

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"unicode/utf8"

	"cshub/internal/extract"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/warninglist"
)

// Candidate is one entity of a Preview, as the analyst reviews it before the report is saved.
type Candidate struct {
	// ID names the entity in Submit's accept list. It derives from Kind and Value only, so the
	// same text previewed twice, or edited elsewhere, keeps the ids of the entities it keeps.
	ID    string       `json:"id"`
	Kind  extract.Kind `json:"kind"`
	Value string       `json:"value"` // canonical: refanged, "CVE-2017-11882", "TR", "APT28"
	Name  string       `json:"name"`  // what it resolved to: "APT28" for "Fancy Bear"
	Text  string       `json:"text"`  // as written at the first occurrence
	Spans []Span       `json:"spans"` // every occurrence, in text order
	// Ref is the STIX id the entity resolves to (an ATT&CK intrusion set, a tool) or will be
	// saved as (an indicator, a location); empty for UN documents, which become the report's
	// external references.
	Ref string `json:"ref,omitempty"`
	// Warninglists names the MISP warninglists that hold an indicator's value: a value on one
	// ("Top 1000 domains", "List of known public DNS resolvers") is probably not malicious.
	Warninglists []string `json:"warninglists,omitempty"`
}

// Span is a byte range [Start, End) of the previewed text.
type Span struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

// Preview is what a text would be saved as, without saving it: the report's id and title and
// the entities that would be linked.
type Preview struct {
	ReportID string      `json:"report_id"`
	Title    string      `json:"title"`
	Entities []Candidate `json:"entities"`
}

// CandidateID returns the id a Preview gives the entity e.
func CandidateID(e extract.Entity) string {
	sum := sha256.Sum256([]byte(string(e.Kind) + "\x00" + e.Value))
	return "entity--" + hex.EncodeToString(sum[:12])
}

// Preview extracts the entities of text as Ingest would link them, flags indicators on a
// warninglist, and returns them without storing anything. An empty title is the text's first
// line, as for Ingest. Text that is empty, not UTF-8 or larger than 16 MiB is EInvalid or
// ETooLarge on field "text".
func (s *Service) Preview(ctx context.Context, title, text string) (*Preview, error) {
	text, err := checkText("text", text)
	if err != nil {
		return nil, err
	}
	ents, err := s.entities(text)
	if err != nil {
		return nil, err
	}
	p := &Preview{ReportID: extract.ReportID(text), Title: reportTitle(title, text), Entities: make([]Candidate, len(ents))}
	for i, e := range ents {
		c := Candidate{ID: CandidateID(e), Kind: e.Kind, Value: e.Value, Name: e.Name, Text: e.Text,
			Ref: extract.ObjectID(e), Warninglists: e.Lists, Spans: make([]Span, len(e.Spans))}
		for j, sp := range e.Spans {
			c.Spans[j] = Span{sp.Start, sp.End}
		}
		p.Entities[i] = c
	}
	return p, nil
}

// Submit saves text as a report in the submission's workspace, linked to the entities whose
// Preview ids are in accept and to no other: the analyst's review of a Preview. An id that
// the text does not yield is EInvalid on field "accept" (the text changed since the preview,
// or the id is wrong); an empty accept saves the report with no entity linked.
func (s *Service) Submit(ctx context.Context, req Request, text string, accept []string) (*kb.Summary, error) {
	text, err := checkText("text", text)
	if err != nil {
		return nil, err
	}
	ents, err := s.entities(text)
	if err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(accept))
	for _, id := range accept {
		want[id] = true
	}
	kept := ents[:0]
	for _, e := range ents {
		if id := CandidateID(e); want[id] {
			delete(want, id)
			kept = append(kept, e)
		}
	}
	if len(want) > 0 {
		missing := make([]string, 0, len(want))
		for id := range want {
			missing = append(missing, id)
		}
		slices.Sort(missing)
		return nil, hub.FieldError("accept", "%s: no such entity in this text (preview it again)", strings.Join(missing, ", "))
	}
	return s.ingestReport(ctx, req.Submission, extract.Report{Title: reportTitle(req.Title, text), Text: text}, kept)
}

// entities extracts the entities of a checked text and flags indicators on a warninglist.
func (s *Service) entities(text string) ([]extract.Entity, error) {
	d, err := s.dictionary()
	if err != nil {
		return nil, err
	}
	ents := d.Extract(text)
	lists := warninglist.Default()
	for i, e := range ents {
		if e.Kind.IsIndicator() {
			ents[i].Lists = lists.Lookup(observableType(e.Kind), e.Value)
		}
	}
	return ents, nil
}

// observableType is the STIX observable type of an indicator kind for a warninglist lookup, or
// "" where the value's form tells it (hashes, CIDR blocks).
func observableType(k extract.Kind) string {
	switch k {
	case extract.KindIPv4:
		return "ipv4-addr"
	case extract.KindIPv6:
		return "ipv6-addr"
	case extract.KindDomain:
		return "domain-name"
	case extract.KindURL:
		return "url"
	case extract.KindEmail:
		return "email-addr"
	}
	return ""
}

// checkText applies the limits of a free-text report and trims it; errors name field.
func checkText(field, text string) (string, error) {
	if len(text) > MaxText {
		return "", &hub.Error{Code: hub.ETooLarge, Field: field, Message: "a text report may be at most 16 MiB"}
	}
	if !utf8.ValidString(text) {
		return "", hub.FieldError(field, "the text is not valid UTF-8")
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return "", hub.FieldError(field, "the text is empty")
	}
	return text, nil
}

func reportTitle(title, text string) string {
	if title = strings.TrimSpace(title); title != "" {
		return title
	}
	return firstLine(text, 120)
}
