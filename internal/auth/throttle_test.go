package auth

import (
	"context"
	"fmt"
	"testing"
	"time"

	"cshub/internal/hub"
)

func TestThrottleLockAndRelease(t *testing.T) {
	ctx := context.Background()
	th := &Throttle{Max: 3, Window: 10 * time.Minute, Backoff: time.Minute, MaxBackoff: 4 * time.Minute}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	k := "user:alice"
	for i := range 2 {
		if err := th.Check(ctx, k, now); err != nil {
			t.Fatalf("attempt %d refused: %v", i, err)
		}
		th.Fail(ctx, k, now)
		now = now.Add(time.Second)
	}
	if err := th.Check(ctx, k, now); err != nil {
		t.Fatalf("third attempt refused: %v", err)
	}
	th.Fail(ctx, k, now) // third failure: locked for 1 minute
	err := th.Check(ctx, k, now.Add(59*time.Second))
	if hub.ErrorCode(err) != hub.ERateLimited {
		t.Fatalf("during back-off: err = %v, want rate_limited", err)
	}
	if got := hub.ErrorMessage(err); got != "too many failed attempts; try again in 1s" {
		t.Errorf("message = %q", got)
	}
	if err := th.Check(ctx, "user:bob", now); err != nil {
		t.Errorf("other key refused: %v", err)
	}
	now = now.Add(time.Minute)
	if err := th.Check(ctx, k, now); err != nil {
		t.Fatalf("after back-off: %v", err)
	}

	// The next lock-out lasts twice as long, then four times, then stays at MaxBackoff.
	for _, want := range []time.Duration{2 * time.Minute, 4 * time.Minute, 4 * time.Minute} {
		for range 3 {
			th.Fail(ctx, k, now)
		}
		if err := th.Check(ctx, k, now.Add(want-time.Second)); hub.ErrorCode(err) != hub.ERateLimited {
			t.Errorf("lock-out of %v: err = %v just before its end, want rate_limited", want, err)
		}
		if err := th.Check(ctx, k, now.Add(want)); err != nil {
			t.Errorf("lock-out of %v: still locked at its end: %v", want, err)
		}
		now = now.Add(want)
	}

	// Reset forgets everything: the next lock-out is back to one minute.
	th.Reset(ctx, k)
	for range 3 {
		th.Fail(ctx, k, now)
	}
	if err := th.Check(ctx, k, now.Add(time.Minute)); err != nil {
		t.Errorf("after Reset the back-off did not start over: %v", err)
	}
}

func TestThrottleWindow(t *testing.T) {
	ctx := context.Background()
	th := &Throttle{Max: 3, Window: 10 * time.Minute, Backoff: time.Minute}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	// Two failures, then a pause longer than the window: the count starts over.
	th.Fail(ctx, "k", now)
	th.Fail(ctx, "k", now)
	now = now.Add(11 * time.Minute)
	th.Fail(ctx, "k", now)
	th.Fail(ctx, "k", now)
	if err := th.Check(ctx, "k", now); err != nil {
		t.Errorf("failures spread over two windows locked the key: %v", err)
	}
}

func TestThrottleSweep(t *testing.T) {
	ctx := context.Background()
	th := &Throttle{Max: 5, Window: time.Minute, Backoff: time.Minute, MaxBackoff: time.Minute}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for i := range throttleSweepEvery - 1 {
		th.Fail(ctx, fmt.Sprintf("ip:%d", i), now)
	}
	now = now.Add(2 * time.Minute)
	th.Fail(ctx, "ip:last", now) // triggers a sweep
	if n := th.Len(); n != 1 {
		t.Errorf("after sweep %d keys remain, want 1", n)
	}
}

func TestThrottleDefaults(t *testing.T) {
	ctx := context.Background()
	var th Throttle
	now := time.Now()
	for range 4 {
		th.Fail(ctx, "k", now)
	}
	if err := th.Check(ctx, "k", now); err != nil {
		t.Errorf("locked after 4 failures with defaults: %v", err)
	}
	th.Fail(ctx, "k", now)
	if err := th.Check(ctx, "k", now); hub.ErrorCode(err) != hub.ERateLimited {
		t.Errorf("not locked after 5 failures with defaults: %v", err)
	}
}

func TestThrottleMaxKeys(t *testing.T) {
	ctx := context.Background()
	th := &Throttle{Max: 2, Window: time.Hour, Backoff: time.Hour, MaxKeys: 10}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	th.Fail(ctx, "locked", now)
	th.Fail(ctx, "locked", now)
	for i := range 100 {
		th.Fail(ctx, fmt.Sprintf("ip:%d", i), now)
	}
	if n := th.Len(); n > 10 {
		t.Errorf("throttle holds %d keys, want at most MaxKeys 10", n)
	}
	if err := th.Check(ctx, "locked", now); hub.ErrorCode(err) != hub.ERateLimited {
		t.Errorf("a locked key was evicted: err = %v", err)
	}
}
