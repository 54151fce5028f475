package export

import "testing"

// TestAppendZeekField: columns keep no tab or line break, and bytes that are not UTF-8 become
// U+FFFD, as strings.Map made them before the field was appended in place.
func TestAppendZeekField(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"C2 server", "C2 server"},
		{"a\tb\nc\rd", "a b c d"},
		{"ctl\x01", "ctl\x01"},
		{"café\tbar", "café bar"},
		{"bad\xff\xe2\x82 end", "bad\uFFFD\uFFFD\uFFFD end"},
		{"\uFFFD", "\uFFFD"},
	} {
		if got := string(appendZeekField([]byte("x"), tc.in)); got != "x"+tc.want {
			t.Errorf("appendZeekField(%q) = %q; want %q", tc.in, got, "x"+tc.want)
		}
	}
}

// TestAppendRPZIP: trigger names reverse the address, IPv6 by group with "zz" for the longest
// run of zero groups; what is not an address or block gives nothing.
func TestAppendRPZIP(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"198.51.100.7", "32.7.100.51.198.rpz-ip"},
		{"203.0.113.0/24", "24.0.113.0.203.rpz-ip"},
		{"2001:db8::1", "128.1.zz.db8.2001.rpz-ip"},
		{"2001:db8:bad::/48", "48.zz.bad.db8.2001.rpz-ip"},
		{"1:0:0:1:0:0:0:1", "128.1.zz.1.0.0.1.rpz-ip"},
		{"::ffff:1.2.3.4", "128.304.102.ffff.zz.rpz-ip"},
		{"example.org", ""},
		{"1.2.3.4/33", ""},
	} {
		got, ok := appendRPZIP([]byte("x"), tc.in)
		if string(got) != "x"+tc.want || ok != (tc.want != "") {
			t.Errorf("appendRPZIP(%q) = %q, %v; want %q", tc.in, got, ok, "x"+tc.want)
		}
	}
}
