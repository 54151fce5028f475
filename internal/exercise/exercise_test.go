package exercise

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cshub/internal/hub"
	"cshub/internal/hubtest"
)

// fakeClock is the exercise clock of the tests: it moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const director = "hub-operator"

// world is a test hub with the demo exercise imported, played by the hub's three CERTs.
type world struct {
	h     *hubtest.Hub
	svc   *Service
	srv   *hubtest.Server
	clock *fakeClock
	dir   string // the director's API key
}

func newWorld(t *testing.T, backend string) *world {
	t.Helper()
	ctx := context.Background()
	h := hubtest.New(t, backend)
	if err := h.Members.CreateOrg(ctx, &hub.Org{Code: director, Name: "Hub operator", Country: "BE", Kind: hub.OrgOperator, Active: true}); err != nil {
		t.Fatal(err)
	}
	w := &world{h: h, clock: &fakeClock{t: time.Date(2026, 7, 16, 8, 0, 0, 0, time.UTC)}}
	w.dir = h.Key(t, h.User(t, director, "director", hub.RoleDirector), hub.ScopeWrite)
	w.svc = New(Config{KB: h.KB, Dir: h.Store, Workspaces: h.Members, Audit: h.Audit, Now: w.clock.Now})
	sc := Demo()
	sc.Teams = []Team{{ID: "blue-fr", Org: "cert-fr"}, {ID: "blue-be", Org: "cert-be"}, {ID: "blue-uk", Org: "cert-uk"}}
	if err := w.svc.Import(ctx, sc, Actor{Org: director, User: "director"}); err != nil {
		t.Fatal(err)
	}
	w.srv = h.Serve(t, nil, w.svc)
	return w
}

// do sends a request and fails the test unless the status is want; it returns the body.
func (w *world) do(t *testing.T, key, method, path, body string, want int) []byte {
	t.Helper()
	status, b := w.srv.Do(t, key, method, path, []byte(body))
	if status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, status, b, want)
	}
	return b
}

func (w *world) tick(t *testing.T) {
	t.Helper()
	if err := w.svc.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// post stores STIX objects in the team's exercise workspace through the ordinary bundle
// endpoint, as the team does during play.
func (w *world) post(t *testing.T, org, team string, objs ...string) {
	t.Helper()
	body := `{"type":"bundle","id":"bundle--` + uuid(org+team+strings.Join(objs, "")) + `","objects":[` + strings.Join(objs, ",") + `]}`
	b := w.do(t, w.h.Keys[org], "POST", "/api/v1/workspaces/"+teamWorkspace("helsinki-summit", team)+"/bundles", body, 200)
	var sum struct {
		Accepted int `json:"accepted"`
		Rejected []struct {
			Reason string `json:"reason"`
		} `json:"rejected"`
	}
	if err := json.Unmarshal(b, &sum); err != nil || len(sum.Rejected) > 0 || sum.Accepted != len(objs) {
		t.Fatalf("posting to %s: %s", team, b)
	}
}

func uuid(seed string) string { return strings.SplitN(derivedID("x", seed), "--", 2)[1] }

// sdoJSON writes a STIX domain object of type typ with extra properties.
func sdoJSON(typ, seed, extra string) string {
	return fmt.Sprintf(`{"type":%q,"spec_version":"2.1","id":"%s--%s","created":"2026-07-16T08:00:00.000Z","modified":"2026-07-16T08:00:00.000Z",%s}`, typ, typ, uuid(seed), extra)
}

func indicator(seed, name, pattern string) string {
	return sdoJSON("indicator", seed, fmt.Sprintf(`"name":%q,"pattern":%q,"pattern_type":"stix","valid_from":"2026-07-16T08:00:00Z"`, name, pattern))
}

func board(t *testing.T, b []byte) (map[string]int, bool) {
	t.Helper()
	var sb Scoreboard
	if err := json.Unmarshal(b, &sb); err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, tp := range sb.Teams {
		out[tp.Team] = tp.Total
	}
	return out, sb.Frozen
}

// TestHelsinkiEndToEnd plays the demo exercise with a fake clock on each store: injects arrive
// at their offsets, automatic tasks score when a team does the right thing in the hub, manual
// scores apply, the freeze holds while scoring goes on, the director's controls are audited,
// the after-action report is complete and the state survives a restart.
func TestHelsinkiEndToEnd(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) { playHelsinki(t, backend) })
	}
}

func playHelsinki(t *testing.T, backend string) {
	ctx := context.Background()
	w := newWorld(t, backend)
	fr, be, uk := w.h.Keys["cert-fr"], w.h.Keys["cert-be"], w.h.Keys["cert-uk"]
	const ex = "/api/v1/exercises/helsinki-summit"

	// Who sees the exercise: the teams and the director, each in their role; nobody else.
	var list struct{ Exercises []Summary }
	if err := json.Unmarshal(w.do(t, w.h.Keys["cert-fr:read"], "GET", "/api/v1/exercises", "", 200), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Exercises) != 1 || list.Exercises[0].Name != "Helsinki summit" || list.Exercises[0].Role != RoleBlueTeam || list.Exercises[0].Team != "blue-fr" || list.Exercises[0].Status != StatusReady {
		t.Fatalf("cert-fr lists %+v", list.Exercises)
	}
	if err := json.Unmarshal(w.do(t, w.dir, "GET", "/api/v1/exercises", "", 200), &list); err != nil || list.Exercises[0].Role != RoleDirector {
		t.Fatalf("director lists %+v (%v)", list.Exercises, err)
	}
	if err := w.h.Members.CreateOrg(ctx, &hub.Org{Code: "cert-nl", Name: "cert-nl", Country: "NL", Kind: hub.OrgMember, Active: true}); err != nil {
		t.Fatal(err)
	}
	outsider := w.h.Key(t, w.h.User(t, "cert-nl", "nl-analyst", hub.RoleAnalyst), hub.ScopeWrite)
	if b := w.do(t, outsider, "GET", "/api/v1/exercises", "", 200); strings.Contains(strings.ToLower(string(b)), "helsinki") {
		t.Fatalf("an organisation outside the exercise lists it: %s", b)
	}
	w.do(t, outsider, "GET", ex+"/scoreboard", "", 404)

	// Only the director controls the exercise.
	w.do(t, fr, "POST", ex+"/start", "", 403)
	w.do(t, w.dir, "POST", ex+"/pause", "", 409)
	w.do(t, w.dir, "POST", ex+"/start", "", 200)

	// At 0: the SSH wave reaches every team, with its STIX objects.
	var inj struct{ Injects []Delivery }
	if err := json.Unmarshal(w.do(t, fr, "GET", ex+"/injects", "", 200), &inj); err != nil {
		t.Fatal(err)
	}
	if len(inj.Injects) != 1 || inj.Injects[0].Inject != "ssh-wave" || len(inj.Injects[0].Refs) != 7 || len(inj.Injects[0].Objects) != 7 || !strings.Contains(fmt.Sprintf("%s", inj.Injects[0].Objects), "203.0.113.17") || !strings.Contains(inj.Injects[0].Message, "ChinaNet") {
		t.Fatalf("cert-fr received %+v", inj.Injects)
	}
	w.do(t, fr, "GET", ex+"/injects?team=blue-be", "", 404) // a team reads only its own

	// The teams work in their own workspaces; cert-fr finds and blocks both ranges, cert-be
	// only one, and cert-be cannot write into cert-fr's workspace.
	w.post(t, "cert-fr", "blue-fr",
		indicator("fr1", "Block-list: SSH brute-force source (ChinaNet)", "[ipv4-addr:value ISSUBSET '203.0.113.0/25']"),
		indicator("fr2", "Block-list: SSH brute-force source (ChinaNet)", "[ipv4-addr:value ISSUBSET '198.51.100.128/25']"))
	w.post(t, "cert-be", "blue-be", indicator("be1", "SSH source", "[ipv4-addr:value ISSUBSET '203.0.113.0/25']"))
	w.do(t, be, "POST", "/api/v1/workspaces/"+teamWorkspace("helsinki-summit", "blue-fr")+"/bundles",
		`{"type":"bundle","id":"bundle--`+uuid("intrude")+`","objects":[`+indicator("be2", "x", "[ipv4-addr:value = '203.0.113.9']")+`]}`, 400)
	w.tick(t)
	got, _ := board(t, w.do(t, uk, "GET", ex+"/scoreboard", "", 200))
	if got["blue-fr"] != 35 || got["blue-be"] != 0 || got["blue-uk"] != 0 {
		t.Fatalf("scores after the SSH wave: %v, want blue-fr 35", got)
	}

	// At 30m the first situation report, at 45m the phishing inject.
	w.clock.Advance(30 * time.Minute)
	w.tick(t)
	w.clock.Advance(15 * time.Minute)
	w.tick(t)
	apt28 := "intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c"
	w.post(t, "cert-fr", "blue-fr",
		indicator("fr3", "Phishing domain", "[domain-name:value = 'vaalit-kirjautuminen.example']"),
		indicator("fr4", "Phishing domain", "[domain-name:value = 'oikeusministerio-sso.example']"),
		sdoJSON("campaign", "fr5", `"name":"Election staff phishing"`),
		sdoJSON("relationship", "fr6", `"relationship_type":"attributed-to","source_ref":"campaign--`+uuid("fr5")+`","target_ref":"`+apt28+`","confidence":70`))
	// A relationship without a stated confidence does not count.
	w.post(t, "cert-uk", "blue-uk", sdoJSON("campaign", "uk1", `"name":"Phishing"`),
		sdoJSON("relationship", "uk2", `"relationship_type":"attributed-to","source_ref":"campaign--`+uuid("uk1")+`","target_ref":"`+apt28+`"`))
	w.tick(t) // scores the phishing tasks; the take-down follows at once for cert-fr
	e, err := w.svc.load(ctx, "helsinki-summit")
	if err != nil {
		t.Fatal(err)
	}
	offsets := map[string]time.Duration{}
	for _, r := range e.state.Releases {
		if r.Team == "blue-fr" {
			offsets[fmt.Sprintf("%s#%d", r.Inject, r.N)] = time.Duration(r.Offset)
		}
	}
	want := map[string]time.Duration{"ssh-wave#1": 0, "sitrep#1": 30 * time.Minute, "phishing#1": 45 * time.Minute, "takedown#1": 45 * time.Minute}
	if fmt.Sprint(offsets) != fmt.Sprint(want) {
		t.Fatalf("cert-fr's injects arrived at %v, want %v", offsets, want)
	}
	if e.state.released("blue-uk", "takedown") != 0 {
		t.Fatal("the take-down reached blue-uk, which has not resolved the phishing inject")
	}

	// Freeze: teams see the board as it was; scoring goes on underneath.
	w.do(t, w.dir, "POST", ex+"/freeze", "", 200)
	w.clock.Advance(time.Minute)
	w.post(t, "cert-fr", "blue-fr", sdoJSON("grouping", "fr7", `"name":"Take-down of the election phishing domains","context":"suspicious-activity","description":"Lead: cert-fr. Joint take-down request to the registrar.","object_refs":["indicator--`+uuid("fr3")+`","indicator--`+uuid("fr4")+`"]`))
	w.tick(t)
	w.do(t, w.dir, "POST", ex+"/scores", `{"team":"blue-fr","inject":"ssh-wave","task":"warn-constituents","points":8,"comment":"clear advisory, sent within the hour"}`, 201)
	w.do(t, fr, "POST", ex+"/scores", `{"team":"blue-fr","inject":"ssh-wave","task":"warn-constituents","points":10,"comment":"self"}`, 403)
	w.do(t, w.dir, "POST", ex+"/scores", `{"team":"blue-fr","inject":"ssh-wave","task":"warn-constituents","points":11,"comment":"too many"}`, 400)
	w.do(t, w.dir, "POST", ex+"/scores", `{"team":"blue-fr","inject":"ssh-wave","task":"warn-constituents","points":5}`, 400)
	frozen, isFrozen := board(t, w.do(t, fr, "GET", ex+"/scoreboard?live=1", "", 200)) // a team cannot see live
	live, _ := board(t, w.do(t, w.dir, "GET", ex+"/scoreboard?live=1", "", 200))
	if !isFrozen || frozen["blue-fr"] != 70 || frozen["blue-uk"] != 0 {
		t.Errorf("frozen board %v (frozen %v), want blue-fr 70", frozen, isFrozen)
	}
	if live["blue-fr"] != 98 || live["blue-uk"] != 0 {
		t.Errorf("live board %v, want blue-fr 98 (70 + case 20 + manual 8)", live)
	}
	var tasks struct{ Tasks []TaskView }
	if err := json.Unmarshal(w.do(t, fr, "GET", ex+"/tasks", "", 200), &tasks); err != nil {
		t.Fatal(err)
	}
	for _, tv := range tasks.Tasks {
		if tv.Task == "case" && tv.Scored || tv.Expected != "" {
			t.Errorf("a team sees %+v while the board is frozen", tv)
		}
	}
	w.do(t, w.dir, "POST", ex+"/unfreeze", "", 200)
	if thawed, _ := board(t, w.do(t, fr, "GET", ex+"/scoreboard", "", 200)); thawed["blue-fr"] != 98 {
		t.Errorf("after the thaw cert-fr sees %v, want 98", thawed)
	}

	// Pause, jump ahead, release by hand.
	w.do(t, w.dir, "POST", ex+"/pause", "", 200)
	w.clock.Advance(10 * time.Minute)
	w.tick(t)
	w.do(t, w.dir, "POST", ex+"/resume", "", 200)
	w.do(t, w.dir, "POST", ex+"/jump", `{"by":"30m"}`, 200)
	w.do(t, w.dir, "POST", ex+"/jump", `{"by":"-5m"}`, 400)
	w.do(t, w.dir, "POST", ex+"/release", `{"inject":"press","team":"blue-uk"}`, 200)
	w.do(t, w.dir, "POST", ex+"/release", `{"inject":"nothing"}`, 400)
	if e, err = w.svc.load(ctx, "helsinki-summit"); err != nil {
		t.Fatal(err)
	}
	if n := e.state.released("blue-fr", "sitrep"); n != 2 {
		t.Errorf("after the jump to 76m blue-fr had %d situation reports, want 2", n)
	}
	if e.state.released("blue-uk", "press") != 1 || e.state.released("blue-fr", "press") != 0 {
		t.Error("the press inject went elsewhere than to blue-uk")
	}
	if d := e.state.elapsed(w.clock.Now()); d != 76*time.Minute {
		t.Errorf("time of play %v, want 76m (the pause does not count)", d)
	}

	// The report opens to the teams at the end.
	w.do(t, fr, "GET", ex+"/report", "", 403)
	w.do(t, w.dir, "POST", ex+"/end", "", 200)
	var rep Report
	if err := json.Unmarshal(w.do(t, fr, "GET", ex+"/report", "", 200), &rep); err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, a := range rep.Actions {
		actions[a.Team+" "+a.Type]++
	}
	if rep.Status != StatusEnded || len(rep.Injects) != 3*3+1+2+1+1 || actions["blue-fr indicator"] != 4 || actions["blue-fr grouping"] != 1 || actions["blue-be indicator"] != 1 {
		t.Errorf("report: status %s, %d releases, actions %v", rep.Status, len(rep.Injects), actions)
	}
	var logged []string
	for _, l := range rep.Log {
		logged = append(logged, l.Action)
	}
	if want := []string{"import", "start", "freeze", "score", "unfreeze", "pause", "resume", "jump", "release", "end"}; !slices.Equal(logged, want) {
		t.Errorf("report log %v, want %v", logged, want)
	}
	if !slices.ContainsFunc(rep.Scores, func(s Score) bool { return !s.Auto && s.Comment == "clear advisory, sent within the hour" }) {
		t.Error("the manual score is not in the report")
	}
	html := string(w.do(t, w.dir, "GET", ex+"/report?format=html", "", 200))
	for _, s := range []string{"After-action report: Helsinki summit", "clear advisory, sent within the hour", "Take-down of the election phishing domains", "blue-uk", "press"} {
		if !strings.Contains(html, s) {
			t.Errorf("the HTML report lacks %q", s)
		}
	}

	// Every control is in the audit log.
	items, err := w.h.Audit.List(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	audited := map[string]bool{}
	for _, it := range items {
		audited[it.Action] = true
	}
	for _, a := range []string{"import", "start", "pause", "resume", "jump", "release", "end", "freeze", "score"} {
		if !audited["exercise."+a] {
			t.Errorf("exercise.%s is not in the audit log", a)
		}
	}

	// After the end the clock releases nothing; a new service on the same store sees the same
	// exercise (the state survives a restart).
	w.clock.Advance(5 * time.Hour)
	w.tick(t)
	restarted := New(Config{KB: w.h.KB, Dir: w.h.Store, Workspaces: w.h.Members, Audit: w.h.Audit, Now: w.clock.Now})
	b, err := restarted.Board(ctx, "helsinki-summit", Actor{Org: director}, true)
	if err != nil {
		t.Fatal(err)
	}
	if b.Teams[0].Team != "blue-fr" || b.Teams[0].Total != 98 {
		t.Errorf("after a restart the board is %+v", b.Teams)
	}
	e2, err := restarted.load(ctx, "helsinki-summit")
	if err != nil || len(e2.state.Releases) != len(rep.Injects) || e2.state.Status != StatusEnded {
		t.Errorf("after a restart: %d releases, status %s (%v)", len(e2.state.Releases), e2.state.Status, err)
	}
}

// TestClockEndsPlay checks the periodic trigger and that the clock ends an exercise whose time
// of play is over.
func TestClockEndsPlay(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			w := newWorld(t, backend)
			w.do(t, w.dir, "POST", "/api/v1/exercises/helsinki-summit/start", "", 200)
			w.clock.Advance(3 * time.Hour)
			w.tick(t)
			e, err := w.svc.load(context.Background(), "helsinki-summit")
			if err != nil {
				t.Fatal(err)
			}
			// The sitrep comes at 30m, 60m, 90m and 120m; play ends at 2h.
			if e.state.Status != StatusEnded || e.state.released("blue-be", "sitrep") != 4 || e.state.elapsed(w.clock.Now()) != 2*time.Hour {
				t.Errorf("status %s, %d sitreps, elapsed %v", e.state.Status, e.state.released("blue-be", "sitrep"), e.state.elapsed(w.clock.Now()))
			}
			w.do(t, w.dir, "POST", "/api/v1/exercises/helsinki-summit/resume", "", 409)
		})
	}
}

// TestStaleStateRefused checks that a state loaded before another change (on this replica or
// another) is not written over that change.
func TestStaleStateRefused(t *testing.T) {
	w := newWorld(t, "sqlite")
	ctx := context.Background()
	stale, err := w.svc.load(ctx, "helsinki-summit")
	if err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Second)
	w.do(t, w.dir, "POST", "/api/v1/exercises/helsinki-summit/start", "", 200)
	stale.state.Status = StatusEnded
	if err := w.svc.save(ctx, stale); hub.ErrorCode(err) != hub.EConflict {
		t.Fatalf("saving a stale state: %v, want EConflict", err)
	}
	if e, _ := w.svc.load(ctx, "helsinki-summit"); e.state.Status != StatusRunning {
		t.Errorf("status %s after the refused write, want running", e.state.Status)
	}
}

// TestWhiteTeam checks the white team's part: it scores by hand and sees the live board, but
// does not control the exercise.
func TestWhiteTeam(t *testing.T) {
	ctx := context.Background()
	h := hubtest.New(t, "sqlite")
	if err := h.Members.CreateOrg(ctx, &hub.Org{Code: director, Name: "Hub operator", Country: "BE", Kind: hub.OrgOperator, Active: true}); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2026, 7, 16, 8, 0, 0, 0, time.UTC)}
	svc := New(Config{KB: h.KB, Dir: h.Store, Workspaces: h.Members, Audit: h.Audit, Now: clock.Now})
	sc := Demo()
	sc.Teams, sc.WhiteTeam = []Team{{ID: "blue-fr", Org: "cert-fr"}, {ID: "blue-be", Org: "cert-be"}}, []string{"cert-uk"}
	if err := svc.Import(ctx, sc, Actor{Org: director, User: "director"}); err != nil {
		t.Fatal(err)
	}
	white := Actor{Org: "cert-uk", User: "umpire"}
	list, err := svc.List(ctx, "cert-uk")
	if err != nil || len(list) != 1 || list[0].Role != RoleWhiteTeam {
		t.Fatalf("the white team lists %+v (%v)", list, err)
	}
	if _, err := svc.Apply(ctx, sc.ID, white, Control{Action: "start"}); hub.ErrorCode(err) != hub.EForbidden {
		t.Fatalf("the white team starts the exercise: %v", err)
	}
	if _, err := svc.Apply(ctx, sc.ID, Actor{Org: director, User: "director"}, Control{Action: "start"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Apply(ctx, sc.ID, Actor{Org: director, User: "director"}, Control{Action: "freeze"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if err := svc.Score(ctx, sc.ID, white, ManualScore{Team: "blue-be", Inject: "ssh-wave", Task: "warn-constituents", Points: 6, Comment: "late but correct"}); err != nil {
		t.Fatal(err)
	}
	live, err := svc.Board(ctx, sc.ID, white, true)
	if err != nil || live.Frozen || live.Teams[0].Team != "blue-be" || live.Teams[0].Total != 6 {
		t.Errorf("the white team's live board: %+v (%v)", live, err)
	}
	seen, err := svc.Board(ctx, sc.ID, Actor{Org: "cert-be"}, true)
	if err != nil || !seen.Frozen || seen.Teams[0].Total != 0 {
		t.Errorf("blue-be's board while frozen: %+v (%v)", seen, err)
	}
	if _, err := svc.Injects(ctx, sc.ID, white, "blue-fr"); err != nil {
		t.Errorf("the white team cannot read blue-fr's injects: %v", err)
	}
}
