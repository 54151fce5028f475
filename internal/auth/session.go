package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"cshub/internal/hub"
)

// SessionCookieName is the name of the session cookie. The __Host- prefix makes browsers
// accept it only when Secure, with Path=/ and no Domain, so a sibling host cannot plant one.
const SessionCookieName = "__Host-cshub-session"

// sessionRefresh is how stale a session's last-seen time may be before Verify issues a
// refreshed value; it keeps the hub from sending a Set-Cookie with every request.
const sessionRefresh = time.Minute

// sessionClockSkew is how far in the future an issued-at or last-seen time may lie, since the
// replicas that issue and verify a cookie need not share a clock exactly.
const sessionClockSkew = time.Minute

// maxSessionValue bounds what Verify reads before doing any work.
const maxSessionValue = 4096

// Sessions issues and verifies stateless session cookies. A value is
// "v1.<payload>.<mac>", both parts unpadded base64url: the payload is JSON carrying the user's
// id, name, organisation, role, issued-at and last-seen times; the MAC is HMAC-SHA256 under a
// key derived from Key. The payload is signed, not encrypted: it holds nothing a user may not
// know about themselves. Any replica holding the same Key verifies any other's cookies.
//
// Logging out: the value cannot be recalled, so the caller keeps, per user, a "sessions valid
// after" time. Logging a user out (everywhere) sets it to now; a Principal from Verify whose
// Issued is not after that time must be refused (Authenticator.Session does this). Clearing the
// cookie (ClearCookie) only logs out the one browser.
//
// The zero value is unusable: Key must hold at least 32 bytes, and Idle and Absolute must be
// positive. A Sessions is safe for concurrent use and is not modified by its methods.
type Sessions struct {
	Key      []byte        // the keyring's MAC key; at least 32 bytes
	Idle     time.Duration // a session unused for longer ends
	Absolute time.Duration // a session older than this ends, however used
}

type sessionPayload struct {
	UserID   int64    `json:"u"`
	Username string   `json:"n"`
	Org      string   `json:"o"`
	Role     hub.Role `json:"r"`
	Issued   int64    `json:"i"` // Unix nanoseconds
	Seen     int64    `json:"s"` // Unix nanoseconds
}

func (s *Sessions) check() error {
	switch {
	case len(s.Key) < 32:
		return errors.New("auth: session key shorter than 32 bytes")
	case s.Idle <= 0 || s.Absolute <= 0:
		return errors.New("auth: session idle and absolute lifetimes must be positive")
	}
	return nil
}

// macKey derives the session MAC key from Key, so that the keyring's MAC key, used elsewhere
// too, never signs a session directly.
func (s *Sessions) macKey() []byte {
	m := hmac.New(sha256.New, s.Key)
	m.Write([]byte("cshub session cookie v1"))
	return m.Sum(nil)
}

func (s *Sessions) sign(p sessionPayload) (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("auth: encoding session: %w", err)
	}
	body := "v1." + base64.RawURLEncoding.EncodeToString(b)
	m := hmac.New(sha256.New, s.macKey())
	m.Write([]byte(body))
	return body + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// Issue returns a session value for p, issued and last seen at now. Only p's UserID, Username,
// Org and Role are carried; the scope follows from the role (RoleScope). The error is non-nil
// only when s is misconfigured.
func (s *Sessions) Issue(p Principal, now time.Time) (string, error) {
	if err := s.check(); err != nil {
		return "", err
	}
	return s.sign(sessionPayload{
		UserID: p.UserID, Username: p.Username, Org: p.Org, Role: p.Role,
		Issued: now.UnixNano(), Seen: now.UnixNano(),
	})
}

// Verify checks value at now and returns its Principal (Via ViaSession, Issued set) and the
// value to send back: a refreshed one with last-seen now once the old one is a minute stale,
// else value itself. A value that is malformed, tampered with, idle for longer than Idle or
// older than Absolute is an EUnauthorized *hub.Error whose message is generic and whose chain
// holds the reason.
func (s *Sessions) Verify(value string, now time.Time) (Principal, string, error) {
	if err := s.check(); err != nil {
		return Principal{}, "", err
	}
	p, err := s.verify(value, now)
	if err != nil {
		return Principal{}, "", unauthorized(err)
	}
	prin := Principal{
		Org: p.Org, UserID: p.UserID, Username: p.Username, Role: p.Role,
		Scope: RoleScope(p.Role), Via: ViaSession, Issued: time.Unix(0, p.Issued),
	}
	refreshed := value
	if now.Sub(time.Unix(0, p.Seen)) >= sessionRefresh {
		p.Seen = now.UnixNano()
		if refreshed, err = s.sign(p); err != nil {
			return Principal{}, "", err
		}
	}
	return prin, refreshed, nil
}

func (s *Sessions) verify(value string, now time.Time) (sessionPayload, error) {
	var p sessionPayload
	if len(value) > maxSessionValue {
		return p, errors.New("session value too long")
	}
	body, mac, ok := cutLast(value, ".")
	if !ok || !strings.HasPrefix(body, "v1.") {
		return p, errors.New("malformed session value")
	}
	got, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil {
		return p, errors.New("malformed session MAC")
	}
	m := hmac.New(sha256.New, s.macKey())
	m.Write([]byte(body))
	if !hmac.Equal(got, m.Sum(nil)) {
		return p, errors.New("session MAC mismatch")
	}
	raw, err := base64.RawURLEncoding.DecodeString(body[len("v1."):])
	if err != nil {
		return p, errors.New("malformed session payload")
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, fmt.Errorf("malformed session payload: %w", err)
	}
	issued, seen := time.Unix(0, p.Issued), time.Unix(0, p.Seen)
	switch {
	case p.UserID == 0 || p.Org == "":
		return p, errors.New("session without user or organisation")
	case issued.After(now.Add(sessionClockSkew)) || seen.After(now.Add(sessionClockSkew)) || seen.Before(issued):
		return p, errors.New("session times inconsistent")
	case now.Sub(issued) > s.Absolute:
		return p, fmt.Errorf("session older than %v", s.Absolute)
	case now.Sub(seen) > s.Idle:
		return p, fmt.Errorf("session idle for more than %v", s.Idle)
	}
	return p, nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// Cookie returns the session cookie carrying value: Secure, HttpOnly, SameSite=Strict, Path=/,
// no Domain, and no expiry, so that the browser forgets it when closed; Verify enforces the
// lifetimes.
func (s *Sessions) Cookie(value string) *http.Cookie {
	return &http.Cookie{
		Name:     SessionCookieName,
		Value:    value,
		Path:     "/",
		Secure:   true,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	}
}

// ClearCookie returns a cookie that makes the browser drop the session cookie.
func (s *Sessions) ClearCookie() *http.Cookie {
	c := s.Cookie("")
	c.MaxAge = -1
	return c
}

// unauthorized wraps reason in the one EUnauthorized error clients see; the reason stays in
// the chain for the log.
func unauthorized(reason error) *hub.Error {
	return &hub.Error{Code: hub.EUnauthorized, Message: "invalid or expired credentials", Err: reason}
}
