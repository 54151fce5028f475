package pattern

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"cshub/internal/hub"
)

func specExamples(tb testing.TB) []string {
	tb.Helper()
	b, err := os.ReadFile("testdata/stix21-spec-pattern-examples.txt")
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func TestSpecExamples(t *testing.T) {
	examples := specExamples(t)
	if got, want := len(examples), 23; got != want {
		t.Fatalf("examples: got %d, want %d", got, want)
	}
	for _, s := range examples {
		p, err := Parse(s)
		if err != nil {
			t.Errorf("Parse(%q): %v", s, err)
			continue
		}
		text := p.String()
		q, err := Parse(text)
		if err != nil {
			t.Errorf("Parse(String()) of %q = %q: %v", s, text, err)
			continue
		}
		if !reflect.DeepEqual(p.Expr, q.Expr) {
			t.Errorf("re-parsed AST differs for %q\nprinted %q", s, text)
		}
		if got := q.String(); got != text {
			t.Errorf("String not stable: got %q, want %q", got, text)
		}
	}
}

func TestParseValid(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"[ipv4-addr:value = '198.51.100.1']", ""},
		{"[ipv4-addr:value='198.51.100.1']", "[ipv4-addr:value = '198.51.100.1']"},
		{"[ipv4-addr:value == '1.2.3.4']", "[ipv4-addr:value = '1.2.3.4']"},
		{"[ipv4-addr:value <> '1.2.3.4']", "[ipv4-addr:value != '1.2.3.4']"},
		{"[file:size > 1024]", ""},
		{"[file:size >= +1024]", "[file:size >= 1024]"},
		{"[file:size < -0]", "[file:size < 0]"},
		{"[file:size <= 10 AND file:size >= 5]", ""},
		{"[x-foo:temp > -1.50]", "[x-foo:temp > -1.5]"},
		{"[x-foo:temp > .5]", "[x-foo:temp > 0.5]"},
		{"[x-foo:flag = true]", ""},
		{"[x-foo:flag != false]", ""},
		{"[file:name NOT = 'a.exe']", ""},
		{"[file:name NOT IN ('a', 'b')]", ""},
		{"[file:name IN ()]", ""},
		{"[file:size IN (1, 2, 3)]", ""},
		{"[domain-name:value LIKE '%.evil.com']", ""},
		{"[url:value MATCHES '^http://x\\\\.com/']", ""},
		{"[ipv4-addr:value ISSUBSET '10.0.0.0/8']", ""},
		{"[ipv6-addr:value NOT ISSUPERSET '2001:db8::1']", ""},
		{"[EXISTS file:hashes.MD5]", ""},
		{"[file:'name' = 'x']", "[file:name = 'x']"},
		{"[file:hashes.'SHA-256' = 'x' OR file:hashes.'SHA-1' = 'y']", ""},
		{"[file:name = 'it\\'s \\\\ fine']", ""},
		{"[x-list:items[0].name = 'a' AND x-list:items[-1].name = 'b']", ""},
		{"[x-list:items[*].'weird name'[*] = 1]", ""},
		{"[file:created > t'2020-01-01T00:00:00.000Z']", "[file:created > t'2020-01-01T00:00:00Z']"},
		{"[file:created > t'2020-02-29T23:59:59.123456789Z']", ""},
		{"[file:magic_number_hex = h'FFd8']", "[file:magic_number_hex = h'ffd8']"},
		{"[artifact:payload_bin = b'aGVsbG8=']", ""},
		{"[a-b:c = 1] AND [a-b:c = 2] OR [a-b:c = 3] FOLLOWEDBY [a-b:c = 4]", ""},
		{"[abc:x = 1] AND ([abc:x = 2] OR [abc:x = 3])", ""},
		{"(([abc:x = 1] AND [abc:x = 2])) AND [abc:x = 3]", "[abc:x = 1] AND [abc:x = 2] AND [abc:x = 3]"},
		{"[abc:x = 1] FOLLOWEDBY ([abc:x = 2] FOLLOWEDBY [abc:x = 3])", "[abc:x = 1] FOLLOWEDBY [abc:x = 2] FOLLOWEDBY [abc:x = 3]"},
		{"[abc:x = 1] REPEATS 2 TIMES WITHIN 10.5 SECONDS", ""},
		{"([abc:x = 1] OR [abc:y = 2]) START t'2020-01-01T00:00:00Z' STOP t'2020-01-02T00:00:00Z'", ""},
		{"[abc:x = 1 OR def:y = 2]", ""},
		{"[(abc:x = 1 OR abc:y = 2) AND (abc:z = 3 OR abc:w = 4)]", ""},
		{"[abc:x = 1 AND (abc:y = 2 AND abc:z = 3)]", "[abc:x = 1 AND abc:y = 2 AND abc:z = 3]"},
		{"/* c */ [abc:x = 1] // trailing\n", "[abc:x = 1]"},
		{"\t[abc:x\n=\r1]  ", "[abc:x = 1]"},
		{"[abc:AND = 1]", ""},
		{"[x509-certificate:x509_v3_extensions.basic_constraints = 'CA:TRUE']", ""},
	} {
		p, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		want := tc.want
		if want == "" {
			want = tc.in
		}
		if got := p.String(); got != want {
			t.Errorf("Parse(%q).String():\n got %q\nwant %q", tc.in, got, want)
		}
		q, err := Parse(p.String())
		if err != nil || !reflect.DeepEqual(p.Expr, q.Expr) {
			t.Errorf("%q does not re-parse to the same AST (err %v)", p.String(), err)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	for _, tc := range []struct {
		in   string
		pos  int
		frag string // part of the message
	}{
		{"", 0, "expected '[' or '('"},
		{"[", 1, "object path"},
		{"[]", 1, "object path"},
		{"[file:name = 'x'", 16, "expected ']'"},
		{"[file:name = 'x']]", 17, "expected AND, OR"},
		{"[file:name 'x']", 11, "comparison operator"},
		{"[file:name = ]", 13, "expected a constant"},
		{"[file:name = 'x]", 13, "unterminated string"},
		{"[file:name = 'a\\nb']", 15, "invalid escape"},
		{"[file:name = 'x' AND]", 20, "object path"},
		{"[file:name = 'x' XOR file:size = 1]", 17, "expected ']'"},
		{"[file:name = 'x'] AND", 21, "expected '[' or '('"},
		{"[file:name = 'x'] FOLLOWEDBY", 28, "expected '[' or '('"},
		{"[File:name = 'x']", 1, "may contain only a-z"},
		{"[fi:name = 'x']", 1, "3 to 250"},
		{"[my--type:name = 'x']", 1, "'--'"},
		{"[-abc:name = 'x']", 1, "expected a number"},
		{"[file name = 'x']", 6, "':' after object type"},
		{"[file:hashes.SHA-256 = 'x']", 16, "contains '-'"},
		{"[file:hashes. = 'x']", 14, "property name"},
		{"[file:list[x] = 1]", 11, "list index"},
		{"[file:list[1 = 1]", 13, "']' after list index"},
		{"[file:size = 007]", 13, "leading zero"},
		{"[file:size = 1.]", 15, "digits after '.'"},
		{"[file:size = 99999999999999999999]", 13, "out of range"},
		{"[file:size > true]", 13, "cannot compare booleans"},
		{"[file:name = 'x' AND process:name = 'y']", 21, "one object type"},
		{"[(file:name = 'x' OR process:name = 'y') AND file:size = 1]", 45, "one object type"},
		{"[file:name IN 'x']", 14, "IN needs a set"},
		{"[file:name IN ('x' 'y')]", 19, "',' or ')'"},
		{"[file:name LIKE 5]", 16, "LIKE needs a string"},
		{"[file:name MATCHES '(?=x)']", 19, "RE2"},
		{"[file:name MATCHES '(a']", 19, "RE2"},
		{"[ipv4-addr:value ISSUBSET 'nonsense']", 26, "IP address or CIDR"},
		{"[file:created = t'2020-13-01T00:00:00Z']", 16, "no such date"},
		{"[file:created = t'2020-01-01 00:00:00Z']", 16, "invalid timestamp"},
		{"[file:created = t'2020-01-01T00:00:00']", 16, "invalid timestamp"},
		{"[file:magic_number_hex = h'abc']", 25, "even number"},
		{"[file:magic_number_hex = h'zz']", 25, "invalid hex"},
		{"[artifact:payload_bin = b'abc']", 24, "base64"},
		{"[file:name = 'x'] REPEATS 0 TIMES", 26, "greater than 0"},
		{"[file:name = 'x'] REPEATS -2 TIMES", 26, "greater than 0"},
		{"[file:name = 'x'] REPEATS 2", 27, "expected TIMES"},
		{"[file:name = 'x'] WITHIN 0 SECONDS", 25, "positive"},
		{"[file:name = 'x'] WITHIN 5 MINUTES", 27, "expected SECONDS"},
		{"[file:name = 'x'] WITHIN SECONDS", 25, "number of seconds"},
		{"[file:name = 'x'] START t'2020-01-02T00:00:00Z' STOP t'2020-01-01T00:00:00Z'", 24, "earlier than STOP"},
		{"[file:name = 'x'] START t'2020-01-01T00:00:00Z'", 47, "expected STOP"},
		{"[file:name = 'x'] START '2020-01-01T00:00:00Z' STOP t'2021-01-01T00:00:00Z'", 24, "timestamp after START"},
		{"[file:name = 'x'] and [file:name = 'y']", 18, "expected AND, OR"},
		{"[file:name = 'x'] (", 18, "expected AND, OR"},
		{"([file:name = 'x']", 18, "expected ')'"},
		{"[file:name = 'x' # ]", 17, "unexpected character"},
		{"[file:name = 'x'] /* never closed", 18, "unterminated comment"},
		{"[EXISTS 'x']", 8, "object path"},
		{"[file:name NOT EXISTS]", 15, "comparison operator"},
		{"[file:name = 'x'] \xff", 18, "invalid UTF-8"},
		{"[file:name LIKE 'ab\xffc']", 19, "invalid UTF-8 in string"},
		{strings.Repeat("(", 300) + "[file:name = 'x']" + strings.Repeat(")", 300), 256, "nesting"},
	} {
		_, err := Parse(tc.in)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q): got error %v, want a *SyntaxError", tc.in, err)
			continue
		}
		if se.Pos != tc.pos || !strings.Contains(se.Msg, tc.frag) {
			t.Errorf("Parse(%q):\n got position %d %q\nwant position %d containing %q", tc.in, se.Pos, se.Msg, tc.pos, tc.frag)
		}
	}
}

func TestSyntaxErrorFormat(t *testing.T) {
	_, err := Parse("[file:name = 'x'")
	if got, want := err.Error(), "pattern: position 16: expected ']' or AND/OR, found end of pattern"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	var he *hub.Error
	if !errors.As(err, &he) {
		t.Fatal("errors.As(*hub.Error) failed")
	}
	if he.Code != hub.EInvalid || he.Field != "pattern" {
		t.Errorf("got code %q field %q, want %q %q", he.Code, he.Field, hub.EInvalid, "pattern")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range specExamples(f) {
		f.Add(s)
	}
	f.Add("[file:name NOT IN ('a', 1, 2.5, true, t'2020-01-01T00:00:00Z', h'00', b'AA==')]")
	f.Add("[a-b:x[*].'y z'[3] LIKE '%_'] REPEATS 2 TIMES WITHIN 1.5 SECONDS START t'2020-01-01T00:00:00Z' STOP t'2020-01-02T00:00:00Z'")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Pos < 0 || se.Pos > len(s) {
				t.Fatalf("Parse(%q): bad error %v", s, err)
			}
			return
		}
		text := p.String()
		q, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its String %q fails: %v", s, text, err)
		}
		if got := q.String(); got != text {
			t.Fatalf("String not stable for %q: %q then %q", s, text, got)
		}
		p.Entries()
		if p.FullyServed() && !p.Indexable() {
			t.Fatalf("%q: FullyServed but not Indexable", text)
		}
		p.Match([]Observation{{Objects: map[string]map[string]any{"0": {"type": "file", "name": "x"}}}})
	})
}

func BenchmarkParse(b *testing.B) {
	examples := specExamples(b)
	size := 0
	for _, s := range examples {
		size += len(s)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range examples {
			if _, err := Parse(s); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(examples))/b.Elapsed().Seconds(), "patterns/s")
}
