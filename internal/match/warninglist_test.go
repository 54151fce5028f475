package match

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func loadTestWarninglists(t testing.TB) *Warninglists {
	t.Helper()
	w, err := LoadWarninglists(os.DirFS("../warninglist"), "lists")
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWarninglistsCheck(t *testing.T) {
	w := loadTestWarninglists(t)
	for _, tt := range []struct {
		typ, value string
		want       []string // lists that must be named
		not        []string // lists that must not be named
	}{
		{"ipv4-addr", "8.8.8.8", []string{"List of known IPv4 public DNS resolvers"}, nil},
		{"", "192.168.1.20", []string{"List of RFC 1918 CIDR blocks", "List of RFC 5735 CIDR blocks"}, nil},
		{"", "10.0.0.0/16", []string{"List of RFC 1918 CIDR blocks"}, nil},
		{"", "224.0.0.251", []string{"List of RFC 5771 multicast CIDR blocks"}, nil},
		{"", "198.18.0.1", []string{"List of RFC 5735 CIDR blocks"}, []string{"List of RFC 1918 CIDR blocks"}},
		{"domain-name", "google.com", []string{"Top 1000 websites from Cisco Umbrella", "List of known google domains"}, nil},
		{"domain-name", "mail.google.com", []string{"List of known google domains"}, nil},
		{"domain-name", "Login.Live.COM.", []string{"List of known microsoft domains"}, nil},
		{"url", "https://bit.ly/abc", []string{"List of known URL Shorteners domains"}, nil},
		{"domain-name", "x.bit.ly", []string{"List of known URL Shorteners domains"}, nil},
		{"md5", "D41D8CD98F00B204E9800998ECF8427E", []string{"List of known hashes for empty files"}, nil},
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", []string{"List of known hashes for empty files"}, nil},
		{"domain-name", "com", []string{"TLDs as known by IANA"}, nil},
		{"email-addr", "abuse@example.org", []string{"Common contact e-mail addresses"}, nil},
		{"domain-name", "malwr.com", []string{"List of known domains used by automated malware analysis services & security vendors"}, nil},
		{"domain-name", "evil-unlisted-domain.example", nil, []string{"List of known google domains", "TLDs as known by IANA"}},
		{"ipv4-addr", "45.33.32.156", nil, []string{"List of known IPv4 public DNS resolvers"}},
	} {
		got := w.Check(tt.typ, tt.value)
		for _, n := range tt.want {
			if !slices.Contains(got, n) {
				t.Errorf("Check(%q, %q) = %q; want it to name %q", tt.typ, tt.value, got, n)
			}
		}
		for _, n := range tt.not {
			if slices.Contains(got, n) {
				t.Errorf("Check(%q, %q) = %q; want it not to name %q", tt.typ, tt.value, got, n)
			}
		}
	}
	if got := w.Check("ipv4-addr", "45.33.32.156"); got != nil {
		t.Errorf("Check of an unlisted address = %q; want nothing", got)
	}
}

// TestWarninglistsKnownBenign checks that every value of every non-regex
// list in testdata is flagged by its own list, in the form a feed would
// carry it.
func TestWarninglistsKnownBenign(t *testing.T) {
	w := loadTestWarninglists(t)
	files, _ := filepath.Glob("../warninglist/lists/*.json")
	total := 0
	for _, f := range files {
		if filepath.Base(f) == "schema.json" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var l warninglistFile
		if err := json.Unmarshal(data, &l); err != nil {
			t.Fatal(err)
		}
		if l.Type == "regex" {
			continue
		}
		missed := 0
		for _, v := range l.List {
			typ, q := benignQuery(l, v)
			total++
			if !slices.Contains(w.Check(typ, q), l.Name) {
				if missed++; missed <= 5 {
					t.Errorf("%s: Check(%q, %q) does not name the list", filepath.Base(f), typ, q)
				}
			}
		}
		if missed > 0 {
			t.Errorf("%s: %d of %d values not flagged", filepath.Base(f), missed, len(l.List))
		}
	}
	t.Logf("%d known-benign values checked", total)
}

// benignQuery turns a list value into a query: a CIDR block's first address,
// a ".suffix" entry under a host name, a substring inside a longer name.
func benignQuery(l warninglistFile, v string) (typ, q string) {
	if len(l.MatchingAttributes) > 0 {
		typ = l.MatchingAttributes[0]
	}
	switch l.Type {
	case "cidr":
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return typ, v
		}
		return typ, p.Masked().Addr().String()
	case "substring":
		return "", "x" + v + "x"
	}
	if strings.HasPrefix(v, ".") {
		return typ, "www" + v
	}
	return typ, v
}

func BenchmarkWarninglistsCheck(b *testing.B) {
	w := loadTestWarninglists(b)
	qs := []Query{{"", "8.8.8.8"}, {"", "evil.example"}, {"", "https://evil.example/x"}, {"", "d41d8cd98f00b204e9800998ecf8427e"}}
	for i := 0; b.Loop(); i++ {
		q := qs[i%len(qs)]
		w.Check(q.Type, q.Value)
	}
}
