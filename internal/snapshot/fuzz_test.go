package snapshot

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"cshub/internal/seal"
)

// FuzzRead feeds the snapshot reader arbitrary files. Under seal.Plain nothing authenticates,
// so the fuzzer reaches every step of the parser. It must never panic, and what it accepts
// must write back to a file it reads alike.
func FuzzRead(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "lookup")
	m := Meta{Index: "lookup", Format: 1, Stream: "memory:x", Seq: 42}
	for _, sections := range []map[string][]byte{
		nil,
		{"community": []byte("one")},
		{"community": []byte("one"), "secret": {}, "": []byte("hub")},
	} {
		if _, err := Write(path, seal.Plain{}, m, sections); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)-1])
	}
	f.Add([]byte(magic))
	f.Add([]byte(magic + "\x01\x02{}"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, sections, _, err := decode(data, seal.Plain{}, "lookup", 1)
		if err != nil {
			return
		}
		out := filepath.Join(t.TempDir(), "lookup")
		if _, err := Write(out, seal.Plain{}, m, sections); err != nil {
			t.Fatal(err)
		}
		m2, sections2, _, err := Read(out, seal.Plain{}, "lookup", 1)
		if err != nil {
			t.Fatalf("a rewritten snapshot does not read: %v", err)
		}
		if m2 != m || !maps.EqualFunc(sections, sections2, bytes.Equal) {
			t.Fatalf("rewritten: %+v %v, read %+v %v", m, sections, m2, sections2)
		}
	})
}
