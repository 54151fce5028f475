package kb_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/seal"
	"cshub/internal/store/sqlite"
)

// BenchmarkIngestAttack ingests the whole ATT&CK Enterprise bundle into a fresh SQLite hub per
// iteration, sealed and, as the baseline of the sealing overhead, with a no-op sealer. `cshub
// bench` reports the same beside a raw insert of the same rows.
func BenchmarkIngestAttack(b *testing.B) {
	f, err := os.Open(filepath.Join("..", "demo", "data", "enterprise-attack-18.1.stix21.json.gz"))
	if err != nil {
		b.Fatal(err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	bundle, err := io.ReadAll(zr)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	for _, sealed := range []bool{true, false} {
		name := "sealed"
		if !sealed {
			name = "plain"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			objects := 0
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				st, err := sqlite.Open(filepath.Join(b.TempDir(), "hub.db"))
				if err != nil {
					b.Fatal(err)
				}
				var sealer seal.Sealer = seal.Plain{}
				if sealed {
					bar := seal.New(st)
					root, _ := seal.NewRootKey()
					if err := bar.Initialize(ctx, root); err != nil {
						b.Fatal(err)
					}
					if err := bar.AddWorkspace(ctx, "bench"); err != nil {
						b.Fatal(err)
					}
					sealer = bar
				}
				if err := st.CreateOrg(ctx, &hub.Org{Code: "bench", Name: "Bench", Country: "BE", Kind: hub.OrgMember, Active: true}); err != nil {
					b.Fatal(err)
				}
				if err := st.CreateWorkspace(ctx, &hub.Workspace{Slug: "bench", Kind: hub.WorkspaceCommunity, DefaultTLP: hub.TLPClear, Members: []string{"bench"}}); err != nil {
					b.Fatal(err)
				}
				k := kb.New(kb.Config{Store: st, Sealer: sealer})
				b.StartTimer()
				sum, err := k.Ingest(ctx, kb.Submission{Org: "bench", Workspace: "bench"}, bytes.NewReader(bundle))
				b.StopTimer()
				if err != nil || len(sum.Rejected) > 0 {
					b.Fatalf("%v %d rejected", err, len(sum.Rejected))
				}
				objects += sum.Accepted
				st.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(objects)/b.Elapsed().Seconds(), "objects/s")
		})
	}
}
