package storetest

import (
	"fmt"
	"slices"
	"testing"

	"cshub/internal/hub"
)

// testListExtras: ListObjects gives each version its own recipients and tokens, and none of a
// version between them that it leaves out, whether the page it returns is dense in Seq (most
// of the versions in its range) or sparse (a type rare among the rest).
func testListExtras(t *testing.T, s hub.Store) {
	setup(t, s, []string{"fr", "be", "uk"}, []string{"w1"})
	var objs []*hub.Object
	for i := range 40 {
		typ := "indicator"
		if i%8 == 0 {
			typ = "report"
		}
		o := obj("w1", newID(typ), ms(i), hub.TLPRed, "fr")
		o.Recipients = [][]string{{"be"}, {"uk"}, {"be", "uk"}, nil}[i%4]
		o.Tokens = [][]byte{[]byte(fmt.Sprintf("t%02d", i))}
		if i%3 == 0 {
			o.Tokens = append(o.Tokens, []byte("shared"))
		}
		objs = append(objs, o)
	}
	put(t, s, objs...)
	system := hub.Viewer{System: true}
	for _, f := range []hub.Filter{
		{Viewer: system, Limit: 15},                                 // dense
		{Viewer: system, Types: []string{"indicator"}, AfterSeq: 3}, // dense, with gaps
		{Viewer: system, Types: []string{"report"}},                 // sparse
		{Viewer: system, Types: []string{"report"}, NoTokens: true}, // sparse, no tokens
		{Viewer: system, IDs: []string{objs[1].ID, objs[30].ID}},    // sparse
		{Viewer: hub.Viewer{Org: "uk", Workspaces: []string{"w1"}}}, // dense, every other version
		{Viewer: hub.Viewer{Org: "be", Workspaces: []string{"w1"}}, Limit: 7},
	} {
		got := list(t, s, f)
		if len(got) == 0 {
			t.Fatalf("%+v: nothing listed", f)
		}
		for _, g := range got {
			want := *objs[slices.IndexFunc(objs, func(o *hub.Object) bool { return o.Seq == g.Seq })]
			want.Added = g.Added
			if f.NoTokens {
				want.Tokens = nil
			}
			sameObject(t, g, &want)
		}
	}
}
