package web

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"cshub/internal/collab"
	"cshub/internal/hub"
)

// maxGraphNodes bounds the neighbours drawn around an object; the rest are listed in the table
// below the graph, which always holds every relationship.
const maxGraphNodes = 16

// maxRelated bounds the relationships, sightings and notes an object page lists and fetches.
const maxRelated = 500

// objectPage is what the object page shows beyond the object itself.
type objectPage struct {
	*objectView
	RefsReady     bool // the back-reference index is built
	Relationships []relRow
	Graph         *graph
	Sightings     []sightingRow
	Notes         []noteRow // notes, opinions and reports referring to the object
	Versions      []versionRow
	Diff          []propDiff // this version against the one before it
	Latest        bool
	More          bool // more than maxRelated referring objects; the first are shown
	// Claims are the attribution claims about the object with each organisation's assessment,
	// side by side, when the hub serves collaboration.
	Claims []*collab.Claim
}

// attributionTypes are the object types whose pages show the members' assessments of the
// claims about them: a relationship is a claim itself; an intrusion set or threat actor is
// the source or target of attribution claims.
var attributionTypes = []string{"relationship", "intrusion-set", "threat-actor"}

type relRow struct {
	ID, Type, Direction string // Direction: "out" (this object is the source) or "in"
	Other               objectRow
}

type sightingRow struct {
	ID                    string
	Count                 int
	FirstSeen, LastSeen   string
	Where                 []string
	FalsePositive, Anonym bool
	Author                string // "" for an anonymous sighting
	TLP                   hub.TLP
}

type noteRow struct {
	ID, Type, Title, Text, Author string
	TLP                           hub.TLP
	Added                         time.Time
}

type versionRow struct {
	Modified, Added time.Time
	Param           string // the version query parameter
	Current         bool
}

// propDiff is one top-level property that differs between two versions.
type propDiff struct {
	Name, Before, After string // compact JSON; "" when absent
}

// object serves GET /objects/{id}[?version=RFC 3339 time]: one version of an object the user
// may see (the latest by default), what refers to it, its versions and what changed. A TLP:RED
// object not addressed to the user's organisation is the same not-found page as a missing one.
func (s *Server) object(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := principal(ctx)
	var version time.Time
	if q := r.URL.Query().Get("version"); q != "" {
		t, err := time.Parse(time.RFC3339Nano, q)
		if err != nil {
			s.fail(w, r, hub.FieldError("version", "%q is not an RFC 3339 time", q))
			return
		}
		version = t
	}
	o, err := s.kb.Get(ctx, u.Viewer, r.PathValue("id"), version)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.kb.RecordRead(ctx, u.Org, u.Username, o)
	p := &objectPage{objectView: viewOf(o, u.Org)}
	if err := s.versions(ctx, u.Viewer, o, p); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.related(ctx, u.Viewer, o, p); err != nil {
		s.fail(w, r, err)
		return
	}
	if s.collab != nil && slices.Contains(attributionTypes, o.Type) {
		if p.Claims, err = s.claims(ctx, u.Org, o); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.render(w, r, http.StatusOK, "object.html", &page{Title: p.Title(), TLP: o.TLP, Data: p})
}

// claims returns the attribution claims about o that carry assessments org may see, as collab
// gives them: o itself when it is a relationship, else the claims naming o as their source or
// target. Assessments stay each organisation's own; nothing is averaged.
func (s *Server) claims(ctx context.Context, org string, o *hub.Object) ([]*collab.Claim, error) {
	if o.Type == "relationship" {
		cs, err := s.collab.Attribution(ctx, org, o.ID)
		return slices.DeleteFunc(cs, func(c *collab.Claim) bool { return len(c.Opinions) == 0 }), err
	}
	cs, err := s.collab.Attribution(ctx, org, "")
	return slices.DeleteFunc(cs, func(c *collab.Claim) bool {
		return c.Object != o.ID && (c.Source == nil || c.Source.ID != o.ID) && (c.Target == nil || c.Target.ID != o.ID)
	}), err
}

// versions fills in o's versions in its workspace, newest first, and the differences between
// o and the version before it.
func (s *Server) versions(ctx context.Context, v hub.Viewer, o *hub.Object, p *objectPage) error {
	all, err := s.kb.List(ctx, hub.Filter{Viewer: v, IDs: []string{o.ID}, Workspaces: []string{o.Workspace}, AllVersions: true, Limit: 1000})
	if err != nil {
		return err
	}
	slices.SortFunc(all, func(a, b *hub.Object) int { return b.Modified.Compare(a.Modified) })
	var prev *hub.Object
	for i, x := range all {
		cur := x.Modified.Equal(o.Modified)
		p.Versions = append(p.Versions, versionRow{Modified: x.Modified, Added: x.Added,
			Param: x.Modified.UTC().Format(time.RFC3339Nano), Current: cur})
		if cur {
			p.Latest = i == 0
			if i+1 < len(all) {
				prev = all[i+1]
			}
		}
	}
	if prev != nil {
		p.Diff = diffProps(prev.Body, o.Body)
	}
	return nil
}

// diffProps compares two STIX bodies property by property, in name order. Values are compared
// as compact JSON, so formatting does not count as a change.
func diffProps(before, after []byte) []propDiff {
	var a, b map[string]json.RawMessage
	if json.Unmarshal(before, &a) != nil || json.Unmarshal(after, &b) != nil {
		return nil
	}
	var names []string
	for k := range a {
		names = append(names, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	var out []propDiff
	for _, n := range names {
		x, y := compact(a[n]), compact(b[n])
		if x != y {
			out = append(out, propDiff{Name: n, Before: x, After: y})
		}
	}
	return out
}

func compact(raw json.RawMessage) string {
	if raw == nil {
		return ""
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return string(raw)
	}
	return buf.String()
}

// refBodies are the properties of referring objects the page shows.
type refBodies struct {
	stixFields
	Content       string   `json:"content"`
	Abstract      string   `json:"abstract"`
	Explanation   string   `json:"explanation"`
	Opinion       string   `json:"opinion"`
	Count         int      `json:"count"`
	FirstSeen     string   `json:"first_seen"`
	LastSeen      string   `json:"last_seen"`
	WhereSighted  []string `json:"where_sighted_refs"`
	FalsePositive bool     `json:"x_cshub_false_positive"`
	Anonymous     bool     `json:"x_cshub_anonymous"`
}

// related fills in the relationships (with the graph), sightings and notes referring to o that
// v may see. The index says which objects refer to o; their bodies, and the names of the
// objects at the other end of relationships, are read through the knowledge base with v.
func (s *Server) related(ctx context.Context, v hub.Viewer, o *hub.Object, p *objectPage) error {
	refs, ready := s.refs.to(v, o.ID)
	p.RefsReady = ready
	if len(refs) > maxRelated {
		refs, p.More = refs[:maxRelated], true
	}
	ids := make([]string, 0, len(refs))
	for _, r := range refs {
		ids = append(ids, r.meta.ID)
		if r.other != "" {
			ids = append(ids, r.other)
		}
	}
	bodies, err := s.fetch(ctx, v, ids)
	if err != nil {
		return err
	}
	for _, r := range refs {
		ro := bodies[r.meta.ID]
		if ro == nil {
			continue // changed or gone since it was indexed
		}
		var f refBodies
		json.Unmarshal(ro.Body, &f) // a body that does not decode shows by its id
		switch {
		case r.relType != "":
			row := relRow{ID: r.meta.ID, Type: r.relType, Direction: "in"}
			if r.prop == "source_ref" {
				row.Direction = "out"
			}
			if other := bodies[r.other]; other != nil {
				row.Other = rowOf(other)
			} else {
				row.Other = objectRow{ID: r.other, Type: typeOf(r.other)}
			}
			p.Relationships = append(p.Relationships, row)
		case r.prop == "sighting_of_ref":
			sr := sightingRow{ID: ro.ID, Count: f.Count, FirstSeen: f.FirstSeen, LastSeen: f.LastSeen,
				Where: f.WhereSighted, FalsePositive: f.FalsePositive, Anonym: f.Anonymous, TLP: ro.TLP}
			if !f.Anonymous {
				sr.Author = ro.Author
			}
			p.Sightings = append(p.Sightings, sr)
		case r.prop == "object_refs":
			nr := noteRow{ID: ro.ID, Type: ro.Type, Title: displayName(&f.stixFields), Author: ro.Author, TLP: ro.TLP, Added: ro.Added}
			switch ro.Type {
			case "note":
				nr.Title, nr.Text = f.Abstract, f.Content
			case "opinion":
				nr.Title, nr.Text = f.Opinion, f.Explanation
			default:
				nr.Text = f.Description
			}
			p.Notes = append(p.Notes, nr)
		}
	}
	p.Graph = layoutGraph(p.objectView, p.Relationships)
	return nil
}

// fetch reads the latest versions of ids that v may see, by id. When an id is held in several
// workspaces, the first listed wins.
func (s *Server) fetch(ctx context.Context, v hub.Viewer, ids []string) (map[string]*hub.Object, error) {
	out := map[string]*hub.Object{}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for len(ids) > 0 {
		n := min(len(ids), 200)
		objs, err := s.kb.List(ctx, hub.Filter{Viewer: v, IDs: ids[:n], Limit: n * 4})
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if out[o.ID] == nil {
				out[o.ID] = o
			}
		}
		ids = ids[n:]
	}
	return out, nil
}

// graph is an object's relationships drawn as a star: the object in the middle, its neighbours
// on a circle around it, each a link to its own page.
type graph struct {
	Width, Height int
	Center        graphNode
	Nodes         []graphNode
	Hidden        int // relationships not drawn
}

type graphNode struct {
	ID, Label, Type, Rel string
	X, Y                 int // centre of the node
	LX, LY               int // where the relationship's label goes, on the edge
	Anchor               string
}

// layoutGraph places up to maxGraphNodes distinct neighbours of the object on a circle.
func layoutGraph(o *objectView, rels []relRow) *graph {
	if len(rels) == 0 {
		return nil
	}
	g := &graph{Width: 960, Height: 480}
	cx, cy := g.Width/2, g.Height/2
	g.Center = graphNode{ID: o.ID, Label: shorten(o.Title(), 40), Type: o.Type, X: cx, Y: cy}
	seen := map[string]bool{}
	var picked []relRow
	for _, r := range rels {
		if seen[r.Other.ID] {
			continue
		}
		seen[r.Other.ID] = true
		if len(picked) == maxGraphNodes {
			g.Hidden++
			continue
		}
		picked = append(picked, r)
	}
	// Room for labels beside the nodes on the left and right, above and below at the poles.
	rx, ry := float64(g.Width)/2-240, float64(g.Height)/2-50
	for i, r := range picked {
		a := 2*math.Pi*float64(i)/float64(len(picked)) - math.Pi/2
		x, y := float64(cx)+rx*math.Cos(a), float64(cy)+ry*math.Sin(a)
		label := r.Other.Name
		if label == "" {
			label = r.Other.ID
		}
		anchor := "middle"
		switch {
		case math.Cos(a) > 0.3:
			anchor = "start"
		case math.Cos(a) < -0.3:
			anchor = "end"
		}
		rel := r.Type
		if r.Direction == "in" {
			rel = "← " + rel
		} else {
			rel += " →"
		}
		g.Nodes = append(g.Nodes, graphNode{ID: r.Other.ID, Label: shorten(label, 32), Type: r.Other.Type, Rel: rel,
			X: int(x), Y: int(y), LX: int((x + float64(cx)) / 2), LY: int((y+float64(cy))/2) - 4, Anchor: anchor})
	}
	return g
}

// shorten cuts s to at most n characters, marking the cut.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return strings.TrimSpace(string(r[:n-1])) + "…"
}
