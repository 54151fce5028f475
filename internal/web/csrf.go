package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"

	"cshub/internal/auth"
)

// Forms carry a CSRF token in the hidden field csrfField. After login the token is an HMAC over
// the session's identity (user id and issue time), so it lasts as long as the session and a
// token of one session is worthless in another. Before login there is no session to bind to,
// so the server sets a random pre-session cookie and the token is an HMAC over its value: a
// signed double submit. An attacker can neither read the cookie (HttpOnly, and __Host- keeps
// sibling hosts from planting one) nor compute the token without the key.
const (
	csrfField      = "csrf"
	preSessionName = "__Host-cshub-presession"
	preSessionLen  = 32 // random bytes in a pre-session cookie
)

// deriveKey derives a key for one purpose from the session key, so that the key signing
// sessions never signs anything else directly.
func deriveKey(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

func (s *Server) mac(parts ...string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	for _, p := range parts {
		// Length-prefixed, so that no two different part lists hash the same input.
		m.Write([]byte(strconv.Itoa(len(p))))
		m.Write([]byte{':'})
		m.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// sessionToken returns the CSRF token for the forms of p's session.
func (s *Server) sessionToken(p *auth.Principal) string {
	return s.mac("session", strconv.FormatInt(p.UserID, 10), p.Org, strconv.FormatInt(p.Issued.UnixNano(), 10))
}

// preSessionToken returns the CSRF token for the pre-session cookie value v.
func (s *Server) preSessionToken(v string) string { return s.mac("pre-session", v) }

// validToken compares a submitted token with the expected one in constant time.
func validToken(got, want string) bool {
	return got != "" && want != "" && hmac.Equal([]byte(got), []byte(want))
}

// preSession returns the value of r's pre-session cookie if it is well formed, or "".
func preSession(r *http.Request) string {
	c, err := r.Cookie(preSessionName)
	if err != nil {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(b) != preSessionLen {
		return ""
	}
	return c.Value
}

// ensurePreSession returns r's pre-session cookie value, setting a new cookie on w when r has
// none.
func ensurePreSession(w http.ResponseWriter, r *http.Request) string {
	if v := preSession(r); v != "" {
		return v
	}
	v := base64.RawURLEncoding.EncodeToString(randomBytes(preSessionLen))
	http.SetCookie(w, preSessionCookie(v))
	return v
}

func preSessionCookie(v string) *http.Cookie {
	return &http.Cookie{
		Name: preSessionName, Value: v, Path: "/",
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails: crypto/rand panics rather than return short
	return b
}
