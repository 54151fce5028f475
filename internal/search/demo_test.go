package search

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cshub/internal/demo"
	"cshub/internal/hub"
	"cshub/internal/stix"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// demoObjects reads the ATT&CK bundle and the seed scenario as the demo stores them: all in
// the community workspace, ATT&CK by the hub operator, the seed scenario by cert-fr.
func demoObjects(t testing.TB) []*hub.Object {
	t.Helper()
	var objs []*hub.Object
	seq := int64(0)
	read := func(r io.Reader, author string) {
		br := stix.NewBundleReader(r)
		for {
			raw, err := br.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var m struct {
				ID       string    `json:"id"`
				Type     string    `json:"type"`
				Modified time.Time `json:"modified"`
				Markings []string  `json:"object_marking_refs"`
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			tlp := stix.TLPOf(m.Markings)
			if tlp == hub.TLPUnset {
				tlp = hub.TLPAmber
			}
			seq++
			objs = append(objs, &hub.Object{Seq: seq, ID: m.ID, Type: m.Type, Modified: m.Modified,
				Workspace: "community", Author: author, TLP: tlp, Body: raw})
		}
	}
	rc, err := demo.AttackBundle()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	read(rc, demo.Operator)
	read(bytes.NewReader(demo.SeedBundle()), "cert-fr")
	return objs
}

// loadDemo indexes the demo data once for all tests of the package.
var loadDemo = struct {
	once sync.Once
	x    *Index
	objs []*hub.Object
}{}

func demoIdx(t *testing.T) *Index {
	t.Helper()
	loadDemo.once.Do(func() {
		loadDemo.objs = demoObjects(t)
		x := New()
		for _, o := range loadDemo.objs {
			if err := x.Add(o); err != nil {
				t.Fatalf("Add(%s): %v", o.ID, err)
			}
		}
		loadDemo.x = x
	})
	if loadDemo.x == nil {
		t.Fatal("demo index failed to load")
	}
	return loadDemo.x
}

// demoViewer reads the community workspace as cert-fr.
var demoViewer = hub.Viewer{Org: "cert-fr", Workspaces: []string{"community"}}

// name returns the name of the indexed object of a hit, for readable failures and goldens.
func (x *Index) name(h Hit) string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := x.byKey[docKey(h.Workspace, h.ID)]
	name, _, _ := strings.Cut(x.texts[n], sepField)
	return name
}

func TestDemoQueries(t *testing.T) {
	x := demoIdx(t)
	ctx := context.Background()
	for _, tc := range []struct {
		q        string
		firstID  string // the first hit's id, if given
		wantIDs  []string
		minTotal int
		maxTotal int // 0: no bound
		none     bool
	}{
		{q: "Fancy Bear", firstID: "intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c", minTotal: 3},
		{q: `"fancy bear"`, firstID: "intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c", minTotal: 3},
		{q: "Seedworm", firstID: "intrusion-set--269e8108-68c6-4f99-b911-14b2e765dec2", minTotal: 3},
		{q: "lazagne", firstID: "tool--b76b2d94-60e4-4107-a903-4a3a7622fb3b", minTotal: 10},
		{q: "lazag*", firstID: "tool--b76b2d94-60e4-4107-a903-4a3a7622fb3b", minTotal: 10},
		{q: "LAZAGNE", firstID: "tool--b76b2d94-60e4-4107-a903-4a3a7622fb3b", minTotal: 10},
		{q: "G0007", firstID: "intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c", minTotal: 1},
		{q: "type:report lazagne", maxTotal: 5},
		{q: "type:report seedworm", minTotal: 1, maxTotal: 2},
		{q: "senate.group", minTotal: 1},
		{q: "adfs-senate.services", minTotal: 1},
		{q: "senate", minTotal: 3},
		{q: "198.51.100.0/24", minTotal: 1},
		{q: "type:indicator tlp:amber author:cert-fr", minTotal: 1, maxTotal: 1},
		{q: "type:indicator author:cert-fr", minTotal: 7, maxTotal: 7},
		{q: "type:intrusion-set author:cert-fr", none: true},
		{q: "phase:credential-access type:attack-pattern", minTotal: 20},
		{q: "phase:credential-access lazagne", minTotal: 0},
		{q: `"credential dumping" -lazagne`, minTotal: 1},
		{q: "mimikatz type:tool", firstID: "tool--afc079f3-c0ea-4096-b75d-3f05338b7f60", minTotal: 1},
		{q: "after:2025-01-01 type:report", minTotal: 0},
		{q: "before:2000-01-01", none: true},
		{q: "workspace:private-nowhere", none: true},
		{q: "zzzqqqxxx", none: true},
	} {
		t.Run(tc.q, func(t *testing.T) {
			res, err := x.Search(ctx, demoViewer, tc.q, 10, "")
			if err != nil {
				t.Fatalf("Search(%q): %v", tc.q, err)
			}
			if tc.firstID != "" && (len(res.Hits) == 0 || res.Hits[0].ID != tc.firstID) {
				var got []string
				for _, h := range res.Hits {
					got = append(got, fmt.Sprintf("%s (%s %.2f)", x.name(h), h.ID, h.Score))
				}
				t.Errorf("Search(%q) hits %v, want %s first", tc.q, got, tc.firstID)
			}
			if res.Total < tc.minTotal || (tc.maxTotal > 0 && res.Total > tc.maxTotal) || (tc.none && res.Total > 0) {
				t.Errorf("Search(%q).Total = %d, want in [%d, %d]", tc.q, res.Total, tc.minTotal, tc.maxTotal)
			}
			if len(res.Hits) > 10 || (res.Total >= 10 && len(res.Hits) != 10) {
				t.Errorf("Search(%q): %d hits of %d, want a full page", tc.q, len(res.Hits), res.Total)
			}
		})
	}
}

// goldenQueries are the analyst's queries whose first results over the demo data are kept in
// testdata/demo-queries.golden; run go test -run TestDemoGolden -update after a deliberate
// change of ranking and read the diff.
var goldenQueries = []string{
	"Fancy Bear",
	"Seedworm",
	"MuddyWater",
	"lazagne",
	"type:report lazagne",
	"type:report seedworm",
	`"credential dumping"`,
	"lazag*",
	"mimi*",
	"senate.group",
	"adfs-senate*",
	"198.51.100.0/24",
	"phishing type:indicator",
	"type:campaign after:2018-01-01",
	"phase:exfiltration type:attack-pattern cloud",
	"tlp:amber",
	"G0069",
	"T1003.001",
	"STRONTIUM",
	"brute force Finland",
}

func TestDemoGolden(t *testing.T) {
	x := demoIdx(t)
	var b strings.Builder
	for _, q := range goldenQueries {
		res, err := x.Search(context.Background(), demoViewer, q, 5, "")
		if err != nil {
			t.Fatalf("Search(%q): %v", q, err)
		}
		fmt.Fprintf(&b, "## %s  (total %d)\n", q, res.Total)
		for _, h := range res.Hits {
			hl := ""
			if len(h.Highlights) > 0 {
				hl = h.Highlights[0]
			}
			fmt.Fprintf(&b, "%s | %s | %s\n", h.ID, x.name(h), hl)
		}
		b.WriteString("\n")
	}
	path := filepath.Join("testdata", "demo-queries.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("results differ from %s (run with -update and read the diff):\n%s", path, got)
	}
}
