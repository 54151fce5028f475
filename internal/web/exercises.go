package web

import (
	"bytes"
	"net/http"
	"slices"
	"time"

	"cshub/internal/exercise"
	"cshub/internal/hub"
)

// The exercise pages show what exercise.Service gives the user's organisation in its role: a
// blue team its own injects, tasks and the scoreboard (frozen while the director keeps it
// frozen), the director and the white team every team's and the live board. Every read goes
// through the service, which decides on access.PathExercise; the pages decide nothing.

// reportCSP replaces the hub's policy for the printable after-action report, which carries its
// own style sheet inline (as the API serves it) and nothing else: no script, no image, no form.
const reportCSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

type exercisesPage struct {
	Exercises []exercise.Summary
}

// exercisesPage serves GET /exercises: the exercises the user's organisation directs, scores
// or plays in.
func (s *Server) exercisesPage(w http.ResponseWriter, r *http.Request) {
	list, err := s.exercises(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "exercises.html", &page{Title: "Exercises", Nav: "exercises", Data: exercisesPage{Exercises: list}})
}

// exercises returns the exercises of the user's organisation, with the time of play to the
// second: the clock's nanoseconds say nothing to a reader.
func (s *Server) exercises(r *http.Request) ([]exercise.Summary, error) {
	list, err := s.exercise.List(r.Context(), principal(r.Context()).Org)
	for i := range list {
		list[i].Elapsed = exercise.Duration(time.Duration(list[i].Elapsed).Round(time.Second))
	}
	return list, err
}

// exercisePage is what the page of one exercise shows.
type exercisePage struct {
	Ex       exercise.Summary
	Director bool
	Staff    bool     // director or white team: sees every team and the live board
	Team     string   // the team whose injects and tasks are shown
	Teams    []string // the teams staff may choose from
	Injects  []exercise.Delivery
	Tasks    []exercise.TaskView
	Board    *exercise.Scoreboard
	Controls []string // the director's controls that fit the exercise's status
	Report   bool     // the after-action report is open to the user's organisation
	Error    string
}

// controlsFor returns the controls the director may use on an exercise in status st, with the
// scoreboard frozen or not; the service refuses any other as a conflict.
func controlsFor(st exercise.Status, frozen bool) []string {
	var out []string
	switch st {
	case exercise.StatusReady:
		out = []string{"start"}
	case exercise.StatusRunning:
		out = []string{"pause", "end"}
	case exercise.StatusPaused:
		out = []string{"resume", "end"}
	}
	if st == exercise.StatusRunning || st == exercise.StatusPaused {
		if frozen {
			out = append(out, "unfreeze")
		} else {
			out = append(out, "freeze")
		}
	}
	return out
}

// exercisePage serves GET /exercises/{id}[?team=T]. An exercise the user's organisation has no
// part in is not found.
func (s *Server) exercisePage(w http.ResponseWriter, r *http.Request) {
	s.renderExercise(w, r, http.StatusOK, &exercisePage{})
}

func (s *Server) renderExercise(w http.ResponseWriter, r *http.Request, code int, ep *exercisePage) {
	ctx := r.Context()
	u := principal(ctx)
	id := r.PathValue("id")
	// The listing is the service's one answer that carries the caller's role.
	list, err := s.exercises(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	i := slices.IndexFunc(list, func(e exercise.Summary) bool { return e.ID == id })
	if i < 0 {
		s.fail(w, r, hub.Errorf(hub.ENotFound, "no exercise %q", id))
		return
	}
	ep.Ex = list[i]
	ep.Director = ep.Ex.Role == exercise.RoleDirector
	ep.Staff = ep.Ex.Role != exercise.RoleBlueTeam
	actor := exercise.Actor{Org: u.Org, User: u.Username}
	if ep.Board, err = s.exercise.Board(ctx, id, actor, ep.Staff); err != nil {
		s.fail(w, r, err)
		return
	}
	ep.Team = ep.Ex.Team
	if ep.Staff {
		for _, t := range ep.Board.Teams {
			ep.Teams = append(ep.Teams, t.Team)
		}
		slices.Sort(ep.Teams)
		ep.Team = r.URL.Query().Get("team")
		if !slices.Contains(ep.Teams, ep.Team) && len(ep.Teams) > 0 {
			ep.Team = ep.Teams[0]
		}
	}
	if ep.Team != "" {
		if ep.Injects, err = s.exercise.Injects(ctx, id, actor, ep.Team); err != nil {
			s.fail(w, r, err)
			return
		}
		if ep.Tasks, err = s.exercise.Tasks(ctx, id, actor, ep.Team); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if ep.Director && u.Allows(hub.ScopeWrite) {
		ep.Controls = controlsFor(ep.Ex.Status, ep.Board.Frozen)
	}
	ep.Report = ep.Staff || ep.Ex.Status == exercise.StatusEnded
	s.render(w, r, code, "exercise.html", &page{Title: ep.Ex.Name, Nav: "exercises", Data: ep})
}

// exerciseControl serves POST /exercises/{id}/control (action): the director's start, pause,
// resume, end, freeze and unfreeze. The service checks the role and that the action fits.
func (s *Server) exerciseControl(w http.ResponseWriter, r *http.Request) {
	u, ok := s.writeForm(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	_, err := s.exercise.Apply(r.Context(), id, exercise.Actor{Org: u.Org, User: u.Username}, exercise.Control{Action: r.PostFormValue("action")})
	if err == nil {
		http.Redirect(w, r, "/exercises/"+id, http.StatusSeeOther)
		return
	}
	switch hub.ErrorCode(err) {
	case hub.EInvalid, hub.EForbidden, hub.EConflict:
		s.renderExercise(w, r, hub.HTTPStatus(hub.ErrorCode(err)), &exercisePage{Error: formError(err)})
	default:
		s.fail(w, r, err)
	}
}

// exerciseReport serves GET /exercises/{id}/report: the printable after-action report, as the
// service writes it, for those it opens to.
func (s *Server) exerciseReport(w http.ResponseWriter, r *http.Request) {
	u := principal(r.Context())
	rep, err := s.exercise.Report(r.Context(), r.PathValue("id"), exercise.Actor{Org: u.Org, User: u.Username})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var buf bytes.Buffer
	if err := rep.WriteHTML(&buf); err != nil {
		s.fail(w, r, hub.Errorf(hub.EInternal, "web: writing the after-action report: %v", err))
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", reportCSP)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if _, err := w.Write(buf.Bytes()); err != nil {
		s.log.Debug("web: response write failed", "err", err)
	}
}
