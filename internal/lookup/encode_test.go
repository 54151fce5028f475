package lookup

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// TestAppendJSONAsEncodingJSON checks the hand-written encoding against encoding/json on
// results of every shape and on strings that need each kind of escape.
func TestAppendJSONAsEncodingJSON(t *testing.T) {
	m := Match{ID: "indicator--1", Workspace: "community", TLP: "TLP:AMBER", Author: "cert-fr", How: "exact", Matched: "192.0.2.1"}
	named := m
	named.Name, named.Confidence = "C2 <server> & \"friends\"", 85
	for _, r := range []Result{
		{Value: "192.0.2.1", Matches: []Match{}},
		{Value: "192.0.2.1"},
		{Value: "8.8.8.8", Matches: []Match{m, named}, Warninglists: []string{"List of known IPv4 public DNS resolvers", "x"}},
		{Value: "example.org", Matches: []Match{named}, Warninglists: []string{}},
		{Value: "a\"b\\c\b\f\n\r\t\x00\x1f\x7f</script>&amp;", Matches: []Match{}},
		{Value: "é 日本 \u2028\u2029 \U0001F600", Matches: []Match{{ID: "\u2028", How: "\xff", Confidence: -1}}},
		{Value: "bad \xff\xfe utf-8 \xe2\x80 cut \xed\xa0\x80 surrogate \xc0\xaf overlong", Matches: []Match{}},
		{Value: "", Matches: []Match{}},
	} {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("AppendJSON(%+v)\n = %s\nwant %s", r, got, want)
		}
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("192.0.2.1", "indicator--1", "C2", "TLP:RED", "exact", 50, "list")
	f.Add("<a&b>\u2028", "\x00\x1f", "\xff\xfe", "\"\\", "é", 0, "")
	f.Fuzz(func(t *testing.T, value, id, name, tlp, how string, confidence int, list string) {
		r := Result{Value: value, Matches: []Match{{ID: id, Name: name, Workspace: value, TLP: tlp, Author: name, Confidence: confidence, How: how, Matched: value}}}
		if list != "" {
			r.Warninglists = []string{list, value}
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("AppendJSON(%+v)\n = %s\nwant %s", r, got, want)
		}
	})
}

// BenchmarkAppendJSON encodes the answer to 1,000 values, one in ten with two matches, beside
// encoding/json encoding the same.
func BenchmarkAppendJSON(b *testing.B) {
	rs := make([]Result, 1000)
	for i := range rs {
		rs[i] = Result{Value: fmt.Sprintf("198.51.%d.%d", i/256, i%256), Matches: []Match{}}
		if i%10 == 0 {
			m := Match{ID: "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", Name: "C2 server", Workspace: "community",
				TLP: "TLP:AMBER", Author: "cert-fr", Confidence: 80, How: "cidr", Matched: "198.51.0.0/16"}
			rs[i].Matches = []Match{m, m}
			rs[i].Warninglists = []string{"List of RFC 5735 CIDR blocks"}
		}
	}
	b.Run("AppendJSON", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf = buf[:0]
			for i := range rs {
				buf = rs[i].AppendJSON(buf)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			if err := json.NewEncoder(&buf).Encode(rs); err != nil {
				b.Fatal(err)
			}
		}
	})
}
