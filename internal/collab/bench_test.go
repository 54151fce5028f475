package collab_test

import (
	"context"
	"testing"

	"cshub/internal/collab"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
)

// BenchmarkRecordSighting measures recording one sighting through kb (validate, seal, store,
// announce) on SQLite.
func BenchmarkRecordSighting(b *testing.B) {
	h := hubtest.New(b, "sqlite")
	s := collab.New(collab.Config{KB: h.KB, Dir: h.Store})
	f := &fixture{h: h, s: s}
	ind := f.ingestTB(b, indicator(1, "senate.example", hub.TLPGreen))
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.RecordSighting(ctx, collab.Actor{Org: "cert-be"}, collab.SightingInput{SightingOf: ind}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSightingsOf measures reading the sightings, counts and score of an indicator with
// 500 sightings by three organisations on SQLite.
func BenchmarkSightingsOf(b *testing.B) {
	h := hubtest.New(b, "sqlite")
	s := collab.New(collab.Config{KB: h.KB, Dir: h.Store})
	f := &fixture{h: h, s: s}
	ind := f.ingestTB(b, indicator(1, "senate.example", hub.TLPGreen))
	ctx := context.Background()
	for i := range 500 {
		if _, err := s.RecordSighting(ctx, collab.Actor{Org: hubtest.Orgs[i%3]}, collab.SightingInput{SightingOf: ind, FalsePositive: i%7 == 0}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		got, err := s.SightingsOf(ctx, "cert-fr", ind)
		if err != nil || len(got.Sightings) != 500 {
			b.Fatalf("%v, %d sightings", err, len(got.Sightings))
		}
	}
}

func (f *fixture) ingestTB(tb testing.TB, obj map[string]any) string {
	tb.Helper()
	sum := f.h.Ingest(tb, "cert-fr", hubtest.Community, mustBundle(tb, obj))
	if len(sum.Rejected) > 0 {
		tb.Fatalf("rejected: %+v", sum.Rejected)
	}
	return obj["id"].(string)
}
