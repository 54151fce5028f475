package search

import (
	"context"
	"flag"
	"path/filepath"
	"testing"
	"time"

	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/seal"
	"cshub/internal/store/sqlite"
)

var storeN = flag.Int("search.storen", 50_000, "objects in the sealed SQLite store of BenchmarkBuildFromStore")

// BenchmarkBuildFromStore measures the start-up rebuild end to end: synthetic objects sealed
// into a real SQLite store, then Build through kb (read in pages of 1,000, bodies opened,
// parsed and indexed). objects/s times 1M gives the start-up cost at 1M objects.
func BenchmarkBuildFromStore(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "hub.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	bar := seal.New(st)
	root, err := seal.NewRootKey()
	if err != nil {
		b.Fatal(err)
	}
	if err := bar.Initialize(ctx, root); err != nil {
		b.Fatal(err)
	}
	s := newSynth()
	for _, o := range s.orgs {
		if err := st.CreateOrg(ctx, &hub.Org{Code: o, Name: o, Country: "FR", Kind: hub.OrgMember, Active: true}); err != nil {
			b.Fatal(err)
		}
	}
	for _, ws := range s.wss {
		if err := bar.AddWorkspace(ctx, ws); err != nil {
			b.Fatal(err)
		}
		if err := st.CreateWorkspace(ctx, &hub.Workspace{Slug: ws, Name: ws, Kind: hub.WorkspaceGroup, DefaultTLP: hub.TLPAmber, Members: s.orgs}); err != nil {
			b.Fatal(err)
		}
	}
	batch := make([]*hub.Object, 0, 1000)
	for i := 0; i < *storeN; i += cap(batch) {
		batch = batch[:0]
		for j := i; j < min(i+cap(batch), *storeN); j++ {
			o := s.object(j)
			o.Seq = 0
			o.Created = o.Modified
			// Sealed as package kb seals: bound to workspace, object id and version.
			loc := seal.Location{Workspace: o.Workspace, Kind: "object", ID: o.ID, Version: o.Modified.UTC().Format(time.RFC3339Nano)}
			if o.Body, err = bar.Encrypt(loc, o.Body); err != nil {
				b.Fatal(err)
			}
			batch = append(batch, o)
		}
		if _, err := st.PutObjects(ctx, batch, hub.PutOptions{Now: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	k := kb.New(kb.Config{Store: st, Sealer: bar})
	var stats BuildStats
	var cpu time.Duration
	for b.Loop() {
		c0 := cpuTime()
		_, stats, err = Build(ctx, k)
		cpu += cpuTime() - c0
		if err != nil {
			b.Fatal(err)
		}
		if stats.Objects != *storeN || stats.Skipped != 0 {
			b.Fatalf("Build = %+v, want %d objects", stats, *storeN)
		}
	}
	b.ReportMetric(stats.Rate(), "objects/s")
	b.ReportMetric(float64(stats.Objects*b.N)/cpu.Seconds(), "objects/cpu-s")
	b.ReportMetric(1e6/stats.Rate(), "s-per-1M")
}
