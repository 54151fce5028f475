package federation_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cshub/internal/federation"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/stix"
	"cshub/internal/taxii"
	"cshub/internal/taxii/client"
)

// source is a whole hub serving TAXII over TLS on loopback, with a peer hub enrolled as the
// observer organisation "hub-b": a member of workspace "peering" (with cert-fr), not of
// "community".
type source struct {
	*hubtest.Hub
	srv *httptest.Server
	key string // hub-b's read key
}

func newSource(t testing.TB, backend string) *source {
	t.Helper()
	ctx := context.Background()
	h := hubtest.New(t, backend)
	if err := h.Members.CreateOrg(ctx, &hub.Org{Code: "hub-b", Name: "Hub B", Country: "BE", Kind: hub.OrgObserver, Active: true}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*hub.Workspace{
		{Slug: "peering", Kind: hub.WorkspaceGroup, Members: []string{"cert-fr", "hub-b"}},
		{Slug: "fr-only", Kind: hub.WorkspacePrivate, Members: []string{"cert-fr"}, DefaultTLP: hub.TLPGreen},
	} {
		if err := h.Members.CreateWorkspace(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle(taxii.DiscoveryPath, taxii.New(taxii.Config{KB: h.KB, Dir: h.Store, Auth: h.Auth, Objects: h.Store, Bus: h.Bus}))
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return &source{Hub: h, srv: srv, key: h.Key(t, h.User(t, "hub-b", "hub-b-sync", hub.RoleReader), hub.ScopeRead)}
}

// root is the federation API root's URL.
func (s *source) root() string { return s.srv.URL + taxii.FederationRootPath }

// newSink returns the receiving hub and its syncer.
func newSink(t testing.TB, backend string) (*hubtest.Hub, *federation.Syncer) {
	h := hubtest.New(t, backend)
	return h, federation.NewSyncer(federation.Config{KB: h.KB, Store: h.Store, Sealer: h.Barrier})
}

var marking = map[hub.TLP]string{hub.TLPClear: stix.TLP2Clear, hub.TLPGreen: stix.TLP2Green, hub.TLPAmber: stix.TLP2Amber,
	hub.TLPAmberStrict: stix.TLP2AmberStrict, hub.TLPRed: stix.TLP2Red}

// indicator returns a bundle of one indicator numbered n, marked tlp (none for TLPUnset) and
// created by the identity of cert-fr.
func indicator(n int, tlp hub.TLP) []byte {
	refs := ""
	if tlp != hub.TLPUnset {
		refs = `,"object_marking_refs":["` + marking[tlp] + `"]`
	}
	return []byte(fmt.Sprintf(`{"type":"bundle","id":"bundle--00000000-0000-4000-8000-%012d","objects":[{"type":"indicator","spec_version":"2.1",`+
		`"id":"%s","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z",`+
		`"created_by_ref":"identity--00000000-0000-4000-8000-0000000000f1","name":"indicator %d",`+
		`"pattern":"[ipv4-addr:value = '198.51.100.%d']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"%s}]}`,
		n, indicatorID(n), n, n%250, refs))
}

func indicatorID(n int) string { return fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", n) }

// stored returns the ids in workspace ws of h, with the TLP they are stored under.
func stored(t testing.TB, h *hubtest.Hub, ws string) map[string]hub.TLP {
	t.Helper()
	objs, err := h.KB.List(context.Background(), hub.Filter{Viewer: hub.Viewer{System: true}, Workspaces: []string{ws}, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]hub.TLP{}
	for _, o := range objs {
		if o.Type != federation.PeerType {
			out[o.ID] = o.TLP
		}
	}
	return out
}

// TestHubToHub: objects written to hub A appear in hub B after a sync over TAXII, with their
// markings and author identity; nothing RED crosses, nor anything AMBER outside the peering,
// nor anything of a workspace the peer is not offered; a second sync pulls only the new ones.
func TestHubToHub(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			a := newSource(t, backend)
			type put struct {
				n         int
				ws        string
				tlp       hub.TLP
				recipient []string
				crosses   bool
			}
			puts := []put{
				{1, "community", hub.TLPClear, nil, true},
				{2, "community", hub.TLPGreen, nil, true},
				{3, "community", hub.TLPAmber, nil, false},
				{4, "community", hub.TLPAmberStrict, nil, false},
				{5, "community", hub.TLPRed, []string{"hub-b"}, false},
				{6, "community", hub.TLPUnset, nil, false}, // AMBER by the workspace default
				{7, "peering", hub.TLPGreen, nil, true},
				{8, "peering", hub.TLPAmber, nil, true},
				{9, "peering", hub.TLPAmberStrict, nil, true},
				{10, "peering", hub.TLPRed, []string{"hub-b"}, false},
				{11, "fr-only", hub.TLPGreen, nil, false},
			}
			want := map[string]hub.TLP{}
			for _, p := range puts {
				a.Ingest(t, "cert-fr", p.ws, indicator(p.n, p.tlp), p.recipient...)
				if p.crosses {
					want[indicatorID(p.n)] = p.tlp
				}
			}
			b, sync := newSink(t, backend)
			c := client.New(client.Config{HTTP: a.srv.Client(), User: "hub-b-sync", Password: a.key})
			for _, coll := range []string{"community", "peering"} {
				prog, err := sync.Sync(ctx, federation.Peer{URL: a.root(), Collection: coll, Workspace: "community", Org: "cert-uk"}, federation.Options{Client: c})
				if err != nil {
					t.Fatalf("sync %s: %v", coll, err)
				}
				if len(prog.Rejected) != 0 {
					t.Errorf("sync %s rejected %v", coll, prog.Rejected)
				}
			}
			if got := stored(t, b, "community"); !maps.Equal(got, want) {
				t.Errorf("hub B holds %v, want %v", got, want)
			}
			// The author's identity travels in the body; the submitter on B is the receiving org.
			o, err := b.KB.Get(ctx, hub.Viewer{System: true}, indicatorID(8), time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				CreatedBy string `json:"created_by_ref"`
			}
			json.Unmarshal(o.Body, &body)
			if body.CreatedBy != "identity--00000000-0000-4000-8000-0000000000f1" || o.Author != "cert-uk" || o.TLP != hub.TLPAmber {
				t.Errorf("on hub B: created_by_ref %q, author %s, TLP %v", body.CreatedBy, o.Author, o.TLP)
			}

			// A second sync pulls only what was added since.
			a.Ingest(t, "cert-fr", "community", indicator(12, hub.TLPGreen))
			a.Ingest(t, "cert-fr", "community", indicator(13, hub.TLPAmber))
			a.Ingest(t, "cert-fr", "community", indicator(14, hub.TLPClear))
			prog, err := sync.Sync(ctx, federation.Peer{URL: a.root(), Collection: "community", Workspace: "community", Org: "cert-uk"}, federation.Options{Client: c})
			if err != nil {
				t.Fatal(err)
			}
			if prog.Received != 2 || prog.Accepted != 2 || prog.Duplicates != 0 || prog.Resumed {
				t.Errorf("second sync %+v, want 2 received and accepted", prog)
			}
			want[indicatorID(12)], want[indicatorID(14)] = hub.TLPGreen, hub.TLPClear
			if got := stored(t, b, "community"); !maps.Equal(got, want) {
				t.Errorf("after the second sync hub B holds %v, want %v", got, want)
			}
			// Nothing new: nothing pulled.
			if prog, err := sync.Sync(ctx, federation.Peer{URL: a.root(), Collection: "community", Workspace: "community", Org: "cert-uk"}, federation.Options{Client: c}); err != nil || prog.Received != 0 {
				t.Errorf("third sync %+v, %v; want nothing received", prog, err)
			}
		})
	}
}

// failing is a transport that lets through ok requests and fails every later one, and
// remembers the query of each request.
type failing struct {
	ok      atomic.Int64
	queries []string
	next    http.RoundTripper
}

func (f *failing) RoundTrip(r *http.Request) (*http.Response, error) {
	f.queries = append(f.queries, r.URL.RawQuery)
	if f.ok.Add(-1) < 0 {
		return nil, errors.New("connection reset (test)")
	}
	return f.next.RoundTrip(r)
}

// TestSyncResumes: a sync that breaks off mid-way keeps what it committed, and the next one
// goes on from there with the source's next value, pulling only the rest.
func TestSyncResumes(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			a := newSource(t, backend)
			for n := range 25 {
				a.Ingest(t, "cert-fr", "community", indicator(100+n, hub.TLPGreen))
			}
			b, sync := newSink(t, backend)
			peer := federation.Peer{URL: a.root(), Collection: taxii.CollectionID("community"), Workspace: "community", Org: "cert-be"}
			tr := &failing{next: a.srv.Client().Transport}
			tr.ok.Store(2)
			broken := client.New(client.Config{HTTP: &http.Client{Transport: tr}, Token: a.key})
			var seen []federation.Progress
			prog, err := sync.Sync(ctx, peer, federation.Options{Client: broken, PageSize: 5, Progress: func(p federation.Progress) { seen = append(seen, p) }})
			if hub.ErrorCode(err) != hub.EUnavailable {
				t.Fatalf("interrupted sync: %v, want EUnavailable", err)
			}
			if prog.Accepted != 10 || len(seen) != 2 || seen[1].Accepted != 10 {
				t.Fatalf("interrupted sync committed %+v (progress %+v), want 10 in 2 pages", prog, seen)
			}
			if got := len(stored(t, b, "community")); got != 10 {
				t.Fatalf("hub B holds %d objects after the interruption, want 10", got)
			}
			tr.ok.Store(1000)
			tr.queries = nil
			prog, err = sync.Sync(ctx, peer, federation.Options{Client: broken, PageSize: 5})
			if err != nil {
				t.Fatal(err)
			}
			if !prog.Resumed || prog.Received != 15 || prog.Accepted != 15 || prog.Duplicates != 0 {
				t.Errorf("resumed sync %+v, want 15 new objects received", prog)
			}
			if len(tr.queries) == 0 || !strings.Contains(tr.queries[0], "next=") {
				t.Errorf("the resumed sync began with %v, want the saved next value", tr.queries)
			}
			if got := len(stored(t, b, "community")); got != 25 {
				t.Errorf("hub B holds %d objects, want 25", got)
			}
			// The source forgot the next value (restart): the run starts over, recognising
			// what it has as duplicates.
			tr.ok.Store(2)
			a.Ingest(t, "cert-fr", "community", indicator(200, hub.TLPGreen))
			for n := range 11 {
				a.Ingest(t, "cert-fr", "community", indicator(201+n, hub.TLPGreen))
			}
			if _, err := sync.Sync(ctx, peer, federation.Options{Client: broken, PageSize: 5}); err == nil {
				t.Fatal("the third sync did not break off")
			}
			rec, err := sync.Registry().Get(ctx, peer)
			if err != nil {
				t.Fatal(err)
			}
			rec.State.Next = "bm90IGEgY3Vyc29y" // a next value the source never gave
			if err := sync.Registry().SetState(ctx, peer, rec.State); err != nil {
				t.Fatal(err)
			}
			tr.ok.Store(1000)
			prog, err = sync.Sync(ctx, peer, federation.Options{Client: broken, PageSize: 5})
			if err != nil {
				t.Fatal(err)
			}
			if !prog.Resumed || prog.Accepted != 2 || prog.Duplicates != 10 {
				t.Errorf("sync after a refused next %+v, want the run over: 2 new, 10 duplicates", prog)
			}
			if got := len(stored(t, b, "community")); got != 37 {
				t.Errorf("hub B holds %d objects, want 37", got)
			}
		})
	}
}
