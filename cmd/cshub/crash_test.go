package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"cshub/internal/access"
	"cshub/internal/hub"
	"cshub/internal/members"
	"cshub/internal/store/sqlite"
)

var (
	crashTrials = flag.Int("crash.trials", 10, "SIGKILL trials of TestCrashSafety (CI runs 100)")
	crashSeed   = flag.Uint64("crash.seed", 0, "random seed of TestCrashSafety (0: from the clock; the seed used is logged)")
)

// crashIngestSize is how many indicators `cshub ingest` is given per trial: several batches,
// so that kills land before, between and during its commits.
const crashIngestSize = 5000

// TestCrashSafety runs `cshub serve` with clients posting bundles and `cshub ingest` beside it,
// on one SQLite data directory, kills both with SIGKILL at a random instant, and then opens the
// directory as a restarted hub would. Every bundle the API acknowledged must be there and
// readable, at least as many of the ingested objects as ingest reported committed, and
// `cshub check` must pass. Each trial starts from a copy of one initialised directory so that
// the check stays quick however many trials run.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it many times")
	}
	seed := *crashSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	t.Logf("seed %d (rerun with -crash.seed=%d)", seed, seed)

	bin := filepath.Join(t.TempDir(), "cshub")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	template := t.TempDir()
	if out, err := exec.Command(bin, "init", "--data", template).CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	setup(t, template)
	key := operatorKey(t, template)

	var acked, lost, short, integrity, killedIngest int
	start := time.Now()
	for trial := range *crashTrials {
		dir := filepath.Join(t.TempDir(), "data")
		copyDir(t, template, dir)
		bundle, fileIDs := crashBundle(t, crashIngestSize)
		r := runUnderLoad(t, bin, dir, key, bundle, time.Duration(rng.IntN(2000))*time.Millisecond)
		acked += len(r.acked)
		if r.ingestKilled {
			killedIngest++
		}

		st, err := sqlite.Open(filepath.Join(dir, "cshub.db"))
		if err != nil {
			t.Fatalf("trial %d: the store does not open after SIGKILL: %v", trial, err)
		}
		if err := st.Check(context.Background()); err != nil {
			integrity++
			t.Errorf("trial %d: %v", trial, err)
		}
		st.Close()
		missing, present := readable(t, dir, r.acked, fileIDs)
		if len(missing) > 0 {
			lost += len(missing)
			t.Errorf("trial %d: %d acknowledged objects lost or unreadable, e.g. %s", trial, len(missing), missing[0])
		}
		if present < r.committed {
			short += r.committed - present
			t.Errorf("trial %d: ingest reported %d committed, %d stored", trial, r.committed, present)
		}
		if out, _, err := runIn(runCheck, nil, "--data", dir); err != nil {
			integrity++
			t.Errorf("trial %d: check: %v\n%s", trial, err, out)
		}
		os.RemoveAll(dir)
	}
	t.Logf("%d trials in %s: %d objects acknowledged by the API, %d lost, %d ingested objects short of what ingest reported, %d integrity failures; ingest killed mid-run in %d trials",
		*crashTrials, time.Since(start).Round(time.Second), acked, lost, short, integrity, killedIngest)
}

// crashRun is what one trial's processes acknowledged before they were killed.
type crashRun struct {
	acked        []string // ids the API acknowledged as stored
	committed    int      // objects `cshub ingest -v` reported committed
	ingestKilled bool     // ingest had not finished when killed
}

var committedLine = regexp.MustCompile(`^committed: (\d+) accepted`)

// runUnderLoad starts serve and ingest on dir, posts bundles from four clients once serve
// listens, and kills both processes with SIGKILL after wait.
func runUnderLoad(t *testing.T, bin, dir, key, bundle string, wait time.Duration) crashRun {
	t.Helper()
	serve := exec.Command(bin, "serve", "--data", dir, "--addr", "127.0.0.1:0", "--insecure-http")
	serveErr, err := serve.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	ingest := exec.Command(bin, "ingest", "-v", "--data", dir, "--org", "hub-operator", "--workspace", "community", bundle)
	ingestErr, err := ingest.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	var committed atomic.Int64
	var lastLine atomic.Value
	ingestDone := make(chan struct{})
	go func() {
		defer close(ingestDone)
		sc := bufio.NewScanner(ingestErr)
		for sc.Scan() {
			lastLine.Store(sc.Text())
			if m := committedLine.FindStringSubmatch(sc.Text()); m != nil {
				n, _ := strconv.Atoi(m[1])
				committed.Store(int64(n))
			}
		}
	}()
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(serveErr)
		for sc.Scan() {
			if m := servingURL.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		io.Copy(io.Discard, serveErr)
	}()
	var url string
	select {
	case url = <-urls:
	case <-time.After(2 * time.Minute):
		serve.Process.Kill()
		t.Fatal("serve did not listen within two minutes")
	}
	// Started once serve has opened the store, so that both write to it at once.
	if err := ingest.Start(); err != nil {
		t.Fatal(err)
	}

	var (
		mu    sync.Mutex
		acked []string
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				ids, err := postBundle(url, key, newIDs(10))
				if err != nil {
					return // killed; what was not acknowledged is not owed
				}
				mu.Lock()
				acked = append(acked, ids...)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(wait)
	serve.Process.Signal(syscall.SIGKILL)
	ingest.Process.Signal(syscall.SIGKILL)
	stop.Store(true)
	wg.Wait()
	serve.Wait()
	<-ingestDone
	ingest.Wait()
	status := ingest.ProcessState.Sys().(syscall.WaitStatus)
	if !status.Signaled() && status.ExitStatus() != 0 {
		t.Errorf("ingest failed beside a serving hub: %v", lastLine.Load())
	}
	return crashRun{acked: acked, committed: int(committed.Load()), ingestKilled: status.Signaled()}
}

// readable opens dir as a restarted hub does and returns the acknowledged ids it cannot read
// as the operator, and how many of fileIDs it holds.
func readable(t *testing.T, dir string, acked, fileIDs []string) (missing []string, present int) {
	t.Helper()
	ctx := context.Background()
	a, err := openApp(ctx, &env{stderr: io.Discard, getenv: func(string) string { return "" }}, &common{data: dir}, false)
	if err != nil {
		t.Fatalf("the hub does not open after SIGKILL: %v", err)
	}
	defer a.close()
	v, err := access.ViewerFor(ctx, a.store, "hub-operator", access.PathRead)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range acked {
		if _, err := a.kb.Get(ctx, v, id, time.Time{}); err != nil {
			missing = append(missing, fmt.Sprintf("%s (%v)", id, err))
		}
	}
	for start := 0; start < len(fileIDs); start += 500 {
		part := fileIDs[start:min(start+500, len(fileIDs))]
		n, err := a.store.CountObjects(ctx, hub.Filter{Viewer: v, IDs: part})
		if err != nil {
			t.Fatal(err)
		}
		present += int(n)
	}
	return missing, present
}

// operatorKey makes a write API key for the operator of the hub in dir.
func operatorKey(t *testing.T, dir string) string {
	t.Helper()
	ctx := context.Background()
	a, err := openApp(ctx, &env{stderr: io.Discard, getenv: func(string) string { return "" }}, &common{data: dir}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	u, err := a.store.UserByName(ctx, "operator")
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := members.New(a.store, a.barrier, a.auth, nil).CreateAPIKey(ctx, u, hub.ScopeWrite, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// crashBundle writes a bundle of n new indicators and returns its path and their ids.
func crashBundle(t *testing.T, n int) (string, []string) {
	t.Helper()
	ids := newIDs(n)
	objs := make([]map[string]any, n)
	for i, id := range ids {
		objs[i] = map[string]any{
			"type": "indicator", "spec_version": "2.1", "id": id,
			"created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
			"pattern": fmt.Sprintf("[ipv4-addr:value = '198.51.%d.%d']", i>>8&255, i&255), "pattern_type": "stix",
			"valid_from": "2026-01-01T00:00:00Z",
		}
	}
	b, err := json.Marshal(map[string]any{"type": "bundle", "id": "bundle--" + ids[0][len("indicator--"):], "objects": objs})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bundle.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, ids
}

// copyDir copies the regular files of src (not its subdirectories) into a new dst, keeping
// their modes (the root key file must stay 0600).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}
