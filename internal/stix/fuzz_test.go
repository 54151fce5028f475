package stix

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzBundle feeds arbitrary input to the bundle reader and the validator; neither may panic,
// every element returned must be valid JSON, and a valid object's body must validate again.
func FuzzBundle(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil && len(b) < 64<<10 {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"type":"bundle","id":"bundle--` + uuid1 + `","objects":[` + obj1 + `,` + obj2 + `]}`))
	f.Add([]byte(`{"objects":[{"a":"\u00e9\ud83d\ude00"}],"type":"bundle"}`))
	f.Add([]byte(`{"type":"malware","id":"malware--` + uuid1 + `","created":"2020-01-01T00:00:00Z","modified":"2020-01-01T00:00:00Z","labels":["malware"],"name":"x"}`))
	f.Add([]byte(`[`))
	f.Add([]byte(`{"type":"indicator","spec_version":"2.1","id":"indicator--` + uuid1 + `","created":"` + ts + `","modified":"` + ts + `","pattern":"[file:name = 'a']","pattern_type":"stix","valid_from":"` + ts + `"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		br := NewBundleReader(bytes.NewReader(data))
		for range 10000 {
			raw, err := br.Next()
			if err != nil {
				if err != io.EOF && br.SpecVersion() == "x" {
					t.Log(err)
				}
				break
			}
			if _, err := parse(raw, nil); err != nil {
				t.Fatalf("element is not valid JSON: %v", err)
			}
			m, body, err := Validate(raw)
			if err != nil {
				continue
			}
			m2, _, err := Validate(body)
			if err != nil {
				t.Fatalf("body of a valid object does not validate: %v\n%s", err, body)
			}
			if m2.ID != m.ID || m2.Type != m.Type {
				t.Fatalf("metadata changed on revalidation: %+v vs %+v", m, m2)
			}
		}
		Validate(data)
	})
}
