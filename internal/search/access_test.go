package search

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"cshub/internal/access"
	"cshub/internal/access/accesstest"
	"cshub/internal/hub"
)

var worldSeeds = []int64{1, 2, 3, 42, 2026, -7}

// worldIndex indexes every object of w, in order, with Seq 1, 2, ….
func worldIndex(t *testing.T, w *accesstest.World) *Index {
	t.Helper()
	x := New()
	for i, o := range w.Objects {
		c := *o
		c.Seq = int64(i + 1)
		if err := x.Add(&c); err != nil {
			t.Fatalf("Add(%s): %v", o.ID, err)
		}
	}
	return x
}

// viewerOf builds the viewer of org on p as the API would; an unknown organisation is refused
// by ViewerFor, and is given the empty viewer here to show it would see nothing anyway.
func viewerOf(t *testing.T, w *accesstest.World, org string, p access.Path) hub.Viewer {
	t.Helper()
	v, err := access.ViewerFor(context.Background(), w.Directory(), org, p)
	if err != nil {
		if hub.ErrorCode(err) != hub.ENotFound {
			t.Fatalf("ViewerFor(%s, %v): %v", org, p, err)
		}
		return hub.Viewer{Org: org}
	}
	return v
}

// TestSearchAgreesWithExpect pages through every result of several queries for every
// organisation of the generated worlds, on the search path and the exercise path, and checks
// that exactly the objects Expect allows come back, that every page but the last is full,
// and that Total counts only those objects.
func TestSearchAgreesWithExpect(t *testing.T) {
	ctx := context.Background()
	for _, seed := range worldSeeds {
		w := accesstest.Generate(seed, 60)
		x := worldIndex(t, w)
		orgs := []string{accesstest.Unknown}
		for _, o := range w.Orgs {
			orgs = append(orgs, o.Code)
		}
		for _, p := range []access.Path{access.PathSearch, access.PathExercise} {
			for _, org := range orgs {
				v := viewerOf(t, w, org, p)
				for _, q := range []string{"generated", "", "type:indicator", "type:note,report gen*",
					"tlp:red", "tlp:red,amber+strict generated", "generated -zzz", "author:" + org} {
					want := make(map[string]bool)
					for _, o := range w.ExpectObjects(org, p) {
						if matchesWorldQuery(q, o, org) {
							want[o.ID] = true
						}
					}
					got := make(map[string]bool)
					cursor, pages := "", 0
					for {
						res, err := x.Search(ctx, v, q, 7, cursor)
						if err != nil {
							t.Fatalf("seed %d: Search(%s %v, %q): %v", seed, org, p, q, err)
						}
						pages++
						if res.Total != len(want) {
							t.Errorf("seed %d: Search(%s %v, %q).Total = %d, want %d (visible matches only)",
								seed, org, p, q, res.Total, len(want))
						}
						for _, h := range res.Hits {
							if !want[h.ID] {
								t.Errorf("seed %d: Search(%s %v, %q) LEAKED or wrongly matched %s", seed, org, p, q, h.ID)
							}
							if got[h.ID] {
								t.Errorf("seed %d: Search(%s %v, %q) gave %s twice", seed, org, p, q, h.ID)
							}
							got[h.ID] = true
						}
						if res.Next == "" {
							break
						}
						if len(res.Hits) != 7 {
							t.Errorf("seed %d: Search(%s %v, %q) page %d has %d hits and a next page", seed, org, p, q, pages, len(res.Hits))
						}
						cursor = res.Next
						if pages > 100 {
							t.Fatalf("seed %d: Search(%s %v, %q) does not end", seed, org, p, q)
						}
					}
					if len(got) != len(want) {
						t.Errorf("seed %d: Search(%s %v, %q) found %d objects, want %d", seed, org, p, q, len(got), len(want))
					}
				}
			}
		}
		// Compare, triple by triple, on the search path: the object is found by its own name.
		leaks, refusals := 0, 0
		for _, tr := range w.Triples {
			if tr.Path != access.PathSearch && tr.Path != access.PathExercise {
				continue
			}
			v := viewerOf(t, w, tr.Org, tr.Path)
			res, err := x.Search(ctx, v, fmt.Sprintf("%q", worldName(tr.Object)), MaxLimit, "")
			if err != nil {
				t.Fatal(err)
			}
			got := slices.ContainsFunc(res.Hits, func(h Hit) bool { return h.ID == tr.Object.ID })
			if want := w.Expect(tr.Org, tr.Object, tr.Path); got != want {
				if got {
					leaks++
					t.Errorf("seed %d: %s on %v found %s (%v in %s by %s, recipients %v): LEAK", seed, tr.Org, tr.Path,
						tr.Object.ID, tr.Object.TLP, tr.Object.Workspace, tr.Object.Author, tr.Object.Recipients)
				} else {
					refusals++
					t.Errorf("seed %d: %s on %v did not find %s", seed, tr.Org, tr.Path, tr.Object.ID)
				}
			}
		}
		if leaks+refusals > 0 {
			t.Fatalf("seed %d: %d leaks, %d wrong refusals", seed, leaks, refusals)
		}
	}
}

// worldName is the name accesstest gives an object.
func worldName(o *hub.Object) string { return "generated " + o.ID[len(o.Type)+2:len(o.Type)+10] }

// matchesWorldQuery says, independently of the index, which world objects each test query
// selects.
func matchesWorldQuery(q string, o *hub.Object, org string) bool {
	switch q {
	case "generated", "":
		return true
	case "type:indicator":
		return o.Type == "indicator"
	case "type:note,report gen*":
		return o.Type == "note" || o.Type == "report"
	case "tlp:red":
		return o.TLP == hub.TLPRed
	case "tlp:red,amber+strict generated":
		return o.TLP == hub.TLPRed || o.TLP == hub.TLPAmberStrict
	case "generated -zzz":
		return true
	case "author:" + org:
		return o.Author == org
	}
	panic("unknown query " + q)
}

// TestViewFilterIsVisible proves the compiled viewer filter equal to access.Visible on every
// document of the generated worlds, for every viewer the directory gives on every path, the
// System viewer, and viewers naming workspaces or organisations the index never saw.
func TestViewFilterIsVisible(t *testing.T) {
	for _, seed := range worldSeeds {
		w := accesstest.Generate(seed, 80)
		x := worldIndex(t, w)
		viewers := []hub.Viewer{{System: true}, {}, {Org: "cert-aa"}, {Org: "", Workspaces: []string{"community"}},
			{Org: "nobody", Workspaces: []string{"community", "no-such-workspace"}}}
		for _, o := range append(w.Orgs, &hub.Org{Code: accesstest.Unknown}) {
			for _, p := range access.Paths() {
				viewers = append(viewers, viewerOf(t, w, o.Code, p))
			}
			all := []string{}
			for _, ws := range w.Workspaces {
				all = append(all, ws.Slug)
			}
			viewers = append(viewers, hub.Viewer{Org: o.Code, Workspaces: all})
		}
		x.mu.RLock()
		for _, v := range viewers {
			f := x.viewFilter(v)
			for n := range x.docs {
				d := &x.docs[n]
				o := &hub.Object{Workspace: x.names[d.workspace], Author: x.names[d.author], TLP: d.tlp}
				for _, r := range x.rcpts[d.rcpt] {
					o.Recipients = append(o.Recipients, x.names[r])
				}
				if got, want := f.sees(d), access.Visible(v, o); got != want {
					t.Errorf("seed %d: viewFilter(%+v).sees(%s) = %v, access.Visible = %v", seed, v, x.ids[n], got, want)
				}
			}
		}
		x.mu.RUnlock()
	}
}
