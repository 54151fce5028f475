package sources

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"cshub/internal/hub"
)

// Guard bounds what the hub fetches for its sources: a source URL is a member's input, and
// without bounds it would let a member make the hub read its own network (the metadata
// service, the database, other replicas) or hang on an endless answer.
type Guard struct {
	// AllowedHosts, when not empty, are the only hosts fetched: a name matches itself and,
	// written with a leading dot (".example.org"), its subdomains.
	AllowedHosts []string
	// AllowPrivate lets the hub fetch from loopback, private (RFC 1918, ULA), link-local and
	// other non-public addresses. Off in production; tests turn it on for httptest servers.
	AllowPrivate bool
	// Timeout bounds one request, from dialling to the last byte; 0 means 30 seconds.
	Timeout time.Duration
	// MaxBytes bounds one response body; 0 means 16 MiB.
	MaxBytes int64
}

func (g Guard) maxBytes() int64 {
	if g.MaxBytes > 0 {
		return g.MaxBytes
	}
	return 16 << 20
}

// maxRedirects bounds the redirects followed for one request.
const maxRedirects = 5

// CheckURL reports whether raw is a URL the guard lets the hub fetch, as far as can be told
// without resolving it: http or https, with a host that AllowedHosts allows and that is not a
// literal address the guard refuses. The error is EInvalid on field "url".
func (g Guard) CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return nil, hub.FieldError("url", "%q is not an http or https URL", raw)
	}
	if u.User != nil {
		return nil, hub.FieldError("url", "credentials in a source URL would be stored with it; use a URL without them")
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if len(g.AllowedHosts) > 0 && !g.hostAllowed(host) {
		return nil, hub.FieldError("url", "host %q is not among the hosts this hub fetches from", host)
	}
	if a, err := netip.ParseAddr(host); err == nil && !g.addrAllowed(a) {
		return nil, hub.FieldError("url", "%s is not a public address", a)
	}
	return u, nil
}

func (g Guard) hostAllowed(host string) bool {
	for _, h := range g.AllowedHosts {
		h = strings.ToLower(h)
		if host == h || (strings.HasPrefix(h, ".") && (strings.HasSuffix(host, h) || host == h[1:])) {
			return true
		}
	}
	return false
}

func (g Guard) addrAllowed(a netip.Addr) bool {
	a = a.Unmap()
	if g.AllowPrivate {
		return true
	}
	return a.IsGlobalUnicast() && !a.IsPrivate() && !a.IsLoopback() && !a.IsLinkLocalUnicast() &&
		!netip.MustParsePrefix("100.64.0.0/10").Contains(a) // carrier-grade NAT, private in effect
}

// Client returns the HTTP client that fetches under the guard. Addresses are checked when the
// connection is made, after name resolution, so that a name resolving to a private address is
// refused as the address itself would be; no proxy from the environment is used, since the
// check would then apply to the proxy instead of the source.
func (g Guard) Client() *http.Client {
	timeout := g.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, Control: func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("sources: dial %s: %w", address, err)
		}
		if !g.addrAllowed(ap.Addr()) {
			return errRefusedAddress{ap.Addr()}
		}
		return nil
	}}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: timeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       time.Minute,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("sources: more than %d redirects", maxRedirects)
			}
			if req.URL.Scheme != via[0].URL.Scheme {
				return fmt.Errorf("sources: redirect from %s to %s refused: a source keeps its scheme", via[0].URL.Scheme, req.URL.Scheme)
			}
			_, err := g.CheckURL(req.URL.String())
			return err
		},
	}
}

type errRefusedAddress struct{ a netip.Addr }

func (e errRefusedAddress) Error() string {
	return "sources: " + e.a.String() + " is not a public address; the hub fetches only from public ones"
}

// fetchError turns a failed request into the error recorded for a source: what happened, in
// words a member can act on, without Go's wrapping.
func fetchError(err error) error {
	var ra errRefusedAddress
	switch {
	case errors.As(err, &ra):
		return &hub.Error{Code: hub.EForbidden, Field: "url", Message: ra.Error(), Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &hub.Error{Code: hub.EUnavailable, Message: "the source did not answer in time", Err: err}
	}
	var he *hub.Error
	if errors.As(err, &he) {
		return err
	}
	return &hub.Error{Code: hub.EUnavailable, Message: err.Error(), Err: err}
}
