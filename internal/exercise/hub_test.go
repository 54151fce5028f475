package exercise

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"cshub/internal/access"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/lookup"
	"cshub/internal/search"
	"cshub/internal/taxii"
)

// TestCEXFRunsOnHub imports a CEXF exercise and plays it: its data_filtering evaluation scores
// on the MISP view of what the team stored, its query_search evaluation through the hub's
// search, and its query_mirror evaluation is left to the white team.
func TestCEXFRunsOnHub(t *testing.T) {
	data, err := os.ReadFile("testdata/cexf-hub-checks.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t, backend)
			sc, err := ParseCEXF(data)
			if err != nil {
				t.Fatal(err)
			}
			sc.Director, sc.Teams = director, []Team{{ID: "fr", Org: "cert-fr"}, {ID: "uk", Org: "cert-uk"}}
			if err := w.svc.Import(ctx, sc, Actor{Org: director, User: "director"}); err != nil {
				t.Fatal(err)
			}
			if _, err := w.svc.Apply(ctx, sc.ID, Actor{Org: director, User: "director"}, Control{Action: "start"}); err != nil {
				t.Fatal(err)
			}
			ds, err := w.svc.Injects(ctx, sc.ID, Actor{Org: "cert-fr"}, "")
			if err != nil || len(ds) != 1 || len(ds[0].Files) != 1 || !strings.Contains(string(ds[0].Files[0].Content), "192.0.2.10") {
				t.Fatalf("cert-fr received %+v (%v)", ds, err)
			}
			ws := teamWorkspace(sc.ID, "fr")
			body := `{"type":"bundle","id":"bundle--` + uuid("cexf") + `","objects":[` + strings.Join([]string{
				indicator("c1", "Phishing sender", "[ipv4-addr:value = '192.0.2.10']"),
				indicator("c2", "Phishing link domain", "[domain-name:value = 'evil.example']"),
				sdoJSON("report", "c3", `"name":"Spear-phishing against the CEO","published":"2026-07-16T08:00:00Z","object_refs":["indicator--`+uuid("c1")+`","indicator--`+uuid("c2")+`"]`),
			}, ",") + `]}`
			w.do(t, w.h.Keys["cert-fr"], "POST", "/api/v1/workspaces/"+ws+"/bundles", body, 200)
			// cert-uk stores an event without the sender's address: it must not score.
			w.do(t, w.h.Keys["cert-uk"], "POST", "/api/v1/workspaces/"+teamWorkspace(sc.ID, "uk")+"/bundles",
				`{"type":"bundle","id":"bundle--`+uuid("cexf-uk")+`","objects":[`+sdoJSON("report", "u1", `"name":"Spear-phishing","published":"2026-07-16T08:00:00Z","object_refs":["indicator--`+uuid("u2")+`"]`)+`,`+indicator("u2", "Phishing link", "[domain-name:value = 'evil.example']")+`]}`, 200)
			w.tick(t) // data_filtering scores, which releases the query_search inject, which scores too
			b, err := w.svc.Board(ctx, sc.ID, Actor{Org: director}, true)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, tp := range b.Teams {
				got[tp.Team] = tp.Total
			}
			if got["fr"] != 50 || got["uk"] != 0 || b.Max != 60 {
				t.Errorf("board %v of %d, want fr 50 (30 data_filtering + 20 query_search) of 60, uk 0", got, b.Max)
			}
			tasks, err := w.svc.Tasks(ctx, sc.ID, Actor{Org: "cert-fr"}, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(tasks) != 2 || !tasks[0].Auto || !tasks[1].Auto {
				t.Errorf("cert-fr's tasks: %+v", tasks)
			}
			w.clock.Advance(30 * time.Minute)
			w.tick(t)
			if tasks, _ = w.svc.Tasks(ctx, sc.ID, Actor{Org: "cert-fr"}, ""); len(tasks) != 3 || tasks[2].Auto {
				t.Errorf("at 30m the query_mirror inject should be released with a manual task: %+v", tasks)
			}
		})
	}
}

// TestExerciseDataStaysOffRealPaths proves that what an exercise holds (injects, the teams'
// indicators, the definition and state) never reaches the hub's real search, matching, TAXII
// collections or statistics, while the same kind of real data does.
func TestExerciseDataStaysOffRealPaths(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t, backend)
			w.do(t, w.dir, "POST", "/api/v1/exercises/helsinki-summit/start", "", 200)
			w.post(t, "cert-fr", "blue-fr", indicator("iso1", "Exercisemarker SSH source", "[ipv4-addr:value ISSUBSET '203.0.113.0/25']"))
			// Real data of the same kind, as a control: the paths work, they just never show
			// exercise data.
			w.h.Ingest(t, "cert-uk", hubtest.Community, []byte(`{"type":"bundle","id":"bundle--`+uuid("real")+`","objects":[`+
				indicator("real1", "Realmarker scanner", "[ipv4-addr:value ISSUBSET '192.0.2.0/24']")+`]}`))

			for _, org := range []string{"cert-fr", "cert-uk", director} {
				// Search: the index is built from the whole store, as serve does.
				x, _, err := search.Build(ctx, w.h.KB)
				if err != nil {
					t.Fatal(err)
				}
				v, err := access.ViewerFor(ctx, w.h.Store, org, access.PathSearch)
				if err != nil {
					t.Fatal(err)
				}
				for q, want := range map[string]int{"exercisemarker": 0, "vaalit-kirjautuminen.example": 0, "ChinaNet": 0, "helsinki": 0, "realmarker": 1} {
					res, err := x.Search(ctx, v, q, 10, "")
					if err != nil {
						t.Fatal(err)
					}
					if org == director && q == "realmarker" {
						want = 0 // the operator is not in the community workspace of the test hub
					}
					if res.Total != want {
						t.Errorf("%s searching %q finds %d, want %d", org, q, res.Total, want)
					}
				}

				// Matching.
				l := lookup.New(w.h.KB, nil)
				if _, err := l.Load(ctx); err != nil {
					t.Fatal(err)
				}
				mv, err := access.ViewerFor(ctx, w.h.Store, org, access.PathMatch)
				if err != nil {
					t.Fatal(err)
				}
				res := l.Lookup(mv, []string{"203.0.113.17", "192.0.2.7"})
				if len(res[0].Matches) != 0 {
					t.Errorf("%s matches an exercise indicator: %+v", org, res[0].Matches)
				}
				if org != director && len(res[1].Matches) != 1 {
					t.Errorf("%s does not match the real indicator: %+v", org, res[1].Matches)
				}

				// Statistics: every count an organisation is shown is over real workspaces.
				sv, err := access.ViewerFor(ctx, w.h.Store, org, access.PathStats)
				if err != nil {
					t.Fatal(err)
				}
				for _, ws := range sv.Workspaces {
					if k, _ := w.h.Store.Workspace(ctx, ws); k.Kind == hub.WorkspaceExercise {
						t.Errorf("%s's statistics viewer holds exercise workspace %s", org, ws)
					}
				}
				for _, typ := range []string{TypeExercise, TypeState, TypeBrief, TypeDelivery, "ipv4-addr"} {
					if n, err := w.h.Store.CountObjects(ctx, hub.Filter{Viewer: sv, Types: []string{typ}}); err != nil || n != 0 {
						t.Errorf("%s's statistics count %d objects of type %s (%v)", org, n, typ, err)
					}
				}
				ev, _ := access.ViewerFor(ctx, w.h.Store, org, access.PathExercise)
				if n, _ := w.h.Store.CountObjects(ctx, hub.Filter{Viewer: ev, Types: []string{TypeDelivery}}); n == 0 {
					t.Errorf("%s sees no deliveries on the exercise path: the test proves nothing", org)
				}
			}

			// TAXII: no collection for an exercise workspace, no exercise object in any.
			srv := httptest.NewTLSServer(taxii.New(taxii.Config{KB: w.h.KB, Dir: w.h.Store, Auth: w.h.Auth}))
			defer srv.Close()
			get := func(path string) string {
				req, _ := http.NewRequest("GET", srv.URL+path, nil)
				req.Header.Set("Authorization", "Bearer "+w.h.Keys["cert-fr"])
				req.Header.Set("Accept", taxii.MediaType)
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 {
					t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
				}
				return string(b)
			}
			var cols struct {
				Collections []struct {
					ID    string `json:"id"`
					Title string `json:"title"`
				} `json:"collections"`
			}
			if err := json.Unmarshal([]byte(get(taxii.RootPath+"collections/")), &cols); err != nil || len(cols.Collections) == 0 {
				t.Fatalf("TAXII collections: %+v (%v)", cols, err)
			}
			sawReal := false
			for _, c := range cols.Collections {
				if strings.Contains(c.Title, "exercise") || strings.Contains(c.Title, "Helsinki") {
					t.Errorf("TAXII offers cert-fr the exercise collection %+v", c)
				}
				objs := get(taxii.RootPath + "collections/" + c.ID + "/objects/")
				if strings.Contains(objs, "203.0.113.0/25") || strings.Contains(objs, "x-cshub-") {
					t.Errorf("TAXII collection %s serves exercise objects", c.ID)
				}
				sawReal = sawReal || strings.Contains(objs, "Realmarker")
			}
			if !sawReal {
				t.Error("TAXII does not serve the real indicator: the test proves nothing")
			}
		})
	}
}
