package natsbus

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"cshub/internal/bus"
	"cshub/internal/hub"
)

// inFlight bounds how many events of one PublishBatch await their acknowledgement at once: far
// more than enough to hide the round trip, and far below the client's limit on pending
// asynchronous publishes (4,000), which concurrent batches share.
const inFlight = 256

// asyncAckTimeout is how long an asynchronous publish waits for its acknowledgement before it
// fails, so that a batch whose messages were lost with a connection does not wait for ever.
const asyncAckTimeout = 10 * time.Second

// encode returns e as it is stored in the stream.
func encode(e hub.Event) ([]byte, error) {
	data, err := json.Marshal(wireEvent{
		Kind: e.Kind, ObjectID: e.ObjectID, ObjectSeq: e.ObjectSeq, Type: e.Type,
		Workspace: e.Workspace, Author: e.Author, TLP: e.TLP, Recipients: e.Recipients, Time: e.Time,
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: encoding event: %w", err)
	}
	return data, nil
}

// PublishBatch implements bus.BatchPublisher with JetStream asynchronous publishing: events
// are sent without waiting, up to inFlight of them ahead of their acknowledgements, and it
// returns once every event sent was acknowledged or failed. After the first failure no more
// events are sent, but the acknowledgements of those already sent are still awaited, so that
// seqs names every event known to be stored. When ctx ends, it stops waiting at once.
//
// Events of one batch are stored in order unless the server was briefly unreachable and the
// client retried some of them.
func (b *Bus) PublishBatch(ctx context.Context, events []hub.Event) ([]uint64, error) {
	seqs := make([]uint64, len(events))
	if err := bus.CheckEvents(events); err != nil {
		return seqs, err
	}
	if b.ctx.Err() != nil {
		return seqs, bus.ErrClosed
	}
	futures := make([]jetstream.PubAckFuture, len(events))
	var firstErr error
	fail := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	// await waits for the acknowledgement of events[i]; it reports false when waiting must
	// stop altogether.
	await := func(i int) bool {
		select {
		case ack := <-futures[i].Ok():
			seqs[i] = ack.Sequence
		case err := <-futures[i].Err():
			fail(fmt.Errorf("natsbus: publishing %s event %d of %d: %w", events[i].Kind, i+1, len(events), err))
		case <-ctx.Done():
			fail(ctx.Err())
			return false
		case <-b.ctx.Done():
			fail(bus.ErrClosed)
			return false
		}
		return true
	}

	sent, acked := 0, 0
	for i, e := range events {
		if firstErr != nil {
			break
		}
		if i-acked >= inFlight {
			if !await(acked) {
				return seqs, firstErr
			}
			acked++
			if firstErr != nil {
				break
			}
		}
		data, err := encode(e)
		if err != nil {
			fail(err)
			break
		}
		f, err := b.js.PublishAsync(b.subject+e.Kind, data, jetstream.WithExpectStream(b.opts.Stream))
		if err != nil {
			if b.ctx.Err() != nil {
				err = bus.ErrClosed
			}
			fail(fmt.Errorf("natsbus: publishing %s event %d of %d: %w", e.Kind, i+1, len(events), err))
			break
		}
		futures[i] = f
		sent++
	}
	for ; acked < sent; acked++ {
		if !await(acked) {
			break
		}
	}
	return seqs, firstErr
}
