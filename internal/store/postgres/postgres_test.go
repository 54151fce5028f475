package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"cshub/internal/hub"
	"cshub/internal/store/postgres"
	"cshub/internal/store/storetest"
)

// testURL returns CSHUB_TEST_PG, or skips tb when it is unset.
func testURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("CSHUB_TEST_PG")
	if u == "" {
		tb.Skip("CSHUB_TEST_PG is unset: set it to a PostgreSQL URL, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	return u
}

// schemaURL creates a schema of its own for tb, dropped when tb ends, and returns base with
// search_path set to it.
func schemaURL(tb testing.TB, base string) string {
	tb.Helper()
	ctx := context.Background()
	schema := fmt.Sprintf("cshub_pgtest_%d_%d", os.Getpid(), rand.Uint64()%1_000_000_000)
	exec := func(stmt string) error {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, stmt)
		return err
	}
	if err := exec("CREATE SCHEMA " + schema); err != nil {
		tb.Fatalf("CSHUB_TEST_PG: %v", err)
	}
	tb.Cleanup(func() {
		if err := exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func open(tb testing.TB, u string) *postgres.DB {
	tb.Helper()
	db, err := postgres.Open(context.Background(), u)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	base := testURL(t)
	storetest.Run(t, func(t *testing.T) hub.Store { return open(t, schemaURL(t, base)) })
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	u := schemaURL(t, testURL(t))
	db := open(t, u)
	db.Close()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `INSERT INTO schema_version (version, applied) VALUES (999, now())`); err != nil {
		t.Fatal(err)
	}
	_, err = postgres.Open(ctx, u)
	if err == nil || !strings.Contains(err.Error(), "version 999") {
		t.Fatalf("Open of a newer schema = %v, want an error naming version 999", err)
	}
	// Reopening a current schema applies nothing and works.
	c.Exec(ctx, `DELETE FROM schema_version WHERE version = 999`)
	open(t, u)
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	_, err := postgres.Open(ctx, "postgres://127.0.0.1:1/x?connect_timeout=2")
	if got := hub.ErrorCode(err); got != hub.EUnavailable {
		t.Errorf("Open of a closed port: code %q (%v), want %q", got, err, hub.EUnavailable)
	}
	_, err = postgres.Open(ctx, "postgres://127.0.0.1/x?pool_max_conns=zero")
	if got := hub.ErrorCode(err); got != hub.EInvalid {
		t.Errorf("Open with a bad pool size: code %q (%v), want %q", got, err, hub.EInvalid)
	}
}
