package collab_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"cshub/internal/collab"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
)

func TestCaseLifecycle(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ind := f.ingest(t, "cert-fr", hubtest.Community, nil, indicator(1, "senate.example", hub.TLPGreen))[0]
		var c collab.Case
		f.call(t, "cert-fr", "POST", "/api/v1/workspaces/community/cases", map[string]any{"title": "Take-down of senate.example",
			"severity": "high", "participants": []string{"cert-be"}, "object_refs": []string{ind}}, http.StatusCreated, &c)
		if c.Lead != "cert-fr" || c.Status != "open" || c.Severity != "high" || !slices.Equal(c.Participants, []string{"cert-be"}) || !c.Participant {
			t.Fatalf("opened case: %s", mustJSON(c))
		}
		base := "/api/v1/cases/" + c.ID

		// The participant acts: a task for itself, then progress on it, then a link.
		var task collab.Task
		f.call(t, "cert-be", "POST", base+"/tasks", map[string]any{"title": "Contact the registrar", "due": "2026-12-01"}, http.StatusCreated, &task)
		if task.Assignee != "cert-be" || task.Status != "open" || task.Due.IsZero() {
			t.Errorf("task: %s", mustJSON(task))
		}
		f.call(t, "cert-be", "PATCH", base+"/tasks/"+task.ID, map[string]any{"status": "in-progress"}, http.StatusOK, &task)
		if task.Status != "in-progress" {
			t.Errorf("task status %q after update", task.Status)
		}
		ind2 := f.ingest(t, "cert-be", hubtest.Community, nil, indicator(2, "senate2.example", hub.TLPGreen))[0]
		f.call(t, "cert-be", "POST", base+"/links", map[string]any{"object_refs": []string{ind2}}, http.StatusOK, nil)

		// The lead changes the case; nobody else may.
		f.call(t, "cert-fr", "PATCH", base, map[string]any{"status": "in-progress", "participants": []string{"cert-be", "cert-uk"}}, http.StatusOK, &c)
		if c.Status != "in-progress" || !slices.Equal(c.Participants, []string{"cert-be", "cert-uk"}) {
			t.Errorf("after the lead's update: %s", mustJSON(c))
		}
		f.call(t, "cert-uk", "POST", base+"/tasks", map[string]any{"title": "Sinkhole", "assignee": "cert-fr"}, http.StatusCreated, nil)
		f.call(t, "cert-fr", "POST", "/api/v1/notes", map[string]any{"object_refs": []string{c.ID}, "content": "@cert-uk thanks"}, http.StatusCreated, nil)

		var got collab.Case
		f.call(t, "cert-uk", "GET", base, nil, http.StatusOK, &got)
		if len(got.Tasks) != 2 || got.Tasks[0].Status != "in-progress" || got.Tasks[1].Assignee != "cert-fr" ||
			!slices.Equal(got.Linked, []string{ind, ind2}) || !got.Participant {
			t.Errorf("folded case: %s", mustJSON(got))
		}
		var tl []collab.Entry
		f.call(t, "cert-be", "GET", base+"/timeline", nil, http.StatusOK, &tl)
		var kinds []string
		for _, e := range tl {
			kinds = append(kinds, e.Org+" "+e.Kind)
		}
		want := []string{"cert-fr case.opened", "cert-be task.created", "cert-be task.updated", "cert-be objects.linked",
			"cert-fr case.updated", "cert-uk task.created", "cert-fr note"}
		if !slices.Equal(kinds, want) {
			t.Errorf("timeline:\n got %q\nwant %q", kinds, want)
		}
		var list []*collab.Case
		f.call(t, "cert-be", "GET", "/api/v1/cases?workspace=community", nil, http.StatusOK, &list)
		if len(list) != 1 || list[0].ID != c.ID {
			t.Errorf("case list: %s", mustJSON(list))
		}
	})
}

func TestCaseRules(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.workspace(t, "bilateral", hub.WorkspaceGroup, "cert-fr", "cert-be")
		var open, red, bil collab.Case
		f.call(t, "cert-fr", "POST", "/api/v1/workspaces/community/cases", map[string]any{"title": "Open case", "participants": []string{"cert-be"}}, http.StatusCreated, &open)
		f.call(t, "cert-fr", "POST", "/api/v1/workspaces/community/cases", map[string]any{"title": "Red case", "participants": []string{"cert-be"}, "tlp": "red"}, http.StatusCreated, &red)
		f.call(t, "cert-fr", "POST", "/api/v1/workspaces/bilateral/cases", map[string]any{"title": "Bilateral case"}, http.StatusCreated, &bil)
		var task collab.Task
		f.call(t, "cert-fr", "POST", "/api/v1/cases/"+open.ID+"/tasks", map[string]any{"title": "Lead's task"}, http.StatusCreated, &task)

		// A member of the workspace who is not a participant reads the case, read-only.
		var seen collab.Case
		f.call(t, "cert-uk", "GET", "/api/v1/cases/"+open.ID, nil, http.StatusOK, &seen)
		if seen.Participant || len(seen.Tasks) != 1 {
			t.Errorf("non-participant's view: %s", mustJSON(seen))
		}
		for _, tc := range []struct {
			name, org, method, path string
			in                      map[string]any
			status                  int
			field                   string
		}{
			{"non-participant adds a task", "cert-uk", "POST", "/api/v1/cases/" + open.ID + "/tasks", map[string]any{"title": "x"}, http.StatusForbidden, "id"},
			{"non-participant links", "cert-uk", "POST", "/api/v1/cases/" + open.ID + "/links", map[string]any{"object_refs": []string{open.ID}}, http.StatusForbidden, "id"},
			{"participant changes the case", "cert-be", "PATCH", "/api/v1/cases/" + open.ID, map[string]any{"status": "closed"}, http.StatusForbidden, "id"},
			{"participant changes the lead's task", "cert-be", "PATCH", "/api/v1/cases/" + open.ID + "/tasks/" + task.ID, map[string]any{"status": "done"}, http.StatusForbidden, "task"},
			{"task to an outsider", "cert-be", "POST", "/api/v1/cases/" + open.ID + "/tasks", map[string]any{"title": "x", "assignee": "cert-uk"}, http.StatusBadRequest, "assignee"},
			{"RED case, not addressed", "cert-uk", "GET", "/api/v1/cases/" + red.ID, nil, http.StatusNotFound, "id"},
			{"RED case timeline, not addressed", "cert-uk", "GET", "/api/v1/cases/" + red.ID + "/timeline", nil, http.StatusNotFound, "id"},
			{"other workspace", "cert-uk", "GET", "/api/v1/cases/" + bil.ID, nil, http.StatusNotFound, "id"},
			{"open in a workspace not one's own", "cert-uk", "POST", "/api/v1/workspaces/bilateral/cases", map[string]any{"title": "x"}, http.StatusBadRequest, "workspace"},
			{"participant outside the workspace", "cert-fr", "POST", "/api/v1/workspaces/bilateral/cases", map[string]any{"title": "x", "participants": []string{"cert-uk"}}, http.StatusBadRequest, "participants"},
			{"no title", "cert-fr", "POST", "/api/v1/workspaces/community/cases", map[string]any{"severity": "low"}, http.StatusBadRequest, "title"},
			{"bad severity", "cert-fr", "POST", "/api/v1/workspaces/community/cases", map[string]any{"title": "x", "severity": "dire"}, http.StatusBadRequest, "severity"},
			{"bad status", "cert-fr", "PATCH", "/api/v1/cases/" + open.ID, map[string]any{"status": "done"}, http.StatusBadRequest, "status"},
			{"bad due", "cert-fr", "POST", "/api/v1/cases/" + open.ID + "/tasks", map[string]any{"title": "x", "due": "soon"}, http.StatusBadRequest, "due"},
			{"not a case", "cert-fr", "GET", "/api/v1/cases/indicator--00000000-0000-4000-8000-000000000001", nil, http.StatusBadRequest, "id"},
			{"no such task", "cert-fr", "PATCH", "/api/v1/cases/" + open.ID + "/tasks/x-cshub-case-action--00000000-0000-4000-8000-000000000001", map[string]any{"status": "done"}, http.StatusNotFound, "task"},
		} {
			var e apiError
			f.call(t, tc.org, tc.method, tc.path, tc.in, tc.status, &e)
			if e.Error.Field != tc.field {
				t.Errorf("%s: field %q, want %q (%s)", tc.name, e.Error.Field, tc.field, e.Error.Message)
			}
		}
		var redSeen collab.Case
		f.call(t, "cert-be", "GET", "/api/v1/cases/"+red.ID, nil, http.StatusOK, &redSeen)
		var list []*collab.Case
		f.call(t, "cert-uk", "GET", "/api/v1/cases", nil, http.StatusOK, &list)
		if len(list) != 1 || list[0].ID != open.ID {
			t.Errorf("cert-uk lists %s, want only the open community case", mustJSON(list))
		}

		// An action slipped in through the bundle API by a non-participant changes nothing.
		forged := map[string]any{"type": collab.TypeCaseAction, "spec_version": "2.1", "id": "x-cshub-case-action--00000000-0000-4000-8000-000000000009",
			"created": "2030-01-01T00:00:00.000Z", "modified": "2030-01-01T00:00:00.000Z", "x_cshub_case_ref": open.ID, "x_cshub_action": "task-update",
			"x_cshub_task_ref": task.ID, "x_cshub_status": "cancelled"}
		b, _ := json.Marshal(map[string]any{"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000002", "objects": []any{forged}})
		f.h.Ingest(t, "cert-uk", hubtest.Community, b)
		f.call(t, "cert-fr", "GET", "/api/v1/cases/"+open.ID, nil, http.StatusOK, &seen)
		if seen.Tasks[0].Status != "open" {
			t.Errorf("a non-participant's forged action changed the task to %q", seen.Tasks[0].Status)
		}
	})
}
