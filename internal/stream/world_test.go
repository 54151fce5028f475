package stream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cshub/internal/access"
	"cshub/internal/access/accesstest"
	"cshub/internal/hub"
	"cshub/internal/seal"
	"cshub/internal/store/sqlite"
	"cshub/internal/stream"
)

// TestWorldNeverLeaks loads a generated adversarial world (organisations active and not,
// memberships added and removed, an exercise workspace, objects at every TLP level) and
// publishes two events per object, one true and one lying (TLP:CLEAR, addressed to everyone).
// Each organisation's stream must carry exactly the objects the TLP text lets it receive on
// the stream path, and no byte of any other.
func TestWorldNeverLeaks(t *testing.T) {
	for _, seed := range []int64{1, 2} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			testWorld(t, seed)
		})
	}
}

func testWorld(t *testing.T, seed int64) {
	ctx := context.Background()
	w := accesstest.Generate(seed, 60)
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bar := seal.New(st)
	root, _ := seal.NewRootKey()
	if err := bar.Initialize(ctx, root); err != nil {
		t.Fatal(err)
	}
	for _, x := range w.Workspaces {
		if err := bar.AddWorkspace(ctx, x.Slug); err != nil {
			t.Fatal(err)
		}
	}
	err = w.Load(ctx, st, time.Now(), func(o *hub.Object) error {
		var err error
		o.Body, err = bar.Encrypt(seal.Location{Workspace: o.Workspace, Kind: "object", ID: o.ID,
			Version: o.Modified.UTC().Format(time.RFC3339Nano)}, o.Body)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureOn(t, st, bar, 0, stream.Config{})

	// The store's Seqs, which the events name.
	stored, err := f.kb.List(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, AllVersions: true, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(w.Objects) {
		t.Fatalf("stored %d objects, the world has %d", len(stored), len(w.Objects))
	}
	first, err := f.bus.Publish(ctx, hub.Event{Kind: hub.EventCase})
	if err != nil {
		t.Fatal(err)
	}
	var everyone []string
	for _, o := range w.Orgs {
		everyone = append(everyone, o.Code)
	}
	for _, o := range stored {
		truth := hub.Event{Kind: hub.EventObject, ObjectID: o.ID, ObjectSeq: o.Seq, Type: o.Type,
			Workspace: o.Workspace, Author: o.Author, TLP: o.TLP, Recipients: o.Recipients}
		lie := truth
		lie.TLP, lie.Recipients = hub.TLPClear, everyone
		for _, e := range []hub.Event{truth, lie} {
			if _, err := f.bus.Publish(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Then a marker for each organisation that can see anything: a RED note of its own in one
	// of its workspaces, which only it may see. Its stream has been read to the end when the
	// marker arrives.
	markers := make(map[string]string) // org → marker id
	for i, org := range everyone {
		x := memberOf(w, org)
		if x == "" || !w.Org(org).Active {
			continue
		}
		m := &hub.Object{ID: fmt.Sprintf("note--00000000-0000-4000-9000-%012d", i), Type: "note",
			Created: time.Now(), Modified: time.Now(), Workspace: x, Author: org, TLP: hub.TLPRed}
		if m.Body, err = bar.Encrypt(seal.Location{Workspace: x, Kind: "object", ID: m.ID,
			Version: m.Modified.UTC().Format(time.RFC3339Nano)}, []byte(`{"type":"note","id":"`+m.ID+`"}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.PutObjects(ctx, []*hub.Object{m}, hub.PutOptions{Now: time.Now()}); err != nil {
			t.Fatal(err)
		}
		e := hub.Event{Kind: hub.EventObject, ObjectID: m.ID, ObjectSeq: m.Seq, Type: m.Type, Workspace: x, Author: org, TLP: hub.TLPRed}
		if _, err := f.bus.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
		markers[org] = m.ID
	}

	// Every organisation reads the whole backlog, concurrently; those without a marker until
	// all others are done, and a while longer.
	orgs := append(everyone, accesstest.Unknown)
	got := make(map[string]map[string]int) // org → object id → times received
	raws := make(map[string]string)
	var mu sync.Mutex
	var marked, unmarked sync.WaitGroup
	allMarked := make(chan struct{})
	for _, org := range orgs {
		wg := &marked
		if markers[org] == "" {
			wg = &unmarked
		}
		wg.Go(func() {
			ids, raw := readAll(t, f, org, first, markers[org], allMarked)
			mu.Lock()
			got[org], raws[org] = ids, raw
			mu.Unlock()
		})
	}
	marked.Wait()
	time.Sleep(500 * time.Millisecond)
	close(allMarked)
	unmarked.Wait()
	if len(markers) < 3 {
		t.Fatalf("only %d organisations can see anything", len(markers))
	}

	checked := 0
	for _, tr := range w.Triples {
		if tr.Path != access.PathStream {
			continue
		}
		checked++
		want := w.Expect(tr.Org, tr.Object, tr.Path)
		n := got[tr.Org][tr.Object.ID]
		switch {
		case !want && (n > 0 || strings.Contains(raws[tr.Org], tr.Object.ID)):
			t.Errorf("LEAK: %s received %s (%v in %s by %s, recipients %v)", tr.Org, tr.Object.ID,
				tr.Object.TLP, tr.Object.Workspace, tr.Object.Author, tr.Object.Recipients)
		case want && n != 2:
			t.Errorf("%s received %s %d times, want twice (once per event)", tr.Org, tr.Object.ID, n)
		}
	}
	if checked < 50 {
		t.Fatalf("only %d stream triples in the world", checked)
	}
	// And every object received by anyone is one the world lets it receive.
	for org, ids := range got {
		for oid := range ids {
			if oid == markers[org] {
				continue
			}
			var o *hub.Object
			for _, x := range w.Objects {
				if x.ID == oid {
					o = x
				}
			}
			if o == nil || !w.Expect(org, o, access.PathStream) {
				t.Errorf("LEAK: %s received %s", org, oid)
			}
		}
	}
	t.Logf("seed %d: %d organisations (%d see something), %d objects, %d stream triples checked", w.Seed, len(orgs), len(markers), len(w.Objects), checked)
}

// memberOf returns a workspace that is not an exercise of which org is a member, or "".
func memberOf(w *accesstest.World, org string) string {
	for _, x := range w.Workspaces {
		if x.Kind != hub.WorkspaceExercise && w.Member(x.Slug, org) {
			return x.Slug
		}
	}
	return ""
}

// readAll reads org's stream from after Seq first until the object marker arrives or, when
// marker is "", until stop is closed, and returns how often each object arrived and the raw
// bytes. An organisation the directory does not know gets no stream.
func readAll(t *testing.T, f *fixture, org string, first uint64, marker string, stop <-chan struct{}) (map[string]int, string) {
	resp, cancel, err := f.request(org, "", map[string]string{"Last-Event-ID": itoa(first)})
	if err != nil {
		t.Error(err)
		return nil, ""
	}
	defer cancel()
	if resp.StatusCode != 200 {
		resp.Body.Close()
		return nil, ""
	}
	c := &client{resp: resp, cancel: cancel, frames: make(chan frame, 1024)}
	defer c.close()
	go c.read()
	ids := make(map[string]int)
	timeout := time.After(time.Minute)
	for {
		var fr frame
		var ok bool
		select {
		case fr, ok = <-c.frames:
		case <-stop:
			return ids, c.Raw()
		case <-timeout:
			t.Errorf("%s: no marker within a minute", org)
			return ids, c.Raw()
		}
		if !ok {
			t.Errorf("%s: stream ended before the marker", org)
			return ids, c.Raw()
		}
		if fr.Event != "object" {
			continue
		}
		var d objectData
		var o struct{ ID string }
		if json.Unmarshal([]byte(fr.Data), &d) != nil || json.Unmarshal(d.Object, &o) != nil {
			t.Errorf("%s: bad frame %q", org, fr.Data)
			continue
		}
		if o.ID == marker {
			return ids, c.Raw()
		}
		ids[o.ID]++
	}
}
