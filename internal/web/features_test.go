package web

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"cshub/internal/collab"
	"cshub/internal/exercise"
	"cshub/internal/export"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/kb"
	"cshub/internal/members"
)

// scenarioIndicator is an indicator of testdata/scenario.json, linked to the test cases.
const scenarioIndicator = "indicator--0f4208e2-1357-5d38-a8b3-065ff8822306"

// testCases opens, as cert-fr, a community case with cert-be taking part, a TLP:RED one with
// cert-be taking part, and one in cert-fr's private workspace; it returns their ids.
func testCases(tb testing.TB, h *testHub, title string) (community, red, private string) {
	tb.Helper()
	ctx := context.Background()
	fr := collab.Actor{Org: "cert-fr", Name: "cert-fr-analyst"}
	open := func(ws, title, tlp string, parts []string, refs ...string) string {
		sev := "high"
		c, err := h.collab.OpenCase(ctx, fr, ws, collab.CaseInput{Title: &title, Severity: &sev, Participants: &parts, TLP: tlp, ObjectRefs: refs})
		if err != nil {
			tb.Fatal(err)
		}
		return c.ID
	}
	community = open("community", title, "", []string{"cert-be"}, scenarioIndicator)
	red = open("community", "Red coordination", "red", []string{"cert-be"})
	private = open("cert-fr", "Internal follow-up", "", nil)
	if _, err := h.collab.AddTask(ctx, fr, community, collab.TaskInput{Title: "Contact the registrar", Assignee: "cert-be", Due: "2026-12-01"}); err != nil {
		tb.Fatal(err)
	}
	return community, red, private
}

func TestCasePages(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) { testCasePages(t, newTestHubOn(t, backend)) })
	}
}

func testCasePages(t *testing.T, h *testHub) {
	h.ingest(t, "cert-fr", file(t, "scenario.json"))
	community, red, private := testCases(t, h, "Phishing take-down")

	// Who sees which case, in the listing and by its URL.
	for org, want := range map[string]map[string]bool{
		"cert-fr": {community: true, red: true, private: true},
		"cert-be": {community: true, red: true, private: false},
		"cert-uk": {community: true, red: false, private: false},
	} {
		b := h.browser(t)
		b.login(t, h.users[org])
		list := b.get(t, "/cases")
		if list.code != 200 {
			t.Fatalf("%s: GET /cases = %d", org, list.code)
		}
		for id, sees := range want {
			if got := strings.Contains(list.body, `href="/cases/`+id+`"`); got != sees {
				t.Errorf("%s: /cases lists %s = %v, want %v", org, id, got, sees)
			}
			code := 404
			if sees {
				code = 200
			}
			if r := b.get(t, "/cases/"+id); r.code != code {
				t.Errorf("%s: GET /cases/%s = %d, want %d", org, id, r.code, code)
			}
		}
		// The dashboard's open cases are the same cases.
		dash := b.get(t, "/")
		if got := strings.Contains(dash.body, `href="/cases/`+red+`"`); got != want[red] {
			t.Errorf("%s: dashboard lists the RED case = %v, want %v", org, got, want[red])
		}
	}

	be := h.browser(t)
	be.login(t, h.users["cert-be"])
	r := be.get(t, "/cases/"+community)
	for _, want := range []string{
		"Phishing take-down", "Contact the registrar", `<time datetime="2026-12-01T23:59:59Z">`,
		`href="/objects/` + scenarioIndicator + `">Phishing domain login-ministry.example</a>`,
		"case.opened", "task.created", `action="/cases/` + community + `/tasks"`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("case page as a participant lacks %s", want)
		}
	}
	// A participant adds tasks but does not change the case's status: the lead does.
	if strings.Contains(r.body, `action="/cases/`+community+`/status"`) {
		t.Error("a participant is offered the lead's status form")
	}
	token := csrfOf(t, r.body)
	post := func(b *browser, path string, form url.Values) response {
		t.Helper()
		form.Set("csrf", token)
		return b.post(t, path, form)
	}
	if r := post(be, "/cases/"+community+"/tasks", url.Values{"title": {"Sinkhole the domain"}, "assignee": {"cert-be"}, "due": {"2026-12-02"}}); r.code != http.StatusSeeOther || r.header.Get("Location") != "/cases/"+community {
		t.Fatalf("add a task = %d %q, want 303 to the case", r.code, r.header.Get("Location"))
	}
	c, err := h.collab.Case(context.Background(), "cert-be", community)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Tasks) != 2 || c.Tasks[1].Title != "Sinkhole the domain" || c.Tasks[1].By != "cert-be" {
		t.Fatalf("tasks after the form: %+v", c.Tasks)
	}
	if r := post(be, "/cases/"+community+"/tasks/"+c.Tasks[1].ID, url.Values{"status": {"done"}}); r.code != http.StatusSeeOther {
		t.Errorf("set a task's status = %d, want 303", r.code)
	}
	// Refused changes show the page again with the field and the reason, and the form as filled.
	for _, tc := range []struct {
		name, path string
		form       url.Values
		code       int
		alert      string
	}{
		{"no title", "/tasks", url.Values{"title": {" "}, "assignee": {"cert-be"}}, 400, "title: required"},
		{"outsider assignee", "/tasks", url.Values{"title": {"Ask the UK"}, "assignee": {"cert-uk"}}, 400, `assignee: &#34;cert-uk&#34; is neither the lead nor a participant`},
		{"bad due date", "/tasks", url.Values{"title": {"Later"}, "due": {"soon"}}, 400, "due: "},
		{"status by a participant", "/status", url.Values{"status": {"closed"}}, 403, "id: only the lead organisation"},
		{"unknown status", "/tasks/" + c.Tasks[1].ID, url.Values{"status": {"finished"}}, 400, "status: "},
	} {
		r := post(be, "/cases/"+community+tc.path, tc.form)
		if r.code != tc.code || !strings.Contains(r.body, tc.alert) || !strings.Contains(r.body, `role="alert"`) {
			t.Errorf("%s: %d, want %d with %q:\n%s", tc.name, r.code, tc.code, tc.alert, alertOf(r.body))
		}
		if tc.name == "outsider assignee" && !strings.Contains(r.body, `value="Ask the UK"`) {
			t.Errorf("%s: the form lost what was typed", tc.name)
		}
	}
	// The lead changes the status.
	fr := h.browser(t)
	fr.login(t, h.users["cert-fr"])
	if r := fr.get(t, "/cases/"+community); !strings.Contains(r.body, `action="/cases/`+community+`/status"`) {
		t.Error("the lead is not offered the status form")
	}
	if r := fr.post(t, "/cases/"+community+"/status", url.Values{"csrf": {csrfOf(t, fr.get(t, "/cases").body)}, "status": {"resolved"}}); r.code != http.StatusSeeOther {
		t.Fatalf("the lead's status change = %d:\n%s", r.code, alertOf(r.body))
	}
	if r := fr.get(t, "/cases/"+community); !strings.Contains(r.body, `<dd id="case-status">resolved</dd>`) || !strings.Contains(r.body, "status resolved") {
		t.Error("the case page does not show the new status in its header and timeline")
	}
	// A resolved case leaves the dashboard's open cases; the list of cases keeps it.
	if dash := fr.get(t, "/").body; strings.Contains(dash, `href="/cases/`+community+`"`) || !strings.Contains(dash, `href="/cases/`+red+`"`) {
		t.Error("the dashboard's open cases do not follow the status")
	}
	if !strings.Contains(fr.get(t, "/cases").body, `href="/cases/`+community+`"`) {
		t.Error("the resolved case left the list of cases")
	}

	// A reader of the case who is not a participant gets no forms, and the service refuses
	// a forged one; without a token nothing is even tried.
	uk := h.browser(t)
	uk.login(t, h.users["cert-uk"])
	r = uk.get(t, "/cases/"+community)
	if strings.Contains(r.body, `/tasks"`) {
		t.Error("a non-participant is offered the task form")
	}
	if r := uk.post(t, "/cases/"+community+"/tasks", url.Values{"csrf": {csrfOf(t, r.body)}, "title": {"Intrude"}}); r.code != 403 {
		t.Errorf("a non-participant's task = %d, want 403", r.code)
	}
	if r := uk.post(t, "/cases/"+red+"/tasks", url.Values{"csrf": {csrfOf(t, r.body)}, "title": {"Intrude"}}); r.code != 404 {
		t.Errorf("a task on a RED case the org may not see = %d, want 404", r.code)
	}
	if r := be.post(t, "/cases/"+community+"/tasks", url.Values{"title": {"No token"}}); r.code != 403 {
		t.Errorf("a task without a CSRF token = %d, want 403", r.code)
	}
	// A reader of a participant organisation reads only: no forms, and a forged one is refused.
	rd := h.browser(t)
	rd.login(t, h.addUser(t, "cert-be", "cert-be-reader", hub.RoleReader))
	r = rd.get(t, "/cases/"+community)
	if r.code != 200 || strings.Contains(r.body, `/tasks"`) || strings.Contains(r.body, `<select id="st-`) {
		t.Errorf("a reader's case page = %d with forms", r.code)
	}
	if r := rd.post(t, "/cases/"+community+"/tasks", url.Values{"csrf": {csrfOf(t, r.body)}, "title": {"Read only"}}); r.code != 403 {
		t.Errorf("a reader's task = %d, want 403", r.code)
	}
	if c, _ := h.collab.Case(context.Background(), "cert-fr", community); len(c.Tasks) != 2 {
		t.Errorf("refused forms changed the tasks: %d, want 2", len(c.Tasks))
	}
}

// addUser enrols a user of org with role, as the fixture enrols its users.
func (h *testHub) addUser(tb testing.TB, org, name string, role hub.Role) testUser {
	tb.Helper()
	pw := rand.Text()
	cu, err := h.members.CreateUser(context.Background(), members.NewUser{Org: org, Username: name, Role: role, Password: pw, TOTP: true})
	if err != nil {
		tb.Fatal(err)
	}
	return testUser{id: cu.User.ID, org: org, username: name, role: role, password: pw, secret: cu.TOTPSecret}
}

// drill is a small exercise directed by the hub operator and played by cert-fr and cert-be;
// its inject's title and message are the caller's.
func drill(title, message string) *exercise.Scenario {
	at := exercise.Duration(0)
	return &exercise.Scenario{Version: 1, ID: "drill", Name: "Drill", Duration: exercise.Duration(3600e9), Director: "hub-operator",
		Teams: []exercise.Team{{ID: "fr", Org: "cert-fr"}, {ID: "be", Org: "cert-be"}},
		Injects: []exercise.Inject{{ID: "a", Title: title, Message: message, Trigger: exercise.Trigger{At: &at},
			Tasks: []exercise.Task{{ID: "t", Title: "Block the ranges", Expected: "a block list", Points: 5}}}}}
}

func TestExercisePages(t *testing.T) {
	h := newTestHub(t)
	ctx := context.Background()
	if err := h.exercises.Import(ctx, drill("Brute force wave", "SSH attempts from 198.51.100.0/24"), exercise.Actor{Org: "hub-operator", User: "test"}); err != nil {
		t.Fatal(err)
	}
	op, fr, uk := h.browser(t), h.browser(t), h.browser(t)
	op.login(t, h.users["operator"])
	fr.login(t, h.users["cert-fr"])
	uk.login(t, h.users["cert-uk"])

	if r := uk.get(t, "/exercises"); strings.Contains(r.body, `href="/exercises/drill"`) {
		t.Error("an organisation with no part lists the exercise")
	}
	if r := uk.get(t, "/exercises/drill"); r.code != 404 {
		t.Errorf("an organisation with no part: GET /exercises/drill = %d, want 404", r.code)
	}
	if r := fr.get(t, "/exercises"); !strings.Contains(r.body, `href="/exercises/drill"`) || !strings.Contains(r.body, "blue_team (fr)") {
		t.Errorf("a team's listing lacks the exercise and its role")
	}
	r := op.get(t, "/exercises/drill")
	if !strings.Contains(r.body, `name="action" value="start"`) || strings.Contains(r.body, `value="pause"`) {
		t.Fatalf("the director of a ready exercise is not offered start alone")
	}
	token := csrfOf(t, r.body)
	if r := op.post(t, "/exercises/drill/control", url.Values{"csrf": {token}, "action": {"start"}}); r.code != http.StatusSeeOther {
		t.Fatalf("start = %d: %s", r.code, alertOf(r.body))
	}
	r = op.get(t, "/exercises/drill?team=be")
	for _, want := range []string{`<dd id="exercise-status">running</dd>`, `value="pause"`, `value="end"`, "Injects received by be",
		"Brute force wave", "a block list", `href="/exercises/drill/report"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("director's page lacks %s", want)
		}
	}
	// A control that does not fit is refused with the reason.
	if r := op.post(t, "/exercises/drill/control", url.Values{"csrf": {token}, "action": {"resume"}}); r.code != 409 || !strings.Contains(alertOf(r.body), "cannot resume an exercise that is running") {
		t.Errorf("resume while running = %d %q, want 409 with the reason", r.code, alertOf(r.body))
	}
	// The white team scores while the board is frozen: the team sees the frozen board.
	if r := op.post(t, "/exercises/drill/control", url.Values{"csrf": {token}, "action": {"freeze"}}); r.code != http.StatusSeeOther {
		t.Fatalf("freeze = %d", r.code)
	}
	if err := h.exercises.Score(ctx, "drill", exercise.Actor{Org: "hub-operator", User: "test"}, exercise.ManualScore{Team: "fr", Inject: "a", Task: "t", Points: 4, Comment: "partial block list"}); err != nil {
		t.Fatal(err)
	}
	r = fr.get(t, "/exercises/drill")
	for _, want := range []string{"Scoreboard (frozen)", "Brute force wave", "SSH attempts from 198.51.100.0/24", "Block the ranges", "– / 5"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("team's page lacks %s", want)
		}
	}
	for _, bad := range []string{"/control", "a block list", "/report", "Injects received by"} {
		if strings.Contains(r.body, bad) {
			t.Errorf("team's page shows %s", bad)
		}
	}
	if r := op.get(t, "/exercises/drill?team=fr"); !strings.Contains(r.body, "4 / 5") {
		t.Error("the director does not see the live score")
	}
	// Only the director controls; the report opens to teams when the exercise ends.
	if r := fr.post(t, "/exercises/drill/control", url.Values{"csrf": {csrfOf(t, r.body)}, "action": {"end"}}); r.code != 403 {
		t.Errorf("a team's control = %d, want 403", r.code)
	}
	if r := fr.get(t, "/exercises/drill/report"); r.code != 403 {
		t.Errorf("a team's report before the end = %d, want 403", r.code)
	}
	rep := op.get(t, "/exercises/drill/report")
	if rep.code != 200 || !strings.Contains(rep.body, "Drill") || rep.header.Get("Content-Security-Policy") != reportCSP {
		t.Errorf("director's report = %d, CSP %q", rep.code, rep.header.Get("Content-Security-Policy"))
	}
	if r := op.post(t, "/exercises/drill/control", url.Values{"csrf": {token}, "action": {"end"}}); r.code != http.StatusSeeOther {
		t.Fatalf("end = %d", r.code)
	}
	if r := fr.get(t, "/exercises/drill/report"); r.code != 200 {
		t.Errorf("a team's report after the end = %d, want 200", r.code)
	}
}

// citingReport is a report in workspace ws citing the UN resolution A/RES/73/266.
func citingReport(id, name string) map[string]any {
	return map[string]any{
		"type": "report", "spec_version": "2.1", "id": id, "name": name,
		"created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z", "published": "2024-01-01T00:00:00Z",
		"description": "The group recalled resolution A/RES/73/266 on responsible state behaviour.",
		"object_refs": []string{"identity--acb5e248-12e5-57a8-bd18-0c18f94a6ec5"},
	}
}

func TestPolicyPages(t *testing.T) {
	h := newTestHub(t)
	const shared, own = "report--00000000-0000-4000-8000-0000000000a1", "report--00000000-0000-4000-8000-0000000000a2"
	h.ingest(t, "cert-fr", bundleOf(citingReport(shared, "Shared reading of the GGE")))
	// A report in cert-fr's private workspace cites the same resolution.
	if _, err := h.kb.Ingest(context.Background(), kb.Submission{Org: "cert-fr", Workspace: "cert-fr"},
		strings.NewReader(string(bundleOf(citingReport(own, "Private brief on the GGE"))))); err != nil {
		t.Fatal(err)
	}
	fr, be := h.browser(t), h.browser(t)
	fr.login(t, h.users["cert-fr"])
	be.login(t, h.users["cert-be"])

	list := be.get(t, "/policy")
	if list.code != 200 || !strings.Contains(list.body, `href="/policy/A/RES/73/266"`) {
		t.Fatalf("/policy = %d without a link to A/RES/73/266", list.code)
	}
	kinds := be.get(t, "/policy?kind=resolution")
	if !strings.Contains(kinds.body, "A/RES/73/266") || strings.Contains(kinds.body, "<td>report</td>") || strings.Count(kinds.body, "<tr>") >= strings.Count(list.body, "<tr>") {
		t.Error("the kind filter does not narrow the list to resolutions")
	}
	if !strings.Contains(list.body, `<option value="resolution">`) || !strings.Contains(list.body, `<option value="adopted">`) {
		t.Error("the filter fields do not suggest the documents' kinds and statuses")
	}
	if !strings.Contains(kinds.body, `id="p-kind" name="kind" type="text" list="l-kind" value="resolution"`) {
		t.Error("the filter form does not keep its value")
	}
	for org, b := range map[string]*browser{"cert-fr": fr, "cert-be": be} {
		r := b.get(t, "/policy/A/RES/73/266")
		if r.code != 200 || !strings.Contains(r.body, `<dd id="document-status">`) {
			t.Fatalf("%s: document page = %d", org, r.code)
		}
		if !strings.Contains(r.body, `href="/objects/`+shared+`"`) {
			t.Errorf("%s: the shared citing report is not linked", org)
		}
		if got := strings.Contains(r.body, own); got != (org == "cert-fr") {
			t.Errorf("%s: the private citing report is shown = %v", org, got)
		}
	}
	if r := be.get(t, "/policy/nato:no-such-declaration"); r.code != 404 {
		t.Errorf("an unknown document = %d, want 404", r.code)
	}
}

func TestFeedPages(t *testing.T) {
	h := newTestHub(t)
	h.ingest(t, "cert-fr", file(t, "scenario.json"))
	if _, err := h.feeds.Create(context.Background(), "cert-fr", "cert-fr-analyst", "daily", export.Selection{Types: []string{"domain-name"}}); err != nil {
		t.Fatal(err)
	}
	fr, be := h.browser(t), h.browser(t)
	fr.login(t, h.users["cert-fr"])
	be.login(t, h.users["cert-be"])
	r := fr.get(t, "/feeds")
	for _, want := range []string{"daily", "types: domain-name", `href="/feeds/daily/csv"`, `href="/feeds/daily/suricata"`, `action="/feeds/daily/delete"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/feeds lacks %s", want)
		}
	}
	f := fr.get(t, "/feeds/daily/text")
	if f.code != 200 || !strings.HasPrefix(f.header.Get("Content-Type"), "text/plain") || !strings.Contains(f.body, "login-ministry.example") {
		t.Errorf("the feed as text = %d %q:\n%s", f.code, f.header.Get("Content-Type"), f.body)
	}
	if r := fr.get(t, "/feeds/daily/nonsense"); r.code != 400 {
		t.Errorf("an unknown format = %d, want 400", r.code)
	}
	// Another organisation neither lists nor fetches nor deletes the feed.
	if r := be.get(t, "/feeds"); strings.Contains(r.body, "daily") {
		t.Error("another organisation lists the feed")
	}
	if r := be.get(t, "/feeds/daily/text"); r.code != 404 {
		t.Errorf("another organisation fetches the feed: %d, want 404", r.code)
	}
	if r := be.post(t, "/feeds/daily/delete", url.Values{"csrf": {csrfOf(t, be.get(t, "/feeds").body)}}); r.code != 404 {
		t.Errorf("another organisation deletes the feed: %d, want 404", r.code)
	}
	if r := fr.post(t, "/feeds/daily/delete", url.Values{"csrf": {csrfOf(t, r.body)}}); r.code != http.StatusSeeOther {
		t.Fatalf("delete = %d", r.code)
	}
	if r := fr.get(t, "/feeds"); strings.Contains(r.body, `href="/feeds/daily/csv"`) {
		t.Error("the deleted feed is still listed")
	}
}

// TestFeaturePagesNeedTheirService checks that a hub without the services serves none of
// their pages and links to none.
func TestFeaturePagesNeedTheirService(t *testing.T) {
	h := newTestHub(t)
	bare, err := New(Config{KB: h.kb, Dir: h.store, Auth: h.web.auth, Sessions: h.sessions, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	u := h.users["cert-fr"]
	for _, p := range []string{"/cases", "/exercises", "/policy", "/feeds"} {
		if rec := h.serve(t, bare, u, p); rec.Code != 404 {
			t.Errorf("GET %s without its service = %d, want 404", p, rec.Code)
		}
	}
	dash := h.serve(t, bare, u, "/").Body.String()
	if strings.Contains(dash, `href="/cases"`) || strings.Contains(dash, `href="/feeds"`) {
		t.Error("the navigation links to pages the hub does not serve")
	}
	full := h.serve(t, h.web, u, "/").Body.String()
	for _, p := range []string{"/cases", "/exercises", "/policy", "/feeds"} {
		if !strings.Contains(full, `href="`+p+`"`) {
			t.Errorf("the navigation lacks %s", p)
		}
	}
}

// demoAttribution is the seed's "APT28 phishing campaign attributed-to APT28", which the demo's
// members assess (collab.SeedDemo).
const demoAttribution = "relationship--ec15048f-a697-5c7b-b0c3-73f41415f400"

func TestAttributionSideBySide(t *testing.T) {
	h := newTestHub(t)
	h.seedDemoCase(t)
	// The claim's target, ATT&CK's APT28, which the seed refers to without holding it.
	h.ingest(t, "cert-fr", bundleOf(map[string]any{"type": "intrusion-set", "spec_version": "2.1", "id": attackAPT28, "name": "APT28",
		"created": "2017-05-31T21:31:48.664Z", "modified": "2017-05-31T21:31:48.664Z"}))
	conf := 40
	if _, err := h.collab.RecordOpinion(context.Background(), collab.Actor{Org: "cert-be", Name: "test"},
		collab.OpinionInput{ObjectRef: demoAttribution, Opinion: "disagree", Confidence: &conf, Explanation: "Only for the partners.", TLP: "red"}); err != nil {
		t.Fatal(err)
	}
	claims, err := h.collab.Attribution(context.Background(), "cert-fr", demoAttribution)
	if err != nil || len(claims) != 1 || claims[0].Target == nil || claims[0].Target.ID != attackAPT28 {
		t.Fatalf("attribution = %+v, %v", claims, err)
	}
	// cert-be's TLP:RED assessment is addressed to nobody else: only cert-be sees it.
	for org, want := range map[string][]string{
		"cert-be": {"cert-be", "cert-fr", "cert-nl", "cert-uk"},
		"cert-uk": {"cert-fr", "cert-nl", "cert-uk"},
	} {
		b := h.browser(t)
		b.login(t, h.users[org])
		for _, id := range []string{demoAttribution, claims[0].Target.ID} {
			r := b.get(t, "/objects/"+id)
			if r.code != 200 || !strings.Contains(r.body, `id="claims-title"`) {
				t.Fatalf("%s: /objects/%s = %d without assessments", org, id, r.code)
			}
			var got []string
			for _, part := range strings.Split(r.body, `<article aria-label="Assessment of `)[1:] {
				o, _, _ := strings.Cut(part, `"`)
				got = append(got, o)
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s on %s: assessments of %v, want %v, one each", org, id, got, want)
			}
			if !strings.Contains(r.body, `<strong class="opinion">agree</strong>, confidence 85`) {
				t.Errorf("%s on %s: cert-fr's assessment is not shown with its confidence", org, id)
			}
		}
	}
}

// TestFeaturePagesKeepThePolicy checks that the feature pages carry the hub's
// Content-Security-Policy and need nothing it forbids: no inline script, style or handler.
func TestFeaturePagesKeepThePolicy(t *testing.T) {
	h := newTestHub(t)
	h.ingest(t, "cert-fr", file(t, "scenario.json"))
	community, _, _ := testCases(t, h, "Policy check")
	if err := h.exercises.Import(context.Background(), drill("Wave", "Message"), exercise.Actor{Org: "hub-operator", User: "test"}); err != nil {
		t.Fatal(err)
	}
	u := h.users["cert-fr"]
	script := regexp.MustCompile(`<script(?: src="/static/cshub\.js\?v=[0-9a-f]+" defer></script>)?`)
	for _, p := range []string{"/", "/cases", "/cases/" + community, "/exercises", "/exercises/drill", "/policy", "/policy/A/RES/73/266", "/feeds", "/objects/" + scenarioIndicator} {
		rec := h.serve(t, h.web, u, p)
		if rec.Code != 200 {
			t.Fatalf("GET %s = %d", p, rec.Code)
		}
		if got := rec.Header().Get("Content-Security-Policy"); got != contentSecurityPolicy {
			t.Errorf("%s: CSP %q", p, got)
		}
		body := rec.Body.String()
		for _, m := range script.FindAllString(body, -1) {
			if m == "<script" {
				t.Errorf("%s: an inline script", p)
			}
		}
		if strings.Contains(body, "style=") || strings.Contains(body, "<style") || regexp.MustCompile(` on[a-z]+=`).MatchString(body) {
			t.Errorf("%s: inline style or handler, which the CSP forbids", p)
		}
	}
}
