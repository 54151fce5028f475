package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"cshub/internal/hub"
)

// MaxJSONDepth bounds how deeply the JSON of a request body may nest. The API's request
// objects are a few levels deep; encoding/json alone would accept 10,000 levels, and a body of
// nothing but brackets makes its decoder allocate for each of them.
const MaxJSONDepth = 32

// DecodeJSON decodes the one JSON value of a request body r into v, refusing unknown fields,
// trailing data and nesting deeper than MaxJSONDepth. Its errors are EInvalid naming the
// offending field ("body" when none can be named), or ETooLarge when r is an
// http.MaxBytesReader that hit its limit. An empty body is EInvalid wrapping io.EOF, so that a
// handler whose body is optional can tell it apart with errors.Is(err, io.EOF).
func DecodeJSON(r io.Reader, v any) error {
	d := json.NewDecoder(&depthReader{r: r, max: MaxJSONDepth})
	d.DisallowUnknownFields()
	err := d.Decode(v)
	if err == nil {
		if d.More() {
			return hub.FieldError("body", "one JSON value expected, more data follows it")
		}
		return nil
	}
	var mbe *http.MaxBytesError
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &mbe):
		return &hub.Error{Code: hub.ETooLarge, Field: "body", Message: fmt.Sprintf("larger than %d bytes", mbe.Limit)}
	case errors.Is(err, errTooDeep):
		return hub.FieldError("body", "nested deeper than %d levels", MaxJSONDepth)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return hub.FieldError(field, "must be a JSON %s, not %s", jsonKind(te.Type.Kind()), te.Value)
	case errors.As(err, &se):
		return hub.FieldError("body", "not JSON: %s at byte %d", se.Error(), se.Offset)
	case errors.Is(err, io.EOF):
		return &hub.Error{Code: hub.EInvalid, Field: "body", Message: "empty; a JSON value expected", Err: io.EOF}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return hub.FieldError("body", "the JSON value is cut short")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if name = strings.Trim(name, `"`); name != "" {
			return hub.FieldError(name, "unknown field")
		}
		return hub.FieldError("body", "a property with an empty name")
	}
	return hub.FieldError("body", "%s", err.Error())
}

// jsonKind names the JSON type a Go value of kind k is decoded from.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct, reflect.Pointer:
		return "object"
	}
	return "number"
}

var errTooDeep = errors.New("JSON nested too deeply")

// depthReader passes JSON through while tracking its nesting, and fails with errTooDeep at the
// first bracket past max, before the decoder has allocated for it. It follows strings and their
// escapes only; the decoder judges the syntax.
type depthReader struct {
	r             io.Reader
	max, depth    int
	inStr, escape bool
}

func (d *depthReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	for i, c := range p[:n] {
		switch {
		case d.inStr:
			switch {
			case d.escape:
				d.escape = false
			case c == '\\':
				d.escape = true
			case c == '"':
				d.inStr = false
			}
		case c == '"':
			d.inStr = true
		case c == '{' || c == '[':
			if d.depth++; d.depth > d.max {
				return i, errTooDeep
			}
		case c == '}' || c == ']':
			d.depth--
		}
	}
	return n, err
}
