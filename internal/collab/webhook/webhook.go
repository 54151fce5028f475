// Package webhook delivers the hub's events to organisations' HTTPS endpoints: an organisation
// registers a URL and receives, as signed JSON, each event it may see on the live stream's path
// (access.PathStream; correlation notices on access.PathNotify), retried with exponential
// back-off, with a log of recent deliveries.
//
// A registration is a cshub custom object (x-cshub-webhook) stored through kb, TLP:RED without
// recipients, in one of the organisation's workspaces: sealed on disk, seen by the
// organisation only. Its signing secret is never stored anywhere: it is derived from the
// registration's id with the hub's keyed blind-index hash (seal.Barrier.Token), shown once at
// registration, and the same on every replica.
//
// Each delivery is a POST of a Delivery with the headers
//
//	Content-Type:      application/json
//	X-Cshub-Event:     object | sighting | note | mention | case | correlation
//	X-Cshub-Delivery:  the delivery id (the same on every retry, for the receiver to de-duplicate)
//	X-Cshub-Signature: t=UNIX-SECONDS,v1=HEX(HMAC-SHA256(secret, "UNIX-SECONDS." + body))
//
// which the receiver checks with Verify. A 2xx answer ends a delivery; anything else, or no
// answer, is retried after Backoff, 2·Backoff, 4·Backoff … up to MaxBackoff, MaxAttempts times.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"cshub/internal/hub"
	"cshub/internal/stix"
)

// Type is the STIX type of a registration.
const Type = "x-cshub-webhook"

// secretKind is the blind-index kind secrets are derived under; no object carries it.
const secretKind = "x-cshub-webhook-secret"

// Kinds of delivery an organisation may subscribe to.
var Kinds = []string{"object", "sighting", "note", "mention", "case", "correlation"}

// CheckURL reports whether raw may receive deliveries: an absolute https URL, or an http one
// on a loopback address (a receiver on the hub's own machine, as in tests), without user
// information, since credentials in a URL end up in logs.
func CheckURL(raw string) error {
	if raw == "" {
		return hub.FieldError("url", "required")
	}
	if len(raw) > 2048 {
		return hub.FieldError("url", "longer than 2048 bytes")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return hub.FieldError("url", "not a URL")
	}
	if u.User != nil {
		return hub.FieldError("url", "must not carry a user name or password")
	}
	if u.Host == "" || u.Hostname() == "" {
		return hub.FieldError("url", "must name a host")
	}
	if u.Fragment != "" || u.Opaque != "" {
		return hub.FieldError("url", "must be a plain https URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return hub.FieldError("url", "must be https (plain http only to a loopback address)")
	}
	return hub.FieldError("url", "scheme %q: must be https", u.Scheme)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Sign returns the X-Cshub-Signature header value of body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks the X-Cshub-Signature header of a delivery of body received at now: a valid
// HMAC under secret, signed no more than tolerance before or after now (so that a captured
// delivery cannot be replayed later). It compares in constant time.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return hub.FieldError("X-Cshub-Signature", "malformed: %q is not key=value", part)
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return hub.FieldError("X-Cshub-Signature", "v1 is not a hex HMAC-SHA256")
			}
			sigs = append(sigs, sig)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return hub.FieldError("X-Cshub-Signature", "t is not a Unix time")
	}
	if len(sigs) == 0 {
		return hub.FieldError("X-Cshub-Signature", "no v1 signature")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return hub.FieldError("X-Cshub-Signature", "signed at %s, outside the tolerance of %s", time.Unix(sec, 0).UTC().Format(time.RFC3339), tolerance)
	}
	want := mac(secret, ts, body)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return hub.FieldError("X-Cshub-Signature", "does not match the body")
}

// Delivery is the JSON body of a delivery. Object is the STIX object as the receiver may read
// it from the objects API (an anonymous sighting carries nothing naming its author);
// Correlations are the receiver's notices about its own object for a correlation.
type Delivery struct {
	ID           string          `json:"id"`
	Kind         string          `json:"kind"`
	Seq          uint64          `json:"seq"`
	Time         time.Time       `json:"time"`
	Workspace    string          `json:"workspace,omitempty"`
	TLP          hub.TLP         `json:"tlp,omitzero"`
	Object       json.RawMessage `json:"object,omitempty"`
	ObjectID     string          `json:"object_id,omitempty"`
	Correlations any             `json:"correlations,omitempty"`
}

// Attempt is one line of a webhook's delivery log.
type Attempt struct {
	Delivery string    `json:"delivery"`
	Kind     string    `json:"kind"`
	Seq      uint64    `json:"seq"`
	Attempt  int       `json:"attempt"`
	Time     time.Time `json:"time"`
	Status   int       `json:"status,omitempty"`
	Error    string    `json:"error,omitempty"`
	Done     bool      `json:"done"`   // delivered: the receiver answered 2xx
	Failed   bool      `json:"failed"` // given up after the last attempt, or dropped
}

// Hook is a registration as its organisation sees it.
type Hook struct {
	ID        string    `json:"id"`
	Org       string    `json:"org"`
	URL       string    `json:"url"`
	Workspace string    `json:"workspace"`
	Events    []string  `json:"events"`
	Created   time.Time `json:"created"`
}

// Registered is a new registration with its secret, which is shown this once.
type Registered struct {
	Hook
	Secret string `json:"secret"`
}

// Config holds what a Service is built from; see New.
type Config struct {
	Log *slog.Logger
	Now func() time.Time
	// Backoff is the wait before the first retry, doubled for each next one up to MaxBackoff;
	// 1s and 5m when zero.
	Backoff, MaxBackoff time.Duration
	// MaxAttempts is how many times a delivery is tried; 8 when zero.
	MaxAttempts int
	// Timeout bounds one attempt; 10s when zero.
	Timeout time.Duration
	// Queue is how many deliveries wait per webhook before new ones are dropped (and logged
	// as failed); 1000 when zero.
	Queue int
	// LogSize is how many attempts each webhook's delivery log keeps; 100 when zero.
	LogSize int
}

func newDeliveryID() string { return stix.NewID("delivery") }
