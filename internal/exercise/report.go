package exercise

import (
	"context"
	"embed"
	"encoding/json"
	"html/template"
	"io"
	"slices"
	"time"

	"cshub/internal/access"
	"cshub/internal/hub"
)

// Delivery is one inject as a team received it.
type Delivery struct {
	Inject  string            `json:"inject"`
	N       int               `json:"n"`
	Title   string            `json:"title"`
	Message string            `json:"message,omitempty"`
	Files   []File            `json:"files,omitempty"`
	Refs    []string          `json:"object_refs,omitempty"` // the STIX objects it brought into the workspace
	Objects []json.RawMessage `json:"objects,omitempty"`     // those objects, as the caller sees them
	Offset  Duration          `json:"offset"`
	At      string            `json:"at"`
}

// Injects returns the injects team has received, read from the team's workspace as the
// caller's organisation on access.PathExercise. A blue team reads its own; the director and
// the white team name the team.
func (s *Service) Injects(ctx context.Context, id string, by Actor, team string) ([]Delivery, error) {
	e, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	p, err := s.teamFor(ctx, e, by.Org, team)
	if err != nil {
		return nil, err
	}
	v, err := access.ViewerFor(ctx, s.dir, by.Org, access.PathExercise)
	if err != nil {
		return nil, err
	}
	objs, err := s.kb.List(ctx, hub.Filter{Viewer: v, Workspaces: []string{p.Workspace}, Types: []string{TypeDelivery}, Limit: 1000})
	if err != nil {
		return nil, err
	}
	out := []Delivery{}
	for _, o := range objs {
		var d struct {
			Name    string   `json:"name"`
			Created string   `json:"created"`
			Inject  string   `json:"x_cshub_inject"`
			N       int      `json:"x_cshub_n"`
			Message string   `json:"x_cshub_message"`
			Files   []File   `json:"x_cshub_files"`
			Refs    []string `json:"x_cshub_object_refs"`
			Offset  Duration `json:"x_cshub_offset"`
		}
		if json.Unmarshal(o.Body, &d) != nil || o.Author != e.scenario().Director {
			continue // only what the director's organisation delivered is an inject
		}
		dl := Delivery{Inject: d.Inject, N: d.N, Title: d.Name, Message: d.Message, Files: d.Files, Refs: d.Refs, Offset: d.Offset, At: d.Created}
		if len(d.Refs) > 0 {
			// The exercise path is the only one that shows these objects, so the team reads
			// them here rather than through the objects API.
			refs, err := s.kb.List(ctx, hub.Filter{Viewer: v, Workspaces: []string{p.Workspace}, IDs: d.Refs, Limit: len(d.Refs)})
			if err != nil {
				return nil, err
			}
			for _, r := range refs {
				dl.Objects = append(dl.Objects, json.RawMessage(r.Body))
			}
		}
		out = append(out, dl)
	}
	slices.SortStableFunc(out, func(a, b Delivery) int { return int(a.Offset - b.Offset) })
	return out, nil
}

// teamFor returns the team whose data caller org may read: its own for a blue team, the named
// one for the director and white team.
func (s *Service) teamFor(ctx context.Context, e *exercise, org, team string) (teamPlace, error) {
	role, own, err := s.role(ctx, e, org)
	if err != nil {
		return teamPlace{}, err
	}
	if role == RoleBlueTeam {
		if team != "" && team != own {
			return teamPlace{}, hub.Errorf(hub.ENotFound, "no team %q", team)
		}
		team = own
	}
	p, ok := e.place(team)
	if !ok {
		return teamPlace{}, hub.FieldError("team", "no team %q in this exercise", team)
	}
	return p, nil
}

// TaskView is one task of a released inject as a team sees it.
type TaskView struct {
	Inject   string `json:"inject"`
	Task     string `json:"task"`
	Title    string `json:"title"`
	Points   int    `json:"points"`
	Auto     bool   `json:"automatic"`
	Scored   bool   `json:"scored"`
	Score    int    `json:"score"`
	Expected string `json:"expected,omitempty"` // shown to the director and white team only
}

// Tasks returns the tasks of the injects released to the team, with the team's scores as the
// scoreboard shows them (frozen for blue teams while the scoreboard is frozen).
func (s *Service) Tasks(ctx context.Context, id string, by Actor, team string) ([]TaskView, error) {
	e, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	p, err := s.teamFor(ctx, e, by.Org, team)
	if err != nil {
		return nil, err
	}
	role, _, _ := s.role(ctx, e, by.Org)
	staff := role != RoleBlueTeam
	until := time.Time{}
	if !staff {
		until = e.state.FrozenAt
	}
	out := []TaskView{}
	for _, in := range e.scenario().Injects {
		if e.state.released(p.Team, in.ID) == 0 {
			continue
		}
		for _, t := range in.Tasks {
			pts, ok := e.state.taskScore(p.Team, in.ID, t.ID, until)
			tv := TaskView{Inject: in.ID, Task: t.ID, Title: t.Title, Points: t.Points, Auto: t.Check != nil, Scored: ok, Score: pts}
			if staff {
				tv.Expected = t.Expected
			}
			out = append(out, tv)
		}
	}
	return out, nil
}

// Board returns the scoreboard of exercise id for by. Blue teams see it frozen while it is;
// the director and white team see the live board when live is set.
func (s *Service) Board(ctx context.Context, id string, by Actor, live bool) (*Scoreboard, error) {
	e, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	role, _, err := s.role(ctx, e, by.Org)
	if err != nil {
		return nil, err
	}
	return e.state.board(e.scenario(), s.now(), live && role != RoleBlueTeam), nil
}

// Report is the after-action report of an exercise: what was released when, what each team
// did in the hub, the scores and the director's actions.
type Report struct {
	Exercise    string      `json:"exercise"`
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	Director    string      `json:"director"`
	Status      Status      `json:"status"`
	Started     time.Time   `json:"started,omitzero"`
	Ended       time.Time   `json:"ended,omitzero"`
	Duration    Duration    `json:"duration"`
	Elapsed     Duration    `json:"elapsed"`
	Teams       []Team      `json:"teams"`
	Injects     []Release   `json:"injects"` // the timeline of releases
	Actions     []Action    `json:"actions"` // what the teams produced
	Scores      []Score     `json:"scores"`
	Board       *Scoreboard `json:"scoreboard"` // live, unfrozen
	Log         []Entry     `json:"log"`
	Unsupported []string    `json:"unsupported,omitempty"`
}

// Action is one object a team produced in its exercise workspace.
type Action struct {
	Team  string    `json:"team"`
	At    time.Time `json:"at"`
	Type  string    `json:"type"`
	ID    string    `json:"id"`
	Name  string    `json:"name,omitempty"`
	Added time.Time `json:"added"`
}

// Report returns the after-action report. The director and white team may read it at any
// time; a blue team once the exercise has ended.
func (s *Service) Report(ctx context.Context, id string, by Actor) (*Report, error) {
	e, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	role, _, err := s.role(ctx, e, by.Org)
	if err != nil {
		return nil, err
	}
	if role == RoleBlueTeam && e.state.Status != StatusEnded {
		return nil, &hub.Error{Code: hub.EForbidden, Field: "exercise", Message: "the after-action report opens to the teams when the exercise ends"}
	}
	sc := e.scenario()
	now := s.now()
	r := &Report{Exercise: sc.ID, Name: sc.Name, Description: sc.Description, Director: sc.Director, Status: e.state.Status,
		Started: e.state.Started, Ended: e.state.Ended, Duration: sc.Duration, Elapsed: Duration(e.state.elapsed(now)),
		Teams: sc.Teams, Injects: e.state.Releases, Actions: []Action{}, Scores: e.state.Scores,
		Board: e.state.board(sc, now, true), Log: e.state.Log, Unsupported: sc.Unsupported}
	for _, p := range e.def.Teams {
		objs, err := s.teamObjects(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			var head struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(o.Body, &head)
			r.Actions = append(r.Actions, Action{Team: p.Team, At: o.Modified, Type: o.Type, ID: o.ID, Name: head.Name, Added: o.Added})
		}
	}
	slices.SortStableFunc(r.Actions, func(a, b Action) int { return a.Added.Compare(b.Added) })
	return r, nil
}

//go:embed report.html.tmpl
var templates embed.FS

var reportHTML = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"dur":  func(d Duration) string { return time.Duration(d).String() },
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}).ParseFS(templates, "report.html.tmpl"))

// WriteHTML writes r as a printable HTML page.
func (r *Report) WriteHTML(w io.Writer) error { return reportHTML.Execute(w, r) }
