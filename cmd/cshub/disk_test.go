package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"cshub/internal/hub"
)

// knownPlaintexts are strings of member content in the demo data: an actor alias, a tool, a
// phishing domain from the seed scenario, a sentence of a seed report. None may be readable in
// any file of the data directory.
var knownPlaintexts = []string{
	"Fancy Bear",
	"LaZagne",
	"senate.group",
	"office365onedrive",
	"Seedworm",
	"CrackMapExec",
	"executed a court order",
	"not typically a top attack destination",
	"brute-force",
}

// TestNothingReadableOnDisk ingests the demo data and the seed scenario, then scans every file
// in the data directory (the SQLite main file, WAL, shared memory, journals, temp files) byte by
// byte for known plaintexts, while the hub is open and again after it is closed.
func TestNothingReadableOnDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("ingests ATT&CK")
	}
	dir := t.TempDir()
	ctx := context.Background()
	e := &env{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	a, err := openApp(ctx, e, &common{data: dir}, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seedDemo(ctx, a); err != nil {
		t.Fatal(err)
	}
	// The test must be able to fail: the plaintexts are in what was ingested.
	objs, err := a.kb.List(ctx, hubSystemFilter())
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	for _, o := range objs {
		all.Write(o.Body)
	}
	for _, p := range knownPlaintexts {
		if !bytes.Contains(all.Bytes(), []byte(p)) {
			t.Fatalf("%q is not in the ingested data; the scan below would prove nothing", p)
		}
	}
	scanDir(t, dir, "open")
	a.close()
	scanDir(t, dir, "closed")
}

func scanDir(t *testing.T, dir, when string) {
	t.Helper()
	files := 0
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files++
		for _, p := range knownPlaintexts {
			for _, form := range [][]byte{[]byte(p), bytes.ToLower([]byte(p)), utf16le(p)} {
				if i := bytes.Index(b, form); i >= 0 {
					t.Errorf("hub %s: %q readable in %s at offset %d", when, form, filepath.Base(path), i)
				}
			}
		}
		return nil
	})
	if files < 2 {
		t.Fatalf("hub %s: only %d files scanned", when, files)
	}
}

func utf16le(s string) []byte {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r), 0)
	}
	return b
}

func hubSystemFilter() hub.Filter {
	return hub.Filter{Viewer: hub.Viewer{System: true}, Limit: 1 << 20}
}
