package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"cshub/internal/auth"
	"cshub/internal/federation"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/members"
	"cshub/internal/seal"
	"cshub/internal/stix"
	"cshub/internal/store/sqlite"
	"cshub/internal/taxii"
)

// FederationFigures are the measurements of one Federation run.
type FederationFigures struct {
	Objects int
	Store   string // "SQLite" or "PostgreSQL"

	FileIngest time.Duration // ingesting the bundle file into the serving hub
	Sync       time.Duration // the receiving hub's initial sync of all of it

	TAXIIPaging time.Duration   // one pass over the collection, limit=1000, over loopback HTTP
	TAXIIPages  []time.Duration // each page of that pass, as the client waited for it
	StorePaging time.Duration   // the same pages read through kb.List
	StorePages  []time.Duration

	// The process's CPU time in each phase (zero where it is not measured): both hubs and the
	// client run in this process, so it is the whole cost of the phase.
	FileIngestCPU, SyncCPU, TAXIIPagingCPU, StorePagingCPU time.Duration
}

// Rows returns the figures as report rows, each beside its baseline.
func (f *FederationFigures) Rows() []Row {
	n := float64(f.Objects)
	size := fmt.Sprintf("%d objects, %s", f.Objects, f.Store)
	var cpu []Row
	hubs := "both hubs"
	if f.Store == "PostgreSQL" {
		hubs = "both hubs, not the PostgreSQL server" // a process of its own, not counted
	}
	if f.SyncCPU > 0 {
		cpu = []Row{
			{Name: "TAXII paging per CPU-second (" + size + ")", Value: n / f.TAXIIPagingCPU.Seconds(), Unit: "objects/cpu-s",
				Baseline: "kb.List of the same pages", Base: n / f.StorePagingCPU.Seconds()},
			{Name: "hub-to-hub initial sync per CPU-second, " + hubs + " (" + size + ")", Value: n / f.SyncCPU.Seconds(), Unit: "objects/cpu-s",
				Baseline: "ingest of the same objects from a file", Base: n / f.FileIngestCPU.Seconds()},
		}
	}
	return append([]Row{
		{Name: "TAXII paging, limit=1000, loopback HTTP (" + size + ")", Value: n / f.TAXIIPaging.Seconds(), Unit: "objects/s",
			Baseline: "kb.List of the same pages", Base: n / f.StorePaging.Seconds()},
		{Name: "TAXII page p99, limit=1000 (" + size + ")", Value: p99(f.TAXIIPages).Seconds() * 1000, Unit: "ms",
			Baseline: "kb.List page p99", Base: p99(f.StorePages).Seconds() * 1000},
		{Name: "hub-to-hub initial sync over TAXII, loopback HTTP (" + size + ")", Value: n / f.Sync.Seconds(), Unit: "objects/s",
			Baseline: "ingest of the same objects from a file", Base: n / f.FileIngest.Seconds()},
		{Name: "hub-to-hub initial sync, total time (" + size + ")", Value: f.Sync.Seconds(), Unit: "s",
			Baseline: "ingest from a file, total time", Base: f.FileIngest.Seconds()},
	}, cpu...)
}

// p99 returns the 99th percentile of ds.
func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*99/100)]
}

// Federation measures TAXII paging and hub-to-hub sync on n synthetic indicators in two SQLite
// hubs under dir, or, when postgres is set, in two PostgreSQL hubs, each in a schema of its own
// in the database at that URL, dropped after (see openSchema); the bundle file goes under dir
// either way. Hub A ingests them from a bundle file (the baseline of the sync) and serves
// its federation API root on a loopback port; one pass pages through the collection as hub B's
// peer account would (its baseline: the same pages read through kb.List), then hub B, empty,
// syncs all of it with package federation. The indicators are marked TLP:CLEAR or GREEN, which
// is what a community workspace offers a peer hub.
func Federation(ctx context.Context, dir, postgres string, n int) (*FederationFigures, error) {
	bundle := SyntheticIndicators(n, 1)
	for _, m := range []string{stix.TLP2Amber, stix.TLP2AmberStrict} {
		bundle = bytes.ReplaceAll(bundle, []byte(m), []byte(stix.TLP2Green))
	}
	file := filepath.Join(dir, "federation-bundle.json")
	if err := os.WriteFile(file, bundle, 0o600); err != nil {
		return nil, err
	}
	bundle = nil // only the file is used from here on
	fig := &FederationFigures{Objects: n, Store: "SQLite"}
	open := func(name string) (hub.Store, func(), error) {
		st, err := sqlite.Open(filepath.Join(dir, name+".db"))
		if err != nil {
			return nil, nil, err
		}
		return st, func() { st.Close() }, nil
	}
	if postgres != "" {
		fig.Store = "PostgreSQL"
		open = func(string) (hub.Store, func(), error) {
			s, err := openSchema(ctx, postgres)
			if err != nil {
				return nil, nil, err
			}
			return s.db, s.drop, nil
		}
	}

	a, err := newLoopHub(ctx, open, "federation-a")
	if err != nil {
		return nil, err
	}
	defer a.close()
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	start, cpu := time.Now(), cpuTime()
	sum, err := a.kb.Ingest(ctx, kb.Submission{Org: "bench", Workspace: "bench"}, f)
	fig.FileIngest, fig.FileIngestCPU = time.Since(start), cpuTime()-cpu
	f.Close()
	if err != nil {
		return nil, err
	}
	if sum.Accepted != n {
		return nil, fmt.Errorf("bench: hub A accepted %d of %d objects", sum.Accepted, n)
	}
	key, err := a.peerKey(ctx)
	if err != nil {
		return nil, err
	}
	root, stop, err := a.serve()
	if err != nil {
		return nil, err
	}
	defer stop()

	if err := fig.pageTAXII(ctx, root, key); err != nil {
		return nil, err
	}
	if err := fig.pageStore(ctx, a.kb); err != nil {
		return nil, err
	}

	b, err := newLoopHub(ctx, open, "federation-b")
	if err != nil {
		return nil, err
	}
	defer b.close()
	peer := federation.Peer{URL: root, Collection: "bench", Workspace: "bench", Org: "bench", Token: key}
	cl, err := federation.ClientFor(&peer)
	if err != nil {
		return nil, err
	}
	syncer := federation.NewSyncer(federation.Config{KB: b.kb, Store: b.store, Sealer: b.barrier})
	start, cpu = time.Now(), cpuTime()
	prog, err := syncer.Sync(ctx, peer, federation.Options{Client: cl})
	fig.Sync, fig.SyncCPU = time.Since(start), cpuTime()-cpu
	if err != nil {
		return nil, err
	}
	if prog.Accepted != n {
		return nil, fmt.Errorf("bench: the sync stored %d of %d objects (%d rejected)", prog.Accepted, n, len(prog.Rejected))
	}
	return fig, nil
}

// pageTAXII pages once through collection bench at root with limit=1000, as a client that
// reads each page whole and takes the next value from the envelope's head.
func (f *FederationFigures) pageTAXII(ctx context.Context, root, key string) error {
	hc := &http.Client{}
	buf := bytes.NewBuffer(make([]byte, 0, 4<<20))
	start, cpu := time.Now(), cpuTime()
	total := 0
	for next := ""; ; {
		url := root + "collections/bench/objects/?limit=1000"
		if next != "" {
			url += "&next=" + next
		}
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Accept", taxii.MediaType)
		t := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		buf.Reset()
		_, err = io.Copy(buf, resp.Body)
		resp.Body.Close()
		f.TAXIIPages = append(f.TAXIIPages, time.Since(t))
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("bench: GET %s: %s: %s", url, resp.Status, buf.Bytes())
		}
		body := buf.Bytes()
		total += bytes.Count(body, []byte(`{"type":"indicator"`))
		head := body[:min(len(body), 200)]
		if !bytes.HasPrefix(head, []byte(`{"more":true,"next":"`)) {
			break
		}
		rest := head[len(`{"more":true,"next":"`):]
		next = string(rest[:bytes.IndexByte(rest, '"')])
	}
	f.TAXIIPaging, f.TAXIIPagingCPU = time.Since(start), cpuTime()-cpu
	if total != f.Objects {
		return fmt.Errorf("bench: paging over TAXII yields %d of %d objects", total, f.Objects)
	}
	return nil
}

// pageStore reads the same pages as pageTAXII through kb.List, unsealed, as the hub itself.
func (f *FederationFigures) pageStore(ctx context.Context, k *kb.Service) error {
	start, cpu := time.Now(), cpuTime()
	total := 0
	fl := hub.Filter{Viewer: hub.Viewer{System: true}, Workspaces: []string{"bench"}, Limit: 1000}
	for {
		t := time.Now()
		objs, err := k.List(ctx, fl)
		f.StorePages = append(f.StorePages, time.Since(t))
		if err != nil {
			return err
		}
		total += len(objs)
		if len(objs) < fl.Limit {
			break
		}
		fl.AfterSeq = objs[len(objs)-1].Seq
	}
	f.StorePaging, f.StorePagingCPU = time.Since(start), cpuTime()-cpu
	if total != f.Objects {
		return fmt.Errorf("bench: kb.List yields %d of %d objects", total, f.Objects)
	}
	return nil
}

// loopHub is a hub with a sealed store, enough to ingest, serve TAXII and sync.
type loopHub struct {
	store   hub.Store
	close   func() // closes the store (and drops its schema)
	barrier *seal.Barrier
	auth    *auth.Authenticator
	members *members.Service
	kb      *kb.Service
}

// newLoopHub opens a store with open, naming it name, and sets a hub up in it.
func newLoopHub(ctx context.Context, open func(name string) (hub.Store, func(), error), name string) (*loopHub, error) {
	st, closeStore, err := open(name)
	if err != nil {
		return nil, err
	}
	h := &loopHub{store: st, close: closeStore, barrier: seal.New(st)}
	if err := h.setup(ctx); err != nil {
		closeStore()
		return nil, err
	}
	return h, nil
}

func (h *loopHub) setup(ctx context.Context) error {
	root, err := seal.NewRootKey()
	if err != nil {
		return err
	}
	if err := h.barrier.Initialize(ctx, root); err != nil {
		return err
	}
	if h.auth, err = auth.New(auth.Config{Directory: h.store, Open: members.TOTPOpener(h.barrier)}); err != nil {
		return err
	}
	h.members = members.New(h.store, h.barrier, h.auth, nil)
	h.kb = kb.New(kb.Config{Store: h.store, Sealer: h.barrier})
	if err := h.members.CreateOrg(ctx, &hub.Org{Code: "bench", Name: "Bench", Country: "BE", Kind: hub.OrgMember, Active: true}); err != nil {
		return err
	}
	return h.members.CreateWorkspace(ctx, &hub.Workspace{Slug: "bench", Kind: hub.WorkspaceCommunity, DefaultTLP: hub.TLPGreen, Members: []string{"bench"}})
}

// peerKey enrols a peer hub as an observer organisation and returns the read key of its sync
// account.
func (h *loopHub) peerKey(ctx context.Context) (string, error) {
	if err := h.members.CreateOrg(ctx, &hub.Org{Code: "peer", Name: "Peer hub", Country: "BE", Kind: hub.OrgObserver, Active: true}); err != nil {
		return "", err
	}
	u, err := h.members.CreateUser(ctx, members.NewUser{Org: "peer", Username: "peer-sync", Role: hub.RoleReader, Password: rand.Text()})
	if err != nil {
		return "", err
	}
	key, _, err := h.members.CreateAPIKey(ctx, u.User, hub.ScopeRead, time.Time{})
	return key, err
}

// serve serves the hub's TAXII API on a loopback port and returns its federation API root's
// URL and a function that stops it.
func (h *loopHub) serve() (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(taxii.DiscoveryPath, taxii.New(taxii.Config{KB: h.kb, Dir: h.store, Auth: h.auth, Objects: h.store}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Minute}
	go srv.Serve(l)
	return "http://" + l.Addr().String() + taxii.FederationRootPath, func() { srv.Close() }, nil
}
