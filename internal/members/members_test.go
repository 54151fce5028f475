package members_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cshub/internal/audit"
	"cshub/internal/auth"
	"cshub/internal/hub"
	"cshub/internal/members"
	"cshub/internal/seal"
	"cshub/internal/store/sqlite"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func location(o *hub.Object) seal.Location {
	return seal.Location{Workspace: o.Workspace, Kind: "object", ID: o.ID, Version: o.Modified.UTC().Format(time.RFC3339Nano)}
}

// copyFiles copies the SQLite database files (main file, WAL, shared memory) of path into dir.
func copyFiles(t *testing.T, path, dir string) string {
	t.Helper()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil {
			if suffix != "" && os.IsNotExist(err) {
				continue
			}
			t.Fatal(err)
		}
		must(t, os.WriteFile(filepath.Join(dir, filepath.Base(path)+suffix), b, 0o600))
	}
	return filepath.Join(dir, filepath.Base(path))
}

// TestDeleteWorkspaceShreds copies the database files before a workspace is deleted, then
// shows that the copy's rows of that workspace no longer open with the keyring as it is after
// the deletion, while the other workspace's rows still do, and that the deletion is audited.
func TestDeleteWorkspaceShreds(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.db")
	st, err := sqlite.Open(path)
	must(t, err)
	defer st.Close()
	root := make([]byte, 32)
	rand.Read(root)
	b := seal.New(st)
	must(t, b.Initialize(ctx, root))
	m := members.New(st, b, nil, nil)
	log := audit.New(st, audit.Barrier{B: b}, nil)
	m.SetAudit(log)

	must(t, m.CreateOrg(ctx, &hub.Org{Code: "fr", Name: "CERT-FR", Country: "FR", Kind: hub.OrgMember, Active: true}))
	// Enough workspaces for the keyring blob to overflow a page, as in a real hub: the old
	// blob's overflow pages are freed when it is replaced.
	slugs := []string{"doomed", "kept"}
	for i := range 60 {
		slugs = append(slugs, fmt.Sprintf("other-%02d", i))
	}
	for _, ws := range slugs {
		must(t, m.CreateWorkspace(ctx, &hub.Workspace{Slug: ws, Name: ws + " workspace", Kind: hub.WorkspacePrivate, Members: []string{"fr"}}))
	}
	// A rotation, so that the destroyed workspace has keys in more than one term.
	_, err = b.Rotate(ctx)
	must(t, err)
	at := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	var objs []*hub.Object
	for i, ws := range []string{"doomed", "kept", "doomed", "kept"} {
		o := &hub.Object{ID: fmt.Sprintf("report--00000000-0000-4000-8000-%012d", i), Type: "report",
			Created: at, Modified: at, Workspace: ws, Author: "fr", TLP: hub.TLPAmber}
		o.Body, err = b.Encrypt(location(o), []byte("secret of "+ws))
		must(t, err)
		objs = append(objs, o)
	}
	_, err = st.PutObjects(ctx, objs, hub.PutOptions{})
	must(t, err)
	oldRing, _, err := st.Keyring(ctx)
	must(t, err)

	copyDir := t.TempDir()
	copyPath := copyFiles(t, path, copyDir)

	if err := m.DeleteWorkspace(ctx, "doomed", auth.Principal{Org: "fr", Username: "operator"}); err != nil {
		t.Fatal(err)
	}

	// The live store no longer has the workspace or its rows.
	if _, err := st.Workspace(ctx, "doomed"); hub.ErrorCode(err) != hub.ENotFound {
		t.Errorf("Workspace(doomed) after deletion: %v, want ENotFound", err)
	}
	if n, err := st.CountObjects(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, Workspaces: []string{"doomed"}, AllVersions: true}); err != nil || n != 0 {
		t.Errorf("rows of doomed after deletion = %d, %v; want 0", n, err)
	}

	// The copy still has the rows; the keyring after the deletion opens only the kept ones.
	after := seal.New(st)
	must(t, after.Unseal(ctx, root))
	cp, err := sqlite.Open(copyPath)
	must(t, err)
	defer cp.Close()
	rows, err := cp.ListObjects(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, AllVersions: true})
	must(t, err)
	if len(rows) != 4 {
		t.Fatalf("the copy holds %d rows, want 4", len(rows))
	}
	for _, o := range rows {
		p, err := after.Decrypt(location(o), o.Body)
		switch o.Workspace {
		case "doomed":
			if hub.ErrorCode(err) != hub.ENotFound || !strings.Contains(err.Error(), "workspace key destroyed") {
				t.Errorf("copy's %s in doomed opened: %q, %v; want ENotFound, workspace key destroyed", o.ID, p, err)
			}
		case "kept":
			if err != nil || string(p) != "secret of kept" {
				t.Errorf("copy's %s in kept = %q, %v; want it to open", o.ID, p, err)
			}
		}
	}

	// What remains readable is a copy that carries its own, older keyring blob, with the
	// root key that sealed it: a backup. Rekeying is what retires that root key.
	old := seal.New(cp)
	must(t, old.Unseal(ctx, root))
	if p, err := old.Decrypt(location(rows[0]), rows[0].Body); err != nil || string(p) != "secret of doomed" {
		t.Errorf("old keyring with the old root key = %q, %v; want it to open (the documented limit)", p, err)
	}

	// The deletion is in the audit log, and the chain holds.
	items, err := log.List(ctx, 0, 100)
	must(t, err)
	var found bool
	for _, it := range items {
		if it.Action == "workspace.delete" && it.Target == "doomed" && it.Actor == "operator" && it.Org == "fr" {
			found = true
		}
	}
	if !found {
		t.Errorf("no workspace.delete entry for doomed in %+v", items)
	}
	rep, err := log.Verify(ctx)
	must(t, err)
	if rep.Broken != nil || rep.Verified == 0 {
		t.Errorf("audit chain broken: %+v", rep)
	}

	// secure_delete: once the hub is closed (WAL checkpointed into the main file and removed),
	// the old keyring blob, which still holds the destroyed keys, is nowhere in the files.
	// (While the hub is open, the WAL still holds the page with the old blob until the next
	// checkpoint.)
	must(t, st.Close())
	files, _ := filepath.Glob(path + "*")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		must(t, err)
		if i := bytes.Index(raw, oldRing[len(oldRing)-64:]); i >= 0 {
			t.Errorf("the old keyring blob lingers in %s at offset %d", filepath.Base(f), i)
		}
	}
}

func TestDeleteWorkspaceNeedsAudit(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	must(t, err)
	defer st.Close()
	root := make([]byte, 32)
	io.ReadFull(rand.Reader, root)
	b := seal.New(st)
	must(t, b.Initialize(ctx, root))
	m := members.New(st, b, nil, nil)
	must(t, m.CreateOrg(ctx, &hub.Org{Code: "fr", Name: "CERT-FR", Country: "FR", Kind: hub.OrgMember, Active: true}))
	must(t, m.CreateWorkspace(ctx, &hub.Workspace{Slug: "w", Name: "w", Kind: hub.WorkspacePrivate, Members: []string{"fr"}}))
	if err := m.DeleteWorkspace(ctx, "w", auth.Principal{}); err == nil {
		t.Fatal("DeleteWorkspace without an audit log succeeded")
	}
	// Nothing was destroyed.
	ws, err := b.Workspaces()
	must(t, err)
	if fmt.Sprint(ws) != "[w]" {
		t.Errorf("workspaces with keys = %v, want [w]", ws)
	}
	m.SetAudit(audit.New(st, audit.Barrier{B: b}, nil))
	if err := m.DeleteWorkspace(ctx, "missing", auth.Principal{}); hub.ErrorCode(err) != hub.ENotFound {
		t.Errorf("deleting a missing workspace: %v, want ENotFound", err)
	}
	must(t, m.DeleteWorkspace(ctx, "w", auth.Principal{}))
}
