package collab_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cshub/internal/collab"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// claims is a small attribution scenario: an intrusion set attributed to a threat actor, and a
// report, all TLP:GREEN by cert-fr; and a TLP:RED attribution addressed to cert-be only.
func claims() []map[string]any {
	common := func(typ, id string) map[string]any {
		return map[string]any{"type": typ, "spec_version": "2.1", "id": id, "created": "2026-01-01T00:00:00.000Z",
			"modified": "2026-01-01T00:00:00.000Z", "object_marking_refs": []string{markings[hub.TLPGreen]}}
	}
	set := common("intrusion-set", "intrusion-set--00000000-0000-4000-8000-000000000001")
	set["name"] = "Phishing cluster 7"
	actor := common("threat-actor", "threat-actor--00000000-0000-4000-8000-000000000002")
	actor["name"] = "Example Bear"
	rel := common("relationship", "relationship--00000000-0000-4000-8000-000000000003")
	rel["relationship_type"], rel["source_ref"], rel["target_ref"] = "attributed-to", set["id"], actor["id"]
	report := common("report", "report--00000000-0000-4000-8000-000000000004")
	report["name"], report["published"], report["object_refs"] = "Cluster 7 is Example Bear", "2026-01-01T00:00:00Z", []string{rel["id"].(string)}
	return []map[string]any{set, actor, rel, report}
}

func TestAttribution(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			h := hubtest.New(t, backend)
			now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			s := collab.New(collab.Config{KB: h.KB, Dir: h.Store, Now: func() time.Time { now = now.Add(time.Minute); return now }})
			f := &fixture{h: h, s: s, srv: h.Serve(t, nil, collab.Routes{S: s})}
			objs := claims()
			f.ingest(t, "cert-fr", hubtest.Community, nil, objs...)
			red := claims()[2]
			red["id"], red["object_marking_refs"] = "relationship--00000000-0000-4000-8000-000000000005", []string{markings[hub.TLPRed]}
			f.ingest(t, "cert-fr", hubtest.Community, []string{"cert-be"}, red)
			rel, report := objs[2]["id"].(string), objs[3]["id"].(string)

			for _, op := range []struct {
				org string
				in  map[string]any
			}{
				{"cert-fr", map[string]any{"object_ref": rel, "opinion": "agree", "confidence": 85, "explanation": "Same registrar and TLS habits."}},
				{"cert-uk", map[string]any{"object_ref": rel, "opinion": "strongly-agree", "confidence": 40}},
				// cert-uk revises: one opinion per organisation and claim, its latest version.
				{"cert-uk", map[string]any{"object_ref": rel, "opinion": "agree", "confidence": 60}},
				{"cert-be", map[string]any{"object_ref": rel, "opinion": "neutral"}},
				{"cert-be", map[string]any{"object_ref": report, "opinion": "disagree", "confidence": 55, "explanation": "Tooling is shared."}},
				{"cert-be", map[string]any{"object_ref": red["id"], "opinion": "agree", "confidence": 90}},
			} {
				f.call(t, op.org, "POST", "/api/v1/opinions", op.in, http.StatusCreated, nil)
			}

			// cert-uk sees every claim it may see with every organisation's assessment, and
			// nothing of the RED claim or cert-be's opinion on it.
			status, got := f.srv.Do(t, h.Keys["cert-uk"], "GET", "/api/v1/attribution", nil)
			if status != http.StatusOK {
				t.Fatalf("attribution: %d %s", status, got)
			}
			golden(t, "attribution.golden.json", got)

			var view []*collab.Claim
			f.call(t, "cert-be", "GET", "/api/v1/attribution?object="+red["id"].(string), nil, http.StatusOK, &view)
			if len(view) != 1 || len(view[0].Opinions) != 1 || view[0].Opinions[0].Org != "cert-be" {
				t.Errorf("cert-be's view of the RED claim: %s", mustJSON(view))
			}
			f.call(t, "cert-uk", "GET", "/api/v1/attribution?object="+red["id"].(string), nil, http.StatusNotFound, nil)
			f.call(t, "cert-uk", "POST", "/api/v1/opinions", map[string]any{"object_ref": red["id"], "opinion": "agree"}, http.StatusNotFound, nil)

			for _, tc := range []struct {
				in    map[string]any
				field string
			}{
				{map[string]any{"object_ref": rel, "opinion": "maybe"}, "opinion"},
				{map[string]any{"object_ref": rel, "opinion": "agree", "confidence": 101}, "confidence"},
				{map[string]any{"object_ref": "", "opinion": "agree"}, "object_ref"},
				{map[string]any{"object_ref": rel, "opinion": "agree", "tlp": "blue"}, "tlp"},
			} {
				var e apiError
				f.call(t, "cert-uk", "POST", "/api/v1/opinions", tc.in, http.StatusBadRequest, &e)
				if e.Error.Field != tc.field {
					t.Errorf("%v: field %q, want %q", tc.in, e.Error.Field, tc.field)
				}
			}

			// Only one opinion object per organisation and claim exists, with two versions for
			// cert-uk's.
			objs2, err := h.KB.List(context.Background(), hub.Filter{Viewer: hub.Viewer{System: true}, Types: []string{"opinion"}, AllVersions: true})
			if err != nil {
				t.Fatal(err)
			}
			var ukVersions int
			for _, o := range objs2 {
				if o.Author == "cert-uk" {
					ukVersions++
				}
			}
			if len(objs2) != 6 || ukVersions != 2 {
				t.Errorf("%d opinion versions stored, %d of cert-uk; want 6 and 2", len(objs2), ukVersions)
			}
		})
	}
}

// golden compares got, indented, with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s differs (go test -update rewrites it):\n%s", path, buf.Bytes())
	}
}
