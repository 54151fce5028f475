package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"cshub/internal/hub"
)

// testBodies: Bodies gives the sealed bodies of the versions of one type in a Seq range, in Seq
// order, skipping the other types between them and the versions deleted, and stops at the
// first error of the function it calls.
func testBodies(t *testing.T, s hub.Store) {
	ctx := context.Background()
	setup(t, s, []string{"fr"}, []string{"w1", "w2"})
	var objs []*hub.Object
	for i := range 12 {
		typ := []string{"indicator", "sighting", "malware"}[i%3]
		objs = append(objs, obj([]string{"w1", "w2"}[i%2], newID(typ), ms(i), hub.TLPGreen, "fr"))
	}
	put(t, s, objs...)
	gone := objs[3] // an indicator
	if _, err := s.DeleteObjects(ctx, []int64{gone.Seq}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		typ         string
		after, upto int64
	}{
		{"indicator", 0, objs[len(objs)-1].Seq},
		{"indicator", objs[0].Seq, objs[9].Seq},
		{"sighting", objs[1].Seq - 1, objs[4].Seq},
		{"sighting", objs[5].Seq, objs[6].Seq},
	} {
		var want []string
		for _, o := range objs {
			if o.Type == tc.typ && o.Seq > tc.after && o.Seq <= tc.upto && o != gone {
				want = append(want, fmt.Sprintf("%d %s", o.Seq, o.Body))
			}
		}
		var got []string
		must(t, s.Bodies(ctx, tc.typ, tc.after, tc.upto, func(seq int64, sealed []byte) error {
			got = append(got, fmt.Sprintf("%d %s", seq, sealed)) // a copy: sealed is the store's
			return nil
		}))
		if !slices.Equal(got, want) {
			t.Errorf("Bodies(%s, %d, %d) = %q, want %q", tc.typ, tc.after, tc.upto, got, want)
		}
	}
	// The first error of each ends the read and is what Bodies returns.
	stop, calls := errors.New("stop"), 0
	err := s.Bodies(ctx, "indicator", 0, objs[len(objs)-1].Seq, func(int64, []byte) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Bodies with each failing: %v after %d calls; want its error after 1", err, calls)
	}
}

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
