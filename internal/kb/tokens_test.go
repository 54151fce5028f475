package kb_test

import (
	"slices"
	"testing"

	"cshub/internal/hub"
	"cshub/internal/kb"
)

func TestValueKeys(t *testing.T) {
	const sha = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
	for _, tc := range []struct {
		name    string
		typ     string
		revoked bool
		body    string
		want    []string
	}{
		{"exact values and CIDR blocks, canonical, once", "indicator", false,
			`{"pattern":"[ipv4-addr:value = '10.1.2.3/8'] OR [domain-name:value = 'Senate.Example.'] OR [domain-name:value = 'senate.example'] OR [file:hashes.'SHA-256' = '` + sha + `']","pattern_type":"stix"}`,
			[]string{"10.0.0.0/8", "senate.example", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}},
		{"a negated comparison holds nothing", "indicator", false, `{"pattern":"[domain-name:value != 'a.example']","pattern_type":"stix"}`, nil},
		{"another pattern language holds nothing", "indicator", false, `{"pattern":"alert tcp any any","pattern_type":"snort"}`, nil},
		{"a revoked version holds nothing", "indicator", false, `{"pattern":"[domain-name:value = 'a.example']","pattern_type":"stix","revoked":true}`, nil},
		{"nor does a version the store marks revoked", "indicator", true, `{"pattern":"[domain-name:value = 'a.example']","pattern_type":"stix"}`, nil},
		{"an observable's value", "ipv6-addr", false, `{"value":"2001:DB8:0::1"}`, []string{"2001:db8::1"}},
		{"a file's hashes", "file", false, `{"hashes":{"SHA-256":"` + sha + `","MD5":"D41D8CD98F00B204E9800998ECF8427E"}}`,
			[]string{"d41d8cd98f00b204e9800998ecf8427e", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}},
		{"a value the index cannot read is left out", "domain-name", false, `{"value":"not a domain"}`, nil},
		{"other types hold no values", "malware", false, `{"value":"senate.example"}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := kb.ValueKeys(&hub.Object{Type: tc.typ, Revoked: tc.revoked, Body: []byte(tc.body)})
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
