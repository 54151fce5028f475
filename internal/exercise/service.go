package exercise

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"cshub/internal/access"
	"cshub/internal/audit"
	"cshub/internal/hub"
	"cshub/internal/kb"
)

// STIX types of the objects an exercise is kept in. They are custom domain objects, stored
// sealed through kb in the exercise's own workspaces like any other object.
const (
	TypeExercise = "x-cshub-exercise"       // the definition, in the control workspace
	TypeState    = "x-cshub-exercise-state" // the state; one version per change
	TypeBrief    = "x-cshub-exercise-brief" // what a team is told of the exercise, in its workspace
	TypeDelivery = "x-cshub-inject"         // one inject as a team received it
)

// Workspaces creates workspaces with their data keys; *members.Service is one.
type Workspaces interface {
	CreateWorkspace(ctx context.Context, w *hub.Workspace) error
}

// Config holds what a Service is built from. KB, Dir and Audit are required, and Workspaces
// for Import (a serving hub that only runs exercises needs none); Now
// defaults to time.Now and is the exercise clock (a fake one in tests); Log discards by default.
type Config struct {
	KB         *kb.Service
	Dir        hub.DirectoryStore
	Workspaces Workspaces
	Audit      kb.Recorder
	Now        func() time.Time
	Log        *slog.Logger
}

// Service imports, runs and scores exercises. It is safe for concurrent use; changes to one
// exercise are serialised within a process, and Tick should run on one replica at a time (see
// bus.Leaser).
type Service struct {
	kb    *kb.Service
	dir   hub.DirectoryStore
	ws    Workspaces
	audit kb.Recorder
	now   func() time.Time
	log   *slog.Logger
	mu    sync.Mutex // serialises read-modify-write of exercise states
}

// New returns a Service.
func New(c Config) *Service {
	s := &Service{kb: c.KB, dir: c.Dir, ws: c.Workspaces, audit: c.Audit, now: c.Now, log: c.Log}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Actor is who acts on an exercise: an organisation and, for the audit log, a user.
type Actor struct {
	Org  string
	User string
}

// Role is what an organisation is to one exercise.
type Role string

// The roles of an exercise.
const (
	RoleDirector  Role = "director"
	RoleWhiteTeam Role = "white_team"
	RoleBlueTeam  Role = "blue_team"
)

// definition is the stored form of an imported exercise.
type definition struct {
	Scenario *Scenario   `json:"x_cshub_scenario"`
	Control  string      `json:"x_cshub_control"`
	Teams    []teamPlace `json:"x_cshub_teams"`
}

// teamPlace says where a team plays.
type teamPlace struct {
	Team      string `json:"team"`
	Org       string `json:"org"`
	Workspace string `json:"workspace"`
}

// exercise is one exercise as loaded: its definition and its latest state.
type exercise struct {
	def      definition
	state    State
	created  time.Time // of the state object (all its versions share it)
	modified time.Time // of the stored state version
}

func (e *exercise) scenario() *Scenario { return e.def.Scenario }

func (e *exercise) place(team string) (teamPlace, bool) {
	for _, p := range e.def.Teams {
		if p.Team == team {
			return p, true
		}
	}
	return teamPlace{}, false
}

// derivedID returns the STIX id of type typ named by parts: the same parts always give the
// same id, so that an exercise's objects are found without an index.
func derivedID(typ string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x50 // version 5 layout: name-based
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b)
	return typ + "--" + x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

func stixTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// put stores objs in workspace ws as org, through kb: sealed, validated and announced like any
// submission. Any rejection is an error, since these objects are written by the hub itself.
func (s *Service) put(ctx context.Context, org, actor, ws string, objs ...any) error {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	bundle := map[string]any{"type": "bundle", "id": derivedID("bundle", hex.EncodeToString(nonce)), "objects": objs}
	b, err := json.Marshal(bundle)
	if err != nil {
		return err
	}
	sum, err := s.kb.Ingest(ctx, kb.Submission{Org: org, Actor: actor, Workspace: ws}, bytes.NewReader(b))
	if err != nil {
		return err
	}
	if len(sum.Rejected) > 0 {
		return hub.Errorf(hub.EInternal, "exercise: storing in %s: %s", ws, sum.Rejected[0].Reason)
	}
	return nil
}

// sdo returns the common properties of a custom object created and modified at t.
func sdo(typ, id string, created, modified time.Time) map[string]any {
	return map[string]any{"type": typ, "spec_version": "2.1", "id": id, "created": stixTime(created), "modified": stixTime(modified)}
}

// Import creates the exercise s: a control workspace for the director and white team, one
// workspace per blue team (the team, the director and the white team are its members), the
// definition and the initial state in the control workspace, and a brief in each team's
// workspace. Every workspace is of kind hub.WorkspaceExercise. s.Director and s.Teams must be
// set; the organisations must exist. An exercise with the same id is EConflict.
func (s *Service) Import(ctx context.Context, sc *Scenario, by Actor) error {
	if ps := sc.validate(); len(ps) > 0 {
		return invalid(ps)
	}
	if s.ws == nil {
		return hub.Errorf(hub.EInternal, "exercise: this service was built without a way to create workspaces")
	}
	if sc.Director == "" {
		return hub.FieldError("director", "the exercise needs a director organisation")
	}
	if len(sc.Teams) == 0 {
		return hub.FieldError("teams", "the exercise needs at least one blue team")
	}
	orgs := append([]string{sc.Director}, sc.WhiteTeam...)
	for _, t := range sc.Teams {
		orgs = append(orgs, t.Org)
	}
	for _, code := range orgs {
		if _, err := s.dir.Org(ctx, code); hub.ErrorCode(err) == hub.ENotFound {
			return hub.FieldError("teams", "no organisation %q", code)
		} else if err != nil {
			return err
		}
	}
	control := controlWorkspace(sc.ID)
	if _, err := s.dir.Workspace(ctx, control); err == nil {
		return &hub.Error{Code: hub.EConflict, Field: "id", Message: fmt.Sprintf("exercise %q exists already", sc.ID)}
	}
	staff := slices.Compact(slices.Sorted(slices.Values(append([]string{sc.Director}, sc.WhiteTeam...))))
	if err := s.ws.CreateWorkspace(ctx, &hub.Workspace{Slug: control, Name: sc.Name + " (control)", Kind: hub.WorkspaceExercise, Members: staff}); err != nil {
		return err
	}
	def := definition{Scenario: sc, Control: control}
	for _, t := range sc.Teams {
		ws := teamWorkspace(sc.ID, t.ID)
		members := slices.Compact(slices.Sorted(slices.Values(append([]string{t.Org}, staff...))))
		if err := s.ws.CreateWorkspace(ctx, &hub.Workspace{Slug: ws, Name: sc.Name + " (" + t.ID + ")", Kind: hub.WorkspaceExercise, Members: members}); err != nil {
			return err
		}
		def.Teams = append(def.Teams, teamPlace{Team: t.ID, Org: t.Org, Workspace: ws})
	}
	now := s.now()
	obj := sdo(TypeExercise, derivedID(TypeExercise, sc.ID), now, now)
	obj["name"] = sc.Name
	obj["x_cshub_scenario"], obj["x_cshub_control"], obj["x_cshub_teams"] = def.Scenario, def.Control, def.Teams
	e := &exercise{def: def, state: State{Status: StatusReady, Releases: []Release{}, Scores: []Score{}, Log: []Entry{}}}
	e.state.Log = append(e.state.Log, Entry{At: now, Org: by.Org, Actor: by.User, Action: "import"})
	st := sdo(TypeState, derivedID(TypeState, sc.ID), now, now)
	st["x_cshub_state"] = e.state
	if err := s.put(ctx, sc.Director, by.User, control, obj, st); err != nil {
		return err
	}
	for _, p := range def.Teams {
		brief := sdo(TypeBrief, derivedID(TypeBrief, sc.ID, p.Team), now, now)
		brief["name"] = sc.Name
		brief["description"] = sc.Description
		brief["x_cshub_exercise"], brief["x_cshub_team"], brief["x_cshub_duration"] = sc.ID, p.Team, sc.Duration
		if err := s.put(ctx, sc.Director, by.User, p.Workspace, brief); err != nil {
			return err
		}
	}
	s.record(ctx, by, "import", sc.ID, map[string]any{"teams": len(sc.Teams), "injects": len(sc.Injects)})
	return nil
}

// load reads an exercise's definition and latest state as the hub itself: callers have made
// the access decision (see role) or are the hub's own clock.
func (s *Service) load(ctx context.Context, id string) (*exercise, error) {
	sys := hub.Viewer{System: true}
	o, err := s.kb.Get(ctx, sys, derivedID(TypeExercise, id), time.Time{})
	if err != nil {
		if hub.ErrorCode(err) == hub.ENotFound {
			return nil, hub.Errorf(hub.ENotFound, "no exercise %q", id)
		}
		return nil, err
	}
	e := &exercise{}
	if err := json.Unmarshal(o.Body, &e.def); err != nil || e.def.Scenario == nil {
		return nil, hub.Errorf(hub.EIntegrity, "exercise %q: definition unreadable", id)
	}
	so, err := s.kb.Get(ctx, sys, derivedID(TypeState, id), time.Time{})
	if err != nil {
		return nil, err
	}
	var body struct {
		State State `json:"x_cshub_state"`
	}
	if err := json.Unmarshal(so.Body, &body); err != nil {
		return nil, hub.Errorf(hub.EIntegrity, "exercise %q: state unreadable", id)
	}
	e.state, e.created, e.modified = body.State, so.Created, so.Modified
	return e, nil
}

// save stores e's state as a new version of its state object. Versions must increase, so a
// change within the same millisecond as the last is stamped a millisecond later.
func (s *Service) save(ctx context.Context, e *exercise) error {
	// Another replica may have changed the state since e was loaded: refuse rather than
	// overwrite its change (the clock retries at its next tick, a director repeats the control).
	// The check and the write are not one transaction, so two writers within the same instant
	// can still both pass; the one whose version is later wins.
	latest, err := s.kb.Get(ctx, hub.Viewer{System: true}, derivedID(TypeState, e.scenario().ID), time.Time{})
	if err != nil {
		return err
	}
	if !latest.Modified.Equal(e.modified) {
		return &hub.Error{Code: hub.EConflict, Field: "exercise", Message: "the exercise changed meanwhile; try again"}
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	if !now.After(e.modified) {
		now = e.modified.Add(time.Millisecond)
	}
	st := sdo(TypeState, derivedID(TypeState, e.scenario().ID), e.created, now)
	st["x_cshub_state"] = e.state
	if err := s.put(ctx, e.scenario().Director, "system", e.def.Control, st); err != nil {
		return err
	}
	e.modified = now
	return nil
}

// role returns what org is to exercise e, deciding through package access: org must see the
// exercise's workspace for that role on access.PathExercise. An organisation with no part in
// the exercise gets ENotFound, as if the exercise did not exist.
func (s *Service) role(ctx context.Context, e *exercise, org string) (Role, string, error) {
	v, err := access.ViewerFor(ctx, s.dir, org, access.PathExercise)
	if err != nil {
		return "", "", err
	}
	sc := e.scenario()
	id := sc.ID
	switch {
	case org == sc.Director && slices.Contains(v.Workspaces, e.def.Control):
		return RoleDirector, "", nil
	case slices.Contains(sc.WhiteTeam, org) && slices.Contains(v.Workspaces, e.def.Control):
		return RoleWhiteTeam, "", nil
	}
	for _, p := range e.def.Teams {
		if p.Org == org && slices.Contains(v.Workspaces, p.Workspace) {
			return RoleBlueTeam, p.Team, nil
		}
	}
	return "", "", hub.Errorf(hub.ENotFound, "no exercise %q", id)
}

func (s *Service) record(ctx context.Context, by Actor, action, id string, details map[string]any) {
	actor := by.User
	if actor == "" {
		actor = "system"
	}
	if _, err := s.audit.Record(context.WithoutCancel(ctx), audit.Entry{Org: by.Org, Actor: actor, Action: "exercise." + action, Target: id, Details: details}); err != nil {
		s.log.Error("exercise: audit record failed", "action", action, "exercise", id, "err", err)
	}
}

// Summary is an exercise as GET /api/v1/exercises lists it for one organisation.
type Summary struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Role        Role     `json:"role"`
	Team        string   `json:"team,omitempty"`
	Status      Status   `json:"status"`
	Duration    Duration `json:"duration"`
	Elapsed     Duration `json:"elapsed"`
	Teams       int      `json:"teams"`
	Injects     int      `json:"injects"`
}

// List returns the exercises org directs, scores or plays in: those whose objects org may see
// on access.PathExercise.
func (s *Service) List(ctx context.Context, org string) ([]Summary, error) {
	v, err := access.ViewerFor(ctx, s.dir, org, access.PathExercise)
	if err != nil {
		return nil, err
	}
	out := []Summary{}
	if len(v.Workspaces) == 0 {
		return out, nil
	}
	objs, err := s.kb.List(ctx, hub.Filter{Viewer: v, Types: []string{TypeExercise, TypeBrief}, Limit: 1000})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, o := range objs {
		var ref struct {
			Scenario *Scenario `json:"x_cshub_scenario"`
			Exercise string    `json:"x_cshub_exercise"`
		}
		if err := json.Unmarshal(o.Body, &ref); err != nil {
			continue
		}
		id := ref.Exercise
		if ref.Scenario != nil {
			id = ref.Scenario.ID
		}
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		e, err := s.load(ctx, id)
		if err != nil {
			return nil, err
		}
		role, team, err := s.role(ctx, e, org)
		if err != nil {
			continue
		}
		sc := e.scenario()
		out = append(out, Summary{ID: sc.ID, Name: sc.Name, Description: sc.Description, Role: role, Team: team,
			Status: e.state.Status, Duration: sc.Duration, Elapsed: Duration(e.state.elapsed(s.now())), Teams: len(sc.Teams), Injects: len(sc.Injects)})
	}
	slices.SortFunc(out, func(a, b Summary) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Control names a director's action on a running exercise.
type Control struct {
	Action string   `json:"-"`                // start, pause, resume, jump, release, end, freeze, unfreeze
	By     Duration `json:"by,omitempty"`     // jump: how far ahead
	Inject string   `json:"inject,omitempty"` // release: which inject
	Team   string   `json:"team,omitempty"`   // release: to which team; "" for all
}

// Apply carries out a director's control on exercise id, records it in the exercise's log and
// the audit log, and runs the clock once so that what it makes due is released at once. Only
// the director may; a control that does not fit the exercise's status is EConflict.
func (s *Service) Apply(ctx context.Context, id string, by Actor, c Control) (*State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	role, _, err := s.role(ctx, e, by.Org)
	if err != nil {
		return nil, err
	}
	if role != RoleDirector {
		return nil, &hub.Error{Code: hub.EForbidden, Field: "exercise", Message: "only the exercise's director controls it"}
	}
	st := &e.state
	now := s.now()
	conflict := func() error {
		return &hub.Error{Code: hub.EConflict, Field: "action", Message: fmt.Sprintf("cannot %s an exercise that is %s", c.Action, st.Status)}
	}
	detail := ""
	switch c.Action {
	case "start":
		if st.Status != StatusReady {
			return nil, conflict()
		}
		st.Status, st.Started, st.RunningSince = StatusRunning, now, now
	case "pause":
		if st.Status != StatusRunning {
			return nil, conflict()
		}
		st.Elapsed = Duration(st.elapsed(now))
		st.Status, st.RunningSince = StatusPaused, time.Time{}
	case "resume":
		if st.Status != StatusPaused {
			return nil, conflict()
		}
		st.Status, st.RunningSince = StatusRunning, now
	case "jump":
		if st.Status != StatusRunning && st.Status != StatusPaused {
			return nil, conflict()
		}
		if c.By <= 0 {
			return nil, hub.FieldError("by", "a jump goes ahead by a positive duration")
		}
		st.Elapsed += c.By
		detail = time.Duration(c.By).String()
	case "release":
		if st.Status != StatusRunning && st.Status != StatusPaused {
			return nil, conflict()
		}
		in, ok := e.inject(c.Inject)
		if !ok {
			return nil, hub.FieldError("inject", "no inject %q in this exercise", c.Inject)
		}
		if c.Team != "" {
			if _, ok := e.place(c.Team); !ok {
				return nil, hub.FieldError("team", "no team %q in this exercise", c.Team)
			}
		}
		for _, p := range e.def.Teams {
			if c.Team != "" && p.Team != c.Team {
				continue
			}
			if err := s.deliver(ctx, e, p, in, st.released(p.Team, in.ID)+1, now, by.User); err != nil {
				return nil, err
			}
		}
		detail = c.Inject
		if c.Team != "" {
			detail += " to " + c.Team
		}
	case "end":
		if st.Status == StatusEnded || st.Status == StatusReady {
			return nil, conflict()
		}
		st.Elapsed = Duration(st.elapsed(now))
		st.Status, st.RunningSince, st.Ended = StatusEnded, time.Time{}, now
	case "freeze":
		if !st.FrozenAt.IsZero() {
			return nil, conflict()
		}
		st.FrozenAt = now
	case "unfreeze":
		if st.FrozenAt.IsZero() {
			return nil, conflict()
		}
		st.FrozenAt = time.Time{}
	default:
		return nil, hub.FieldError("action", "%q is not one of start, pause, resume, jump, release, end, freeze, unfreeze", c.Action)
	}
	st.Log = append(st.Log, Entry{At: now, Offset: Duration(st.elapsed(now)), Org: by.Org, Actor: by.User, Action: c.Action, Detail: detail})
	if err := s.advance(ctx, e, now); err != nil {
		return nil, err
	}
	if err := s.save(ctx, e); err != nil {
		return nil, err
	}
	s.record(ctx, by, c.Action, id, map[string]any{"detail": detail, "status": st.Status})
	return st, nil
}

// ManualScore is a white-team score for one task of one team.
type ManualScore struct {
	Team    string `json:"team"`
	Inject  string `json:"inject"`
	Task    string `json:"task"`
	Points  int    `json:"points"`
	Comment string `json:"comment"`
}

// Score records a manual score by the director or the white team. It replaces earlier manual
// scores of the task (and overrides an automatic one) and needs a comment saying why.
func (s *Service) Score(ctx context.Context, id string, by Actor, m ManualScore) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	role, _, err := s.role(ctx, e, by.Org)
	if err != nil {
		return err
	}
	if role != RoleDirector && role != RoleWhiteTeam {
		return &hub.Error{Code: hub.EForbidden, Field: "exercise", Message: "only the director and the white team score by hand"}
	}
	if _, ok := e.place(m.Team); !ok {
		return hub.FieldError("team", "no team %q in this exercise", m.Team)
	}
	in, ok := e.inject(m.Inject)
	if !ok {
		return hub.FieldError("inject", "no inject %q in this exercise", m.Inject)
	}
	i := slices.IndexFunc(in.Tasks, func(t Task) bool { return t.ID == m.Task })
	if i < 0 {
		return hub.FieldError("task", "inject %q has no task %q", m.Inject, m.Task)
	}
	if m.Points < 0 || m.Points > in.Tasks[i].Points {
		return hub.FieldError("points", "must be between 0 and %d", in.Tasks[i].Points)
	}
	if len(m.Comment) == 0 {
		return hub.FieldError("comment", "a manual score says why")
	}
	if e.state.Status == StatusReady {
		return &hub.Error{Code: hub.EConflict, Field: "exercise", Message: "the exercise has not started"}
	}
	now := s.now()
	off := Duration(e.state.elapsed(now))
	e.state.Scores = append(e.state.Scores, Score{Team: m.Team, Inject: m.Inject, Task: m.Task, Points: m.Points, By: by.User, Comment: m.Comment, At: now, Offset: off})
	e.state.Log = append(e.state.Log, Entry{At: now, Offset: off, Org: by.Org, Actor: by.User, Action: "score", Detail: fmt.Sprintf("%s %s/%s: %d", m.Team, m.Inject, m.Task, m.Points)})
	if err := s.advance(ctx, e, now); err != nil {
		return err
	}
	if err := s.save(ctx, e); err != nil {
		return err
	}
	s.record(ctx, by, "score", id, map[string]any{"team": m.Team, "inject": m.Inject, "task": m.Task, "points": m.Points})
	return nil
}

func (e *exercise) inject(id string) (Inject, bool) {
	for _, in := range e.scenario().Injects {
		if in.ID == id {
			return in, true
		}
	}
	return Inject{}, false
}

// Tick runs the exercise clock once for every running exercise: injects that became due are
// released, automatic tasks are checked against what the teams produced, and an exercise
// whose time of play is over ends. Run it periodically on one replica (schedule.Every or a
// bus.Leaser lease); it returns the first error but goes on with the other exercises.
func (s *Service) Tick(ctx context.Context) error {
	objs, err := s.kb.List(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, Types: []string{TypeExercise}, Limit: 1000})
	if err != nil {
		return err
	}
	var first error
	for _, o := range objs {
		var def definition
		if json.Unmarshal(o.Body, &def) != nil || def.Scenario == nil {
			continue
		}
		if err := s.tick(ctx, def.Scenario.ID); err != nil {
			s.log.Error("exercise clock", "exercise", def.Scenario.ID, "err", err)
			if first == nil {
				first = err
			}
		}
	}
	return first
}

func (s *Service) tick(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if e.state.Status != StatusRunning {
		return nil
	}
	before, _ := json.Marshal(e.state)
	if err := s.advance(ctx, e, s.now()); err != nil {
		return err
	}
	if after, _ := json.Marshal(e.state); bytes.Equal(before, after) {
		return nil
	}
	return s.save(ctx, e)
}

// advance brings e's state up to now: checks automatic tasks, releases what is due (which may
// make more due, through "after" triggers), and ends the exercise when its time is over.
func (s *Service) advance(ctx context.Context, e *exercise, now time.Time) error {
	st := &e.state
	if st.Status != StatusRunning && st.Status != StatusPaused {
		return nil
	}
	sc := e.scenario()
	d := st.elapsed(now)
	over := d >= time.Duration(sc.Duration)
	if over {
		d = time.Duration(sc.Duration)
	}
	for _, p := range e.def.Teams {
		var produced []*hub.Object
		loaded := false
		// Each round may resolve injects that release others; a chain is at most as long as
		// the scenario.
		for range len(sc.Injects) + 1 {
			if err := s.score(ctx, e, p, &produced, &loaded, now); err != nil {
				return err
			}
			n := 0
			if st.Status == StatusRunning {
				for _, in := range sc.Injects {
					for k := st.released(p.Team, in.ID) + 1; k <= st.due(sc, p.Team, in, d); k++ {
						if err := s.deliver(ctx, e, p, in, k, now, "clock"); err != nil {
							return err
						}
						n++
					}
				}
			}
			if n == 0 {
				break
			}
		}
	}
	if over && st.Status == StatusRunning {
		st.Elapsed, st.RunningSince, st.Status, st.Ended = sc.Duration, time.Time{}, StatusEnded, now
		st.Log = append(st.Log, Entry{At: now, Offset: sc.Duration, Org: "", Actor: "clock", Action: "end", Detail: "time of play is over"})
	}
	return nil
}

// score checks the automatic tasks of every inject released to the team that are not scored
// yet. The team's objects are read once per call, when a check needs them.
func (s *Service) score(ctx context.Context, e *exercise, p teamPlace, produced *[]*hub.Object, loaded *bool, now time.Time) error {
	st := &e.state
	for _, in := range e.scenario().Injects {
		if st.released(p.Team, in.ID) == 0 {
			continue
		}
		for _, t := range in.Tasks {
			if t.Check == nil || st.autoScored(p.Team, in.ID, t.ID) {
				continue
			}
			if !*loaded {
				objs, err := s.teamObjects(ctx, p)
				if err != nil {
					return err
				}
				*produced, *loaded = objs, true
			}
			ok, err := s.evaluate(ctx, t.Check, p, *produced)
			if err != nil {
				// A check that cannot be evaluated on this data is not the team's failure;
				// the white team can score it.
				s.log.Warn("exercise: automatic check failed to run", "exercise", e.scenario().ID, "inject", in.ID, "task", t.ID, "err", err)
				continue
			}
			if ok {
				st.Scores = append(st.Scores, Score{Team: p.Team, Inject: in.ID, Task: t.ID, Points: t.Points, Auto: true, By: "clock", At: now, Offset: Duration(st.elapsed(now))})
			}
		}
	}
	return nil
}

// teamObjects returns the latest version of every object the team's organisation authored in
// its exercise workspace, read as that organisation on access.PathExercise.
func (s *Service) teamObjects(ctx context.Context, p teamPlace) ([]*hub.Object, error) {
	v, err := access.ViewerFor(ctx, s.dir, p.Org, access.PathExercise)
	if err != nil {
		return nil, err
	}
	var out []*hub.Object
	var after int64
	for {
		objs, err := s.kb.List(ctx, hub.Filter{Viewer: v, Workspaces: []string{p.Workspace}, AfterSeq: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		if len(objs) == 0 {
			return out, nil
		}
		for _, o := range objs {
			if o.Author == p.Org {
				out = append(out, o)
			}
		}
		after = objs[len(objs)-1].Seq
	}
}

// deliver releases the n-th copy of inject in to the team: the inject's STIX objects and a
// delivery object holding its message and files, stored in the team's workspace by the
// director's organisation.
func (s *Service) deliver(ctx context.Context, e *exercise, p teamPlace, in Inject, n int, now time.Time, by string) error {
	sc := e.scenario()
	var objs []any
	var ids []string
	if len(in.STIX) > 0 {
		var b struct {
			Objects []json.RawMessage `json:"objects"`
		}
		if err := json.Unmarshal(in.STIX, &b); err != nil {
			return hub.FieldError("stix", "inject %q: %v", in.ID, err)
		}
		for _, raw := range b.Objects {
			var head struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(raw, &head)
			ids = append(ids, head.ID)
			objs = append(objs, raw)
		}
	}
	id := derivedID(TypeDelivery, sc.ID, p.Team, in.ID, fmt.Sprint(n))
	off := Duration(e.state.elapsed(now))
	d := sdo(TypeDelivery, id, now, now)
	d["name"] = in.Title
	d["x_cshub_exercise"], d["x_cshub_inject"], d["x_cshub_n"] = sc.ID, in.ID, n
	d["x_cshub_message"], d["x_cshub_offset"] = in.Message, off
	if len(in.Files) > 0 {
		d["x_cshub_files"] = in.Files
	}
	if len(ids) > 0 {
		d["x_cshub_object_refs"] = ids
	}
	objs = append(objs, d)
	if err := s.put(ctx, sc.Director, by, p.Workspace, objs...); err != nil {
		return err
	}
	e.state.Releases = append(e.state.Releases, Release{Team: p.Team, Inject: in.ID, N: n, At: now, Offset: off, By: by, ID: id})
	return nil
}
