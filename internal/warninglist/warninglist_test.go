package warninglist_test

import (
	"slices"
	"testing"

	"cshub/internal/warninglist"
)

// TestDefaultFlagsKnownBenignValuesOnly asks right after the first Default of the process,
// while the lists load: each answer waits for them.
func TestDefaultFlagsKnownBenignValuesOnly(t *testing.T) {
	set := warninglist.Default()
	for _, c := range []struct {
		kind, value string
		want        string // a list that must be named; "" for none at all
	}{
		{"ipv4-addr", "8.8.8.8", "List of known IPv4 public DNS resolvers"},
		{"ipv4-addr", "10.1.2.3", "List of RFC 1918 CIDR blocks"},
		{"domain-name", "mail.google.com", "List of known google domains"},
		{"url", "https://bit.ly/x", "List of known URL Shorteners domains"},
		{"", "d41d8cd98f00b204e9800998ecf8427e", "List of known hashes for empty files"},
		{"domain-name", "login-ministry.example", ""},
		{"ipv4-addr", "203.0.113.7", "List of RFC 5735 CIDR blocks"},
		{"ipv4-addr", "45.33.32.156", ""},
	} {
		got := set.Lookup(c.kind, c.value)
		if c.want == "" && got != nil || c.want != "" && !slices.Contains(got, c.want) {
			t.Errorf("Lookup(%q, %q) = %q; want %q", c.kind, c.value, got, c.want)
		}
	}
	for _, c := range []struct {
		kind, value string
		benign      bool
	}{
		{"ipv4-addr", "8.8.8.8", true},
		{"domain-name", "www.google.com", true},
		{"ipv4-addr", "203.0.113.7", false},       // documentation range: flagged, not benign
		{"ipv4-addr", "192.168.10.1", false},      // private range
		{"domain-name", "www.example.com", false}, // RFC 6761
		{"domain-name", "login-ministry.example", false},
		{"ipv4-addr", "224.0.0.251", false}, // multicast
		{"domain-name", "com", false},       // a top-level domain
	} {
		if got := set.Benign(c.kind, c.value); (len(got) > 0) != c.benign {
			t.Errorf("Benign(%q, %q) = %q; want benign %v", c.kind, c.value, got, c.benign)
		}
	}
	if len(set.Names()) < 10 || len(warninglist.Licence()) == 0 {
		t.Errorf("embedded set: %d lists, licence %d bytes", len(set.Names()), len(warninglist.Licence()))
	}
}
