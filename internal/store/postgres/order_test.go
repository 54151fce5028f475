package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"cshub/internal/hub"
)

// TestReadersNeverPassAnInFlightSeq provokes, with real concurrent transactions, the race a
// reader polling by Seq (feeds, followers) would lose if seqs were handed out at insert: batch A
// takes its seq and then waits inside its transaction, batch B is put after it, the reader
// polls, A commits, the reader polls again. Nothing may be missed, and B must not commit a seq
// above A's while A is in flight.
func TestReadersNeverPassAnInFlightSeq(t *testing.T) {
	ctx := context.Background()
	db, u := openCommunity(t)
	m := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ind := func(id string) *hub.Object {
		return &hub.Object{ID: id, Type: "indicator", Created: m, Modified: m, Workspace: "community", Author: "cert-fr",
			TLP: hub.TLPGreen, Body: []byte("sealed")}
	}
	first := ind("indicator--00000000-0000-4000-8000-000000000001")
	if _, err := db.PutObjects(ctx, []*hub.Object{first}, hub.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	cursor := int64(0)
	poll := func() {
		objs, err := db.ListObjects(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, AfterSeq: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			seen[o.ID] = true
			cursor = max(cursor, o.Seq)
		}
	}
	poll()

	// A blocker transaction holds an uncommitted row with A's key, so that A's insert waits on
	// it inside A's transaction, after A has taken its seq.
	a, b := ind("indicator--00000000-0000-4000-8000-00000000000a"), ind("indicator--00000000-0000-4000-8000-00000000000b")
	blocker, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close(ctx)
	tx, err := blocker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	monitor, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer monitor.Close(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO objects (seq, id, type, workspace, author, tlp, created, modified, added, revoked, latest, body)
		VALUES (-1, $1, 'indicator', 'community', 'cert-fr', 1, $2, $2, now(), false, false, 'x')`, a.ID, m); err != nil {
		t.Fatal(err)
	}
	put := func(o *hub.Object) <-chan error {
		done := make(chan error, 1)
		go func() {
			_, err := db.PutObjects(ctx, []*hub.Object{o}, hub.PutOptions{})
			done <- err
		}()
		return done
	}
	// waitBlocked returns once a session waits on the blocker: A, holding its seq.
	waitBlocked := func() {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			var n int
			if err := monitor.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`,
				blocker.PgConn().PID()).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("A never waited on the blocker")
			}
		}
	}
	doneA := put(a)
	waitBlocked()
	doneB := put(b)
	select {
	case err := <-doneB:
		t.Errorf("B committed (err %v) while A, which took an earlier seq, was in flight", err)
	case <-time.After(300 * time.Millisecond):
	}
	poll()
	if seen[a.ID] || seen[b.ID] {
		t.Fatalf("a poll saw A or B before A committed: %v", seen)
	}
	if err := tx.Rollback(ctx); err != nil { // A's insert goes ahead
		t.Fatal(err)
	}
	for _, done := range []<-chan error{doneA, doneB} {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a put did not finish after the blocker went")
		}
	}
	poll()
	if !seen[a.ID] || !seen[b.ID] {
		t.Errorf("polling by seq missed a version: saw A %v, B %v", seen[a.ID], seen[b.ID])
	}
	if a.Seq >= b.Seq {
		t.Errorf("seqs A %d, B %d: want A, which started first, below B", a.Seq, b.Seq)
	}
}
