package collab_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cshub/internal/collab"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/snapshot"
)

// TestLinks: correlation links read from either end, only to objects the reader may see, a
// popular value collapses into a common-value node, exercise data never correlates with real
// data, and revoked and deleted objects drop out of every link.
func TestLinks(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			h := hubtest.New(t, backend)
			s := collab.New(collab.Config{KB: h.KB, Dir: h.Store, CommonAfter: 6})
			f := &fixture{h: h, s: s, srv: h.Serve(t, nil, collab.Routes{S: s})}
			f.workspace(t, "pair", hub.WorkspaceGroup, "cert-be", "cert-uk")
			f.workspace(t, "drill", hub.WorkspaceExercise, "cert-fr", "cert-be", "cert-uk")
			// Stored before the index starts: loaded, not followed.
			a := f.ingest(t, "cert-fr", hubtest.Community, nil, indicator(1, "senate.example", hub.TLPGreen))[0]
			if _, err := s.StartLinks(ctx, h.Bus); err != nil {
				t.Fatal(err)
			}
			b := f.ingest(t, "cert-be", hubtest.Community, nil, indicator(2, "SENATE.example.", hub.TLPAmber))[0]
			c := f.ingest(t, "cert-uk", hubtest.Community, nil, indicator(3, "senate.example", hub.TLPRed))[0]
			d := f.ingest(t, "cert-uk", "pair", nil, indicator(4, "senate.example", hub.TLPGreen))[0]
			f.ingest(t, "cert-fr", "drill", nil, indicator(5, "senate.example", hub.TLPGreen))
			obs := map[string]any{"type": "domain-name", "spec_version": "2.1", "id": "domain-name--00000000-0000-4000-8000-000000000006",
				"value": "senate.example", "object_marking_refs": []string{markings[hub.TLPGreen]}}
			e := f.ingest(t, "cert-be", hubtest.Community, nil, obs)[0]
			f.ingest(t, "cert-fr", hubtest.Community, nil, indicator(7, "lonely.example", hub.TLPGreen))

			// Every reader's view of every object it may read, once the follower caught up.
			want := map[string]string{
				"cert-fr " + a: "be " + b + ", be " + e + "; others 1", // uk's d counted, its RED c not
				"cert-fr " + b: "be " + e + ", fr " + a + "; others 1", // fr reads b: the same links from b's end
				"cert-be " + b: "be " + e + ", fr " + a + ", uk " + d + "; others 0",
				"cert-uk " + c: "be " + b + ", be " + e + ", fr " + a + ", uk " + d + "; others 0",
				"cert-uk " + d: "be " + b + ", be " + e + ", fr " + a + ", uk " + c + "; others 0",
				"cert-be " + e: "be " + b + ", fr " + a + ", uk " + d + "; others 0",
			}
			f.waitViews(t, want)
			// An object the reader may not see has no view, nor has training data on a real path.
			f.call(t, "cert-fr", "GET", "/api/v1/objects/"+c+"/correlations", nil, http.StatusNotFound, nil)
			f.call(t, "cert-fr", "GET", "/api/v1/objects/"+d+"/correlations", nil, http.StatusNotFound, nil)
			f.call(t, "cert-fr", "GET", "/api/v1/objects/indicator--00000000-0000-4000-8000-000000000005/correlations", nil, http.StatusNotFound, nil)
			var lonely collab.Links
			f.call(t, "cert-fr", "GET", "/api/v1/objects/indicator--00000000-0000-4000-8000-000000000007/correlations", nil, http.StatusOK, &lonely)
			if len(lonely.Links) != 0 || len(lonely.Common) != 0 || lonely.OtherMembers != 0 {
				t.Errorf("a value nobody else holds links: %s", mustJSON(lonely))
			}

			// A seventh holder, above the threshold of 6: every holder now links to one node.
			f.ingest(t, "cert-be", hubtest.Community, nil, indicator(8, "senate.example", hub.TLPGreen))
			waitFor(t, "a common value", func() bool {
				l := f.links(t, "cert-fr", a)
				return len(l.Common) == 1 && len(l.Links) == 0
			})
			// fr may see or count b, e, the new one and d; not c (RED), not its drill object.
			if l := f.links(t, "cert-fr", a); l.Common[0].Holders != 4 || l.Common[0].Value != "senate.example" || len(l.Common[0].Token) != 32 {
				t.Errorf("cert-fr's common node: %s", mustJSON(l.Common))
			}
			if l := f.links(t, "cert-uk", c); len(l.Common) != 1 || l.Common[0].Holders != 5 {
				t.Errorf("cert-uk's common node: %s", mustJSON(l.Common))
			}

			// Revoking and deleting take an object out of every link, in both directions; with the
			// holders back under the threshold, the value links them pairwise again.
			for _, n := range []int{3, 4, 5, 8} {
				f.deleteAll(t, fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", n))
			}
			revoked := indicator(2, "senate.example", hub.TLPAmber)
			revoked["modified"], revoked["revoked"] = "2026-01-02T00:00:00.000Z", true
			f.ingest(t, "cert-be", hubtest.Community, nil, revoked)
			want = map[string]string{
				"cert-fr " + a: "be " + e + "; others 0",
				"cert-be " + e: "fr " + a + "; others 0",
			}
			f.waitViews(t, want)
		})
	}
}

// links returns org's view of object id's correlation links.
func (f *fixture) links(t *testing.T, org, id string) collab.Links {
	t.Helper()
	var l collab.Links
	f.call(t, org, "GET", "/api/v1/objects/"+id+"/correlations", nil, http.StatusOK, &l)
	return l
}

// waitViews waits until linkViews agrees with want, failing t with the differences when a few
// seconds pass first.
func (f *fixture) waitViews(t *testing.T, want map[string]string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		diff := f.linkViews(t, want)
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(diff)
		}
	}
}

// linkViews compares each "org object" view of want with what the API says, "org-suffix
// object, ...; others N" with links in any order, and returns the differences.
func (f *fixture) linkViews(t *testing.T, want map[string]string) string {
	t.Helper()
	var diff []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		org, id, _ := strings.Cut(k, " ")
		l := f.links(t, org, id)
		var names []string
		for _, x := range l.Links {
			if x.Value != "senate.example" || x.Workspace == "" {
				diff = append(diff, fmt.Sprintf("%s: link %s", k, mustJSON(x)))
			}
			names = append(names, strings.TrimPrefix(x.Org, "cert-")+" "+x.Object)
		}
		slices.Sort(names)
		got := strings.Join(names, ", ") + fmt.Sprintf("; others %d", l.OtherMembers)
		if len(l.Common) > 0 {
			got += " common " + mustJSON(l.Common)
		}
		w, others, _ := strings.Cut(want[k], "; ")
		ws := strings.Split(w, ", ")
		slices.Sort(ws)
		if w := strings.Join(ws, ", ") + "; " + others; got != w {
			diff = append(diff, fmt.Sprintf("%s: got %q, want %q", k, got, w))
		}
	}
	return strings.Join(diff, "\n")
}

// deleteAll deletes every version of id, announcing it as TAXII DELETE does.
func (f *fixture) deleteAll(t *testing.T, id string) {
	t.Helper()
	objs, err := f.h.Store.ListObjects(context.Background(), hub.Filter{Viewer: hub.Viewer{System: true}, IDs: []string{id}, AllVersions: true})
	if err != nil || len(objs) == 0 {
		t.Fatalf("%s: %d versions: %v", id, len(objs), err)
	}
	f.h.Delete(t, objs...)
}

// TestLinksResume: links saved when their follower stops, then restored from the snapshot
// and the events since (a new holder, a deletion), answer as a rebuild would.
func TestLinksResume(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			h := hubtest.New(t, backend)
			cfg := snapshot.Config{Bus: h.Bus, Sealer: h.Barrier, Path: filepath.Join(t.TempDir(), "links")}
			first, stop := context.WithCancel(context.Background())
			s := collab.New(collab.Config{KB: h.KB, Dir: h.Store})
			f := &fixture{h: h, s: s, srv: h.Serve(t, nil, collab.Routes{S: s})}
			saved, err := s.StartLinksSaved(first, cfg)
			if err != nil {
				t.Fatal(err)
			}
			a := f.ingest(t, "cert-fr", hubtest.Community, nil, indicator(1, "senate.example", hub.TLPGreen))[0]
			b := f.ingest(t, "cert-be", hubtest.Community, nil, indicator(2, "senate.example", hub.TLPGreen))[0]
			c := f.ingest(t, "cert-uk", hubtest.Community, nil, indicator(3, "senate.example", hub.TLPGreen))[0]
			f.waitViews(t, map[string]string{"cert-fr " + a: "be " + b + ", uk " + c + "; others 0"})
			stop()
			saved.Wait()

			// While no follower runs: a fourth holder arrives and b is deleted.
			d := f.ingest(t, "cert-uk", hubtest.Community, nil, indicator(4, "senate.example", hub.TLPGreen))[0]
			f.deleteAll(t, b)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s2 := collab.New(collab.Config{KB: h.KB, Dir: h.Store})
			resumed, err := s2.StartLinksSaved(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			// The follower saves its state into the temporary directory when it stops: it must
			// have done so before the directory is removed.
			t.Cleanup(func() { cancel(); resumed.Wait() })
			if !resumed.Resumed || resumed.Objects != 3 {
				t.Fatalf("restart: resumed %v (%s) with %d objects; want the 3 held at the stop", resumed.Resumed, resumed.Why, resumed.Objects)
			}
			f2 := &fixture{h: h, s: s2, srv: h.Serve(t, nil, collab.Routes{S: s2})}
			f2.waitViews(t, map[string]string{
				"cert-fr " + a: "uk " + c + ", uk " + d + "; others 0",
				"cert-uk " + d: "fr " + a + ", uk " + c + "; others 0",
			})
		})
	}
}
