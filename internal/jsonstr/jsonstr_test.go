package jsonstr

import (
	"encoding/json"
	"testing"
)

func sameAsEncodingJSON(t *testing.T, s string) {
	t.Helper()
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := Append(nil, s); string(got) != string(want) {
		t.Errorf("Append(%q) = %s, encoding/json writes %s", s, got, want)
	}
}

func TestAppend(t *testing.T) {
	for _, s := range []string{"", "plain", `"quoted" \back\`, "<a href='x'>&amp;</a>", "\b\f\n\r\t\x00\x1f\x7f",
		"caf\u00e9 \u2028\u2029 \U0001F600", "bad \xff\xfe utf-8 \xe2\x82", "\ufffd"} {
		sameAsEncodingJSON(t, s)
	}
}

func FuzzAppend(f *testing.F) {
	f.Add("a<b>&\"\\\u2028\xff")
	f.Fuzz(sameAsEncodingJSON)
}
