package schedule_test

import (
	"context"
	"crypto/rand"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"cshub/internal/bus"
	"cshub/internal/bus/natsbus"
	"cshub/internal/schedule"
)

// replica is one replica's scheduler of the job under test: it counts its runs.
type replica struct {
	runs   atomic.Int64
	cancel context.CancelFunc
}

// testOneAtATime starts the same job on two replicas (leasers a and b), proves that the runs
// never overlap and that only one replica runs while both live, then stops the runner and
// proves the other takes the job over.
func testOneAtATime(t *testing.T, a, b bus.Leaser) {
	job := "test-" + rand.Text()[:8]
	var running, overlaps atomic.Int64
	start := func(l bus.Leaser) *replica {
		r := &replica{}
		ctx, cancel := context.WithCancel(context.Background())
		r.cancel = cancel
		t.Cleanup(cancel)
		schedule.Every(ctx, l, job, 20*time.Millisecond, func(ctx context.Context) error {
			if running.Add(1) > 1 {
				overlaps.Add(1)
			}
			defer running.Add(-1)
			r.runs.Add(1)
			time.Sleep(2 * time.Millisecond)
			return nil
		}, nil)
		return r
	}
	ra, rb := start(a), start(b)
	waitFor(t, func() bool { return ra.runs.Load()+rb.runs.Load() >= 10 })
	leader, other := ra, rb
	if rb.runs.Load() > ra.runs.Load() {
		leader, other = rb, ra
	}
	if n := other.runs.Load(); n != 0 {
		t.Fatalf("both replicas ran the job (%d and %d runs)", leader.runs.Load(), n)
	}
	leader.cancel()
	waitFor(t, func() bool { return other.runs.Load() >= 3 })
	if n := overlaps.Load(); n != 0 {
		t.Errorf("%d runs overlapped another replica's", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOneReplicaAtATimeInProcess(t *testing.T) {
	b := bus.New(bus.Options{})
	defer b.Close()
	testOneAtATime(t, b, b)
}

func TestOneReplicaAtATimeOverNATS(t *testing.T) {
	url := os.Getenv("CSHUB_TEST_NATS")
	if url == "" {
		t.Skip("CSHUB_TEST_NATS is unset: set it to a NATS JetStream URL, e.g. nats://127.0.0.1:4222")
	}
	id := "T" + rand.Text()[:10]
	opts := natsbus.Options{Stream: "CSHUB_TEST_" + id, Prefix: "cshubtest." + id, LeaseBucket: "CSHUB_TEST_LEASES_" + id}
	var buses []*natsbus.Bus
	for range 2 {
		b, err := natsbus.Open(context.Background(), url, opts)
		if err != nil {
			t.Fatal(err)
		}
		buses = append(buses, b)
	}
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, b := range buses {
			wg.Go(func() { b.Close() })
		}
		wg.Wait()
		nc, err := nats.Connect(url)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer nc.Close()
		js, err := nc.JetStream()
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		for name := range js.StreamNames() {
			if name == opts.Stream || len(name) > len("KV_"+opts.LeaseBucket) && name[:len("KV_"+opts.LeaseBucket)] == "KV_"+opts.LeaseBucket {
				js.DeleteStream(name)
			}
		}
	})
	testOneAtATime(t, buses[0], buses[1])
}
