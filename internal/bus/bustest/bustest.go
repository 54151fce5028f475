// Package bustest is the conformance suite that every hub.Bus and bus.Leaser of cshub passes:
// the in-process bus of package bus and the NATS JetStream bus of package bus/natsbus.
package bustest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"cshub/internal/bus"
	"cshub/internal/hub"
)

// MaxRetained is the most events a bus given to Run may retain: Run publishes more than that
// to see old events leave the retained window.
const MaxRetained = 1000

// wait bounds every wait for something that should happen promptly.
const wait = 5 * time.Second

// quiet is how long a subscription must stay silent to show it got no duplicate or extra event.
const quiet = 150 * time.Millisecond

// Run runs the conformance suite for hub.Bus as parallel subtests of t. newBus must return a
// new, empty bus for each call, retaining at most MaxRetained events, and register with
// t.Cleanup whatever must be undone (Close, deleting a stream); the suite also calls Close,
// so closing twice must be harmless.
func Run(t *testing.T, newBus func(t *testing.T) hub.Bus) {
	tests := []struct {
		name string
		test func(t *testing.T, b hub.Bus)
	}{
		{"PublishAssignsIncreasingSeq", testIncreasingSeq},
		{"LiveInOrderExactlyOnce", testLive},
		{"AfterZeroIsOnlyNewEvents", testAfterZero},
		{"ReplayFromAfter", testReplay},
		{"MultipleSubscribers", testMultiple},
		{"CancelClosesChannel", testCancel},
		{"ConcurrentPublishers", testConcurrentPublishers},
		{"GapBehindRetainedWindow", testGapBehind},
		{"GapAheadOfBus", testGapAhead},
		{"SlowSubscriberBlocksNobody", testSlowSubscriber},
		{"InvalidEvent", testInvalid},
		{"PositionIsNewestSeq", testPosition},
		{"Close", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, newBus(t))
		})
	}
}

// Event returns the i-th event of a test: every field set, TLP:RED with recipients for every
// fifth, so that an encoding that drops a field shows.
func Event(i int) hub.Event {
	kinds := []string{hub.EventObject, hub.EventSighting, hub.EventCorrelation, hub.EventCase, hub.EventKeys}
	e := hub.Event{
		Kind:      kinds[i%len(kinds)],
		ObjectID:  fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", i),
		ObjectSeq: int64(1000 + i),
		Type:      "indicator",
		Workspace: "ws-" + fmt.Sprint(i%3),
		Author:    "CERT-" + fmt.Sprint(i%7),
		TLP:       hub.TLPAmber,
		Time:      time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond),
	}
	if i%5 == 0 {
		e.TLP = hub.TLPRed
		e.Recipients = []string{"CERT-A", "CERT-B"}
	}
	return e
}

// sameEvent reports whether got carries what want does, Seq aside.
func sameEvent(got, want hub.Event) bool {
	return got.Kind == want.Kind && got.ObjectID == want.ObjectID && got.ObjectSeq == want.ObjectSeq &&
		got.Type == want.Type && got.Workspace == want.Workspace && got.Author == want.Author &&
		got.TLP == want.TLP && slices.Equal(got.Recipients, want.Recipients) && got.Time.Equal(want.Time)
}

// publish publishes Event(from) to Event(to-1) and returns the Seq of each.
func publish(t testing.TB, b hub.Bus, from, to int) []uint64 {
	t.Helper()
	seqs := make([]uint64, 0, to-from)
	for i := from; i < to; i++ {
		seq, err := b.Publish(context.Background(), Event(i))
		if err != nil {
			t.Fatalf("Publish(Event(%d)): %v", i, err)
		}
		seqs = append(seqs, seq)
	}
	return seqs
}

// subscribe subscribes with a context cancelled at the end of the test.
func subscribe(t testing.TB, b hub.Bus, after uint64) <-chan hub.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := b.Subscribe(ctx, after)
	if err != nil {
		t.Fatalf("Subscribe(after %d): %v", after, err)
	}
	return ch
}

// receive returns the next n events of ch, failing the test if they take too long or ch closes.
func receive(t testing.TB, b hub.Bus, ch <-chan hub.Event, n int) []hub.Event {
	t.Helper()
	got := make([]hub.Event, 0, n)
	timeout := time.After(wait)
	for len(got) < n {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed after %d of %d events; bus.Err: %v", len(got), n, bus.Err(b, ch))
			}
			got = append(got, e)
		case <-timeout:
			t.Fatalf("received %d of %d events in %v", len(got), n, wait)
		}
	}
	return got
}

// silent fails the test if ch delivers an event within quiet.
func silent(t testing.TB, ch <-chan hub.Event) {
	t.Helper()
	select {
	case e, ok := <-ch:
		if ok {
			t.Fatalf("unexpected extra event Seq %d (%s %s)", e.Seq, e.Kind, e.ObjectID)
		}
		t.Fatal("channel closed, want it open and silent")
	case <-time.After(quiet):
	}
}

// check fails the test unless got are Event(from)... with the Seqs in seqs.
func check(t testing.TB, got []hub.Event, from int, seqs []uint64) {
	t.Helper()
	for i, e := range got {
		if e.Seq != seqs[i] {
			t.Fatalf("event %d: got Seq %d, want %d", i, e.Seq, seqs[i])
		}
		if want := Event(from + i); !sameEvent(e, want) {
			t.Fatalf("event %d (Seq %d):\ngot  %+v\nwant %+v", i, e.Seq, e, want)
		}
	}
}

func testIncreasingSeq(t *testing.T, b hub.Bus) {
	seqs := publish(t, b, 0, 20)
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("Seq %d after %d: not increasing", seqs[i], seqs[i-1])
		}
	}
	if seqs[0] == 0 {
		t.Fatal("first Seq is 0; 0 means \"from now on\" to Subscribe")
	}
}

// testPosition checks that a Positioner names the newest Seq, and that resuming after it
// delivers exactly what came later: what a snapshot saved at that Position needs.
func testPosition(t *testing.T, b hub.Bus) {
	p, ok := b.(bus.Positioner)
	if !ok {
		t.Skip("the bus does not implement bus.Positioner")
	}
	seqs := publish(t, b, 0, 3)
	got, err := p.Position(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.Seq != seqs[2] || got.Stream == "" {
		t.Fatalf("Position after publishing Seqs %v: got %+v, want Seq %d and a stream", seqs, got, seqs[2])
	}
	ch := subscribe(t, b, got.Seq)
	later := publish(t, b, 3, 4)
	check(t, receive(t, b, ch, 1), 3, later)
	silent(t, ch)
}

func testLive(t *testing.T, b hub.Bus) {
	ch := subscribe(t, b, 0)
	seqs := publish(t, b, 0, 50)
	check(t, receive(t, b, ch, 50), 0, seqs)
	silent(t, ch)
}

func testAfterZero(t *testing.T, b hub.Bus) {
	publish(t, b, 0, 5)
	ch := subscribe(t, b, 0)
	seqs := publish(t, b, 5, 6)
	check(t, receive(t, b, ch, 1), 5, seqs)
	silent(t, ch)
}

func testReplay(t *testing.T, b hub.Bus) {
	seqs := publish(t, b, 0, 10)
	ch := subscribe(t, b, seqs[4])
	check(t, receive(t, b, ch, 5), 5, seqs[5:])
	more := publish(t, b, 10, 13)
	check(t, receive(t, b, ch, 3), 10, more)
	silent(t, ch)

	// Resuming from the newest event waits for the next one.
	ch = subscribe(t, b, more[2])
	silent(t, ch)
	last := publish(t, b, 13, 14)
	check(t, receive(t, b, ch, 1), 13, last)
}

func testMultiple(t *testing.T, b hub.Bus) {
	first := publish(t, b, 0, 1)
	chs := []<-chan hub.Event{subscribe(t, b, 0), subscribe(t, b, 0), subscribe(t, b, first[0])}
	seqs := publish(t, b, 1, 31)
	for i, ch := range chs {
		t.Run(fmt.Sprint("subscriber", i), func(t *testing.T) {
			check(t, receive(t, b, ch, 30), 1, seqs)
		})
	}
	for _, ch := range chs {
		silent(t, ch)
	}
}

func testCancel(t *testing.T, b hub.Bus) {
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := b.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, b, 0, 3)
	cancel()
	timeout := time.After(wait)
	for open := true; open; {
		select {
		case _, open = <-ch:
		case <-timeout:
			t.Fatalf("channel still open %v after its context ended", wait)
		}
	}
	if err := bus.Err(b, ch); err != nil {
		t.Errorf("bus.Err after cancel: got %v, want nil", err)
	}
	// The bus goes on serving others.
	ch = subscribe(t, b, 0)
	seqs := publish(t, b, 3, 4)
	check(t, receive(t, b, ch, 1), 3, seqs)
}

func testConcurrentPublishers(t *testing.T, b hub.Bus) {
	const publishers, each = 4, 50
	ch := subscribe(t, b, 0)
	var (
		mu   sync.Mutex
		sent = make(map[uint64]int) // Seq -> event number
		wg   sync.WaitGroup
	)
	for p := range publishers {
		wg.Go(func() {
			for i := p * each; i < (p+1)*each; i++ {
				seq, err := b.Publish(context.Background(), Event(i))
				if err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
				mu.Lock()
				sent[seq] = i
				mu.Unlock()
			}
		})
	}
	got := receive(t, b, ch, publishers*each)
	wg.Wait()
	if len(sent) != publishers*each {
		t.Fatalf("got %d distinct Seqs from Publish, want %d", len(sent), publishers*each)
	}
	for k, e := range got {
		if k > 0 && e.Seq <= got[k-1].Seq {
			t.Fatalf("received Seq %d after %d", e.Seq, got[k-1].Seq)
		}
		i, ok := sent[e.Seq]
		if !ok {
			t.Fatalf("received Seq %d, which no Publish returned", e.Seq)
		}
		if !sameEvent(e, Event(i)) {
			t.Fatalf("Seq %d: got %+v, want %+v", e.Seq, e, Event(i))
		}
	}
	silent(t, ch)
}

func testGapBehind(t *testing.T, b hub.Bus) {
	seqs := publish(t, b, 0, MaxRetained+100)
	_, err := b.Subscribe(t.Context(), seqs[0])
	if !errors.Is(err, bus.ErrGap) {
		t.Fatalf("Subscribe(after %d) past the retained window: got %v, want ErrGap", seqs[0], err)
	}
	// The newest events are still there.
	n := len(seqs)
	ch := subscribe(t, b, seqs[n-11])
	check(t, receive(t, b, ch, 10), n-10, seqs[n-10:])
}

func testGapAhead(t *testing.T, b hub.Bus) {
	seqs := publish(t, b, 0, 3)
	after := seqs[2] + 1000
	if _, err := b.Subscribe(t.Context(), after); !errors.Is(err, bus.ErrGap) {
		t.Fatalf("Subscribe(after %d) with the newest event %d: got %v, want ErrGap", after, seqs[2], err)
	}
}

// testSlowSubscriber shows that a subscriber that never reads delays neither Publish nor
// another subscriber, and that what it does get is an unbroken run of events, ended by
// ErrGap if it fell out of the retained window.
func testSlowSubscriber(t *testing.T, b hub.Bus) {
	slow := subscribe(t, b, 0)
	fast := subscribe(t, b, 0)
	const n = MaxRetained + 200
	var got []hub.Event
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(got) < n {
			e, ok := <-fast
			if !ok {
				return
			}
			got = append(got, e)
		}
	}()
	seqs := publish(t, b, 0, n)
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatalf("fast subscriber did not get %d events in %v", n, wait)
	}
	check(t, got, 0, seqs)

	var slowGot []hub.Event
	timeout := time.After(wait)
	for open := true; open && len(slowGot) < n; {
		select {
		case e, ok := <-slow:
			if open = ok; ok {
				slowGot = append(slowGot, e)
			}
		case <-timeout:
			t.Fatalf("slow subscriber: got %d of %d events and no close in %v", len(slowGot), n, wait)
		}
	}
	check(t, slowGot, 0, seqs)
	if len(slowGot) < n {
		if err := bus.Err(b, slow); !errors.Is(err, bus.ErrGap) {
			t.Fatalf("slow subscriber closed after %d of %d events: bus.Err got %v, want ErrGap", len(slowGot), n, err)
		}
	}
}

func testInvalid(t *testing.T, b hub.Bus) {
	for _, kind := range []string{"", "object.created", "a b", "*", ">"} {
		e := Event(0)
		e.Kind = kind
		_, err := b.Publish(t.Context(), e)
		if got, want := hub.ErrorCode(err), hub.EInvalid; got != want {
			t.Errorf("Publish(Kind %q): got code %q (%v), want %q", kind, got, err, want)
		}
		if got, want := hub.ErrorField(err), "kind"; got != want {
			t.Errorf("Publish(Kind %q): got field %q, want %q", kind, got, want)
		}
	}
}

func testClose(t *testing.T, b hub.Bus) {
	ch := subscribe(t, b, 0)
	publish(t, b, 0, 1)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	timeout := time.After(wait)
	for open := true; open; {
		select {
		case _, open = <-ch:
		case <-timeout:
			t.Fatalf("subscription open %v after Close", wait)
		}
	}
	if err := bus.Err(b, ch); err != nil && !errors.Is(err, bus.ErrClosed) {
		t.Errorf("bus.Err after Close: got %v, want ErrClosed or nil", err)
	}
	if _, err := b.Publish(t.Context(), Event(1)); err == nil {
		t.Error("Publish after Close succeeded")
	}
	if _, err := b.Subscribe(t.Context(), 0); err == nil {
		t.Error("Subscribe after Close succeeded")
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
