package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"cshub/internal/stix"
)

// testPG returns CSHUB_TEST_PG, or skips tb when it is unset.
func testPG(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("CSHUB_TEST_PG")
	if u == "" {
		tb.Skip("CSHUB_TEST_PG is unset: set it to a PostgreSQL URL, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	return u
}

func TestSyntheticIndicators(t *testing.T) {
	const n = 2000
	b := SyntheticIndicators(n, 1)
	if !bytes.Equal(b, SyntheticIndicators(n, 1)) {
		t.Fatal("the same seed gave different bundles")
	}
	if bytes.Equal(b, SyntheticIndicators(n, 2)) {
		t.Fatal("different seeds gave the same bundle")
	}
	var bundle struct {
		Type    string            `json:"type"`
		Objects []json.RawMessage `json:"objects"`
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		t.Fatal(err)
	}
	if got, want := len(bundle.Objects), n; got != want {
		t.Fatalf("objects: got %d, want %d", got, want)
	}
	kinds := map[string]int{}
	ids := map[string]bool{}
	br := stix.NewBundleReader(bytes.NewReader(b))
	for {
		raw, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		meta, _, err := stix.Validate(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if ids[meta.ID] {
			t.Fatalf("id %s twice", meta.ID)
		}
		ids[meta.ID] = true
		if stix.TLPOf(meta.MarkingRefs) == 0 {
			t.Errorf("%s has no TLP marking", meta.ID)
		}
		switch p := meta.Pattern; {
		case strings.HasPrefix(p, "[ipv4-addr:"):
			kinds["ipv4"]++
		case strings.HasPrefix(p, "[domain-name:"):
			kinds["domain"]++
		case strings.HasPrefix(p, "[file:hashes.'SHA-256'"):
			kinds["sha256"]++
		default:
			t.Errorf("unexpected pattern %q", p)
		}
	}
	for _, c := range []struct {
		kind string
		want float64
	}{{"ipv4", 0.60}, {"domain", 0.25}, {"sha256", 0.15}} {
		if got := float64(kinds[c.kind]) / n; got < c.want-0.04 || got > c.want+0.04 {
			t.Errorf("%s share: got %.3f, want about %.2f", c.kind, got, c.want)
		}
	}
	if got := SyntheticIndicators(0, 1); json.Valid(got) == false {
		t.Errorf("empty bundle is not JSON: %s", got)
	}
}

func TestIngestSyntheticSQLite(t *testing.T) {
	rows, err := IngestSyntheticSQLite(context.Background(), t.TempDir(), 2000)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, rows, 1, "2000 synthetic indicators (SQLite")
}

func TestIngestSyntheticPostgres(t *testing.T) {
	rows, err := IngestSynthetic(context.Background(), testPG(t), 2000)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, rows, 2, "2000 synthetic indicators (PostgreSQL")
}

func TestIngestPostgres(t *testing.T) {
	rows, err := IngestPostgres(context.Background(), testPG(t), SyntheticIndicators(300, 3), 2)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, rows, 2, "ATT&CK (300 objects, PostgreSQL")
}

func TestWithSearchPath(t *testing.T) {
	for _, c := range []struct{ base, want string }{
		{"postgres://u@127.0.0.1:5432/db?sslmode=disable", "postgres://u@127.0.0.1:5432/db?search_path=s1&sslmode=disable"},
		{"postgresql://u@127.0.0.1/db?search_path=old", "postgresql://u@127.0.0.1/db?search_path=s1"},
		{"host=127.0.0.1 dbname=db", "host=127.0.0.1 dbname=db search_path=s1"},
	} {
		got, err := withSearchPath(c.base, "s1")
		if err != nil || got != c.want {
			t.Errorf("withSearchPath(%q): got %q, %v, want %q", c.base, got, err, c.want)
		}
	}
}

func checkRows(t *testing.T, rows []Row, want int, name string) {
	t.Helper()
	if len(rows) != want {
		t.Fatalf("rows: got %d, want %d", len(rows), want)
	}
	for _, r := range rows {
		if !strings.Contains(r.Name, name) || r.Value <= 0 || r.Base <= 0 || r.Unit != "objects/s" {
			t.Errorf("row %+v: want a positive rate named %q with a baseline", r, name)
		}
	}
}

// BenchmarkIngestPostgres ingests the ATT&CK bundle into a fresh schema per iteration and
// reports the ingest's rate beside a raw COPY and PutObjects of the same rows, and their ratio.
func BenchmarkIngestPostgres(b *testing.B) {
	url := testPG(b)
	bundle, err := Attack()
	if err != nil {
		b.Fatal(err)
	}
	var r pgRates
	for b.Loop() {
		one, err := ingestPostgresOnce(context.Background(), url, bundle)
		if err != nil {
			b.Fatal(err)
		}
		r.add(one)
	}
	b.ReportMetric(median(r.ingest), "objects/s")
	b.ReportMetric(median(r.copy), "copy-objects/s")
	b.ReportMetric(median(r.put), "put-objects/s")
	b.ReportMetric(median(r.ingest)/median(r.copy), "ratio-to-copy")
}
