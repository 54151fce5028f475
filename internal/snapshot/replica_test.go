package snapshot_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"cshub/internal/access"
	"cshub/internal/bus/natsbus"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/kb"
	"cshub/internal/lookup"
	"cshub/internal/search"
	"cshub/internal/snapshot"
)

// counting is the hub's real store, counting the objects it lists: a replica that resumes
// from its snapshot lists only what the events since announce, one that rebuilds lists all.
type counting struct {
	hub.Store
	listed atomic.Int64
}

func (c *counting) ListObjects(ctx context.Context, f hub.Filter) ([]*hub.Object, error) {
	objs, err := c.Store.ListObjects(ctx, f)
	c.listed.Add(int64(len(objs)))
	return objs, err
}

// syncBuffer is a log destination the followers' goroutines may write to while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// replica is the in-memory part of one cshub replica: its matching and search indexes, saved
// in its own data directory.
type replica struct {
	store   *counting
	lookups *lookup.Service
	search  *search.Index
	saved   []*snapshot.Follower
	log     *syncBuffer
	cancel  context.CancelFunc
}

func startReplica(t *testing.T, h *hubtest.Hub, b hub.Bus, dir string) *replica {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{store: &counting{Store: h.Store}, log: &syncBuffer{}, cancel: cancel}
	log := slog.New(slog.NewTextHandler(r.log, nil))
	k := kb.New(kb.Config{Store: r.store, Sealer: h.Barrier, Bus: b, Log: log})
	r.lookups = lookup.New(k, log)
	lf, err := r.lookups.StartSaved(ctx, snapshot.Config{Path: filepath.Join(dir, "lookup"), Sealer: h.Barrier, Bus: b, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	x, sf, err := search.StartSaved(ctx, snapshot.Config{Path: filepath.Join(dir, "search"), Sealer: h.Barrier, Bus: b, KB: k, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	r.search, r.saved = x, []*snapshot.Follower{lf, sf}
	t.Cleanup(r.stop)
	return r
}

// stop ends the replica gracefully: its indexes save their snapshots.
func (r *replica) stop() {
	r.cancel()
	for _, f := range r.saved {
		f.Wait()
	}
}

func (r *replica) matches(t *testing.T, h *hubtest.Hub, value string) int {
	t.Helper()
	v, err := access.ViewerFor(context.Background(), h.Store, "cert-uk", access.PathMatch)
	if err != nil {
		t.Fatal(err)
	}
	return len(r.lookups.Lookup(v, []string{value})[0].Matches)
}

func (r *replica) found(t *testing.T, h *hubtest.Hub, word string) int {
	t.Helper()
	v, err := access.ViewerFor(context.Background(), h.Store, "cert-uk", access.PathSearch)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.search.Search(context.Background(), v, word, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	return res.Total
}

// value, word and id name the i-th indicator of a test: its IPv4 value, the word its name
// holds, its STIX id.
func value(i int) string { return fmt.Sprintf("10.1.%d.%d", i/250, i%250+1) }
func word(i int) string  { return fmt.Sprintf("q%05d", i) }
func id(i int) string    { return fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", i) }

// bundle returns indicators from to to (excluded).
func bundle(from, to int) []byte {
	var objs []string
	for i := from; i < to; i++ {
		objs = append(objs, fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":%q,"created":"2026-11-01T00:00:00.000Z","modified":"2026-11-01T00:00:00.000Z","name":"Restart probe %s","pattern_type":"stix","valid_from":"2026-11-01T00:00:00Z","pattern":"[ipv4-addr:value = '%s']"}`,
			id(i), word(i), value(i)))
	}
	return []byte(`{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000000","objects":[` + strings.Join(objs, ",") + `]}`)
}

func ingest(t *testing.T, k *kb.Service, ws string, from, to int) {
	t.Helper()
	sum, err := k.Ingest(context.Background(), kb.Submission{Org: "cert-fr", Workspace: ws}, bytes.NewReader(bundle(from, to)))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Accepted != to-from {
		t.Fatalf("ingest %d..%d: %+v", from, to, sum)
	}
}

// remove deletes every version of the i-th indicator and announces it, as TAXII DELETE does.
func remove(t *testing.T, h *hubtest.Hub, b hub.Bus, i int) {
	t.Helper()
	ctx := context.Background()
	objs, err := h.Store.ListObjects(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, IDs: []string{id(i)}, AllVersions: true})
	if err != nil || len(objs) == 0 {
		t.Fatalf("%d versions of %s: %v", len(objs), id(i), err)
	}
	for _, o := range objs {
		if _, err := h.Store.DeleteObjects(ctx, []int64{o.Seq}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish(ctx, hub.Event{Kind: hub.EventDelete, ObjectID: o.ID, ObjectSeq: o.Seq, Type: o.Type,
			Workspace: o.Workspace, Author: o.Author, TLP: o.TLP}); err != nil {
			t.Fatal(err)
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// natsBus opens a JetStream bus on a stream of the test's own, deleted when the test ends.
func natsBus(t *testing.T) *natsbus.Bus {
	t.Helper()
	url := os.Getenv("CSHUB_TEST_NATS")
	if url == "" {
		t.Skip("CSHUB_TEST_NATS is unset: set it to a NATS JetStream URL, e.g. nats://127.0.0.1:4222")
	}
	n := strings.ToUpper(rand.Text()[:10])
	opts := natsbus.Options{Stream: "CSHUB_TEST_SNAP_" + n, Prefix: "cshubtest.snap." + n}
	b, err := natsbus.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.Close()
		nc, err := nats.Connect(url)
		if err != nil {
			t.Error(err)
			return
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err == nil {
			err = js.DeleteStream(context.Background(), opts.Stream)
		}
		if err != nil {
			t.Error(err)
		}
	})
	return b
}

// TestReplicaResumesFromSnapshot: a replica that stops gracefully and restarts, on a shared
// store and NATS stream, restores its indexes from its snapshots without listing the store,
// then applies only the events since: objects added meanwhile are found, a deleted one is not.
func TestReplicaResumesFromSnapshot(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			h := hubtest.New(t, backend)
			b := natsBus(t)
			other := kb.New(kb.Config{Store: h.Store, Sealer: h.Barrier, Bus: b}) // another replica
			dir := t.TempDir()
			const n = 40
			ingest(t, other, hubtest.Community, 0, 30)

			a := startReplica(t, h, b, dir)
			if a.saved[0].Resumed || !strings.Contains(a.saved[0].Why, "no snapshot") {
				t.Fatalf("first start: resumed %v, why %q; want a rebuild for want of a snapshot", a.saved[0].Resumed, a.saved[0].Why)
			}
			ingest(t, other, hubtest.Community, 30, n) // while A runs: followed from the bus
			waitUntil(t, "A indexed everything", func() bool {
				return a.matches(t, h, value(n-1)) == 1 && a.found(t, h, word(n-1)) == 1
			})
			a.stop()

			// While A is down, another replica adds five indicators and deletes one.
			ingest(t, other, hubtest.Community, n, n+5)
			remove(t, h, b, 3)

			a = startReplica(t, h, b, dir)
			for _, f := range a.saved {
				if !f.Resumed {
					t.Fatalf("restart: not resumed: %s\nlog:\n%s", f.Why, a.log)
				}
				if f.Objects != n {
					t.Errorf("restart: %d objects restored, want the %d held at the stop", f.Objects, n)
				}
			}
			waitUntil(t, "A caught up", func() bool {
				return a.matches(t, h, value(n+4)) == 1 && a.found(t, h, word(n+4)) == 1 &&
					a.matches(t, h, value(3)) == 0 && a.found(t, h, word(3)) == 0
			})
			if a.matches(t, h, value(7)) != 1 || a.found(t, h, word(7)) != 1 {
				t.Error("an indicator held only in the snapshot is no longer found")
			}
			// Each index lists only the five announced objects (the deleted one lists nothing),
			// where a rebuild would have listed all n+4 stored.
			if got := a.store.listed.Load(); got > 2*5 {
				t.Errorf("the restart listed %d objects from the store; want at most %d, the announced ones", got, 2*5)
			}
		})
	}
}

// TestSnapshotRefused: a snapshot that is damaged, cut short, made by another hub, of an older
// format, or that followed another event stream (the in-process bus of an earlier process) is
// not used: the replica says why in its log and rebuilds from the store.
func TestSnapshotRefused(t *testing.T) {
	ctx := context.Background()
	h := hubtest.New(t, "sqlite")
	const n = 20
	ingest(t, h.KB, hubtest.Community, 0, n)
	good := t.TempDir()
	startReplica(t, h, h.Bus, good).stop()
	file, err := os.ReadFile(filepath.Join(good, "lookup"))
	if err != nil {
		t.Fatal(err)
	}
	foreign := t.TempDir() // the same objects in another hub, with another keyring
	other := hubtest.New(t, "sqlite")
	ingest(t, other.KB, hubtest.Community, 0, n)
	startReplica(t, other, other.Bus, foreign).stop()
	pos, err := h.Bus.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		bus   hub.Bus
		write func(path string) error
		why   string
	}{
		{"damaged", h.Bus, func(path string) error {
			bad := bytes.Clone(file)
			bad[len(bad)-20] ^= 1
			return os.WriteFile(path, bad, 0o600)
		}, "does not authenticate"},
		{"truncated", h.Bus, func(path string) error { return os.WriteFile(path, file[:len(file)/2], 0o600) }, "truncated"},
		{"not a snapshot", h.Bus, func(path string) error { return os.WriteFile(path, []byte("{}"), 0o600) }, "not a snapshot file"},
		{"another hub", h.Bus, func(path string) error {
			b, err := os.ReadFile(filepath.Join(foreign, "lookup"))
			if err != nil {
				return err
			}
			return os.WriteFile(path, b, 0o600)
		}, "another hub"},
		{"older format", h.Bus, func(path string) error {
			_, err := snapshot.Write(path, h.Barrier, snapshot.Meta{Index: "lookup", Format: 0, Stream: pos.Stream, Seq: pos.Seq}, nil)
			return err
		}, "lookup format 0"},
		{"another stream", other.Bus, func(path string) error { return os.WriteFile(path, file, 0o600) }, "followed event stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tt.write(filepath.Join(dir, "lookup")); err != nil {
				t.Fatal(err)
			}
			r := startReplica(t, h, tt.bus, dir)
			f := r.saved[0]
			if f.Resumed || !strings.Contains(f.Why, tt.why) {
				t.Fatalf("resumed %v, why %q; want a rebuild because %q", f.Resumed, f.Why, tt.why)
			}
			if log := r.log.String(); !strings.Contains(log, "index rebuilt from the store") || !strings.Contains(log, tt.why) {
				t.Errorf("the log does not say why the index was rebuilt:\n%s", log)
			}
			if f.Objects != n || r.matches(t, h, value(n-1)) != 1 {
				t.Errorf("rebuilt %d objects, want %d, all found", f.Objects, n)
			}
		})
	}
}

// TestSnapshotHoldsNoPlaintext: no indicator value, pattern or name of the indexes reaches the
// snapshot files readably.
func TestSnapshotHoldsNoPlaintext(t *testing.T) {
	h := hubtest.New(t, "sqlite")
	ingest(t, h.KB, hubtest.Community, 0, 10)
	dir := t.TempDir()
	r := startReplica(t, h, h.Bus, dir)
	if r.matches(t, h, value(7)) != 1 {
		t.Fatal("the index does not hold the value looked for in the file")
	}
	r.stop()
	for _, name := range []string{"lookup", "search"} {
		file, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{value(7), word(7), "Restart probe", "ipv4-addr"} {
			if bytes.Contains(file, []byte(secret)) {
				t.Errorf("the %s snapshot holds %q in plaintext", name, secret)
			}
		}
	}
}

// TestDestroyedWorkspaceLeavesSnapshot: after a workspace's keys are destroyed, the next save
// leaves it out (and the index forgets it), and a snapshot written before still holding it
// restores without it: nothing of a shredded workspace comes back from a replica's disk.
func TestDestroyedWorkspaceLeavesSnapshot(t *testing.T) {
	ctx := context.Background()
	h := hubtest.New(t, "sqlite")
	if err := h.Members.CreateWorkspace(ctx, &hub.Workspace{Slug: "secret", Kind: hub.WorkspaceCommunity, Members: hubtest.Orgs}); err != nil {
		t.Fatal(err)
	}
	ingest(t, h.KB, hubtest.Community, 0, 5)
	ingest(t, h.KB, "secret", 5, 10)
	dir := t.TempDir()
	startReplica(t, h, h.Bus, dir).stop()
	before, err := os.ReadFile(filepath.Join(dir, "lookup"))
	if err != nil {
		t.Fatal(err)
	}

	r := startReplica(t, h, h.Bus, dir)
	if !r.saved[0].Resumed || r.matches(t, h, value(7)) != 1 {
		t.Fatalf("before the keys are destroyed: resumed %v (%s), the secret value matched %d times; want resumed, once",
			r.saved[0].Resumed, r.saved[0].Why, r.matches(t, h, value(7)))
	}
	if err := h.Barrier.DestroyWorkspace(ctx, "secret"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Bus.Publish(ctx, hub.Event{Kind: hub.EventKeys, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// The keys event makes both indexes save at once, dropping the workspace they cannot seal.
	waitUntil(t, "the saved snapshots left the workspace out", func() bool {
		return strings.Count(r.log.String(), "dropped a workspace whose keys were destroyed") == 2
	})
	if got := r.matches(t, h, value(7)); got != 0 {
		t.Errorf("the index still matches a value of the shredded workspace (%d matches)", got)
	}
	for _, name := range []string{"lookup", "search"} {
		_, sections, dropped, err := snapshot.Read(filepath.Join(dir, name), h.Barrier, name, 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := sections["secret"]; ok || len(dropped) != 0 || sections[hubtest.Community] == nil {
			t.Errorf("%s snapshot after the keys event: sections %v, dropped %v; want only %s", name, len(sections), dropped, hubtest.Community)
		}
	}
	r.stop()

	// The snapshot written before the keys were destroyed restores without the workspace.
	if err := os.WriteFile(filepath.Join(dir, "lookup"), before, 0o600); err != nil {
		t.Fatal(err)
	}
	r = startReplica(t, h, h.Bus, dir)
	if !r.saved[0].Resumed || r.matches(t, h, value(7)) != 0 || r.matches(t, h, value(2)) != 1 {
		t.Fatalf("the older snapshot: resumed %v (%s); the shredded workspace must be left out, the other kept", r.saved[0].Resumed, r.saved[0].Why)
	}
	if !strings.Contains(r.log.String(), "left out workspaces whose keys were destroyed") {
		t.Errorf("the log does not say the workspace was left out:\n%s", r.log)
	}
}
