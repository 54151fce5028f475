package bench

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var exportN = flag.Int("bench.export-n", 1_000_000, "indicators BenchmarkExportCold stores once (cached under the temp dir) and exports")

// BenchmarkExportCold exports -bench.export-n stored indicators (default 1,000,000) from a
// sealed SQLite store, cold, in each format, beside a scan of the same rows (ExportCold). The
// store is built on the first run and kept in the temp dir, keyed by its size and layout, so
// later runs measure only the export. Run: go test ./internal/bench -run X -bench ExportCold -benchtime 1x.
func BenchmarkExportCold(b *testing.B) {
	ctx := context.Background()
	dir := filepath.Join(os.TempDir(), "cshub-bench")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	path, root, err := ExportStore(ctx, dir, *exportN)
	if err != nil {
		b.Fatal(err)
	}
	for _, format := range []string{"text", "nftables", "suricata", "stix"} {
		b.Run(format, func(b *testing.B) {
			var rows []Row
			for b.Loop() {
				if rows, _, err = ExportCold(ctx, path, root, format); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(rows[0].Value, "s/export")
			b.ReportMetric(rows[0].Base, "s/scan")
			b.ReportMetric(rows[1].Value, "cpu-s/export")
			b.ReportMetric(rows[1].Base, "cpu-s/scan")
		})
	}
}

// TestExportCold: the store is built once and reused, and the export carries what "peer" may
// take away: not the AMBER+STRICT quarter of the synthetic indicators, which only their author
// may export.
func TestExportCold(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path, root, err := ExportStore(ctx, dir, 400)
	if err != nil {
		t.Fatal(err)
	}
	again, root2, err := ExportStore(ctx, dir, 400)
	if err != nil || again != path || !bytes.Equal(root, root2) {
		t.Fatalf("second ExportStore = %s, %v; want the store built first reused", again, err)
	}
	rows, n, err := ExportCold(ctx, path, root, "text")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Value <= 0 || rows[0].Base <= 0 || !strings.Contains(rows[0].Name, "400 stored indicators") {
		t.Fatalf("rows = %+v", rows)
	}
	if n < 200 || n >= 400 {
		t.Errorf("exported %d of 400 indicators; want those peer may take away, without AMBER+STRICT", n)
	}
}
