package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"

	"cshub/internal/hub"
)

// testDeleteObjects checks DeleteObjects: the named versions go with their recipients and
// tokens, unknown seqs are skipped, the newest remaining version becomes the latest, and other
// objects and workspaces are untouched.
func testDeleteObjects(t *testing.T, s hub.Store) {
	ctx := context.Background()
	setup(t, s, []string{"fr", "de"}, []string{"alpha", "beta"})
	id := newID("indicator")
	v1 := obj("alpha", id, ms(1), hub.TLPAmber, "fr")
	v2 := obj("alpha", id, ms(2), hub.TLPAmber, "fr")
	v3 := obj("alpha", id, ms(3), hub.TLPRed, "fr")
	v3.Recipients = []string{"de"}
	v3.Tokens = [][]byte{[]byte("tok-v3")}
	same := obj("beta", id, ms(3), hub.TLPAmber, "de") // the same id in another workspace
	other := obj("alpha", newID("malware"), ms(1), hub.TLPGreen, "de")
	put(t, s, v1, v2, v3, same, other)

	n, err := s.DeleteObjects(ctx, nil)
	if err != nil || n != 0 {
		t.Fatalf("DeleteObjects(nil) = %d, %v; want 0, nil", n, err)
	}
	for _, tc := range []struct {
		name       string
		seqs       []int64
		deleted    int
		latest     string   // the latest version of id in alpha afterwards, "" for none
		versions   []string // every version of id in alpha afterwards
		tokenSeqs  int      // objects carrying tok-v3 afterwards
		redForDe   int      // versions of id in alpha that de sees afterwards
		untouchedN int64    // versions outside id@alpha, always 2
	}{
		{"latest goes, the next newest takes over", []int64{v3.Seq, v3.Seq + 10_000}, 1, "v2", []string{"v1", "v2"}, 0, 2, 2},
		{"deleted again: skipped", []int64{v3.Seq}, 0, "v2", []string{"v1", "v2"}, 0, 2, 2},
		{"an older version, latest stays", []int64{v1.Seq}, 1, "v2", []string{"v2"}, 0, 1, 2},
		{"the last version", []int64{v2.Seq}, 1, "", nil, 0, 0, 2},
	} {
		n, err := s.DeleteObjects(ctx, tc.seqs)
		if err != nil || n != tc.deleted {
			t.Fatalf("%s: DeleteObjects = %d, %v; want %d, nil", tc.name, n, err, tc.deleted)
		}
		name := map[int64]string{v1.Seq: "v1", v2.Seq: "v2", v3.Seq: "v3"}
		var got []string
		for _, o := range list(t, s, hub.Filter{Viewer: system, Workspaces: []string{"alpha"}, IDs: []string{id}, AllVersions: true}) {
			got = append(got, name[o.Seq])
		}
		if !slices.Equal(got, tc.versions) {
			t.Errorf("%s: versions %v, want %v", tc.name, got, tc.versions)
		}
		latest := list(t, s, hub.Filter{Viewer: system, Workspaces: []string{"alpha"}, IDs: []string{id}})
		switch {
		case tc.latest == "" && len(latest) != 0:
			t.Errorf("%s: latest %v, want none", tc.name, versions(latest))
		case tc.latest != "" && (len(latest) != 1 || name[latest[0].Seq] != tc.latest):
			t.Errorf("%s: latest %v, want %s", tc.name, versions(latest), tc.latest)
		}
		if o, err := s.GetObject(ctx, system, id, ms(3)); err != nil || o.Workspace != "beta" {
			t.Errorf("%s: the version in beta: %v, %v", tc.name, o, err)
		}
		if got := count(t, s, hub.Filter{Viewer: system, Token: []byte("tok-v3")}); got != int64(tc.tokenSeqs) {
			t.Errorf("%s: %d objects with the deleted version's token, want %d", tc.name, got, tc.tokenSeqs)
		}
		de := hub.Viewer{Org: "de", Workspaces: []string{"alpha", "beta"}}
		if got := count(t, s, hub.Filter{Viewer: de, Workspaces: []string{"alpha"}, IDs: []string{id}, AllVersions: true}); got != int64(tc.redForDe) {
			t.Errorf("%s: de sees %d versions, want %d", tc.name, got, tc.redForDe)
		}
		if got := count(t, s, hub.Filter{Viewer: system, AllVersions: true}) - int64(len(tc.versions)); got != tc.untouchedN {
			t.Errorf("%s: %d other versions, want %d", tc.name, got, tc.untouchedN)
		}
	}
	// A deleted version may be stored again, as a new row.
	again := obj("alpha", id, ms(3), hub.TLPAmber, "fr")
	if put(t, s, again) != 1 || again.Seq <= other.Seq {
		t.Errorf("re-put after delete: seq %d", again.Seq)
	}
	if got := list(t, s, hub.Filter{Viewer: system, Workspaces: []string{"alpha"}, IDs: []string{id}}); len(got) != 1 || got[0].Seq != again.Seq {
		t.Errorf("latest after re-put: %v", versions(got))
	}
}

// testDeleteObjectsConcurrent races deletes of older versions with puts of newer ones: each
// object must end with exactly one latest version, its newest.
func testDeleteObjectsConcurrent(t *testing.T, s hub.Store) {
	ctx := context.Background()
	setup(t, s, []string{"fr"}, []string{"alpha"})
	const n = 40
	ids := make([]string, n)
	var first []*hub.Object
	for i := range ids {
		ids[i] = newID("indicator")
		first = append(first, obj("alpha", ids[i], ms(1), hub.TLPAmber, "fr"))
	}
	put(t, s, first...)
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range ids {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := s.PutObjects(ctx, []*hub.Object{obj("alpha", ids[i], ms(2), hub.TLPAmber, "fr")}, hub.PutOptions{})
			errs <- err
		}()
		go func() {
			defer wg.Done()
			_, err := s.DeleteObjects(ctx, []int64{first[i].Seq})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	latest := list(t, s, hub.Filter{Viewer: system, Limit: 10 * n})
	if len(latest) != n {
		t.Fatalf("%d latest versions, want %d", len(latest), n)
	}
	for _, o := range latest {
		if !o.Modified.Equal(ms(2)) {
			t.Errorf("latest of %s is %v, want the second version", o.ID, o.Modified)
		}
	}
	if got := count(t, s, hub.Filter{Viewer: system, AllVersions: true}); got != n {
		t.Errorf("%d versions left, want %d", got, n)
	}
}
