package lookup_test

import (
	"context"
	"os"
	"testing"
	"time"

	"cshub/internal/access"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/lookup"
)

// TestDeletedIndicatorStopsMatching: once every version of an indicator is deleted (TAXII
// DELETE announces each with EventDelete), it no longer matches, without a restart.
func TestDeletedIndicatorStopsMatching(t *testing.T) {
	indicators, err := os.ReadFile("testdata/indicators.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			h := hubtest.New(t, backend)
			lookups := lookup.New(h.KB, nil)
			if _, err := lookups.Start(ctx, h.Bus); err != nil {
				t.Fatal(err)
			}
			h.Ingest(t, "cert-fr", hubtest.Community, indicators)
			v, err := access.ViewerFor(ctx, h.Store, "cert-uk", access.PathMatch)
			if err != nil {
				t.Fatal(err)
			}
			hits := func() int { return len(lookups.Lookup(v, []string{"198.51.100.7"})[0].Matches) }
			waitUntil(t, func() bool { return hits() == 1 })

			const id = "indicator--a1000000-0000-4000-8000-000000000001"
			objs, err := h.Store.ListObjects(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, IDs: []string{id}, AllVersions: true})
			if err != nil || len(objs) == 0 {
				t.Fatalf("%d versions: %v", len(objs), err)
			}
			h.Delete(t, objs...)
			waitUntil(t, func() bool { return hits() == 0 })
		})
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}
