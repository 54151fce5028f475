package main

import (
	"context"
	"fmt"
	"os"

	"cshub/internal/bench"
)

func runBench(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "bench")
	runs := fs.Int("runs", 3, "repeat each measurement `N` times and report the median")
	store := fs.String("store", "", "also measure ingest into the PostgreSQL database at `URL`, in schemas of its own dropped after")
	synthetic := fs.Int("synthetic", 0, "also ingest `N` synthetic indicators, once into each store")
	correlate := fs.Int("correlate", 1_000_000, "correlate a new 10,000-value event against a store of `N` values, and recorrelate them all (0: skip)")
	match := fs.Int("match", 20_000, "measure POST /api/v1/match over loopback against a hub of `N` synthetic indicators (0: skip)")
	restart := fs.Int("restart", 0, "also time a replica's restart holding `N` indicators: from its snapshots and 1,000 events, beside a full rebuild")
	federation := fs.Int("federation", 0, "also page over TAXII through, and sync between two local hubs, `N` synthetic indicators (SQLite, and PostgreSQL with --store)")
	exportN := fs.Int("export", 0, "also store `N` synthetic indicators in SQLite and export them cold, as `cshub export` does")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *runs < 1 {
		return fmt.Errorf("--runs must be at least 1")
	}
	dir, err := os.MkdirTemp("", "cshub-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bundle, err := bench.Attack()
	if err != nil {
		return err
	}
	rows, err := bench.Run(ctx, bundle, bench.Options{Dir: dir, Runs: *runs, Postgres: *store, Synthetic: *synthetic, Correlate: *correlate, Match: *match, Restart: *restart, Export: *exportN, Federation: *federation})
	if err != nil {
		return err
	}
	return bench.Print(e.stdout, rows)
}
