package rewrap_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cshub/internal/auth"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/members"
	"cshub/internal/rewrap"
	"cshub/internal/seal"
	"cshub/internal/store/postgres"
	"cshub/internal/store/postgres/pgtest"
	"cshub/internal/store/sqlite"
)

var system = hub.Viewer{System: true}

// hubFixture is a real SQLite store with an unsealed barrier, two workspaces and a user with a
// TOTP secret, enrolled through package members.
type hubFixture struct {
	st      hub.Store
	b       *seal.Barrier
	kb      *kb.Service
	members *members.Service
	user    *members.CreatedUser
	opener  auth.Opener
}

func newHub(t *testing.T) *hubFixture {
	t.Helper()
	return newHubIn(t, openSQLite(t))
}

func openSQLite(t *testing.T) hub.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// openPG opens a store in a PostgreSQL schema of its own, dropped when t ends.
func openPG(t *testing.T) hub.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // before the schema is dropped
	return st
}

func newHubIn(t *testing.T, st hub.Store) *hubFixture {
	t.Helper()
	ctx := context.Background()
	b := seal.New(st)
	root := make([]byte, 32)
	rand.Read(root)
	if err := b.Initialize(ctx, root); err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{Directory: st, Params: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	if err != nil {
		t.Fatal(err)
	}
	m := members.New(st, b, a, nil)
	must(t, m.CreateOrg(ctx, &hub.Org{Code: "fr", Name: "CERT-FR", Country: "FR", Kind: hub.OrgMember, Active: true}))
	for _, ws := range []string{"alpha", "beta"} {
		must(t, m.CreateWorkspace(ctx, &hub.Workspace{Slug: ws, Name: ws, Kind: hub.WorkspaceCommunity, Members: []string{"fr"}}))
	}
	cu, err := m.CreateUser(ctx, members.NewUser{Org: "fr", Username: "analyst", Role: hub.RoleAnalyst, Password: "correct horse battery staple 42", TOTP: true})
	if err != nil {
		t.Fatal(err)
	}
	return &hubFixture{st: st, b: b, kb: kb.New(kb.Config{Store: st, Sealer: b}), members: m, user: cu, opener: members.TOTPOpener(b)}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var idN int

// put stores n objects in ws with bodies sealed where package kb seals them.
func (h *hubFixture) put(t *testing.T, ws string, n int) {
	t.Helper()
	if err := h.putErr(ws, n); err != nil {
		t.Fatal(err)
	}
}

var idMu sync.Mutex

func (h *hubFixture) putErr(ws string, n int) error {
	base := time.Date(2025, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	objs := make([]*hub.Object, n)
	for i := range objs {
		idMu.Lock()
		idN++
		n := idN
		idMu.Unlock()
		o := &hub.Object{
			ID: fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", n), Type: "indicator",
			Created: base, Modified: base.Add(time.Duration(i) * time.Millisecond),
			Workspace: ws, Author: "fr", TLP: hub.TLPAmber,
		}
		body, err := h.b.Encrypt(seal.ObjectLocation(o), []byte(fmt.Sprintf(`{"id":%q,"name":"plain %d"}`, o.ID, n)))
		if err != nil {
			return err
		}
		o.Body = body
		objs[i] = o
	}
	_, err := h.st.PutObjects(context.Background(), objs, hub.PutOptions{})
	return err
}

// readAll opens every stored version through package kb, which fails on any body that does
// not open at kb's own location.
func (h *hubFixture) readAll(t *testing.T) int {
	t.Helper()
	objs, err := h.kb.List(context.Background(), hub.Filter{Viewer: system, AllVersions: true, Limit: 1 << 20})
	if err != nil {
		t.Fatalf("reading through kb: %v", err)
	}
	for _, o := range objs {
		if !strings.Contains(string(o.Body), `"name":"plain`) {
			t.Fatalf("body of %s = %q", o.ID, o.Body)
		}
	}
	return len(objs)
}

func (h *hubFixture) census(t *testing.T) map[uint32]int64 {
	t.Helper()
	c, err := rewrap.Census(context.Background(), h.st)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (h *hubFixture) totpTerm(t *testing.T) uint32 {
	t.Helper()
	u, err := h.st.User(context.Background(), h.user.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	term, err := seal.Term(u.TOTPSecret)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := h.opener(context.Background(), u)
	if err != nil || secret != h.user.TOTPSecret {
		t.Fatalf("TOTP secret opens as %q, %v; want %q", secret, err, h.user.TOTPSecret)
	}
	return term
}

func TestRunMovesEverythingToNewestTerm(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testRunMovesEverything(t, newHubIn(t, openSQLite(t))) })
	t.Run("postgres", func(t *testing.T) { testRunMovesEverything(t, newHubIn(t, openPG(t))) })
}

func testRunMovesEverything(t *testing.T, h *hubFixture) {
	ctx := context.Background()
	h.put(t, "alpha", 1200)
	h.put(t, "beta", 300)
	if got, want := fmt.Sprint(h.census(t)), "map[1:1500]"; got != want {
		t.Fatalf("census before = %s, want %s", got, want)
	}
	term, err := h.b.Rotate(ctx)
	if err != nil || term != 2 {
		t.Fatalf("Rotate = %d, %v; want 2", term, err)
	}
	var calls []rewrap.Progress
	sum, err := rewrap.Run(ctx, h.st, h.b, rewrap.Options{Batch: 500, Progress: func(p rewrap.Progress) { calls = append(calls, p) }})
	if err != nil {
		t.Fatal(err)
	}
	want := rewrap.Summary{Term: 2, Scanned: 1500, Rewrapped: 1500, Users: 1, TOTP: 1}
	sum.Elapsed = 0
	if *sum != want {
		t.Errorf("summary = %+v, want %+v", *sum, want)
	}
	if len(calls) != 4 || calls[3] != (rewrap.Progress{Scanned: 1500, Total: 1500, Rewrapped: 1500}) {
		t.Errorf("progress calls = %+v, want 4 ending at 1500/1500", calls)
	}
	if got, want := fmt.Sprint(h.census(t)), "map[2:1500]"; got != want {
		t.Errorf("census after = %s, want %s", got, want)
	}
	if got := h.readAll(t); got != 1500 {
		t.Errorf("read %d objects through kb, want 1500", got)
	}
	if got := h.totpTerm(t); got != 2 {
		t.Errorf("TOTP secret under term %d, want 2", got)
	}

	// A second run finds nothing to do: the run is resumable.
	sum, err = rewrap.Run(ctx, h.st, h.b, rewrap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rewrapped != 0 || sum.Current != 1500 || sum.TOTP != 0 {
		t.Errorf("second run = %+v, want nothing rewrapped and 1500 current", *sum)
	}
}

// TestRunSkipsChangedRows deletes a workspace between the read and the swap of a batch: its
// bodies are counted as changed, not written back.
func TestRunSkipsChangedRows(t *testing.T) {
	ctx := context.Background()
	h := newHub(t)
	h.put(t, "alpha", 10)
	h.put(t, "beta", 10)
	if _, err := h.b.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	st := &deleteAfterList{Store: h.st, slug: "beta"}
	sum, err := rewrap.Run(ctx, st, h.b, rewrap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rewrapped != 10 || sum.Changed != 10 {
		t.Errorf("summary = %+v, want 10 rewrapped and 10 changed", *sum)
	}
	if got := h.readAll(t); got != 10 {
		t.Errorf("read %d objects, want the 10 of alpha", got)
	}
}

// deleteAfterList is the real store, except that the first listing deletes a workspace's rows
// just after reading them, as a concurrent operator would.
type deleteAfterList struct {
	hub.Store
	slug string
	done bool
}

func (s *deleteAfterList) ListObjects(ctx context.Context, f hub.Filter) ([]*hub.Object, error) {
	objs, err := s.Store.ListObjects(ctx, f)
	if err == nil && !s.done {
		s.done = true
		err = s.Store.DeleteWorkspace(ctx, s.slug)
	}
	return objs, err
}

// TestRunReportsUnreadable leaves the rows of a workspace whose key was destroyed (a deletion
// cut short): they are counted and named, the rest is rewrapped.
func TestRunReportsUnreadable(t *testing.T) {
	ctx := context.Background()
	h := newHub(t)
	h.put(t, "alpha", 5)
	h.put(t, "beta", 3)
	must(t, h.b.DestroyWorkspace(ctx, "beta"))
	if _, err := h.b.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	sum, err := rewrap.Run(ctx, h.st, h.b, rewrap.Options{})
	if err == nil || !strings.Contains(err.Error(), "3 sealed values") || !strings.Contains(err.Error(), "destroyed") {
		t.Errorf("error = %v, want one naming 3 values of a destroyed workspace", err)
	}
	if sum.Rewrapped != 5 || sum.Failed != 3 {
		t.Errorf("summary = %+v, want 5 rewrapped, 3 failed", *sum)
	}
}

// TestRunOnline rewraps while writers add objects and readers read them through kb: no read
// fails, and a second run leaves nothing under the old term.
func TestRunOnline(t *testing.T) {
	ctx := context.Background()
	h := newHub(t)
	h.put(t, "alpha", 2000)
	if _, err := h.b.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() { // a writer
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := h.putErr("beta", 20); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() { // a reader
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := h.kb.List(ctx, hub.Filter{Viewer: system, AllVersions: true, Limit: 200}); err != nil {
				errs <- err
				return
			}
		}
	}()
	sum, err := rewrap.Run(ctx, h.st, h.b, rewrap.Options{Batch: 100})
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("reader: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rewrapped < 2000 {
		t.Errorf("rewrapped %d, want at least the 2000 stored before", sum.Rewrapped)
	}
	if _, err := rewrap.Run(ctx, h.st, h.b, rewrap.Options{}); err != nil {
		t.Fatal(err)
	}
	c := h.census(t)
	if len(c) != 1 || c[2] == 0 {
		t.Errorf("census = %v, want everything under term 2", c)
	}
	h.readAll(t)
}

// TestRunResealsExportRecords: the export records kb writes beside indicators move to the
// newest term with the bodies, and still open where kb reads them.
func TestRunResealsExportRecords(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testRunResealsExportRecords(t, newHubIn(t, openSQLite(t))) })
	t.Run("postgres", func(t *testing.T) { testRunResealsExportRecords(t, newHubIn(t, openPG(t))) })
}

func testRunResealsExportRecords(t *testing.T, h *hubFixture) {
	ctx := context.Background()
	const n = 30
	var bundle strings.Builder
	bundle.WriteString(`{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000001","objects":[`)
	for i := range n {
		if i > 0 {
			bundle.WriteByte(',')
		}
		fmt.Fprintf(&bundle, `{"type":"indicator","spec_version":"2.1","id":"indicator--10000000-0000-4000-8000-%012d",
			"created":"2025-01-01T00:00:00.000Z","modified":"2025-01-01T00:00:00.000Z","pattern_type":"stix",
			"valid_from":"2025-01-01T00:00:00Z","pattern":"[ipv4-addr:value = '198.51.100.%d']"}`, i, i)
	}
	bundle.WriteString(`]}`)
	if _, err := h.kb.Ingest(ctx, kb.Submission{Org: "fr", Workspace: "alpha"}, strings.NewReader(bundle.String())); err != nil {
		t.Fatal(err)
	}
	terms := func() map[uint32]int {
		t.Helper()
		var page hub.RecordPage
		_, err := h.st.ExportRecords(ctx, 0, 1000, &page)
		must(t, err)
		out := map[uint32]int{}
		for _, r := range page.Records() {
			term, err := seal.Term(r.Sealed)
			must(t, err)
			out[term]++
		}
		return out
	}
	if got := fmt.Sprint(terms()); got != fmt.Sprintf("map[1:%d]", n) {
		t.Fatalf("records before = %s, want all %d under term 1", got, n)
	}
	if _, err := h.b.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	sum, err := rewrap.Run(ctx, h.st, h.b, rewrap.Options{Batch: 7})
	if err != nil || sum.Records != n {
		t.Fatalf("Run: %d records re-sealed, %v; want %d", sum.Records, err, n)
	}
	if got := fmt.Sprint(terms()); got != fmt.Sprintf("map[2:%d]", n) {
		t.Errorf("records after = %s, want all %d under term 2", got, n)
	}
	var sealed hub.RecordPage
	if err := h.kb.SealedExportRecords(ctx, 0, 1000, &sealed); err != nil {
		t.Fatalf("reading through kb: %v", err)
	}
	recs, err := h.kb.OpenExportRecords(sealed.Records())
	if err != nil || len(recs) != n {
		t.Fatalf("reading through kb: %d records, %v; want %d", len(recs), err, n)
	}
}
