package lookup_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"cshub/internal/access"
	"cshub/internal/access/accesstest"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/kb"
	"cshub/internal/lookup"
	"cshub/internal/seal"
)

// TestMatchingAgreesWithTheTLPRules is the adversarial access test of the matching path: every
// object of a generated World becomes an indicator on a value of its own, and for every
// (organisation, object) triple on PathMatch, looking that value up as the organisation must
// hit the indicator exactly when the TLP 2.0 text (accesstest's Expect) lets it out on that
// path. A hit the organisation may not see would tell it that someone holds the value.
func TestMatchingAgreesWithTheTLPRules(t *testing.T) {
	w := accesstest.Generate(6, 110)
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			st := hubtest.OpenStore(t, backend)
			var slugs []string
			for _, x := range w.Workspaces {
				slugs = append(slugs, x.Slug)
			}
			b := hubtest.Barrier(t, st, slugs...)
			// The World's objects keep their access metadata but become indicators, each on
			// the value valueOf gives, sealed where package kb opens them.
			asIndicator := func(o *hub.Object) error {
				o.Type, o.ID = "indicator", indicatorID(o.ID)
				o.Body, _ = json.Marshal(map[string]any{"type": "indicator", "spec_version": "2.1", "id": o.ID,
					"created": o.Created, "modified": o.Modified, "pattern_type": "stix", "valid_from": o.Created,
					"pattern": fmt.Sprintf("[domain-name:value = '%s']", valueOf(o.ID))})
				var err error
				o.Body, err = b.Encrypt(seal.ObjectLocation(o), o.Body)
				return err
			}
			if err := w.Load(ctx, st, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), asIndicator); err != nil {
				t.Fatal(err)
			}
			lookups := lookup.New(kb.New(kb.Config{Store: st, Sealer: b}), nil)
			if n, err := lookups.Load(ctx); err != nil || n != len(w.Objects) {
				t.Fatalf("indexed %d of %d indicators: %v", n, len(w.Objects), err)
			}

			mw := *w
			mw.Triples = nil
			for _, tr := range w.Triples {
				if tr.Path == access.PathMatch {
					mw.Triples = append(mw.Triples, tr)
				}
			}
			hits := 0
			leaks, refusals, err := mw.Compare(func(tr accesstest.Triple) (bool, error) {
				v, err := access.ViewerFor(ctx, st, tr.Org, access.PathMatch)
				if hub.ErrorCode(err) == hub.ENotFound {
					return false, nil // an unknown organisation is asked nothing
				} else if err != nil {
					return false, err
				}
				id := indicatorID(tr.Object.ID)
				for _, m := range lookups.Lookup(v, []string{valueOf(id)})[0].Matches {
					if m.ID == id {
						hits++
						return true, nil
					}
				}
				return false, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range leaks {
				t.Errorf("match leak: %v", m)
			}
			for _, m := range refusals {
				t.Errorf("match wrongly refused: %v", m)
			}
			if len(mw.Triples) < 1000 || hits == 0 {
				t.Fatalf("%d triples on PathMatch, %d hits: the World is too small to prove anything", len(mw.Triples), hits)
			}
			t.Logf("%d triples, %d hits, %d leaks, %d wrong refusals", len(mw.Triples), hits, len(leaks), len(refusals))
		})
	}
}

// indicatorID turns a World object's id into the id of its indicator, keeping the UUID.
func indicatorID(id string) string {
	_, uuid, _ := strings.Cut(id, "--")
	return "indicator--" + uuid
}

// valueOf is the domain name the indicator with id is about.
func valueOf(id string) string {
	_, uuid, _ := strings.Cut(id, "--")
	return "h" + uuid[:8] + uuid[9:13] + ".example.org"
}
