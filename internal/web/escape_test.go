package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"cshub/internal/api"
	"cshub/internal/collab"
	"cshub/internal/exercise"
)

// Script payloads that must never reach a page unescaped.
const (
	payloadScript = `<script>alert(1)</script>`
	payloadAttr   = `"><img src=x onerror=alert(1)>`
	payloadURL    = `javascript:alert(1)`
)

// note returns a STIX note (or, with marking "red", a TLP:RED one) numbered i.
func note(i int, content, marking string) map[string]any {
	o := map[string]any{
		"type": "note", "spec_version": "2.1",
		"id":      fmt.Sprintf("note--00000000-0000-4000-8000-%012d", i),
		"created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
		"content": content, "object_refs": []string{"identity--acb5e248-12e5-57a8-bd18-0c18f94a6ec5"},
	}
	if marking == "red" {
		o["object_marking_refs"] = []string{"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"}
	}
	return o
}

func bundleOf(objs ...map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000001", "objects": objs})
	if err != nil {
		panic(err)
	}
	return b
}

// hostile returns objects whose every shown property carries a script payload.
func hostile() []map[string]any {
	refs := []map[string]any{
		{"source_name": payloadScript, "url": payloadURL, "external_id": payloadAttr, "description": payloadScript},
		{"source_name": "data", "url": "data:text/html," + payloadScript},
		{"source_name": "attr", "url": "https://example.org/" + payloadAttr},
	}
	return []map[string]any{
		{
			"type": "intrusion-set", "spec_version": "2.1", "id": "intrusion-set--11111111-1111-4111-8111-111111111111",
			"created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
			"name": payloadScript, "description": payloadAttr + "\n" + payloadScript,
			"aliases": []string{payloadScript, payloadAttr, payloadURL}, "external_references": refs,
			"labels": []string{payloadAttr},
		},
		{
			"type": "indicator", "spec_version": "2.1", "id": "indicator--22222222-2222-4222-8222-222222222222",
			"created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
			"name": payloadAttr, "description": payloadURL, "indicator_types": []string{"malicious-activity"},
			"pattern":      "[url:value = 'javascript:alert(1)//\"><script>alert(1)</script>']",
			"pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z",
			"kill_chain_phases":   []map[string]any{{"kill_chain_name": payloadScript, "phase_name": payloadAttr}},
			"external_references": refs,
		},
		{
			"type": "attack-pattern", "spec_version": "2.1", "id": "attack-pattern--33333333-3333-4333-8333-333333333333",
			"created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
			"name": payloadURL, "description": "</textarea></pre></code>" + payloadScript,
		},
		// What refers to them, so that the graph, the relationship table, the sightings, the
		// notes and the dashboard's rankings show the payloads too.
		{
			"type": "relationship", "spec_version": "2.1", "id": "relationship--44444444-4444-4444-8444-444444444441",
			"created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
			"relationship_type": "indicates", "description": payloadScript, "source_ref": "indicator--22222222-2222-4222-8222-222222222222",
			"target_ref": "intrusion-set--11111111-1111-4111-8111-111111111111",
		},
		{
			"type": "sighting", "spec_version": "2.1", "id": "sighting--44444444-4444-4444-8444-444444444442",
			"created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
			"sighting_of_ref": "indicator--22222222-2222-4222-8222-222222222222", "count": 3, "description": payloadAttr,
		},
		{
			"type": "note", "spec_version": "2.1", "id": "note--44444444-4444-4444-8444-444444444443",
			"created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
			"abstract": payloadScript, "content": payloadAttr, "object_refs": []string{"intrusion-set--11111111-1111-4111-8111-111111111111"},
		},
		{
			"type": "location", "spec_version": "2.1", "id": "location--44444444-4444-4444-8444-444444444444",
			"created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
			"name": payloadScript, "country": "UA",
		},
		{
			"type": "relationship", "spec_version": "2.1", "id": "relationship--44444444-4444-4444-8444-444444444445",
			"created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
			"relationship_type": "targets", "source_ref": "intrusion-set--11111111-1111-4111-8111-111111111111",
			"target_ref": "location--44444444-4444-4444-8444-444444444444",
		},
	}
}

// unescaped lists the forms in which a payload would be live in HTML.
var unescaped = []string{
	"<script>alert", "<img src=x", "onerror=alert(1)>", `<a href="javascript:`, `<a href="data:`,
	"</pre></code><script", `"><img`,
}

func TestObjectValuesAreEscaped(t *testing.T) {
	h := newTestHub(t)
	sum := h.ingest(t, "cert-fr", bundleOf(hostile()...))
	if len(sum.IDs) != 8 {
		t.Fatalf("stored %d hostile objects, want 8", len(sum.IDs))
	}
	// An organisation whose name carries a payload, for the administration and ingest pages.
	if _, err := h.admin.CreateOrg(context.Background(), api.LocalOperator("test"), api.NewOrg{Code: "cert-xx", Name: payloadAttr + payloadScript, Country: "XX"}); err != nil {
		t.Fatal(err)
	}
	c := hostileFeatures(t, h)

	b := h.browser(t)
	b.login(t, h.users["cert-be"])
	pages := map[string]string{"/": b.get(t, "/").body}
	for _, path := range []string{"/cases", "/cases/" + c, "/exercises", "/exercises/drill", "/policy/A/RES/73/266",
		"/policy?actor=" + url.QueryEscape(payloadAttr) + "&kind=" + url.QueryEscape(payloadScript), "/feeds",
		"/cases/" + c + "?x=" + url.QueryEscape(payloadAttr),
	} {
		r := b.get(t, path)
		if r.code != 200 {
			t.Fatalf("GET %s = %d", path, r.code)
		}
		pages[path] = r.body
	}
	pages["/cases (refused task)"] = b.post(t, "/cases/"+c+"/tasks", url.Values{"csrf": {csrfOf(t, pages["/cases"])},
		"title": {payloadScript}, "assignee": {payloadAttr}, "due": {payloadAttr}}).body
	for _, path := range []string{"/search?q=alert", "/search?q=" + url.QueryEscape(payloadScript), "/search?type=" + url.QueryEscape(payloadAttr),
		"/ingest", "/admin/orgs", "/admin/workspaces"} {
		r := b.get(t, path)
		if r.code != 200 {
			t.Fatalf("GET %s = %d", path, r.code)
		}
		pages[path] = r.body
	}
	token := csrfOf(t, pages["/ingest"])
	pages["/ingest (preview)"] = b.post(t, "/ingest", url.Values{"csrf": {token}, "workspace": {"community"}, "action": {"preview"},
		"title": {payloadScript}, "text": {payloadAttr + " evil.example.com " + payloadScript}}).body
	pages["/search/saved"] = b.post(t, "/search/saved", url.Values{"csrf": {token}, "name": {payloadScript}, "query": {"q=" + url.QueryEscape(payloadAttr)}}).body
	pages["/search (saved)"] = b.get(t, "/search").body
	for _, id := range sum.IDs {
		r := b.get(t, "/objects/"+id)
		if r.code != 200 {
			t.Fatalf("GET /objects/%s = %d", id, r.code)
		}
		pages["/objects/"+id] = r.body
	}
	// A user name carrying a payload is escaped too on the login page after a failure.
	lb := h.browser(t)
	pages["/login (failed)"] = lb.post(t, "/login", lb.loginForm(t, payloadAttr+payloadScript, "x", "")).body

	for path, body := range pages {
		for _, bad := range unescaped {
			if strings.Contains(body, bad) {
				i := strings.Index(body, bad)
				t.Errorf("%s: unescaped %q in …%s…", path, bad, body[max(0, i-80):min(len(body), i+80)])
			}
		}
	}
	// The payloads are shown as text, escaped, not dropped.
	for _, path := range []string{"/cases", "/cases/" + c, "/exercises/drill", "/policy/A/RES/73/266"} {
		if !strings.Contains(pages[path], "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s does not show the payload as escaped text", path)
		}
	}
	if !strings.Contains(pages["/cases (refused task)"], `role="alert"`) {
		t.Error("the refused task shows no reason")
	}
	if !strings.Contains(pages["/objects/intrusion-set--11111111-1111-4111-8111-111111111111"], "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the intrusion set's name is not shown as escaped text")
	}
	// Only the https reference became a link.
	page := pages["/objects/indicator--22222222-2222-4222-8222-222222222222"]
	if n := strings.Count(page, `<a href="https://example.org/`); n != 1 {
		t.Errorf("%d links to the https reference, want 1", n)
	}
}

// hostileFeatures gives the hub a case, a task, an exercise inject and a policy citation that
// carry script payloads, all seen by cert-be (a participant, a blue team, a reader), and
// returns the case's id.
func hostileFeatures(tb testing.TB, h *testHub) string {
	tb.Helper()
	ctx := context.Background()
	fr := collab.Actor{Org: "cert-fr", Name: "cert-fr-analyst"}
	title, desc, parts := payloadScript, payloadAttr+payloadScript, []string{"cert-be"}
	c, err := h.collab.OpenCase(ctx, fr, "community", collab.CaseInput{Title: &title, Description: &desc, Participants: &parts,
		ObjectRefs: []string{"intrusion-set--11111111-1111-4111-8111-111111111111"}})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := h.collab.AddTask(ctx, fr, c.ID, collab.TaskInput{Title: payloadAttr + payloadScript, Assignee: "cert-be"}); err != nil {
		tb.Fatal(err)
	}
	op := exercise.Actor{Org: "hub-operator", User: "test"}
	if err := h.exercises.Import(ctx, drill(payloadScript, payloadAttr+payloadScript), op); err != nil {
		tb.Fatal(err)
	}
	if _, err := h.exercises.Apply(ctx, "drill", op, exercise.Control{Action: "start"}); err != nil {
		tb.Fatal(err)
	}
	h.ingest(tb, "cert-fr", bundleOf(citingReport("report--00000000-0000-4000-8000-0000000000a3", payloadScript)))
	return c.ID
}
