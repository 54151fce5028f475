package collab_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"cshub/internal/collab"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/stix"
)

// fixture is a test hub on one backend with the collaboration API mounted.
type fixture struct {
	h   *hubtest.Hub
	s   *collab.Service
	srv *hubtest.Server
}

func newFixture(t *testing.T, backend string) *fixture {
	t.Helper()
	h := hubtest.New(t, backend)
	s := collab.New(collab.Config{KB: h.KB, Dir: h.Store})
	return &fixture{h: h, s: s, srv: h.Serve(t, nil, collab.Routes{S: s})}
}

// eachBackend runs fn on every backend the machine offers.
func eachBackend(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) { fn(t, newFixture(t, backend)) })
	}
}

// workspace adds a workspace of members to f's hub.
func (f *fixture) workspace(t *testing.T, slug string, kind hub.WorkspaceKind, members ...string) {
	t.Helper()
	if err := f.h.Members.CreateWorkspace(context.Background(), &hub.Workspace{Slug: slug, Kind: kind, Members: members}); err != nil {
		t.Fatal(err)
	}
}

// call sends a request as org's write key and decodes the answer into out (when not nil),
// failing t when the status is not want.
func (f *fixture) call(t *testing.T, org, method, path string, in any, want int, out any) {
	t.Helper()
	f.callKey(t, f.h.Keys[org], method, path, in, want, out)
}

func (f *fixture) callKey(t *testing.T, key, method, path string, in any, want int, out any) {
	t.Helper()
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			t.Fatal(err)
		}
	}
	status, resp := f.srv.Do(t, key, method, path, body)
	if status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, resp)
	}
	if out != nil {
		if err := json.Unmarshal(resp, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, resp)
		}
	}
}

// apiError is the API's error body.
type apiError struct {
	Error struct{ Code, Field, Message string }
}

var markings = map[hub.TLP]string{hub.TLPGreen: stix.TLP2Green, hub.TLPAmber: stix.TLP2Amber, hub.TLPRed: stix.TLP2Red}

// indicator is a STIX indicator numbered n for a domain, marked tlp.
func indicator(n int, domain string, tlp hub.TLP) map[string]any {
	return map[string]any{
		"type": "indicator", "spec_version": "2.1", "id": fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", n),
		"created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "name": "Phishing domain " + domain,
		"pattern": "[domain-name:value = '" + domain + "']", "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
		"object_marking_refs": []string{markings[tlp]},
	}
}

// ingest stores objs as org in ws, with recipients for RED ones, and returns their ids.
func (f *fixture) ingest(t *testing.T, org, ws string, recipients []string, objs ...map[string]any) []string {
	t.Helper()
	sum := f.h.Ingest(t, org, ws, mustBundle(t, objs...), recipients...)
	if len(sum.Rejected) > 0 {
		t.Fatalf("rejected: %+v", sum.Rejected)
	}
	var ids []string
	for _, o := range objs {
		ids = append(ids, o["id"].(string))
	}
	return ids
}

// mustBundle returns objs as a STIX bundle.
func mustBundle(tb testing.TB, objs ...map[string]any) []byte {
	tb.Helper()
	b, err := json.Marshal(map[string]any{"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000001", "objects": objs})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestSightings(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ind := f.ingest(t, "cert-fr", hubtest.Community, nil, indicator(1, "senate.example", hub.TLPGreen))[0]
		var anon collab.Sighting
		f.call(t, "cert-be", "POST", "/api/v1/sightings", map[string]any{"sighting_of_ref": ind, "count": 3, "x_cshub_anonymous": true,
			"first_seen": "2026-02-01T10:00:00Z", "last_seen": "2026-02-02T10:00:00Z"}, http.StatusCreated, &anon)
		f.call(t, "cert-uk", "POST", "/api/v1/sightings", map[string]any{"sighting_of_ref": ind, "count": 2,
			"last_seen": "2026-02-01T10:00:00Z"}, http.StatusCreated, nil)
		f.call(t, "cert-uk", "POST", "/api/v1/sightings", map[string]any{"sighting_of_ref": ind, "x_cshub_false_positive": true, "tlp": "amber",
			"last_seen": "2026-02-03T10:00:00Z"}, http.StatusCreated, nil)

		for _, tc := range []struct {
			org      string
			beShows  string
			ownCount int
		}{
			{"cert-fr", collab.AnonymousOrg, 0},
			{"cert-uk", collab.AnonymousOrg, 3},
			{"cert-be", "cert-be", 1},
		} {
			var got collab.Sightings
			f.call(t, tc.org, "GET", "/api/v1/sightings?object="+ind, nil, http.StatusOK, &got)
			if got.Count != 6 || got.CountByTLP[hub.TLPGreen] != 5 || got.CountByTLP[hub.TLPAmber] != 1 || got.FalsePositives != 1 {
				t.Errorf("%s: count %d by TLP %v, false positives %d; want 6, green 5 amber 1, 1", tc.org, got.Count, got.CountByTLP, got.FalsePositives)
			}
			// cert-be confirmed; cert-uk's latest is a false positive: 50 + 10 - 25.
			if got.Score == nil || *got.Score != (collab.Score{Value: 35, Confirmed: 1, FalsePositives: 1}) {
				t.Errorf("%s: score %+v, want 35 from 1 confirmed and 1 false positive", tc.org, got.Score)
			}
			for _, sg := range got.Sightings {
				if sg.ID == anon.ID && sg.Org != tc.beShows {
					t.Errorf("%s sees the anonymous sighting's org as %q, want %q", tc.org, sg.Org, tc.beShows)
				}
				if sg.ID != anon.ID && sg.Org != "cert-uk" {
					t.Errorf("%s sees cert-uk's sighting as %q", tc.org, sg.Org)
				}
			}
		}

		// The anonymous sighting read as a plain object names nobody in its body.
		status, body := f.srv.Do(t, f.h.Keys["cert-fr"], "GET", "/api/v1/objects/"+anon.ID, nil)
		if status != http.StatusOK {
			t.Fatalf("GET object: %d %s", status, body)
		}
		if bytes.Contains(body, []byte("cert-be")) || bytes.Contains(body, []byte("created_by_ref")) || !bytes.Contains(body, []byte(`"x_cshub_anonymous":true`)) {
			t.Errorf("anonymous sighting body names its author or lost its flag: %s", body)
		}
	})
}

func TestScore(t *testing.T) {
	for _, tc := range []struct {
		confirmed, fps, want int
	}{
		{0, 0, 50}, {1, 0, 60}, {5, 0, 100}, {9, 0, 100}, {0, 1, 25}, {0, 2, 0}, {0, 5, 0}, {3, 1, 55},
	} {
		if got := collab.ScoreOf(tc.confirmed, tc.fps).Value; got != tc.want {
			t.Errorf("score(%d confirmed, %d false positives) = %d, want %d", tc.confirmed, tc.fps, got, tc.want)
		}
	}
}

func TestSightingAccess(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.workspace(t, "bilateral", hub.WorkspaceGroup, "cert-fr", "cert-be")
		red := f.ingest(t, "cert-fr", hubtest.Community, []string{"cert-be"}, indicator(2, "red.example", hub.TLPRed))[0]
		bil := f.ingest(t, "cert-fr", "bilateral", nil, indicator(3, "bilateral.example", hub.TLPGreen))[0]
		for _, tc := range []struct {
			name, org string
			in        map[string]any
			status    int
			field     string
		}{
			{"RED not addressed", "cert-uk", map[string]any{"sighting_of_ref": red}, http.StatusNotFound, "sighting_of_ref"},
			{"other workspace", "cert-uk", map[string]any{"sighting_of_ref": bil}, http.StatusNotFound, "sighting_of_ref"},
			{"no such object", "cert-fr", map[string]any{"sighting_of_ref": "indicator--00000000-0000-4000-8000-999999999999"}, http.StatusNotFound, "sighting_of_ref"},
			{"negative count", "cert-be", map[string]any{"sighting_of_ref": red, "count": -1}, http.StatusBadRequest, "count"},
			{"last before first", "cert-be", map[string]any{"sighting_of_ref": red, "first_seen": "2026-02-02T00:00:00Z", "last_seen": "2026-02-01T00:00:00Z"}, http.StatusBadRequest, "last_seen"},
			{"bad time", "cert-be", map[string]any{"sighting_of_ref": red, "first_seen": "yesterday"}, http.StatusBadRequest, "first_seen"},
			{"bad where", "cert-be", map[string]any{"sighting_of_ref": red, "where_sighted_refs": []string{"malware--00000000-0000-4000-8000-000000000001"}}, http.StatusBadRequest, "where_sighted_refs"},
			{"unknown field", "cert-be", map[string]any{"sighting_of_ref": red, "org": "cert-uk"}, http.StatusBadRequest, "org"},
			{"wrong type", "cert-be", map[string]any{"sighting_of_ref": red, "count": "many"}, http.StatusBadRequest, "count"},
			{"bad tlp", "cert-be", map[string]any{"sighting_of_ref": red, "tlp": "purple"}, http.StatusBadRequest, "tlp"},
		} {
			var e apiError
			f.call(t, tc.org, "POST", "/api/v1/sightings", tc.in, tc.status, &e)
			if e.Error.Field != tc.field {
				t.Errorf("%s: field %q, want %q (%s)", tc.name, e.Error.Field, tc.field, e.Error.Message)
			}
		}
		// A sighting of a RED indicator is RED, addressed to those who may see the indicator.
		var sg collab.Sighting
		f.call(t, "cert-be", "POST", "/api/v1/sightings", map[string]any{"sighting_of_ref": red, "tlp": "green"}, http.StatusCreated, &sg)
		if sg.TLP != hub.TLPRed {
			t.Errorf("sighting of a RED indicator is %s", sg.TLP)
		}
		var got collab.Sightings
		f.call(t, "cert-fr", "GET", "/api/v1/sightings?object="+red, nil, http.StatusOK, &got)
		if len(got.Sightings) != 1 || got.Sightings[0].Org != "cert-be" {
			t.Errorf("the indicator's author sees %+v", got.Sightings)
		}
		f.call(t, "cert-uk", "GET", "/api/v1/sightings?object="+red, nil, http.StatusNotFound, nil)
		f.call(t, "cert-uk", "GET", "/api/v1/objects/"+sg.ID, nil, http.StatusNotFound, nil)
		// A read key may not record.
		f.callKey(t, f.h.Keys["cert-be:read"], "POST", "/api/v1/sightings", map[string]any{"sighting_of_ref": red}, http.StatusForbidden, nil)
	})
}

func TestNotes(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ind := f.ingest(t, "cert-fr", hubtest.Community, nil, indicator(1, "senate.example", hub.TLPGreen))[0]
		red := f.ingest(t, "cert-fr", hubtest.Community, []string{"cert-be"}, indicator(2, "red.example", hub.TLPRed))[0]

		var root, reply, nested collab.Note
		f.call(t, "cert-fr", "POST", "/api/v1/notes", map[string]any{"object_refs": []string{ind}, "content": "Seen in our sector; @cert-uk and @cert-be, anything on your side? @cert-nowhere"}, http.StatusCreated, &root)
		if !slices.Equal(root.Mentions, []string{"cert-uk", "cert-be"}) {
			t.Errorf("mentions %v, want cert-uk and cert-be (an unknown code is dropped)", root.Mentions)
		}
		f.call(t, "cert-uk", "POST", "/api/v1/notes", map[string]any{"in_reply_to": root.ID, "content": "Nothing here."}, http.StatusCreated, &reply)
		f.call(t, "cert-be", "POST", "/api/v1/notes", map[string]any{"in_reply_to": reply.ID, "content": "Same, @cert-fr."}, http.StatusCreated, &nested)

		var thread []*collab.Note
		f.call(t, "cert-be", "GET", "/api/v1/notes?object="+ind, nil, http.StatusOK, &thread)
		if len(thread) != 1 || thread[0].ID != root.ID || len(thread[0].Replies) != 1 || thread[0].Replies[0].ID != reply.ID ||
			len(thread[0].Replies[0].Replies) != 1 || thread[0].Replies[0].Replies[0].ID != nested.ID {
			t.Fatalf("thread is not root → reply → nested: %s", mustJSON(thread))
		}
		for org, want := range map[string][]string{"cert-uk": {root.ID}, "cert-be": {root.ID}, "cert-fr": {nested.ID}} {
			var got []*collab.Note
			f.call(t, org, "GET", "/api/v1/notes?mentions=me", nil, http.StatusOK, &got)
			var ids []string
			for _, n := range got {
				ids = append(ids, n.ID)
			}
			if !slices.Equal(ids, want) {
				t.Errorf("%s is mentioned in %v, want %v", org, ids, want)
			}
		}

		// A note on a RED object is RED; mentioning an organisation that may not read it does
		// not tell that organisation anything.
		var secret collab.Note
		f.call(t, "cert-be", "POST", "/api/v1/notes", map[string]any{"object_refs": []string{red}, "content": "@cert-uk should not hear of this; @cert-fr should"}, http.StatusCreated, &secret)
		if secret.TLP != hub.TLPRed || !slices.Equal(secret.Mentions, []string{"cert-fr"}) {
			t.Errorf("note on RED: TLP %s, mentions %v; want RED, cert-fr", secret.TLP, secret.Mentions)
		}
		var ukMentions []*collab.Note
		f.call(t, "cert-uk", "GET", "/api/v1/notes?mentions=me", nil, http.StatusOK, &ukMentions)
		if len(ukMentions) != 1 {
			t.Errorf("cert-uk is told of %d notes, want only the first", len(ukMentions))
		}
		f.call(t, "cert-uk", "GET", "/api/v1/notes?object="+red, nil, http.StatusNotFound, nil)
		f.call(t, "cert-uk", "POST", "/api/v1/notes", map[string]any{"in_reply_to": secret.ID, "content": "guess"}, http.StatusNotFound, nil)

		for _, tc := range []struct {
			in    map[string]any
			field string
		}{
			{map[string]any{"object_refs": []string{ind}}, "content"},
			{map[string]any{"content": "about nothing"}, "object_refs"},
			{map[string]any{"content": "x", "object_refs": []string{"not-an-id"}}, "object_refs"},
			{map[string]any{"content": "x", "in_reply_to": ind}, "in_reply_to"},
			{map[string]any{"content": strings.Repeat("x", 70<<10), "object_refs": []string{ind}}, "content"},
		} {
			var e apiError
			f.call(t, "cert-fr", "POST", "/api/v1/notes", tc.in, http.StatusBadRequest, &e)
			if e.Error.Field != tc.field {
				t.Errorf("%v: field %q, want %q", tc.in, e.Error.Field, tc.field)
			}
		}
	})
}

func TestParseMentions(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"@cert-fr please", []string{"cert-fr"}},
		{"ask @cert-fr, @cert-uk and @cert-fr again.", []string{"cert-fr", "cert-uk"}},
		{"mail soc@cert-fr.example", nil},
		{"@cert-be- and @-x and @ alone", []string{"cert-be"}},
		{"(@cert-nl)", []string{"cert-nl"}},
		{"@CERT-FR upper case is not a code", nil},
		{"", nil},
	} {
		if got := collab.ParseMentions(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("ParseMentions(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// waitFor polls cond until it holds or a few seconds pass: events cross goroutines.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
