package sources_test

import (
	"net/netip"
	"strings"
	"testing"

	"cshub/internal/sources"
)

// FuzzCheckURL holds the guard's promises for any input: an accepted URL is http or https, has
// a host and no credentials, its host is among the allowed ones, and a literal address in it
// is public.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://feeds.example.org/rss", "http://news.example.org:8080/a?b=c", "http://127.0.0.1/", "http://[::1]:80/",
		"http://0x7f.1/", "https://u:p@feeds.example.org/", "ftp://feeds.example.org/", "http://10.1.2.3/", "//feeds.example.org",
		"http://feeds.example.org.evil.net/", "http://[::ffff:127.0.0.1]/", "HTTPS://FEEDS.EXAMPLE.ORG/",
	} {
		f.Add(s)
	}
	g := sources.Guard{AllowedHosts: []string{".example.org", "203.0.113.9"}}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := g.CheckURL(raw)
		if err != nil {
			return
		}
		host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
		if (u.Scheme != "http" && u.Scheme != "https") || host == "" || u.User != nil {
			t.Fatalf("accepted %q: %+v", raw, u)
		}
		if host != "example.org" && !strings.HasSuffix(host, ".example.org") && host != "203.0.113.9" {
			t.Fatalf("accepted %q: host %q is not allowed", raw, host)
		}
		if a, err := netip.ParseAddr(host); err == nil && (a.Unmap().IsPrivate() || a.Unmap().IsLoopback()) {
			t.Fatalf("accepted %q: private address", raw)
		}
	})
}
