package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"cshub/internal/hub"
	"cshub/internal/store/postgres"
	"cshub/internal/store/postgres/pgtest"
	"cshub/internal/store/storetest"
)

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
	base := pgtest.URL(t)
	storetest.Run(t, func(t *testing.T) hub.Store { return open(t, pgtest.SchemaOf(t, base)) })
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	u := pgtest.SchemaOf(t, pgtest.URL(t))
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
