package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cshub/internal/access"
	"cshub/internal/access/accesstest"
	"cshub/internal/bus"
	"cshub/internal/collab/webhook"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/seal"
	"cshub/internal/store/sqlite"
)

// TestWorldNeverLeaks loads generated adversarial worlds (organisations active and not,
// memberships added and removed, an exercise workspace, objects at every TLP level), gives
// every organisation that belongs anywhere a webhook, and announces every object twice: once
// truly and once with a lying event (TLP:CLEAR, addressed to everyone). Each webhook must
// receive exactly the objects the TLP text lets its organisation receive on the stream path.
func TestWorldNeverLeaks(t *testing.T) {
	for _, seed := range []int64{1, 2} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { testWorld(t, seed) })
	}
}

func testWorld(t *testing.T, seed int64) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
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
		o.Body, err = bar.Encrypt(seal.ObjectLocation(o), o.Body)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	events := bus.New(bus.Options{})
	t.Cleanup(func() { events.Close() })
	k := kb.New(kb.Config{Store: st, Sealer: bar, Bus: events})
	svc := webhook.New(k, st, nil, bar, nil, webhook.Config{Backoff: 5 * time.Millisecond, MaxAttempts: 2})

	var mu sync.Mutex
	got := map[string]map[string]int{} // org → object id → deliveries
	recv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		org := strings.TrimPrefix(r.URL.Path, "/")
		var d webhook.Delivery
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &d); err != nil {
			t.Errorf("delivery to %s: %v", org, err)
		}
		var o struct{ ID string }
		json.Unmarshal(d.Object, &o)
		mu.Lock()
		if got[org] == nil {
			got[org] = map[string]int{}
		}
		got[org][o.ID]++
		mu.Unlock()
	}))
	t.Cleanup(recv.Close)

	// A webhook for every organisation with a real workspace, active or not.
	home := map[string]string{}
	for _, o := range w.Orgs {
		for _, x := range w.Workspaces {
			if x.Kind != hub.WorkspaceExercise && w.Member(x.Slug, o.Code) {
				home[o.Code] = x.Slug
				break
			}
		}
		if home[o.Code] == "" {
			continue
		}
		if _, err := svc.Register(ctx, o.Code, "test", webhook.Input{URL: recv.URL + "/" + o.Code, Workspace: home[o.Code]}); err != nil {
			t.Fatal(err)
		}
	}
	stored, err := k.List(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, AllVersions: true, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	first, err := events.Publish(ctx, hub.Event{Kind: hub.EventCase})
	if err != nil {
		t.Fatal(err)
	}
	var everyone []string
	for _, o := range w.Orgs {
		everyone = append(everyone, o.Code)
	}
	for _, o := range stored {
		if o.Type == webhook.Type {
			continue
		}
		truth := hub.Event{Kind: hub.EventObject, ObjectID: o.ID, ObjectSeq: o.Seq, Type: o.Type,
			Workspace: o.Workspace, Author: o.Author, TLP: o.TLP, Recipients: o.Recipients}
		lie := truth
		lie.TLP, lie.Recipients = hub.TLPClear, everyone
		for _, e := range []hub.Event{truth, lie} {
			if _, err := events.Publish(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Then a RED marker of each organisation's own, which only it may receive: its webhook
	// has had everything once the marker arrives.
	markers := map[string]string{}
	for i, org := range everyone {
		if home[org] == "" || !w.Org(org).Active {
			continue
		}
		id := fmt.Sprintf("note--00000000-0000-4000-9000-%012d", i)
		b, _ := json.Marshal(map[string]any{"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000001", "objects": []any{map[string]any{
			"type": "note", "spec_version": "2.1", "id": id, "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
			"content": "marker", "object_refs": []string{id}, "object_marking_refs": []string{"marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"}}}})
		if _, err := k.Ingest(ctx, kb.Submission{Org: org, Workspace: home[org]}, strings.NewReader(string(b))); err != nil {
			t.Fatal(err)
		}
		markers[org] = id
	}
	go svc.Run(ctx, events, first)
	for org, id := range markers {
		waitFor(t, org+"'s marker", func() bool { mu.Lock(); defer mu.Unlock(); return got[org][id] > 0 })
	}
	time.Sleep(200 * time.Millisecond) // for organisations without a marker: nothing must come
	if len(markers) < 3 {
		t.Fatalf("only %d organisations can receive anything", len(markers))
	}
	mu.Lock()
	defer mu.Unlock()
	checked := 0
	for _, tr := range w.Triples {
		if tr.Path != access.PathStream {
			continue
		}
		checked++
		n := got[tr.Org][tr.Object.ID]
		switch want := w.Expect(tr.Org, tr.Object, access.PathStream); {
		case n > 0 && !want:
			t.Errorf("LEAK: %s received %s (%s, TLP:%s, in %s)", tr.Org, tr.Object.ID, tr.Object.Author, tr.Object.TLP, tr.Object.Workspace)
		case want && home[tr.Org] != "" && n == 0:
			t.Errorf("%s did not receive %s, which it may see", tr.Org, tr.Object.ID)
		}
	}
	if checked == 0 {
		t.Fatal("no stream triples checked")
	}
}
