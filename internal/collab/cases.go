package collab

import (
	"context"
	"slices"
	"strings"
	"time"

	"cshub/internal/access"
	"cshub/internal/hub"
	"cshub/internal/stix"
)

// Case fields' values.
var (
	caseSeverities = []string{"low", "medium", "high", "critical"}
	caseStatuses   = []string{"open", "in-progress", "resolved", "closed"}
	taskStatuses   = []string{"open", "in-progress", "done", "cancelled"}
)

// Case action kinds.
const (
	actionTask       = "task"        // a new task
	actionTaskUpdate = "task-update" // a change of a task's status, assignee or due date
	actionLink       = "link"        // objects linked to the case
)

// CaseInput opens a case, or (through UpdateCase) changes it: nil fields stay as they are.
// Participants are organisations besides the lead, all members of the case's workspace.
type CaseInput struct {
	Title        *string   `json:"title"`
	Description  *string   `json:"description"`
	Severity     *string   `json:"severity"`
	Status       *string   `json:"status"`
	Participants *[]string `json:"participants"`
	ObjectRefs   []string  `json:"object_refs"`
	TLP          string    `json:"tlp"`
}

// Case is a case as folded from the lead's case object and everyone's actions.
type Case struct {
	ID           string    `json:"id"`
	Workspace    string    `json:"workspace"`
	TLP          hub.TLP   `json:"tlp"`
	Title        string    `json:"title"`
	Description  string    `json:"description,omitempty"`
	Severity     string    `json:"severity"`
	Status       string    `json:"status"`
	Lead         string    `json:"lead"`
	Participants []string  `json:"participants"`
	Tasks        []*Task   `json:"tasks"`
	Linked       []string  `json:"linked_objects"`
	Created      time.Time `json:"created"`
	Modified     time.Time `json:"modified"`
	// Participant tells the reader whether it may act on the case (lead or participant).
	Participant bool `json:"participant"`
}

// Task is one task of a case.
type Task struct {
	ID       string    `json:"id"`
	Title    string    `json:"title"`
	Assignee string    `json:"assignee"`
	Due      time.Time `json:"due,omitzero"`
	Status   string    `json:"status"`
	By       string    `json:"created_by"`
	Created  time.Time `json:"created"`
	Modified time.Time `json:"modified"`
}

// TaskInput creates a task or (through UpdateTask) changes one: empty fields stay as they are.
type TaskInput struct {
	Title    string `json:"title"`
	Assignee string `json:"assignee"`
	Due      string `json:"due"`
	Status   string `json:"status"`
}

// Entry is one line of a case's timeline.
type Entry struct {
	Time    time.Time `json:"time"`
	Org     string    `json:"org"`
	Kind    string    `json:"kind"` // case.opened, case.updated, task.created, task.updated, objects.linked, note
	Object  string    `json:"object"`
	Summary string    `json:"summary"`
}

// caseBody is the stored x-cshub-case object.
type caseBody struct {
	Title        string   `json:"name"`
	Description  string   `json:"description"`
	Severity     string   `json:"x_cshub_severity"`
	Status       string   `json:"x_cshub_status"`
	Lead         string   `json:"x_cshub_lead"`
	Participants []string `json:"x_cshub_participants"`
	ObjectRefs   []string `json:"object_refs"`
}

// actionBody is the stored x-cshub-case-action object.
type actionBody struct {
	CaseRef    string   `json:"x_cshub_case_ref"`
	Action     string   `json:"x_cshub_action"`
	TaskRef    string   `json:"x_cshub_task_ref"`
	Title      string   `json:"x_cshub_title"`
	Assignee   string   `json:"x_cshub_assignee"`
	Due        string   `json:"x_cshub_due"`
	Status     string   `json:"x_cshub_status"`
	ObjectRefs []string `json:"object_refs"`
}

// OpenCase opens a case in workspace ws with a as its lead. The case is shared in ws like any
// object: every member of ws may read it under its TLP (default: the workspace's), and only
// the lead and the participants act on it. A lead who wants the case kept from the other
// members marks it TLP:RED: the case and every action on it are then addressed to the lead and
// participants only.
func (s *Service) OpenCase(ctx context.Context, a Actor, ws string, in CaseInput) (*Case, error) {
	if in.Title == nil || strings.TrimSpace(*in.Title) == "" {
		return nil, hub.FieldError("title", "required")
	}
	b := caseBody{Title: strings.TrimSpace(*in.Title), Severity: "medium", Status: "open", Lead: a.Org}
	if err := s.applyCase(ctx, ws, &b, in); err != nil {
		return nil, err
	}
	tlp, err := parseTLP("tlp", in.TLP)
	if err != nil {
		return nil, err
	}
	v, err := s.viewer(ctx, a.Org, access.PathRead)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(v.Workspaces, ws) {
		return nil, hub.FieldError("workspace", "no workspace %q", ws)
	}
	for _, ref := range in.ObjectRefs {
		o, err := s.get(ctx, v, "object_refs", ref)
		if err != nil {
			return nil, err
		}
		b.ObjectRefs = append(b.ObjectRefs, o.ID)
	}
	now := s.now()
	p := placement{workspace: ws, tlp: tlp}
	if tlp == hub.TLPRed {
		p.recipients = others(a.Org, b.Participants)
	}
	o, err := s.put(ctx, a, p, caseObject(stix.NewID(TypeCase), now, now, b))
	if err != nil {
		return nil, err
	}
	return s.Case(ctx, a.Org, o.ID)
}

// UpdateCase changes the case header; only the lead may, by adding a version of the case
// object.
func (s *Service) UpdateCase(ctx context.Context, a Actor, id string, in CaseInput) (*Case, error) {
	v, err := s.viewer(ctx, a.Org, access.PathRead)
	if err != nil {
		return nil, err
	}
	o, b, err := s.caseObject(ctx, v, id)
	if err != nil {
		return nil, err
	}
	if b.Lead != a.Org {
		return nil, &hub.Error{Code: hub.EForbidden, Field: "id", Message: "only the lead organisation (" + b.Lead + ") changes the case; participants add tasks and links"}
	}
	if in.TLP != "" {
		return nil, hub.FieldError("tlp", "a case keeps the TLP it was opened with")
	}
	if in.Title != nil {
		if strings.TrimSpace(*in.Title) == "" {
			return nil, hub.FieldError("title", "must not be empty")
		}
		b.Title = strings.TrimSpace(*in.Title)
	}
	if err := s.applyCase(ctx, o.Workspace, b, in); err != nil {
		return nil, err
	}
	for _, ref := range in.ObjectRefs {
		t, err := s.get(ctx, v, "object_refs", ref)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(b.ObjectRefs, t.ID) {
			b.ObjectRefs = append(b.ObjectRefs, t.ID)
		}
	}
	now := s.now()
	if !now.After(o.Modified) {
		now = o.Modified.Add(time.Millisecond)
	}
	p := placement{workspace: o.Workspace, tlp: o.TLP}
	if o.TLP == hub.TLPRed {
		p.recipients = others(a.Org, b.Participants)
	}
	if _, err := s.put(ctx, a, p, caseObject(o.ID, o.Created, now, *b)); err != nil {
		return nil, err
	}
	return s.Case(ctx, a.Org, o.ID)
}

// applyCase checks and applies the optional fields of in to b.
func (s *Service) applyCase(ctx context.Context, ws string, b *caseBody, in CaseInput) error {
	if in.Description != nil {
		b.Description = *in.Description
	}
	if in.Severity != nil {
		if !slices.Contains(caseSeverities, *in.Severity) {
			return hub.FieldError("severity", "%q is not one of %s", *in.Severity, strings.Join(caseSeverities, ", "))
		}
		b.Severity = *in.Severity
	}
	if in.Status != nil {
		if !slices.Contains(caseStatuses, *in.Status) {
			return hub.FieldError("status", "%q is not one of %s", *in.Status, strings.Join(caseStatuses, ", "))
		}
		b.Status = *in.Status
	}
	if in.Participants != nil {
		w, err := s.dir.Workspace(ctx, ws)
		if hub.ErrorCode(err) == hub.ENotFound {
			return hub.FieldError("workspace", "no workspace %q", ws)
		} else if err != nil {
			return err
		}
		parts := others(b.Lead, *in.Participants)
		for _, p := range parts {
			if !slices.Contains(w.Members, p) {
				return hub.FieldError("participants", "%q is not a member of workspace %q", p, ws)
			}
		}
		b.Participants = parts
	}
	if b.Participants == nil {
		b.Participants = []string{}
	}
	return nil
}

func caseObject(id string, created, modified time.Time, b caseBody) map[string]any {
	obj := map[string]any{"type": TypeCase, "id": id, "created": stixTime(created), "modified": stixTime(modified),
		"name": b.Title, "x_cshub_severity": b.Severity, "x_cshub_status": b.Status, "x_cshub_lead": b.Lead, "x_cshub_participants": b.Participants}
	if b.Description != "" {
		obj["description"] = b.Description
	}
	if len(b.ObjectRefs) > 0 {
		obj["object_refs"] = b.ObjectRefs
	}
	return obj
}

// caseObject returns the latest version of case id v may see, with its body.
func (s *Service) caseObject(ctx context.Context, v hub.Viewer, id string) (*hub.Object, *caseBody, error) {
	if refType(id) != TypeCase {
		return nil, nil, hub.FieldError("id", "%q is not a case (%s--…)", id, TypeCase)
	}
	o, err := s.get(ctx, v, "id", id)
	if err != nil {
		return nil, nil, err
	}
	var b caseBody
	if err := decode(o, &b); err != nil {
		return nil, nil, err
	}
	return o, &b, nil
}

// AddTask adds a task to case id; the lead and the participants may, and the assignee must be
// one of them (a itself when empty).
func (s *Service) AddTask(ctx context.Context, a Actor, id string, in TaskInput) (*Task, error) {
	c, o, err := s.actOn(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.Title) == "" {
		return nil, hub.FieldError("title", "required")
	}
	if in.Assignee == "" {
		in.Assignee = a.Org
	}
	if !c.acts(in.Assignee) {
		return nil, hub.FieldError("assignee", "%q is neither the lead nor a participant of the case", in.Assignee)
	}
	if in.Status == "" {
		in.Status = "open"
	}
	if !slices.Contains(taskStatuses, in.Status) {
		return nil, hub.FieldError("status", "%q is not one of %s", in.Status, strings.Join(taskStatuses, ", "))
	}
	due, err := parseDue(in.Due)
	if err != nil {
		return nil, err
	}
	act := actionBody{CaseRef: c.ID, Action: actionTask, Title: strings.TrimSpace(in.Title), Assignee: in.Assignee, Status: in.Status}
	if !due.IsZero() {
		act.Due = stixTime(due)
	}
	ao, err := s.act(ctx, a, c, o, act)
	if err != nil {
		return nil, err
	}
	c, err = s.Case(ctx, a.Org, id)
	if err != nil {
		return nil, err
	}
	for _, t := range c.Tasks {
		if t.ID == ao.ID {
			return t, nil
		}
	}
	return nil, hub.Errorf(hub.EInternal, "collab: task %s not folded into %s", ao.ID, id)
}

// UpdateTask changes a task's status, assignee or due date; the lead, the task's creator and
// its assignee may.
func (s *Service) UpdateTask(ctx context.Context, a Actor, id, task string, in TaskInput) (*Task, error) {
	c, o, err := s.actOn(ctx, a, id)
	if err != nil {
		return nil, err
	}
	var t *Task
	for _, x := range c.Tasks {
		if x.ID == task {
			t = x
		}
	}
	if t == nil {
		return nil, &hub.Error{Code: hub.ENotFound, Field: "task", Message: "no task " + task + " in case " + id}
	}
	if !t.mayChange(a.Org, c.Lead) {
		return nil, &hub.Error{Code: hub.EForbidden, Field: "task", Message: "a task is changed by the lead, its creator or its assignee"}
	}
	if in.Title != "" {
		return nil, hub.FieldError("title", "a task keeps its title; add a new task instead")
	}
	if in.Assignee != "" && !c.acts(in.Assignee) {
		return nil, hub.FieldError("assignee", "%q is neither the lead nor a participant of the case", in.Assignee)
	}
	if in.Status != "" && !slices.Contains(taskStatuses, in.Status) {
		return nil, hub.FieldError("status", "%q is not one of %s", in.Status, strings.Join(taskStatuses, ", "))
	}
	due, err := parseDue(in.Due)
	if err != nil {
		return nil, err
	}
	if in.Status == "" && in.Assignee == "" && due.IsZero() {
		return nil, hub.FieldError("body", "change at least one of status, assignee, due")
	}
	act := actionBody{CaseRef: c.ID, Action: actionTaskUpdate, TaskRef: task, Assignee: in.Assignee, Status: in.Status}
	if !due.IsZero() {
		act.Due = stixTime(due)
	}
	if _, err := s.act(ctx, a, c, o, act); err != nil {
		return nil, err
	}
	c, err = s.Case(ctx, a.Org, id)
	if err != nil {
		return nil, err
	}
	for _, x := range c.Tasks {
		if x.ID == task {
			return x, nil
		}
	}
	return nil, hub.Errorf(hub.EInternal, "collab: task %s lost from %s", task, id)
}

// Link links objects a may read to case id; the lead and the participants may.
func (s *Service) Link(ctx context.Context, a Actor, id string, refs []string) (*Case, error) {
	c, o, err := s.actOn(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		return nil, hub.FieldError("object_refs", "name at least one object")
	}
	v, err := s.viewer(ctx, a.Org, access.PathRead)
	if err != nil {
		return nil, err
	}
	act := actionBody{CaseRef: c.ID, Action: actionLink}
	for _, ref := range refs {
		if err := checkRef("object_refs", ref); err != nil {
			return nil, err
		}
		t, err := s.get(ctx, v, "object_refs", ref)
		if err != nil {
			return nil, err
		}
		act.ObjectRefs = append(act.ObjectRefs, t.ID)
	}
	if _, err := s.act(ctx, a, c, o, act); err != nil {
		return nil, err
	}
	return s.Case(ctx, a.Org, id)
}

// actOn returns case id as a sees it, refusing an organisation that may read the case but is
// neither its lead nor a participant.
func (s *Service) actOn(ctx context.Context, a Actor, id string) (*Case, *hub.Object, error) {
	v, err := s.viewer(ctx, a.Org, access.PathRead)
	if err != nil {
		return nil, nil, err
	}
	o, _, err := s.caseObject(ctx, v, id)
	if err != nil {
		return nil, nil, err
	}
	c, _, err := s.fold(ctx, v, o)
	if err != nil {
		return nil, nil, err
	}
	if !c.acts(a.Org) {
		return nil, nil, &hub.Error{Code: hub.EForbidden, Field: "id", Message: "only the lead and the participants act on a case"}
	}
	return c, o, nil
}

// act stores an action on case c (stored as o) by a, in the case's workspace, marked like the
// case and, for a TLP:RED case, addressed to its lead and participants.
func (s *Service) act(ctx context.Context, a Actor, c *Case, o *hub.Object, b actionBody) (*hub.Object, error) {
	now := s.now()
	obj := map[string]any{"type": TypeCaseAction, "id": stix.NewID(TypeCaseAction), "created": stixTime(now), "modified": stixTime(now),
		"x_cshub_case_ref": b.CaseRef, "x_cshub_action": b.Action}
	for k, v := range map[string]string{"x_cshub_task_ref": b.TaskRef, "x_cshub_title": b.Title, "x_cshub_assignee": b.Assignee, "x_cshub_due": b.Due, "x_cshub_status": b.Status} {
		if v != "" {
			obj[k] = v
		}
	}
	if len(b.ObjectRefs) > 0 {
		obj["object_refs"] = b.ObjectRefs
	}
	p := placement{workspace: o.Workspace, tlp: o.TLP}
	if o.TLP == hub.TLPRed {
		p.recipients = others(a.Org, append([]string{c.Lead}, c.Participants...))
	}
	return s.put(ctx, a, p, obj)
}

// Case returns case id as org sees it.
func (s *Service) Case(ctx context.Context, org, id string) (*Case, error) {
	v, err := s.viewer(ctx, org, access.PathRead)
	if err != nil {
		return nil, err
	}
	o, _, err := s.caseObject(ctx, v, id)
	if err != nil {
		return nil, err
	}
	c, _, err := s.fold(ctx, v, o)
	return c, err
}

// Cases returns the cases org may see, in workspace ws when not empty, newest first.
func (s *Service) Cases(ctx context.Context, org, ws string) ([]*Case, error) {
	v, err := s.viewer(ctx, org, access.PathRead)
	if err != nil {
		return nil, err
	}
	objs, err := s.list(ctx, v, TypeCase)
	if err != nil {
		return nil, err
	}
	actions, err := s.list(ctx, v, TypeCaseAction)
	if err != nil {
		return nil, err
	}
	out := []*Case{}
	for _, o := range objs {
		if ws != "" && o.Workspace != ws {
			continue
		}
		c, _, err := s.foldWith(ctx, v, o, nil, actions)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *Case) int { return b.Created.Compare(a.Created) })
	return out, nil
}

// Timeline returns everything that happened on case id that org may see, oldest first: each
// version of the case, each action, and each note on the case or reply to one.
func (s *Service) Timeline(ctx context.Context, org, id string) ([]Entry, error) {
	v, err := s.viewer(ctx, org, access.PathRead)
	if err != nil {
		return nil, err
	}
	o, _, err := s.caseObject(ctx, v, id)
	if err != nil {
		return nil, err
	}
	versions, err := s.kb.List(ctx, hub.Filter{Viewer: v, IDs: []string{o.ID}, Workspaces: []string{o.Workspace}, AllVersions: true, Limit: pageSize})
	if err != nil {
		return nil, err
	}
	_, tl, err := s.foldWith(ctx, v, o, versions, nil)
	if err != nil {
		return nil, err
	}
	notes, err := s.notes(ctx, v)
	if err != nil {
		return nil, err
	}
	for _, n := range threadOf(notes, o.ID) {
		tl = append(tl, Entry{Time: n.Created, Org: n.Org, Kind: "note", Object: n.ID, Summary: n.Content})
	}
	slices.SortStableFunc(tl, func(a, b Entry) int { return a.Time.Compare(b.Time) })
	return tl, nil
}

// fold folds case o with every action v may see.
func (s *Service) fold(ctx context.Context, v hub.Viewer, o *hub.Object) (*Case, []Entry, error) {
	return s.foldWith(ctx, v, o, nil, nil)
}

// foldWith folds the latest case version o and the actions on it into the case's state and
// timeline. versions, when given, are all versions of the case (oldest first) for the
// timeline; actions, when nil, are read from the store. Actions by an organisation that may
// not act on the case, task updates by one that may not change the task and assignments to an
// outsider are left out: the rules hold whatever way an action reached the store.
func (s *Service) foldWith(ctx context.Context, v hub.Viewer, o *hub.Object, versions, actions []*hub.Object) (*Case, []Entry, error) {
	var b caseBody
	if err := decode(o, &b); err != nil {
		return nil, nil, err
	}
	c := &Case{ID: o.ID, Workspace: o.Workspace, TLP: o.TLP, Title: b.Title, Description: b.Description, Severity: b.Severity,
		Status: b.Status, Lead: o.Author, Participants: b.Participants, Tasks: []*Task{}, Linked: append([]string{}, b.ObjectRefs...),
		Created: o.Created, Modified: o.Modified, Participant: o.Author == v.Org || slices.Contains(b.Participants, v.Org)}
	if c.Participants == nil {
		c.Participants = []string{}
	}
	var tl []Entry
	var prev *caseBody
	for _, ver := range versions {
		var vb caseBody
		if err := decode(ver, &vb); err != nil {
			return nil, nil, err
		}
		if prev == nil {
			tl = append(tl, Entry{Time: ver.Modified, Org: ver.Author, Kind: "case.opened", Object: ver.ID,
				Summary: vb.Title + " (severity " + vb.Severity + ", lead " + ver.Author + ", participants " + strings.Join(vb.Participants, ", ") + ")"})
		} else {
			tl = append(tl, Entry{Time: ver.Modified, Org: ver.Author, Kind: "case.updated", Object: ver.ID, Summary: caseChanges(prev, &vb)})
		}
		prev = &vb
	}
	if actions == nil {
		var err error
		if actions, err = s.list(ctx, v, TypeCaseAction); err != nil {
			return nil, nil, err
		}
	}
	var mine []*hub.Object
	for _, ao := range actions {
		if ao.Workspace == o.Workspace && ao.Created.Compare(o.Created) >= 0 {
			mine = append(mine, ao)
		}
	}
	slices.SortStableFunc(mine, func(a, b *hub.Object) int { return a.Created.Compare(b.Created) })
	tasks := map[string]*Task{}
	for _, ao := range mine {
		var ab actionBody
		if err := decode(ao, &ab); err != nil {
			return nil, nil, err
		}
		if ab.CaseRef != o.ID || !c.acts(ao.Author) {
			continue
		}
		switch ab.Action {
		case actionTask:
			if ab.Title == "" || !c.acts(ab.Assignee) || !slices.Contains(taskStatuses, ab.Status) {
				continue
			}
			t := &Task{ID: ao.ID, Title: ab.Title, Assignee: ab.Assignee, Status: ab.Status, By: ao.Author, Created: ao.Created, Modified: ao.Created}
			t.Due, _ = time.Parse(time.RFC3339Nano, ab.Due)
			tasks[t.ID] = t
			c.Tasks = append(c.Tasks, t)
			tl = append(tl, Entry{Time: ao.Created, Org: ao.Author, Kind: "task.created", Object: ao.ID, Summary: t.Title + " (assigned to " + t.Assignee + ")"})
		case actionTaskUpdate:
			t := tasks[ab.TaskRef]
			if t == nil || !t.mayChange(ao.Author, c.Lead) {
				continue
			}
			var changes []string
			if ab.Assignee != "" && c.acts(ab.Assignee) {
				t.Assignee = ab.Assignee
				changes = append(changes, "assigned to "+ab.Assignee)
			}
			if slices.Contains(taskStatuses, ab.Status) {
				t.Status = ab.Status
				changes = append(changes, "status "+ab.Status)
			}
			if due, err := time.Parse(time.RFC3339Nano, ab.Due); err == nil {
				t.Due = due
				changes = append(changes, "due "+ab.Due)
			}
			if len(changes) == 0 {
				continue
			}
			t.Modified = ao.Created
			tl = append(tl, Entry{Time: ao.Created, Org: ao.Author, Kind: "task.updated", Object: t.ID, Summary: t.Title + ": " + strings.Join(changes, ", ")})
		case actionLink:
			var added []string
			for _, ref := range ab.ObjectRefs {
				if !slices.Contains(c.Linked, ref) {
					c.Linked = append(c.Linked, ref)
					added = append(added, ref)
				}
			}
			if len(added) > 0 {
				tl = append(tl, Entry{Time: ao.Created, Org: ao.Author, Kind: "objects.linked", Object: ao.ID, Summary: strings.Join(added, ", ")})
			}
		}
		if ao.Created.After(c.Modified) {
			c.Modified = ao.Created
		}
	}
	return c, tl, nil
}

// acts reports whether org may act on c: its lead or a participant.
func (c *Case) acts(org string) bool {
	return org != "" && (org == c.Lead || slices.Contains(c.Participants, org))
}

// mayChange reports whether org may change t of a case led by lead.
func (t *Task) mayChange(org, lead string) bool {
	return org == lead || org == t.By || org == t.Assignee
}

// caseChanges describes what changed from a to b, for the timeline.
func caseChanges(a, b *caseBody) string {
	var out []string
	if a.Title != b.Title {
		out = append(out, "title "+b.Title)
	}
	if a.Severity != b.Severity {
		out = append(out, "severity "+b.Severity)
	}
	if a.Status != b.Status {
		out = append(out, "status "+b.Status)
	}
	if !slices.Equal(a.Participants, b.Participants) {
		out = append(out, "participants "+strings.Join(b.Participants, ", "))
	}
	if a.Description != b.Description {
		out = append(out, "description changed")
	}
	if !slices.Equal(a.ObjectRefs, b.ObjectRefs) {
		out = append(out, "linked objects "+strings.Join(b.ObjectRefs, ", "))
	}
	if len(out) == 0 {
		return "no change"
	}
	return strings.Join(out, "; ")
}

// parseDue reads a due date: a day (2026-12-01, due at its end, UTC) or an RFC 3339 instant.
func parseDue(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.Add(24*time.Hour - time.Millisecond), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, hub.FieldError("due", "%q is neither a day (2026-12-01) nor an RFC 3339 time", s)
	}
	return t.UTC(), nil
}
