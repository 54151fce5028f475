package bench

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestCorrelate runs the correlation figures on a small store and checks that the workload
// shares values as it claims: common-value nodes exist and the new event links to the store.
func TestCorrelate(t *testing.T) {
	// At 250,000 values each very common value is held about 125 times: above the default
	// threshold of 100.
	rows, err := Correlate(context.Background(), t.TempDir(), 250_000, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("rows: got %d, want 2", len(rows))
	}
	for _, r := range rows {
		if !strings.Contains(r.Name, "correlate") || r.Value <= 0 || r.Base <= 0 || r.Unit != "ms" {
			t.Errorf("row %+v: want a positive time with a baseline", r)
		}
	}
	if strings.Contains(rows[0].Name, " 0 common nodes") {
		t.Errorf("none of the %d very common values is a common-value node: %s", commonValues, rows[0].Name)
	}
	if strings.Contains(rows[1].Name, "(0 links") {
		t.Errorf("the event links to nothing: %s", rows[1].Name)
	}
}

// BenchmarkCorrelate reports the correlation figures on a store of 1M values; `cshub bench
// --correlate N` measures larger stores.
func BenchmarkCorrelate(b *testing.B) {
	for range b.N {
		rows, err := Correlate(context.Background(), b.TempDir(), 1_000_000, 10_000)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(rows[0].Value, "recorrelate-ms")
		b.ReportMetric(rows[0].Base, "baseline-map-ms")
		b.ReportMetric(rows[1].Value, "event-ms")
		b.ReportMetric(rows[1].Base, "baseline-event-ms")
		b.Log(rows[0].Name)
		b.Log(rows[1].Name)
	}
}

// TestMatchAPI runs the match endpoint figure briefly and checks that it measured both sides.
func TestMatchAPI(t *testing.T) {
	rows, err := MatchAPI(context.Background(), t.TempDir(), 500, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Value <= 0 || rows[0].Base <= 0 || rows[0].Unit != "values/s" {
		t.Errorf("rows: %+v", rows)
	}
}

// BenchmarkMatchAPI reports POST /api/v1/match values per second over loopback beside the
// lookup service in process, on a hub of 20,000 indicators.
func BenchmarkMatchAPI(b *testing.B) {
	for range b.N {
		rows, err := MatchAPI(context.Background(), b.TempDir(), 20_000, 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(rows[0].Value, "values/s")
		b.ReportMetric(rows[0].Base, "baseline-values/s")
		b.Log(rows[0].Name)
	}
}
