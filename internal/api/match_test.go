package api

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestPlainValues checks the one-pass reading of a match body against encoding/json: the
// bodies clients write are read by it, anything else is left to encoding/json.
func TestPlainValues(t *testing.T) {
	for _, c := range []struct {
		body  string
		plain bool
	}{
		{`{"values":["192.0.2.1","example.org"]}`, true},
		{" \t\r\n{ \"values\" :\n[ \"a\" , \"b\" ]\n}\n", true},
		{`{"values":[]}`, true},
		{"{\"values\":[\"é 日本\",\"<&>\",\"a\x7fb\"]}", true},
		{`{"values":["with \"escape\""]}`, false},
		{`{"values":["\u0031"]}`, false},
		{"{\"values\":[\"bad \xff utf-8\"]}", false},
		{"{\"values\":[\"tab\there\"]}", false},
		{`{"Values":["a"]}`, false},
		{`{"values":["a"],"other":1}`, false},
		{`{"values":["a"]} {"values":["b"]}`, false},
		{`{"values":["a",]}`, false},
		{`{"values":["a"}`, false},
		{`{"values":["a"`, false},
		{`{"values":null}`, false},
		{`{"values":[1]}`, false},
		{`["a"]`, false},
		{``, false},
	} {
		got, ok := plainValues(c.body)
		if ok != c.plain {
			t.Errorf("plainValues(%q) ok = %v; want %v", c.body, ok, c.plain)
		}
		if ok {
			agreeWithEncodingJSON(t, c.body, got)
		}
	}
}

func FuzzPlainValues(f *testing.F) {
	f.Add(`{"values":["192.0.2.1","example.org"]}`)
	f.Add(" {\"values\" : [ \"a\\\"b\" , \"\xff\" ] } x")
	f.Fuzz(func(t *testing.T, body string) {
		if got, ok := plainValues(body); ok {
			agreeWithEncodingJSON(t, body, got)
		}
	})
}

// agreeWithEncodingJSON fails t unless encoding/json, as the match handler used it alone,
// decodes body to values.
func agreeWithEncodingJSON(t *testing.T, body string, values []string) {
	t.Helper()
	var req struct {
		Values []string `json:"values"`
	}
	if err := json.NewDecoder(strings.NewReader(body)).Decode(&req); err != nil {
		t.Fatalf("plainValues(%q) read %q; encoding/json refuses it: %v", body, values, err)
	}
	if !slices.Equal(values, req.Values) || (values == nil) != (req.Values == nil) {
		t.Fatalf("plainValues(%q) = %q; encoding/json reads %q", body, values, req.Values)
	}
}
