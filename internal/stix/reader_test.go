package stix

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"cshub/internal/hub"
)

const (
	obj1 = `{"type":"identity","spec_version":"2.1","id":"identity--` + uuid1 + `","created":"` + ts + `","modified":"` + ts + `","name":"A"}`
	obj2 = `{"type":"tool","spec_version":"2.1","id":"tool--` + uuid2 + `","created":"` + ts + `","modified":"` + ts + `","name":"B \"quoted\" ] }"}`
	bid  = `"bundle--` + uuid1 + `"`
)

// readAll reads every element from r.
func readAll(r io.Reader) ([]string, *BundleReader, error) {
	br := NewBundleReader(r)
	var out []string
	for {
		raw, err := br.Next()
		if err == io.EOF {
			return out, br, nil
		}
		if err != nil {
			return out, br, err
		}
		out = append(out, string(raw))
	}
}

func TestBundleReader(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    []string
		rule    string // expected *ValidationError rule, "" for none
		syntax  int64  // expected *SyntaxError offset, -1 for none
		version string
	}{
		{"usual order", `{"type":"bundle","id":` + bid + `,"objects":[` + obj1 + `,` + obj2 + `]}`, []string{obj1, obj2}, "", -1, ""},
		{"objects first", `{"objects":[` + obj1 + `],"id":` + bid + `,"type":"bundle"}`, []string{obj1}, "", -1, ""},
		{"2.0 version after objects", ` {"type":"bundle","objects":[ ` + obj1 + ` ],"spec_version":"2.0","id":` + bid + `} `, []string{obj1}, "", -1, "2.0"},
		{"empty bundle", `{"type":"bundle","id":` + bid + `}`, nil, "", -1, ""},
		{"empty bundle without id", `{"type":"bundle"}`, nil, RuleRequired, -1, ""},
		{"empty objects", `{"type":"bundle","id":` + bid + `,"objects":[]}`, nil, "", -1, ""},
		{"single object", "\n" + obj1 + "\n", []string{obj1}, "", -1, ""},
		{"single 2.0 observed-data", `{"type":"observed-data","objects":{"0":{"type":"file"}}}`, []string{`{"type":"observed-data","objects":{"0":{"type":"file"}}}`}, "", -1, ""},
		{"objects dict before type", `{"objects":{"0":{}},"type":"observed-data"}`, []string{`{"objects":{"0":{}},"type":"observed-data"}`}, "", -1, ""},
		{"no type", `{"id":` + bid + `,"objects":[` + obj1 + `]}`, []string{obj1}, RuleBundle, -1, ""},
		{"bad id", `{"type":"bundle","id":"bundle--1234","objects":[` + obj1 + `]}`, nil, RuleID, -1, ""},
		{"id of another type", `{"type":"bundle","id":"report--` + uuid1 + `","objects":[]}`, nil, RuleID, -1, ""},
		{"no id", `{"type":"bundle","objects":[` + obj1 + `]}`, []string{obj1}, RuleRequired, -1, ""},
		{"type not bundle after objects", `{"objects":[` + obj1 + `],"type":"report","id":` + bid + `}`, []string{obj1}, RuleBundle, -1, ""},
		{"bad spec_version", `{"type":"bundle","spec_version":"3.0","id":` + bid + `,"objects":[]}`, nil, RuleSpecVersion, -1, ""},
		{"missing comma", `{"type":"bundle","id":` + bid + `,"objects":[{"a":1} {"b":2}]}`, nil, "", 88, ""},
		{"bad element", `{"type":"bundle","id":` + bid + `,"objects":[{"a":tru}]}`, nil, "", 85, ""},
		{"trailing comma", `{"type":"bundle","id":` + bid + `,"objects":[{"a":1},]}`, nil, "", 88, ""},
		{"truncated", `{"type":"bundle","id":` + bid + `,"objects":[{"a":1}`, nil, "", 87, ""},
		{"trailing data", obj1 + `x`, nil, "", int64(len(obj1)), ""},
		{"not an object", `[1,2]`, nil, "", 0, ""},
		{"empty", ``, nil, "", 0, ""},
		{"bad single object", `{"type":"tool","name":"x",}`, nil, "", 26, ""},
	}
	for _, c := range cases {
		for _, small := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/small=%v", c.name, small), func(t *testing.T) {
				var r io.Reader = strings.NewReader(c.in)
				if small {
					r = iotest.OneByteReader(r)
				}
				got, br, err := readAll(r)
				if fmt.Sprint(got) != fmt.Sprint(c.want) {
					t.Errorf("elements: got %q, want %q", got, c.want)
				}
				var ve *ValidationError
				var se *SyntaxError
				switch {
				case c.rule != "":
					if !errors.As(err, &ve) || ve.Rule != c.rule {
						t.Errorf("got %v, want rule %q", err, c.rule)
					}
				case c.syntax >= 0:
					if !errors.As(err, &se) || se.Offset != c.syntax {
						t.Errorf("got %v, want a syntax error at %d", err, c.syntax)
					}
					if hub.ErrorCode(err) != hub.EInvalid {
						t.Errorf("code: got %q, want %q", hub.ErrorCode(err), hub.EInvalid)
					}
				case err != nil:
					t.Errorf("got %v, want none", err)
				}
				if err == nil && br.SpecVersion() != c.version {
					t.Errorf("SpecVersion: got %q, want %q", br.SpecVersion(), c.version)
				}
				// The error is sticky.
				if _, err2 := br.Next(); err != nil && err2 != err {
					t.Errorf("second Next: got %v, want %v", err2, err)
				}
			})
		}
	}
}

// TestBundleReaderSmallReads reads every example with one-byte reads and compares.
func TestBundleReaderSmallReads(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.json")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want, _, werr := readAll(bytes.NewReader(b))
		got, _, gerr := readAll(iotest.HalfReader(iotest.OneByteReader(bytes.NewReader(b))))
		if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(gerr) != fmt.Sprint(werr) {
			t.Errorf("%s: small reads differ: %d elements (%v), want %d (%v)", f, len(got), gerr, len(want), werr)
		}
		for _, el := range got {
			if !json.Valid([]byte(el)) {
				t.Errorf("%s: element is not valid JSON: %.80s", f, el)
			}
		}
	}
}

// bigBundle generates a bundle of n objects without holding it in memory.
type bigBundle struct {
	n, i int
	buf  []byte
}

func (g *bigBundle) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		switch {
		case g.i == 0:
			g.buf = []byte(`{"type":"bundle","id":` + bid + `,"objects":[`)
		case g.i <= g.n:
			sep := ","
			if g.i == g.n {
				sep = "]}"
			}
			g.buf = []byte(fmt.Sprintf(`{"type":"note","spec_version":"2.1","id":"note--%08x-0000-4000-8000-000000000000","created":"%s","modified":"%s","content":"%s","object_refs":["indicator--%s"]}%s`,
				g.i, ts, ts, strings.Repeat("x", 900), uuid2, sep))
		default:
			return 0, io.EOF
		}
		g.i++
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

// TestBundleReaderMemory streams a bundle of about 100 MB and checks that the heap stays small.
func TestBundleReaderMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 100 MB")
	}
	const n = 100_000
	br := NewBundleReader(&bigBundle{n: n})
	var ms runtime.MemStats
	var peak uint64
	count := 0
	for {
		raw, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := Validate(raw); err != nil {
			t.Fatal(err)
		}
		count++
		if count%10_000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	if count != n {
		t.Fatalf("objects: got %d, want %d", count, n)
	}
	if peak > 32<<20 {
		t.Errorf("heap reached %d bytes while streaming a 100 MB bundle", peak)
	}
}
