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
	federation := fs.Int("federation", 0, "also page over TAXII through, and sync between two local hubs, `N` synthetic indicators (SQLite)")
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
	rows, err := bench.Run(ctx, bundle, bench.Options{Dir: dir, Runs: *runs, Postgres: *store, Synthetic: *synthetic, Federation: *federation})
	if err != nil {
		return err
	}
	return bench.Print(e.stdout, rows)
}
