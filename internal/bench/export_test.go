package bench

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cshub/internal/export"

	"github.com/jackc/pgx/v5"
)

var exportN = flag.Int("bench.export-n", 1_000_000, "indicators BenchmarkExportCold stores once (cached under the temp dir) and exports")

// BenchmarkExportCold exports -bench.export-n stored indicators (default 1,000,000) from a
// sealed SQLite store (and, with CSHUB_TEST_PG set, a PostgreSQL one), cold, in each format, beside a scan of the same rows (ExportCold). The
// store is built on the first run and kept in the temp dir, keyed by its size and layout, so
// later runs measure only the export. Run: go test ./internal/bench -run X -bench ExportCold -benchtime 1x.
func BenchmarkExportCold(b *testing.B) {
	ctx := context.Background()
	dir := filepath.Join(os.TempDir(), "cshub-bench")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	sources := map[string]func() (ExportSource, error){
		"sqlite": func() (ExportSource, error) { return ExportStore(ctx, dir, *exportN) },
	}
	if u := os.Getenv("CSHUB_TEST_PG"); u != "" {
		sources["postgres"] = func() (ExportSource, error) { return ExportStorePostgres(ctx, u, *exportN) }
	}
	for store, build := range sources {
		src, err := build()
		if err != nil {
			b.Fatal(err)
		}
		for _, format := range export.Formats() {
			b.Run(store+"/"+format, func(b *testing.B) {
				var rows []Row
				for b.Loop() {
					if rows, _, err = ExportCold(ctx, src, format); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(rows[0].Value, "s/export")
				b.ReportMetric(rows[0].Base, "s/scan")
				b.ReportMetric(rows[1].Value, "cpu-s/export")
				b.ReportMetric(rows[1].Base, "cpu-s/scan")
				// The scan of what the export reads: records, and bodies if the format needs them.
				b.ReportMetric(rows[2].Base, "s/record-scan")
				b.ReportMetric(rows[3].Base, "cpu-s/record-scan")
				warm := rows[len(rows)-1]
				b.ReportMetric(warm.Value, "s/warm-export")
				b.ReportMetric(warm.Base, "s/warm-write")
			})
		}
	}
}

// TestExportCold: the store is built once and reused, and the export carries what "peer" may
// take away: not the AMBER+STRICT quarter of the synthetic indicators, which only their author
// may export.
func TestExportCold(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src, err := ExportStore(ctx, dir, 400)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ExportStore(ctx, dir, 400)
	if err != nil || !bytes.Equal(again.Root, src.Root) {
		t.Fatalf("second ExportStore: %v; want the store built first reused", err)
	}
	rows, n, err := ExportCold(ctx, src, "text")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || rows[0].Value <= 0 || rows[0].Base <= 0 || rows[2].Base <= 0 || !strings.Contains(rows[0].Name, "400 stored indicators") {
		t.Fatalf("rows = %+v; want the export beside the scans of objects and of records, and the warm export", rows)
	}
	if warm := rows[4]; warm.Value <= 0 || warm.Base <= 0 || !strings.Contains(warm.Name, fmt.Sprintf("export %d indicators from a running hub's catalog", n)) {
		t.Fatalf("warm row = %+v; want the export of the same %d indicators from the loaded catalog beside writing them", warm, n)
	}
	if rows, _, err := ExportCold(ctx, src, "stix"); err != nil || len(rows) != 5 || !strings.Contains(rows[2].Baseline, "bodies") {
		t.Fatalf("stix: %d rows, %v; want the export beside the scans of objects and of records and bodies, which it reads, and the warm export", len(rows), err)
	}
	if n < 200 || n >= 400 {
		t.Errorf("exported %d of 400 indicators; want those peer may take away, without AMBER+STRICT", n)
	}
}

// TestExportColdPostgres is TestExportCold on PostgreSQL; the schema goes afterwards.
func TestExportColdPostgres(t *testing.T) {
	ctx := context.Background()
	base := testPG(t)
	const n = 300
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, fmt.Sprintf("DROP SCHEMA IF EXISTS cshub_bench_export_%s_%d CASCADE", exportStoreVersion, n)); err != nil {
			t.Error(err)
		}
	})
	src, err := ExportStorePostgres(ctx, base, n)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ExportStorePostgres(ctx, base, n)
	if err != nil || !bytes.Equal(again.Root, src.Root) {
		t.Fatalf("second ExportStorePostgres: %v; want the store built first reused", err)
	}
	rows, exported, err := ExportCold(ctx, src, "suricata")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || !strings.Contains(rows[0].Name, "300 stored indicators cold (PostgreSQL") {
		t.Fatalf("rows = %+v", rows)
	}
	if exported < n/2 || exported >= n {
		t.Errorf("exported %d of %d indicators; want those peer may take away, without AMBER+STRICT", exported, n)
	}
}
