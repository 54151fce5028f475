package bus_test

import (
	"errors"
	"testing"
	"time"

	"cshub/internal/bus"
	"cshub/internal/bus/bustest"
	"cshub/internal/hub"
)

func newBus(t *testing.T) hub.Bus {
	b := bus.New(bus.Options{Retain: bustest.MaxRetained})
	t.Cleanup(func() { b.Close() })
	return b
}

func TestBus(t *testing.T) {
	bustest.Run(t, newBus)
}

func TestLeaser(t *testing.T) {
	bustest.RunLeaser(t, func(t *testing.T) bus.Leaser {
		b := bus.New(bus.Options{})
		t.Cleanup(func() { b.Close() })
		return b
	})
}

// TestSlowSubscriberGap pins the in-process bus's own rule, which the suite leaves open: a
// subscriber that lets the ring overwrite an event it was not yet sent is closed with ErrGap.
func TestSlowSubscriberGap(t *testing.T) {
	b := bus.New(bus.Options{Retain: 10})
	defer b.Close()
	ch, err := b.Subscribe(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		if _, err := b.Publish(t.Context(), bustest.Event(i)); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			<-ch // so that the subscriber has a Seq to resume from
		}
	}
	last := uint64(1)
	timeout := time.After(5 * time.Second)
	for open := true; open; {
		select {
		case e, ok := <-ch:
			if open = ok; ok {
				if e.Seq != last+1 {
					t.Fatalf("got Seq %d after %d", e.Seq, last)
				}
				last = e.Seq
			}
		case <-timeout:
			t.Fatal("slow subscription not closed")
		}
	}
	if last == 2000 {
		t.Fatal("slow subscriber got every event from a 10-event ring")
	}
	if err := bus.Err(b, ch); !errors.Is(err, bus.ErrGap) {
		t.Fatalf("bus.Err: got %v, want ErrGap", err)
	}
	if _, err := b.Subscribe(t.Context(), last); !errors.Is(err, bus.ErrGap) {
		t.Fatalf("resubscribe after %d: got %v, want ErrGap", last, err)
	}
}

// TestDefaultRetain checks that the zero Options keep DefaultRetain events, and no more.
func TestDefaultRetain(t *testing.T) {
	b := bus.New(bus.Options{})
	defer b.Close()
	ctx := t.Context()
	publish := func(n int) {
		for range n {
			if _, err := b.Publish(ctx, hub.Event{Kind: hub.EventObject}); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(bus.DefaultRetain + 1) // Seq 1 is gone, 2 is the oldest retained
	if _, err := b.Subscribe(ctx, 1); err != nil {
		t.Errorf("Subscribe(after 1) with Seq 2 retained: %v", err)
	}
	publish(1)
	if _, err := b.Subscribe(ctx, 1); !errors.Is(err, bus.ErrGap) {
		t.Errorf("Subscribe(after 1) with Seq 3 the oldest: got %v, want ErrGap", err)
	}
}

func BenchmarkBus(b *testing.B) {
	bustest.Benchmark(b, func(b *testing.B) hub.Bus {
		bb := bus.New(bus.Options{})
		b.Cleanup(func() { bb.Close() })
		return bb
	})
}

func TestBatch(t *testing.T) {
	bustest.RunBatch(t, newBus)
}

func BenchmarkPublish(b *testing.B) {
	bustest.BenchmarkPublish(b, func(b *testing.B) hub.Bus {
		bs := bus.New(bus.Options{})
		b.Cleanup(func() { bs.Close() })
		return bs
	})
}
