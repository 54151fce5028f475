package bustest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cshub/internal/bus"
	"cshub/internal/hub"
)

// RunLeaser runs the conformance suite for bus.Leaser as parallel subtests of t. newLeaser
// must return a Leaser that shares no job with those of other calls, and register its own
// cleanup with t.Cleanup.
func RunLeaser(t *testing.T, newLeaser func(t *testing.T) bus.Leaser) {
	tests := []struct {
		name string
		test func(t *testing.T, l bus.Leaser)
	}{
		{"OneHolderPerJob", testOneHolder},
		{"ReleaseEndsHeld", testRelease},
		{"ContextEndsLease", testLeaseContext},
		{"ConcurrentTakers", testConcurrentTakers},
		{"InvalidLease", testInvalidLease},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, newLeaser(t))
		})
	}
}

// take takes the lease on job and fails the test if it is not held.
func take(t *testing.T, l bus.Leaser, ctx context.Context, job string) (context.Context, func()) {
	t.Helper()
	held, release, err := l.Lease(ctx, job, 2*time.Second)
	if err != nil {
		t.Fatalf("Lease(%q): %v", job, err)
	}
	if held == nil {
		t.Fatalf("Lease(%q): not held, want held", job)
	}
	t.Cleanup(release)
	return held, release
}

// taken fails the test if the lease on job can be had.
func taken(t *testing.T, l bus.Leaser, job string) {
	t.Helper()
	held, release, err := l.Lease(t.Context(), job, 2*time.Second)
	if err != nil {
		t.Fatalf("Lease(%q): %v", job, err)
	}
	if held != nil {
		release()
		t.Fatalf("Lease(%q) held twice", job)
	}
	release() // must be harmless when not held
}

// ended fails the test unless ctx ends within wait.
func ended(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(wait):
		t.Fatalf("held still live %v after %s", wait, what)
	}
}

func testOneHolder(t *testing.T, l bus.Leaser) {
	take(t, l, t.Context(), "feeds")
	taken(t, l, "feeds")
	take(t, l, t.Context(), "syncs") // other jobs are independent
	taken(t, l, "syncs")
}

func testRelease(t *testing.T, l bus.Leaser) {
	held, release := take(t, l, t.Context(), "feeds")
	release()
	ended(t, held, "release")
	release() // twice is harmless
	take(t, l, t.Context(), "feeds")
}

func testLeaseContext(t *testing.T, l bus.Leaser) {
	ctx, cancel := context.WithCancel(t.Context())
	held, _ := take(t, l, ctx, "exercise.clock")
	if err := held.Err(); err != nil {
		t.Fatalf("held ended at once: %v", err)
	}
	cancel()
	ended(t, held, "its parent context ended")
	// The lease is given up soon after.
	deadline := time.Now().Add(wait)
	for {
		held, release, err := l.Lease(t.Context(), "exercise.clock", 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if held != nil {
			release()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease not free %v after its holder's context ended", wait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testConcurrentTakers(t *testing.T, l bus.Leaser) {
	var (
		holders atomic.Int32
		wg      sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			held, release, err := l.Lease(t.Context(), "taxii-sync", 2*time.Second)
			if err != nil {
				t.Errorf("Lease: %v", err)
				return
			}
			if held != nil {
				holders.Add(1)
				t.Cleanup(release)
			}
		})
	}
	wg.Wait()
	if got := holders.Load(); got != 1 {
		t.Fatalf("got %d holders of one job, want 1", got)
	}
}

func testInvalidLease(t *testing.T, l bus.Leaser) {
	tests := []struct {
		job   string
		ttl   time.Duration
		field string
	}{
		{"", time.Minute, "job"},
		{"feeds poll", time.Minute, "job"},
		{"feeds>", time.Minute, "job"},
		{".feeds", time.Minute, "job"},
		{"feeds", 10 * time.Millisecond, "ttl"},
		{"feeds", 0, "ttl"},
	}
	for _, tt := range tests {
		held, release, err := l.Lease(t.Context(), tt.job, tt.ttl)
		if held != nil {
			release()
			t.Errorf("Lease(%q, %v) held, want an error", tt.job, tt.ttl)
		}
		if got, want := hub.ErrorCode(err), hub.EInvalid; got != want {
			t.Errorf("Lease(%q, %v): got code %q (%v), want %q", tt.job, tt.ttl, got, err, want)
		}
		if got := hub.ErrorField(err); got != tt.field {
			t.Errorf("Lease(%q, %v): got field %q, want %q", tt.job, tt.ttl, got, tt.field)
		}
	}
}
