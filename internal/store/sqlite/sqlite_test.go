package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cshub/internal/hub"
	"cshub/internal/store/sqlite"
	"cshub/internal/store/storetest"
)

// open opens a new store in a temporary directory, closed when the test ends, and returns it
// with its file's path.
func open(t testing.TB) (*sqlite.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hub.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) hub.Store { db, _ := open(t); return db })
}

func TestReopenAndCheck(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateOrg(ctx, &hub.Org{Code: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
	db.Close()
	db, err = sqlite.Open(path) // migrations already applied: nothing to do
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if _, err := db.Org(ctx, "a"); err != nil {
		t.Errorf("after reopen: %v", err)
	}
	db.Close()
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO schema_version (version, applied) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	_, err = sqlite.Open(path)
	if err == nil || !strings.Contains(err.Error(), "version 999") {
		t.Fatalf("Open of a newer schema = %v, want an error naming version 999", err)
	}
}

func TestNanosecondTimes(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	if err := db.CreateWorkspace(ctx, &hub.Workspace{Slug: "w"}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	o := &hub.Object{ID: "x--1", Type: "x", Workspace: "w", TLP: hub.TLPGreen, Created: at, Modified: at.Add(1)}
	if _, err := db.PutObjects(ctx, []*hub.Object{o}, hub.PutOptions{Now: at}); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetObject(ctx, hub.Viewer{System: true}, "x--1", at.Add(1))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Created.Equal(at) || !got.Modified.Equal(at.Add(1)) || !got.Added.Equal(at) {
		t.Errorf("times = %v %v %v, want nanoseconds kept", got.Created, got.Modified, got.Added)
	}
	// Outside the years an int64 of nanoseconds covers.
	o = &hub.Object{ID: "x--2", Type: "x", Workspace: "w", TLP: hub.TLPGreen, Modified: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}
	_, err = db.PutObjects(ctx, []*hub.Object{o}, hub.PutOptions{})
	if hub.ErrorCode(err) != hub.EInvalid || hub.ErrorField(err) != "modified" {
		t.Errorf("year 2300: %v, want EInvalid on modified", err)
	}
}

// TestReplacedKeyringGone: a replaced keyring blob is in neither the database file nor its WAL,
// so that destroyed keys cannot be read back from disk.
func TestReplacedKeyringGone(t *testing.T) {
	ctx := context.Background()
	db, path := open(t)
	old := bytes.Repeat([]byte("destroyed-key-"), 8)
	v, err := db.SetKeyring(ctx, old, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetKeyring(ctx, []byte("current"), v); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(name)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, old) {
			t.Errorf("%s still holds the replaced keyring", filepath.Base(name))
		}
	}
}

// TestCheckpointBesideWriter: once commits have put more than the checkpoint threshold (64
// MB) in the WAL, it is copied into the database file by the background checkpointer, while
// the writer's own autocheckpoint would wait for eight times as much.
func TestCheckpointBesideWriter(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 72 MB")
	}
	ctx := context.Background()
	db, path := open(t)
	if err := db.CreateWorkspace(ctx, &hub.Workspace{Slug: "w"}); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 8<<20)
	const written = 72 << 20
	for i := range written / len(body) {
		o := &hub.Object{ID: fmt.Sprintf("x--%d", i), Type: "x", Workspace: "w", TLP: hub.TLPGreen, Modified: time.Unix(1, 0), Body: body}
		if _, err := db.PutObjects(ctx, []*hub.Object{o}, hub.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	const want = 48 << 20 // most of what the first checkpoint copies; without one, some kilobytes
	var size int64
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if size = fi.Size(); size >= want {
			return
		}
	}
	t.Errorf("database file %d bytes after %d MB committed, want at least %d: the WAL was not checkpointed", size, written>>20, want)
}

func TestCloseTwice(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db.Close() // must not panic
}

// TestPageSize checks that a new database gets large pages and that one made with the default
// page size still opens, and keeps it.
func TestPageSize(t *testing.T) {
	pageSize := func(path string) int {
		t.Helper()
		h := make([]byte, 18)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.ReadAt(h, 0); err != nil {
			t.Fatal(err)
		}
		return int(h[16])<<8 | int(h[17]) // 1 would mean 65536; not used
	}
	db, path := open(t)
	db.Close()
	if got, want := pageSize(path), 16384; got != want {
		t.Errorf("new database: page size %d, want %d", got, want)
	}

	old := filepath.Join(t.TempDir(), "old.db")
	plain, err := sql.Open("sqlite", old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Exec("CREATE TABLE t (x)"); err != nil {
		t.Fatal(err)
	}
	plain.Close()
	db, err = sqlite.Open(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateWorkspace(context.Background(), &hub.Workspace{Slug: "w"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if got, want := pageSize(old), 4096; got != want {
		t.Errorf("existing database: page size %d, want %d", got, want)
	}
}
