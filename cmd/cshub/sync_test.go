package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/taxii"
)

// taxiiSource is a hub serving TAXII over TLS on loopback with one GREEN object in its
// community workspace, n more when asked, and the read key of an observer enrolled for a peer.
type taxiiSource struct {
	*hubtest.Hub
	srv    *httptest.Server
	key    string
	caFile string
	n      int
}

func newTAXIISource(t *testing.T) *taxiiSource {
	t.Helper()
	h := hubtest.New(t, "sqlite")
	if err := h.Members.CreateOrg(context.Background(), &hub.Org{Code: "hub-b", Name: "Hub B", Country: "BE", Kind: hub.OrgObserver, Active: true}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(taxii.DiscoveryPath, taxii.New(taxii.Config{KB: h.KB, Dir: h.Store, Auth: h.Auth}))
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	s := &taxiiSource{Hub: h, srv: srv, key: h.Key(t, h.User(t, "hub-b", "hub-b-sync", hub.RoleReader), hub.ScopeRead)}
	s.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(s.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	s.add(t, 1)
	return s
}

// add stores n more GREEN indicators in the source's community workspace.
func (s *taxiiSource) add(t *testing.T, n int) {
	var objs []string
	for range n {
		s.n++
		objs = append(objs, fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-%012d",`+
			`"created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","pattern":"[domain-name:value = 'x%d.example']",`+
			`"pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}`, s.n, s.n))
	}
	s.Ingest(t, "cert-fr", hubtest.Community, []byte(`{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000001","objects":[`+strings.Join(objs, ",")+`]}`))
}

func (s *taxiiSource) root() string { return s.srv.URL + taxii.FederationRootPath }

// TestSyncCommand: cshub sync pulls from a TAXII source into a data directory, shows its
// progress on stderr, and a second run pulls only what is new.
func TestSyncCommand(t *testing.T) {
	src := newTAXIISource(t)
	src.add(t, 4)
	dir := t.TempDir()
	if code, _, errOut := run(t, "init", "--data", dir); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	setup(t, dir)
	args := []string{"--data", dir, "--from", src.root(), "--collection", "community", "--into", "community",
		"--user", "hub-b-sync", "--key", src.key, "--ca", src.caFile, "--limit", "2"}
	var prog struct {
		Pages, Received, Accepted, Duplicates int
	}
	out, errOut, err := adminRun(t, "", runSync, args...)
	if err != nil {
		t.Fatalf("sync: %v\n%s", err, errOut)
	}
	json.Unmarshal([]byte(out), &prog)
	if prog.Received != 5 || prog.Accepted != 5 || prog.Pages != 3 {
		t.Errorf("first sync %+v, want 5 objects in 3 pages", prog)
	}
	if n := strings.Count(errOut, "sync: "); n != 3 {
		t.Errorf("progress lines on stderr: %d, want one per page:\n%s", n, errOut)
	}
	src.add(t, 2)
	out, _, err = adminRun(t, "", runSync, args...)
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal([]byte(out), &prog)
	if prog.Received != 2 || prog.Accepted != 2 {
		t.Errorf("second sync %+v, want the 2 new objects", prog)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", dir, "--collection", "community", "--into", "community"}, "from: required"},
		{[]string{"--data", dir, "--from", src.root(), "--into", "community", "--insecure"}, "collection: required"},
		{[]string{"--data", dir, "--from", src.root(), "--collection", "community", "--into", "nowhere", "--key", src.key, "--insecure"}, "no workspace"},
		{[]string{"--data", dir, "--from", "https://192.0.2.1/taxii2/cshub/", "--collection", "c", "--into", "community", "--insecure"}, "insecure: only for a source on a loopback address"},
		{[]string{"--data", dir, "--from", src.root(), "--collection", "community", "--into", "community", "--key", "wrong", "--insecure"}, "401"},
	} {
		_, _, err := adminRun(t, "", runSync, tc.args...)
		if err == nil || !strings.Contains(describe(err), tc.want) {
			t.Errorf("sync %v: %v, want %q", tc.args[2:], err, tc.want)
		}
	}
}

// TestPeerCommands: peers are added, listed without their credentials, synced by name and
// removed.
func TestPeerCommands(t *testing.T) {
	src := newTAXIISource(t)
	dir := t.TempDir()
	if code, _, errOut := run(t, "init", "--data", dir); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	setup(t, dir)
	if _, errOut, err := adminRun(t, "", runPeer, "add", "--data", dir, "--name", "alliance", "--from", src.root(), "--collection", "community",
		"--into", "community", "--key", src.key, "--ca", src.caFile, "--every", "5m"); err != nil {
		t.Fatalf("peer add: %v %s", err, errOut)
	}
	out, _, err := adminRun(t, "", runPeer, "list", "--data", dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, src.key) || strings.Contains(out, "CERTIFICATE") {
		t.Errorf("peer list shows a credential:\n%s", out)
	}
	var peers []map[string]any
	if err := json.Unmarshal([]byte(out), &peers); err != nil || len(peers) != 1 || peers[0]["name"] != "alliance" ||
		peers[0]["auth"] != "bearer" || peers[0]["every"] != "5m0s" || peers[0]["ca"] != true {
		t.Fatalf("peer list: %v\n%s", err, out)
	}
	out, errOut, err := adminRun(t, "", runSync, "--data", dir, "--peer", "alliance")
	if err != nil || !strings.Contains(out, `"accepted": 1`) {
		t.Fatalf("sync --peer: %v\n%s\n%s", err, out, errOut)
	}
	if _, _, err := adminRun(t, "", runPeer, "remove", "--data", dir, "alliance"); err != nil {
		t.Fatal(err)
	}
	if out, _, _ := adminRun(t, "", runPeer, "list", "--data", dir); strings.TrimSpace(out) != "[]" {
		t.Errorf("peer list after remove: %s", out)
	}
	if _, _, err := adminRun(t, "", runPeer, "remove", "--data", dir, "alliance"); hub.ErrorCode(err) != hub.ENotFound {
		t.Errorf("removing again: %v, want ENotFound", err)
	}
}

// TestServeSyncsPeers: the schedule serve starts pulls a configured peer without a command.
func TestServeSyncsPeers(t *testing.T) {
	src := newTAXIISource(t)
	src.add(t, 2)
	dir := t.TempDir()
	if code, _, errOut := run(t, "init", "--data", dir); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	setup(t, dir)
	if _, errOut, err := adminRun(t, "", runPeer, "add", "--data", dir, "--name", "alliance", "--from", src.root(), "--collection", "community",
		"--into", "community", "--token", src.key, "--ca", src.caFile); err != nil {
		t.Fatalf("peer add: %v %s", err, errOut)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := openApp(ctx, &env{stderr: io.Discard, getenv: func(string) string { return "" }}, &common{data: dir}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	startPeerSync(ctx, a)
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := a.store.CountObjects(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, Types: []string{"indicator"}})
		if err != nil {
			t.Fatal(err)
		}
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s the hub holds %d of the peer's 3 indicators", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
