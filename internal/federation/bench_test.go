package federation_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cshub/internal/federation"
	"cshub/internal/hubtest"
	"cshub/internal/kb"
	"cshub/internal/taxii/client"
)

// benchObjects is how many objects one benchmarked sync moves: by default enough for several
// full pages; -federation.objects=1000000 -benchtime=1x measures the 1M-object sync.
var benchObjects = flag.Int("federation.objects", 5000, "objects one benchmarked sync moves")

// BenchmarkSync measures a sync of benchObjects objects from one hub to another over TAXII on
// loopback TLS, beside its baseline in the same run: ingesting the same objects from a bundle
// file into an empty hub, which is the work a sync adds network paging to. Each iteration fills
// a fresh receiving hub; the figure is objects per second.
func BenchmarkSync(b *testing.B) {
	for _, backend := range hubtest.Backends() {
		b.Run(backend, func(b *testing.B) {
			ctx := context.Background()
			a := newSource(b, backend)
			objs := make([]string, *benchObjects)
			for i := range objs {
				objs[i] = fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-%012d",`+
					`"created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","name":"bench %d",`+
					`"pattern":"[ipv4-addr:value = '10.%d.%d.%d']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z",`+
					`"object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}`, i, i, i>>16&255, i>>8&255, i&255)
			}
			bundle := []byte(`{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000000","objects":[` + strings.Join(objs, ",") + `]}`)
			a.Ingest(b, "cert-fr", "community", bundle)
			file := filepath.Join(b.TempDir(), "bundle.json")
			if err := os.WriteFile(file, bundle, 0o600); err != nil {
				b.Fatal(err)
			}
			c := client.New(client.Config{HTTP: a.srv.Client(), Token: a.key})

			b.Run("taxii-sync", func(b *testing.B) {
				var total time.Duration
				for b.Loop() {
					b.StopTimer()
					_, sync := newSink(b, backend)
					b.StartTimer()
					start := time.Now()
					prog, err := sync.Sync(ctx, federation.Peer{URL: a.root(), Collection: "community", Workspace: "community", Org: "cert-uk"}, federation.Options{Client: c})
					total += time.Since(start)
					if err != nil || prog.Accepted != *benchObjects {
						b.Fatalf("sync %+v, %v", prog, err)
					}
				}
				b.ReportMetric(float64(*benchObjects)*float64(b.N)/total.Seconds(), "objects/s")
			})
			b.Run("file-ingest-baseline", func(b *testing.B) {
				var total time.Duration
				for b.Loop() {
					b.StopTimer()
					h := hubtest.New(b, backend)
					b.StartTimer()
					start := time.Now()
					raw, err := os.ReadFile(file)
					if err != nil {
						b.Fatal(err)
					}
					sum, err := h.KB.Ingest(ctx, kb.Submission{Org: "cert-uk", Workspace: "community"}, bytes.NewReader(raw))
					total += time.Since(start)
					if err != nil || sum.Accepted != *benchObjects {
						b.Fatalf("ingest %+v, %v", sum, err)
					}
				}
				b.ReportMetric(float64(*benchObjects)*float64(b.N)/total.Seconds(), "objects/s")
			})
		})
	}
}
