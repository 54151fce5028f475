// Package ratelimit bounds how fast one client may call the API: a token bucket per credential
// (the Authorization header) and one per peer address, so that a leaked key or a runaway script
// slows down alone instead of slowing the hub for every member. It is in-process: each replica
// limits what reaches it, which bounds the total at replicas × the policy.
package ratelimit

import (
	"crypto/sha256"
	"encoding/json"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"cshub/internal/hub"
)

// Policy is a sustained Rate (requests per second) and a Burst a quiet client may spend at once.
type Policy struct {
	Rate  float64
	Burst int
}

// maxKeys bounds the buckets a Limiter keeps: past it, buckets that have refilled (their
// clients went quiet) are dropped, so that a flood of made-up keys or addresses cannot grow
// memory without end.
const maxKeys = 100_000

// Limiter keeps one token bucket per key. It is safe for concurrent use.
type Limiter struct {
	policy Policy
	now    func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket // guarded by mu
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

// New returns a limiter applying p to every key; now is the clock (nil: time.Now).
func New(p Policy, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{policy: p, now: now, buckets: map[string]*bucket{}}
}

// Allow takes one token from key's bucket. When none is left it returns false and how long
// until one is.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxKeys {
			l.sweep(now)
		}
		b = &bucket{tokens: float64(l.policy.Burst), at: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(float64(l.policy.Burst), b.tokens+now.Sub(b.at).Seconds()*l.policy.Rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.policy.Rate * float64(time.Second))
}

// sweep drops the buckets that are full again: forgetting them changes nothing.
func (l *Limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.policy.Rate >= float64(l.policy.Burst) {
			delete(l.buckets, k)
		}
	}
}

// Config is what Middleware limits.
type Config struct {
	PerKey Policy // per Authorization header value; requests without one are limited per address only
	PerIP  Policy // per peer address
	// LimitLoopback applies PerIP to loopback peers too. Off by default: on loopback the peer is
	// the operator, a load test, or a reverse proxy carrying every member's traffic, which must
	// not share one bucket.
	LimitLoopback bool
	Now           func() time.Time // nil: time.Now
}

// DefaultConfig is generous for a SIEM matching in bulk and tight for a guessing script.
var DefaultConfig = Config{
	PerKey: Policy{Rate: 200, Burst: 400},
	PerIP:  Policy{Rate: 100, Burst: 200},
}

// Middleware refuses, with 429 and Retry-After, requests beyond c's policies, before they reach
// next (and before the key is even checked, so guessing keys is limited too).
func Middleware(c Config, next http.Handler) http.Handler {
	keys, ips := New(c.PerKey, c.Now), New(c.PerIP, c.Now)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		ip := net.ParseIP(host)
		if c.LimitLoopback || ip == nil || !ip.IsLoopback() {
			if ok, wait := ips.Allow(host); !ok {
				refuse(w, wait, "address")
				return
			}
		}
		if a := r.Header.Get("Authorization"); a != "" {
			// The bucket is named by a hash, so the limiter holds no credential.
			sum := sha256.Sum256([]byte(a))
			if ok, wait := keys.Allow(string(sum[:16])); !ok {
				refuse(w, wait, "Authorization")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// refuse writes the API's error body for a rate-limited request.
func refuse(w http.ResponseWriter, wait time.Duration, field string) {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(1, secs)))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(hub.HTTPStatus(hub.ERateLimited))
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Field   string `json:"field,omitempty"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Field = hub.ERateLimited, field
	body.Error.Message = "too many requests from this " + map[string]string{"address": "address", "Authorization": "key"}[field] + "; retry after " + strconv.Itoa(max(1, secs)) + "s"
	json.NewEncoder(w).Encode(body)
}
