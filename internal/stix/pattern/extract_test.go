package pattern

import (
	"reflect"
	"testing"
)

func TestEntries(t *testing.T) {
	ex := func(typ, path, v string) Entry { return Entry{Type: typ, Path: path, Kind: Exact, Value: v} }
	for _, tc := range []struct {
		in     string
		want   []Entry
		served bool
	}{
		{"[ipv4-addr:value = '198.51.100.1']", []Entry{ex("ipv4-addr", "value", "198.51.100.1")}, true},
		{"[ipv4-addr:value = '198.51.100.1/32']", []Entry{ex("ipv4-addr", "value", "198.51.100.1")}, true},
		{"[ipv6-addr:value = '2001:0db8:0000::0001']", []Entry{ex("ipv6-addr", "value", "2001:db8::1")}, true},
		{"[ipv4-addr:value = '203.0.113.0/24']", []Entry{ex("ipv4-addr", "value", "203.0.113.0/24")}, true},
		{"[domain-name:value = 'evil.com']", []Entry{ex("domain-name", "value", "evil.com")}, true},
		{"[url:value = 'http://example.com/foo' OR url:value = 'http://example.com/bar']",
			[]Entry{ex("url", "value", "http://example.com/foo"), ex("url", "value", "http://example.com/bar")}, true},
		{"[email-addr:value = 'a@b.example']", []Entry{ex("email-addr", "value", "a@b.example")}, true},
		{"[file:hashes.'SHA-256' = 'aa'] OR [file:hashes.MD5 = 'bb']",
			[]Entry{ex("file", "hashes.'SHA-256'", "aa"), ex("file", "hashes.MD5", "bb")}, true},
		{"[domain-name:value IN ('a.example', 'b.example', 'a.example')]",
			[]Entry{ex("domain-name", "value", "a.example"), ex("domain-name", "value", "b.example")}, true},
		{"[ipv4-addr:value IN ('10.0.0.1', 5)]", []Entry{ex("ipv4-addr", "value", "10.0.0.1")}, false},
		{"[ipv4-addr:value ISSUBSET '10.1.2.3/8']", []Entry{{"ipv4-addr", "value", CIDR, "10.0.0.0/8"}}, false},
		{"[ipv6-addr:value ISSUBSET '2001:db8::/32']", []Entry{{"ipv6-addr", "value", CIDR, "2001:db8::/32"}}, false},
		{"[domain-name:value LIKE '%.evil.com']", []Entry{{"domain-name", "value", Suffix, ".evil.com"}}, true},
		{"[url:value LIKE 'http://evil.example/%']", []Entry{{"url", "value", Prefix, "http://evil.example/"}}, true},
		{"[url:value LIKE 'http://x.example/']", []Entry{ex("url", "value", "http://x.example/")}, true},
		{"[url:value MATCHES '^http://x\\\\.com/']", []Entry{{"url", "value", Prefix, "http://x.com/"}}, true},
		{"[url:value MATCHES '^http://x\\\\.com/.*']", []Entry{{"url", "value", Prefix, "http://x.com/"}}, true},
		{"[domain-name:value MATCHES '\\\\.evil\\\\.com$']", []Entry{{"domain-name", "value", Suffix, ".evil.com"}}, true},
		{"[domain-name:value MATCHES '^evil\\\\.com$']", []Entry{ex("domain-name", "value", "evil.com")}, true},
		{"[domain-name:value = 'a.example'] AND [url:value = 'http://a.example/']",
			[]Entry{ex("domain-name", "value", "a.example"), ex("url", "value", "http://a.example/")}, false},
		{"[domain-name:value = 'a.example'] REPEATS 3 TIMES", []Entry{ex("domain-name", "value", "a.example")}, false},
		{"[domain-name:value = 'a.example' AND domain-name:x = 1]", []Entry{ex("domain-name", "value", "a.example")}, false},
		// Not extractable.
		{"[domain-name:value LIKE 'ev_l.com']", nil, false},
		{"[domain-name:value LIKE '%evil%']", nil, false},
		{"[url:value MATCHES 'evil']", nil, false},
		{"[url:value MATCHES '(?i)^http://x']", nil, false},
		{"[url:value MATCHES '^http://[a-z]+']", nil, false},
		{"[url:value MATCHES '^.*x$']", nil, false},
		{"[domain-name:value != 'a.example']", nil, false},
		{"[domain-name:value NOT = 'a.example']", nil, false},
		{"[file:name = 'evil.exe']", nil, false},
		{"[file:hashes[0] = 'x']", nil, false},
		{"[network-traffic:dst_ref.value = '1.2.3.4']", nil, false},
		{"[ipv4-addr:value ISSUPERSET '10.0.0.0/8']", nil, false},
		{"[domain-name:value > 'a']", nil, false},
		{"[EXISTS url:value]", nil, false},
	} {
		p, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := p.Entries(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Entries(%q):\n got %v\nwant %v", tc.in, got, tc.want)
		}
		if got := p.FullyServed(); got != tc.served {
			t.Errorf("FullyServed(%q): got %v, want %v", tc.in, got, tc.served)
		}
	}
}

func TestIndexable(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"[domain-name:value = 'a.example']", true},
		{"[domain-name:value = 'a.example' AND domain-name:x = 1]", true},
		{"[domain-name:value = 'a.example' OR domain-name:x = 1]", false},
		{"[domain-name:value = 'a.example'] OR [process:name = 'x']", false},
		{"[domain-name:value = 'a.example'] AND [process:name = 'x']", true},
		{"[process:name = 'x'] FOLLOWEDBY [url:value LIKE 'http://a/%'] WITHIN 60 SECONDS", true},
		{"[ipv4-addr:value ISSUBSET '10.0.0.0/8'] REPEATS 3 TIMES", true},
		{"[ipv4-addr:value IN ('10.0.0.1', 5)]", false},
		{"[domain-name:value NOT = 'a.example']", false},
		{"[url:value MATCHES 'evil']", false},
		{"[file:hashes.MD5 = 'a' OR file:hashes.SHA1 = 'b'] OR [email-addr:value = 'x@y.z']", true},
	} {
		p, err := Parse(tc.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.in, err)
		}
		if got := p.Indexable(); got != tc.want {
			t.Errorf("Indexable(%q): got %v, want %v", tc.in, got, tc.want)
		}
		if p.FullyServed() && !p.Indexable() {
			t.Errorf("%q: FullyServed without Indexable", tc.in)
		}
	}
}
