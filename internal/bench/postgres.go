package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/store/postgres"
)

// Options selects the figures of `cshub bench`. The SQLite ingest of ATT&CK is always measured;
// the rest only when asked for.
type Options struct {
	Dir       string // where the SQLite stores go; required
	Runs      int    // repeat each ATT&CK measurement this many times and report the median; at least 1
	Postgres  string // when set, also measure ingest into the PostgreSQL database at this URL
	Synthetic int    // when above 0, also ingest this many synthetic indicators, once per store
	Correlate int    // when above 0, also measure correlation against a store of this many values
	Match     int    // when above 0, also measure POST /api/v1/match against this many indicators
	Restart   int    // when above 0, also time a replica's restart holding this many indicators
	Export    int    // when above 0, also store this many synthetic indicators and export them cold (ExportCold)
	// Federation, when above 0, also measures TAXII paging and a hub-to-hub sync of this many
	// synthetic indicators, once in SQLite and, with Postgres, once in PostgreSQL; see Federation.
	Federation int
}

// Run measures the figures o selects, ATT&CK (bundle, as from Attack) first, and returns them
// in the order Print shows them. It is what `cshub bench` calls.
func Run(ctx context.Context, bundle []byte, o Options) ([]Row, error) {
	if o.Runs < 1 {
		return nil, hub.FieldError("runs", "must be at least 1, not %d", o.Runs)
	}
	for field, n := range map[string]int{"synthetic": o.Synthetic, "correlate": o.Correlate, "match": o.Match, "restart": o.Restart, "export": o.Export, "federation": o.Federation} {
		if n < 0 {
			return nil, hub.FieldError(field, "must not be negative, not %d", n)
		}
	}
	pg := o.Postgres != ""
	// Each step is one optional figure, in the order Print shows them: SQLite first, then
	// PostgreSQL.
	steps := []struct {
		on  bool
		run func() ([]Row, error)
	}{
		{true, func() ([]Row, error) { return Ingest(ctx, o.Dir, bundle, o.Runs) }},
		{o.Synthetic > 0, func() ([]Row, error) { return IngestSyntheticSQLite(ctx, o.Dir, o.Synthetic) }},
		{o.Correlate > 0, func() ([]Row, error) { return Correlate(ctx, o.Dir, o.Correlate, correlateEvent) }},
		{o.Restart > 0, func() ([]Row, error) { return Restart(ctx, o.Dir, o.Restart, RestartEvents) }},
		{o.Match > 0, func() ([]Row, error) { return MatchAPI(ctx, o.Dir, o.Match, 5*time.Second) }},
		{o.Export > 0, func() ([]Row, error) {
			return exportRows(ctx, func() (ExportSource, error) { return ExportStore(ctx, o.Dir, o.Export) })
		}},
		{o.Federation > 0, func() ([]Row, error) { return federationRows(ctx, o.Dir, "", o.Federation) }},
		{pg, func() ([]Row, error) { return IngestPostgres(ctx, o.Postgres, bundle, o.Runs) }},
		{pg && o.Synthetic > 0, func() ([]Row, error) { return IngestSynthetic(ctx, o.Postgres, o.Synthetic) }},
		{pg && o.Federation > 0, func() ([]Row, error) { return federationRows(ctx, o.Dir, o.Postgres, o.Federation) }},
		{pg && o.Export > 0, func() ([]Row, error) {
			return exportRows(ctx, func() (ExportSource, error) { return ExportStorePostgres(ctx, o.Postgres, o.Export) })
		}},
	}
	var rows []Row
	for _, s := range steps {
		if !s.on {
			continue
		}
		more, err := s.run()
		if err != nil {
			return nil, err
		}
		rows = append(rows, more...)
	}
	return rows, nil
}

// federationRows runs Federation and returns its rows.
func federationRows(ctx context.Context, dir, postgres string, n int) ([]Row, error) {
	fig, err := Federation(ctx, dir, postgres, n)
	if err != nil {
		return nil, err
	}
	return fig.Rows(), nil
}

// exportRows builds a store with build and measures cold exports of it in a plain and in the
// slowest rule format.
func exportRows(ctx context.Context, build func() (ExportSource, error)) ([]Row, error) {
	src, err := build()
	if err != nil {
		return nil, err
	}
	var rows []Row
	for _, format := range []string{"text", "suricata"} {
		more, _, err := ExportCold(ctx, src, format)
		if err != nil {
			return nil, err
		}
		rows = append(rows, more...)
	}
	return rows, nil
}

// IngestPostgres measures ingest of bundle into the PostgreSQL database at url, runs times, and
// reports the median of each figure: the full ingest (parse, validate, seal with a real barrier,
// store through PutObjects), and beside it, in the same run, the rows that ingest stored written
// again in the same batches of 1000, once through PutObjects and once through a plain COPY
// (postgres.(*DB).RawCopy). Each store lives in a schema of its own, created for the run and
// dropped after it, so url's database is left as it was found; its user needs the right to
// create schemas. On a server running without autovacuum the benchmark analyses the tables
// itself as they grow (see keepStats), charging the time to the ingest and to PutObjects, not to
// the raw COPY, which plans nothing.
func IngestPostgres(ctx context.Context, url string, bundle []byte, runs int) ([]Row, error) {
	if runs < 1 {
		return nil, hub.FieldError("runs", "must be at least 1, not %d", runs)
	}
	var r pgRates
	for range runs {
		one, err := ingestPostgresOnce(ctx, url, bundle)
		if err != nil {
			return nil, err
		}
		r.add(one)
	}
	return r.rows(fmt.Sprintf("ingest ATT&CK (%d objects, PostgreSQL, sealed)", r.n)), nil
}

// IngestSynthetic measures, once, ingest of n synthetic indicators (SyntheticIndicators with a
// fixed seed) into the PostgreSQL database at url, beside PutObjects and a raw COPY of the same
// rows, as IngestPostgres does for ATT&CK.
func IngestSynthetic(ctx context.Context, url string, n int) ([]Row, error) {
	if n < 1 {
		return nil, hub.FieldError("synthetic", "must be at least 1, not %d", n)
	}
	bundle := SyntheticIndicators(n, syntheticSeed)
	one, err := ingestPostgresOnce(ctx, url, bundle)
	if err != nil {
		return nil, err
	}
	var r pgRates
	r.add(one)
	return r.rows(fmt.Sprintf("ingest %d synthetic indicators (PostgreSQL, sealed)", r.n)), nil
}

// IngestSyntheticSQLite measures, once, ingest of n synthetic indicators into a new SQLite store
// under dir, beside the raw batched insert of the same rows, as Ingest does for ATT&CK.
func IngestSyntheticSQLite(ctx context.Context, dir string, n int) ([]Row, error) {
	if n < 1 {
		return nil, hub.FieldError("synthetic", "must be at least 1, not %d", n)
	}
	bundle := SyntheticIndicators(n, syntheticSeed)
	sealed, objs, err := ingestOnce(ctx, filepath.Join(dir, "synthetic-sealed.db"), bundle, true)
	if err != nil {
		return nil, err
	}
	raw, err := rawInsert(ctx, filepath.Join(dir, "synthetic-raw.db"), objs)
	if err != nil {
		return nil, err
	}
	return []Row{{
		Name: fmt.Sprintf("ingest %d synthetic indicators (SQLite, sealed)", len(objs)), Value: sealed, Unit: "objects/s",
		Baseline: "raw batched insert of the same rows", Base: raw,
	}}, nil
}

// syntheticSeed makes every run of the synthetic benchmark ingest the same bundle.
const syntheticSeed = 20260101

// pgRun is one run's figures, in objects/s.
type pgRun struct {
	n                 int
	ingest, put, copy float64
}

type pgRates struct {
	n                 int
	ingest, put, copy []float64
}

func (r *pgRates) add(one pgRun) {
	r.n = one.n
	r.ingest = append(r.ingest, one.ingest)
	r.put = append(r.put, one.put)
	r.copy = append(r.copy, one.copy)
}

func (r *pgRates) rows(name string) []Row {
	return []Row{
		{Name: name, Value: median(r.ingest), Unit: "objects/s", Baseline: "raw COPY of the same rows, same batches", Base: median(r.copy)},
		{Name: name, Value: median(r.ingest), Unit: "objects/s", Baseline: "PutObjects of the same rows, same batches", Base: median(r.put)},
	}
}

// ingestPostgresOnce ingests bundle into a fresh schema, reads back what it stored, and writes
// that into a second fresh schema with RawCopy and then into a third with PutObjects, one schema
// at a time, each phase after a checkpoint and timed alone. The rows are held in memory
// meanwhile (about 1.5 KB an indicator).
func ingestPostgresOnce(ctx context.Context, base string, bundle []byte) (pgRun, error) {
	var run pgRun
	src, err := openSchema(ctx, base)
	if err != nil {
		return run, err
	}
	defer src.drop()
	b, _, err := sealBench(ctx, src.db)
	if err != nil {
		return run, err
	}
	if err := benchWorkspace(ctx, src.db); err != nil {
		return run, err
	}
	k := kb.New(kb.Config{Store: src.db, Sealer: b})
	checkpoint(ctx, base)
	var statsErr error
	sub := kb.Submission{Org: "bench", Workspace: "bench", Progress: func(p kb.Progress) {
		if statsErr == nil {
			statsErr = src.keepStats(ctx, p.Accepted)
		}
	}}
	start := time.Now()
	sum, err := k.Ingest(ctx, sub, bytes.NewReader(bundle))
	if err != nil {
		return run, err
	}
	elapsed := time.Since(start)
	if statsErr != nil {
		return run, statsErr
	}
	if len(sum.Rejected) > 0 {
		return run, fmt.Errorf("bench: %d objects rejected, first: %s", len(sum.Rejected), sum.Rejected[0].Reason)
	}
	run.n = sum.Accepted
	run.ingest = float64(sum.Accepted) / elapsed.Seconds()

	// Read the stored rows back, in seq order, before timing the baselines, so that reading
	// costs them nothing; then drop the ingest's schema, so they run on a database as empty.
	var objs []*hub.Object
	f := hub.Filter{Viewer: hub.Viewer{System: true}, AllVersions: true, Limit: batchRows}
	for {
		page, err := src.db.ListObjects(ctx, f)
		if err != nil {
			return run, err
		}
		if len(page) == 0 {
			break
		}
		f.AfterSeq = page[len(page)-1].Seq
		objs = append(objs, page...)
	}
	if len(objs) != run.n {
		return run, fmt.Errorf("bench: read back %d rows, ingest stored %d", len(objs), run.n)
	}
	src.drop()

	// Each baseline writes alone, in the batches the ingest committed, after a checkpoint, so
	// that none pays for flushing another's writes.
	raw, err := openSchema(ctx, base)
	if err != nil {
		return run, err
	}
	defer raw.drop()
	if err := benchWorkspace(ctx, raw.db); err != nil {
		return run, err
	}
	checkpoint(ctx, base)
	start = time.Now()
	for batch := range slices.Chunk(objs, batchRows) {
		if err := raw.db.RawCopy(ctx, batch); err != nil {
			return run, err
		}
	}
	run.copy = float64(len(objs)) / time.Since(start).Seconds()
	raw.drop()

	put, err := openSchema(ctx, base)
	if err != nil {
		return run, err
	}
	defer put.drop()
	if err := benchWorkspace(ctx, put.db); err != nil {
		return run, err
	}
	checkpoint(ctx, base)
	start = time.Now()
	stored := 0
	for batch := range slices.Chunk(objs, batchRows) {
		added, err := put.db.PutObjects(ctx, batch, hub.PutOptions{})
		if err != nil {
			return run, err
		}
		if added != len(batch) {
			return run, fmt.Errorf("bench: PutObjects added %d of %d rows", added, len(batch))
		}
		stored += added
		if err := put.keepStats(ctx, stored); err != nil {
			return run, err
		}
	}
	run.put = float64(stored) / time.Since(start).Seconds()
	return run, nil
}

// checkpoint asks the server at url for a checkpoint, so that a measurement that follows does
// not pay for flushing what came before it. It is best effort: a user without the right to
// checkpoint measures without.
func checkpoint(ctx context.Context, url string) {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return
	}
	defer c.Close(ctx)
	c.Exec(ctx, "CHECKPOINT")
}

// batchRows is the size of the batches the baselines write: kb's batch size, so that the
// baselines pay the same per-transaction costs as the ingest.
const batchRows = 1000

// benchWorkspace creates the organisation and workspace the benchmark's objects belong to.
func benchWorkspace(ctx context.Context, st hub.Store) error {
	if err := st.CreateOrg(ctx, &hub.Org{Code: "bench", Name: "Bench", Country: "BE", Kind: hub.OrgMember, Active: true}); err != nil {
		return err
	}
	return st.CreateWorkspace(ctx, &hub.Workspace{Slug: "bench", Kind: hub.WorkspaceCommunity, DefaultTLP: hub.TLPClear, Members: []string{"bench"}})
}

// schemaStore is a store in a schema of its own.
type schemaStore struct {
	db   *postgres.DB
	drop func() // closes the store and drops the schema; only the first call does anything

	// stats is a connection to the schema for keepStats, nil when the server's autovacuum
	// keeps statistics by itself.
	stats     *pgx.Conn
	analyseAt int // keepStats analyses when the store holds this many rows
}

// keepStats stands in for autovacuum's ANALYZE on a server that runs without autovacuum, as test
// servers often do: a table never analysed has no statistics, and the planner then picks for
// PutObjects's latest-version update a plan that sorts the whole table at every batch, so that
// ingest slows down quadratically (700 objects/s at 350,000 rows here, 6,300 after one ANALYZE).
// It analyses the object tables whenever the rows stored have doubled since the last time,
// synchronously, so the benchmark's figure pays for it; stale statistics do no harm, since the
// planner reads the current ends of an indexed range from the index.
func (s *schemaStore) keepStats(ctx context.Context, rows int) error {
	if s.stats == nil || rows < s.analyseAt {
		return nil
	}
	s.analyseAt = 2 * rows
	_, err := s.stats.Exec(ctx, "ANALYZE objects, object_tokens, object_recipients")
	if err != nil {
		return fmt.Errorf("bench: analyse: %w", err)
	}
	return nil
}

// openSchema creates a new schema in the database at base and opens a store in it. drop closes
// the store and drops the schema with everything in it.
func openSchema(ctx context.Context, base string) (*schemaStore, error) {
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return nil, err
	}
	schema := "cshub_bench_" + hex.EncodeToString(suffix[:])
	exec := func(ctx context.Context, stmt string) error {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return &hub.Error{Code: hub.EUnavailable, Field: "store", Message: "connect to PostgreSQL", Err: err}
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("bench: %s: %w", stmt, err)
		}
		return nil
	}
	if err := exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return nil, err
	}
	s := &schemaStore{analyseAt: batchRows}
	drop := func() {
		// The schema goes even when the benchmark was cancelled.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if s.stats != nil {
			s.stats.Close(ctx)
		}
		if s.db != nil {
			s.db.Close()
		}
		exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	}
	var once sync.Once
	s.drop = func() { once.Do(drop) }
	err := s.open(ctx, base, schema)
	if err != nil {
		s.drop()
		return nil, err
	}
	return s, nil
}

func (s *schemaStore) open(ctx context.Context, base, schema string) error {
	u, err := withSearchPath(base, schema)
	if err != nil {
		return err
	}
	if s.db, err = postgres.Open(ctx, u); err != nil {
		return err
	}
	if s.stats, err = pgx.Connect(ctx, u); err != nil {
		return &hub.Error{Code: hub.EUnavailable, Field: "store", Message: "connect to PostgreSQL", Err: err}
	}
	var autovacuum string
	if err := s.stats.QueryRow(ctx, "SHOW autovacuum").Scan(&autovacuum); err != nil {
		return fmt.Errorf("bench: SHOW autovacuum: %w", err)
	}
	if autovacuum == "on" {
		s.stats.Close(ctx)
		s.stats = nil
	}
	return nil
}

// withSearchPath returns the connection string base, in URL or key=value form, with its
// search_path set to schema.
func withSearchPath(base, schema string) (string, error) {
	if !strings.HasPrefix(base, "postgres://") && !strings.HasPrefix(base, "postgresql://") {
		// pgx lets a later key=value pair override an earlier one.
		return base + " search_path=" + schema, nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", &hub.Error{Code: hub.EInvalid, Field: "store", Message: "not a PostgreSQL URL", Err: err}
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
