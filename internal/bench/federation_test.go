package bench

import (
	"flag"
	"testing"
)

var federationObjects = flag.Int("bench.federation.objects", 20000,
	"synthetic indicators BenchmarkFederation moves; the issue's figures are at 1000000 (with -benchtime=1x)")

// BenchmarkFederation measures what `cshub bench --federation N` reports: TAXII paging of a
// collection over loopback HTTP beside kb.List of the same pages, the p99 of a 1000-object page,
// and a hub-to-hub initial sync beside ingesting the same objects from a file.
// With CSHUB_TEST_PG set, the hubs are PostgreSQL ones in the postgres sub-benchmark.
func BenchmarkFederation(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchFederation(b, "") })
	b.Run("postgres", func(b *testing.B) { benchFederation(b, testPG(b)) })
}

func benchFederation(b *testing.B, postgres string) {
	for b.Loop() {
		fig, err := Federation(b.Context(), b.TempDir(), postgres, *federationObjects)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range fig.Rows() {
			b.Logf("%s: %.1f %s; %s: %.1f %s", r.Name, r.Value, r.Unit, r.Baseline, r.Base, r.Unit)
		}
		n := float64(fig.Objects)
		b.ReportMetric(n/fig.TAXIIPaging.Seconds(), "paging-objects/s")
		b.ReportMetric(n/fig.StorePaging.Seconds(), "kb.List-objects/s")
		b.ReportMetric(p99(fig.TAXIIPages).Seconds()*1000, "page-p99-ms")
		b.ReportMetric(n/fig.Sync.Seconds(), "sync-objects/s")
		b.ReportMetric(n/fig.FileIngest.Seconds(), "file-ingest-objects/s")
		if fig.SyncCPU > 0 {
			b.ReportMetric(n/fig.SyncCPU.Seconds(), "sync-objects/cpu-s")
			b.ReportMetric(n/fig.FileIngestCPU.Seconds(), "file-ingest-objects/cpu-s")
			b.ReportMetric(n/fig.TAXIIPagingCPU.Seconds(), "paging-objects/cpu-s")
			b.ReportMetric(n/fig.StorePagingCPU.Seconds(), "kb.List-objects/cpu-s")
		}
	}
}
