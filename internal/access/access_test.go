package access_test

import (
	"context"
	"slices"
	"testing"

	"cshub/internal/access"
	"cshub/internal/access/accesstest"
	"cshub/internal/hub"
)

func TestEffectiveTLP(t *testing.T) {
	for _, tc := range []struct{ marking, def, want hub.TLP }{
		{hub.TLPUnset, hub.TLPUnset, hub.TLPAmber},
		{hub.TLPUnset, hub.TLPGreen, hub.TLPGreen},
		{hub.TLPUnset, hub.TLPRed, hub.TLPRed},
		{hub.TLPClear, hub.TLPRed, hub.TLPClear},
		{hub.TLPRed, hub.TLPUnset, hub.TLPRed},
		{hub.TLPAmberStrict, hub.TLPGreen, hub.TLPAmberStrict},
	} {
		if got := access.EffectiveTLP(tc.marking, tc.def); got != tc.want {
			t.Errorf("EffectiveTLP(%v, %v) = %v, want %v", tc.marking, tc.def, got, tc.want)
		}
	}
}

func TestCheckRaise(t *testing.T) {
	for _, tc := range []struct {
		old, next hub.TLP
		code      string
	}{
		{hub.TLPGreen, hub.TLPGreen, ""},
		{hub.TLPGreen, hub.TLPAmber, ""},
		{hub.TLPAmber, hub.TLPAmberStrict, ""},
		{hub.TLPClear, hub.TLPRed, ""},
		{hub.TLPUnset, hub.TLPClear, ""},
		{hub.TLPRed, hub.TLPAmberStrict, hub.EForbidden},
		{hub.TLPAmberStrict, hub.TLPAmber, hub.EForbidden},
		{hub.TLPGreen, hub.TLPClear, hub.EForbidden},
		{hub.TLPGreen, hub.TLPUnset, hub.EInvalid},
		{hub.TLPGreen, hub.TLP(9), hub.EInvalid},
	} {
		err := access.CheckRaise(tc.old, tc.next)
		if got := hub.ErrorCode(err); got != tc.code {
			t.Errorf("CheckRaise(%v, %v) = %v, want code %q", tc.old, tc.next, err, tc.code)
		}
		if err != nil && hub.ErrorField(err) != "tlp" {
			t.Errorf("CheckRaise(%v, %v) names field %q, want tlp", tc.old, tc.next, hub.ErrorField(err))
		}
	}
}

func TestCheckChange(t *testing.T) {
	o := &hub.Object{Author: "cert-aa", TLP: hub.TLPAmber}
	for _, tc := range []struct {
		org  string
		next hub.TLP
		code string
	}{
		{"cert-aa", hub.TLPRed, ""},
		{"cert-aa", hub.TLPGreen, hub.EForbidden},
		{"cert-bb", hub.TLPRed, hub.EForbidden},
		{"", hub.TLPRed, hub.EForbidden},
	} {
		err := access.CheckChange(tc.org, o, tc.next)
		if got := hub.ErrorCode(err); got != tc.code {
			t.Errorf("CheckChange(%q, AMBER -> %v) = %v, want code %q", tc.org, tc.next, err, tc.code)
		}
		if err != nil && hub.ErrorField(err) != "tlp" {
			t.Errorf("CheckChange(%q, AMBER -> %v) names field %q, want tlp", tc.org, tc.next, hub.ErrorField(err))
		}
	}
}

// TestDecide spells out the rules one case at a time; the randomized comparison in package
// accesstest covers their combinations.
func TestDecide(t *testing.T) {
	member := access.Facts{Active: true, Member: true, Kind: hub.WorkspaceGroup}
	outsider := access.Facts{Active: true, Kind: hub.WorkspaceGroup}
	exercise := access.Facts{Active: true, Member: true, Kind: hub.WorkspaceExercise}
	obj := func(tlp hub.TLP) *hub.Object {
		return &hub.Object{Workspace: "g", Author: "cert-aa", TLP: tlp, Recipients: []string{"cert-bb"}}
	}
	for _, tc := range []struct {
		name string
		org  string
		f    access.Facts
		tlp  hub.TLP
		path access.Path
		want bool
	}{
		{"GREEN read by member", "cert-cc", member, hub.TLPGreen, access.PathRead, true},
		{"GREEN read by outsider", "cert-cc", outsider, hub.TLPGreen, access.PathRead, false},
		{"GREEN read by inactive member", "cert-cc", access.Facts{Member: true, Kind: hub.WorkspaceGroup}, hub.TLPGreen, access.PathRead, false},
		{"AMBER+STRICT read by member", "cert-cc", member, hub.TLPAmberStrict, access.PathRead, true},
		{"RED read by author", "cert-aa", member, hub.TLPRed, access.PathRead, true},
		{"RED read by recipient", "cert-bb", member, hub.TLPRed, access.PathRead, true},
		{"RED read by other member", "cert-cc", member, hub.TLPRed, access.PathRead, false},
		{"RED read by recipient outside", "cert-bb", outsider, hub.TLPRed, access.PathRead, false},
		{"RED counted for other member", "cert-cc", member, hub.TLPRed, access.PathStats, false},
		{"RED counted for recipient", "cert-bb", member, hub.TLPRed, access.PathStats, true},
		{"RED matched for other member", "cert-cc", member, hub.TLPRed, access.PathMatch, false},
		{"RED notified to other member", "cert-cc", member, hub.TLPRed, access.PathNotify, false},
		{"AMBER exported by member", "cert-cc", member, hub.TLPAmber, access.PathExport, true},
		{"AMBER+STRICT exported by member", "cert-cc", member, hub.TLPAmberStrict, access.PathExport, false},
		{"AMBER+STRICT exported by author", "cert-aa", member, hub.TLPAmberStrict, access.PathExport, true},
		{"RED exported by recipient", "cert-bb", member, hub.TLPRed, access.PathExport, true},
		{"RED exported by other member", "cert-cc", member, hub.TLPRed, access.PathExport, false},
		{"AMBER+STRICT exported by a listed recipient", "cert-bb", member, hub.TLPAmberStrict, access.PathExport, false},
		{"RED in recipient's feed", "cert-bb", member, hub.TLPRed, access.PathFeed, false},
		{"RED exported by author", "cert-aa", member, hub.TLPRed, access.PathExport, true},
		{"RED in author's feed", "cert-aa", member, hub.TLPRed, access.PathFeed, false},
		{"AMBER+STRICT in author's feed", "cert-aa", member, hub.TLPAmberStrict, access.PathFeed, true},
		{"AMBER+STRICT in member's feed", "cert-cc", member, hub.TLPAmberStrict, access.PathFeed, false},
		{"GREEN federated to outsider", "peer", outsider, hub.TLPGreen, access.PathFederate, true},
		{"CLEAR federated to outsider", "peer", outsider, hub.TLPClear, access.PathFederate, true},
		{"AMBER federated to outsider", "peer", outsider, hub.TLPAmber, access.PathFederate, false},
		{"AMBER+STRICT federated to member", "peer", member, hub.TLPAmberStrict, access.PathFederate, true},
		{"RED federated to recipient", "cert-bb", member, hub.TLPRed, access.PathFederate, false},
		{"exercise on real path", "cert-cc", exercise, hub.TLPClear, access.PathRead, false},
		{"exercise on exercise path", "cert-cc", exercise, hub.TLPClear, access.PathExercise, true},
		{"exercise federated", "peer", exercise, hub.TLPClear, access.PathFederate, false},
		{"real on exercise path", "cert-cc", member, hub.TLPClear, access.PathExercise, false},
		{"unknown path", "cert-cc", member, hub.TLPClear, access.Path(99), false},
		{"unset TLP", "cert-cc", member, hub.TLPUnset, access.PathRead, false},
		{"missing workspace", "cert-cc", access.Facts{Active: true, Member: true}, hub.TLPClear, access.PathRead, false},
	} {
		d := access.Decide(tc.org, tc.f, obj(tc.tlp), tc.path)
		if d.Allow != tc.want {
			t.Errorf("%s: Decide = %+v, want allow %v", tc.name, d, tc.want)
		}
		if d.Reason == "" {
			t.Errorf("%s: Decide gave no reason", tc.name)
		}
	}
}

func TestVisible(t *testing.T) {
	red := &hub.Object{Workspace: "g", Author: "cert-aa", TLP: hub.TLPRed, Recipients: []string{"cert-bb"}}
	for _, tc := range []struct {
		name string
		v    hub.Viewer
		o    *hub.Object
		want bool
	}{
		{"system", hub.Viewer{System: true}, red, true},
		{"author", hub.Viewer{Org: "cert-aa", Workspaces: []string{"g"}}, red, true},
		{"recipient", hub.Viewer{Org: "cert-bb", Workspaces: []string{"g"}}, red, true},
		{"other", hub.Viewer{Org: "cert-cc", Workspaces: []string{"g"}}, red, false},
		{"author outside", hub.Viewer{Org: "cert-aa", Workspaces: []string{"h"}}, red, false},
		{"empty org", hub.Viewer{Workspaces: []string{"g"}}, &hub.Object{Workspace: "g", TLP: hub.TLPRed}, false},
		{"nil object", hub.Viewer{Org: "cert-aa", Workspaces: []string{"g"}}, nil, false},
	} {
		if got := access.Visible(tc.v, tc.o); got != tc.want {
			t.Errorf("%s: Visible = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestViewerFor(t *testing.T) {
	ctx := context.Background()
	w := accesstest.Generate(1, 20)
	dir := w.Directory()
	v, err := access.ViewerFor(ctx, dir, "cert-old", access.PathRead)
	if err != nil || len(v.Workspaces) != 0 || v.System {
		t.Errorf("ViewerFor(inactive) = %+v, %v; want no workspaces", v, err)
	}
	if _, err := access.ViewerFor(ctx, dir, accesstest.Unknown, access.PathRead); hub.ErrorCode(err) != hub.ENotFound {
		t.Errorf("ViewerFor(unknown) = %v, want ENotFound", err)
	}
	if _, err := access.ViewerFor(ctx, dir, "cert-aa", access.Path(0)); err == nil {
		t.Errorf("ViewerFor(path 0) gave no error")
	}
	for _, p := range access.Paths() {
		v, err := access.ViewerFor(ctx, dir, "cert-aa", p)
		if err != nil {
			t.Fatal(err)
		}
		for _, slug := range v.Workspaces {
			x := w.Workspace(slug)
			if !w.Member(slug, "cert-aa") || (x.Kind == hub.WorkspaceExercise) != (p == access.PathExercise) {
				t.Errorf("ViewerFor(cert-aa, %v) includes %s (%s)", p, slug, x.Kind)
			}
		}
		if p != access.PathExercise && !slices.Contains(v.Workspaces, "community") {
			t.Errorf("ViewerFor(cert-aa, %v) = %v, want community in it", p, v.Workspaces)
		}
	}
}

func TestPathString(t *testing.T) {
	for _, p := range access.Paths() {
		if s := p.String(); s == "" || s[0] == 'P' {
			t.Errorf("Path(%d).String() = %q", int(p), s)
		}
	}
	if got, want := access.Path(42).String(), "Path(42)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestEventObject(t *testing.T) {
	e := hub.Event{Kind: hub.EventObject, ObjectID: "indicator--1", ObjectSeq: 7, Type: "indicator",
		Workspace: "g", Author: "cert-aa", TLP: hub.TLPRed, Recipients: []string{"cert-bb"}}
	o := access.EventObject(e)
	v := hub.Viewer{Org: "cert-bb", Workspaces: []string{"g"}}
	if !access.Visible(v, o) || o.Seq != 7 || o.ID != e.ObjectID {
		t.Errorf("EventObject(%+v) = %+v", e, o)
	}
}

func BenchmarkDecide(b *testing.B) {
	w := accesstest.Generate(1, 200)
	snap, err := access.Load(context.Background(), w.Directory())
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for b.Loop() {
		tr := w.Triples[n%len(w.Triples)]
		snap.Decide(tr.Org, tr.Object, tr.Path)
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "decisions/s")
}
