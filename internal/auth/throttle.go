package auth

import (
	"cmp"
	"context"
	"sync"
	"time"

	"cshub/internal/hub"
)

// Limiter counts failed login attempts per key and refuses attempts on a locked key. The
// Authenticator keeps one for user names and one for client addresses. Throttle is the
// in-memory implementation, per replica; a shared one (in the database or NATS KV) can follow
// behind the same interface so that replicas lock out together.
//
// Implementations must be safe for concurrent use.
type Limiter interface {
	// Check returns nil when an attempt on key may proceed at now, or an ERateLimited
	// *hub.Error saying when to try again.
	Check(ctx context.Context, key string, now time.Time) error
	// Fail records a failed attempt on key at now.
	Fail(ctx context.Context, key string, now time.Time) error
	// Reset forgets key's failures and lock-outs, after a successful login.
	Reset(ctx context.Context, key string) error
}

// Throttle is an in-memory Limiter: Max failures on a key within Window lock the key for
// Backoff, doubled at each further lock-out that follows without a Reset, up to MaxBackoff.
// The failure count starts afresh after each lock-out and after Window passes without one.
//
// Set the fields before first use and do not change them after. Zero fields take defaults:
// Max 5, Window 15 minutes, Backoff 1 minute, MaxBackoff 1 hour, MaxKeys 100,000. Memory grows
// with the keys that failed recently; keys idle for longer than Window and MaxBackoff are swept
// away, and beyond MaxKeys keys that are not locked are forgotten, in no particular order, so
// that a flood of names or addresses cannot exhaust memory (at the price of their counts).
type Throttle struct {
	Max        int
	Window     time.Duration
	Backoff    time.Duration
	MaxBackoff time.Duration
	MaxKeys    int

	mu      sync.Mutex
	entries map[string]*throttleEntry // guarded by mu
	ops     int                       // guarded by mu; counts Fail calls between sweeps
}

type throttleEntry struct {
	failures int       // within the window starting at first
	first    time.Time // start of the current window
	last     time.Time // latest failure
	locked   time.Time // refuse attempts before this
	lockouts int       // lock-outs since the last Reset
}

const throttleSweepEvery = 1024

func (t *Throttle) params() (limit int, window, backoff, maxBackoff time.Duration) {
	limit, window, backoff, maxBackoff = t.Max, t.Window, t.Backoff, t.MaxBackoff
	if limit <= 0 {
		limit = 5
	}
	if window <= 0 {
		window = 15 * time.Minute
	}
	if backoff <= 0 {
		backoff = time.Minute
	}
	if maxBackoff <= 0 {
		maxBackoff = time.Hour
	}
	if maxBackoff < backoff {
		maxBackoff = backoff
	}
	return
}

// Check implements Limiter.
func (t *Throttle) Check(_ context.Context, key string, now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	if e == nil || !now.Before(e.locked) {
		return nil
	}
	wait := e.locked.Sub(now).Round(time.Second)
	if wait < time.Second {
		wait = time.Second
	}
	return hub.Errorf(hub.ERateLimited, "too many failed attempts; try again in %v", wait)
}

// Fail implements Limiter.
func (t *Throttle) Fail(_ context.Context, key string, now time.Time) error {
	limit, window, backoff, maxBackoff := t.params()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.entries == nil {
		t.entries = make(map[string]*throttleEntry)
	}
	if t.ops++; t.ops >= throttleSweepEvery {
		t.ops = 0
		t.sweep(now, window, maxBackoff)
	}
	e := t.entries[key]
	if e == nil {
		if maxKeys := cmp.Or(t.MaxKeys, 100_000); len(t.entries) >= maxKeys {
			t.sweep(now, window, maxBackoff)
			t.evict(now, len(t.entries)-maxKeys+1)
		}
		e = &throttleEntry{first: now}
		t.entries[key] = e
	}
	if now.Sub(e.first) > window {
		e.failures, e.first = 0, now
	}
	e.failures++
	e.last = now
	if e.failures >= limit {
		d := backoff
		for i := 0; i < e.lockouts && d < maxBackoff; i++ {
			d *= 2
		}
		d = min(d, maxBackoff)
		e.locked = now.Add(d)
		e.lockouts++
		e.failures, e.first = 0, now
	}
	return nil
}

// Reset implements Limiter.
func (t *Throttle) Reset(_ context.Context, key string) error {
	t.mu.Lock()
	delete(t.entries, key)
	t.mu.Unlock()
	return nil
}

// sweep drops entries that are unlocked and whose last failure is older than both the window
// and the longest back-off, so that forgetting them changes nothing but the doubling.
func (t *Throttle) sweep(now time.Time, window, maxBackoff time.Duration) {
	keep := max(window, maxBackoff)
	for k, e := range t.entries {
		if !now.Before(e.locked) && now.Sub(e.last) > keep {
			delete(t.entries, k)
		}
	}
}

// evict forgets up to n keys that are not locked at now.
func (t *Throttle) evict(now time.Time, n int) {
	for k, e := range t.entries {
		if n <= 0 {
			return
		}
		if !now.Before(e.locked) {
			delete(t.entries, k)
			n--
		}
	}
}

// Len returns how many keys the throttle remembers.
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}
