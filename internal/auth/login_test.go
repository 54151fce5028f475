package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"cshub/internal/hub"
)

const generic = "invalid or expired credentials"

// fakeSeal stands in for the sealing layer: the "sealed" secret is the plain one with a prefix.
func fakeSeal(secret string) []byte { return []byte("sealed:" + secret) }

func fakeOpen(_ context.Context, u *hub.User) (string, error) {
	s, ok := strings.CutPrefix(string(u.TOTPSecret), "sealed:")
	if !ok {
		return "", hub.Errorf(hub.ESealed, "keyring sealed")
	}
	return s, nil
}

func loginFixture(t *testing.T) *fixture {
	return newFixture(t, func(c *Config) {
		c.Users = &Throttle{Max: 3, Window: 10 * time.Minute, Backoff: time.Minute, MaxBackoff: time.Hour}
		c.IPs = &Throttle{Max: 6, Window: 10 * time.Minute, Backoff: 5 * time.Minute, MaxBackoff: time.Hour}
		c.Open = fakeOpen
	})
}

func TestLogin(t *testing.T) {
	f := loginFixture(t)
	ctx := context.Background()
	f.user(t, "alice", "cert-fr", hub.RoleAnalyst, "alice's long passphrase")
	off := f.user(t, "olga", "cert-fr", hub.RoleAnalyst, "olga's long passphrase")
	off.Active = false
	f.dir.UpdateUser(ctx, off)
	f.user(t, "gus", "cert-xx", hub.RoleAdmin, "gus's long passphrase")

	p, err := f.a.Login(ctx, "alice", "alice's long passphrase", "", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if p.Username != "alice" || p.Org != "cert-fr" || p.Role != hub.RoleAnalyst || p.Scope != hub.ScopeWrite || p.Via != ViaSession || p.UserID == 0 {
		t.Errorf("principal = %+v", p)
	}

	for _, tc := range []struct{ name, user, pw, why string }{
		{"wrong password", "alice", "alice's long passphrasf", "wrong password"},
		{"unknown user", "mallory", "whatever it is", "no user"},
		{"inactive user", "olga", "olga's long passphrase", "inactive"},
		{"inactive org", "gus", "gus's long passphrase", "inactive"},
		{"empty password", "alice", "", "wrong password"},
	} {
		_, err := f.a.Login(ctx, tc.user, tc.pw, "", "")
		if hub.ErrorCode(err) != hub.EUnauthorized || hub.ErrorMessage(err) != generic || hub.ErrorField(err) != "" {
			t.Errorf("%s: err = %v, want the generic unauthorized error", tc.name, err)
		} else if !strings.Contains(err.Error(), tc.why) || strings.Count(err.Error(), generic) != 1 {
			t.Errorf("%s: err = %v, want %q in the chain", tc.name, err, tc.why)
		}
		f.a.cfg.Users.Reset(ctx, "user:"+tc.user)
	}
}

func TestLoginLockout(t *testing.T) {
	f := loginFixture(t)
	ctx := context.Background()
	f.user(t, "alice", "cert-fr", hub.RoleAnalyst, "alice's long passphrase")
	right, wrong := "alice's long passphrase", "guess"

	// Two failures, a success, two more failures: the success reset the count, no lock-out.
	for _, pw := range []string{wrong, wrong, right, wrong, wrong} {
		f.a.Login(ctx, "alice", pw, "", "")
	}
	if _, err := f.a.Login(ctx, "alice", right, "", ""); err != nil {
		t.Fatalf("locked out although a success came between: %v", err)
	}

	// Three failures lock the name; even the right password is refused during the back-off,
	// also when typed in another case.
	for range 3 {
		f.a.Login(ctx, "alice", wrong, "", "")
	}
	for _, name := range []string{"alice", "ALICE"} {
		if _, err := f.a.Login(ctx, name, right, "", ""); hub.ErrorCode(err) != hub.ERateLimited {
			t.Errorf("during lock-out (%s): err = %v, want rate_limited", name, err)
		}
	}
	f.clock.Add(59 * time.Second)
	if _, err := f.a.Login(ctx, "alice", right, "", ""); hub.ErrorCode(err) != hub.ERateLimited {
		t.Errorf("just before release: err = %v, want rate_limited", err)
	}
	f.clock.Add(time.Second)
	if _, err := f.a.Login(ctx, "alice", right, "", ""); err != nil {
		t.Errorf("after back-off: %v", err)
	}

	// Unknown names lock out as well, so lock-out does not reveal which names exist.
	for range 3 {
		f.a.Login(ctx, "mallory", wrong, "", "")
	}
	if _, err := f.a.Login(ctx, "mallory", wrong, "", ""); hub.ErrorCode(err) != hub.ERateLimited {
		t.Errorf("unknown name after 3 failures: err = %v, want rate_limited", err)
	}
}

func TestLoginIPLockout(t *testing.T) {
	f := loginFixture(t)
	ctx := context.Background()
	f.user(t, "alice", "cert-fr", hub.RoleAnalyst, "alice's long passphrase")
	// Spraying one password over many names from one address locks the address (6 failures)
	// although no name reaches its own limit.
	for i := range 6 {
		f.a.Login(ctx, "user"+string(rune('a'+i)), "Summer2026!", "", "198.51.100.7")
	}
	if _, err := f.a.Login(ctx, "alice", "alice's long passphrase", "", "198.51.100.7"); hub.ErrorCode(err) != hub.ERateLimited {
		t.Errorf("from the locked address: err = %v, want rate_limited", err)
	}
	if _, err := f.a.Login(ctx, "alice", "alice's long passphrase", "", "198.51.100.8"); err != nil {
		t.Errorf("from another address: %v", err)
	}
	f.clock.Add(5 * time.Minute)
	if _, err := f.a.Login(ctx, "alice", "alice's long passphrase", "", "198.51.100.7"); err != nil {
		t.Errorf("after the address's back-off: %v", err)
	}
}

func TestLoginTOTP(t *testing.T) {
	f := loginFixture(t)
	ctx := context.Background()
	u := f.user(t, "alice", "cert-fr", hub.RoleAnalyst, "alice's long passphrase")
	u.TOTPSecret = fakeSeal(rfcSecret)
	f.dir.UpdateUser(ctx, u)
	pw := "alice's long passphrase"
	now := f.clock.Now()
	code := codeAt(t, rfcSecret, now)

	_, err := f.a.Login(ctx, "alice", pw, "", "")
	if hub.ErrorCode(err) != hub.EUnauthorized || hub.ErrorField(err) != "totp" {
		t.Errorf("no code: err = %v, want unauthorized naming totp", err)
	}
	if _, err := f.a.Login(ctx, "alice", "wrong password", code, ""); hub.ErrorCode(err) != hub.EUnauthorized || hub.ErrorField(err) != "" {
		t.Errorf("wrong password with a right code: err = %v, want generic unauthorized", err)
	}
	if _, err := f.a.Login(ctx, "alice", pw, wrongCode(code), ""); hub.ErrorCode(err) != hub.EUnauthorized || !strings.Contains(err.Error(), "one-time code") {
		t.Errorf("wrong code: err = %v, want unauthorized (one-time code)", err)
	}
	p, err := f.a.Login(ctx, "alice", pw, code, "")
	if err != nil || p.UserID != u.ID {
		t.Fatalf("right code: %+v, %v", p, err)
	}
	if _, err := f.a.Login(ctx, "alice", pw, code, ""); hub.ErrorCode(err) != hub.EUnauthorized {
		t.Errorf("replayed code: err = %v, want unauthorized", err)
	}
	f.clock.Add(30 * time.Second)
	if _, err := f.a.Login(ctx, "alice", pw, codeAt(t, rfcSecret, f.clock.Now()), ""); err != nil {
		t.Errorf("next step's code: %v", err)
	}

	// A secret that cannot be opened is the sealing layer's error, not bad credentials.
	u.TOTPSecret = []byte("garbage")
	f.dir.UpdateUser(ctx, u)
	f.clock.Add(30 * time.Second)
	_, err = f.a.Login(ctx, "alice", pw, codeAt(t, rfcSecret, f.clock.Now()), "")
	if hub.ErrorCode(err) != hub.ESealed {
		t.Errorf("unopenable secret: err = %v, want sealed", err)
	}
}

func TestLoginBusy(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxHashing = 1 })
	f.user(t, "alice", "cert-fr", hub.RoleAnalyst, "pw")
	f.a.hashing <- struct{}{} // every place taken
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := f.a.Login(ctx, "alice", "pw", "", "")
	if hub.ErrorCode(err) != hub.EUnavailable || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want unavailable wrapping the deadline", err)
	}
	<-f.a.hashing
	if _, err := f.a.Login(context.Background(), "alice", "pw", "", ""); err != nil {
		t.Errorf("after the place freed: %v", err)
	}
}

// TestLoginUnknownUserTiming checks that a login for a name that does not exist costs an
// argon2 run like one for a name that does. The parameters (8 MiB, one pass) make a run take
// milliseconds; without the dummy hash the unknown name would take microseconds, so the loose
// bound does not flake on a loaded machine.
func TestLoginUnknownUserTiming(t *testing.T) {
	mid := Argon2Params{Memory: 8 * 1024, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}
	f := newFixture(t, func(c *Config) { c.Params = mid; c.Users = &Throttle{Max: 100} })
	h, err := mid.Hash("alice's long passphrase")
	if err != nil {
		t.Fatal(err)
	}
	u := &hub.User{Org: "cert-fr", Username: "alice", Role: hub.RoleAnalyst, PasswordHash: h, Active: true}
	f.dir.CreateUser(context.Background(), u)
	login := func(name string) time.Duration {
		start := time.Now()
		f.a.Login(context.Background(), name, "wrong password", "", "")
		return time.Since(start)
	}
	// The fastest of several attempts, the two names taking turns, so that a busy machine
	// slowing one stretch of the test does not slow only one name's attempts.
	known, unknown := time.Hour, time.Hour
	for range 7 {
		known = min(known, login("alice"))
		unknown = min(unknown, login("nobody"))
	}
	t.Logf("wrong password: known user %v, unknown user %v", known, unknown)
	if unknown < known/2 {
		t.Errorf("unknown user took %v, known %v: the unknown path skips argon2", unknown, known)
	}
}

func TestAddrKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.1", "ip:192.0.2.1"},
		{"::ffff:192.0.2.1", "ip:192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "ip:2001:db8:1:2::/64"},
		{"2001:db8:1:2::99", "ip:2001:db8:1:2::/64"},
		{"fe80::1%eth0", "ip:fe80::/64"},
		{"not an address", "ip:not an address"},
	} {
		if got := addrKey(tc.in); got != tc.want {
			t.Errorf("addrKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLoginRecoveryCode(t *testing.T) {
	plain, hashes := NewRecoveryCodes()
	f := newFixture(t, func(c *Config) { c.Open = fakeOpen })
	ctx := context.Background()
	u := f.user(t, "alice", "cert-fr", hub.RoleAnalyst, "pw")
	u.TOTPSecret, u.RecoveryCodes = fakeSeal(rfcSecret), hashes
	f.dir.UpdateUser(ctx, u)

	if _, err := f.a.Login(ctx, "alice", "pw", plain[0], ""); err != nil {
		t.Fatalf("recovery code: %v", err)
	}
	if _, err := f.a.Login(ctx, "alice", "pw", plain[0], ""); hub.ErrorCode(err) != hub.EUnauthorized {
		t.Errorf("spent recovery code: err = %v, want unauthorized", err)
	}
	if got, _ := f.dir.User(ctx, u.ID); len(got.RecoveryCodes) != 9 {
		t.Errorf("%d recovery codes left in the store, want 9", len(got.RecoveryCodes))
	}
	// Six digits still go to TOTP.
	if _, err := f.a.Login(ctx, "alice", "pw", codeAt(t, rfcSecret, f.clock.Now()), ""); err != nil {
		t.Errorf("TOTP code beside recovery: %v", err)
	}
}
