package match

import (
	"net/netip"
	"strings"
	"testing"

	"cshub/internal/hub"
)

func TestCanonical(t *testing.T) {
	for _, tt := range []struct {
		typ, in, want string
	}{
		{"domain-name", "Example.COM.", "example.com"},
		{"domain-name", "bücher.example", "xn--bcher-kva.example"},
		{"domain-name", "XN--BCHER-KVA.example", "xn--bcher-kva.example"},
		{"domain-name", "BÜCHER.example", "xn--bcher-kva.example"},
		{"domain-name", "_dmarc.r3--sn-abc.googlevideo.com", "_dmarc.r3--sn-abc.googlevideo.com"},
		{"domain", " login.senate.group ", "login.senate.group"},
		{"url", "HTTP://Example.COM:80/a", "http://example.com/a"},
		{"url", "http://example.com", "http://example.com/"},
		{"url", "https://example.com:443?q=1#frag", "https://example.com/?q=1"},
		{"url", "https://example.com:8443/%7euser/%2f%2Fx", "https://example.com:8443/~user/%2F%2Fx"},
		{"url", "http://bücher.example/ä b", "http://xn--bcher-kva.example/%C3%A4%20b"},
		{"url", "http://[2001:DB8::1]:80/", "http://[2001:db8::1]/"},
		{"url", "http://user:pw@1.2.3.4:8080/x%", "http://user:pw@1.2.3.4:8080/x%25"},
		{"ipv4-addr", "10.0.0.1", "10.0.0.1"},
		{"ipv4-addr", "10.0.0.1/32", "10.0.0.1"},
		{"ipv4-addr", "10.1.2.3/8", "10.0.0.0/8"},
		{"ipv4-addr", "::ffff:10.0.0.1", "10.0.0.1"},
		{"ipv6-addr", "2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
		{"ipv6-addr", "::ffff:192.0.2.0/120", "192.0.2.0/24"},
		{"ipv6-addr", "2001:db8::1/128", "2001:db8::1"},
		{"md5", "D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e"},
		{"SHA-1", "da39a3ee5e6b4b0d3255bfef95601890afd80709", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
		{"sha256", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"email-addr", "John.Doe@Bücher.Example", "John.Doe@xn--bcher-kva.example"},
		{"", "8.8.8.8", "8.8.8.8"},
		{"", "2001:DB8::/32", "2001:db8::/32"},
		{"", "Evil.Example", "evil.example"},
		{"", "HTTPS://Evil.Example/x", "https://evil.example/x"},
		{"", "a@B.example", "a@b.example"},
		{"", "D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e"},
		{"ssdeep", "3::", "3::"},
	} {
		got, err := Canonical(tt.typ, tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Canonical(%q, %q) = %q, %v; want %q", tt.typ, tt.in, got, err, tt.want)
		}
	}
}

func TestCanonicalErrors(t *testing.T) {
	for _, tt := range []struct{ typ, in string }{
		{"domain-name", ""},
		{"domain-name", "a..b"},
		{"domain-name", "a b.example"},
		{"domain-name", "xn--zz.example"}, // bad punycode
		{"ipv4-addr", "2001:db8::1"},
		{"ipv4-addr", "300.1.1.1"},
		{"ipv6-addr", "fe80::1%eth0"},
		{"md5", "d41d8cd98f00b204e9800998ecf8427"},     // 31 digits
		{"sha256", "d41d8cd98f00b204e9800998ecf8427e"}, // MD5 length
		{"SHA-1", "zz39a3ee5e6b4b0d3255bfef95601890afd80709"},
		{"url", "example.com/path"},
		{"url", "http:///path"},
		{"url", "http://example.com:99999/"},
		{"email-addr", "@example.com"},
		{"email-addr", "user@"},
		{"", "no-dots-here"},
		{"mutex", "Global\\x"},
	} {
		_, err := Canonical(tt.typ, tt.in)
		if err == nil {
			t.Errorf("Canonical(%q, %q): no error", tt.typ, tt.in)
			continue
		}
		if code, field := hub.ErrorCode(err), hub.ErrorField(err); code != hub.EInvalid || field != "value" {
			t.Errorf("Canonical(%q, %q): error %v has code %q field %q; want invalid, value", tt.typ, tt.in, err, code, field)
		}
	}
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []struct{ typ, v string }{
		{"", "8.8.8.8"}, {"", "::ffff:1.2.3.4"}, {"", "10.0.0.0/8"}, {"", "bücher.example"},
		{"url", "HTTP://Example.COM:80/a%7e%zz?q#f"}, {"url", "http://[::1]:8080"},
		{"email-addr", "x@Y.example"}, {"md5", "D41D8CD98F00B204E9800998ECF8427E"},
		{"domain-name", "xn--bcher-kva.example."}, {"ssdeep", "3::"}, {"url", "http://a@b@c/"},
	} {
		f.Add(s.typ, s.v)
	}
	f.Fuzz(func(t *testing.T, typ, v string) {
		c, err := Canonical(typ, v)
		if err != nil {
			if hub.ErrorCode(err) != hub.EInvalid {
				t.Fatalf("Canonical(%q, %q): error %v is not invalid", typ, v, err)
			}
			return
		}
		// Canonical form is a fixed point.
		c2, err := Canonical(typ, c)
		if err != nil || c2 != c {
			t.Fatalf("Canonical(%q, %q) = %q, but Canonical of that = %q, %v", typ, v, c, c2, err)
		}
	})
}

// TestParseDottedQuad checks the fast IPv4 parser against net/netip: what
// it accepts, netip parses to the same address; what it declines is left
// to netip, and must include everything netip refuses.
func TestParseDottedQuad(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"0.0.0.0", true}, {"1.2.3.4", true}, {"255.255.255.255", true}, {"10.200.30.9", true},
		{"256.1.1.1", false}, {"1.2.3.256", false}, {"01.2.3.4", false}, {"1.2.3.00", false},
		{"1.2.3", false}, {"1.2.3.4.5", false}, {"1..3.4", false}, {".1.2.3", false}, {"1.2.3.", false},
		{"1.2.3.4/32", false}, {"::1", false}, {"1.2.3.a", false}, {"1234.1.1.1", false}, {"", false},
	} {
		a, ok := parseDottedQuad(tt.in)
		if ok != tt.ok {
			t.Errorf("parseDottedQuad(%q) ok = %v; want %v", tt.in, ok, tt.ok)
		}
		if ok {
			if want, err := netip.ParseAddr(tt.in); err != nil || want.As4() != a {
				t.Errorf("parseDottedQuad(%q) = %v; netip: %v, %v", tt.in, a, want, err)
			}
		}
	}
}

// TestAppendPlainName checks the one-pass path for plain names: what it
// accepts is the lower-case name, and the names it declines still get
// their canonical form or error from the general path (TestCanonical).
func TestAppendPlainName(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"Login.Senate.GROUP", true}, {"_dmarc.r3--sn-abc.example", true}, {"a", true},
		{strings.Repeat("a", 63) + ".example", true}, {strings.Repeat("a", 64) + ".example", false},
		{strings.Repeat("a.", 126) + "ab", false}, // 254 bytes
		{"XN--BCHER-KVA.example", false}, {"a.xn--p1ai", false}, {"bücher.example", false},
		{"a..b", false}, {".a", false}, {"a.", false}, {"a b.example", false}, {"a/b.example", false},
	} {
		got, ok := appendPlainName([]byte("prefix"), tt.in)
		if ok != tt.ok {
			t.Errorf("appendPlainName(%q) ok = %v; want %v", tt.in, ok, tt.ok)
			continue
		}
		want := "prefix"
		if ok {
			want += strings.ToLower(tt.in)
		}
		if string(got) != want {
			t.Errorf("appendPlainName(%q) = %q; want %q", tt.in, got, want)
		}
	}
}
