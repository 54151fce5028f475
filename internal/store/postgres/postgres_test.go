package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

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

// openCommunity opens a store in a schema of its own with organisation cert-fr, a member of
// workspace community, and returns it with the schema's URL.
func openCommunity(t *testing.T) (*postgres.DB, string) {
	t.Helper()
	ctx := context.Background()
	u := pgtest.Schema(t)
	db := open(t, u)
	if err := db.CreateOrg(ctx, &hub.Org{Code: "cert-fr", Name: "CERT-FR", Country: "FR", Kind: hub.OrgMember, Active: true}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateWorkspace(ctx, &hub.Workspace{Slug: "community", Kind: hub.WorkspaceCommunity, Members: []string{"cert-fr"}}); err != nil {
		t.Fatal(err)
	}
	return db, u
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

// TestBigLoadRefreshesStatistics: after a load of more rows than the planner last saw, the store
// has PostgreSQL analyse the object tables itself, since autovacuum may be slow or off and the
// latest-version fix-up is planned badly without statistics.
func TestBigLoadRefreshesStatistics(t *testing.T) {
	ctx := context.Background()
	db, u := openCommunity(t)
	analysed := func() bool {
		c, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var n int
		err = c.QueryRow(ctx, `SELECT count(*) FROM pg_stat_user_tables WHERE schemaname = current_schema()
			AND relname = 'objects' AND (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL)`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	if analysed() {
		t.Fatal("the empty table is analysed already: the test would prove nothing")
	}
	objs := make([]*hub.Object, 50_000)
	for i := range objs {
		id := fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", i)
		objs[i] = &hub.Object{ID: id, Type: "indicator", Created: time.Unix(0, 0), Modified: time.Unix(0, 0),
			Workspace: "community", Author: "cert-fr", TLP: hub.TLPGreen, Body: []byte("sealed")}
	}
	if n, err := db.PutObjects(ctx, objs, hub.PutOptions{}); err != nil || n != len(objs) {
		t.Fatalf("PutObjects: %d, %v", n, err)
	}
	// The statistics collector reports asynchronously.
	for deadline := time.Now().Add(10 * time.Second); !analysed(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the objects table was not analysed after a load of 50,000 rows")
		}
	}
}
