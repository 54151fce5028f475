// Package schedule runs the hub's periodic jobs (feed polls, TAXII peer syncs, exercise clocks)
// so that, however many replicas serve the hub, each job runs on exactly one of them at a time:
// the replica holding the job's lease (see bus.Leaser) runs it, and when that replica dies
// another takes the lease over within the lease's time to live.
package schedule

import (
	"context"
	"log/slog"
	"time"

	"cshub/internal/bus"
)

// maxTTL bounds a job's lease: it is how long a job may stand still after its replica died.
const maxTTL = 15 * time.Second

// Every runs fn now and then every interval, under job's lease, until ctx ends; it returns at
// once. fn gets a context that ends when the lease is lost or ctx ends, and should stop then.
// An error from fn is logged and the job carries on at the next tick: a feed that is down now
// may be up in an hour. A replica without the lease tries again every half lease time, so the
// job moves to it soon after its holder stops. Every replica must give the same job the same
// interval.
func Every(ctx context.Context, l bus.Leaser, job string, interval time.Duration, fn func(context.Context) error, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ttl := min(max(interval, bus.MinLeaseTTL), maxTTL)
	go func() {
		retry := time.NewTimer(0)
		defer retry.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-retry.C:
			}
			held, release, err := l.Lease(ctx, job, ttl)
			switch {
			case err != nil:
				if ctx.Err() == nil {
					log.Warn("schedule: lease failed", "job", job, "err", err)
				}
			case held != nil:
				lead(held, job, interval, fn, log)
				release()
			}
			retry.Reset(ttl / 2)
		}
	}()
}

// lead runs fn at each tick while the lease held lasts.
func lead(held context.Context, job string, interval time.Duration, fn func(context.Context) error, log *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if err := fn(held); err != nil && held.Err() == nil {
			log.Warn("schedule: job failed", "job", job, "err", err)
		}
		select {
		case <-held.Done():
			return
		case <-tick.C:
		}
	}
}
