package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"cshub/internal/hub"
)

// clock is a settable time source for the Authenticator.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	a     *Authenticator
	dir   *memDir
	clock *clock
	cfg   Config
}

// newFixture makes an Authenticator over a memDir holding active org cert-fr and inactive org
// cert-xx, with cheap argon2 parameters. edit may change the config before New.
func newFixture(t *testing.T, edit func(*Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{dir: newMemDir(), clock: &clock{t: time.Date(2026, 11, 22, 12, 0, 15, 0, time.UTC)}}
	for _, o := range []*hub.Org{
		{Code: "cert-fr", Name: "CERT-FR", Country: "FR", Kind: hub.OrgMember, Active: true},
		{Code: "cert-xx", Name: "Gone", Country: "XX", Kind: hub.OrgMember, Active: false},
	} {
		if err := f.dir.CreateOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	f.cfg = Config{Directory: f.dir, Params: cheap, Now: f.clock.Now}
	if edit != nil {
		edit(&f.cfg)
	}
	a, err := New(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.a = a
	return f
}

func (f *fixture) user(t *testing.T, name, org string, role hub.Role, password string) *hub.User {
	t.Helper()
	h, err := cheap.Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	u := &hub.User{Org: org, Username: name, Role: role, PasswordHash: h, Active: true}
	if err := f.dir.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func (f *fixture) key(t *testing.T, u *hub.User, scope hub.Scope, expires time.Time) (string, *hub.APIKey) {
	t.Helper()
	secret, k := NewAPIKey(u.Org, u.ID, scope, expires)
	if err := f.dir.CreateAPIKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	return secret, k
}

func TestNewAPIKeyForm(t *testing.T) {
	exp := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	secret, k := NewAPIKey("cert-fr", 7, hub.ScopeWrite, exp)
	if !strings.HasPrefix(secret, "cshub_"+k.ID+"_") {
		t.Errorf("secret %q does not start with cshub_<id>_", secret)
	}
	random := strings.TrimPrefix(secret, "cshub_"+k.ID+"_")
	if n := len(random) * 5; n < 256 {
		t.Errorf("random part carries %d bits, want at least 256", n)
	}
	if sum := sha256.Sum256([]byte(secret)); string(k.Hash) != string(sum[:]) {
		t.Errorf("Hash is not SHA-256 of the secret")
	}
	if k.Org != "cert-fr" || k.UserID != 7 || k.Scope != hub.ScopeWrite || !k.Expires.Equal(exp) || k.Revoked {
		t.Errorf("key = %+v", k)
	}
	id, err := ParseAPIKey(secret)
	if err != nil || id != k.ID {
		t.Errorf("ParseAPIKey = %q, %v; want %q, nil", id, err, k.ID)
	}
	other, _ := NewAPIKey("cert-fr", 7, hub.ScopeWrite, exp)
	if other == secret {
		t.Error("two keys are equal")
	}
}

func TestParseAPIKeyRejects(t *testing.T) {
	good, _ := NewAPIKey("o", 1, hub.ScopeRead, time.Time{})
	for _, s := range []string{
		"",
		"cshub_",
		strings.Replace(good, "cshub_", "csHub_", 1),
		strings.Replace(good, "cshub_", "other_", 1),
		good + "a",
		good[:len(good)-1],
		strings.ToUpper(good),
		good[:6] + "g" + good[7:],       // not hex in the id
		good[:len(good)-1] + "1",        // not base32 in the random part
		good[:6+16] + "-" + good[6+17:], // wrong separator
		"Bearer " + good,
	} {
		if _, err := ParseAPIKey(s); hub.ErrorCode(err) != hub.EUnauthorized {
			t.Errorf("ParseAPIKey(%q) error = %v, want unauthorized", s, err)
		}
	}
}

func FuzzParseAPIKey(f *testing.F) {
	good, _ := NewAPIKey("o", 1, hub.ScopeRead, time.Time{})
	f.Add(good)
	f.Add("cshub_0123456789abcdef_")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseAPIKey(s)
		if err != nil {
			return
		}
		if len(id) != 16 || !strings.HasPrefix(s, "cshub_"+id+"_") || len(s) != len(good) {
			t.Fatalf("ParseAPIKey(%q) = %q", s, id)
		}
	})
}

func TestAuthenticatorAPIKey(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	now := f.clock.Now()
	admin := f.user(t, "alice", "cert-fr", hub.RoleAdmin, "pw-alice")
	reader := f.user(t, "rita", "cert-fr", hub.RoleReader, "pw-rita")
	inactive := f.user(t, "ivan", "cert-fr", hub.RoleAnalyst, "pw-ivan")
	inactive.Active = false
	f.dir.UpdateUser(ctx, inactive)
	gone := f.user(t, "gus", "cert-xx", hub.RoleAnalyst, "pw-gus")

	wr, _ := f.key(t, admin, hub.ScopeWrite, now.Add(time.Hour))
	never, _ := f.key(t, admin, hub.ScopeAdmin, time.Time{})
	readerAdmin, _ := f.key(t, reader, hub.ScopeAdmin, time.Time{})
	expired, _ := f.key(t, admin, hub.ScopeRead, now)
	revoked, rk := f.key(t, admin, hub.ScopeRead, time.Time{})
	f.dir.RevokeAPIKey(ctx, rk.ID)
	inact, _ := f.key(t, inactive, hub.ScopeRead, time.Time{})
	goneKey, _ := f.key(t, gone, hub.ScopeRead, time.Time{})
	moved, _ := NewAPIKey("cert-xx", admin.ID, hub.ScopeRead, time.Time{}) // user not of that org
	f.dir.CreateAPIKey(ctx, mustKey(moved, "cert-xx", admin.ID))
	// Same id, one character of the random part changed.
	i := len(wr) - 10
	forged := wr[:i] + map[bool]string{true: "b", false: "a"}[wr[i] == 'a'] + wr[i+1:]
	unknown, _ := NewAPIKey("cert-fr", admin.ID, hub.ScopeRead, time.Time{})

	type want struct {
		ok    bool
		scope hub.Scope
		why   string // in the error chain
	}
	for _, tc := range []struct {
		name   string
		secret string
		want   want
	}{
		{"write key", wr, want{true, hub.ScopeWrite, ""}},
		{"admin key without expiry", never, want{true, hub.ScopeAdmin, ""}},
		{"admin key narrowed to a reader's role", readerAdmin, want{true, hub.ScopeRead, ""}},
		{"expired at exactly now", expired, want{false, "", "expired"}},
		{"revoked", revoked, want{false, "", "revoked"}},
		{"inactive user", inact, want{false, "", "inactive"}},
		{"inactive org", goneKey, want{false, "", "inactive"}},
		{"user of another org", moved, want{false, "", "belongs to"}},
		{"forged secret with a real id", forged, want{false, "", "does not match"}},
		{"unknown id", unknown, want{false, "", "not found"}},
		{"malformed", "cshub_nope", want{false, "", "malformed"}},
	} {
		p, err := f.a.APIKey(ctx, tc.secret)
		if !tc.want.ok {
			if hub.ErrorCode(err) != hub.EUnauthorized {
				t.Errorf("%s: err = %v, want unauthorized", tc.name, err)
				continue
			}
			if msg := hub.ErrorMessage(err); msg != "invalid or expired credentials" {
				t.Errorf("%s: client message = %q, want the generic one", tc.name, msg)
			}
			if !strings.Contains(err.Error(), tc.want.why) {
				t.Errorf("%s: err = %v, want the reason %q in the chain", tc.name, err, tc.want.why)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: err = %v", tc.name, err)
			continue
		}
		if p.Scope != tc.want.scope || p.Via != ViaKey || p.Org != "cert-fr" || p.UserID == 0 || p.Username == "" {
			t.Errorf("%s: principal = %+v, want scope %s via key", tc.name, p, tc.want.scope)
		}
	}

	// Expiry moves with the clock: the write key dies after its hour.
	f.clock.Add(time.Hour)
	if _, err := f.a.APIKey(ctx, wr); hub.ErrorCode(err) != hub.EUnauthorized {
		t.Errorf("key after expiry: err = %v, want unauthorized", err)
	}
}

func mustKey(secret, org string, userID int64) *hub.APIKey {
	id, _ := ParseAPIKey(secret)
	sum := sha256.Sum256([]byte(secret))
	return &hub.APIKey{ID: id, Hash: sum[:], Org: org, UserID: userID, Scope: hub.ScopeRead}
}

// storeDown fails every lookup, to show that store errors are not reported as bad credentials.
type storeDown struct{ *memDir }

func (storeDown) APIKey(context.Context, string) (*hub.APIKey, error) {
	return nil, hub.Errorf(hub.EUnavailable, "database down")
}

func TestAPIKeyStoreError(t *testing.T) {
	f := newFixture(t, nil)
	a, err := New(Config{Directory: storeDown{f.dir}, Params: cheap})
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := NewAPIKey("cert-fr", 1, hub.ScopeRead, time.Time{})
	_, err = a.APIKey(context.Background(), secret)
	if hub.ErrorCode(err) != hub.EUnavailable {
		t.Errorf("err = %v, want unavailable", err)
	}
	var he *hub.Error
	if !errors.As(err, &he) {
		t.Errorf("err %v has no *hub.Error", err)
	}
}

func TestPrincipalAllows(t *testing.T) {
	for _, tc := range []struct {
		have, need hub.Scope
		want       bool
	}{
		{hub.ScopeAdmin, hub.ScopeAdmin, true},
		{hub.ScopeAdmin, hub.ScopeWrite, true},
		{hub.ScopeAdmin, hub.ScopeRead, true},
		{hub.ScopeWrite, hub.ScopeAdmin, false},
		{hub.ScopeWrite, hub.ScopeWrite, true},
		{hub.ScopeWrite, hub.ScopeRead, true},
		{hub.ScopeRead, hub.ScopeWrite, false},
		{hub.ScopeRead, hub.ScopeRead, true},
		{"", hub.ScopeRead, false},
		{"root", hub.ScopeRead, false},
		{hub.ScopeAdmin, "", false},
		{hub.ScopeAdmin, "root", false},
	} {
		if got := (Principal{Scope: tc.have}).Allows(tc.need); got != tc.want {
			t.Errorf("Principal{Scope: %q}.Allows(%q) = %v, want %v", tc.have, tc.need, got, tc.want)
		}
	}
}
