package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"testing"

	"github.com/jackc/pgx/v5"

	"cshub/internal/hub"
)

// TestNothingReadableInPGDump is TestNothingReadableOnDisk for PostgreSQL: it ingests the demo
// data into a schema of its own and scans a pg_dump of that schema for the known plaintexts,
// as they are and hex-encoded (the form pg_dump gives bytea columns).
func TestNothingReadableInPGDump(t *testing.T) {
	base := os.Getenv("CSHUB_TEST_PG")
	if base == "" {
		t.Skip("CSHUB_TEST_PG is unset: set it to a PostgreSQL URL, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	if testing.Short() {
		t.Skip("ingests ATT&CK")
	}
	pgDump := pgDumpPath(t)
	ctx := context.Background()
	schema := fmt.Sprintf("cshub_dump_%d_%d", os.Getpid(), rand.Uint64()%1_000_000_000)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("CSHUB_TEST_PG: %v", err)
	}
	_, err = admin.Exec(ctx, "CREATE SCHEMA "+schema)
	admin.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			defer c.Close(context.Background())
			_, err = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		}
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()

	e := &env{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	a, err := openApp(ctx, e, &common{data: t.TempDir(), store: u.String()}, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seedDemo(ctx, a); err != nil {
		a.close()
		t.Fatal(err)
	}
	// The test must be able to fail: the plaintexts are in what was ingested.
	objs, err := a.kb.List(ctx, hubSystemFilter())
	if err != nil {
		a.close()
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
	// And the dump must hold the stored bodies, in the form the scan looks for.
	sealed, err := a.store.ListObjects(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, Limit: 1})
	if err != nil || len(sealed) == 0 {
		a.close()
		t.Fatalf("reading a stored body: %v", err)
	}
	a.close()

	var dump, stderr bytes.Buffer
	cmd := exec.Command(pgDump, "--schema="+schema, "--no-owner", "--dbname="+base)
	cmd.Stdout, cmd.Stderr = &dump, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, stderr.Bytes())
	}
	if !bytes.Contains(dump.Bytes(), []byte(hex.EncodeToString(sealed[0].Body))) {
		t.Fatalf("the dump (%d bytes) does not hold the first stored body in hex; the scan would prove nothing", dump.Len())
	}
	if !bytes.Contains(dump.Bytes(), []byte(sealed[0].ID)) {
		t.Fatalf("the dump does not hold the object id %s", sealed[0].ID)
	}
	for _, p := range knownPlaintexts {
		forms := [][]byte{[]byte(p), bytes.ToLower([]byte(p)), utf16le(p)}
		for _, f := range forms[:2] {
			forms = append(forms, []byte(hex.EncodeToString(f)))
		}
		for _, f := range forms {
			if i := bytes.Index(dump.Bytes(), f); i >= 0 {
				t.Errorf("%q readable in the pg_dump of %s at offset %d", f, schema, i)
			}
		}
	}
	t.Logf("pg_dump of %s: %d bytes, %d objects, no known plaintext", schema, dump.Len(), len(objs))
}

// pgDumpPath finds a pg_dump, preferring one of the server's major version.
func pgDumpPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/lib/postgresql/15/bin/pg_dump", "/usr/bin/pg_dump"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, err := exec.LookPath("pg_dump")
	if err != nil {
		t.Skip("pg_dump is not installed")
	}
	return p
}
