// Package accesstest generates adversarial worlds for testing access control: organisations,
// workspaces with random memberships (an exercise workspace among them), objects at every TLP
// level with random authors and recipients, and many (organisation, object, path) triples, each
// with the answer the TLP 2.0 rules give.
//
// The answer, World.Expect, is written again here from the TLP text and deliberately does not
// call package access: a test of any read path loads a World into a store, asks the path for
// each triple and compares, so that a mistake in package access shows up as a disagreement
// instead of being copied into the expectation. Only the Path constants are shared.
//
// A test of a read path typically does:
//
//	w := accesstest.Generate(seed, 60)
//	w.Load(ctx, store, now, sealBody) // orgs, workspaces, members, objects
//	leaks, refusals, err := w.Compare(func(tr accesstest.Triple) (bool, error) {
//		// ask the path whether tr.Org gets tr.Object on tr.Path
//	})
//
// and fails on any leak or wrong refusal.
package accesstest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"cshub/internal/access"
	"cshub/internal/hub"
)

// Unknown is an organisation code that appears in triples but not in the directory: it must
// see nothing, and asking for it may fail with hub.ENotFound.
const Unknown = "cert-ghost"

// World is one generated setting. Its fields may be read freely; treat them as read-only.
type World struct {
	Seed       int64
	Orgs       []*hub.Org       // includes inactive and non-member organisations
	Workspaces []*hub.Workspace // Members holds the final memberships
	// Removed lists (workspace, org) memberships that Load adds and then removes again, to
	// catch a store that keeps stale memberships. None of them is in Workspaces[i].Members.
	Removed [][2]string
	Objects []*hub.Object // Body is plain STIX JSON; IDs are unique
	Triples []Triple      // every (org, object, path), shuffled, at least 1,000

	orgs map[string]*hub.Org
	wss  map[string]*hub.Workspace
}

// Triple is one question: may Org receive Object on Path?
type Triple struct {
	Org    string
	Object *hub.Object
	Path   access.Path
}

// paths lists every access path a triple may ask about.
var paths = []access.Path{access.PathRead, access.PathSearch, access.PathMatch, access.PathNotify,
	access.PathExport, access.PathFeed, access.PathFederate, access.PathStream, access.PathStats,
	access.PathExercise}

// Paths returns every path the World's triples cover.
func Paths() []access.Path { return slices.Clone(paths) }

var objectTypes = []string{"indicator", "malware", "report", "note", "threat-actor", "vulnerability"}

// Generate returns a World built from seed with at least n objects (at least 20, so that there
// are at least 1,000 triples). The same seed always gives the same World.
func Generate(seed int64, n int) *World {
	n = max(n, 20)
	r := rand.New(rand.NewPCG(uint64(seed), 0x63736875622d6163)) // "cshub-ac"
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := &World{Seed: seed, orgs: make(map[string]*hub.Org), wss: make(map[string]*hub.Workspace)}

	// Six active member CERTs, an operator, an observer and one inactive CERT.
	codes := []string{"cert-aa", "cert-bb", "cert-cc", "cert-dd", "cert-ee", "cert-ff"}
	for i, c := range codes {
		w.addOrg(&hub.Org{Code: c, Name: "CERT " + c[5:], Country: fmt.Sprintf("A%c", 'A'+i),
			Kind: hub.OrgMember, Active: true, Created: base})
	}
	w.addOrg(&hub.Org{Code: "hub-op", Name: "Hub operator", Country: "ZZ", Kind: hub.OrgOperator, Active: true, Created: base})
	w.addOrg(&hub.Org{Code: "obs-1", Name: "Observer", Country: "ZY", Kind: hub.OrgObserver, Active: true, Created: base})
	w.addOrg(&hub.Org{Code: "cert-old", Name: "Former CERT", Country: "ZX", Kind: hub.OrgMember, Active: false, Created: base})
	all := make([]string, 0, len(w.Orgs))
	for _, o := range w.Orgs {
		all = append(all, o.Code)
	}

	tlps := []hub.TLP{hub.TLPUnset, hub.TLPClear, hub.TLPGreen, hub.TLPAmber, hub.TLPAmberStrict, hub.TLPRed}
	pick := func(p float64) []string { // a random subset of all organisations
		var s []string
		for _, c := range all {
			if r.Float64() < p {
				s = append(s, c)
			}
		}
		return s
	}
	ws := func(slug string, kind hub.WorkspaceKind, members []string) {
		w.addWorkspace(&hub.Workspace{Slug: slug, Name: slug, Kind: kind,
			DefaultTLP: tlps[r.IntN(len(tlps))], Members: members, Created: base})
	}
	var community []string
	for _, c := range all {
		if c != "obs-1" || r.IntN(2) == 0 {
			community = append(community, c)
		}
	}
	ws("community", hub.WorkspaceCommunity, community)
	ws("private-"+codes[r.IntN(len(codes))][5:], hub.WorkspacePrivate, nil)
	w.Workspaces[1].Members = []string{"cert-" + w.Workspaces[1].Slug[8:]}
	ws("group-1", hub.WorkspaceGroup, pick(0.45))
	ws("group-2", hub.WorkspaceGroup, pick(0.45))
	ws("exercise-1", hub.WorkspaceExercise, pick(0.6))
	ws("empty", hub.WorkspaceGroup, nil)
	for _, x := range w.Workspaces {
		// Someone who left: added and removed again by Load.
		for _, c := range all {
			if !slices.Contains(x.Members, c) && r.IntN(6) == 0 {
				w.Removed = append(w.Removed, [2]string{x.Slug, c})
			}
		}
	}

	for i := range n {
		x := w.Workspaces[r.IntN(len(w.Workspaces))]
		author := all[r.IntN(len(all))]
		if len(x.Members) > 0 && r.IntN(7) != 0 {
			author = x.Members[r.IntN(len(x.Members))] // mostly a member; sometimes one who left
		}
		o := &hub.Object{
			Type:      objectTypes[r.IntN(len(objectTypes))],
			Created:   base.Add(time.Duration(i) * time.Minute),
			Workspace: x.Slug,
			Author:    author,
			TLP:       tlps[1+r.IntN(len(tlps)-1)],
		}
		o.Modified = o.Created.Add(time.Duration(r.IntN(1000)) * time.Millisecond)
		o.ID = o.Type + "--" + uuid(r)
		if o.TLP == hub.TLPRed || r.IntN(5) == 0 {
			// Recipients of non-RED objects must not matter; recipients of RED objects may
			// include the author, non-members, inactive and unknown organisations.
			o.Recipients = pick(0.25)
			if r.IntN(8) == 0 {
				o.Recipients = append(o.Recipients, Unknown)
			}
			others := slices.DeleteFunc(slices.Clone(x.Members), func(c string) bool { return c == author })
			if len(others) > 0 && r.IntN(3) != 0 {
				// A recipient who is a member too: the case where RED is really shared.
				o.Recipients = append(o.Recipients, others[r.IntN(len(others))])
			}
		}
		o.Body = body(o)
		w.Objects = append(w.Objects, o)
	}

	orgs := append(slices.Clone(all), Unknown)
	for _, c := range orgs {
		for _, o := range w.Objects {
			for _, p := range paths {
				w.Triples = append(w.Triples, Triple{Org: c, Object: o, Path: p})
			}
		}
	}
	r.Shuffle(len(w.Triples), func(i, j int) { w.Triples[i], w.Triples[j] = w.Triples[j], w.Triples[i] })
	return w
}

func (w *World) addOrg(o *hub.Org) {
	w.Orgs = append(w.Orgs, o)
	w.orgs[o.Code] = o
}

func (w *World) addWorkspace(x *hub.Workspace) {
	w.Workspaces = append(w.Workspaces, x)
	w.wss[x.Slug] = x
}

// uuid returns a random version 4 UUID drawn from r, so that IDs depend only on the seed.
func uuid(r *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// body returns a small STIX 2.1 JSON object for o.
func body(o *hub.Object) []byte {
	b, _ := json.Marshal(map[string]any{ // a map of strings always marshals
		"type":         o.Type,
		"spec_version": "2.1",
		"id":           o.ID,
		"created":      o.Created.Format("2006-01-02T15:04:05.000Z"),
		"modified":     o.Modified.Format("2006-01-02T15:04:05.000Z"),
		"name":         "generated " + o.ID[len(o.Type)+2:len(o.Type)+10],
	})
	return b
}

// Org returns the organisation with code c, or nil.
func (w *World) Org(c string) *hub.Org { return w.orgs[c] }

// Workspace returns the workspace with slug s, or nil.
func (w *World) Workspace(s string) *hub.Workspace { return w.wss[s] }

// Expect reports whether org may receive o on path p, from the TLP 2.0 text:
//
//   - nobody unknown or inactive receives anything;
//   - exercise data appears on the exercise path only, and the exercise path shows nothing else;
//   - federation: CLEAR and GREEN go to any peer; AMBER and AMBER+STRICT only to a peer that
//     is a member of the workspace; RED never;
//   - everywhere else only members of the workspace receive anything, and RED only if they are
//     its author or a named recipient;
//   - export: AMBER+STRICT only by the author, RED by the author and its named recipients;
//     feed: never RED, AMBER+STRICT only from the author.
func (w *World) Expect(org string, o *hub.Object, p access.Path) bool {
	who, x := w.orgs[org], w.wss[o.Workspace]
	if who == nil || !who.Active || x == nil {
		return false
	}
	if isExercise := x.Kind == hub.WorkspaceExercise; isExercise != (p == access.PathExercise) {
		return false
	}
	member := slices.Contains(x.Members, org)
	author := o.Author == org
	recipient := author || slices.Contains(o.Recipients, org)

	if p == access.PathFederate {
		switch o.TLP {
		case hub.TLPClear, hub.TLPGreen:
			return true
		case hub.TLPAmber, hub.TLPAmberStrict:
			return member
		}
		return false
	}
	if !member {
		return false
	}
	switch p {
	case access.PathExport:
		switch o.TLP {
		case hub.TLPClear, hub.TLPGreen, hub.TLPAmber:
			return true
		case hub.TLPAmberStrict:
			return author
		case hub.TLPRed:
			return recipient
		}
		return false
	case access.PathFeed:
		switch o.TLP {
		case hub.TLPClear, hub.TLPGreen, hub.TLPAmber:
			return true
		case hub.TLPAmberStrict:
			return author
		}
		return false
	case access.PathRead, access.PathSearch, access.PathMatch, access.PathNotify,
		access.PathStream, access.PathStats, access.PathExercise:
		switch o.TLP {
		case hub.TLPClear, hub.TLPGreen, hub.TLPAmber, hub.TLPAmberStrict:
			return true
		case hub.TLPRed:
			return recipient
		}
	}
	return false
}

// ExpectObjects returns, in World order, the objects org may receive on p.
func (w *World) ExpectObjects(org string, p access.Path) []*hub.Object {
	var s []*hub.Object
	for _, o := range w.Objects {
		if w.Expect(org, o, p) {
			s = append(s, o)
		}
	}
	return s
}

// Member reports whether org is a member of workspace slug in w.
func (w *World) Member(slug, org string) bool {
	x := w.wss[slug]
	return x != nil && slices.Contains(x.Members, org)
}
