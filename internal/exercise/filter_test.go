package exercise

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// event is a MISP event of the shape misp.FromSTIX writes and CEXF evaluations read.
const event = `{"Event": {
  "info": "Spear-phishing against the CEO", "published": false, "distribution": "0",
  "Attribute": [
    {"type": "ip-dst", "value": "1.2.3.4", "to_ids": true, "Tag": [{"name": "tlp:green"}]},
    {"type": "domain", "value": "evil.com", "to_ids": false},
    {"type": "text", "value": "Classified information", "distribution": "0"}
  ],
  "Object": [
    {"name": "domain-ip", "Attribute": [{"type": "ip", "value": "4.3.2.1"}, {"type": "domain", "value": "foobar.baz"}]},
    {"name": "url", "Attribute": [{"type": "url", "value": "https://evil.com/x.exe", "object_relation": "url"}]}
  ],
  "Tag": [{"name": "tlp:white"}, {"name": "misp-galaxy:mitre-attack-pattern=\"Phishing - T1566\""}]
}}`

func TestFilterEval(t *testing.T) {
	var doc any
	if err := json.Unmarshal([]byte(event), &doc); err != nil {
		t.Fatal(err)
	}
	// Each want is what jq 1.7 prints for the filter on the event, one value per line.
	for _, tc := range []struct {
		filter string
		want   string
	}{
		{`.Event.info`, `"Spear-phishing against the CEO"`},
		{`.Event.published`, `false`},
		{`.Event.missing`, `null`},
		{`.Event.Attribute[0].value`, `"1.2.3.4"`},
		{`.Event.Attribute[9]`, `null`},
		{`.Event.Attribute[].type`, `"ip-dst" "domain" "text"`},
		{`.Event.Attribute[] | select(.type == "ip-dst") | .value`, `"1.2.3.4"`},
		{`.Event.Attribute[] | select((.type == "ip-dst") and (.value == "1.2.3.4")).Tag[].name`, `"tlp:green"`},
		{`.Event.Attribute[] | select((.type == "text") and (.value == "Classified information")).distribution`, `"0"`},
		{`[.Event.Object[].Attribute[], .Event.Attribute[]] | .[] | select((.type == "domain")).value`, `"foobar.baz" "evil.com"`},
		{`.Event.Object[] | select(.name == "domain-ip") | .Attribute[] | select((.type == "ip")).value`, `"4.3.2.1"`},
		{`.Event.Object[] | select((.name == "url")).Attribute[] | select(.type == "url").value`, `"https://evil.com/x.exe"`},
		{`.Event.Tag | select(length > 0) | .[].name`, `"tlp:white" "misp-galaxy:mitre-attack-pattern=\"Phishing - T1566\""`},
		{`.Event.Tag[].name | select((contains("tlp:white")))`, `"tlp:white"`},
		{`.Event.Attribute | map(select(has("Tag"))) | length`, `1`},
		{`.Event.Attribute | map(select(any(.Tag[]; .name == "tlp:green"))) | map(.value)`, `["1.2.3.4"]`},
		{`.Event.Attribute | map(select(.to_ids == false)) | length`, `1`},
		{`.Event.Object | length`, `2`},
		{`[.Event.Attribute[].value] | contains(["evil.com"])`, `true`},
		{`.Event.Attribute[] | select(.type != "text" and .to_ids) | .value`, `"1.2.3.4"`},
		{`.Event.Attribute[] | select(.type == "ip-dst" or .type == "domain") | .value`, `"1.2.3.4" "evil.com"`},
		{`.Event | keys`, `["Attribute","Object","Tag","distribution","info","published"]`},
		{`.Event.Nothing[]`, ``},
		{`."Event".info | not`, `false`},
		{`[]`, `[]`},
		{`1 < 2, "a" > "b", null == false`, `true false false`},
	} {
		e, err := ParseFilter(tc.filter)
		if err != nil {
			t.Errorf("ParseFilter(%s): %v", tc.filter, err)
			continue
		}
		got, err := e.Eval(doc)
		if err != nil {
			t.Errorf("%s: %v", tc.filter, err)
			continue
		}
		var parts []string
		for _, g := range got {
			b, _ := json.Marshal(g)
			parts = append(parts, string(b))
		}
		if s := strings.Join(parts, " "); s != tc.want {
			t.Errorf("%s\n got %s\nwant %s", tc.filter, s, tc.want)
		}
	}
}

func TestFilterOutsideSubset(t *testing.T) {
	for _, src := range []string{
		``,
		`.a |`,
		`group_by(.)`,
		`map({name: .[0], count: length})`,
		`if has("Tag") then .Tag[].name else "" end`,
		`.a[`,
		`.a["x"]`,
		`select(.a = 1)`,
		`"unterminated`,
		`Event.EventTag.Tag.{n}.Tag.name`,
		`select(.a, .b; .c)`,
		strings.Repeat("(", 100) + "." + strings.Repeat(")", 100),
	} {
		if _, err := ParseFilter(src); err == nil {
			t.Errorf("ParseFilter(%q) succeeded; want an error", src)
		}
	}
}

func TestFilterRuntimeErrors(t *testing.T) {
	for _, tc := range []struct{ filter, doc string }{
		{`.a.b`, `{"a": "text"}`},
		{`.a[]`, `{"a": 3}`},
		{`.a[0]`, `{"a": {"b": 1}}`},
		{`.a | length`, `{"a": true}`},
		{`.a | keys`, `{"a": [1]}`},
	} {
		var doc any
		if err := json.Unmarshal([]byte(tc.doc), &doc); err != nil {
			t.Fatal(err)
		}
		e, err := ParseFilter(tc.filter)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := e.Eval(doc); err == nil {
			t.Errorf("%s on %s = %v; want an error", tc.filter, tc.doc, got)
		}
	}
}

func TestFilterHolds(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    Filter
		got  []any
		want bool
	}{
		{"contains all", Filter{Comparison: "contains", Values: []any{"event", "API"}}, []any{"Event made via the api"}, true},
		{"contains missing", Filter{Comparison: "contains", Values: []any{"evil.com"}}, []any{"good.com"}, false},
		{"contains over several", Filter{Comparison: "contains", Values: []any{"a.com", "b.com"}}, []any{"a.com", "b.com", "c.com"}, true},
		{"contains nothing extracted", Filter{Comparison: "contains", Values: []any{"x"}}, nil, false},
		{"equals bool as MISP text", Filter{Comparison: "equals", Values: []any{"1"}}, []any{true}, true},
		{"equals number", Filter{Comparison: "is", Values: []any{1.0}}, []any{true}, true},
		{"equals set", Filter{Comparison: "equals", Values: []any{"evilprovider.com"}}, []any{"evilprovider.com", "other.com"}, false},
		{"equals nothing", Filter{Comparison: "equals", Values: []any{"0"}}, nil, false},
		{"equals first", Filter{Comparison: "equals", Values: []any{"0"}, Extract: "first"}, []any{0.0, 5.0}, true},
		{"equals_any", Filter{Comparison: "equals_any", Values: []any{"x", "y"}}, []any{"y"}, true},
		{"count >0", Filter{Comparison: "count", Values: []any{">0"}}, []any{map[string]any{}}, true},
		{"count >0 empty", Filter{Comparison: "count", Values: []any{">0"}}, nil, false},
		{"count >=3", Filter{Comparison: "count", Values: []any{">=3"}}, []any{"a", "b", "c"}, true},
		{"count exact", Filter{Comparison: "count", Values: []any{"1"}}, []any{"a", "b"}, false},
		{"count nulls left out", Filter{Comparison: "count", Values: []any{"0"}}, []any{nil}, true},
		{"regex", Filter{Comparison: "regex", Values: []any{".*[sS]pear[-\\s]?phishing.*"}}, []any{"Spear-phishing of the CEO"}, true},
		{"regex miss", Filter{Comparison: "regex", Values: []any{"^ransom"}}, []any{"phishing"}, false},
		{"contains-regex", Filter{Comparison: "contains-regex", Values: []any{`https:\/\/another\.evil\.provider\.com(:57666)?`}}, []any{"https://another.evil.provider.com:57666/x"}, true},
	} {
		got, err := tc.f.holds(tc.got)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		} else if got != tc.want {
			t.Errorf("%s: holds(%v) = %v, want %v", tc.name, tc.got, got, tc.want)
		}
	}
	for _, f := range []Filter{
		{Comparison: "count", Values: []any{"about 3"}},
		{Comparison: "regex", Values: []any{"("}},
		{Comparison: "like", Values: []any{"x"}},
	} {
		if _, err := f.holds([]any{"x"}); err == nil {
			t.Errorf("holds with %v: want an error", f)
		}
	}
}

func TestCompareJSONOrder(t *testing.T) {
	ordered := []any{nil, false, true, -1.0, 2.0, "a", "b", []any{}, []any{1.0}, map[string]any{}}
	for i := range ordered {
		for j := range ordered {
			c := compareJSON(ordered[i], ordered[j])
			if (i < j) != (c < 0) || (i == j) != (c == 0) {
				t.Errorf("compareJSON(%v, %v) = %d", ordered[i], ordered[j], c)
			}
		}
	}
	if !reflect.DeepEqual(sortedKeys(map[string]any{"b": 1, "a": 2}), []string{"a", "b"}) {
		t.Error("sortedKeys does not sort")
	}
}

// FuzzParseFilter checks that the jq-subset parser never panics and that whatever compiles
// evaluates on a MISP event without panicking or yielding more than maxOutputs values.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		`.Event.info`,
		`[.Event.Object[].Attribute[], .Event.Attribute[]] | .[] | select((.type == "domain")).value`,
		`.Event.Attribute | map(select(any(.Tag[]; .name == "x"))) | length`,
		`.Event.Tag | select(length > 0) | .[].name`,
		`."a b"[0] | has("x") and not`,
		`[.[],.[]] | [.[],.[]] | [.[],.[]]`,
		`(`, `.a[`, `"\u00e9"`, `1.2.3`,
	} {
		f.Add(s)
	}
	var doc any
	if err := json.Unmarshal([]byte(event), &doc); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := ParseFilter(src)
		if err != nil {
			return
		}
		if got, err := e.Eval(doc); err == nil && len(got) > maxOutputs {
			t.Fatalf("%q yields %d values", src, len(got))
		}
	})
}

// BenchmarkFilterEval measures one typical CEXF data_filtering path on a small MISP event.
func BenchmarkFilterEval(b *testing.B) {
	var doc any
	if err := json.Unmarshal([]byte(event), &doc); err != nil {
		b.Fatal(err)
	}
	e, err := ParseFilter(`[.Event.Object[].Attribute[], .Event.Attribute[]] | .[] | select((.type == "domain")).value`)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := e.Eval(doc); err != nil {
			b.Fatal(err)
		}
	}
}
