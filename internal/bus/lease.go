package bus

import (
	"context"
	"sync"
	"time"
)

// Lease implements Leaser for one process: a job is held by at most one caller of this Bus at
// a time. ttl is checked but otherwise unused, since a holder cannot die without its process,
// and with it the bus, dying too. Closing the bus ends every lease.
func (b *Bus) Lease(ctx context.Context, job string, ttl time.Duration) (context.Context, func(), error) {
	if err := CheckLease(job, ttl); err != nil {
		return nil, func() {}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, func() {}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, func() {}, ErrClosed
	}
	if _, ok := b.leases[job]; ok {
		return nil, func() {}, nil
	}
	b.leases[job] = struct{}{}
	held, cancel := context.WithCancel(ctx)
	var once sync.Once
	release := func() {
		once.Do(func() {
			cancel()
			b.mu.Lock()
			delete(b.leases, job)
			b.mu.Unlock()
		})
	}
	go func() {
		select {
		case <-held.Done():
		case <-b.done:
		}
		release()
	}()
	return held, release, nil
}
