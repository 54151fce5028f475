package feed_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"cshub/internal/export"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
)

// TestDeletionReachesPolls: when versions are deleted (TAXII DELETE removes them from the store
// and announces each with hub.EventDelete), a client polling for deltas drops a deleted
// indicator, falls back to the version that remains when only the newest was deleted, and
// loses a deleted sighting from the count, without the Service being made anew. After each
// deletion the client's set must equal a full export from scratch.
func TestDeletionReachesPolls(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
			h, svc := newHub(t, backend, c)
			if err := svc.Start(ctx, h.Bus); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Create(ctx, "cert-uk", "test", "all", export.Selection{}); err != nil {
				t.Fatal(err)
			}
			gone := &indicatorJSON{id: "indicator--" + export.NameUUID("gone"), value: "198.51.100.1", tlp: hub.TLPGreen, confidence: 80, modified: c.Add(time.Minute)}
			kept := &indicatorJSON{id: "indicator--" + export.NameUUID("kept"), value: "198.51.100.2", tlp: hub.TLPGreen, confidence: 80, modified: c.Add(time.Minute)}
			h.Ingest(t, "cert-fr", hubtest.Community, gone.bundle())
			h.Ingest(t, "cert-fr", hubtest.Community, kept.bundle())
			kept.confidence, kept.modified = 90, c.Add(time.Minute)
			h.Ingest(t, "cert-fr", hubtest.Community, kept.bundle())
			h.Ingest(t, "cert-be", hubtest.Community, sightingJSON(1, kept.id, false, c.Add(time.Minute)))

			cl := &client{}
			poll := func() {
				t.Helper()
				d, err := svc.Poll(ctx, "cert-uk", "all", cl.cursor)
				if err != nil {
					t.Fatal(err)
				}
				cl.apply(t, d)
			}
			poll()
			key := func(id string) string { return hubtest.Community + "/" + id }
			if len(cl.set) != 2 || cl.set[key(kept.id)].sightings != 1 {
				t.Fatalf("before deleting: client holds %v, want both indicators, kept sighted once", cl.set)
			}
			versions := func(id string) []*hub.Object {
				objs, err := h.Store.ListObjects(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, IDs: []string{id}, AllVersions: true})
				if err != nil || len(objs) == 0 {
					t.Fatalf("versions of %s: %d, %v", id, len(objs), err)
				}
				return objs
			}
			// settle polls, as a client would, until its set is a full export from scratch.
			settle := func(what string, done func() bool) {
				t.Helper()
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
					poll()
					if done() {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s: the client still holds %v", what, cl.set)
					}
				}
				if want := reference(t, h, c, "cert-uk", export.Selection{}); !maps.Equal(cl.set, want) {
					t.Fatalf("%s: client holds %v, a full export %v", what, cl.set, want)
				}
			}

			h.Delete(t, versions(gone.id)...)
			settle("every version of an indicator deleted", func() bool { _, ok := cl.set[key(gone.id)]; return !ok })

			vs := versions(kept.id)
			h.Delete(t, vs[len(vs)-1])
			settle("the newest version deleted", func() bool { return cl.set[key(kept.id)].modified.Equal(vs[0].Modified) })

			sid := "sighting--" + export.NameUUID("s1")
			h.Delete(t, versions(sid)...)
			settle("the sighting deleted", func() bool { return cl.set[key(kept.id)].sightings == 0 })
		})
	}
}
