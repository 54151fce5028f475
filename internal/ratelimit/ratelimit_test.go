package ratelimit

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLimiterRefillsAtRate(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	l := New(Policy{Rate: 2, Burst: 3}, c.now)
	for _, step := range []struct {
		advance time.Duration
		want    bool
	}{
		{0, true}, {0, true}, {0, true}, // the burst
		{0, false},                      // empty
		{250 * time.Millisecond, false}, // half a token
		{250 * time.Millisecond, true},  // one token after 0.5 s at 2/s
		{0, false},
		{time.Hour, true}, {0, true}, {0, true}, {0, false}, // refilled to the burst, not beyond
	} {
		c.t = c.t.Add(step.advance)
		if got, _ := l.Allow("k"); got != step.want {
			t.Fatalf("after +%v: allowed %v, want %v", step.advance, got, step.want)
		}
	}
	if ok, _ := l.Allow("other"); !ok {
		t.Error("one key's bucket limited another")
	}
	_, wait := l.Allow("k")
	if wait <= 0 || wait > 500*time.Millisecond {
		t.Errorf("retry after %v, want within one token's time", wait)
	}
}

func TestSweepForgetsOnlyFullBuckets(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	l := New(Policy{Rate: 1, Burst: 2}, c.now)
	l.Allow("busy")
	l.Allow("busy")
	l.Allow("quiet")
	c.t = c.t.Add(time.Second) // quiet is full again (1+1), busy is not (0+1)
	l.sweep(c.now())
	if _, ok := l.buckets["quiet"]; ok {
		t.Error("a full bucket was kept")
	}
	if _, ok := l.buckets["busy"]; !ok {
		t.Error("a bucket still owed tokens was dropped: its client would get a fresh burst")
	}
}

func TestMiddleware(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	h := Middleware(Config{PerKey: Policy{Rate: 1, Burst: 2}, PerIP: Policy{Rate: 1, Burst: 3}, Now: c.now},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	do := func(peer, auth string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/api/v1/objects", nil)
		r.RemoteAddr = peer
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i, tc := range []struct {
		peer, auth string
		want       int
	}{
		{"192.0.2.1:1", "Bearer a", 204},
		{"192.0.2.1:1", "Bearer a", 204},
		{"192.0.2.1:1", "Bearer a", 429}, // key a spent its burst
		{"192.0.2.2:1", "Bearer a", 429}, // from another address too
		{"192.0.2.1:1", "Bearer b", 429}, // address 192.0.2.1 spent its burst of 3 (the 429s count)
		{"192.0.2.3:1", "Bearer b", 204}, // b itself is fine
		{"127.0.0.1:9", "Bearer c", 204}, // loopback is not limited per address
		{"127.0.0.1:9", "Bearer c", 204},
		{"127.0.0.1:9", "Bearer c", 429}, // but per key it is
		{"[::1]:9", "", 204},
	} {
		w := do(tc.peer, tc.auth)
		if w.Code != tc.want {
			t.Fatalf("request %d (%s, %s): %d, want %d", i, tc.peer, tc.auth, w.Code, tc.want)
		}
		if w.Code == 429 && (w.Header().Get("Retry-After") == "" || !isErrorBody(w.Body.String())) {
			t.Errorf("request %d: 429 without Retry-After or error body: %q", i, w.Body.String())
		}
	}
}

// isErrorBody reports whether s is the API's error body with the rate_limited code.
func isErrorBody(s string) bool {
	var b struct{ Error struct{ Code string } }
	return json.Unmarshal([]byte(s), &b) == nil && b.Error.Code == "rate_limited"
}
