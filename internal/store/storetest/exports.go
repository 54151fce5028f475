package storetest

import (
	"bytes"
	"context"
	"testing"

	"cshub/internal/hub"
)

// testExportRecords: a version's export record is stored with it, listed in Seq order,
// swapped only where it still holds the expected value, and removed with it; a version that should have one and came without raises the mark, which
// PutExportRecords clears only if nothing raised it further meanwhile.
func testExportRecords(t *testing.T, s hub.Store) {
	ctx := context.Background()
	setup(t, s, []string{"fr"}, []string{"w1", "w2"})
	list := func(after int64) ([]hub.ExportRecord, int64) {
		t.Helper()
		var page hub.RecordPage
		missing, err := s.ExportRecords(ctx, after, 0, &page)
		must(t, err)
		return page.Records(), missing
	}
	if recs, missing := list(0); len(recs) != 0 || missing != 0 {
		t.Fatalf("empty store: %d records, missing up to %d", len(recs), missing)
	}
	with := func(ws, id string) *hub.Object {
		o := obj(ws, id, ms(1), hub.TLPGreen, "fr")
		o.Export = []byte("record of " + id + " in " + ws)
		return o
	}
	ind, sight, other := with("w1", newID("indicator")), with("w2", newID("sighting")), with("w1", newID("malware"))
	put(t, s, ind, other, sight)
	recs, missing := list(0)
	if missing != 0 || len(recs) != 2 {
		t.Fatalf("got %d records (missing up to %d), want those of the indicator and the sighting", len(recs), missing)
	}
	for i, o := range []*hub.Object{ind, sight} {
		if r := recs[i]; r.Seq != o.Seq || r.Workspace != o.Workspace || !bytes.Equal(r.Sealed, o.Export) {
			t.Errorf("record %d = %d %s %q, want %d %s %q", i, r.Seq, r.Workspace, r.Sealed, o.Seq, o.Workspace, o.Export)
		}
	}
	if recs, _ := list(ind.Seq); len(recs) != 1 || recs[0].Seq != sight.Seq {
		t.Errorf("after the indicator: %d records, want the sighting's", len(recs))
	}
	// A page read into again holds what the second read read, and only that.
	var page hub.RecordPage
	_, err := s.ExportRecords(ctx, 0, 0, &page)
	must(t, err)
	_, err = s.ExportRecords(ctx, ind.Seq, 0, &page)
	must(t, err)
	if recs := page.Records(); len(recs) != 1 || recs[0].Seq != sight.Seq || !bytes.Equal(recs[0].Sealed, sight.Export) {
		t.Errorf("a page read into again: %d records, want the sighting's alone", len(recs))
	}

	bare := obj("w1", newID("indicator"), ms(1), hub.TLPGreen, "fr")
	put(t, s, bare)
	if _, missing := list(0); missing != bare.Seq {
		t.Fatalf("missing up to %d, want the bare indicator's seq %d", missing, bare.Seq)
	}
	late := obj("w1", newID("sighting"), ms(1), hub.TLPGreen, "fr")
	put(t, s, late)
	// Filled up to the bare indicator only: the late sighting keeps the mark up.
	must(t, s.PutExportRecords(ctx, []hub.ExportRecord{
		{Seq: bare.Seq, Workspace: "w1", Sealed: []byte("filled")},
		{Seq: ind.Seq, Workspace: "w1", Sealed: []byte("not over the stored one")},
		{Seq: late.Seq + 100, Workspace: "w1", Sealed: []byte("no such version")},
	}, bare.Seq))
	recs, missing = list(0)
	if missing != late.Seq || len(recs) != 3 || !bytes.Equal(recs[0].Sealed, ind.Export) || string(recs[2].Sealed) != "filled" {
		t.Fatalf("after a partial fill: %d records, missing up to %d (want 3, %d)", len(recs), missing, late.Seq)
	}
	must(t, s.PutExportRecords(ctx, []hub.ExportRecord{{Seq: late.Seq, Workspace: "w1", Sealed: []byte("late")}}, late.Seq))
	if recs, missing = list(0); missing != 0 || len(recs) != 4 {
		t.Fatalf("after the fill: %d records, missing up to %d; want 4, 0", len(recs), missing)
	}

	n, err := s.ReplaceExportRecords(ctx, []hub.BodyUpdate{
		{Seq: bare.Seq, Old: []byte("filled"), New: []byte("re-sealed")},
		{Seq: late.Seq, Old: []byte("not what is stored"), New: []byte("lost")},
	})
	if recs, _ = list(0); err != nil || n != 1 || string(recs[2].Sealed) != "re-sealed" || string(recs[3].Sealed) != "late" {
		t.Fatalf("ReplaceExportRecords = %d, %v; want the one whose record still matched replaced", n, err)
	}

	if _, err := s.DeleteObjects(ctx, []int64{ind.Seq, late.Seq}); err != nil {
		t.Fatal(err)
	}
	must(t, s.DeleteWorkspace(ctx, "w2"))
	if recs, _ := list(0); len(recs) != 1 || recs[0].Seq != bare.Seq {
		t.Errorf("after deleting: %d records, want the bare indicator's only", len(recs))
	}
}
