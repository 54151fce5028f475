package api_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"cshub/internal/api"
	"cshub/internal/hub"
)

// request is shaped like the API's request objects: scalars, a list and a nested object.
type request struct {
	Name  string             `json:"name"`
	Count int                `json:"count"`
	Refs  []string           `json:"refs"`
	Extra map[string]any     `json:"extra"`
	Inner *struct{ On bool } `json:"inner"`
}

func TestDecodeJSON(t *testing.T) {
	deep := func(n int) string {
		return `{"extra":{"a":` + strings.Repeat("[", n-2) + strings.Repeat("]", n-2) + `}}`
	}
	for _, tc := range []struct {
		name, body string
		max        int64 // body limit; 0: none
		code       string
		field      string
		message    string
	}{
		{name: "ok", body: `{"name":"x","count":3,"refs":["a"],"extra":{"k":[1,{"v":2}]}}`},
		{name: "at the depth limit", body: deep(api.MaxJSONDepth)},
		{name: "brackets inside strings do not nest", body: `{"name":"` + strings.Repeat("[{", 100) + `\"["}`},
		{name: "one past the depth limit", body: deep(api.MaxJSONDepth + 1), code: hub.EInvalid, field: "body", message: "nested deeper than 32 levels"},
		{name: "a million brackets", body: strings.Repeat("[", 1<<20), code: hub.EInvalid, field: "body", message: "nested deeper"},
		{name: "wrong type", body: `{"count":"three"}`, code: hub.EInvalid, field: "count", message: "must be a JSON number, not string"},
		{name: "wrong type in a list", body: `{"refs":[1]}`, code: hub.EInvalid, field: "refs", message: "must be a JSON string"},
		{name: "unknown field", body: `{"nope":1}`, code: hub.EInvalid, field: "nope", message: "unknown field"},
		{name: "two values", body: `{} {}`, code: hub.EInvalid, field: "body", message: "more data follows"},
		{name: "cut short", body: `{"name":`, code: hub.EInvalid, field: "body", message: "cut short"},
		{name: "not JSON", body: `{name}`, code: hub.EInvalid, field: "body", message: "not JSON"},
		{name: "empty", body: ``, code: hub.EInvalid, field: "body", message: "empty"},
		{name: "too large", body: `{"name":"` + strings.Repeat("x", 100) + `"}`, max: 64, code: hub.ETooLarge, field: "body", message: "larger than 64 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r io.Reader = strings.NewReader(tc.body)
			if tc.max > 0 {
				r = http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(r), tc.max)
			}
			var v request
			err := api.DecodeJSON(r, &v)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("DecodeJSON = %v, want nil", err)
				}
				return
			}
			if hub.ErrorCode(err) != tc.code || hub.ErrorField(err) != tc.field || !strings.Contains(hub.ErrorMessage(err), tc.message) {
				t.Fatalf("DecodeJSON = %v (code %q, field %q), want %s naming %q with %q", err, hub.ErrorCode(err), hub.ErrorField(err), tc.code, tc.field, tc.message)
			}
		})
	}
}

// An optional body is told apart from a bad one by io.EOF.
func TestDecodeJSONEmptyIsEOF(t *testing.T) {
	var v request
	if err := api.DecodeJSON(strings.NewReader("  "), &v); !errors.Is(err, io.EOF) {
		t.Fatalf("DecodeJSON(blank) = %v, want an error wrapping io.EOF", err)
	}
	if err := api.DecodeJSON(strings.NewReader(`{"name":`), &v); errors.Is(err, io.EOF) {
		t.Fatalf("DecodeJSON(cut short) = %v wraps io.EOF: a broken body would pass as an empty one", err)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"name":"x","count":3}`, `{"count":"x"}`, `{"nope":1}`, `{} {}`, `[`, ``, `{"refs":[1]}`, `{"extra":{"a":[[[[]]]]}}`, `"\\"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v request
		err := api.DecodeJSON(strings.NewReader(string(b)), &v)
		if err == nil {
			return
		}
		// Every refusal is an EInvalid that names what is wrong.
		if hub.ErrorCode(err) != hub.EInvalid || hub.ErrorField(err) == "" || hub.ErrorMessage(err) == "" {
			t.Fatalf("DecodeJSON(%q) = %v: want EInvalid naming a field and a reason", b, err)
		}
	})
}
