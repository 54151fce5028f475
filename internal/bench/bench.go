// Package bench measures the hub's figures beside baselines taken in the same run on the same
// machine, so that a figure is read as a ratio and not as a number that depends on the day. It
// serves `cshub bench`; the packages' own `go test -bench` benchmarks measure the same paths.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"cshub/internal/demo"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/seal"
	"cshub/internal/store/sqlite"
)

// Row is one line of the report: a figure and, when it has one, its baseline.
type Row struct {
	Name     string
	Value    float64
	Unit     string
	Baseline string  // what the baseline is
	Base     float64 // the baseline's figure in the same unit; 0 when there is none
}

// Ratio is Value/Base, or 0 without a baseline.
func (r Row) Ratio() float64 {
	if r.Base == 0 {
		return 0
	}
	return r.Value / r.Base
}

// Print writes rows as an aligned table.
func Print(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\tbaseline (same run)\tbaseline value\tratio")
	for _, r := range rows {
		if r.Base == 0 {
			fmt.Fprintf(tw, "%s\t%s %s\t-\t-\t-\n", r.Name, figure(r.Value), r.Unit)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s %s\t%.2f\n", r.Name, figure(r.Value), r.Unit, r.Baseline, figure(r.Base), r.Unit, r.Ratio())
	}
	return tw.Flush()
}

// figure writes v whole, or with two decimals below 100: seconds of an export matter to the
// tenth, rates of thousands a second do not.
func figure(v float64) string {
	if v < 100 {
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// Attack loads the embedded ATT&CK Enterprise bundle, decompressed.
func Attack() ([]byte, error) {
	rc, err := demo.AttackBundle()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// Ingest measures ingest of bundle into fresh SQLite stores under dir, runs times each, and
// reports the median of each figure: the full ingest (parse, validate, seal, store), the same
// ingest with a no-op sealer, the raw batched insert of the same rows, and encoding/json's decode
// of the same bytes.
func Ingest(ctx context.Context, dir string, bundle []byte, runs int) ([]Row, error) {
	n := 0
	var sealed, plain, raw, decode []float64
	for i := range runs {
		rate, objs, err := ingestOnce(ctx, filepath.Join(dir, fmt.Sprintf("sealed-%d.db", i)), bundle, true)
		if err != nil {
			return nil, err
		}
		n = len(objs)
		sealed = append(sealed, rate)

		rate, _, err = ingestOnce(ctx, filepath.Join(dir, fmt.Sprintf("plain-%d.db", i)), bundle, false)
		if err != nil {
			return nil, err
		}
		plain = append(plain, rate)

		rate, err = rawInsert(ctx, filepath.Join(dir, fmt.Sprintf("raw-%d.db", i)), objs)
		if err != nil {
			return nil, err
		}
		raw = append(raw, rate)

		start := time.Now()
		var v any
		if err := json.Unmarshal(bundle, &v); err != nil {
			return nil, err
		}
		decode = append(decode, float64(n)/time.Since(start).Seconds())
	}
	name := fmt.Sprintf("ingest ATT&CK (%d objects, SQLite, sealed)", n)
	return []Row{
		{Name: name, Value: median(sealed), Unit: "objects/s", Baseline: "raw batched insert of the same rows", Base: median(raw)},
		{Name: name, Value: median(sealed), Unit: "objects/s", Baseline: "encoding/json decode of the same bytes", Base: median(decode)},
		{Name: name, Value: median(sealed), Unit: "objects/s", Baseline: "the same ingest with a no-op sealer", Base: median(plain)},
	}, nil
}

// ingestOnce ingests bundle into a new hub at path and returns the rate and the stored rows.
func ingestOnce(ctx context.Context, path string, bundle []byte, sealed bool) (float64, []*hub.Object, error) {
	st, err := sqlite.Open(path)
	if err != nil {
		return 0, nil, err
	}
	defer st.Close()
	var sealer seal.Sealer = seal.Plain{}
	if sealed {
		b, _, err := sealBench(ctx, st)
		if err != nil {
			return 0, nil, err
		}
		sealer = b
	}
	if err := benchWorkspace(ctx, st); err != nil {
		return 0, nil, err
	}
	k := kb.New(kb.Config{Store: st, Sealer: sealer})
	start := time.Now()
	sum, err := k.Ingest(ctx, kb.Submission{Org: "bench", Workspace: "bench"}, bytes.NewReader(bundle))
	if err != nil {
		return 0, nil, err
	}
	elapsed := time.Since(start)
	if len(sum.Rejected) > 0 {
		return 0, nil, fmt.Errorf("bench: %d objects rejected, first: %s", len(sum.Rejected), sum.Rejected[0].Reason)
	}
	objs, err := st.ListObjects(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, AllVersions: true, Limit: 1 << 30})
	if err != nil {
		return 0, nil, err
	}
	return float64(sum.Accepted) / elapsed.Seconds(), objs, nil
}

// rawInsert stores objs, as they were stored by an ingest, into a new store at path without
// parsing, validating or sealing, in the same batches.
func rawInsert(ctx context.Context, path string, objs []*hub.Object) (float64, error) {
	st, err := sqlite.Open(path)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if err := benchWorkspace(ctx, st); err != nil {
		return 0, err
	}
	start := time.Now()
	for b := range slices.Chunk(objs, 1000) {
		if err := st.RawInsert(ctx, b); err != nil {
			return 0, err
		}
	}
	return float64(len(objs)) / time.Since(start).Seconds(), nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// sealBench gives st a barrier initialised with a new root key and holding a key for the
// workspace "bench", where every figure's objects go, and returns the barrier and the root key.
func sealBench(ctx context.Context, st hub.KeyStore) (*seal.Barrier, []byte, error) {
	b := seal.New(st)
	root, err := seal.NewRootKey()
	if err == nil {
		err = b.Initialize(ctx, root)
	}
	if err == nil {
		err = b.AddWorkspace(ctx, "bench")
	}
	return b, root, err
}
