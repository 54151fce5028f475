package export_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"cshub/internal/access"
	"cshub/internal/export"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
)

// coldCases are the organisations and selections TestColdPath compares the two paths on.
var coldCases = []struct {
	org string
	sel export.Selection
}{
	{"cert-uk", export.Selection{}},
	{"cert-fr", export.Selection{}},
	{"cert-be", export.Selection{FalsePositives: true, Warninglisted: true}},
	{"cert-uk", export.Selection{MinSightings: 1, Types: []string{"ipv4-addr", "domain-name"}}},
	{"cert-fr", export.Selection{MinConfidence: 60, Limit: 4}},
}

// TestColdPath: an export reads the export records written at ingest, and the bodies beside
// them when its format needs them; it exports exactly what it exports once the records are
// read from the objects themselves (record.Of, as for versions stored without their record:
// before records existed, or restored from a backup), in every format, for every
// organisation and selection of coldCases, on every backend. The bodies it exports are the
// stored objects', and without bodies to keep a catalog exports the same.
func TestColdPath(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			h := scenarioHub(t, backend)
			ctx := context.Background()
			// exports renders what each case exports in every format, checking the bodies
			// against the stored objects and the export without bodies against the one with.
			exports := func(t *testing.T) [][]byte {
				t.Helper()
				var out [][]byte
				for _, tc := range coldCases {
					full, _ := exportAs(t, h, tc.org, tc.sel, true)
					cold, _ := exportAs(t, h, tc.org, tc.sel, false)
					if len(full) == 0 {
						t.Fatalf("%s %+v: nothing exported", tc.org, tc.sel)
					}
					for _, ind := range full {
						o, err := h.KB.Get(ctx, hub.Viewer{System: true}, ind.ID, ind.Modified)
						if err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(ind.Body, o.Body) {
							t.Errorf("%s %s: exported body\n%s\nstored\n%s", ind.ID, ind.Modified, ind.Body, o.Body)
						}
					}
					for _, name := range export.Formats() {
						out = append(out, render(t, name, full))
						if f, _ := export.LookupFormat(name); f.Bodies {
							continue
						}
						if a, b := render(t, name, full), render(t, name, cold); !bytes.Equal(a, b) {
							t.Errorf("%s %+v %s: without bodies\n%s\nwith bodies\n%s", tc.org, tc.sel, name, b, a)
						}
					}
				}
				return out
			}
			fromIngest := exports(t)
			bare := storeBare(t, h.Store)
			var page hub.RecordPage
			missing, err := h.Store.ExportRecords(ctx, 0, 0, &page)
			if recs := page.Records(); err != nil || len(recs) != 0 || missing < bare {
				t.Fatalf("stored bare: %d records, missing up to %d, %v; want none, up to %d", len(recs), missing, err, bare)
			}
			fromObjects := exports(t)
			for i := range fromIngest {
				if !bytes.Equal(fromIngest[i], fromObjects[i]) {
					t.Errorf("export %d: from the records of the objects\n%s\nfrom those of ingest\n%s", i, fromObjects[i], fromIngest[i])
				}
			}
			missing, err = h.Store.ExportRecords(ctx, 0, 0, &page)
			if recs := page.Records(); err != nil || len(recs) == 0 || missing != 0 {
				t.Fatalf("after exporting: %d records, missing up to %d, %v; want them filled in", len(recs), missing, err)
			}
		})
	}
}

// storeBare stores every indicator and sighting version of st again without its export
// record, in place of the stored one, and returns the highest Seq it stored.
func storeBare(t *testing.T, st hub.Store) int64 {
	t.Helper()
	ctx := context.Background()
	objs, err := st.ListObjects(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, Types: hub.ExportedTypes(), AllVersions: true, Limit: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	seqs := make([]int64, len(objs))
	for i, o := range objs {
		seqs[i] = o.Seq
	}
	if _, err := st.DeleteObjects(ctx, seqs); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutObjects(ctx, objs, hub.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	return objs[len(objs)-1].Seq
}

// TestSyncReadsEveryPage: a catalog takes in every stored version, with or without bodies,
// also when the store holds several pages of export records (10,000 a page), and reads the
// same both ways; with bodies, every indicator comes with its own.
func TestSyncReadsEveryPage(t *testing.T) {
	const n = 20_250 // two pages of records and part of one more
	var b strings.Builder
	b.WriteString(`{"type":"bundle","id":"bundle--00000000-0000-4000-8000-0000000000aa","objects":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-9000-%012d",`+
			`"created":"2026-01-01T10:00:00.000Z","modified":"2026-01-01T10:00:00.000Z","pattern":"[ipv4-addr:value = '10.%d.%d.%d']",`+
			`"pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z","object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}`,
			i, i>>16, (i>>8)&255, i&255)
	}
	b.WriteString(`]}`)
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			h := hubtest.New(t, backend)
			h.Ingest(t, "cert-fr", hubtest.Community, []byte(b.String()))
			var csv [2][]byte
			for i, bodies := range []bool{true, false} {
				got, _ := exportAs(t, h, "cert-fr", export.Selection{}, bodies)
				if len(got) != n {
					t.Errorf("bodies %v: exported %d indicators, want all %d", bodies, len(got), n)
				}
				csv[i] = render(t, "csv", got)
				// Pages of records and of bodies are opened on every core, each core's
				// share into a buffer of its own: every record and every body must come out
				// as its own version's.
				for _, ind := range got {
					var body struct{ ID string }
					if err := json.Unmarshal(ind.Body, &body); bodies && (err != nil || body.ID != ind.ID) {
						t.Fatalf("%s: body of %q (%v)", ind.ID, body.ID, err)
					}
				}
			}
			if !bytes.Equal(csv[0], csv[1]) {
				t.Errorf("with and without bodies, the csv exports differ")
			}
		})
	}
}

// TestBodiesFor: a catalog that keeps the bodies for one view opens only those of the versions
// that view takes away. Selected for another viewer, the indicators only it takes come without
// a body, which a format that needs one refuses rather than write them without.
func TestBodiesFor(t *testing.T) {
	h := scenarioHub(t, hubtest.Backends()[0])
	ctx := context.Background()
	view := func(org string) *export.View {
		v, err := access.ViewerFor(ctx, h.Store, org, access.PathExport)
		if err != nil {
			t.Fatal(err)
		}
		return &export.View{Viewer: v, Path: access.PathExport}
	}
	cat := export.NewCatalog(export.Config{KB: h.KB, KeepBodies: true, BodiesFor: view("cert-uk"), Now: func() time.Time { return now }})
	p, err := cat.Sync(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	uk := map[string]bool{}
	for _, ind := range cat.Select(view("cert-uk"), p) {
		uk[ind.Key()] = true
		if ind.Body == nil {
			t.Errorf("%s: exported to cert-uk without its body", ind.Key())
		}
	}
	fr, without := cat.Select(view("cert-fr"), p), 0
	for _, ind := range fr {
		if (ind.Body == nil) != !uk[ind.Key()] {
			t.Errorf("%s: body kept %v; want it kept only for what cert-uk exports (%v)", ind.Key(), ind.Body != nil, uk[ind.Key()])
		}
		if ind.Body == nil {
			without++
		}
	}
	if without == 0 {
		t.Fatal("cert-fr exports nothing that cert-uk does not: the test shows nothing")
	}
	f, _ := export.LookupFormat("stix")
	if err := f.Write(io.Discard, fr, export.Meta{Org: "cert-fr", Time: now}); hub.ErrorCode(err) != hub.EInternal {
		t.Errorf("stix export of indicators without their bodies: %v; want an internal error", err)
	}
}

// TestSyncCancelled: a Sync whose context is cancelled fails rather than report a catalog it
// did not finish loading as current, and the next Sync loads it whole.
func TestSyncCancelled(t *testing.T) {
	h := scenarioHub(t, hubtest.Backends()[0])
	for _, bodies := range []bool{false, true} {
		cat := export.NewCatalog(export.Config{KB: h.KB, KeepBodies: bodies, Now: func() time.Time { return now }})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := cat.Sync(ctx, nil); err == nil {
			t.Errorf("bodies %v: Sync with a cancelled context: no error", bodies)
		}
		p, err := cat.Sync(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		v, err := access.ViewerFor(context.Background(), h.Store, "cert-fr", access.PathExport)
		if err != nil {
			t.Fatal(err)
		}
		if got := cat.Select(&export.View{Viewer: v, Path: access.PathExport}, p); len(got) == 0 {
			t.Errorf("bodies %v: after a cancelled Sync, the next loads nothing", bodies)
		}
	}
}
