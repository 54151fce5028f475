package natsbus

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"cshub/internal/bus"
	"cshub/internal/bus/bustest"
	"cshub/internal/hub"
)

// natsURL returns the test server's URL, or skips the test when none is configured.
func natsURL(t testing.TB) string {
	url := os.Getenv("CSHUB_TEST_NATS")
	if url == "" {
		t.Skip("CSHUB_TEST_NATS is not set (e.g. nats://127.0.0.1:4222): skipping the NATS JetStream tests")
	}
	return url
}

// TestMain keeps one small stream on the test server for good. nats-server 2.9 removes the
// account's storage directory when its last stream is deleted, and a stream created at that
// moment fails with "error creating store for stream"; parallel tests that each delete their
// own stream hit that, unless some stream always remains.
func TestMain(m *testing.M) {
	if url := os.Getenv("CSHUB_TEST_NATS"); url != "" {
		if err := keepAnchor(url); err != nil {
			fmt.Fprintln(os.Stderr, "natsbus: creating the anchor stream:", err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

func keepAnchor(url string) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        "CSHUB_TEST_ANCHOR",
		Description: "kept so that tests deleting their streams never leave the account without one",
		Subjects:    []string{"cshubtest.anchor"},
		Storage:     jetstream.FileStorage,
		MaxMsgs:     1,
	})
	return err
}

// testOptions returns Options with a stream, subject prefix and lease buckets of their own,
// and deletes them when the test ends, after the buses of the test are closed.
func testOptions(t testing.TB, url string) Options {
	id := "T" + rand.Text()[:10]
	opts := Options{
		Stream:      "CSHUB_TEST_" + id,
		Prefix:      "cshubtest." + id,
		MaxMsgs:     bustest.MaxRetained,
		LeaseBucket: "CSHUB_TEST_LEASES_" + id,
	}
	t.Cleanup(func() {
		nc, err := nats.Connect(url)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		names := js.StreamNames(ctx)
		var doomed []string
		for name := range names.Name() {
			if name == opts.Stream || strings.HasPrefix(name, "KV_"+opts.LeaseBucket+"_") {
				doomed = append(doomed, name)
			}
		}
		if err := names.Err(); err != nil {
			t.Errorf("cleanup: listing streams: %v", err)
		}
		for _, name := range doomed {
			if err := js.DeleteStream(ctx, name); err != nil {
				t.Errorf("cleanup: deleting stream %s: %v", name, err)
			}
		}
	})
	return opts
}

// open opens a bus that is closed when the test ends.
func open(t testing.TB, url string, opts Options) *Bus {
	t.Helper()
	b, err := Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestBus(t *testing.T) {
	url := natsURL(t)
	bustest.Run(t, func(t *testing.T) hub.Bus {
		return open(t, url, testOptions(t, url))
	})
}

func TestLeaser(t *testing.T) {
	url := natsURL(t)
	bustest.RunLeaser(t, func(t *testing.T) bus.Leaser {
		return open(t, url, testOptions(t, url))
	})
}

// TestTwoClients shows events crossing from one connection to another, as between replicas,
// and a subscriber resuming from its last Seq on a new subscription.
func TestTwoClients(t *testing.T) {
	url := natsURL(t)
	opts := testOptions(t, url)
	pub, sub := open(t, url, opts), open(t, url, opts)
	ctx := t.Context()

	sctx, cancel := context.WithCancel(ctx)
	ch, err := sub.Subscribe(sctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for i := range 5 {
		seq, err := pub.Publish(ctx, bustest.Event(i))
		if err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-ch:
			if e.Seq != seq || e.ObjectID != bustest.Event(i).ObjectID {
				t.Fatalf("got Seq %d %s, want Seq %d %s", e.Seq, e.ObjectID, seq, bustest.Event(i).ObjectID)
			}
			last = e.Seq
		case <-time.After(time.Second):
			t.Fatalf("event %d (Seq %d) not received on the other connection within 1s", i, seq)
		}
	}
	cancel() // the subscriber goes away...

	var missed []uint64 // ...while events go on
	for i := 5; i < 10; i++ {
		seq, err := pub.Publish(ctx, bustest.Event(i))
		if err != nil {
			t.Fatal(err)
		}
		missed = append(missed, seq)
	}

	ch, err = sub.Subscribe(ctx, last)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range missed {
		select {
		case e := <-ch:
			if e.Seq != want || e.ObjectID != bustest.Event(5+i).ObjectID {
				t.Fatalf("resumed: got Seq %d %s, want Seq %d %s", e.Seq, e.ObjectID, want, bustest.Event(5+i).ObjectID)
			}
		case <-time.After(time.Second):
			t.Fatalf("resumed: missed event Seq %d not received within 1s", want)
		}
	}
	select {
	case e := <-ch:
		t.Fatalf("resumed: got extra event Seq %d", e.Seq)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestLeaseHolderDies shows a replica taking over a job after the holder's connection is
// lost, no sooner than the holder stops believing it holds it.
func TestLeaseHolderDies(t *testing.T) {
	url := natsURL(t)
	opts := testOptions(t, url)
	a, b := open(t, url, opts), open(t, url, opts)
	const ttl = time.Second

	heldA, releaseA, err := a.Lease(t.Context(), "feeds", ttl)
	if err != nil || heldA == nil {
		t.Fatalf("a.Lease: held %v, err %v", heldA != nil, err)
	}
	defer releaseA()
	// a renews: after twice the ttl it still holds the job.
	time.Sleep(2 * ttl)
	if heldA.Err() != nil {
		t.Fatal("a lost a lease it kept renewing")
	}
	if held, _, err := b.Lease(t.Context(), "feeds", ttl); err != nil || held != nil {
		t.Fatalf("b.Lease while a holds it: held %v, err %v", held != nil, err)
	}

	a.nc.Close() // a dies without releasing
	died := time.Now()
	for {
		held, release, err := b.Lease(t.Context(), "feeds", ttl)
		if err != nil {
			t.Fatal(err)
		}
		if held != nil {
			defer release()
			break
		}
		if time.Since(died) > ttl+5*time.Second {
			t.Fatalf("b did not take the lease %v after a died", time.Since(died))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("b took the lease %v after a died", time.Since(died).Round(time.Millisecond))
	// a stops at its deadline, before the server lets the key expire; the slack is for a
	// busy scheduler only.
	select {
	case <-heldA.Done():
	case <-time.After(250 * time.Millisecond):
		t.Fatal("b took the lease while a still believed it held it")
	}
}

// TestOpenIdempotent shows that every replica may Open the same stream, and that a changed
// limit updates it.
func TestOpenIdempotent(t *testing.T) {
	url := natsURL(t)
	opts := testOptions(t, url)
	open(t, url, opts)
	opts.MaxMsgs = 500
	b := open(t, url, opts)
	s, err := b.js.Stream(t.Context(), opts.Stream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	if got, want := cfg.MaxMsgs, int64(500); got != want {
		t.Errorf("MaxMsgs: got %d, want %d", got, want)
	}
	if got, want := cfg.Storage, jetstream.FileStorage; got != want {
		t.Errorf("Storage: got %v, want %v", got, want)
	}
	if got, want := cfg.Subjects, []string{opts.Prefix + ".events.>"}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("Subjects: got %q, want %q", got, want)
	}
}

// TestPublishSubject checks the subject and the stored JSON, which other tools may read.
func TestPublishSubject(t *testing.T) {
	url := natsURL(t)
	opts := testOptions(t, url)
	b := open(t, url, opts)
	seq, err := b.Publish(t.Context(), bustest.Event(5))
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.js.Stream(t.Context(), opts.Stream)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.GetMsg(t.Context(), seq)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := msg.Subject, opts.Prefix+".events."+bustest.Event(5).Kind; got != want {
		t.Errorf("subject: got %q, want %q", got, want)
	}
	want := `{"kind":"` + bustest.Event(5).Kind + `","object_id":"indicator--00000000-0000-4000-8000-000000000005","object_seq":1005,"type":"indicator","workspace":"ws-2","author":"CERT-5","tlp":"red","recipients":["CERT-A","CERT-B"],"time":"2026-11-22T12:00:00.005Z"}`
	if got := string(msg.Data); got != want {
		t.Errorf("data:\ngot  %s\nwant %s", got, want)
	}
}

func TestOpenInvalid(t *testing.T) {
	tests := []struct {
		opts  Options
		field string
	}{
		{Options{Stream: "a.b"}, "stream"},
		{Options{Prefix: "cshub.*"}, "prefix"},
		{Options{Prefix: "cshub..x"}, "prefix"},
		{Options{LeaseBucket: "x y"}, "lease_bucket"},
		{Options{MaxAge: -time.Second}, "max_age"},
		{Options{MaxMsgs: -1}, "max_msgs"},
	}
	for _, tt := range tests {
		_, err := Open(t.Context(), "nats://127.0.0.1:1", tt.opts)
		if got, want := hub.ErrorCode(err), hub.EInvalid; got != want {
			t.Errorf("Open(%+v): got code %q (%v), want %q", tt.opts, got, err, want)
		}
		if got := hub.ErrorField(err); got != tt.field {
			t.Errorf("Open(%+v): got field %q, want %q", tt.opts, got, tt.field)
		}
	}
}

func TestOpenUnavailable(t *testing.T) {
	_, err := Open(t.Context(), "nats://127.0.0.1:1", Options{})
	if got, want := hub.ErrorCode(err), hub.EUnavailable; got != want {
		t.Fatalf("Open with no server: got code %q (%v), want %q", got, err, want)
	}
}

func BenchmarkBus(b *testing.B) {
	url := natsURL(b)
	bustest.Benchmark(b, func(b *testing.B) hub.Bus {
		opts := testOptions(b, url)
		opts.MaxMsgs = 0 // the default keeps every event of a run
		return open(b, url, opts)
	})
}

func TestBatch(t *testing.T) {
	url := natsURL(t)
	bustest.RunBatch(t, func(t *testing.T) hub.Bus {
		return open(t, url, testOptions(t, url))
	})
}

func BenchmarkPublish(b *testing.B) {
	url := natsURL(b)
	bustest.BenchmarkPublish(b, func(b *testing.B) hub.Bus {
		opts := testOptions(b, url)
		opts.MaxMsgs = 0 // the default keeps every event of a run
		return open(b, url, opts)
	})
}
