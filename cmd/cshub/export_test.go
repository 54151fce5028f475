package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/members"
)

// exportBundle is a small scenario: a phishing domain (AMBER), a source range (GREEN) and,
// ingested apart for cert-be only, a RED address.
const exportBundle = `{"type":"bundle","id":"bundle--6b3b1a4c-0000-4000-8000-000000000001","objects":[
{"type":"indicator","spec_version":"2.1","id":"indicator--6b3b1a4c-0000-4000-8000-000000000001","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[domain-name:value = 'login-ministry.example']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z","confidence":80,"object_marking_refs":["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"]},
{"type":"indicator","spec_version":"2.1","id":"indicator--6b3b1a4c-0000-4000-8000-000000000002","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value ISSUBSET '203.0.113.0/24']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z","confidence":40,"object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}]}`

const redBundle = `{"type":"bundle","id":"bundle--6b3b1a4c-0000-4000-8000-000000000002","objects":[
{"type":"indicator","spec_version":"2.1","id":"indicator--6b3b1a4c-0000-4000-8000-000000000003","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '192.0.2.55']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z","object_marking_refs":["marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"]}]}`

// exportHub initialises a hub in a temporary directory with three members, the community
// workspace, a private workspace for cert-uk and the bundles above, as cert-fr shared them.
func exportHub(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, _, err := runIn(runInit, nil, "--data", dir); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := openApp(ctx, &env{stderr: io.Discard, getenv: func(string) string { return "" }}, &common{data: dir}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	m := members.New(a.store, a.barrier, a.auth, nil)
	orgs := []string{"cert-fr", "cert-be", "cert-uk"}
	for _, code := range orgs {
		if err := m.CreateOrg(ctx, &hub.Org{Code: code, Name: code, Country: "EU", Kind: hub.OrgMember, Active: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []*hub.Workspace{
		{Slug: "community", Kind: hub.WorkspaceCommunity, Members: orgs},
		{Slug: "cert-uk", Kind: hub.WorkspacePrivate, Members: []string{"cert-uk"}},
	} {
		if err := m.CreateWorkspace(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	for _, in := range []struct {
		bundle     string
		recipients []string
	}{{exportBundle, nil}, {redBundle, []string{"cert-be"}}} {
		if _, err := a.kb.Ingest(ctx, kb.Submission{Org: "cert-fr", Workspace: "community", Recipients: in.recipients}, strings.NewReader(in.bundle)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestExportCommand runs `cshub export` as the acceptance check does: as cert-uk, in the rpz and
// nftables formats, to stdout and to a file, with filters; the RED address for cert-be never
// appears, and stderr, not being a terminal, gets no progress bar.
func TestExportCommand(t *testing.T) {
	dir := exportHub(t)
	out, errOut, err := runIn(runExport, nil, "--data", dir, "--org", "cert-uk", "--format", "rpz")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "\nlogin-ministry.example\tCNAME\t.\n") || !strings.Contains(out, "24.0.113.0.203.rpz-ip") {
		t.Errorf("rpz export lacks the scenario:\n%s", out)
	}
	if strings.ContainsAny(errOut, "\r\033") {
		t.Errorf("progress bar drawn on a non-terminal: %q", errOut)
	}
	file := filepath.Join(t.TempDir(), "sets.nft")
	if _, _, err := runIn(runExport, nil, "--data", dir, "--org", "cert-uk", "--format", "nftables", "--out", file, "--min-confidence", "30"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "203.0.113.0/24") {
		t.Errorf("nftables file lacks the range:\n%s", b)
	}
	if strings.Contains(out, "192.0.2.55") || strings.Contains(string(b), "192.0.2.55") {
		t.Errorf("cert-uk's export holds the RED address for cert-be")
	}
	if out, _, _ := runIn(runExport, nil, "--data", dir, "--org", "cert-fr", "--format", "text"); !strings.Contains(out, "192.0.2.55") {
		t.Errorf("the author's own export lacks its RED address:\n%s", out)
	}
	for _, tc := range []struct {
		args  []string
		field string
	}{
		{[]string{"--format", "pdf"}, "format"},
		{[]string{"--min-confidence", "high"}, "min-confidence"},
		{[]string{"--type", "process"}, "types"},
		{[]string{"--max-age", "0d"}, "max_age"},
	} {
		args := append([]string{"--data", dir, "--org", "cert-uk"}, tc.args...)
		if _, _, err := runIn(runExport, nil, args...); hub.ErrorField(err) != tc.field {
			t.Errorf("%v: %v, want an error on %s", tc.args, err, tc.field)
		}
	}
}

// TestFeedCommands defines, lists and deletes a feed on the data directory.
func TestFeedCommands(t *testing.T) {
	dir := exportHub(t)
	out, _, err := runIn(runFeed, map[string]string{"USER": "tester"}, "create", "--data", dir, "--org", "cert-uk", "--name", "resolvers", "--type", "domain-name", "--min-confidence", "50")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Name      string
		Selection struct {
			Types         []string `json:"types"`
			MinConfidence int      `json:"min_confidence"`
		}
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil || d.Name != "resolvers" || d.Selection.MinConfidence != 50 || d.Selection.Types[0] != "domain-name" {
		t.Fatalf("create printed %s (%v)", out, err)
	}
	if _, _, err := runIn(runFeed, nil, "create", "--data", dir, "--org", "cert-fr", "--name", "x"); hub.ErrorCode(err) != hub.EConflict {
		t.Errorf("a feed for an organisation without a private workspace: %v", err)
	}
	if out, _, _ := runIn(runFeed, nil, "list", "--data", dir, "--org", "cert-uk"); !strings.Contains(out, `"resolvers"`) {
		t.Errorf("list: %s", out)
	}
	if _, _, err := runIn(runFeed, nil, "delete", "--data", dir, "--org", "cert-uk", "--name", "resolvers"); err != nil {
		t.Fatal(err)
	}
	if out, _, _ := runIn(runFeed, nil, "list", "--data", dir, "--org", "cert-uk"); strings.TrimSpace(out) != "[]" {
		t.Errorf("list after delete: %s", out)
	}
	if _, _, err := runIn(runFeed, nil, "create", "--data", dir, "--name", "x"); hub.ErrorField(err) != "org" {
		t.Errorf("without --org: %v", err)
	}
}

// TestWriteExportRecordsFirst: a file replaces the one before only once its audit entry is
// recorded; when recording fails, the file before stays and nothing is left beside it. On
// stdout, the entry follows the writing.
func TestWriteExportRecordsFirst(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "feed.txt")
	if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(w io.Writer) error { _, err := io.WriteString(w, "new\n"); return err }
	down := errors.New("audit store down")
	if err := writeExport(path, nil, write, func() error { return down }); !errors.Is(err, down) {
		t.Fatalf("writeExport with a failing record: %v, want its error", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old\n" {
		t.Errorf("after a failed record the file holds %q, want the one before", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("after a failed record the directory holds %d files, want only the one before", len(ents))
	}
	var seen []byte
	if err := writeExport(path, nil, write, func() (err error) { seen, err = os.ReadFile(path); return err }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(seen) != "old\n" || string(b) != "new\n" {
		t.Errorf("record saw %q and the file then held %q; want the record before the replacement", seen, b)
	}
	var out strings.Builder
	if err := writeExport("", &out, write, func() error { seen = []byte(out.String()); return nil }); err != nil || string(seen) != "new\n" {
		t.Errorf("on stdout record saw %q (%v), want it after the writing", seen, err)
	}
}
