package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"cshub/internal/access"
	"cshub/internal/export"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/seal"
	"cshub/internal/store/postgres"
	"cshub/internal/store/sqlite"
	"cshub/internal/warninglist"
)

// exportStoreVersion names the layout of the stores ExportStore builds; a store built under
// another version is built again.
const exportStoreVersion = "v2" // v2: with export records

// ExportSource is a store that ExportStore or ExportStorePostgres filled, for ExportCold.
type ExportSource struct {
	Store string                                       // "SQLite" or "PostgreSQL", for the report
	Open  func(ctx context.Context) (hub.Store, error) // opens it anew
	Root  []byte                                       // the root key that unseals it
}

// ExportStore returns a sealed SQLite store under dir holding n synthetic indicators
// (SyntheticIndicators with a fixed seed) in a community workspace of two organisations, "bench"
// (their author) and "peer". A store built before under dir for the same n is reused: building
// a million indicators takes minutes, exporting them seconds.
func ExportStore(ctx context.Context, dir string, n int) (ExportSource, error) {
	base := filepath.Join(dir, fmt.Sprintf("export-%s-%d", exportStoreVersion, n))
	path, keyPath := base+".db", base+".key"
	src := ExportSource{Store: "SQLite", Open: func(context.Context) (hub.Store, error) { return sqlite.Open(path) }}
	var err error
	if src.Root, err = os.ReadFile(keyPath); err == nil {
		return src, nil // the key is written last, once the store is complete
	}
	if !errors.Is(err, os.ErrNotExist) {
		return src, err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return src, err
		}
	}
	if src.Root, err = fillExportStore(ctx, src, n); err != nil {
		return src, err
	}
	return src, os.WriteFile(keyPath, src.Root, 0o600)
}

// ExportStorePostgres is ExportStore in a schema of the PostgreSQL database at base named for
// n and the layout, kept between runs (drop it by hand: DROP SCHEMA ... CASCADE); the root key
// is kept in the schema beside it, as a benchmark's store may be.
func ExportStorePostgres(ctx context.Context, base string, n int) (ExportSource, error) {
	schema := fmt.Sprintf("cshub_bench_export_%s_%d", exportStoreVersion, n)
	u, err := withSearchPath(base, schema)
	src := ExportSource{Store: "PostgreSQL", Open: func(ctx context.Context) (hub.Store, error) { return postgres.Open(ctx, u) }}
	if err != nil {
		return src, err
	}
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		return src, &hub.Error{Code: hub.EUnavailable, Field: "store", Message: "connect to PostgreSQL", Err: err}
	}
	defer c.Close(ctx)
	if c.QueryRow(ctx, "SELECT key FROM "+schema+".bench_root").Scan(&src.Root) == nil {
		return src, nil // written last, once the store is complete
	}
	for _, stmt := range []string{"DROP SCHEMA IF EXISTS " + schema + " CASCADE", "CREATE SCHEMA " + schema} {
		if _, err := c.Exec(ctx, stmt); err != nil {
			return src, fmt.Errorf("bench: %s: %w", stmt, err)
		}
	}
	if src.Root, err = fillExportStore(ctx, src, n); err != nil {
		return src, err
	}
	for _, stmt := range []string{"CREATE TABLE " + schema + ".bench_root (key bytea NOT NULL)", "ANALYZE " + schema + ".objects"} {
		if _, err := c.Exec(ctx, stmt); err != nil {
			return src, fmt.Errorf("bench: %s: %w", stmt, err)
		}
	}
	_, err = c.Exec(ctx, "INSERT INTO "+schema+".bench_root (key) VALUES ($1)", src.Root)
	return src, err
}

// fillExportStore fills the empty store of src and returns its root key.
func fillExportStore(ctx context.Context, src ExportSource, n int) ([]byte, error) {
	st, err := src.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	b, root, err := sealBench(ctx, st)
	if err != nil {
		return nil, err
	}
	for _, org := range []string{"bench", "peer"} {
		if err := st.CreateOrg(ctx, &hub.Org{Code: org, Name: org, Country: "BE", Kind: hub.OrgMember, Active: true}); err != nil {
			return nil, err
		}
	}
	if err := st.CreateWorkspace(ctx, &hub.Workspace{Slug: "bench", Kind: hub.WorkspaceCommunity, DefaultTLP: hub.TLPClear, Members: []string{"bench", "peer"}}); err != nil {
		return nil, err
	}
	k := kb.New(kb.Config{Store: st, Sealer: b})
	// Bundles of 50,000 keep the memory of a million-indicator build near that of one bundle.
	const chunk = 50_000
	for i := 0; i < n; i += chunk {
		bundle := SyntheticIndicators(min(chunk, n-i), syntheticSeed+uint64(i))
		sum, err := k.Ingest(ctx, kb.Submission{Org: "bench", Workspace: "bench"}, bytes.NewReader(bundle))
		if err != nil {
			return nil, err
		}
		if len(sum.Rejected) > 0 {
			return nil, fmt.Errorf("bench: %d indicators rejected, first: %s", len(sum.Rejected), sum.Rejected[0].Reason)
		}
	}
	return root, nil
}

// ExportCold measures, once, what `cshub export --org peer --format format` does with the store
// of src, from nothing in memory: open the store, unseal it, read every
// indicator, select what organisation "peer" may take away and write it in format to io.Discard.
// Beside it, in the same run, it measures the scans of the same versions from the store as
// stored (sealed, not decoded): of their objects, as ListObjects pages through them, and of
// what the export reads, their export records and, for a format that needs bodies, their
// indicators' bodies; those are the floors that reading alone costs. It returns the rows and the number of indicators exported.
func ExportCold(ctx context.Context, src ExportSource, format string) ([]Row, int, error) {
	f, err := export.LookupFormat(format)
	if err != nil {
		return nil, 0, err
	}
	scans := []scan{{what: "scan of the same rows, sealed, not decoded", read: scanObjects}}
	if f.Bodies {
		scans = append(scans, scan{what: "scan of their export records and indicator bodies, sealed, not opened", read: (&recordScan{bodies: true}).read})
	} else {
		scans = append(scans, scan{what: "scan of their export records, sealed, not opened", read: new(recordScan).read})
	}
	for i := range scans {
		s := &scans[i]
		cpu0 := cpuTime()
		if s.wall, s.rows, err = scanStore(ctx, src, s.read); err != nil {
			return nil, 0, err
		}
		s.cpu = cpuTime() - cpu0
	}
	cpu1 := cpuTime()
	start := time.Now()
	n, cat, p, err := exportOnce(ctx, src, f)
	if err != nil {
		return nil, 0, err
	}
	elapsed := time.Since(start)
	cpu2 := cpuTime()
	name := fmt.Sprintf("export %d stored indicators cold (%s, sealed, %s)", scans[0].rows, src.Store, format)
	var rows []Row
	for _, s := range scans {
		rows = append(rows,
			Row{Name: name, Value: elapsed.Seconds(), Unit: "s", Baseline: s.what, Base: s.wall.Seconds()},
			Row{Name: name, Value: (cpu2 - cpu1).Seconds(), Unit: "CPU s", Baseline: s.what, Base: s.cpu.Seconds()})
	}
	warm, write, err := exportWarm(ctx, src, f, cat, p)
	if err != nil {
		return nil, 0, err
	}
	rows = append(rows, Row{Name: fmt.Sprintf("export %d indicators from a running hub's catalog (warm, %s)", n, format),
		Value: warm.Seconds(), Unit: "s", Baseline: "writing the same selected indicators alone", Base: write.Seconds()})
	return rows, n, nil
}

// exportWarm measures what a running hub does for a feed fetched as a file: its catalog is
// already in memory and current, so the export is selecting for the viewer and writing. Beside
// it, writing the same selection alone, the floor that the format costs.
func exportWarm(ctx context.Context, src ExportSource, f export.Format, cat *export.Catalog, p export.Point) (warm, write time.Duration, err error) {
	st, err := src.Open(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	v, err := access.ViewerFor(ctx, st, "peer", access.PathExport)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	inds := cat.Select(&export.View{Viewer: v, Path: access.PathExport}, p)
	if err := f.Write(io.Discard, inds, export.Meta{Org: "peer", Time: p.Time}); err != nil {
		return 0, 0, err
	}
	warm = time.Since(start)
	start = time.Now()
	err = f.Write(io.Discard, inds, export.Meta{Org: "peer", Time: p.Time})
	return warm, time.Since(start), err
}

// scan is one baseline of ExportCold: a way to read every indicator and sighting version
// without opening it, and what it cost.
type scan struct {
	what string
	read func(ctx context.Context, st hub.Store, after int64) (n int, last int64, err error)
	wall time.Duration
	cpu  time.Duration
	rows int
}

// scanStore reads every indicator and sighting version of the store of src with read, a page
// at a time until a page is empty, and returns how long it took and how many versions it read.
func scanStore(ctx context.Context, src ExportSource, read func(ctx context.Context, st hub.Store, after int64) (int, int64, error)) (time.Duration, int, error) {
	start := time.Now()
	st, err := src.Open(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	total := 0
	var after int64
	for {
		n, last, err := read(ctx, st, after)
		if err != nil {
			return 0, 0, err
		}
		if n == 0 {
			return time.Since(start), total, nil
		}
		total += n
		after = last
	}
}

// scanObjects reads a page of whole objects, as a TAXII client or a federation peer pages
// through them.
func scanObjects(ctx context.Context, st hub.Store, after int64) (int, int64, error) {
	objs, err := st.ListObjects(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, Types: hub.ExportedTypes(), AfterSeq: after, Limit: 1000})
	if err != nil || len(objs) == 0 {
		return 0, 0, err
	}
	return len(objs), objs[len(objs)-1].Seq, nil
}

// recordScan reads export records a page at a time into one hub.RecordPage, as an export does,
// and with bodies, the bodies of each page's indicators beside them.
type recordScan struct {
	page   hub.RecordPage
	bodies bool
}

func (s *recordScan) read(ctx context.Context, st hub.Store, after int64) (int, int64, error) {
	if _, err := st.ExportRecords(ctx, after, 10_000, &s.page); err != nil {
		return 0, 0, err
	}
	recs := s.page.Records()
	if len(recs) == 0 {
		return 0, 0, nil
	}
	last := recs[len(recs)-1].Seq
	if s.bodies {
		if err := st.Bodies(ctx, "indicator", after, last, func(int64, []byte) error { return nil }); err != nil {
			return 0, 0, err
		}
	}
	return len(recs), last, nil
}

// exportOnce is `cshub export` without its flags and audit entry. It returns the number of
// indicators exported and the catalog it loaded, current to p.
func exportOnce(ctx context.Context, src ExportSource, f export.Format) (n int, cat *export.Catalog, p export.Point, err error) {
	st, err := src.Open(ctx)
	if err != nil {
		return 0, nil, p, err
	}
	defer st.Close()
	b := seal.New(st)
	if err := b.Unseal(ctx, src.Root); err != nil {
		return 0, nil, p, err
	}
	v, err := access.ViewerFor(ctx, st, "peer", access.PathExport)
	if err != nil {
		return 0, nil, p, err
	}
	view := &export.View{Viewer: v, Path: access.PathExport}
	cat = export.NewCatalog(export.Config{KB: kb.New(kb.Config{Store: st, Sealer: b}), Warninglists: warninglist.Default(),
		KeepBodies: f.Bodies, BodiesFor: view, LatestOnly: true})
	if p, err = cat.Sync(ctx, nil); err != nil {
		return 0, nil, p, err
	}
	inds := cat.Select(view, p)
	return len(inds), cat, p, f.Write(io.Discard, inds, export.Meta{Org: "peer", Time: p.Time})
}
