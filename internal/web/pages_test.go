package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cshub/internal/api"
	"cshub/internal/auth"
	"cshub/internal/extract"
	"cshub/internal/gather"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/kb"
	"cshub/internal/stream"
)

const (
	apt28     = "intrusion-set--7b2a3f10-8c4e-4a8e-9a51-0d6d2f7c1a01"
	xagent    = "malware--7b2a3f10-8c4e-4a8e-9a51-0d6d2f7c1a02"
	ukraine   = "location--7b2a3f10-8c4e-4a8e-9a51-0d6d2f7c1a04"
	relayInd  = "indicator--7b2a3f10-8c4e-4a8e-9a51-0d6d2f7c1a06"
	relayNote = "note--7b2a3f10-8c4e-4a8e-9a51-0d6d2f7c1a0a"
)

var objectLinkRE = regexp.MustCompile(`<td><a href="/objects/([^"]+)">`)

// resultIDs returns the ids of the result rows of a search page, in order.
func resultIDs(body string) []string {
	_, results, ok := strings.Cut(body, `id="results-title"`)
	if !ok {
		return nil
	}
	results, _, _ = strings.Cut(results, `id="saved-title"`)
	var ids []string
	for _, m := range objectLinkRE.FindAllStringSubmatch(results, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

func TestSearchPage(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) { testSearchPage(t, newTestHubOn(t, backend)) })
	}
}

func testSearchPage(t *testing.T, h *testHub) {
	h.ingest(t, "cert-fr", file(t, "apt28.json"))
	h.ingest(t, "cert-fr", file(t, "scenario.json"))
	h.ingest(t, "cert-fr", file(t, "red-finding.json"), "cert-be")
	const red = "indicator--2fd6d87e-3bbb-528b-ab8e-d2816ad3b1ca"
	cases := []struct {
		name, user, query string
		want              []string // ids, in order; nil: only wantIn / wantOut are checked
		wantIn, wantOut   []string
		wantText          string
	}{
		{name: "alias finds the group first", user: "cert-uk", query: "q=Fancy+Bear", wantIn: []string{apt28}, wantText: "<mark>Fancy Bear</mark>"},
		{name: "type filter", user: "cert-uk", query: "q=relay&type=indicator", want: []string{relayInd}},
		{name: "type filter from the form and the text", user: "cert-uk", query: "q=type:location", want: []string{ukraine}},
		{name: "RED finding for its recipient", user: "cert-be", query: "q=Restricted+sensor", want: []string{red}},
		{name: "RED finding hidden from others", user: "cert-uk", query: "q=Restricted+sensor", want: []string{}},
		{name: "RED filter hides it from others", user: "cert-uk", query: "tlp=red", want: []string{}},
		{name: "author filter", user: "cert-uk", query: "author=cert-be", want: []string{}},
		{name: "author and type filters", user: "cert-uk", query: "author=cert-fr&type=location", want: []string{ukraine}},
		{name: "workspace filter", user: "cert-uk", query: "q=APT28&workspace=community", wantIn: []string{apt28}},
		{name: "bad syntax is a message", user: "cert-uk", query: "q=" + url.QueryEscape(`"open`), want: nil, wantText: `role="alert"`},
		{name: "filter with a space is a message", user: "cert-uk", query: "label=a+b", want: nil, wantText: "one word"},
	}
	browsers := map[string]*browser{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := browsers[tc.user]
			if b == nil {
				b = h.browser(t)
				b.login(t, h.users[tc.user])
				browsers[tc.user] = b
			}
			r := b.get(t, "/search?"+tc.query)
			if r.code != 200 {
				t.Fatalf("status %d", r.code)
			}
			got := resultIDs(r.body)
			if tc.want != nil && strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("results %v, want %v", got, tc.want)
			}
			for _, id := range tc.wantIn {
				if !slices.Contains(got, id) {
					t.Errorf("results %v lack %s", got, id)
				}
			}
			if tc.wantText != "" && !strings.Contains(r.body, tc.wantText) {
				t.Errorf("page lacks %q:\n%s", tc.wantText, r.body)
			}
		})
	}
	// The group called Fancy Bear ranks first.
	b := browsers["cert-uk"]
	if got := resultIDs(b.get(t, "/search?q=Fancy+Bear").body); len(got) == 0 || got[0] != apt28 {
		t.Errorf("Fancy Bear: first result %v, want %s", got, apt28)
	}
}

func TestSearchSortAndPages(t *testing.T) {
	h := newTestHub(t)
	var notes []map[string]any
	for i := range 30 {
		notes = append(notes, note(i+1, fmt.Sprintf("pagination marker %d", i+1), ""))
	}
	for _, n := range notes {
		h.ingest(t, "cert-fr", bundleOf(n)) // one by one: each its own Seq, in order
	}
	b := h.browser(t)
	b.login(t, h.users["cert-uk"])
	id := func(i int) string { return fmt.Sprintf("note--00000000-0000-4000-8000-%012d", i) }

	first := b.get(t, "/search?q=pagination&sort=newest")
	got := resultIDs(first.body)
	if len(got) != perPage || got[0] != id(30) || got[perPage-1] != id(30-perPage+1) {
		t.Fatalf("newest, page 1: %d results from %v, want %d from %s", len(got), got[:min(1, len(got))], perPage, id(30))
	}
	if !strings.Contains(first.body, `href="/search?page=2&amp;q=pagination&amp;sort=newest" rel="next"`) {
		t.Errorf("page 1 has no link to page 2:\n%s", first.body)
	}
	second := resultIDs(b.get(t, "/search?page=2&q=pagination&sort=newest").body)
	if len(second) != 5 || second[4] != id(1) {
		t.Errorf("newest, page 2: %v, want the 5 oldest ending with %s", second, id(1))
	}
	oldest := resultIDs(b.get(t, "/search?q=pagination&sort=oldest").body)
	if len(oldest) == 0 || oldest[0] != id(1) {
		t.Errorf("oldest first: %v, want %s first", oldest, id(1))
	}
	// A page past the end shows the last page.
	if got := resultIDs(b.get(t, "/search?page=9&q=pagination&sort=newest").body); len(got) != 5 {
		t.Errorf("page 9 of 2: %d results, want the last page's 5", len(got))
	}
}

func TestSavedSearches(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) { testSavedSearches(t, newTestHubOn(t, backend)) })
	}
}

func testSavedSearches(t *testing.T, h *testHub) {
	h.ingest(t, "cert-fr", file(t, "apt28.json"))
	fr := h.browser(t)
	fr.login(t, h.users["cert-fr"])
	page := fr.get(t, "/search?q=APT28&type=intrusion-set")
	token := csrfOf(t, page.body)
	query := "q=APT28&type=intrusion-set"

	if r := fr.post(t, "/search/saved", url.Values{"name": {"Fancy things"}, "query": {query}}); r.code != http.StatusForbidden {
		t.Errorf("save without CSRF token = %d, want 403", r.code)
	}
	r := fr.post(t, "/search/saved", url.Values{"csrf": {token}, "name": {"Fancy <b>things</b>"}, "query": {query}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("save = %d:\n%s", r.code, r.body)
	}
	list := fr.get(t, "/search").body
	if !strings.Contains(list, `<a href="/search?q=APT28&amp;type=intrusion-set">Fancy &lt;b&gt;things&lt;/b&gt;</a>`) {
		t.Fatalf("saved search not listed:\n%s", list)
	}
	// Kept sealed in cert-fr's private workspace, TLP:RED, authored by cert-fr.
	objs, err := h.kb.List(context.Background(), hub.Filter{Viewer: hub.Viewer{System: true}, Types: []string{savedSearchType}})
	if err != nil || len(objs) != 1 {
		t.Fatalf("saved search objects: %d, %v", len(objs), err)
	}
	if o := objs[0]; o.Workspace != "cert-fr" || o.Author != "cert-fr" || o.TLP != hub.TLPRed || len(o.Recipients) != 0 {
		t.Errorf("saved search stored in %s by %s as %s to %v, want cert-fr's private workspace, RED, no recipients", o.Workspace, o.Author, o.TLP, o.Recipients)
	}
	// Another user, of the same organisation or another, does not see it.
	for _, other := range []string{"admin:cert-fr", "cert-be"} {
		b := h.browser(t)
		b.login(t, h.users[other])
		if body := b.get(t, "/search").body; strings.Contains(body, "Fancy &lt;b&gt;") {
			t.Errorf("%s sees cert-fr-analyst's saved search", other)
		}
	}
	id := objs[0].ID
	if r := fr.post(t, "/search/saved/"+id+"/delete", url.Values{"csrf": {token}}); r.code != http.StatusSeeOther {
		t.Fatalf("delete = %d", r.code)
	}
	if body := fr.get(t, "/search").body; strings.Contains(body, "Fancy &lt;b&gt;") {
		t.Error("deleted saved search still listed")
	}
	if r := fr.post(t, "/search/saved/"+id+"/delete", url.Values{"csrf": {token}}); r.code != http.StatusNotFound {
		t.Errorf("deleting it again = %d, want 404", r.code)
	}
}

func TestObjectPageRelations(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) { testObjectPageRelations(t, newTestHubOn(t, backend)) })
	}
}

func testObjectPageRelations(t *testing.T, h *testHub) {
	h.ingest(t, "cert-fr", file(t, "apt28.json"))
	// A second version of APT28 with a new description and alias.
	var bundle struct {
		Objects []map[string]any `json:"objects"`
	}
	if err := json.Unmarshal(file(t, "apt28.json"), &bundle); err != nil {
		t.Fatal(err)
	}
	v2 := bundle.Objects[0]
	v2["modified"] = "2026-11-02T10:00:00.000Z"
	v2["description"] = "Threat group attributed to Russia's GRU unit 26165."
	v2["aliases"] = []string{"Fancy Bear", "Sofacy", "Forest Blizzard"}
	h.ingest(t, "cert-fr", bundleOf(v2))
	// A RED sighting of the relay for cert-be only.
	redSighting := map[string]any{"type": "sighting", "spec_version": "2.1", "id": "sighting--7b2a3f10-8c4e-4a8e-9a51-0d6d2f7c1a0b",
		"created": "2026-11-01T10:00:00.000Z", "modified": "2026-11-01T10:00:00.000Z", "sighting_of_ref": relayInd, "count": 99,
		"object_marking_refs": []string{"marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"}}
	h.ingest(t, "cert-fr", bundleOf(redSighting), "cert-be")

	uk := h.browser(t)
	uk.login(t, h.users["cert-uk"])
	be := h.browser(t)
	be.login(t, h.users["cert-be"])
	cases := []struct {
		name     string
		b        *browser
		path     string
		want     []string
		wantNot  []string
		wantCode int
	}{
		{"graph links the neighbours", uk, "/objects/" + apt28, []string{
			`<svg viewBox="0 0 960 480" role="img"`, `<a href="/objects/` + xagent + `" class="node node-malware">`,
			`<a href="/objects/` + ukraine + `" class="node node-location">`, `uses →`, `← indicates`,
		}, nil, 200},
		{"relationship table", uk, "/objects/" + apt28, []string{
			`<caption>3 relationships</caption>`, `>X-Agent</a>`, `>Ukraine</a>`, `>← indicates (to this object)</a>`,
		}, nil, 200},
		{"notes referring", uk, "/objects/" + apt28, []string{`<a href="/objects/` + relayNote + `">note: Relay reused</a>`}, nil, 200},
		{"versions and diff", uk, "/objects/" + apt28, []string{
			`<caption>Changes from the previous version</caption>`, `<th scope="row"><code>aliases</code></th>`,
			`Forest Blizzard`, `<th scope="row"><code>modified</code></th>`, `?version=2026-11-01T10%3a00%3a00Z"`,
		}, []string{`<code>name</code>`, "This is an earlier version"}, 200},
		{"an earlier version", uk, "/objects/" + apt28 + "?version=2026-11-01T10:00:00Z", []string{"This is an earlier version", "Russia&#39;s GRU."}, []string{"26165"}, 200},
		{"a bad version", uk, "/objects/" + apt28 + "?version=yesterday", []string{"is not an RFC 3339 time"}, nil, 400},
		{"sightings, the anonymous one without its author", uk, "/objects/" + relayInd, []string{
			`<td class="num">4</td>`, `>false positive</a>`, `<span class="muted">anonymous</span>`, `<td>cert-fr</td>`,
		}, []string{`<td class="num">99</td>`}, 200},
		{"a RED sighting for its recipient", be, "/objects/" + relayInd, []string{`<td class="num">99</td>`}, nil, 200},
		{"TLP banner in the page", uk, "/objects/" + relayInd, []string{`class="tlp-banner tlp-amber"`}, nil, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.b.get(t, tc.path)
			if r.code != tc.wantCode {
				t.Fatalf("status %d, want %d", r.code, tc.wantCode)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.body, w) {
					t.Errorf("page lacks %s:\n%s", w, r.body)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(r.body, w) {
					t.Errorf("page holds %s", w)
				}
			}
		})
	}
}

// TestStartFollowsTheBus checks that objects ingested after Start reach the index of back
// references through the bus, without the test fixture's direct sync.
func TestStartFollowsTheBus(t *testing.T) {
	h := newTestHub(t)
	if _, err := h.kb.Ingest(context.Background(), kb.Submission{Org: "cert-fr", Workspace: "community"}, strings.NewReader(string(file(t, "apt28.json")))); err != nil {
		t.Fatal(err)
	}
	v := hub.Viewer{Org: "cert-uk", Workspaces: []string{"community"}}
	// The bus delivers asynchronously: wait for the relationship to arrive, as a page would.
	deadline := time.Now().Add(30 * time.Second)
	for {
		refs, ready := h.web.refs.to(v, xagent)
		if !ready {
			t.Fatal("index not ready after Start")
		}
		if len(refs) == 1 && refs[0].relType == "uses" && refs[0].other == apt28 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("references to X-Agent after 30 s: %+v", refs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A viewer without the workspace sees none of them.
	if refs, _ := h.web.refs.to(hub.Viewer{Org: "cert-uk"}, xagent); len(refs) != 0 {
		t.Errorf("a viewer without workspaces sees %d references", len(refs))
	}
}

func TestIngestPage(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) { testIngestPage(t, newTestHubOn(t, backend)) })
	}
}

func testIngestPage(t *testing.T, h *testHub) {
	b := h.browser(t)
	b.login(t, h.users["cert-fr"])
	form := b.get(t, "/ingest")
	token := csrfOf(t, form.body)
	for _, want := range []string{`<label for="text">`, `<label for="file">`, `<label for="workspace">`, `<option selected>community</option>`, `<label for="r-cert-be" class="inline-label">CERT.be (Belgium)</label>`} {
		if !strings.Contains(form.body, want) {
			t.Errorf("ingest form lacks %s", want)
		}
	}
	post := func(v url.Values) response {
		v.Set("csrf", token)
		return b.post(t, "/ingest", v)
	}
	text := "APT28 used the relay 198.51.100.23 and the domain relay-mail.example.org against Ukraine."
	domain := gather.CandidateID(extract.Entity{Kind: extract.KindDomain, Value: "relay-mail.example.org"})
	ip := gather.CandidateID(extract.Entity{Kind: extract.KindIPv4, Value: "198.51.100.23"})

	// Preview: every entity offered, nothing stored.
	r := post(url.Values{"text": {text}, "workspace": {"community"}, "action": {"preview"}})
	if r.code != 200 || !strings.Contains(r.body, `name="accept" value="`+domain+`"`) {
		t.Fatalf("preview = %d, lacks the domain:\n%s", r.code, r.body)
	}
	if objs, _ := h.kb.List(context.Background(), hub.Filter{Viewer: hub.Viewer{System: true}}); len(objs) != 0 {
		t.Fatalf("preview stored %d objects", len(objs))
	}
	// Save with the domain dropped: the report links the rest only.
	r = post(url.Values{"text": {text}, "workspace": {"community"}, "reviewed": {"1"}, "accept": {ip}, "action": {"save"}})
	if r.code != 200 || !strings.Contains(r.body, `id="summary-title">Saved:`) {
		t.Fatalf("save = %d:\n%s", r.code, r.body)
	}
	if strings.Contains(r.body, "domain-name--") || !strings.Contains(r.body, "report--") {
		t.Errorf("saved ids hold a domain or lack the report:\n%s", r.body)
	}

	// A STIX bundle pasted as RED for cert-be is stored so, and its summary links the objects.
	r = post(url.Values{"text": {string(file(t, "apt28.json"))}, "workspace": {"community"}, "tlp": {"red"}, "recipients": {"cert-be"}, "action": {"save"}})
	if !strings.Contains(r.body, `<a href="/objects/`+apt28+`">`) {
		t.Fatalf("bundle summary lacks APT28:\n%s", r.body)
	}
	o, err := h.kb.Get(context.Background(), hub.Viewer{System: true}, apt28, time.Time{})
	if err != nil || o.TLP != hub.TLPRed || strings.Join(o.Recipients, ",") != "cert-be" {
		t.Errorf("APT28 stored as %v to %v (%v), want RED to cert-be", o.TLP, o.Recipients, err)
	}

	// Refusals: the form again with a message, or 403 without the token.
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"no text", url.Values{"workspace": {"community"}, "action": {"save"}}, "Paste a report or choose a file."},
		{"a workspace of others", url.Values{"text": {text}, "workspace": {"cert-be"}, "action": {"save"}}, "Choose a workspace your organisation is a member of."},
		{"a TLP that is none", url.Values{"text": {text}, "workspace": {"community"}, "tlp": {"purple"}, "action": {"save"}}, "Choose a TLP level from the list."},
	} {
		if r := post(tc.form); r.code != http.StatusBadRequest || alertOf(r.body) != tc.want {
			t.Errorf("%s: %d %q, want 400 %q", tc.name, r.code, alertOf(r.body), tc.want)
		}
	}
	if r := b.post(t, "/ingest", url.Values{"text": {text}, "workspace": {"community"}}); r.code != http.StatusForbidden {
		t.Errorf("ingest without CSRF token = %d, want 403", r.code)
	}

	// A reader may not share: the form says so and a post is refused.
	pw := "reader " + strings.Repeat("pass", 4) + " 9!"
	cu, err := h.admin.CreateUser(context.Background(), api.LocalOperator("test"), api.NewUser{Org: "cert-fr", Username: "cert-fr-reader", Role: hub.RoleReader, Password: pw, TOTP: true})
	if err != nil {
		t.Fatal(err)
	}
	rb := h.browser(t)
	rb.login(t, testUser{id: cu.User.ID, org: "cert-fr", username: cu.User.Username, password: pw, secret: cu.TOTPSecret, role: hub.RoleReader})
	rform := rb.get(t, "/ingest")
	if !strings.Contains(rform.body, "Your role reads only") {
		t.Error("the ingest form does not tell a reader they may not share")
	}
	r = rb.post(t, "/ingest", url.Values{"csrf": {csrfOf(t, rform.body)}, "text": {text}, "workspace": {"community"}, "action": {"save"}})
	if r.code != http.StatusForbidden {
		t.Errorf("a reader's ingest = %d, want 403", r.code)
	}
}

func TestIngestUpload(t *testing.T) {
	h := newTestHub(t)
	b := h.browser(t)
	b.login(t, h.users["cert-fr"])
	token := csrfOf(t, b.get(t, "/ingest").body)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range map[string]string{"csrf": token, "workspace": "community", "action": "save"} {
		mw.WriteField(k, v)
	}
	fw, err := mw.CreateFormFile("file", "scenario.json")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(file(t, "scenario.json"))
	mw.Close()
	req, err := http.NewRequest("POST", h.srv.URL+"/ingest", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", h.srv.URL)
	r := b.do(t, req)
	if r.code != 200 || !strings.Contains(r.body, `id="summary-title">Saved: 8 new objects, 0 already held, 0 rejected`) {
		t.Fatalf("upload = %d:\n%s", r.code, r.body)
	}
}

func TestAdminPages(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) { testAdminPages(t, newTestHubOn(t, backend)) })
	}
}

func testAdminPages(t *testing.T, h *testHub) {
	op := h.browser(t)
	op.login(t, h.users["operator"])
	adm := h.browser(t)
	adm.login(t, h.users["admin:cert-fr"])
	an := h.browser(t)
	an.login(t, h.users["cert-uk"])
	tokens := map[*browser]string{}
	for _, b := range []*browser{op, adm, an} {
		tokens[b] = csrfOf(t, b.get(t, "/admin/orgs").body)
	}
	post := func(b *browser, path string, v url.Values) response {
		v.Set("csrf", tokens[b])
		return b.post(t, path, v)
	}

	pages := []struct {
		name      string
		b         *browser
		path      string
		want, not []string
	}{
		{"orgs for an analyst", an, "/admin/orgs", []string{"<td>cert-be</td>", "CERT.be (Belgium)"}, []string{"New organisation", "Deactivate"}},
		{"orgs for the operator", op, "/admin/orgs", []string{"New organisation", "Deactivate cert-be"}, nil},
		{"users for an org admin", adm, "/admin/users", []string{"<td>cert-fr-analyst</td>", "New user"}, []string{"cert-be-analyst"}},
		{"users for an analyst", an, "/admin/users", []string{"Only organisation admins"}, []string{"<td>cert-uk-analyst</td>"}},
		{"workspaces of an org admin", adm, "/admin/workspaces", []string{"<td>community</td>", "<td>cert-fr</td>"}, []string{"<td>cert-be</td><td>CERT.be"}},
		{"keyring for the operator", op, "/admin/keys", []string{`id="ring-title"`, "encrypts"}, nil},
		{"no keyring for an admin", adm, "/admin/keys", nil, []string{`id="ring-title"`}},
		{"audit for an analyst", an, "/admin/audit", []string{"the audit log is for organisation admins"}, []string{"Verify the whole chain"}},
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			r := p.b.get(t, p.path)
			for _, w := range p.want {
				if !strings.Contains(r.body, w) {
					t.Errorf("page lacks %s:\n%s", w, r.body)
				}
			}
			for _, w := range p.not {
				if strings.Contains(r.body, w) {
					t.Errorf("page holds %s", w)
				}
			}
		})
	}

	// An API key: its secret shown once, then listed by id only, then revoked.
	r := post(an, "/admin/keys", url.Values{"scope": {"read"}})
	m := regexp.MustCompile(`<code class="secret-value">([^<]+)</code>`).FindStringSubmatch(r.body)
	if r.code != 200 || m == nil {
		t.Fatalf("create key = %d, no secret shown:\n%s", r.code, r.body)
	}
	secret := m[1]
	if p, err := h.web.auth.APIKey(context.Background(), secret); err != nil || p.Org != "cert-uk" || p.Scope != hub.ScopeRead {
		t.Errorf("the shown secret authenticates as %+v, %v; want a cert-uk read key", p, err)
	}
	list := an.get(t, "/admin/keys").body
	if strings.Contains(list, secret) {
		t.Error("the key's secret is shown again")
	}
	keys, err := h.admin.APIKeys(context.Background(), api.LocalOperator("test"), "cert-uk", 0)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys of cert-uk: %v, %v", keys, err)
	}
	if r := post(adm, "/admin/keys/"+keys[0].ID+"/revoke", url.Values{}); r.code != http.StatusNotFound && r.code != http.StatusForbidden {
		t.Errorf("cert-fr's admin revoking cert-uk's key = %d, want refused", r.code)
	}
	if r := post(an, "/admin/keys/"+keys[0].ID+"/revoke", url.Values{}); r.code != 200 || !strings.Contains(r.body, "revoked.") {
		t.Errorf("revoke own key = %d:\n%s", r.code, r.body)
	}
	if _, err := h.web.auth.APIKey(context.Background(), secret); err == nil {
		t.Error("a revoked key still authenticates")
	}

	// A user made by the org admin: password and TOTP shown once.
	r = post(adm, "/admin/users", url.Values{"username": {"cert-fr-reader"}, "role": {"reader"}})
	if r.code != 200 || !strings.Contains(r.body, "Password of cert-fr-reader: shown this once") || !strings.Contains(r.body, "otpauth://") {
		t.Errorf("create user = %d:\n%s", r.code, r.body)
	}
	// Refused changes say why and change nothing.
	if r := post(adm, "/admin/orgs", url.Values{"code": {"cert-xx"}, "name": {"X"}}); r.code != http.StatusForbidden || !strings.Contains(r.body, "only the hub operator") {
		t.Errorf("an admin creating an org = %d %q", r.code, alertOf(r.body))
	}
	if r := post(op, "/admin/workspaces/community/members", url.Values{"org": {"hub-operator"}}); r.code != 200 || !strings.Contains(r.body, "hub-operator added to community.") {
		t.Errorf("operator adding a member = %d %q", r.code, alertOf(r.body))
	}
	if r := an.post(t, "/admin/keys", url.Values{"scope": {"read"}}); r.code != http.StatusForbidden {
		t.Errorf("create key without CSRF token = %d, want 403", r.code)
	}

	// The audit log lists the changes and verifies.
	audit := op.get(t, "/admin/audit").body
	if !strings.Contains(audit, "<td>apikey.revoke</td>") {
		t.Errorf("audit page lacks the revocation:\n%s", audit)
	}
	// Newest first; an org admin sees their organisation's entries only.
	seqs := regexp.MustCompile(`<tr><td class="num">(\d+)</td>`).FindAllStringSubmatch(audit, -1)
	for i := 1; i < len(seqs); i++ {
		if a, b := atoi(t, seqs[i-1][1]), atoi(t, seqs[i][1]); a <= b {
			t.Errorf("audit entry %d listed before %d: want newest first", a, b)
		}
	}
	if len(seqs) < 5 {
		t.Errorf("operator's audit page lists %d entries, want the changes made here", len(seqs))
	}
	own := adm.get(t, "/admin/audit").body
	if !strings.Contains(own, "<td>user.create</td>") || strings.Contains(own, "<td>apikey.create</td>") {
		t.Errorf("cert-fr's admin sees the wrong entries:\n%s", own)
	}
	r = post(op, "/admin/audit/verify", url.Values{})
	if r.code != 200 || !strings.Contains(r.body, "The audit log is intact:") {
		t.Errorf("verify = %d:\n%s", r.code, r.body)
	}
	if r := post(adm, "/admin/audit/verify", url.Values{}); r.code != http.StatusForbidden {
		t.Errorf("an org admin verifying = %d, want 403", r.code)
	}
}

func TestDashboardStats(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) { testDashboardStats(t, newTestHubOn(t, backend)) })
	}
}

func testDashboardStats(t *testing.T, h *testHub) {
	h.ingest(t, "cert-fr", file(t, "apt28.json"))
	h.ingest(t, "cert-fr", file(t, "red-finding.json"), "cert-be")
	cases := []struct {
		org       string
		want, not []string
	}{
		{"cert-uk", []string{
			`<title id="timeline-desc">10 new objects in 30 days`, `>Ukraine</a> <span class="muted">(UA)</span></td><td class="num">1</td>`,
			`>APT28</a></td><td class="num">4</td>`, `>APT28 mail relay 203.0.113.77</a></td><td class="num">2</td>`,
			`id="cases-title"`,
			`class="tile l1"><title>Ukraine: targeted by 1</title></rect>`, // the map
		}, []string{`class="fill-red"`}},
		{"cert-be", []string{`<title id="timeline-desc">11 new objects in 30 days`, `class="fill-red"`}, nil},
	}
	for _, tc := range cases {
		body := h.serve(t, h.web, h.users[tc.org], "/").Body.String()
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: dashboard lacks %s", tc.org, w)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(body, w) {
				t.Errorf("%s: dashboard holds %s", tc.org, w)
			}
		}
	}
}

// TestLiveStream checks that a hub with a live stream offers it to the dashboard's script at
// /live, for signed-in users only, and that an object shared after the page loaded arrives.
func TestLiveStream(t *testing.T) {
	h := newTestHub(t)
	st := stream.New(stream.Config{Bus: h.bus, KB: h.kb, Dir: h.store})
	t.Cleanup(st.Close)
	live, err := New(Config{KB: h.kb, Dir: h.store, Auth: h.web.auth, Sessions: h.sessions, Now: h.clock.Now, Stream: st})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(live)
	t.Cleanup(srv.Close)
	u := h.users["cert-uk"]
	if body := h.serve(t, live, u, "/").Body.String(); !strings.Contains(body, `<p id="live" class="live" data-src="/live" role="status" aria-live="polite" hidden></p>`) {
		t.Errorf("dashboard without the live notice:\n%s", body)
	}
	if body := h.serve(t, h.web, u, "/").Body.String(); strings.Contains(body, `id="live"`) {
		t.Error("a hub without a stream offers one")
	}
	anon, err := srv.Client().Get(srv.URL + "/live")
	if err != nil {
		t.Fatal(err)
	}
	anon.Body.Close()
	if anon.Request.URL.Path != "/login" {
		t.Errorf("GET /live without a session ended at %s, want /login", anon.Request.URL.Path)
	}

	value, err := h.sessions.Issue(auth.Principal{UserID: u.id, Username: u.username, Org: u.org, Role: u.role}, h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/live", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: auth.SessionCookieName, Value: value})
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("GET /live = %d %q, want an event stream", resp.StatusCode, ct)
	}
	h.ingest(t, "cert-fr", file(t, "apt28.json"))
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	for lines.Scan() {
		if lines.Text() == "event: object" {
			if !lines.Scan() || !strings.HasPrefix(lines.Text(), "data: ") {
				t.Fatalf("event without data: %q", lines.Text())
			}
			return
		}
	}
	t.Fatalf("the stream ended without an object event: %v", lines.Err())
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
