package bus

import (
	"context"
	"fmt"
	"slices"

	"cshub/internal/hub"
)

// BatchPublisher is implemented by buses that publish many events faster together than one at
// a time: one lock for the in-process bus, pipelined acknowledgements for NATS JetStream. An
// ingest that stores thousands of objects in one transaction announces them with one call.
type BatchPublisher interface {
	// PublishBatch publishes events in order and returns once the bus has accepted every one
	// of them, or has failed. seqs has one entry per event: the Seq the bus assigned to
	// events[i], or 0 when events[i] was not acknowledged (after an error it may still have
	// been stored, and may still reach subscribers). Seqs increase along the batch, but
	// another publisher's events may come between them. With an error, every non-zero entry
	// of seqs is an event the bus accepted. An invalid event is a hub.EInvalid error naming
	// its field and index, returned before anything is published; a closed bus returns
	// ErrClosed.
	PublishBatch(ctx context.Context, events []hub.Event) (seqs []uint64, err error)
}

// PublishBatch publishes events on b with b's PublishBatch when b is a BatchPublisher, and
// otherwise with one Publish per event, stopping at the first error. The result is as
// BatchPublisher.PublishBatch describes.
func PublishBatch(ctx context.Context, b hub.Bus, events []hub.Event) ([]uint64, error) {
	if bp, ok := b.(BatchPublisher); ok {
		return bp.PublishBatch(ctx, events)
	}
	seqs := make([]uint64, len(events))
	if err := CheckEvents(events); err != nil {
		return seqs, err
	}
	for i, e := range events {
		seq, err := b.Publish(ctx, e)
		if err != nil {
			return seqs, err
		}
		seqs[i] = seq
	}
	return seqs, nil
}

// CheckEvents applies CheckEvent to every event and returns the first error, with the field
// prefixed by the event's index ("events[3].kind").
func CheckEvents(events []hub.Event) error {
	for i, e := range events {
		if err := CheckEvent(e); err != nil {
			return &hub.Error{Code: hub.EInvalid, Field: fmt.Sprintf("events[%d].%s", i, hub.ErrorField(err)),
				Message: hub.ErrorMessage(err)}
		}
	}
	return nil
}

// PublishBatch implements BatchPublisher: the events are given consecutive Seqs under one lock,
// so no other publisher's event comes between them, and the subscriptions are woken once.
func (b *Bus) PublishBatch(ctx context.Context, events []hub.Event) ([]uint64, error) {
	seqs := make([]uint64, len(events))
	if err := CheckEvents(events); err != nil {
		return seqs, err
	}
	if err := ctx.Err(); err != nil {
		return seqs, err
	}
	copies := make([]hub.Event, len(events))
	for i, e := range events {
		e.Recipients = slices.Clone(e.Recipients)
		copies[i] = e
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return seqs, ErrClosed
	}
	for i, e := range copies {
		b.last++
		e.Seq = b.last
		if uint64(len(b.ring)) < b.retain {
			b.ring = append(b.ring, e)
		} else {
			b.ring[(e.Seq-1)%b.retain] = e
		}
		seqs[i] = e.Seq
	}
	if len(copies) > 0 && b.waiting {
		close(b.wake)
		b.wake = make(chan struct{})
		b.waiting = false
	}
	return seqs, nil
}

var _ BatchPublisher = (*Bus)(nil)
