package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"cshub/internal/hub"
)

func testSessions() *Sessions {
	return &Sessions{Key: bytes.Repeat([]byte{7}, 32), Idle: 30 * time.Minute, Absolute: 12 * time.Hour}
}

var alice = Principal{Org: "cert-fr", UserID: 1, Username: "alice", Role: hub.RoleAnalyst, Via: ViaSession}

func TestSessionRoundTrip(t *testing.T) {
	s := testSessions()
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	v, err := s.Issue(alice, t0)
	if err != nil {
		t.Fatal(err)
	}
	p, refreshed, err := s.Verify(v, t0.Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want := alice
	want.Scope = hub.ScopeWrite
	want.Issued = t0
	if p.Org != want.Org || p.UserID != want.UserID || p.Username != want.Username || p.Role != want.Role ||
		p.Scope != want.Scope || p.Via != want.Via || !p.Issued.Equal(want.Issued) {
		t.Errorf("Verify = %+v, want %+v", p, want)
	}
	if refreshed != v {
		t.Errorf("refreshed within a minute: got a new value, want the same")
	}
	// After a minute the value is refreshed, and the refreshed one carries the new last-seen.
	_, r2, err := s.Verify(v, t0.Add(2*time.Minute))
	if err != nil || r2 == v {
		t.Fatalf("Verify after 2 min = %q, %v; want a refreshed value", r2, err)
	}
	// Another replica with the same key accepts it.
	other := &Sessions{Key: bytes.Clone(s.Key), Idle: s.Idle, Absolute: s.Absolute}
	if _, _, err := other.Verify(r2, t0.Add(3*time.Minute)); err != nil {
		t.Errorf("other replica: %v", err)
	}
}

func TestSessionExpiry(t *testing.T) {
	s := testSessions()
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	v, _ := s.Issue(alice, t0)

	// Idle: unused for 30 minutes is fine, 30 minutes and a second is not.
	if _, _, err := s.Verify(v, t0.Add(30*time.Minute)); err != nil {
		t.Errorf("at the idle limit: %v", err)
	}
	if _, _, err := s.Verify(v, t0.Add(30*time.Minute+time.Second)); hub.ErrorCode(err) != hub.EUnauthorized || !strings.Contains(err.Error(), "idle") {
		t.Errorf("idle past the limit: err = %v, want unauthorized (idle)", err)
	}

	// Kept alive every 20 minutes, the session lasts until the absolute limit and no longer.
	cur, now := v, t0
	for now.Sub(t0) <= 12*time.Hour {
		now = now.Add(20 * time.Minute)
		_, r, err := s.Verify(cur, now)
		if now.Sub(t0) > 12*time.Hour {
			if hub.ErrorCode(err) != hub.EUnauthorized || !strings.Contains(err.Error(), "older") {
				t.Errorf("past the absolute limit: err = %v, want unauthorized (older)", err)
			}
			break
		}
		if err != nil {
			t.Fatalf("kept alive at %v: %v", now.Sub(t0), err)
		}
		cur = r
	}
	if now.Sub(t0) <= 12*time.Hour {
		t.Fatalf("loop ended at %v", now.Sub(t0))
	}

	// Issued in the future (clock skew beyond a minute) is refused.
	if _, _, err := s.Verify(v, t0.Add(-2*time.Minute)); hub.ErrorCode(err) != hub.EUnauthorized {
		t.Errorf("from the future: err = %v, want unauthorized", err)
	}
}

func TestSessionTampering(t *testing.T) {
	s := testSessions()
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	v, _ := s.Issue(alice, t0)
	parts := strings.Split(v, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	promoted := base64.RawURLEncoding.EncodeToString(bytes.Replace(payload, []byte(`"analyst"`), []byte(`"operator"`), 1))
	otherUser := base64.RawURLEncoding.EncodeToString(bytes.Replace(payload, []byte(`"u":1`), []byte(`"u":2`), 1))
	flipped := []byte(v)
	flipped[len(flipped)-5] ^= 1

	wrongKey := testSessions()
	wrongKey.Key = bytes.Repeat([]byte{8}, 32)
	forged, _ := wrongKey.Issue(Principal{Org: "cert-fr", UserID: 1, Role: hub.RoleOperator}, t0)

	for _, tc := range []struct{ name, value string }{
		{"empty", ""},
		{"garbage", "hello"},
		{"role changed", parts[0] + "." + promoted + "." + parts[2]},
		{"user changed", parts[0] + "." + otherUser + "." + parts[2]},
		{"MAC bit flipped", string(flipped)},
		{"MAC removed", parts[0] + "." + parts[1] + "."},
		{"MAC truncated", v[:len(v)-4]},
		{"version changed", "v2." + parts[1] + "." + parts[2]},
		{"signed with another key", forged},
		{"huge", strings.Repeat("a", 5000)},
	} {
		if _, _, err := s.Verify(tc.value, t0.Add(time.Second)); hub.ErrorCode(err) != hub.EUnauthorized {
			t.Errorf("%s: err = %v, want unauthorized", tc.name, err)
		}
	}
}

func TestSessionMisconfigured(t *testing.T) {
	for _, s := range []*Sessions{
		{Key: []byte("short"), Idle: time.Minute, Absolute: time.Hour},
		{Key: bytes.Repeat([]byte{1}, 32), Idle: 0, Absolute: time.Hour},
		{Key: bytes.Repeat([]byte{1}, 32), Idle: time.Minute},
	} {
		if _, err := s.Issue(alice, time.Now()); err == nil {
			t.Errorf("Issue with %+v succeeded", s)
		}
		if _, _, err := s.Verify("v1.e30.AAAA", time.Now()); err == nil {
			t.Errorf("Verify with %+v succeeded", s)
		}
	}
}

func TestSessionCookie(t *testing.T) {
	s := testSessions()
	c := s.Cookie("value")
	if c.Name != SessionCookieName || c.Value != "value" || !c.Secure || !c.HttpOnly ||
		c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" {
		t.Errorf("Cookie = %+v", c)
	}
	if err := c.Valid(); err != nil {
		t.Errorf("cookie not valid: %v", err)
	}
	line := c.String()
	for _, w := range []string{"__Host-cshub-session=value", "Path=/", "HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(line, w) {
			t.Errorf("Set-Cookie %q lacks %q", line, w)
		}
	}
	if cl := s.ClearCookie(); cl.MaxAge >= 0 || cl.Name != SessionCookieName {
		t.Errorf("ClearCookie = %+v", cl)
	}
}

func FuzzSessionVerify(f *testing.F) {
	s := testSessions()
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	v, _ := s.Issue(alice, t0)
	f.Add(v)
	f.Add("v1..")
	f.Add("v1.e30.")
	f.Fuzz(func(t *testing.T, value string) {
		p, _, err := s.Verify(value, t0.Add(time.Second))
		if err == nil && value != v && p.UserID != alice.UserID {
			// Only values this key signed verify; the fuzzer cannot sign.
			t.Fatalf("Verify(%q) accepted %+v", value, p)
		}
	})
}

func TestAuthenticatorSession(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Sessions = testSessions() })
	ctx := context.Background()
	u := f.user(t, "alice", "cert-fr", hub.RoleAnalyst, "pw")
	p := Principal{Org: u.Org, UserID: u.ID, Username: u.Username, Role: u.Role}
	v, err := f.cfg.Sessions.Issue(p, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Second)
	got, _, err := f.a.Session(ctx, v)
	if err != nil || got.UserID != u.ID || got.Scope != hub.ScopeWrite || got.Via != ViaSession {
		t.Fatalf("Session = %+v, %v", got, err)
	}

	// A role change in the store applies at once.
	u.Role = hub.RoleReader
	f.dir.UpdateUser(ctx, u)
	if got, _, err := f.a.Session(ctx, v); err != nil || got.Scope != hub.ScopeRead || got.Role != hub.RoleReader {
		t.Errorf("after demotion: %+v, %v; want reader", got, err)
	}

	// Logging out everywhere: sessions issued up to that time are refused, later ones not.
	u.SessionsAfter = f.clock.Now()
	f.dir.UpdateUser(ctx, u)
	if _, _, err := f.a.Session(ctx, v); hub.ErrorCode(err) != hub.EUnauthorized {
		t.Errorf("after logout: err = %v, want unauthorized", err)
	}
	f.clock.Add(time.Millisecond)
	v2, _ := f.cfg.Sessions.Issue(p, f.clock.Now())
	if _, _, err := f.a.Session(ctx, v2); err != nil {
		t.Errorf("new session after logout: %v", err)
	}

	// A deactivated user's sessions stop at once.
	u.Active = false
	f.dir.UpdateUser(ctx, u)
	if _, _, err := f.a.Session(ctx, v2); hub.ErrorCode(err) != hub.EUnauthorized {
		t.Errorf("inactive user: err = %v, want unauthorized", err)
	}
}

func BenchmarkSessionVerify(b *testing.B) {
	s := testSessions()
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	v, _ := s.Issue(alice, t0)
	for b.Loop() {
		if _, _, err := s.Verify(v, t0.Add(time.Second)); err != nil {
			b.Fatal(err)
		}
	}
}
