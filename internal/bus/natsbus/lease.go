package natsbus

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"cshub/internal/bus"
)

// Lease implements bus.Leaser with a JetStream key-value bucket whose entries expire ttl after
// they were last written: the lease is the key job, taken with Create (which only succeeds
// when the key is absent or deleted), renewed every ttl/3 with Update at the revision the
// holder wrote last (which fails once another holder has written it), and given up with a
// Delete at that revision. Because the server's clock alone decides when a silent holder's key
// expires, each distinct ttl has a bucket of its own, "<LeaseBucket>_<ttl in ms>".
//
// A holder that cannot renew (the server is unreachable, or the key changed hands) ends held
// no later than ttl after it sent its last successful renewal, which is before the server can
// let the key expire, so two replicas never both believe they hold a job.
func (b *Bus) Lease(ctx context.Context, job string, ttl time.Duration) (context.Context, func(), error) {
	nop := func() {}
	if err := bus.CheckLease(job, ttl); err != nil {
		return nil, nop, err
	}
	if b.ctx.Err() != nil {
		return nil, nop, bus.ErrClosed
	}
	ttl = ttl.Truncate(time.Millisecond)
	kv, err := b.bucket(ctx, ttl)
	if err != nil {
		return nil, nop, err
	}
	taken := time.Now()
	rev, err := kv.Create(ctx, job, b.holder)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return nil, nop, nil
	}
	if err != nil {
		return nil, nop, fmt.Errorf("natsbus: taking lease %s: %w", job, err)
	}

	held, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(b.ctx, cancel)
	if !b.start() {
		cancel()
		stop()
		b.giveUp(kv, job, rev)
		return nil, nop, bus.ErrClosed
	}
	done := make(chan struct{})
	go func() {
		defer b.running.Done()
		defer close(done)
		defer stop()
		defer cancel()
		if rev, lost := b.renew(held, kv, job, ttl, rev, taken); !lost {
			b.giveUp(kv, job, rev)
		}
	}()
	release := func() {
		cancel()
		<-done
	}
	return held, release, nil
}

// renew keeps the lease on job, written at revision rev at the time taken, until ctx ends or
// the lease is lost. It returns the last revision written and whether the lease was lost.
func (b *Bus) renew(ctx context.Context, kv jetstream.KeyValue, job string, ttl time.Duration, rev uint64, taken time.Time) (uint64, bool) {
	deadline := taken.Add(ttl)
	expire := time.NewTimer(time.Until(deadline))
	defer expire.Stop()
	tick := time.NewTicker(ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return rev, false
		case <-expire.C:
			b.log.Warn("natsbus: lease lost: not renewed in time", "job", job, "ttl", ttl)
			return rev, true
		case <-tick.C:
		}
		sent := time.Now()
		uctx, ucancel := context.WithDeadline(ctx, deadline)
		r, err := kv.Update(uctx, job, b.holder, rev)
		ucancel()
		switch {
		case err == nil:
			rev, deadline = r, sent.Add(ttl)
			expire.Reset(time.Until(deadline))
		case ctx.Err() != nil:
			return rev, false
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyExists):
			b.log.Warn("natsbus: lease lost to another holder", "job", job, "err", err)
			return rev, true
		default:
			// The expire timer ends the lease if no retry succeeds in time.
			b.log.Info("natsbus: lease renewal failed; retrying", "job", job, "err", err)
		}
	}
}

// giveUp deletes the lease on job if it is still at revision rev, so that another replica may
// take it at once instead of after the ttl. It is best effort: a lease left behind expires.
func (b *Bus) giveUp(kv jetstream.KeyValue, job string, rev uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := kv.Delete(ctx, job, jetstream.LastRevision(rev)); err != nil {
		b.log.Info("natsbus: releasing lease", "job", job, "err", err)
	}
}

// bucket returns the lease bucket for ttl, creating it or bringing its configuration up to
// date the first time this bus asks for it.
func (b *Bus) bucket(ctx context.Context, ttl time.Duration) (jetstream.KeyValue, error) {
	b.mu.Lock()
	kv := b.buckets[ttl]
	b.mu.Unlock()
	if kv != nil {
		return kv, nil
	}
	name := fmt.Sprintf("%s_%dms", b.opts.LeaseBucket, ttl.Milliseconds())
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      name,
		Description: "cshub leases of scheduled jobs with ttl " + ttl.String(),
		History:     1,
		TTL:         ttl,
		Storage:     jetstream.FileStorage,
		Replicas:    b.opts.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: lease bucket %s: %w", name, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buckets[ttl] = kv
	return kv, nil
}

// holderID names this bus as the holder of its leases, for people reading the bucket.
func holderID() []byte {
	host, _ := os.Hostname()
	return fmt.Appendf(nil, "%s/%d/%s", host, os.Getpid(), rand.Text()[:8])
}
