package export_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"cshub/internal/access"
	"cshub/internal/export"
	"cshub/internal/export/record"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/stix"
	"cshub/internal/warninglist"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// now is the Time every test export is made at, so that validity and serials are fixed.
var now = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// scenarioHub is a test hub holding testdata's indicators (by cert-fr in community), a RED
// finding for cert-be, and sightings by cert-be (a false positive) and cert-uk.
func scenarioHub(t testing.TB, backend string) *hubtest.Hub {
	t.Helper()
	h := hubtest.New(t, backend)
	h.Ingest(t, "cert-fr", hubtest.Community, readFile(t, "indicators.json"))
	h.Ingest(t, "cert-fr", hubtest.Community, readFile(t, "red.json"), "cert-be")
	h.Ingest(t, "cert-be", hubtest.Community, readFile(t, "sightings-be.json"))
	h.Ingest(t, "cert-uk", hubtest.Community, readFile(t, "sightings-uk.json"))
	return h
}

// exportAs returns what org exports with sel, from a freshly synced catalog that, with bodies,
// keeps those of org's view, as `cshub export` does.
func exportAs(t testing.TB, h *hubtest.Hub, org string, sel export.Selection, bodies bool) ([]*export.Indicator, export.Point) {
	t.Helper()
	ctx := context.Background()
	v, err := access.ViewerFor(ctx, h.Store, org, access.PathExport)
	if err != nil {
		t.Fatal(err)
	}
	view := &export.View{Viewer: v, Path: access.PathExport, Selection: sel}
	c := export.Config{KB: h.KB, Warninglists: warninglist.Default(), KeepBodies: bodies, Now: func() time.Time { return now }}
	if bodies {
		c.BodiesFor = view
	}
	cat := export.NewCatalog(c)
	p, err := cat.Sync(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cat.Select(view, p), p
}

func render(t testing.TB, format string, inds []*export.Indicator) []byte {
	t.Helper()
	f, err := export.LookupFormat(format)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := f.Write(&buf, inds, export.Meta{Org: "cert-uk", Time: now}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

// TestSelection checks which indicators cert-uk exports from the scenario, and why the others
// are left out, on every backend.
func TestSelection(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			h := scenarioHub(t, backend)
			for _, tc := range []struct {
				name string
				org  string
				sel  export.Selection
				want []string // indicator numbers, most relevant first
			}{
				// 1 (3 sightings) first, then 5 (1), then by confidence and recency; 10 (not
				// enforceable alone), 11 (revoked), 12 (expired), 13 (warninglisted), 14 (false
				// positive), 15 (strict, not the author), 16 (not valid yet) and 19 (RED for
				// cert-be) are left out.
				{"default", "cert-uk", export.Selection{}, []string{"01", "05", "07", "06", "09", "02", "08", "03", "04", "17", "18"}},
				{"author sees strict", "cert-fr", export.Selection{Types: []string{"ipv4-addr"}}, []string{"01", "19", "02", "15", "18"}},
				{"types", "cert-uk", export.Selection{Types: []string{"url", "file"}}, []string{"07", "06", "09"}},
				{"tlp", "cert-uk", export.Selection{TLP: []hub.TLP{hub.TLPAmber}}, []string{"05", "03", "04"}},
				{"confidence", "cert-uk", export.Selection{MinConfidence: 60}, []string{"01", "05", "07", "06", "09", "02"}},
				{"sightings", "cert-uk", export.Selection{MinSightings: 1}, []string{"01", "05"}},
				{"false positives kept", "cert-uk", export.Selection{FalsePositives: true, Types: []string{"domain-name"}}, []string{"05", "14", "17", "18"}},
				{"warninglisted kept", "cert-uk", export.Selection{Warninglisted: true, Types: []string{"ipv4-addr"}}, []string{"01", "02", "13", "18"}},
				{"limit", "cert-uk", export.Selection{Limit: 3}, []string{"01", "05", "07"}},
				{"workspace", "cert-uk", export.Selection{Workspaces: []string{"elsewhere"}}, nil},
				{"max age", "cert-uk", export.Selection{MaxAge: export.Age(24 * time.Hour)}, nil},
			} {
				t.Run(tc.name, func(t *testing.T) {
					inds, _ := exportAs(t, h, tc.org, tc.sel, false)
					var got []string
					for _, ind := range inds {
						got = append(got, ind.ID[len(ind.ID)-2:])
					}
					if !slices.Equal(got, tc.want) {
						t.Errorf("got %v, want %v", got, tc.want)
					}
				})
			}
		})
	}
}

// TestGolden writes every format for every value type, and for all of them together, as
// cert-uk sees the scenario, and compares with the golden files.
func TestGolden(t *testing.T) {
	h := scenarioHub(t, "sqlite")
	for _, format := range export.Formats() {
		for _, typ := range append([]string{"all"}, export.ValueTypes()...) {
			t.Run(format+"/"+typ, func(t *testing.T) {
				var sel export.Selection
				if typ != "all" {
					sel.Types = []string{typ}
				}
				inds, _ := exportAs(t, h, "cert-uk", sel, true)
				golden(t, filepath.Join(format, typ), render(t, format, inds))
			})
		}
	}
}

// TestRealTools runs the files through the tools that will load them, when they are installed
// (apt-get install bind9-utils nftables): named-checkzone for RPZ, nft -c for nftables.
func TestRealTools(t *testing.T) {
	h := scenarioHub(t, "sqlite")
	inds, _ := exportAs(t, h, "cert-uk", export.Selection{}, false)
	dir := t.TempDir()
	for _, tc := range []struct {
		format, tool string
		args         func(file string) []string
	}{
		{"rpz", "named-checkzone", func(f string) []string { return []string{"-q", "rpz.cshub.", f} }},
		{"nftables", "nft", func(f string) []string { return []string{"-c", "-f", f} }},
	} {
		t.Run(tc.format, func(t *testing.T) {
			path, err := exec.LookPath(tc.tool)
			if err != nil {
				t.Skipf("%s is not installed (apt-get install bind9-utils nftables)", tc.tool)
			}
			file := filepath.Join(dir, tc.format)
			out := render(t, tc.format, inds)
			if err := os.WriteFile(file, out, 0o600); err != nil {
				t.Fatal(err)
			}
			if msg, err := exec.Command(path, tc.args(file)...).CombinedOutput(); err != nil {
				if tc.tool == "nft" && strings.Contains(string(msg), "Operation not permitted") {
					t.Skipf("nft -c needs CAP_NET_ADMIN here: %s", msg)
				}
				t.Fatalf("%s rejects the export: %v\n%s\n%s", tc.tool, err, msg, out)
			}
		})
	}
}

// TestSTIXBundle: a STIX export of more indicators than one chunk holds is a bundle the hub's
// own reader takes back whole, objects in order; its id, written after them, is the same for
// the same objects, on one core or several, and another for other objects or another order.
func TestSTIXBundle(t *testing.T) {
	inds := make([]*export.Indicator, 1000)
	for i := range inds {
		id := fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", i)
		inds[i] = &export.Indicator{Record: &record.Record{Object: record.Object{ID: id, Workspace: "a"}},
			Body: fmt.Appendf(nil, `{"type":"indicator","spec_version":"2.1","id":%q,"created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z",`+
				`"pattern":"[ipv4-addr:value = '10.0.%d.%d']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}`, id, i/256, i%256)}
	}
	read := func(b []byte) (id string, objs []string) {
		t.Helper()
		br := stix.NewBundleReader(bytes.NewReader(b))
		for {
			o, err := br.Next()
			if err == io.EOF {
				return br.ID(), objs
			}
			if err != nil {
				t.Fatalf("not a bundle the hub reads: %v", err)
			}
			objs = append(objs, string(o))
		}
	}
	out := render(t, "stix", inds)
	id, objs := read(out)
	if !strings.HasPrefix(id, "bundle--") || len(objs) != len(inds) {
		t.Fatalf("bundle %q of %d objects; want a bundle id and %d objects", id, len(objs), len(inds))
	}
	for i, o := range objs {
		if o != string(inds[i].Body) {
			t.Fatalf("object %d is %s; want %s", i, o, inds[i].Body)
		}
	}
	if again := render(t, "stix", inds); !bytes.Equal(again, out) {
		t.Error("the same indicators gave another file")
	}
	prev := runtime.GOMAXPROCS(1)
	one := render(t, "stix", inds)
	runtime.GOMAXPROCS(prev)
	if !bytes.Equal(one, out) {
		t.Error("one core wrote another file than several")
	}
	swapped := slices.Clone(inds)
	swapped[0], swapped[999] = swapped[999], swapped[0]
	changed := slices.Clone(inds)
	changed[500] = &export.Indicator{Record: inds[500].Record, Body: bytes.Replace(inds[500].Body, []byte("2026-01-01T00:00:00Z"), []byte("2026-01-02T00:00:00Z"), 1)}
	for name, other := range map[string][]*export.Indicator{"another order": swapped, "another version": changed, "fewer objects": inds[:999]} {
		if oid, _ := read(render(t, "stix", other)); oid == id {
			t.Errorf("%s kept the bundle id %s", name, id)
		}
	}
}
