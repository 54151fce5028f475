package web

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"cshub/internal/auth"
	"cshub/internal/collab"
	"cshub/internal/hub"
)

// The case pages are views and forms over collab.Service, which applies the case rules (who
// may read a case, who acts on it, who changes a task) for the API and the pages alike; the
// pages add no rule of their own and only hide the forms the service would refuse.

// The values the status forms offer. They mirror collab's own lists, which the service checks
// every change against, so a value missing here is merely not offered.
var (
	caseStatuses = []string{"open", "in-progress", "resolved", "closed"}
	taskStatuses = []string{"open", "in-progress", "done", "cancelled"}
)

// openCasesShown is how many open cases the dashboard lists.
const openCasesShown = 10

type casesPage struct {
	Cases []*collab.Case
}

// casesPage serves GET /cases[?workspace=WS]: the cases the user's organisation may see,
// newest first.
func (s *Server) casesPage(w http.ResponseWriter, r *http.Request) {
	u := principal(r.Context())
	cs, err := s.collab.Cases(r.Context(), u.Org, r.URL.Query().Get("workspace"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "cases.html", &page{Title: "Cases", Nav: "cases", Data: casesPage{Cases: cs}})
}

// openCases returns up to n cases org may see that are open or in progress, newest first, for
// the dashboard.
func (s *Server) openCases(ctx context.Context, org string, n int) ([]*collab.Case, error) {
	cs, err := s.collab.Cases(ctx, org, "")
	if err != nil {
		return nil, err
	}
	cs = slices.DeleteFunc(cs, func(c *collab.Case) bool { return c.Status != "open" && c.Status != "in-progress" })
	return cs[:min(n, len(cs))], nil
}

// casePage is what the page of one case shows.
type casePage struct {
	Case     *collab.Case
	Linked   []objectRow // the linked objects, named when the user may see them
	Timeline []collab.Entry
	Lead     bool // the user's organisation leads the case: it changes its status
	Acts     bool // the user's organisation leads or takes part: it adds tasks
	Write    bool // the user's role may change anything at all
	Members  []string
	Statuses []string
	TaskSt   []string
	Error    string // why the last change was refused, naming the field
	Task     collab.TaskInput
}

// MayChange reports whether the user's organisation may change task t, as collab decides:
// the lead, the task's creator and its assignee may.
func (p *casePage) MayChange(t *collab.Task, org string) bool {
	return p.Write && (p.Lead || t.By == org || t.Assignee == org)
}

// casePage serves GET /cases/{id}: the case's tasks, linked objects and timeline, with the
// forms the user's organisation may use. A case the user may not see is not found.
func (s *Server) casePage(w http.ResponseWriter, r *http.Request) {
	s.renderCase(w, r, http.StatusOK, &casePage{})
}

// renderCase fills cp with case {id} as the user sees it and renders it with status code.
func (s *Server) renderCase(w http.ResponseWriter, r *http.Request, code int, cp *casePage) {
	ctx := r.Context()
	u := principal(ctx)
	c, err := s.collab.Case(ctx, u.Org, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if cp.Timeline, err = s.collab.Timeline(ctx, u.Org, c.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	objs, err := s.fetch(ctx, u.Viewer, slices.Clone(c.Linked))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, id := range c.Linked {
		if o := objs[id]; o != nil {
			cp.Linked = append(cp.Linked, rowOf(o))
		} else {
			cp.Linked = append(cp.Linked, objectRow{ID: id, Type: typeOf(id)})
		}
	}
	cp.Case, cp.Statuses, cp.TaskSt = c, caseStatuses, taskStatuses
	cp.Write = u.Allows(hub.ScopeWrite)
	cp.Lead = c.Lead == u.Org
	cp.Acts = c.Participant
	cp.Members = append([]string{c.Lead}, c.Participants...)
	s.render(w, r, code, "case.html", &page{Title: c.Title, Nav: "cases", TLP: c.TLP, Data: cp})
}

// caseAction is one change to a case through collab; the form it came from is in r.
type caseAction func(r *http.Request, a collab.Actor, id string) (collab.TaskInput, error)

// caseChange wraps a change into a form handler: CSRF and the role's scope first, then the
// change through collab. A change done goes back to the case page (303, so that a reload
// does not repeat it); a refused one shows the page again with the field and the reason, and
// the form as it was filled in.
func (s *Server) caseChange(change caseAction) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, ok := s.writeForm(w, r)
		if !ok {
			return
		}
		id := r.PathValue("id")
		in, err := change(r, actorOf(u.Principal), id)
		if err == nil {
			http.Redirect(w, r, "/cases/"+id, http.StatusSeeOther)
			return
		}
		switch hub.ErrorCode(err) {
		case hub.EInvalid, hub.EForbidden, hub.EConflict:
			s.renderCase(w, r, hub.HTTPStatus(hub.ErrorCode(err)), &casePage{Error: formError(err), Task: in})
		default:
			s.fail(w, r, err)
		}
	}
}

// actorOf is the collaboration actor of a signed-in user.
func actorOf(p *auth.Principal) collab.Actor { return collab.Actor{Org: p.Org, Name: p.Username} }

// changeCaseStatus serves POST /cases/{id}/status; collab lets the lead only.
func (s *Server) changeCaseStatus(r *http.Request, a collab.Actor, id string) (collab.TaskInput, error) {
	st := r.PostFormValue("status")
	_, err := s.collab.UpdateCase(r.Context(), a, id, collab.CaseInput{Status: &st})
	return collab.TaskInput{}, err
}

// addCaseTask serves POST /cases/{id}/tasks (title, assignee, due as a day).
func (s *Server) addCaseTask(r *http.Request, a collab.Actor, id string) (collab.TaskInput, error) {
	in := collab.TaskInput{Title: strings.TrimSpace(r.PostFormValue("title")), Assignee: r.PostFormValue("assignee"), Due: r.PostFormValue("due")}
	_, err := s.collab.AddTask(r.Context(), a, id, in)
	return in, err
}

// changeCaseTask serves POST /cases/{id}/tasks/{task}: a new status for the task.
func (s *Server) changeCaseTask(r *http.Request, a collab.Actor, id string) (collab.TaskInput, error) {
	_, err := s.collab.UpdateTask(r.Context(), a, id, r.PathValue("task"), collab.TaskInput{Status: r.PostFormValue("status")})
	return collab.TaskInput{}, err
}
