// Package pgtest gives tests a PostgreSQL schema of their own on the server named by
// CSHUB_TEST_PG, so that packages testing against one database can run in parallel.
package pgtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Env names the variable that holds the test server's URL.
const Env = "CSHUB_TEST_PG"

// Available reports whether CSHUB_TEST_PG names a server to test against.
func Available() bool { return os.Getenv(Env) != "" }

// URL returns CSHUB_TEST_PG, or skips tb with a message naming the variable when it is unset.
func URL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(Env)
	if u == "" {
		tb.Skip(Env + " is unset: set it to a PostgreSQL URL, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	return u
}

// Schema creates a schema of tb's own on the server at URL(tb), dropped when tb ends, and
// returns the URL with search_path set to it.
func Schema(tb testing.TB) string {
	tb.Helper()
	return SchemaOf(tb, URL(tb))
}

// SchemaOf is Schema on the server at base.
func SchemaOf(tb testing.TB, base string) string {
	tb.Helper()
	ctx := context.Background()
	schema := fmt.Sprintf("cshub_test_%d_%d", os.Getpid(), rand.Uint64()%1_000_000_000)
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
		tb.Fatalf("%s: %v", Env, err)
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
