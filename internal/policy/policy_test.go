package policy_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"cshub/internal/extract"
	"cshub/internal/gather"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/kb"
	"cshub/internal/policy"
)

func TestCatalogueIsConsistent(t *testing.T) {
	h := hubtest.New(t, "sqlite")
	docs, err := policy.New(h.KB).Documents(context.Background(), hub.Viewer{System: true}, policy.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	symbols := map[string]bool{}
	for _, d := range docs {
		if d.Symbol == "" || d.Title == "" || d.Kind == "" || d.Status == "" || d.Body == "" {
			t.Errorf("incomplete entry %+v", d)
		}
		if symbols[strings.ToUpper(d.Symbol)] {
			t.Errorf("symbol %s twice", d.Symbol)
		}
		symbols[strings.ToUpper(d.Symbol)] = true
		if !strings.Contains(d.Symbol, "/") && len(d.Names) == 0 {
			t.Errorf("%s has no UN symbol and no names to be cited by", d.Symbol)
		}
	}
	for _, d := range docs {
		for _, r := range d.Related {
			if !symbols[strings.ToUpper(r)] {
				t.Errorf("%s relates to %s, which is not catalogued", d.Symbol, r)
			}
		}
	}
	for _, want := range []string{"A/RES/73/266", "A/RES/73/27", "A/C.1/73/L.37", "nato:brussels-summit-declaration-2018"} {
		if !symbols[strings.ToUpper(want)] {
			t.Errorf("%s not catalogued", want)
		}
	}
}

func TestTrackerLinksCitingReports(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			h := hubtest.New(t, backend)
			g := gather.New(h.KB, nil)
			sum, err := policy.Seed(ctx, h.KB, g, kb.Submission{Org: "cert-fr", Workspace: hubtest.Community})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Accepted == 0 || len(sum.Rejected) > 0 {
				t.Fatalf("seed: %+v", sum)
			}
			if again, err := policy.Seed(ctx, h.KB, g, kb.Submission{Org: "cert-fr", Workspace: hubtest.Community}); err != nil || again.Accepted != 0 {
				t.Errorf("second seed accepted %+v, %v; want nothing new", again, err)
			}
			// A RED report of cert-be citing an uncatalogued resolution: only cert-be sees it.
			redText := "Our assessment of A/RES/74/247 and A/RES/73/27 for the ministry."
			if _, err := g.IngestReport(ctx, kb.Submission{Org: "cert-be", Workspace: hubtest.Community, DefaultTLP: hub.TLPRed},
				extract.Report{Title: "RED assessment", Text: redText}); err != nil {
				t.Fatal(err)
			}
			redID := extract.ReportID(redText)
			srv := h.Serve(t, nil, policy.Routes{Tracker: policy.New(h.KB), Dir: h.Store})

			get := func(key, path string) (int, policy.Document) {
				status, body := srv.Do(t, key, "GET", path, nil)
				var d policy.Document
				json.Unmarshal(body, &d)
				return status, d
			}
			cited := func(d policy.Document, id string) bool {
				return slices.ContainsFunc(d.Citations, func(c policy.Citation) bool { return c.ID == id })
			}
			for _, path := range []string{"/api/v1/policy/A/RES/73/266", "/api/v1/policy/A%2FRES%2F73%2F266", "/api/v1/policy/a/res/73/266"} {
				status, d := get(h.Keys["cert-uk:read"], path)
				if status != 200 || d.Symbol != "A/RES/73/266" || len(d.Citations) == 0 || d.Status != "adopted" {
					t.Errorf("%s: %d %+v", path, status, d)
				}
			}
			if status, d := get(h.Keys["cert-uk"], "/api/v1/policy/nato:brussels-summit-declaration-2018"); status != 200 || len(d.Citations) == 0 || d.Citations[0].Type != "report" {
				t.Errorf("Brussels Summit Declaration not cited by name: %d %+v", status, d)
			}
			if status, _ := get(h.Keys["cert-uk"], "/api/v1/policy/A/RES/74/247"); status != 404 {
				t.Errorf("a symbol cited only in a RED report of another member: %d, want 404", status)
			}
			status, d := get(h.Keys["cert-be"], "/api/v1/policy/A/RES/74/247")
			if status != 200 || d.Kind != "resolution" || d.Status != "unknown" || !cited(d, redID) {
				t.Errorf("author's view of an uncatalogued symbol: %d %+v", status, d)
			}
			if _, d := get(h.Keys["cert-fr"], "/api/v1/policy/A/RES/73/27"); cited(d, redID) || len(d.Citations) == 0 {
				t.Errorf("cert-fr sees citations %+v of A/RES/73/27; want the seed's, not cert-be's RED report", d.Citations)
			}
			if status, _ := get(h.Keys["cert-fr"], "/api/v1/policy/A/RES/99/999"); status != 404 {
				t.Errorf("unknown symbol: %d, want 404", status)
			}
			if status, _ := get("", "/api/v1/policy"); status != 401 {
				t.Errorf("without a key: %d, want 401", status)
			}

			status, body := srv.Do(t, h.Keys["cert-fr"], "GET", "/api/v1/policy?actor=nato", nil)
			var list struct{ Documents []policy.Document }
			json.Unmarshal(body, &list)
			if status != 200 || len(list.Documents) == 0 {
				t.Fatalf("actor=nato: %d %s", status, body)
			}
			for _, d := range list.Documents {
				if !slices.Contains(d.Actors, "NATO") {
					t.Errorf("actor=nato lists %s with actors %v", d.Symbol, d.Actors)
				}
			}
		})
	}
}
