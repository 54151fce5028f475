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
