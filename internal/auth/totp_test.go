package auth

import (
	"bytes"
	"image/png"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// rfcSecret is the SHA-1 seed of RFC 6238 appendix B ("12345678901234567890") in base32.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTOTPRFC6238Vectors(t *testing.T) {
	// RFC 6238 appendix B, SHA-1 column, last six of the eight digits.
	for _, tc := range []struct {
		unix int64
		code string
	}{
		{59, "287082"},
		{1111111109, "081804"},
		{1111111111, "050471"},
		{1234567890, "005924"},
		{2000000000, "279037"},
	} {
		if !VerifyTOTP(rfcSecret, tc.code, time.Unix(tc.unix, 0)) {
			t.Errorf("VerifyTOTP(RFC secret, %s, %d) = false, want true", tc.code, tc.unix)
		}
	}
}

func TestVerifyTOTP(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 15, 0, time.UTC) // mid-step
	step := 30 * time.Second
	cur := codeAt(t, rfcSecret, now)
	for _, tc := range []struct {
		name string
		code string
		want bool
	}{
		{"current", cur, true},
		{"current with spaces", " " + cur + " ", true},
		{"previous step", codeAt(t, rfcSecret, now.Add(-step)), true},
		{"next step", codeAt(t, rfcSecret, now.Add(step)), true},
		{"two steps back", codeAt(t, rfcSecret, now.Add(-2*step)), false},
		{"two steps ahead", codeAt(t, rfcSecret, now.Add(2*step)), false},
		{"wrong", wrongCode(cur), false},
		{"empty", "", false},
		{"five digits", cur[:5], false},
		{"seven digits", cur + "0", false},
		{"letters", "abcdef", false},
	} {
		if got := VerifyTOTP(rfcSecret, tc.code, now); got != tc.want {
			t.Errorf("%s: VerifyTOTP(%q) = %v, want %v", tc.name, tc.code, got, tc.want)
		}
	}
	if VerifyTOTP("not base32!", cur, now) {
		t.Errorf("VerifyTOTP with a bad secret = true")
	}
}

func wrongCode(c string) string {
	b := []byte(c)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

func TestTOTPGuardReplay(t *testing.T) {
	var g TOTPGuard
	now := time.Date(2026, 11, 22, 12, 0, 15, 0, time.UTC)
	code := codeAt(t, rfcSecret, now)
	if !g.Verify(1, rfcSecret, code, now) {
		t.Fatal("first use refused")
	}
	// Same code, same step, and within the skew window 20 s later: refused.
	if g.Verify(1, rfcSecret, code, now) {
		t.Error("replay in the same step accepted")
	}
	if g.Verify(1, rfcSecret, code, now.Add(20*time.Second)) {
		t.Error("replay in the next step accepted")
	}
	// Another user with the same secret is not affected.
	if !g.Verify(2, rfcSecret, code, now) {
		t.Error("other user refused")
	}
	// The previous step's code is older than the one accepted: refused too.
	if g.Verify(1, rfcSecret, codeAt(t, rfcSecret, now.Add(-30*time.Second)), now) {
		t.Error("older code accepted after a newer one")
	}
	// The next step's code is accepted once.
	later := now.Add(30 * time.Second)
	next := codeAt(t, rfcSecret, later)
	if !g.Verify(1, rfcSecret, next, later) {
		t.Error("next step's code refused")
	}
	if g.Verify(1, rfcSecret, next, later) {
		t.Error("next step's code accepted twice")
	}
	// A wrong code neither passes nor changes the state.
	if g.Verify(3, rfcSecret, wrongCode(code), now) {
		t.Error("wrong code accepted")
	}
	if !g.Verify(3, rfcSecret, code, now) {
		t.Error("right code refused after a wrong one")
	}
	// Old entries are forgotten once they cannot collide.
	much := now.Add(10 * time.Minute)
	if !g.Verify(9, rfcSecret, codeAt(t, rfcSecret, much), much) {
		t.Fatal("fresh code refused")
	}
	g.mu.Lock()
	n := len(g.last)
	g.mu.Unlock()
	if n != 1 {
		t.Errorf("guard remembers %d users, want 1", n)
	}
}

func TestTOTPGuardConcurrentReplay(t *testing.T) {
	var g TOTPGuard
	now := time.Date(2026, 11, 22, 12, 0, 15, 0, time.UTC)
	code := codeAt(t, rfcSecret, now)
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for range 8 {
		wg.Go(func() {
			if g.Verify(1, rfcSecret, code, now) {
				mu.Lock()
				accepted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if accepted != 1 {
		t.Errorf("code accepted %d times concurrently, want 1", accepted)
	}
}

func TestVerifyTOTPAfter(t *testing.T) {
	now := time.Unix(1_800_000_015, 0)
	code := codeAt(t, rfcSecret, now)
	step, ok := VerifyTOTPAfter(rfcSecret, code, now, 0)
	if !ok || step != 1_800_000_015/30 {
		t.Fatalf("VerifyTOTPAfter = %d, %v; want %d, true", step, ok, 1_800_000_015/30)
	}
	if _, ok := VerifyTOTPAfter(rfcSecret, code, now, step); ok {
		t.Error("VerifyTOTPAfter accepted the stored step again")
	}
}

func TestEnrollTOTP(t *testing.T) {
	secret, u, qr, err := EnrollTOTP("cshub", "alice@cert-fr")
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 32 { // 20 bytes in base32
		t.Errorf("secret %q has %d characters, want 32", secret, len(secret))
	}
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := parsed.Query()
	if parsed.Scheme != "otpauth" || parsed.Host != "totp" || q.Get("secret") != secret || q.Get("issuer") != "cshub" ||
		!strings.Contains(parsed.Path, "alice@cert-fr") {
		t.Errorf("otpauth URL = %q", u)
	}
	img, err := png.Decode(bytes.NewReader(qr))
	if err != nil {
		t.Fatalf("QR code is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 256 || b.Dy() != 256 {
		t.Errorf("QR code is %v, want 256x256", b)
	}
	now := time.Now()
	if !VerifyTOTP(secret, codeAt(t, secret, now), now) {
		t.Error("code from the enrolled secret refused")
	}
	if _, _, _, err := EnrollTOTP("", "alice"); err == nil {
		t.Error("EnrollTOTP without issuer succeeded")
	}
}

func TestRecoveryCodes(t *testing.T) {
	plain, hashes := NewRecoveryCodes()
	if len(plain) != 10 || len(hashes) != 10 {
		t.Fatalf("got %d codes and %d hashes, want 10 and 10", len(plain), len(hashes))
	}
	seen := map[string]bool{}
	for _, c := range plain {
		if len(c) != 19 || strings.Count(c, "-") != 3 {
			t.Errorf("code %q is not XXXX-XXXX-XXXX-XXXX", c)
		}
		if seen[c] {
			t.Errorf("code %q repeated", c)
		}
		seen[c] = true
		for _, h := range hashes {
			if bytes.Contains(h, []byte(c)) {
				t.Errorf("hash contains its code")
			}
		}
	}
	// Typed in lower case without dashes: accepted once.
	rest, ok := UseRecoveryCode(hashes, strings.ToLower(strings.ReplaceAll(plain[3], "-", "")))
	if !ok || len(rest) != 9 {
		t.Fatalf("UseRecoveryCode = %d hashes, %v; want 9, true", len(rest), ok)
	}
	if _, ok := UseRecoveryCode(rest, plain[3]); ok {
		t.Error("used code accepted again")
	}
	// The others still work, down to none.
	for i, c := range plain {
		if i == 3 {
			continue
		}
		if rest, ok = UseRecoveryCode(rest, c); !ok {
			t.Fatalf("code %d refused", i)
		}
	}
	if len(rest) != 0 {
		t.Errorf("%d hashes left, want 0", len(rest))
	}
	for _, bad := range []string{"", "0000-0000-0000-0000", "short"} {
		if _, ok := UseRecoveryCode(hashes, bad); ok {
			t.Errorf("UseRecoveryCode(%q) = true", bad)
		}
	}
}
