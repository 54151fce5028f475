package review_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"cshub/internal/gather"
	"cshub/internal/gather/review"
	"cshub/internal/hubtest"
)

func TestPreviewThenSaveAccepted(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			h := hubtest.New(t, backend)
			srv := h.Serve(t, nil, review.Routes{Gather: gather.New(h.KB, nil), Dir: h.Store})
			key := h.Keys["cert-fr"]
			text := "Fancy Bear phished staff from login-ministry[.]example and checked 8.8.8.8; Seedworm hit Pakistan under A/RES/73/266."
			body, _ := json.Marshal(map[string]any{"text": text})

			status, out := srv.Do(t, key, "POST", "/api/v1/workspaces/community/preview", body)
			if status != 200 {
				t.Fatalf("preview: %d %s", status, out)
			}
			var p gather.Preview
			if err := json.Unmarshal(out, &p); err != nil {
				t.Fatal(err)
			}
			byName := map[string]gather.Candidate{}
			for _, c := range p.Entities {
				byName[c.Name] = c
			}
			if c := byName["APT28"]; c.Ref != "intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c" || c.Text != "Fancy Bear" {
				t.Errorf("Fancy Bear resolved to %+v, want APT28's intrusion set", c)
			}
			if c := byName["8.8.8.8"]; len(c.Warninglists) == 0 {
				t.Errorf("8.8.8.8 not flagged as on a warninglist: %+v", c)
			}
			// Nothing is saved by a preview.
			if status, _ := srv.Do(t, key, "GET", "/api/v1/objects/"+p.ReportID, nil); status != 404 {
				t.Errorf("report after preview: %d, want 404", status)
			}

			accept := []string{byName["APT28"].ID, byName["login-ministry.example"].ID, byName["Pakistan"].ID}
			for _, tc := range []struct {
				name, ws string
				body     map[string]any
				status   int
				field    string
			}{
				{"accept missing", "community", map[string]any{"text": text}, 400, "accept"},
				{"unknown entity", "community", map[string]any{"text": text, "accept": []string{"entity--ffffffffffffffffffffffff"}}, 400, "accept"},
				{"not a member", "cert-xx", map[string]any{"text": text, "accept": accept}, 400, "workspace"},
				{"bad tlp", "community", map[string]any{"text": text, "accept": accept, "tlp": "purple"}, 400, "tlp"},
				{"empty text", "community", map[string]any{"text": "  ", "accept": accept}, 400, "text"},
			} {
				b, _ := json.Marshal(tc.body)
				status, out := srv.Do(t, key, "POST", "/api/v1/workspaces/"+tc.ws+"/reports", b)
				var e struct{ Error struct{ Field string } }
				json.Unmarshal(out, &e)
				if status != tc.status || e.Error.Field != tc.field {
					t.Errorf("%s: %d field %q, want %d %q: %s", tc.name, status, e.Error.Field, tc.status, tc.field, out)
				}
			}
			// An uploaded file: the raw body, the title in the query.
			up, _ := http.NewRequest("POST", srv.URL+"/api/v1/workspaces/community/preview?title=Upload", strings.NewReader(text))
			up.Header.Set("Authorization", "Bearer "+key)
			up.Header.Set("Content-Type", "text/plain; charset=utf-8")
			resp, err := srv.Client().Do(up)
			if err != nil {
				t.Fatal(err)
			}
			var upv gather.Preview
			json.NewDecoder(resp.Body).Decode(&upv)
			resp.Body.Close()
			if resp.StatusCode != 200 || upv.Title != "Upload" || upv.ReportID != p.ReportID || len(upv.Entities) != len(p.Entities) {
				t.Errorf("uploaded preview: %d %+v", resp.StatusCode, upv)
			}
			if status, _ := srv.Do(t, h.Keys["cert-fr:read"], "POST", "/api/v1/workspaces/community/preview", body); status != 403 {
				t.Errorf("preview with a read key: %d, want 403", status)
			}

			b, _ := json.Marshal(map[string]any{"text": text, "title": "Reviewed", "accept": accept, "tlp": "green"})
			status, out = srv.Do(t, key, "POST", "/api/v1/workspaces/community/reports", b)
			if status != 200 {
				t.Fatalf("save: %d %s", status, out)
			}
			status, out = srv.Do(t, h.Keys["cert-be"], "GET", "/api/v1/objects/"+p.ReportID, nil)
			if status != 200 {
				t.Fatalf("saved report as cert-be: %d %s", status, out)
			}
			var rep struct {
				Name       string   `json:"name"`
				ObjectRefs []string `json:"object_refs"`
				ExtRefs    []struct {
					ExternalID string `json:"external_id"`
				} `json:"external_references"`
			}
			json.Unmarshal(out, &rep)
			want := []string{byName["APT28"].Ref, byName["login-ministry.example"].Ref, byName["Pakistan"].Ref}
			slices.Sort(want)
			slices.Sort(rep.ObjectRefs)
			if !slices.Equal(rep.ObjectRefs, want) || rep.Name != "Reviewed" {
				t.Errorf("saved report %q links %v, want exactly the accepted %v", rep.Name, rep.ObjectRefs, want)
			}
			if len(rep.ExtRefs) != 0 {
				t.Errorf("dropped UN symbol still cited: %+v", rep.ExtRefs)
			}
		})
	}
}
