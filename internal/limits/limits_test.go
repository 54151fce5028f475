package limits_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"cshub/internal/auth"
	"cshub/internal/hub"
	"cshub/internal/limits"
	"cshub/internal/store/postgres/pgtest"
)

var _ auth.Limiter = (*limits.Limiter)(nil)

func open(tb testing.TB, u, scope string, p limits.Policy) *limits.Limiter {
	tb.Helper()
	l, err := limits.Open(context.Background(), u, scope, p)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(l.Close)
	return l
}

// TestLikeThrottle plays the same random sequence of calls on auth.Throttle and on two
// Limiters sharing one database, the calls alternating between them, and wants the same
// answers at every step.
func TestLikeThrottle(t *testing.T) {
	u := pgtest.Schema(t)
	ctx := context.Background()
	for _, p := range []limits.Policy{
		{Max: 3, Window: 10 * time.Second, Backoff: 2 * time.Second, MaxBackoff: 9 * time.Second},
		{Max: 1, Window: time.Minute, Backoff: time.Second, MaxBackoff: time.Minute},
		{}, // the defaults
	} {
		t.Run(fmt.Sprintf("max%d", p.Max), func(t *testing.T) {
			scope := fmt.Sprintf("max%d", p.Max)
			replicas := []*limits.Limiter{open(t, u, scope, p), open(t, u, scope, p)}
			ref := &auth.Throttle{Max: p.Max, Window: p.Window, Backoff: p.Backoff, MaxBackoff: p.MaxBackoff}
			r := rand.New(rand.NewPCG(1, uint64(p.Max)))
			keys := []string{"alice", "bob", "192.0.2.1"}
			now := time.Date(2026, 11, 23, 0, 0, 0, 123456789, time.UTC)
			refused := 0
			for step := range 600 {
				now = now.Add(time.Duration(r.Int64N(int64(4 * time.Second))))
				if r.IntN(40) == 0 {
					now = now.Add(20 * time.Minute) // let windows and lock-outs pass
				}
				key := keys[r.IntN(len(keys))]
				l := replicas[step%2]
				switch op := r.IntN(10); {
				case op < 6:
					if err := l.Fail(ctx, key, now); err != nil {
						t.Fatal(err)
					}
					ref.Fail(ctx, key, now)
				case op < 9:
					got, want := l.Check(ctx, key, now), ref.Check(ctx, key, now)
					if hub.ErrorCode(got) != hub.ErrorCode(want) || fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("step %d: Check(%s): got %v, want %v", step, key, got, want)
					}
					if got != nil {
						refused++
					}
				default:
					if err := l.Reset(ctx, key); err != nil {
						t.Fatal(err)
					}
					ref.Reset(ctx, key)
				}
			}
			if refused == 0 {
				t.Error("no Check was refused: the sequence tested no lock-out")
			}
		})
	}
}

// TestReplicasLockTogether fails one key from two Limiters on one database and wants both to
// refuse it, and both to allow it again after a Reset on either.
func TestReplicasLockTogether(t *testing.T) {
	u := pgtest.Schema(t)
	ctx := context.Background()
	p := limits.Policy{Max: 4, Window: time.Minute, Backoff: time.Minute, MaxBackoff: time.Hour}
	a, b := open(t, u, "user", p), open(t, u, "user", p)
	other, err := a.WithScope("address", p)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range 4 {
		if err := a.Check(ctx, "alice", now); err != nil {
			t.Fatalf("attempt %d refused early: %v", i, err)
		}
		l := a
		if i%2 == 1 {
			l = b
		}
		if err := l.Fail(ctx, "alice", now); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []*limits.Limiter{a, b} {
		if got, want := hub.ErrorCode(l.Check(ctx, "alice", now)), hub.ERateLimited; got != want {
			t.Errorf("Check after 4 failures: got code %q, want %q", got, want)
		}
	}
	if err := other.Check(ctx, "alice", now); err != nil {
		t.Errorf("another scope is locked too: %v", err)
	}
	if err := b.Check(ctx, "alice", now.Add(time.Minute)); err != nil {
		t.Errorf("still locked after the back-off: %v", err)
	}
	if err := b.Reset(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := a.Check(ctx, "alice", now); err != nil {
		t.Errorf("locked after Reset: %v", err)
	}
}

// TestConcurrentFailures fails one key from many goroutines on two Limiters at once: with no
// lost update, Max·k failures give exactly k lock-outs, so the back-off has doubled k-1 times.
func TestConcurrentFailures(t *testing.T) {
	u := pgtest.Schema(t)
	ctx := context.Background()
	const max, lockouts = 5, 8
	p := limits.Policy{Max: max, Window: time.Hour, Backoff: time.Second, MaxBackoff: 24 * time.Hour}
	a, b := open(t, u, "user", p), open(t, u, "user", p)
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, max*lockouts)
	for i := range max * lockouts {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Go(func() { errs <- l.Fail(ctx, "mallory", now) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The last lock-out lasts 1s·2^(lockouts-1) = 128s from now.
	last := time.Second << (lockouts - 1)
	if err := a.Check(ctx, "mallory", now.Add(last-time.Second)); hub.ErrorCode(err) != hub.ERateLimited {
		t.Errorf("Check just before the back-off ends: got %v, want a rate limit", err)
	}
	if err := b.Check(ctx, "mallory", now.Add(last)); err != nil {
		t.Errorf("Check when the back-off ends: got %v, want nil", err)
	}
}

// TestSweep fails many keys long ago and wants a later Fail to have swept them away.
func TestSweep(t *testing.T) {
	u := pgtest.Schema(t)
	ctx := context.Background()
	p := limits.Policy{Max: 3, Window: time.Minute, Backoff: time.Minute, MaxBackoff: time.Minute}
	l := open(t, u, "address", p)
	long := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1023 {
		if err := l.Fail(ctx, fmt.Sprintf("198.51.100.%d", i), long); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Fail(ctx, "203.0.113.9", long.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	n, err := l.Len(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("keys after a sweep: got %d, want 1", n)
	}
}

func TestNewNeedsScope(t *testing.T) {
	u := pgtest.Schema(t)
	pool, err := pgxpool.New(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := limits.New(context.Background(), pool, "", limits.Policy{}); hub.ErrorCode(err) != hub.EInvalid {
		t.Errorf("New without a scope: got %v, want an EInvalid error", err)
	}
}
