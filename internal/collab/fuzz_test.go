package collab_test

import (
	"strings"
	"testing"

	"cshub/internal/collab"
)

func FuzzParseMentions(f *testing.F) {
	for _, s := range []string{"@cert-fr", "a@b @c- @-d @@e", "(@cert-nl), @cert-uk.", "", "@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := collab.ParseMentions(s)
		seen := map[string]bool{}
		for _, code := range got {
			if code == "" || code[0] == '-' || code[len(code)-1] == '-' || seen[code] {
				t.Fatalf("ParseMentions(%q) = %q: empty, hyphen-edged or repeated code", s, got)
			}
			seen[code] = true
			if !strings.Contains(s, "@"+code) {
				t.Fatalf("ParseMentions(%q) found %q, which the text does not mention", s, code)
			}
			for _, c := range code {
				if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
					t.Fatalf("ParseMentions(%q) = %q: not an organisation code", s, code)
				}
			}
		}
	})
}
