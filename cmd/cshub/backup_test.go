package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cshub/internal/access"
	"cshub/internal/hub"
	"cshub/internal/members"
	"cshub/internal/seal"
)

// runIn runs one subcommand function in-process with getenv answering from vars.
func runIn(fn func(context.Context, *env, []string) error, vars map[string]string, args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return vars[k] }}
	err = fn(context.Background(), e, args)
	return out.String(), errb.String(), err
}

// servingHub initialises a hub in dir with the community workspace, serves it on loopback until
// the test ends, and returns its URL and a write API key of the operator.
func servingHub(t *testing.T, dir string) (url, key string) {
	t.Helper()
	if _, _, err := runIn(runInit, nil, "--data", dir); err != nil {
		t.Fatal(err)
	}
	return serveHub(t, dir, io.Discard)
}

// serveHub serves the initialised hub in dir as servingHub does, logging to log.
func serveHub(t *testing.T, dir string, log io.Writer) (url, key string) {
	t.Helper()
	setup(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{stdout: io.Discard, stderr: log, getenv: func(string) string { return "" }}
	f := &serveFlags{common: common{data: dir}, addr: "127.0.0.1:0", insecureHTTP: true}
	a, err := openApp(ctx, e, &f.common, false)
	if err != nil {
		t.Fatal(err)
	}
	m := members.New(a.store, a.barrier, a.auth, nil)
	u, err := a.store.UserByName(ctx, "operator")
	if err != nil {
		t.Fatal(err)
	}
	if key, _, err = m.CreateAPIKey(ctx, u, hub.ScopeWrite, time.Time{}); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, e, a, f, func(u string) { urls <- u }) }()
	t.Cleanup(func() {
		cancel()
		<-done
		a.close()
	})
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatal(err)
	}
	return url, key
}

// TestBackupWhileServingRestoresAndChecks is the operator's path of the acceptance check: back
// up a hub that is serving while a client keeps posting bundles, restore the file into a new
// directory, check it, and find every object acknowledged before the backup began.
func TestBackupWhileServingRestoresAndChecks(t *testing.T) {
	src := t.TempDir()
	url, key := servingHub(t, src)
	var (
		mu     sync.Mutex
		acked  []string
		werr   error
		stop   = make(chan struct{})
		writer sync.WaitGroup
	)
	writer.Add(1)
	go func() {
		defer writer.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ids, err := postBundle(url, key, newIDs(20))
			mu.Lock()
			acked = append(acked, ids...)
			if err != nil {
				werr = err
			}
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 100 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	file := filepath.Join(t.TempDir(), "hub.backup")
	out, errOut, err := runIn(runBackup, nil, "--data", src, "--out", file)
	close(stop)
	writer.Wait()
	if err != nil || werr != nil {
		t.Fatalf("backup: %v (writer: %v)\n%s", err, werr, errOut)
	}
	if !strings.Contains(errOut, "holds the root key") || !strings.Contains(out, `"root_key":true`) {
		t.Errorf("backup of a hub with a key file does not say it holds the key: %s %s", out, errOut)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, mode %v", err, fi.Mode())
	}
	if _, _, err := runIn(runBackup, nil, "--data", src, "--out", file); err == nil {
		t.Error("a second backup overwrote the first")
	}

	dst := filepath.Join(t.TempDir(), "restored")
	if _, errOut, err := runIn(runRestore, nil, "--data", dst, "--from", file); err != nil {
		t.Fatalf("restore: %v\n%s", err, errOut)
	}
	if _, _, err := runIn(runRestore, nil, "--data", dst, "--from", file); err == nil {
		t.Error("restore into a full data directory succeeded")
	}
	if out, _, err := runIn(runCheck, nil, "--data", dst); err != nil {
		t.Fatalf("check of the restored hub: %v\n%s", err, out)
	}
	restored := visibleIDs(t, dst, nil)
	for _, id := range before {
		if !restored[id] {
			t.Fatalf("%s was acknowledged before the backup began and is missing after restore", id)
		}
	}
	t.Logf("%d objects acknowledged before the backup, %d during it; %d restored", len(before), len(acked)-len(before), len(restored))
}

// TestBackupWithoutRootKey: --without-root-key leaves the key out; the restored hub then opens
// with CSHUB_ROOT_KEY only.
func TestBackupWithoutRootKey(t *testing.T) {
	src := t.TempDir()
	if _, _, err := runIn(runInit, nil, "--data", src); err != nil {
		t.Fatal(err)
	}
	root, err := seal.LoadKeyFile(filepath.Join(src, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "hub.backup")
	out, errOut, err := runIn(runBackup, nil, "--data", src, "--out", file, "--without-root-key")
	if err != nil || !strings.Contains(out, `"root_key":false`) || !strings.Contains(errOut, rootKeyEnv) {
		t.Fatalf("backup: %v %s %s", err, out, errOut)
	}
	if b, _ := os.ReadFile(file); bytes.Contains(b, []byte(seal.EncodeRootKey(root))) {
		t.Fatal("the root key is in a backup made --without-root-key")
	}
	dst := filepath.Join(t.TempDir(), "restored")
	if _, errOut, err := runIn(runRestore, nil, "--data", dst, "--from", file); err != nil || !strings.Contains(errOut, rootKeyEnv) {
		t.Fatalf("restore: %v %s", err, errOut)
	}
	if _, _, err := runIn(runCheck, nil, "--data", dst); hub.ErrorCode(err) != hub.ESealed {
		t.Fatalf("restored hub without a key: %v, want it sealed", err)
	}
	withKey := map[string]string{rootKeyEnv: seal.EncodeRootKey(root)}
	if out, _, err := runIn(runCheck, withKey, "--data", dst); err != nil {
		t.Fatalf("restored hub with %s: %v\n%s", rootKeyEnv, err, out)
	}
}

// TestCheckFindsDamage damages a hub in the ways check looks for and expects each to be named
// and to fail the command.
func TestCheckFindsDamage(t *testing.T) {
	for _, tc := range []struct {
		name, stmt, want string
	}{
		{"body swapped between versions", `UPDATE objects SET body = (SELECT body FROM objects ORDER BY seq DESC LIMIT 1) WHERE seq = (SELECT MIN(seq) FROM objects)`, "object versions open and parse: 1 of"},
		{"audit entry altered", `UPDATE audit SET target = 'someone-else' WHERE seq = 1`, "audit chain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			url, key := servingHub(t, dir)
			if _, err := postBundle(url, key, newIDs(5)); err != nil {
				t.Fatal(err)
			}
			if out, _, err := runIn(runCheck, nil, "--data", dir); err != nil {
				t.Fatalf("check of a sound hub: %v\n%s", err, out)
			}
			tamper(t, dir, tc.stmt)
			out, _, err := runIn(runCheck, nil, "--data", dir)
			if hub.ErrorCode(err) != hub.EIntegrity || !strings.Contains(out, "FAIL  "+tc.want) {
				t.Fatalf("check after damage: %v\n%s", err, out)
			}
		})
	}
}

// visibleIDs opens the hub in dir as `cshub serve` would and returns the ids of the objects the
// operator organisation may read.
func visibleIDs(t *testing.T, dir string, vars map[string]string) map[string]bool {
	t.Helper()
	ctx := context.Background()
	a, err := openApp(ctx, &env{stderr: io.Discard, getenv: func(k string) string { return vars[k] }}, &common{data: dir}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	v, err := access.ViewerFor(ctx, a.store, "hub-operator", access.PathRead)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	f := hub.Filter{Viewer: v, Limit: 1000}
	for {
		objs, err := a.kb.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			ids[o.ID] = true
		}
		if len(objs) < f.Limit {
			return ids
		}
		f.AfterSeq = objs[len(objs)-1].Seq
	}
}
