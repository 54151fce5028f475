package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cshub/internal/hub"
	"cshub/internal/members"
	"cshub/internal/store/sqlite"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpListsEveryCommand(t *testing.T) {
	code, out, _ := run(t, "help")
	if code != 0 {
		t.Fatalf("help exit %d", code)
	}
	for _, c := range commands() {
		if !strings.Contains(out, c.name) {
			t.Errorf("help does not list %s", c.name)
		}
		code, _, errOut := run(t, c.name, "--help")
		if code != 0 || !strings.Contains(errOut, "Usage: cshub "+c.name) {
			t.Errorf("%s --help: exit %d, %q", c.name, code, errOut)
		}
	}
	if code, _, _ := run(t, "nonsense"); code != 2 {
		t.Errorf("unknown command exit %d, want 2", code)
	}
}

func TestCommandsNameTheMissingFlag(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ingest", "--data", dir, "--workspace", "community", "x.json"}, "org: required"},
		{[]string{"ingest", "--data", dir, "--org", "cert-fr", "x.json"}, "workspace: required"},
		{[]string{"ingest", "--data", dir, "--org", "cert-fr", "--workspace", "community"}, "FILE"},
		{[]string{"objects", "--data", dir}, "org: required"},
		{[]string{"objects", "--data", dir, "--org", "cert-fr"}, "cshub init"},
		{[]string{"serve", "--data", dir, "--insecure-http", "--addr", "0.0.0.0:0"}, "cshub init"},
	} {
		code, _, errOut := run(t, tc.args...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want it to mention %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestDemoServesAttackWithAliases is the walking skeleton's promise: the demo serves ATT&CK to
// a member, APT28 with its alias Fancy Bear, over HTTPS with the API key from the credentials.
func TestDemoServesAttackWithAliases(t *testing.T) {
	if testing.Short() {
		t.Skip("ingests ATT&CK")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() {
		done <- Run(ctx, []string{"demo", "--data", dir, "--addr", "127.0.0.1:0"}, strings.NewReader(""), io.Discard, &errb)
	}()
	creds := waitForCredentials(t, filepath.Join(dir, "demo-credentials.json"), done, &errb)
	if len(creds.Users) < 5 {
		t.Fatalf("%d demo users, want one per active member", len(creds.Users))
	}
	key := ""
	for _, u := range creds.Users {
		if u.Org == "cert-fr" {
			key = u.APIKey
		}
		if u.Password == "" || u.TOTPSecret == "" || u.APIKey == "" {
			t.Errorf("user %s lacks a credential", u.Username)
		}
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, _ := http.NewRequest("GET", creds.URL+"/api/v1/objects?type=intrusion-set&limit=500", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var page struct{ Objects []map[string]any }
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if len(page.Objects) < 100 {
		t.Errorf("%d intrusion sets, ATT&CK has 187", len(page.Objects))
	}
	found := false
	for _, o := range page.Objects {
		if o["name"] == "APT28" {
			for _, a := range o["aliases"].([]any) {
				found = found || a == "Fancy Bear"
			}
		}
	}
	if !found {
		t.Error("APT28 with alias Fancy Bear not served")
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("demo exit %d: %s", code, errb.String())
	}
}

func waitForCredentials(t *testing.T, path string, done chan int, errb *bytes.Buffer) demoCredentials {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case code := <-done:
			t.Fatalf("demo exited with %d: %s", code, errb.String())
		default:
		}
		if c, err := loadCredentials(path); err == nil && c != nil && c.URL != "" {
			return *c
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("demo wrote no credentials in time")
	return demoCredentials{}
}

// TestIngestKilledMidwayKeepsCommittedBatches kills `cshub ingest` with SIGKILL after it has
// reported committed batches, at several points, and checks that the store opens cleanly, passes
// its integrity check and holds at least every object reported as committed.
func TestIngestKilledMidwayKeepsCommittedBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and ingests ATT&CK")
	}
	bin := filepath.Join(t.TempDir(), "cshub")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	bundle := filepath.Join("..", "..", "internal", "demo", "data", "enterprise-attack-18.1.stix21.json.gz")
	committed := regexp.MustCompile(`^committed: (\d+) accepted`)
	for trial, killAfter := range []int{1, 3, 7, 12} {
		dir := t.TempDir()
		if out, err := exec.Command(bin, "init", "--data", dir).CombinedOutput(); err != nil {
			t.Fatalf("init: %v\n%s", err, out)
		}
		setup(t, dir)
		cmd := exec.Command(bin, "ingest", "-v", "--data", dir, "--org", "hub-operator", "--workspace", "community", bundle)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		reported, lines := 0, 0
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := committed.FindStringSubmatch(sc.Text()); m != nil {
				reported, _ = strconv.Atoi(m[1])
				if lines++; lines == killAfter {
					cmd.Process.Signal(syscall.SIGKILL)
					break
				}
			}
		}
		cmd.Wait()
		st, err := sqlite.Open(filepath.Join(dir, "cshub.db"))
		if err != nil {
			t.Fatalf("trial %d: store does not open after SIGKILL: %v", trial, err)
		}
		if err := st.Check(context.Background()); err != nil {
			t.Errorf("trial %d: integrity check: %v", trial, err)
		}
		n, err := st.CountObjects(context.Background(), hub.Filter{Viewer: hub.Viewer{System: true}})
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
		if int(n) < reported {
			t.Errorf("trial %d: killed after %d reported batches (%d objects), store holds %d", trial, lines, reported, n)
		}
		t.Logf("trial %d: killed after %d batches reported (%d objects); store holds %d", trial, lines, reported, n)
	}
}

// setup adds the community workspace to a freshly initialised hub, through the binary's own
// packages, as an operator would.
func setup(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	a, err := openApp(ctx, &env{stderr: io.Discard, getenv: func(string) string { return "" }}, &common{data: dir}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	m := members.New(a.store, a.barrier, a.auth, nil)
	if err := m.CreateWorkspace(ctx, &hub.Workspace{Slug: "community", Kind: hub.WorkspaceCommunity, DefaultTLP: hub.TLPClear, Members: []string{"hub-operator"}}); err != nil {
		t.Fatal(err)
	}
}

// TestPassphraseRootKey: a hub made with CSHUB_PASSPHRASE keeps no key file, opens again with
// the same passphrase and stays sealed with another.
func TestPassphraseRootKey(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	withPass := func(p string) *env {
		return &env{stdout: io.Discard, stderr: io.Discard, getenv: func(k string) string {
			if k == passphraseEnv {
				return p
			}
			return ""
		}}
	}
	a, err := openApp(ctx, withPass("correct horse battery staple"), &common{data: dir}, true)
	if err != nil {
		t.Fatal(err)
	}
	a.close()
	if _, err := os.Stat(filepath.Join(dir, "root.key")); !os.IsNotExist(err) {
		t.Errorf("a passphrase hub wrote a key file: %v", err)
	}
	a, err = openApp(ctx, withPass("correct horse battery staple"), &common{data: dir}, false)
	if err != nil {
		t.Fatalf("reopening with the same passphrase: %v", err)
	}
	a.close()
	if _, err := openApp(ctx, withPass("wrong horse battery staple"), &common{data: dir}, false); hub.ErrorCode(err) != hub.ESealed {
		t.Errorf("another passphrase: %v, want the hub to stay sealed", err)
	}
}
