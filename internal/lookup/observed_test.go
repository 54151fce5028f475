package lookup_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"cshub/internal/access"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/lookup"
)

// TestMatchObserved checks the evaluator path against hand-checked answers: a value the index
// settles, a hash whose indicator also needs the file name, a process no index can find, a
// network-traffic whose address matches only on the right port, an expired indicator, and an
// indicator the caller may not see.
func TestMatchObserved(t *testing.T) {
	indicators, err := os.ReadFile("testdata/indicators.json")
	if err != nil {
		t.Fatal(err)
	}
	observed, err := os.ReadFile("testdata/observed.json")
	if err != nil {
		t.Fatal(err)
	}
	const red = `{"type":"bundle","id":"bundle--0e0c4a9e-8d3e-4f5a-a7b0-5b1c6e0f7a11","objects":[{"type":"indicator","spec_version":"2.1",
	"id":"indicator--a1000000-0000-4000-8000-000000000009","created":"2026-11-01T00:00:00.000Z","modified":"2026-11-01T00:00:00.000Z",
	"name":"RED: our own sensor's find","pattern_type":"stix","valid_from":"2026-11-01T00:00:00Z","pattern":"[process:name = 'lazagne.exe']",
	"object_marking_refs":["marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"]}]}`
	want := map[string][]string{ // observed-data → matching indicators, for cert-uk
		"observed-data--c3000000-0000-4000-8000-000000000001": {"indicator--a1000000-0000-4000-8000-000000000001 exact"},
		"observed-data--c3000000-0000-4000-8000-000000000002": {"indicator--a1000000-0000-4000-8000-000000000002 pattern"},
		"observed-data--c3000000-0000-4000-8000-000000000003": nil, // the hash, but not the name
		"observed-data--c3000000-0000-4000-8000-000000000004": {"indicator--a1000000-0000-4000-8000-000000000003 pattern"},
		"observed-data--c3000000-0000-4000-8000-000000000005": {"indicator--a1000000-0000-4000-8000-000000000004 pattern"},
		"observed-data--c3000000-0000-4000-8000-000000000006": nil, // port 80, not 443
		"observed-data--c3000000-0000-4000-8000-000000000007": nil, // expired
	}
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			h := hubtest.New(t, backend)
			h.Ingest(t, "cert-fr", hubtest.Community, indicators)
			h.Ingest(t, "cert-be", hubtest.Community, []byte(red))
			lookups := lookup.New(h.KB, nil)
			if _, err := lookups.Load(ctx); err != nil {
				t.Fatal(err)
			}
			obs, err := lookup.ReadObserved(observed)
			if err != nil {
				t.Fatal(err)
			}
			for _, org := range []string{"cert-uk", "cert-be"} {
				v, err := access.ViewerFor(ctx, h.Store, org, access.PathMatch)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range lookups.MatchObserved(v, obs) {
					var got []string
					for _, m := range r.Matches {
						got = append(got, m.ID+" "+m.How)
					}
					exp := slices.Clone(want[r.ObservedData])
					if org == "cert-be" && strings.HasSuffix(r.ObservedData, "4") {
						exp = append(exp, "indicator--a1000000-0000-4000-8000-000000000009 pattern") // its own RED one
					}
					if !slices.Equal(got, exp) {
						t.Errorf("%s, %s: matches %q, want %q", org, r.ObservedData, got, exp)
					}
				}
			}
		})
	}
}

func TestReadObservedNamesTheFault(t *testing.T) {
	for _, c := range []struct{ bundle, field string }{
		{`[]`, "body"},
		{`{"type":"report","objects":[]}`, "type"},
		{`{"type":"bundle","objects":[{"type":"ipv4-addr","id":"ipv4-addr--1","value":"1.2.3.4"}]}`, "objects"},
		{`{"type":"bundle","objects":[{"type":"observed-data","id":"observed-data--1","object_refs":["ipv4-addr--9"]}]}`, "object_refs"},
		{`{"type":"bundle","objects":[{"type":"observed-data","id":"observed-data--1","first_observed":"yesterday","object_refs":[]}]}`, "objects[0]"},
		{`{"type":"bundle","objects":[{"type":"observed-data","id":"observed-data--1","object_refs":[]}]}`, "object_refs"},
	} {
		_, err := lookup.ReadObserved([]byte(c.bundle))
		if field := hub.ErrorField(err); field != c.field {
			t.Errorf("%s: %v, want an error on %q", c.bundle, err, c.field)
		}
	}
}

func FuzzReadObserved(f *testing.F) {
	if b, err := os.ReadFile("testdata/observed.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"type":"bundle","objects":[{"type":"observed-data","id":"observed-data--1","objects":{"0":{"type":"ipv4-addr","value":"1.2.3.4"}}}]}`))
	f.Add([]byte(`{"type":"bundle","objects":[{"type":"a","id":"x","y_ref":"x"},{"type":"observed-data","id":"o","object_refs":["x"]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		obs, err := lookup.ReadObserved(b)
		if err != nil && hub.ErrorField(err) == "" {
			t.Fatalf("error without a field: %v", err)
		}
		for _, o := range obs {
			if len(o.Observation.Objects) == 0 {
				t.Fatalf("%s accepted with nothing observed", o.ID)
			}
		}
	})
}
