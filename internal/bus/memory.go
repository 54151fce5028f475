package bus

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"

	"cshub/internal/bus/internal/closed"
	"cshub/internal/hub"
)

// DefaultRetain is how many events a Bus keeps for replay when Options.Retain is zero.
const DefaultRetain = 100_000

// batch is how many events a subscription copies out of the ring per lock; it bounds the lock
// hold time and lets a subscriber catch up without taking the lock once per event.
const batch = 256

// Options configure an in-process Bus. The zero value is usable.
type Options struct {
	// Retain is how many of the newest events the bus keeps for replay to subscribers that
	// resume from an earlier Seq; DefaultRetain when zero. Memory is taken as events arrive,
	// up to Retain events.
	Retain int
}

// Bus is the in-process hub.Bus: the newest events are kept in a ring of Options.Retain
// events, from which every subscription reads at its own pace.
//
// Publish never waits for subscribers. Each subscription has its own goroutine that copies
// events from the ring and sends them on its channel; a subscriber that reads slowly only
// delays itself. When a subscriber falls so far behind that the ring overwrites an event it
// has not yet been sent, its channel is closed after the events it was already sent, and Err
// reports ErrGap: resubscribing from the last Seq it read would return ErrGap too, since
// those events are gone, so it must rebuild from the store.
//
// Bus also implements Leaser for a single process. A Bus is safe for concurrent use.
type Bus struct {
	id      string // the stream identity in Position: each Bus, so each process, is its own stream
	retain  uint64
	done    chan struct{} // closed by Close
	reasons closed.Reasons
	subs    sync.WaitGroup // subscription goroutines

	mu      sync.Mutex
	ring    []hub.Event // event Seq s is at ring[(s-1)%retain]; guarded by mu
	last    uint64      // Seq of the newest event, 0 before the first; guarded by mu
	wake    chan struct{}
	waiting bool                // a subscription waits on wake, so Publish must close it; guarded by mu
	closed  bool                // guarded by mu
	leases  map[string]struct{} // jobs whose lease is held; guarded by mu
}

// New returns an empty in-process bus.
func New(opts Options) *Bus {
	retain := opts.Retain
	if retain <= 0 {
		retain = DefaultRetain
	}
	return &Bus{
		id:     "memory:" + rand.Text(),
		retain: uint64(retain),
		done:   make(chan struct{}),
		wake:   make(chan struct{}),
		leases: make(map[string]struct{}),
	}
}

// first returns the Seq of the oldest retained event; last+1 when none is. b.mu must be held.
func (b *Bus) first() uint64 {
	if b.last < b.retain {
		return 1
	}
	return b.last - b.retain + 1
}

// Publish assigns e the next Seq, keeps it for replay and wakes the subscriptions; it does not
// wait for any of them. Recipients is copied; subscribers receive events that share it and
// must not modify it. An invalid event is a hub.EInvalid error (see CheckEvent); a closed bus
// returns ErrClosed.
func (b *Bus) Publish(ctx context.Context, e hub.Event) (uint64, error) {
	if err := CheckEvent(e); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	e.Recipients = slices.Clone(e.Recipients)

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, ErrClosed
	}
	b.last++
	e.Seq = b.last
	if uint64(len(b.ring)) < b.retain {
		b.ring = append(b.ring, e)
	} else {
		b.ring[(e.Seq-1)%b.retain] = e
	}
	if b.waiting {
		close(b.wake)
		b.wake = make(chan struct{})
		b.waiting = false
	}
	return e.Seq, nil
}

// Position implements Positioner. The stream is this Bus alone: a process that restarts has a
// new in-process bus whose Seqs start again at 1, and a Seq saved from the old one means nothing.
func (b *Bus) Position(ctx context.Context) (Position, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return Position{}, ErrClosed
	}
	return Position{Stream: b.id, Seq: b.last}, nil
}

// Subscribe returns a channel that receives, in Seq order and once each, the retained events
// with Seq greater than after and then every event published later, until ctx ends, the bus
// is closed or the subscriber falls behind the retained window; then the channel is closed and
// Err tells why. after 0 means only events published from now on.
//
// Subscribe returns ErrGap (wrapped) when events after after are no longer retained, or when
// after is greater than any Seq the bus assigned (the caller saw another bus); ErrClosed when
// the bus is closed.
func (b *Bus) Subscribe(ctx context.Context, after uint64) (<-chan hub.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	next := after + 1
	switch {
	case after == 0:
		next = b.last + 1
	case after > b.last:
		return nil, fmt.Errorf("%w: after %d, but the newest event is %d", ErrGap, after, b.last)
	case next < b.first():
		return nil, fmt.Errorf("%w: after %d, but the oldest retained event is %d", ErrGap, after, b.first())
	}
	ch := make(chan hub.Event, 16)
	b.subs.Add(1)
	go b.deliver(ctx, ch, next)
	return ch, nil
}

// deliver sends ch the events from Seq next on, and closes ch when the subscription ends.
func (b *Bus) deliver(ctx context.Context, ch chan hub.Event, next uint64) {
	defer b.subs.Done()
	defer close(ch)
	buf := make([]hub.Event, 0, batch)
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			b.reasons.Set(ch, ErrClosed)
			return
		}
		if first := b.first(); next < first {
			b.mu.Unlock()
			b.reasons.Set(ch, fmt.Errorf("%w: the subscriber fell behind: its next event %d was overwritten (oldest retained %d)", ErrGap, next, first))
			return
		}
		if next > b.last {
			wake := b.wake
			b.waiting = true
			b.mu.Unlock()
			select {
			case <-wake:
			case <-ctx.Done():
				return
			case <-b.done:
				b.reasons.Set(ch, ErrClosed)
				return
			}
			continue
		}
		// Events copied while still retained are delivered even if the ring overwrites them
		// before the subscriber reads them: they were not lost to it.
		buf = buf[:0]
		for s := next; s <= b.last && len(buf) < batch; s++ {
			buf = append(buf, b.ring[(s-1)%b.retain])
		}
		b.mu.Unlock()
		for _, e := range buf {
			select {
			case ch <- e:
			case <-ctx.Done():
				return
			case <-b.done:
				b.reasons.Set(ch, ErrClosed)
				return
			}
		}
		next += uint64(len(buf))
	}
}

// Err implements ErrReporter.
func (b *Bus) Err(ch <-chan hub.Event) error {
	return b.reasons.Get(ch)
}

// Close closes every subscription channel, waits until their goroutines have ended, and makes
// later Publish, Subscribe and Lease calls return ErrClosed. Leases held end. Closing a closed
// bus does nothing.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.done)
	b.mu.Unlock()
	b.subs.Wait()
	return nil
}

var (
	_ hub.Bus     = (*Bus)(nil)
	_ Positioner  = (*Bus)(nil)
	_ ErrReporter = (*Bus)(nil)
	_ Leaser      = (*Bus)(nil)
)
