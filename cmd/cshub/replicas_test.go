package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"cshub/internal/bus/natsbus"
	"cshub/internal/hub"
	"cshub/internal/members"
)

// TestTwoReplicas runs two `cshub serve` processes on loopback sharing one PostgreSQL schema
// and one NATS JetStream stream: an object ingested through replica A is served by replica B,
// and its event reaches B's stream subscribers within a second; killing A with SIGKILL in the
// middle of a run of submissions loses no object whose submission A acknowledged.
func TestTwoReplicas(t *testing.T) {
	pgURL, natsURL := os.Getenv("CSHUB_TEST_PG"), os.Getenv("CSHUB_TEST_NATS")
	if pgURL == "" || natsURL == "" {
		t.Skip("CSHUB_TEST_PG (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) and CSHUB_TEST_NATS (e.g. nats://127.0.0.1:4222) must both be set: skipping the two-replica test")
	}
	if testing.Short() {
		t.Skip("builds the binary and starts two replicas")
	}
	storeURL := freshSchema(t, pgURL)
	bin := filepath.Join(t.TempDir(), "cshub")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	// One hub: initialised once; both replicas share its store, its root key file and a bus.
	dir := t.TempDir()
	if out, err := exec.Command(bin, "init", "--store", storeURL, "--data", dir).CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	key := seedReplicas(t, dir, storeURL)
	busArgs := []string{"--nats", natsURL}
	opts := natsbus.Options{}
	if help, _ := exec.Command(bin, "serve", "--help").CombinedOutput(); bytes.Contains(help, []byte("-nats-stream")) {
		// A stream and subjects of this test's own, when the binary lets us choose them.
		id := strings.ToUpper(rand.Text()[:8])
		opts.Stream, opts.Prefix = "CSHUB_TEST_REPLICAS_"+id, "cshubtest.replicas."+id
		busArgs = append(busArgs, "--nats-stream", opts.Stream, "--nats-prefix", opts.Prefix)
		t.Cleanup(func() { deleteStream(t, natsURL, opts) })
	}
	a := startReplica(t, bin, "A", append([]string{"--data", dir, "--store", storeURL}, busArgs...))
	b := startReplica(t, bin, "B", append([]string{"--data", dir, "--store", storeURL}, busArgs...))

	sub := subscribe(t, b.url, key, natsURL, opts)

	// 1. Through A, served by B, announced on B within a second.
	ids := newIDs(1)
	start := time.Now()
	if _, err := postBundle(a.url, key, ids); err != nil {
		t.Fatalf("POST to A: %v\nA's log:\n%s", err, a.log())
	}
	acked := time.Now()
	if code, body := get(t, b.url, key, "/api/v1/objects/"+ids[0]); code != http.StatusOK || !strings.Contains(body, ids[0]) {
		t.Fatalf("GET from B: %d %s\nB's log:\n%s", code, body, b.log())
	}
	at, ok := sub.wait(ids[0], acked.Add(time.Second))
	if !ok {
		t.Fatalf("B's %s subscriber did not receive %s within 1s of A acknowledging it", sub.via, ids[0])
	}
	t.Logf("B's %s subscriber received the event %v after the POST to A began (%v after its response)",
		sub.via, at.Sub(start).Round(time.Millisecond), at.Sub(acked).Round(time.Millisecond))

	// 2. A dies mid-way through a run of submissions; B serves every acknowledged object.
	var mu sync.Mutex
	var ackedIDs []string
	batches := make(chan int, 100)
	done := make(chan error, 1)
	go func() {
		for n := 0; ; n++ {
			ids := newIDs(20)
			if _, err := postBundle(a.url, key, ids); err != nil {
				done <- err
				return
			}
			mu.Lock()
			ackedIDs = append(ackedIDs, ids...)
			mu.Unlock()
			batches <- n
		}
	}()
	for n := range batches {
		if n == 4 {
			break
		}
	}
	time.Sleep(15 * time.Millisecond) // into the next submission
	a.kill()
	var postErr error
	select {
	case postErr = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("submissions to A still succeed 30s after SIGKILL")
	}
	mu.Lock()
	survivors := append([]string(nil), ackedIDs...)
	mu.Unlock()
	t.Logf("A killed after %d acknowledged objects; the next submission failed: %v", len(survivors), postErr)
	for _, id := range survivors {
		if code, body := get(t, b.url, key, "/api/v1/objects/"+id); code != http.StatusOK {
			t.Errorf("acknowledged %s: B answers %d %s", id, code, body)
		}
	}
	// Their events reached B's subscriber too: they were published before A acknowledged.
	deadline := time.Now().Add(5 * time.Second)
	for _, id := range survivors {
		if _, ok := sub.wait(id, deadline); !ok {
			t.Errorf("acknowledged %s: no event on B's %s subscriber", id, sub.via)
		}
	}
}

// freshSchema creates a schema of the test's own in the database at pgURL, dropped when the
// test ends, and returns pgURL with search_path set to it.
func freshSchema(t *testing.T, pgURL string) string {
	t.Helper()
	ctx := context.Background()
	schema := "cshub_replicas_" + strings.ToLower(rand.Text()[:10])
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatalf("CSHUB_TEST_PG: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), pgURL)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	u, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// seedReplicas adds a member, cert-fr, to the initialised hub with a community workspace and
// an analyst's API key, through the binary's own packages as an operator would, and returns
// the key.
func seedReplicas(t *testing.T, dir, storeURL string) string {
	t.Helper()
	ctx := context.Background()
	a, err := openApp(ctx, &env{stderr: io.Discard, getenv: func(string) string { return "" }}, &common{data: dir, store: storeURL}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	m := members.New(a.store, a.barrier, a.auth, nil)
	if err := m.CreateOrg(ctx, &hub.Org{Code: "cert-fr", Name: "CERT-FR", Country: "FR", Kind: hub.OrgMember, Active: true}); err != nil {
		t.Fatal(err)
	}
	if err := m.CreateWorkspace(ctx, &hub.Workspace{Slug: "community", Kind: hub.WorkspaceCommunity, DefaultTLP: hub.TLPGreen, Members: []string{"hub-operator", "cert-fr"}}); err != nil {
		t.Fatal(err)
	}
	cu, err := m.CreateUser(ctx, members.NewUser{Org: "cert-fr", Username: "fr-analyst", Role: hub.RoleAnalyst, Password: rand.Text()})
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := m.CreateAPIKey(ctx, cu.User, hub.ScopeWrite, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// replica is one running `cshub serve`.
type replica struct {
	name string
	url  string
	cmd  *exec.Cmd

	mu     sync.Mutex
	stderr bytes.Buffer // guarded by mu
}

var servingURL = regexp.MustCompile(`msg=serving url=(\S+)`)

// startReplica starts `cshub serve` on a port of the system's choosing and waits until it
// logs its URL. The process is stopped when the test ends.
func startReplica(t *testing.T, bin, name string, args []string) *replica {
	t.Helper()
	r := &replica{name: name}
	r.cmd = exec.Command(bin, append([]string{"serve", "--insecure-http", "--addr", "127.0.0.1:0"}, args...)...)
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.stop)
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			r.mu.Lock()
			r.stderr.WriteString(sc.Text() + "\n")
			r.mu.Unlock()
			if m := servingURL.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case r.url = <-urls:
	case <-time.After(30 * time.Second):
		t.Fatalf("replica %s did not log its URL in 30s:\n%s", name, r.log())
	}
	return r
}

func (r *replica) log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stderr.String()
}

func (r *replica) kill() {
	r.cmd.Process.Signal(syscall.SIGKILL)
	r.cmd.Wait()
}

// stop ends the replica as an operator would, killing it if it takes too long.
func (r *replica) stop() {
	if r.cmd.ProcessState != nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan struct{})
	go func() { r.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		r.kill()
		<-exited
	}
}

// newIDs returns n random indicator ids.
func newIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		var u [16]byte
		rand.Read(u[:])
		u[6] = u[6]&0x0f | 0x40
		u[8] = u[8]&0x3f | 0x80
		h := hex.EncodeToString(u[:])
		ids[i] = "indicator--" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	}
	return ids
}

// postBundle submits indicators with the given ids to the community workspace and returns the
// ids the server acknowledged as stored; an error unless it acknowledged them all.
func postBundle(base, key string, ids []string) ([]string, error) {
	objs := make([]map[string]any, len(ids))
	for i, id := range ids {
		objs[i] = map[string]any{
			"type": "indicator", "spec_version": "2.1", "id": id,
			"created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
			"name": "Replica test " + id, "pattern": "[ipv4-addr:value = '203.0.113.7']", "pattern_type": "stix",
			"valid_from": "2026-01-01T00:00:00Z",
		}
	}
	body, err := json.Marshal(map[string]any{"type": "bundle", "id": "bundle--" + ids[0][len("indicator--"):], "objects": objs})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest("POST", base+"/api/v1/workspaces/community/bundles", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	client := http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST bundle: %d %s", resp.StatusCode, b)
	}
	var sum struct{ IDs []string }
	if err := json.Unmarshal(b, &sum); err != nil {
		return nil, err
	}
	if len(sum.IDs) != len(ids) {
		return sum.IDs, fmt.Errorf("POST bundle: %d of %d stored: %s", len(sum.IDs), len(ids), b)
	}
	return sum.IDs, nil
}

func get(t *testing.T, base, key, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// subscriber records when each object's event reached it.
type subscriber struct {
	via string // "SSE" on B's /api/v1/stream, or "NATS" on the stream itself

	mu   sync.Mutex
	seen map[string]time.Time // object id → when its event arrived; guarded by mu
	wake chan struct{}        // closed and replaced on each event; guarded by mu
}

// subscribe follows B's event stream at /api/v1/stream when B serves it, and otherwise the
// NATS stream the replicas share (what B's stream would follow).
func subscribe(t *testing.T, base, key, natsURL string, opts natsbus.Options) *subscriber {
	t.Helper()
	s := &subscriber{seen: make(map[string]time.Time), wake: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		s.via = "SSE"
		t.Cleanup(func() { resp.Body.Close() })
		go func() {
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 64<<10), 16<<20)
			for sc.Scan() {
				data, ok := strings.CutPrefix(sc.Text(), "data: ")
				if !ok {
					continue
				}
				var d struct{ Object struct{ ID string } }
				if json.Unmarshal([]byte(data), &d) == nil && d.Object.ID != "" {
					s.saw(d.Object.ID)
				}
			}
		}()
		return s
	}
	resp.Body.Close()
	t.Logf("B does not serve /api/v1/stream (%d): following the NATS stream instead", resp.StatusCode)
	s.via = "NATS"
	nb, err := natsbus.Open(context.Background(), natsURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nb.Close() })
	ch, err := nb.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for e := range ch {
			if e.Kind == hub.EventObject {
				s.saw(e.ObjectID)
			}
		}
	}()
	return s
}

func (s *subscriber) saw(id string) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[id]; !ok {
		s.seen[id] = now
	}
	close(s.wake)
	s.wake = make(chan struct{})
}

// wait returns when the event of id arrived, waiting for it until deadline.
func (s *subscriber) wait(id string, deadline time.Time) (time.Time, bool) {
	for {
		s.mu.Lock()
		at, ok := s.seen[id]
		wake := s.wake
		s.mu.Unlock()
		if ok {
			return at, true
		}
		select {
		case <-wake:
		case <-time.After(time.Until(deadline)):
			return time.Time{}, false
		}
	}
}

// deleteStream removes the test's NATS stream.
func deleteStream(t *testing.T, natsURL string, opts natsbus.Options) {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	if err := js.DeleteStream(context.Background(), opts.Stream); err != nil {
		t.Errorf("cleanup: deleting stream %s: %v", opts.Stream, err)
	}
}
