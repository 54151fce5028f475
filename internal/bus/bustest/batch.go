package bustest

import (
	"context"
	"errors"
	"testing"
	"time"

	"cshub/internal/bus"
	"cshub/internal/hub"
)

// RunBatch runs the conformance suite for bus.BatchPublisher as parallel subtests of t, with
// buses from newBus as for Run; each must implement bus.BatchPublisher.
func RunBatch(t *testing.T, newBus func(t *testing.T) hub.Bus) {
	tests := []struct {
		name string
		test func(t *testing.T, b hub.Bus, bp bus.BatchPublisher)
	}{
		{"InOrderExactlyOnce", testBatchInOrder},
		{"MixedWithPublish", testBatchMixed},
		{"Empty", testBatchEmpty},
		{"InvalidPublishesNothing", testBatchInvalid},
		{"Closed", testBatchClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBus(t)
			bp, ok := b.(bus.BatchPublisher)
			if !ok {
				t.Fatalf("%T does not implement bus.BatchPublisher", b)
			}
			tt.test(t, b, bp)
		})
	}
}

// events returns Event(from) to Event(to-1).
func events(from, to int) []hub.Event {
	es := make([]hub.Event, 0, to-from)
	for i := from; i < to; i++ {
		es = append(es, Event(i))
	}
	return es
}

func publishBatch(t testing.TB, bp bus.BatchPublisher, from, to int) []uint64 {
	t.Helper()
	seqs, err := bp.PublishBatch(context.Background(), events(from, to))
	if err != nil {
		t.Fatalf("PublishBatch(Event(%d)…Event(%d)): %v", from, to-1, err)
	}
	if len(seqs) != to-from {
		t.Fatalf("PublishBatch of %d events returned %d seqs", to-from, len(seqs))
	}
	return seqs
}

func testBatchInOrder(t *testing.T, b hub.Bus, bp bus.BatchPublisher) {
	ch := subscribe(t, b, 0)
	const n = 700 // more than natsbus keeps in flight, less than MaxRetained
	seqs := publishBatch(t, bp, 0, n)
	for i := 1; i < n; i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("seqs[%d] = %d after seqs[%d] = %d: want increasing", i, seqs[i], i-1, seqs[i-1])
		}
	}
	check(t, receive(t, b, ch, n), 0, seqs)
	silent(t, ch)
}

func testBatchMixed(t *testing.T, b hub.Bus, bp bus.BatchPublisher) {
	ch := subscribe(t, b, 0)
	seqs := publish(t, b, 0, 3)
	seqs = append(seqs, publishBatch(t, bp, 3, 10)...)
	seqs = append(seqs, publish(t, b, 10, 12)...)
	check(t, receive(t, b, ch, 12), 0, seqs)
	// A subscriber resuming in the middle of a batch gets the rest of it.
	check(t, receive(t, b, subscribe(t, b, seqs[5]), 6), 6, seqs[6:])
}

func testBatchEmpty(t *testing.T, b hub.Bus, bp bus.BatchPublisher) {
	ch := subscribe(t, b, 0)
	if seqs, err := bp.PublishBatch(t.Context(), nil); err != nil || len(seqs) != 0 {
		t.Fatalf("PublishBatch(nil): got %v, %v; want no seqs, no error", seqs, err)
	}
	silent(t, ch)
}

func testBatchInvalid(t *testing.T, b hub.Bus, bp bus.BatchPublisher) {
	ch := subscribe(t, b, 0)
	es := events(0, 5)
	es[3].Kind = "no spaces"
	seqs, err := bp.PublishBatch(t.Context(), es)
	if got, want := hub.ErrorCode(err), hub.EInvalid; got != want {
		t.Fatalf("PublishBatch with an invalid event: got code %q (%v), want %q", got, err, want)
	}
	if got, want := hub.ErrorField(err), "events[3].kind"; got != want {
		t.Errorf("got field %q, want %q", got, want)
	}
	for i, s := range seqs {
		if s != 0 {
			t.Errorf("seqs[%d] = %d, want 0: nothing may be published", i, s)
		}
	}
	silent(t, ch)
}

func testBatchClosed(t *testing.T, b hub.Bus, bp bus.BatchPublisher) {
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := bp.PublishBatch(context.Background(), events(0, 3))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, bus.ErrClosed) {
			t.Errorf("PublishBatch after Close: got %v, want ErrClosed", err)
		}
	case <-time.After(wait):
		t.Fatalf("PublishBatch after Close did not return in %v", wait)
	}
}
