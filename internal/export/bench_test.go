package export_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"cshub/internal/access"
	"cshub/internal/bench"
	"cshub/internal/export"
	"cshub/internal/export/record"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/kb"
	"cshub/internal/warninglist"
)

var (
	formatN = flag.Int("export.format-n", 1_000_000, "indicators BenchmarkFormat writes")
	loadN   = flag.Int("export.load-n", 100_000, "indicators BenchmarkLoad stores and loads")
)

// cpuTime returns the CPU time the process has used: on a machine shared with other work the
// benchmarks report it beside the elapsed time, which waits for the CPU as well.
func cpuTime() time.Duration {
	var r syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
		return 0
	}
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

// perIndicator reports the elapsed and CPU time per indicator of a benchmark that handled n
// indicators per op and started at cpu0.
func perIndicator(b *testing.B, n int, cpu0 time.Duration) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/indicator")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*n), "cpu-ns/indicator")
}

// syntheticIndicators returns n indicators in memory with the mix of bench.SyntheticIndicators
// (60% IPv4 addresses and blocks, 25% domains, 15% SHA-256 hashes), without a store.
func syntheticIndicators(n int) []*export.Indicator {
	r := rand.New(rand.NewPCG(1, 14))
	modified := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]*export.Indicator, n)
	for i := range out {
		var v export.Value
		switch p := r.IntN(100); {
		case p < 60:
			a := netip.AddrFrom4([4]byte{byte(1 + r.IntN(222)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
			v = export.Value{Type: "ipv4-addr", Value: a.String()}
			if r.IntN(4) == 0 {
				v.Value = netip.PrefixFrom(a, 16+r.IntN(15)).Masked().String()
			}
		case p < 85:
			v = export.Value{Type: "domain-name", Value: fmt.Sprintf("h%x.example%d.com", r.Uint32(), r.IntN(100))}
		default:
			var h [32]byte
			for j := range h {
				h[j] = byte(r.Uint32())
			}
			v = export.Value{Type: "file", Hash: "SHA-256", Value: hex.EncodeToString(h[:])}
		}
		rec := &record.Record{Object: record.Object{ID: fmt.Sprintf("indicator--%08x-0000-4000-8000-%012x", i, i),
			Type: "indicator", Workspace: "community", TLP: hub.TLPGreen, Created: modified, Modified: modified},
			Name: "synthetic", Confidence: 50, ValidFrom: modified, Values: []export.Value{v}}
		out[i] = &export.Indicator{Record: rec, Values: rec.Values}
	}
	return out
}

// withBodies gives each of inds a STIX body saying what it holds, as a catalog that keeps
// bodies has them, for the formats that copy or map bodies (stix, misp).
func withBodies(inds []*export.Indicator) {
	for _, ind := range inds {
		v := ind.Values[0]
		path := v.Type + ":value"
		if v.Type == "file" {
			path = "file:hashes.'" + v.Hash + "'"
		}
		ts := ind.Modified.Format(time.RFC3339Nano)
		ind.Body = fmt.Appendf(nil, `{"type":"indicator","spec_version":"2.1","id":"%s","created":"%s","modified":"%s","name":"%s",`+
			`"indicator_types":["malicious-activity"],"pattern":"[%s = '%s']","pattern_type":"stix","valid_from":"%s","confidence":%d,`+
			`"object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}`,
			ind.ID, ts, ts, ind.Name, path, v.Value, ts, ind.Confidence)
	}
}

// BenchmarkFormat writes -export.format-n indicators (default 1,000,000) in each format to
// io.Discard: the formatting alone, loading aside. "json-baseline" encodes the same values with
// encoding/json, the floor to compare with. The indicators get STIX bodies (withBodies) before
// the first format that needs them. Run: go test -bench Format -benchtime 1x.
func BenchmarkFormat(b *testing.B) {
	inds := syntheticIndicators(*formatN)
	meta := export.Meta{Org: "cert-uk", Time: time.Now()}
	b.Run("json-baseline", func(b *testing.B) {
		type row struct{ Type, Hash, Value string }
		cpu0 := cpuTime()
		for b.Loop() {
			enc := json.NewEncoder(io.Discard)
			for _, ind := range inds {
				for _, v := range ind.Values {
					if err := enc.Encode(row{v.Type, v.Hash, v.Value}); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		perIndicator(b, len(inds), cpu0)
	})
	for _, name := range export.Formats() {
		f, _ := export.LookupFormat(name)
		if f.Bodies && inds[0].Body == nil {
			withBodies(inds)
		}
		b.Run(name, func(b *testing.B) {
			cpu0 := cpuTime()
			for b.Loop() {
				if err := f.Write(io.Discard, inds, meta); err != nil {
					b.Fatal(err)
				}
			}
			perIndicator(b, len(inds), cpu0)
		})
	}
}

// BenchmarkLoad stores -export.load-n synthetic indicators (default 100,000) in a SQLite test
// hub and measures, separately, loading them from the store into a Catalog (reading, opening
// sealed bodies, parsing patterns), selecting an organisation's export from it, and writing it
// as a STIX bundle, which needs the bodies.
func BenchmarkLoad(b *testing.B) {
	h := hubtest.New(b, "sqlite")
	if _, err := h.KB.Ingest(context.Background(), kb.Submission{Org: "cert-fr", Workspace: hubtest.Community}, bytes.NewReader(bench.SyntheticIndicators(*loadN, 14))); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// The catalog of the last sync is the one the other sub-benchmarks use.
	cat := export.NewCatalog(export.Config{KB: h.KB, Warninglists: warninglist.Default(), LatestOnly: true, KeepBodies: true})
	p, err := cat.Sync(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("sync", func(b *testing.B) {
		cpu0 := cpuTime()
		for b.Loop() {
			cat = export.NewCatalog(export.Config{KB: h.KB, Warninglists: warninglist.Default(), LatestOnly: true, KeepBodies: true})
			var err error
			if p, err = cat.Sync(ctx, nil); err != nil {
				b.Fatal(err)
			}
		}
		perIndicator(b, *loadN, cpu0)
	})
	v, err := access.ViewerFor(ctx, h.Store, "cert-uk", access.PathExport)
	if err != nil {
		b.Fatal(err)
	}
	view := &export.View{Viewer: v, Path: access.PathExport}
	b.Run("select", func(b *testing.B) {
		cpu0 := cpuTime()
		for b.Loop() {
			cat.Select(view, p)
		}
		perIndicator(b, *loadN, cpu0)
	})
	f, _ := export.LookupFormat("stix")
	b.Run("stix", func(b *testing.B) {
		inds := cat.Select(view, p)
		if len(inds) == 0 {
			b.Fatal("nothing selected")
		}
		cpu0 := cpuTime()
		for b.Loop() {
			if err := f.Write(io.Discard, inds, export.Meta{}); err != nil {
				b.Fatal(err)
			}
		}
		perIndicator(b, len(inds), cpu0)
	})
}
