package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"image/png"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP settings: those every authenticator app supports (RFC 6238 defaults): HMAC-SHA1, six
// digits, 30-second steps, a 160-bit secret.
const (
	totpPeriod     = 30
	totpSkew       = 1 // steps either side of now
	totpSecretSize = 20
	totpQRSize     = 256 // pixels
)

// EnrollTOTP makes a new TOTP secret for account at issuer. It returns the secret (base32, to
// be sealed and stored in hub.User.TOTPSecret once the user has confirmed a first code), the
// otpauth:// URL that authenticator apps read, and that URL as a QR code in PNG.
func EnrollTOTP(issuer, account string) (secret, otpauthURL string, qrPNG []byte, err error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      totpPeriod,
		SecretSize:  totpSecretSize,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", "", nil, fmt.Errorf("auth: TOTP enrolment: %w", err)
	}
	img, err := key.Image(totpQRSize, totpQRSize)
	if err != nil {
		return "", "", nil, fmt.Errorf("auth: TOTP QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", "", nil, fmt.Errorf("auth: TOTP QR code: %w", err)
	}
	return key.Secret(), key.URL(), buf.Bytes(), nil
}

// totpStep returns the RFC 6238 time step of t.
func totpStep(t time.Time) int64 {
	s := t.Unix()
	if s < 0 {
		return -1
	}
	return s / totpPeriod
}

// isTOTPCode reports whether code, trimmed of spaces, has the form of a TOTP code: six digits.
func isTOTPCode(code string) bool {
	code = strings.TrimSpace(code)
	if len(code) != 6 {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// MatchTOTP checks code against secret for the steps of now-30s, now and now+30s, and returns
// the step it matched. It has no replay protection of its own: see TOTPGuard.
func MatchTOTP(secret, code string, now time.Time) (step int64, ok bool) {
	code = strings.TrimSpace(code)
	if !isTOTPCode(code) {
		return 0, false
	}
	cur := totpStep(now)
	if cur < totpSkew {
		return 0, false
	}
	matched := int64(-1)
	// Every candidate step is computed and compared, so the time taken does not depend on
	// which (if any) matched.
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		st := cur + d
		want, err := totp.GenerateCodeCustom(secret, time.Unix(st*totpPeriod, 0), totp.ValidateOpts{
			Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
		})
		if err != nil {
			return 0, false // a secret that is not base32
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && matched < 0 {
			matched = st
		}
	}
	return matched, matched >= 0
}

// VerifyTOTP reports whether code is valid for secret at now, within one step either side. It
// has no replay protection: a login path uses TOTPGuard.Verify, which refuses a code accepted
// before.
func VerifyTOTP(secret, code string, now time.Time) bool {
	_, ok := MatchTOTP(secret, code, now)
	return ok
}

// TOTPGuard verifies TOTP codes and refuses replays: once a code for a step has been accepted
// for a user, no code for that step or an earlier one is accepted for that user again. It
// remembers the last accepted step per user id, in memory; a user's entry is dropped once its
// step is outside every window still open. With several replicas a code could be replayed on
// another replica within its 90 seconds; LastStep and Accepted let a caller keep the step in
// shared storage instead.
//
// The zero value is ready to use; a TOTPGuard is safe for concurrent use.
type TOTPGuard struct {
	mu   sync.Mutex
	last map[int64]int64 // user id -> last accepted step; guarded by mu
}

// Verify reports whether code is valid for secret at now and newer than the last code accepted
// for userID; if so it records the code's step as the last accepted.
func (g *TOTPGuard) Verify(userID int64, secret, code string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.last == nil {
		g.last = make(map[int64]int64)
	}
	step, ok := VerifyTOTPAfter(secret, code, now, g.last[userID])
	if !ok {
		return false
	}
	g.last[userID] = step
	// Forget steps that can no longer collide with any code accepted at now: the window
	// reaches back totpSkew steps.
	cur := totpStep(now)
	for id, st := range g.last {
		if st < cur-totpSkew-1 {
			delete(g.last, id)
		}
	}
	return true
}

// VerifyTOTPAfter is the stateless form of TOTPGuard.Verify for callers that store the last
// accepted step themselves: it accepts code only for a step after lastStep (0: none yet) and
// returns that step, to be stored as the new lastStep.
func VerifyTOTPAfter(secret, code string, now time.Time, lastStep int64) (step int64, ok bool) {
	step, ok = MatchTOTP(secret, code, now)
	if !ok || step <= lastStep {
		return 0, false
	}
	return step, true
}

// Recovery codes: ten, each 16 characters of Crockford's base32 (80 random bits) shown as
// four groups of four. With 80 bits a plain SHA-256 suffices: there is nothing to guess.
const (
	recoveryCount = 10
	recoveryLen   = 16
)

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewRecoveryCodes returns ten new recovery codes to show the user once, and their SHA-256
// hashes to store in their place.
func NewRecoveryCodes() (plain []string, hashes [][]byte) {
	for range recoveryCount {
		var b [recoveryLen]byte
		rand.Read(b[:]) // never fails; see crypto/rand.Read
		var sb strings.Builder
		for i, c := range b {
			if i > 0 && i%4 == 0 {
				sb.WriteByte('-')
			}
			sb.WriteByte(crockford[c&31]) // 256 is a multiple of 32: no bias
		}
		code := sb.String()
		plain = append(plain, code)
		hashes = append(hashes, hashRecovery(code))
	}
	return plain, hashes
}

// normaliseRecovery reads a code as people type it: any case, with or without dashes and
// spaces, O for 0 and I or L for 1.
func normaliseRecovery(code string) string {
	var sb strings.Builder
	for _, r := range strings.ToUpper(code) {
		switch r {
		case '-', ' ', '\t':
			continue
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

func hashRecovery(code string) []byte {
	sum := sha256.Sum256([]byte("cshub recovery v1:" + normaliseRecovery(code)))
	return sum[:]
}

// UseRecoveryCode checks code against the stored hashes. If it matches one, it returns the
// hashes without that one, to be stored in place of the old list so that the code cannot be
// used again, and true; otherwise hashes unchanged and false. Every hash is compared, in
// constant time.
func UseRecoveryCode(hashes [][]byte, code string) (rest [][]byte, ok bool) {
	if n := len(normaliseRecovery(code)); n != recoveryLen {
		return hashes, false
	}
	h := hashRecovery(code)
	found := -1
	for i, stored := range hashes {
		if subtle.ConstantTimeCompare(stored, h) == 1 && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return hashes, false
	}
	rest = make([][]byte, 0, len(hashes)-1)
	rest = append(rest, hashes[:found]...)
	rest = append(rest, hashes[found+1:]...)
	return rest, true
}
