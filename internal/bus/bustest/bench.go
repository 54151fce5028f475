package bustest

import (
	"context"
	"sync"
	"testing"
	"time"

	"cshub/internal/bus"
	"cshub/internal/hub"
)

// Benchmark measures how many events per second go through a bus from Publish to a
// subscriber's channel, with one publisher and with four concurrent ones; it reports
// events/s. Publishers stay at most window events ahead of the subscriber, as a subscriber
// that keeps up would see them, so the rate is one the bus can sustain. newBus must return a
// new bus for each call, retaining at least window events.
func Benchmark(b *testing.B, newBus func(b *testing.B) hub.Bus) {
	for _, publishers := range []int{1, 4} {
		b.Run(map[int]string{1: "Publisher1", 4: "Publishers4"}[publishers], func(b *testing.B) {
			benchmark(b, newBus(b), publishers)
		})
	}
}

// window is how many events publishers may be ahead of the subscriber in Benchmark.
const window = 10_000

func benchmark(b *testing.B, bus hub.Bus, publishers int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := bus.Subscribe(ctx, 0)
	if err != nil {
		b.Fatal(err)
	}
	e := Event(5)                        // TLP:RED, with recipients: the largest
	ahead := make(chan struct{}, window) // one token per event published and not yet received
	received := make(chan int)
	go func() {
		n := 0
		for range ch {
			<-ahead
			if n++; n == b.N {
				break
			}
		}
		received <- n
	}()

	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := p; i < b.N; i += publishers {
				ahead <- struct{}{}
				if _, err := bus.Publish(ctx, e); err != nil {
					b.Errorf("Publish: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	var n int
	select {
	case n = <-received:
	case <-time.After(time.Minute):
		b.Fatal("subscriber did not get every event in a minute")
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if n != b.N {
		b.Fatalf("subscriber got %d of %d events", n, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}

// BatchSize is the batch size BenchmarkPublish compares with one Publish per event: the batch
// in which package kb stores and announces objects.
const BatchSize = 1000

// BenchmarkPublish measures how many events per second a publisher gets accepted by a bus, one
// Publish per event ("One") and BatchSize events per bus.PublishBatch ("Batch1000"), and
// reports events/s. newBus must return a new bus for each call, implementing
// bus.BatchPublisher or not (bus.PublishBatch then falls back to Publish).
func BenchmarkPublish(b *testing.B, newBus func(b *testing.B) hub.Bus) {
	e := Event(5)
	b.Run("One", func(b *testing.B) {
		bs := newBus(b)
		ctx := context.Background()
		start := time.Now()
		for range b.N {
			if _, err := bs.Publish(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	})
	b.Run("Batch1000", func(b *testing.B) {
		bs := newBus(b)
		ctx := context.Background()
		batch := make([]hub.Event, BatchSize)
		for i := range batch {
			batch[i] = e
		}
		start := time.Now()
		for n := 0; n < b.N; n += BatchSize {
			if _, err := bus.PublishBatch(ctx, bs, batch[:min(BatchSize, b.N-n)]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	})
}
