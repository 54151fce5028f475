package collab_test

import (
	"strings"
	"testing"

	"cshub/internal/collab"
	"cshub/internal/hub"
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

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"sighting_of_ref":"indicator--x","count":3}`, `{"count":"x"}`, `{"nope":1}`, `{} {}`, `[`, ``, `{"where_sighted_refs":[1]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var in collab.SightingInput
		err := collab.DecodeJSON(strings.NewReader(string(b)), &in)
		if err == nil {
			return
		}
		// Every refusal is an EInvalid that names what is wrong.
		if hub.ErrorCode(err) != hub.EInvalid || hub.ErrorField(err) == "" {
			t.Fatalf("DecodeJSON(%q) = %v: want EInvalid naming a field", b, err)
		}
	})
}
