package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"cshub/internal/hub"
	"cshub/internal/store/sqlite"
)

// indicators stores n indicator versions in workspace w1 (its export record the body's
// reverse) and returns the highest Seq.
func indicators(t *testing.T, db *sqlite.DB, n int) int64 {
	t.Helper()
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := db.CreateOrg(ctx, &hub.Org{Code: "fr", Name: "FR", Country: "FR", Kind: hub.OrgMember, Active: true, Created: t0}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateWorkspace(ctx, &hub.Workspace{Slug: "w1", Name: "w1", Kind: hub.WorkspaceCommunity, Members: []string{"fr"}, Created: t0}); err != nil {
		t.Fatal(err)
	}
	objs := make([]*hub.Object, n)
	for i := range objs {
		body := []byte(fmt.Sprintf("sealed body %d", i))
		objs[i] = &hub.Object{ID: fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", i), Type: "indicator",
			Created: t0, Modified: t0, Workspace: "w1", Author: "fr", TLP: hub.TLPGreen, Body: body, Export: reverse(body)}
	}
	if _, err := db.PutObjects(ctx, objs, hub.PutOptions{Now: t0}); err != nil {
		t.Fatal(err)
	}
	return objs[n-1].Seq
}

func reverse(b []byte) []byte {
	r := make([]byte, len(b))
	for i, c := range b {
		r[len(b)-1-i] = c
	}
	return r
}

// Scans read a page of rows between two looks at their context: a cancelled export stops
// within one such page, with the context's error, and the connection serves the next scan.
func TestScanCancelled(t *testing.T) {
	db, _ := open(t)
	last := indicators(t, db, 5000)
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := db.Bodies(ctx, "indicator", 0, last, func(int64, []byte) error {
		calls++
		if calls == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || calls >= 5000 {
		t.Fatalf("Bodies cancelled after 10 rows: %v after %d rows; want context.Canceled well before 5000", err, calls)
	}
	if _, err := db.ExportRecords(ctx, 0, 100, new(hub.RecordPage)); !errors.Is(err, context.Canceled) {
		t.Errorf("ExportRecords with a cancelled context: %v, want context.Canceled", err)
	}
	n := 0
	if err := db.Bodies(context.Background(), "indicator", 0, last, func(int64, []byte) error { n++; return nil }); err != nil || n != 5000 {
		t.Errorf("Bodies after a cancelled one: %d rows, %v; want all 5000", n, err)
	}
}

// More scans at once than there are scan connections wait for one, and each reads every row
// it should, whole: a blob SQLite hands out is the row's until the next.
func TestScansConcurrent(t *testing.T) {
	db, _ := open(t)
	last := indicators(t, db, 3000)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for g := range 12 {
		wg.Go(func() {
			if g%2 == 0 {
				i := 0
				err := db.Bodies(ctx, "indicator", 0, last, func(seq int64, sealed []byte) error {
					if want := fmt.Sprintf("sealed body %d", i); string(sealed) != want {
						return fmt.Errorf("body of %d = %q, want %q", seq, sealed, want)
					}
					i++
					return nil
				})
				if err == nil && i != 3000 {
					err = fmt.Errorf("Bodies read %d rows, want 3000", i)
				}
				errs <- err
				return
			}
			var recs []hub.ExportRecord
			for after := int64(0); ; {
				var p hub.RecordPage // a page of its own: recs keeps them all
				if _, err := db.ExportRecords(ctx, after, 700, &p); err != nil {
					errs <- err
					return
				}
				page := p.Records()
				recs = append(recs, page...)
				if len(page) < 700 {
					break
				}
				after = page[len(page)-1].Seq
			}
			for i, r := range recs {
				if want := reverse([]byte(fmt.Sprintf("sealed body %d", i))); !bytes.Equal(r.Sealed, want) || r.Workspace != "w1" {
					errs <- fmt.Errorf("record %d = %s %q, want w1 %q", i, r.Workspace, r.Sealed, want)
					return
				}
			}
			if len(recs) != 3000 {
				errs <- fmt.Errorf("ExportRecords gave %d records, want 3000", len(recs))
				return
			}
			errs <- nil
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// A closed store refuses scans rather than open connections behind its back.
func TestScanAfterClose(t *testing.T) {
	db, _ := open(t)
	last := indicators(t, db, 10)
	if err := db.Bodies(context.Background(), "indicator", 0, last, func(int64, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	err := db.Bodies(context.Background(), "indicator", 0, last, func(int64, []byte) error { return nil })
	if hub.ErrorCode(err) != hub.EUnavailable {
		t.Errorf("Bodies on a closed store: %v, want %s", err, hub.EUnavailable)
	}
	if _, err := db.ExportRecords(context.Background(), 0, 10, new(hub.RecordPage)); hub.ErrorCode(err) != hub.EUnavailable {
		t.Errorf("ExportRecords on a closed store: %v, want %s", err, hub.EUnavailable)
	}
}

// A database without its backfill mark is damaged: ExportRecords says so rather than read the
// records as if none lacked one.
func TestExportRecordsWithoutMark(t *testing.T) {
	db, path := open(t)
	indicators(t, db, 3)
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`DELETE FROM export_backfill`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExportRecords(context.Background(), 0, 10, new(hub.RecordPage)); hub.ErrorCode(err) != hub.EIntegrity {
		t.Errorf("ExportRecords without a backfill mark: %v, want %s", err, hub.EIntegrity)
	}
}
