// Package policy is the policy liaison's tracker of the instruments of cyber diplomacy: UN
// General Assembly resolutions and drafts, reports of the Group of Governmental Experts (GGE)
// and the Open-Ended Working Group (OEWG), NATO declarations, conventions and national
// strategies. Each tracked document has its symbol, title, summary, date, status, the states
// that sponsored or voted for it where known, and the reports and other objects that cite it.
//
// The tracker holds no state of its own. Its catalogue of known documents is embedded (written
// from the seed observatory pages, see seed/README.md); the citations are found, at each
// request and for the asking organisation only, in the objects it may read: a report cites a
// UN document when its text or external references carry the symbol (package extract finds
// A/RES/73/266, A/C.1/73/L.37 …), and an instrument without a symbol when its text names it
// ("Brussels Summit Declaration", "Tallinn Manual"). A UN symbol cited but not catalogued is
// tracked too, with what its symbol tells (a resolution, a draft).
//
// Symbols contain slashes. Over the API a document is GET /api/v1/policy/{symbol} with the
// symbol's slashes either as they are (/api/v1/policy/A/RES/73/266) or escaped as %2F; the
// match is case-insensitive.
package policy

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"cshub/internal/extract"
	"cshub/internal/gather"
	"cshub/internal/hub"
	"cshub/internal/kb"
)

// Document is one tracked instrument.
type Document struct {
	// Symbol is the official UN symbol ("A/RES/73/266"), or for an instrument that has none a
	// key "body:short-name-year" ("nato:brussels-summit-declaration-2018").
	Symbol   string   `json:"symbol"`
	Title    string   `json:"title"`
	Kind     string   `json:"kind"`             // resolution, draft resolution, report, declaration, convention, national strategy, manual, document
	Forum    string   `json:"forum,omitempty"`  // where it was made: "UN General Assembly, First Committee", "NATO"
	Date     string   `json:"date,omitempty"`   // as precise as known: "2018-12-22", "2018-12", "2013"
	Status   string   `json:"status"`           // draft, adopted, published, in force; "unknown" for an uncatalogued symbol
	Body     string   `json:"body,omitempty"`   // what it says or does, in a few sentences
	Names    []string `json:"names,omitempty"`  // how texts name an instrument without a symbol
	Actors   []string `json:"actors,omitempty"` // UN GGE, OEWG, NATO, CCDCOE, OSCE, ICRC, UNIDIR, a state
	Issues   []string `json:"issues,omitempty"` // cyberconflict, cybercrime, norms, …
	Sponsors []string `json:"sponsors,omitempty"`
	Vote     *Vote    `json:"vote,omitempty"`
	Related  []string `json:"related,omitempty"` // symbols of related documents
	// Citations are the objects that cite the document, among those the asking organisation
	// may read, newest first.
	Citations []Citation `json:"citations"`
}

// Vote is what is known of the vote that adopted a document; zero counts are unknown.
type Vote struct {
	Recorded   bool `json:"recorded"`
	InFavour   int  `json:"in_favour,omitempty"`
	Against    int  `json:"against,omitempty"`
	Abstaining int  `json:"abstaining,omitempty"`
}

// Citation is an object that cites a document.
type Citation struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Name      string    `json:"name,omitempty"`
	Workspace string    `json:"workspace"`
	Published time.Time `json:"published,omitzero"` // a report's publication, else the object's modified
}

//go:embed seed/documents.json
var documentsJSON []byte

//go:embed seed/developments.json
var developmentsJSON []byte

// catalogue returns the embedded documents; each call gets its own copy to fill.
var catalogue = sync.OnceValue(func() []Document {
	var docs []Document
	if err := json.Unmarshal(documentsJSON, &docs); err != nil {
		// The file is part of the binary and tested: failing to read it is a build defect.
		panic("policy: seed/documents.json: " + err.Error())
	}
	return docs
})

// citing are the STIX types whose text may cite an instrument.
var citing = []string{"report", "note", "opinion", "grouping", "campaign"}

// pageSize is how many objects one store query of Tracker.Documents reads.
const pageSize = 1000

// Filter selects documents by their facets; empty fields select all. Values compare without
// regard to case.
type Filter struct {
	Actor, Issue, Status, Kind string
}

func (f Filter) match(d *Document) bool {
	has := func(list []string, v string) bool {
		return v == "" || slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, v) })
	}
	return has(d.Actors, f.Actor) && has(d.Issues, f.Issue) &&
		(f.Status == "" || strings.EqualFold(d.Status, f.Status)) && (f.Kind == "" || strings.EqualFold(d.Kind, f.Kind))
}

// Tracker answers the policy liaison's questions from the knowledge base. It is safe for
// concurrent use.
type Tracker struct {
	kb *kb.Service
}

// New returns a Tracker over k.
func New(k *kb.Service) *Tracker { return &Tracker{kb: k} }

// Documents returns the catalogued documents and every UN symbol cited in what v may see,
// each with its citations among those objects, selected by f, ordered by date (newest first)
// then symbol. Its cost grows with the number of citing objects v may see: they are read,
// opened and scanned at each call, so that no index of their content is kept anywhere.
func (t *Tracker) Documents(ctx context.Context, v hub.Viewer, f Filter) ([]Document, error) {
	docs := slices.Clone(catalogue())
	index := make(map[string]int, len(docs))
	for i, d := range docs {
		index[strings.ToUpper(d.Symbol)] = i
		docs[i].Citations = []Citation{}
	}
	for after := int64(0); ; {
		objs, err := t.kb.List(ctx, hub.Filter{Viewer: v, Types: citing, AfterSeq: after, Limit: pageSize})
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			c, symbols, text := cites(o)
			if c == nil {
				continue
			}
			for _, s := range symbols {
				i, ok := index[strings.ToUpper(s)]
				if !ok {
					i = len(docs)
					index[strings.ToUpper(s)] = i
					docs = append(docs, uncatalogued(s))
				}
				docs[i].Citations = appendCitation(docs[i].Citations, *c)
			}
			lower := strings.ToLower(text)
			for i := range docs {
				for _, name := range docs[i].Names {
					if strings.Contains(lower, strings.ToLower(name)) {
						docs[i].Citations = appendCitation(docs[i].Citations, *c)
						break
					}
				}
			}
		}
		if len(objs) < pageSize {
			break
		}
		after = objs[len(objs)-1].Seq
	}
	out := docs[:0]
	for i := range docs {
		if f.match(&docs[i]) {
			slices.SortFunc(docs[i].Citations, func(a, b Citation) int {
				return cmp.Or(b.Published.Compare(a.Published), strings.Compare(a.ID, b.ID))
			})
			out = append(out, docs[i])
		}
	}
	slices.SortStableFunc(out, func(a, b Document) int {
		return cmp.Or(strings.Compare(b.Date, a.Date), strings.Compare(a.Symbol, b.Symbol))
	})
	return out, nil
}

// Document returns the document with symbol (compared without regard to case) with its
// citations among what v may see; ENotFound when it is neither catalogued nor cited.
func (t *Tracker) Document(ctx context.Context, v hub.Viewer, symbol string) (*Document, error) {
	docs, err := t.Documents(ctx, v, Filter{})
	if err != nil {
		return nil, err
	}
	for i := range docs {
		if strings.EqualFold(docs[i].Symbol, strings.TrimSpace(symbol)) {
			return &docs[i], nil
		}
	}
	return nil, hub.Errorf(hub.ENotFound, "no tracked policy document %q", symbol)
}

func appendCitation(cs []Citation, c Citation) []Citation {
	if slices.ContainsFunc(cs, func(x Citation) bool { return x.ID == c.ID && x.Workspace == c.Workspace }) {
		return cs
	}
	return append(cs, c)
}

// uncatalogued is what a UN symbol alone tells of a document.
func uncatalogued(symbol string) Document {
	kind := "document"
	switch {
	case strings.Contains(symbol, "/RES/"):
		kind = "resolution"
	case strings.Contains(symbol, "/L."):
		kind = "draft resolution"
	}
	return Document{Symbol: symbol, Title: symbol, Kind: kind, Status: "unknown", Citations: []Citation{}}
}

// cites reads an object's name, texts and external references; it returns the citation the
// object makes, the UN symbols it cites, and its text for instruments cited by name. An object
// whose body cannot be read cites nothing.
func cites(o *hub.Object) (*Citation, []string, string) {
	var b struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Content     string `json:"content"`
		Abstract    string `json:"abstract"`
		Explanation string `json:"explanation"`
		Published   string `json:"published"`
		ExtRefs     []struct {
			SourceName string `json:"source_name"`
			ExternalID string `json:"external_id"`
		} `json:"external_references"`
	}
	if err := json.NewDecoder(bytes.NewReader(o.Body)).Decode(&b); err != nil {
		return nil, nil, ""
	}
	text := strings.Join([]string{b.Name, b.Abstract, b.Description, b.Content, b.Explanation}, "\n")
	var symbols []string
	for _, e := range (*extract.Dictionary)(nil).Extract(text) {
		if e.Kind == extract.KindUNDocument {
			symbols = append(symbols, e.Value)
		}
	}
	for _, r := range b.ExtRefs {
		if strings.EqualFold(r.SourceName, "UN document") && r.ExternalID != "" && !slices.Contains(symbols, r.ExternalID) {
			symbols = append(symbols, r.ExternalID)
		}
	}
	c := &Citation{ID: o.ID, Type: o.Type, Name: b.Name, Workspace: o.Workspace, Published: o.Modified}
	if t, err := time.Parse(time.RFC3339Nano, b.Published); err == nil {
		c.Published = t.UTC()
	}
	return c, symbols, text
}

// ReportType is the report_types value of the policy developments the tracker's seed ingests
// and of reports from policy sources.
const ReportType = "policy-development"

// Seed ingests the policy developments of the seed observatory pages as reports of type
// policy-development, through the free-text pipeline (entities extracted and linked), so that
// the tracker of a new hub shows citations: for the demo. It is idempotent: a development
// whose report (its id derives from its text) is stored already is left alone.
func Seed(ctx context.Context, k *kb.Service, g *gather.Service, sub kb.Submission) (*kb.Summary, error) {
	var devs []struct {
		Title string `json:"title"`
		Date  string `json:"date"`
		Text  string `json:"text"`
	}
	if err := json.Unmarshal(developmentsJSON, &devs); err != nil {
		return nil, hub.Errorf(hub.EInternal, "policy: seed/developments.json: %v", err)
	}
	total := &kb.Summary{Rejected: []kb.Rejection{}, IDs: []string{}}
	for _, d := range devs {
		stored, err := k.List(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, Workspaces: []string{sub.Workspace},
			IDs: []string{extract.ReportID(strings.TrimSpace(d.Text))}, Limit: 1})
		if err != nil {
			return total, err
		}
		if len(stored) > 0 {
			continue
		}
		published, err := time.Parse(time.DateOnly, d.Date)
		if err != nil {
			return total, hub.Errorf(hub.EInternal, "policy: seed/developments.json: %q: %v", d.Title, err)
		}
		sum, err := g.IngestReport(ctx, sub, extract.Report{Title: d.Title, Text: d.Text, Published: published, Types: []string{ReportType}})
		if sum != nil {
			total.Accepted += sum.Accepted
			total.Duplicates += sum.Duplicates
			total.Rejected = append(total.Rejected, sum.Rejected...)
			total.IDs = append(total.IDs, sum.IDs...)
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
