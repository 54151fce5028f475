package accesstest_test

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"cshub/internal/access"
	"cshub/internal/access/accesstest"
	"cshub/internal/hub"
)

var seeds = []int64{1, 2, 3, 42, 2026, -7}

// TestAccessAgreesWithExpect is the proof that package access makes the decisions the TLP text
// asks for: on every triple of several worlds, Decide, and Allow on a Viewer from ViewerFor,
// agree with the independently written Expect. A leak is an allowed triple Expect refuses; a
// wrong refusal the reverse.
func TestAccessAgreesWithExpect(t *testing.T) {
	ctx := context.Background()
	for _, seed := range seeds {
		w := accesstest.Generate(seed, 60)
		dir := w.Directory()
		snap, err := access.Load(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		viewers := make(map[[2]any]hub.Viewer)
		var leaks, refusals, allowed int
		for _, tr := range w.Triples {
			want := w.Expect(tr.Org, tr.Object, tr.Path)
			if want {
				allowed++
			}
			d := snap.Decide(tr.Org, tr.Object, tr.Path)
			if d.Allow != want {
				if d.Allow {
					leaks++
				} else {
					refusals++
				}
				t.Errorf("seed %d: Decide(%s, %s %v in %s by %s to %v, %v) = %v (%s), want %v",
					seed, tr.Org, tr.Object.ID, tr.Object.TLP, tr.Object.Workspace, tr.Object.Author,
					tr.Object.Recipients, tr.Path, d.Allow, d.Reason, want)
			}

			key := [2]any{tr.Org, tr.Path}
			v, ok := viewers[key]
			if !ok {
				v, err = access.ViewerFor(ctx, dir, tr.Org, tr.Path)
				if err != nil && hub.ErrorCode(err) != hub.ENotFound {
					t.Fatalf("ViewerFor(%s, %v): %v", tr.Org, tr.Path, err)
				}
				if err == nil && tr.Org == accesstest.Unknown {
					t.Fatalf("ViewerFor(unknown org) gave no error")
				}
				if sv := snap.Viewer(tr.Org, tr.Path); !slices.Equal(sv.Workspaces, v.Workspaces) {
					t.Fatalf("Snapshot.Viewer(%s, %v) = %v, ViewerFor = %v", tr.Org, tr.Path, sv.Workspaces, v.Workspaces)
				}
				viewers[key] = v
			}
			got := access.Allow(v, tr.Object, tr.Path)
			if got && !want {
				leaks++
				t.Errorf("seed %d: Allow(viewer %s %v, %s %v in %s) leaks", seed, tr.Org, tr.Path,
					tr.Object.ID, tr.Object.TLP, tr.Object.Workspace)
			}
			// Allow is exact everywhere but on PathFederate, where it is knowingly conservative.
			if !got && want && tr.Path != access.PathFederate {
				refusals++
				t.Errorf("seed %d: Allow(viewer %s %v, %s %v in %s) wrongly refuses", seed, tr.Org,
					tr.Path, tr.Object.ID, tr.Object.TLP, tr.Object.Workspace)
			}
			if tr.Path != access.PathExport && tr.Path != access.PathFeed && tr.Path != access.PathFederate {
				if vis := access.Visible(v, tr.Object); vis != want {
					t.Errorf("seed %d: Visible(viewer %s %v, %s) = %v, want %v", seed, tr.Org, tr.Path,
						tr.Object.ID, vis, want)
				}
			}
			if t.Failed() && leaks+refusals > 20 {
				t.FailNow()
			}
		}
		t.Logf("seed %d: %d triples, %d allowed, %d leaks, %d wrong refusals", seed, len(w.Triples),
			allowed, leaks, refusals)
	}
}

// TestCompare uses Compare, as tests of read paths do, on Decide and on a rule that leaks.
func TestCompare(t *testing.T) {
	ctx := context.Background()
	w := accesstest.Generate(5, 40)
	snap, err := access.Load(ctx, w.Directory())
	if err != nil {
		t.Fatal(err)
	}
	leaks, refusals, err := w.Compare(func(tr accesstest.Triple) (bool, error) {
		return snap.Decide(tr.Org, tr.Object, tr.Path).Allow, nil
	})
	if err != nil || len(leaks)+len(refusals) > 0 {
		t.Fatalf("Compare(Decide) = %d leaks, %d refusals, %v", len(leaks), len(refusals), err)
	}
	leaks, refusals, err = w.Compare(func(tr accesstest.Triple) (bool, error) {
		return snap.Facts(tr.Org, tr.Object.Workspace).Member, nil // membership only: leaks RED
	})
	if err != nil || len(leaks) == 0 || !leaks[0].Leak() {
		t.Fatalf("Compare(membership only) found %d leaks, %v; want some", len(leaks), err)
	}
	t.Logf("membership only: %d leaks, %d refusals; first: %v", len(leaks), len(refusals), leaks[0])
}

// TestGenerateShape checks that a World holds what the adversarial comparison needs, and that
// it is reproducible.
func TestGenerateShape(t *testing.T) {
	for _, seed := range seeds {
		w := accesstest.Generate(seed, 1)
		if got := len(w.Orgs); got < 5 {
			t.Errorf("seed %d: %d organisations, want at least 5", seed, got)
		}
		if got := len(w.Workspaces); got < 3 {
			t.Errorf("seed %d: %d workspaces, want at least 3", seed, got)
		}
		if got := len(w.Triples); got < 1000 {
			t.Errorf("seed %d: %d triples, want at least 1000", seed, got)
		}
		exercise := slices.ContainsFunc(w.Workspaces, func(x *hub.Workspace) bool { return x.Kind == hub.WorkspaceExercise })
		if !exercise {
			t.Errorf("seed %d: no exercise workspace", seed)
		}
		ids := make(map[string]bool)
		for _, o := range w.Objects {
			if ids[o.ID] {
				t.Errorf("seed %d: duplicate id %s", seed, o.ID)
			}
			ids[o.ID] = true
			if o.TLP < hub.TLPClear || o.TLP > hub.TLPRed {
				t.Errorf("seed %d: %s has TLP %v", seed, o.ID, o.TLP)
			}
		}
		if !reflect.DeepEqual(w, accesstest.Generate(seed, 1)) {
			t.Errorf("seed %d: Generate is not deterministic", seed)
		}
	}
}

// TestGenerateCoverage checks, over a few large worlds, that every hard case occurs, so that a
// rule which forgot one of them would be caught by the comparison.
func TestGenerateCoverage(t *testing.T) {
	cases := map[string]func(w *accesstest.World, tr accesstest.Triple) bool{
		"RED, member, not addressed": func(w *accesstest.World, tr accesstest.Triple) bool {
			o := tr.Object
			return o.TLP == hub.TLPRed && w.Member(o.Workspace, tr.Org) && o.Author != tr.Org &&
				!slices.Contains(o.Recipients, tr.Org) && tr.Path == access.PathRead
		},
		"RED, recipient, not author": func(w *accesstest.World, tr accesstest.Triple) bool {
			o := tr.Object
			return o.TLP == hub.TLPRed && w.Member(o.Workspace, tr.Org) && o.Author != tr.Org &&
				slices.Contains(o.Recipients, tr.Org) && w.Org(tr.Org).Active
		},
		"RED recipient outside the workspace": func(w *accesstest.World, tr accesstest.Triple) bool {
			o := tr.Object
			return o.TLP == hub.TLPRed && !w.Member(o.Workspace, tr.Org) && slices.Contains(o.Recipients, tr.Org)
		},
		"author who left the workspace": func(w *accesstest.World, tr accesstest.Triple) bool {
			return tr.Object.Author == tr.Org && !w.Member(tr.Object.Workspace, tr.Org)
		},
		"AMBER+STRICT export by a member, not author": func(w *accesstest.World, tr accesstest.Triple) bool {
			o := tr.Object
			return o.TLP == hub.TLPAmberStrict && tr.Path == access.PathExport && o.Author != tr.Org &&
				w.Member(o.Workspace, tr.Org)
		},
		"GREEN federated to a non-member": func(w *accesstest.World, tr accesstest.Triple) bool {
			o := tr.Object
			return o.TLP == hub.TLPGreen && tr.Path == access.PathFederate && !w.Member(o.Workspace, tr.Org) &&
				w.Workspace(o.Workspace).Kind != hub.WorkspaceExercise && w.Org(tr.Org) != nil && w.Org(tr.Org).Active
		},
		"exercise object on a real path for a member": func(w *accesstest.World, tr accesstest.Triple) bool {
			return w.Workspace(tr.Object.Workspace).Kind == hub.WorkspaceExercise && tr.Path == access.PathRead &&
				w.Member(tr.Object.Workspace, tr.Org)
		},
		"inactive member": func(w *accesstest.World, tr accesstest.Triple) bool {
			o := w.Org(tr.Org)
			return o != nil && !o.Active && w.Member(tr.Object.Workspace, tr.Org)
		},
		"unknown organisation": func(w *accesstest.World, tr accesstest.Triple) bool {
			return tr.Org == accesstest.Unknown
		},
		"non-RED object with recipients": func(w *accesstest.World, tr accesstest.Triple) bool {
			return tr.Object.TLP != hub.TLPRed && len(tr.Object.Recipients) > 0
		},
	}
	for _, seed := range seeds {
		w := accesstest.Generate(seed, 60)
		for name, hit := range cases {
			n := 0
			for _, tr := range w.Triples {
				if hit(w, tr) {
					n++
				}
			}
			if n == 0 {
				t.Errorf("seed %d: no triple for %q", seed, name)
			}
		}
	}
}

// TestCatchesMutants checks that the worlds are adversarial enough: each plausible mistake in
// an access rule, made by perturbing the input of access.Decide, disagrees with Expect on some
// triple of every world.
func TestCatchesMutants(t *testing.T) {
	mutants := map[string]func(org string, f access.Facts, o *hub.Object, p access.Path) access.Decision{
		"recipients ignored": func(org string, f access.Facts, o *hub.Object, p access.Path) access.Decision {
			c := *o
			c.Recipients = nil
			return access.Decide(org, f, &c, p)
		},
		"RED treated as AMBER+STRICT": func(org string, f access.Facts, o *hub.Object, p access.Path) access.Decision {
			c := *o
			c.TLP = min(c.TLP, hub.TLPAmberStrict)
			return access.Decide(org, f, &c, p)
		},
		"exercise kind forgotten": func(org string, f access.Facts, o *hub.Object, p access.Path) access.Decision {
			f.Kind = hub.WorkspaceGroup
			return access.Decide(org, f, o, p)
		},
		"inactive orgs allowed": func(org string, f access.Facts, o *hub.Object, p access.Path) access.Decision {
			f.Active = true
			if f.Kind == "" {
				f.Kind = hub.WorkspaceGroup
			}
			return access.Decide(org, f, o, p)
		},
		"membership ignored": func(org string, f access.Facts, o *hub.Object, p access.Path) access.Decision {
			f.Member = true
			return access.Decide(org, f, o, p)
		},
		"export treated as read": func(org string, f access.Facts, o *hub.Object, p access.Path) access.Decision {
			if p == access.PathExport {
				p = access.PathRead
			}
			return access.Decide(org, f, o, p)
		},
		"feed treated as export": func(org string, f access.Facts, o *hub.Object, p access.Path) access.Decision {
			if p == access.PathFeed {
				p = access.PathExport
			}
			return access.Decide(org, f, o, p)
		},
		"federation treated as read": func(org string, f access.Facts, o *hub.Object, p access.Path) access.Decision {
			if p == access.PathFederate {
				p = access.PathRead
			}
			return access.Decide(org, f, o, p)
		},
		"stats count everything": func(org string, f access.Facts, o *hub.Object, p access.Path) access.Decision {
			if p == access.PathStats {
				c := *o
				c.Author = org
				return access.Decide(org, f, &c, p)
			}
			return access.Decide(org, f, o, p)
		},
	}
	ctx := context.Background()
	for _, seed := range seeds {
		w := accesstest.Generate(seed, 60)
		snap, err := access.Load(ctx, w.Directory())
		if err != nil {
			t.Fatal(err)
		}
		for name, decide := range mutants {
			caught := false
			for _, tr := range w.Triples {
				d := decide(tr.Org, snap.Facts(tr.Org, tr.Object.Workspace), tr.Object, tr.Path)
				if d.Allow != w.Expect(tr.Org, tr.Object, tr.Path) {
					caught = true
					break
				}
			}
			if !caught {
				t.Errorf("seed %d: mutant %q agrees with Expect on every triple", seed, name)
			}
		}
	}
}
