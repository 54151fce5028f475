package bench

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"time"

	"cshub/internal/bus"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/lookup"
	"cshub/internal/seal"
	"cshub/internal/search"
	"cshub/internal/snapshot"
	"cshub/internal/store/sqlite"
)

// RestartEvents is how many objects `cshub bench --restart` adds while the replica is down.
const RestartEvents = 1000

// Restart measures, once, how long a replica holding n synthetic indicators takes to have its
// matching and search indexes current again when it restarts after events more indicators
// were added: from its snapshots and those events, beside a full rebuild of both indexes from
// the store in the same run. The store is SQLite under dir, sealed; the bus is one in-process
// bus kept across the restart, standing in for the NATS stream replicas resume from (a real
// single-process restart gets a new in-process bus and rebuilds).
func Restart(ctx context.Context, dir string, n, events int) ([]Row, error) {
	if n < 1 || events < 0 {
		return nil, hub.FieldError("restart", "needs at least 1 indicator and no negative event count, not %d and %d", n, events)
	}
	st, err := sqlite.Open(filepath.Join(dir, "restart.db"))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	b, _, err := sealBench(ctx, st)
	if err != nil {
		return nil, err
	}
	if err := benchWorkspace(ctx, st); err != nil {
		return nil, err
	}
	eventBus := bus.New(bus.Options{})
	defer eventBus.Close()
	k := kb.New(kb.Config{Store: st, Sealer: b, Bus: eventBus})
	ingest := func(count int, seed uint64) error {
		sum, err := k.Ingest(ctx, kb.Submission{Org: "bench", Workspace: "bench"}, bytes.NewReader(SyntheticIndicators(count, seed)))
		if err == nil && len(sum.Rejected) > 0 {
			err = fmt.Errorf("bench: %d objects rejected, first: %s", len(sum.Rejected), sum.Rejected[0].Reason)
		}
		return err
	}
	if err := ingest(n, syntheticSeed); err != nil {
		return nil, err
	}
	snapshots := filepath.Join(dir, "snapshots")
	rebuild, err := restartOnce(ctx, k, b, eventBus, snapshots, false)
	if err != nil {
		return nil, err
	}
	if err := ingest(events, syntheticSeed+1); err != nil {
		return nil, err
	}
	resume, err := restartOnce(ctx, k, b, eventBus, snapshots, true)
	if err != nil {
		return nil, err
	}
	return []Row{{
		Name:  fmt.Sprintf("restart, %d indicators: from snapshots + %d events", n, events),
		Value: float64(resume.Milliseconds()), Unit: "ms",
		Baseline: "full rebuild from the store", Base: float64(rebuild.Milliseconds()),
	}}, nil
}

// restartOnce starts a replica's matching and search indexes, saved under dir, and returns how
// long they took to be current to the bus's position, then stops them (saving them). It fails
// unless they resumed from snapshots exactly when resume is set.
func restartOnce(ctx context.Context, k *kb.Service, sealer seal.Sealer, b *bus.Bus, dir string, resume bool) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pos, err := b.Position(ctx)
	if err != nil {
		return 0, err
	}
	config := func(index string) snapshot.Config {
		return snapshot.Config{Path: filepath.Join(dir, index), Sealer: sealer, Bus: b, KB: k}
	}
	start := time.Now()
	lf, err := lookup.New(k, nil).StartSaved(ctx, config("lookup"))
	if err != nil {
		return 0, err
	}
	_, sf, err := search.StartSaved(ctx, config("search"))
	if err != nil {
		return 0, err
	}
	followers := []*snapshot.Follower{lf, sf}
	for _, f := range followers {
		if f.Resumed != resume {
			return 0, fmt.Errorf("bench: restart: resumed %v, want %v (%s)", f.Resumed, resume, f.Why)
		}
		for f.Seq() < pos.Seq {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			time.Sleep(time.Millisecond)
		}
	}
	took := time.Since(start)
	cancel()
	for _, f := range followers {
		f.Wait()
	}
	return took, nil
}
