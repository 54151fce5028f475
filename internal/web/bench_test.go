package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"cshub/internal/auth"
	"cshub/internal/demo"
	"cshub/internal/exercise"
	"cshub/internal/export"
	"cshub/internal/gather"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/policy"
)

// attackAPT28 is APT28 in MITRE ATT&CK, an intrusion set with over a hundred relationships.
const attackAPT28 = "intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c"

// BenchmarkPages renders each page server-side (no TLS, no network) over the demo data: MITRE
// ATT&CK Enterprise (24,771 objects) and the seed scenario in the community workspace. The goal
// is well under 200 ms per page. The feature pages run over the demo's take-down case, the
// policy developments of the seed, a running exercise and a feed of everything. "dashboard" reuses the counts by type and the statistics for a
// minute, as the server does; "dashboard-uncached" counts afresh each time.
func BenchmarkPages(b *testing.B) {
	h := newTestHub(b)
	ctx := context.Background()
	attack, err := demo.AttackBundle()
	if err != nil {
		b.Fatal(err)
	}
	sum, err := h.kb.Ingest(ctx, kb.Submission{Org: "cert-fr", Workspace: "community", DefaultTLP: hub.TLPClear}, attack)
	attack.Close()
	if err != nil {
		b.Fatal(err)
	}
	// The demo's collaboration (the APT28 take-down case), policy developments, an exercise
	// and a feed, for the feature pages.
	h.seedDemoCase(b)
	if _, err := policy.Seed(ctx, h.kb, gather.New(h.kb, nil), kb.Submission{Org: "cert-fr", Workspace: "community", DefaultTLP: hub.TLPClear}); err != nil {
		b.Fatal(err)
	}
	if err := h.exercises.Import(ctx, drill("Brute force wave", "SSH attempts"), exercise.Actor{Org: "hub-operator", User: "bench"}); err != nil {
		b.Fatal(err)
	}
	if _, err := h.exercises.Apply(ctx, "drill", exercise.Actor{Org: "hub-operator", User: "bench"}, exercise.Control{Action: "start"}); err != nil {
		b.Fatal(err)
	}
	if _, err := h.feeds.Create(ctx, "cert-be", "bench", "all", export.Selection{}); err != nil {
		b.Fatal(err)
	}
	takeDown := h.demoCaseID(b)
	// The fixture syncs the indexes itself; without this, the server's own follower would still
	// be re-reading the 25k objects announced on the bus while the pages are measured.
	h.unfollow()
	h.sync(b, sum.IDs)
	b.Logf("demo data: %d ATT&CK objects", sum.Accepted)

	u := h.users["cert-be"]
	value, err := h.sessions.Issue(auth.Principal{UserID: u.id, Username: u.username, Org: u.org, Role: hub.RoleAnalyst}, h.clock.Now())
	if err != nil {
		b.Fatal(err)
	}
	session := &http.Cookie{Name: auth.SessionCookieName, Value: value}
	pages := []struct{ name, path string }{
		{"login", "/login"},
		{"dashboard", "/"},
		{"dashboard-uncached", "/"},
		{"object", "/objects/" + sum.IDs[len(sum.IDs)/2]},
		{"object-apt28", "/objects/" + attackAPT28},
		{"notfound", "/objects/indicator--00000000-0000-4000-8000-000000000000"},
		{"search-fancy-bear", "/search?q=Fancy+Bear"},
		{"search-type-newest", "/search?type=attack-pattern&sort=newest&page=3"},
		{"ingest", "/ingest"},
		{"admin-orgs", "/admin/orgs"},
		{"admin-keys", "/admin/keys"},
		{"cases", "/cases"},
		{"case-apt28-take-down", "/cases/" + takeDown},
		{"exercises", "/exercises"},
		{"exercise-team", "/exercises/drill"},
		{"policy", "/policy"},
		{"policy-filtered", "/policy?kind=resolution"},
		{"policy-document", "/policy/A/RES/73/266"},
		{"feeds", "/feeds"},
		{"feed-csv", "/feeds/all/csv"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			warm := httptest.NewRequest("GET", p.path, nil)
			warm.AddCookie(session)
			h.web.ServeHTTP(httptest.NewRecorder(), warm)
			for b.Loop() {
				if p.name == "dashboard-uncached" {
					h.web.countCache.mu.Lock()
					h.web.countCache.m = nil
					h.web.countCache.mu.Unlock()
					h.web.statsCache.mu.Lock()
					h.web.statsCache.m = nil
					h.web.statsCache.mu.Unlock()
				}
				req := httptest.NewRequest("GET", p.path, nil)
				if p.name != "login" {
					req.AddCookie(session)
				}
				rec := httptest.NewRecorder()
				h.web.ServeHTTP(rec, req)
				if rec.Code != 200 && !(p.name == "notfound" && rec.Code == 404) {
					b.Fatalf("GET %s = %d", p.path, rec.Code)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
		})
	}
}
