package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"cshub/internal/hub"
	"cshub/internal/store/postgres"
	"cshub/internal/store/sqlite"
	"cshub/internal/store/storetest"
)

// TestConformance runs the store suite on every backend: TestConformance/sqlite/... always and
// TestConformance/postgres/... when CSHUB_TEST_PG names a PostgreSQL database.
func TestConformance(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) hub.Store {
			db, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		})
	})
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv("CSHUB_TEST_PG")
		if base == "" {
			t.Skip("CSHUB_TEST_PG is unset: set it to a PostgreSQL URL, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
		}
		storetest.Run(t, func(t *testing.T) hub.Store { return openPG(t, base) })
	})
}

// openPG opens a store in a schema of its own, dropped when t ends.
func openPG(t *testing.T, base string) *postgres.DB {
	t.Helper()
	ctx := context.Background()
	schema := fmt.Sprintf("cshub_test_%d_%d", os.Getpid(), rand.Uint64()%1_000_000_000)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("CSHUB_TEST_PG: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
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
	db, err := postgres.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() }) // runs before the schema is dropped
	return db
}
