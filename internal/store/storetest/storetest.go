// Package storetest is the conformance suite every hub.Store implementation must pass, and the
// ATT&CK loader its benchmarks share.
//
// Timestamps in the suite carry milliseconds, as STIX timestamps usually do, so that both the
// nanosecond SQLite store and the microsecond PostgreSQL store round-trip them exactly.
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cshub/internal/hub"
)

// Run runs the suite. open must return a new, empty store each time it is called and arrange
// for it to be closed when t ends.
func Run(t *testing.T, open func(t *testing.T) hub.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s hub.Store)
	}{
		{"PutDuplicate", testPutDuplicate},
		{"PutAdmit", testPutAdmit},
		{"AddedGrowsWithSeq", testAddedGrowsWithSeq},
		{"PutInvalid", testPutInvalid},
		{"RoundTrip", testRoundTrip},
		{"Versions", testVersions},
		{"LateOlderVersion", testLateOlderVersion},
		{"GetObjectVersion", testGetObjectVersion},
		{"ListFilters", testListFilters},
		{"Access", testAccess},
		{"AccessRandom", testAccessRandom},
		{"Orgs", testOrgs},
		{"Workspaces", testWorkspaces},
		{"DeleteWorkspace", testDeleteWorkspace},
		{"Users", testUsers},
		{"APIKeys", testAPIKeys},
		{"Keyring", testKeyring},
		{"Audit", testAudit},
		{"ConcurrentPut", testConcurrentPut},
		{"ReplaceBodies", testReplaceBodies},
		{"ReplaceBodiesConcurrent", testReplaceBodiesConcurrent},
		{"DeleteObjects", testDeleteObjects},
		{"DeleteObjectsConcurrent", testDeleteObjectsConcurrent},
		{"ExportRecords", testExportRecords},
		{"Bodies", testBodies},
		{"ListExtras", testListExtras},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

// base is the suite's clock: whole milliseconds, UTC.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

func ms(n int) time.Time { return base.Add(time.Duration(n) * time.Millisecond) }

var system = hub.Viewer{System: true}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := hub.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// setup creates the organisations and workspaces (every org a member of every workspace).
func setup(t *testing.T, s hub.Store, orgs, workspaces []string) {
	t.Helper()
	ctx := context.Background()
	for _, o := range orgs {
		must(t, s.CreateOrg(ctx, &hub.Org{Code: o, Name: strings.ToUpper(o), Country: "FR", Kind: hub.OrgMember, Active: true, Created: base}))
	}
	for _, w := range workspaces {
		must(t, s.CreateWorkspace(ctx, &hub.Workspace{Slug: w, Name: w, Kind: hub.WorkspaceCommunity, Members: orgs, Created: base}))
	}
}

var uuidN atomic.Int64

// obj returns a new object version.
func obj(ws, id string, modified time.Time, tlp hub.TLP, author string) *hub.Object {
	typ, _, _ := strings.Cut(id, "--")
	return &hub.Object{
		ID: id, Type: typ, Created: base, Modified: modified, Workspace: ws, Author: author, TLP: tlp,
		Body: []byte(fmt.Sprintf(`sealed:%s@%s/%s`, id, modified.Format(time.RFC3339Nano), ws)),
	}
}

func newID(typ string) string {
	return fmt.Sprintf("%s--00000000-0000-4000-8000-%012d", typ, uuidN.Add(1))
}

func put(t *testing.T, s hub.Store, objs ...*hub.Object) int {
	t.Helper()
	n, err := s.PutObjects(context.Background(), objs, hub.PutOptions{Now: ms(1_000_000)})
	if err != nil {
		t.Fatalf("PutObjects: %v", err)
	}
	return n
}

func list(t *testing.T, s hub.Store, f hub.Filter) []*hub.Object {
	t.Helper()
	objs, err := s.ListObjects(context.Background(), f)
	if err != nil {
		t.Fatalf("ListObjects(%+v): %v", f, err)
	}
	return objs
}

func count(t *testing.T, s hub.Store, f hub.Filter) int64 {
	t.Helper()
	n, err := s.CountObjects(context.Background(), f)
	if err != nil {
		t.Fatalf("CountObjects(%+v): %v", f, err)
	}
	return n
}

// versions renders objects as "id@modified/workspace" for comparisons and messages.
func versions(objs []*hub.Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = fmt.Sprintf("%s@%s/%s", o.ID, o.Modified.UTC().Format("15:04:05.000"), o.Workspace)
	}
	return out
}

func sameObject(t *testing.T, got, want *hub.Object) {
	t.Helper()
	g, w := *got, *want
	if !g.Created.Equal(w.Created) || !g.Modified.Equal(w.Modified) || !g.Added.Equal(w.Added) {
		t.Errorf("times of %s = %v/%v/%v, want %v/%v/%v", w.ID, g.Created, g.Modified, g.Added, w.Created, w.Modified, w.Added)
	}
	sortBytes := func(b [][]byte) [][]byte {
		b = slices.Clone(b)
		slices.SortFunc(b, bytes.Compare)
		return b
	}
	g.Tokens, w.Tokens = sortBytes(g.Tokens), sortBytes(w.Tokens)
	g.Recipients, w.Recipients = slices.Sorted(slices.Values(g.Recipients)), slices.Sorted(slices.Values(w.Recipients))
	g.Created, g.Modified, g.Added, w.Created, w.Modified, w.Added = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if len(g.Body) == 0 && len(w.Body) == 0 {
		g.Body, w.Body = nil, nil
	}
	if fmt.Sprintf("%+v", g) != fmt.Sprintf("%+v", w) {
		t.Errorf("object = %+v\nwant %+v", g, w)
	}
}

func testPutDuplicate(t *testing.T, s hub.Store) {
	ctx := context.Background()
	setup(t, s, []string{"a"}, []string{"w1", "w2"})
	id := newID("indicator")
	o1 := obj("w1", id, ms(0), hub.TLPGreen, "a")
	o2 := obj("w2", id, ms(0), hub.TLPGreen, "a") // same version in another workspace: distinct
	dupInBatch := obj("w1", id, ms(0), hub.TLPGreen, "a")
	n, err := s.PutObjects(ctx, []*hub.Object{o1, o2, dupInBatch}, hub.PutOptions{Now: ms(10)})
	must(t, err)
	if n != 2 {
		t.Fatalf("added = %d, want 2", n)
	}
	if o1.Seq == 0 || o2.Seq == 0 || o2.Seq <= o1.Seq {
		t.Errorf("seqs = %d, %d, want increasing and non-zero", o1.Seq, o2.Seq)
	}
	if dupInBatch.Seq != 0 {
		t.Errorf("seq of a repeat within the batch = %d, want 0", dupInBatch.Seq)
	}
	if !o1.Added.Equal(ms(10)) {
		t.Errorf("Added = %v, want %v", o1.Added, ms(10))
	}
	// Putting the same versions again adds nothing and changes nothing: idempotent.
	again := obj("w1", id, ms(0), hub.TLPRed, "a")
	again.Added = ms(5)
	n, err = s.PutObjects(ctx, []*hub.Object{again}, hub.PutOptions{Now: ms(20)})
	must(t, err)
	if n != 0 || again.Seq != 0 {
		t.Errorf("re-put: added = %d, seq = %d, want 0, 0", n, again.Seq)
	}
	if !again.Added.Equal(ms(5)) {
		t.Errorf("re-put changed Added of the caller's object to %v", again.Added)
	}
	got, err := s.GetObject(ctx, system, id, ms(0))
	must(t, err)
	if got.TLP != hub.TLPGreen || !got.Added.Equal(ms(10)) || got.Seq != o1.Seq {
		t.Errorf("stored version changed by a duplicate put: %+v", got)
	}
	if c := count(t, s, hub.Filter{Viewer: system, AllVersions: true}); c != 2 {
		t.Errorf("count = %d, want 2", c)
	}
	// A mixed batch adds only the new versions, with seqs after every earlier one.
	o3 := obj("w1", id, ms(1), hub.TLPGreen, "a")
	n, err = s.PutObjects(ctx, []*hub.Object{obj("w1", id, ms(0), hub.TLPGreen, "a"), o3}, hub.PutOptions{})
	must(t, err)
	if n != 1 || o3.Seq <= o2.Seq {
		t.Errorf("mixed batch: added = %d, seq = %d, want 1 and > %d", n, o3.Seq, o2.Seq)
	}
	if o3.Added.IsZero() {
		t.Error("Added not set without PutOptions.Now")
	}
	n, err = s.PutObjects(ctx, nil, hub.PutOptions{})
	if n != 0 || err != nil {
		t.Errorf("empty put = %d, %v", n, err)
	}
}

// testPutAdmit: PutOptions.Admit sees the latest stored version of each object already stored
// in its workspace, and what it refuses is not stored; a refused newest version of a batch
// leaves the latest flag to the newest version admitted.
func testPutAdmit(t *testing.T, s hub.Store) {
	ctx := context.Background()
	setup(t, s, []string{"a", "b"}, []string{"w1", "w2"})
	id, fresh := newID("indicator"), newID("indicator")
	put(t, s, obj("w1", id, ms(0), hub.TLPAmber, "a"), obj("w1", id, ms(1), hub.TLPAmber, "a"))

	v2 := obj("w1", id, ms(2), hub.TLPAmber, "a")
	v3 := obj("w1", id, ms(3), hub.TLPGreen, "a")    // lowers the TLP: refused below
	other := obj("w2", id, ms(3), hub.TLPGreen, "b") // nothing stored in w2: not asked about
	newer := obj("w1", fresh, ms(0), hub.TLPGreen, "a")
	var asked []string
	admit := func(o, latest *hub.Object) bool {
		asked = append(asked, fmt.Sprintf("%s@%d<-%s@%d/%s/%s", o.Workspace, o.Modified.Sub(base).Milliseconds(),
			latest.Workspace, latest.Modified.Sub(base).Milliseconds(), latest.Author, latest.TLP))
		return o.TLP >= latest.TLP
	}
	n, err := s.PutObjects(ctx, []*hub.Object{v2, v3, other, newer}, hub.PutOptions{Now: ms(20), Admit: admit})
	must(t, err)
	slices.Sort(asked)
	want := []string{"w1@2<-w1@1/a/" + hub.TLPAmber.String(), "w1@3<-w1@1/a/" + hub.TLPAmber.String()}
	if !slices.Equal(asked, want) {
		t.Errorf("Admit asked about %q, want %q", asked, want)
	}
	if n != 3 || v2.Seq == 0 || v3.Seq != 0 || other.Seq == 0 || newer.Seq == 0 {
		t.Errorf("added = %d, seqs v2 %d, v3 %d, other %d, newer %d; want 3 with only v3 refused", n, v2.Seq, v3.Seq, other.Seq, newer.Seq)
	}
	got, err := s.GetObject(ctx, system, id, time.Time{})
	must(t, err)
	if latest := list(t, s, hub.Filter{Viewer: system, Workspaces: []string{"w1"}, IDs: []string{id}}); len(latest) != 1 || !latest[0].Modified.Equal(ms(2)) {
		t.Errorf("latest in w1 after a refused newest version = %+v, want the version of %v", latest, ms(2))
	}
	if !got.Modified.Equal(ms(3)) || got.Workspace != "w2" {
		t.Errorf("newest version across workspaces = %s@%v, want w2@%v", got.Workspace, got.Modified, ms(3))
	}

	// A batch of objects none of which is stored yet, then a newer version of one of them: the
	// newer one alone is the latest.
	a, b := newID("indicator"), newID("indicator")
	pass := func(o, latest *hub.Object) bool { return true }
	for _, batch := range [][]*hub.Object{
		{obj("w1", a, ms(0), hub.TLPGreen, "a"), obj("w1", b, ms(0), hub.TLPGreen, "a"), obj("w1", a, ms(1), hub.TLPGreen, "a")},
		{obj("w1", a, ms(2), hub.TLPGreen, "a")},
	} {
		_, err := s.PutObjects(ctx, batch, hub.PutOptions{Admit: pass})
		must(t, err)
	}
	latest := list(t, s, hub.Filter{Viewer: system, IDs: []string{a, b}})
	if len(latest) != 2 || latest[0].ID != b || latest[1].ID != a || !latest[1].Modified.Equal(ms(2)) {
		t.Errorf("latest versions = %+v, want %s then %s@%v", latest, b, a, ms(2))
	}
}

func testPutInvalid(t *testing.T, s hub.Store) {
	ctx := context.Background()
	setup(t, s, []string{"a"}, []string{"w1"})
	good := obj("w1", newID("indicator"), ms(0), hub.TLPGreen, "a")
	for _, tt := range []struct {
		name string
		o    *hub.Object
		code string
	}{
		{"no id", &hub.Object{Workspace: "w1", TLP: hub.TLPGreen}, hub.EInvalid},
		{"no workspace", &hub.Object{ID: "x--1", TLP: hub.TLPGreen}, hub.EInvalid},
		{"unset tlp", &hub.Object{ID: "x--1", Workspace: "w1"}, hub.EInvalid},
		{"unknown workspace", obj("nope", newID("indicator"), ms(0), hub.TLPGreen, "a"), hub.EInvalid},
	} {
		n, err := s.PutObjects(ctx, []*hub.Object{good, tt.o}, hub.PutOptions{})
		if hub.ErrorCode(err) != tt.code || n != 0 {
			t.Errorf("%s: PutObjects = %d, %v; want code %s", tt.name, n, err, tt.code)
		}
		if good.Seq != 0 {
			t.Errorf("%s: a failed batch left Seq %d on a good object", tt.name, good.Seq)
		}
	}
	if c := count(t, s, hub.Filter{Viewer: system, AllVersions: true}); c != 0 {
		t.Errorf("a failed batch stored %d objects", c)
	}
}

func testRoundTrip(t *testing.T, s hub.Store) {
	ctx := context.Background()
	setup(t, s, []string{"a", "b", "c"}, []string{"w1"})
	o := obj("w1", newID("indicator"), ms(3), hub.TLPRed, "a")
	o.Created = time.Date(2019, 1, 2, 3, 4, 5, 123_000_000, time.FixedZone("CET", 3600))
	o.Recipients = []string{"b", "c"}
	o.Tokens = [][]byte{{1, 2, 3}, {0xff, 0}}
	o.Revoked = true
	o.Body = bytes.Repeat([]byte{0, 1, 2, 0xfe}, 5000)
	empty := obj("w1", newID("identity"), ms(3), hub.TLPClear, "b")
	empty.Body = nil
	put(t, s, o, empty)
	got, err := s.GetObject(ctx, system, o.ID, time.Time{})
	must(t, err)
	sameObject(t, got, o)
	if got.Created.Location() != time.UTC {
		t.Errorf("Created comes back in %v, want UTC", got.Created.Location())
	}
	got, err = s.GetObject(ctx, system, empty.ID, time.Time{})
	must(t, err)
	sameObject(t, got, empty)
	objs := list(t, s, hub.Filter{Viewer: system})
	if len(objs) != 2 {
		t.Fatalf("listed %d objects, want 2", len(objs))
	}
	sameObject(t, objs[0], o)
	// NoTokens leaves out the tokens and nothing else.
	objs = list(t, s, hub.Filter{Viewer: system, NoTokens: true})
	if len(objs) != 2 || objs[0].Tokens != nil {
		t.Fatalf("NoTokens: %d objects, tokens %v; want 2, none", len(objs), objs[0].Tokens)
	}
	noTokens := *o
	noTokens.Tokens = nil
	sameObject(t, objs[0], &noTokens)
}

func testVersions(t *testing.T, s hub.Store) {
	ctx := context.Background()
	setup(t, s, []string{"a"}, []string{"w1", "w2"})
	id := newID("malware")
	put(t, s, obj("w1", id, ms(1), hub.TLPGreen, "a"))
	put(t, s, obj("w1", id, ms(2), hub.TLPGreen, "a"), obj("w1", id, ms(3), hub.TLPGreen, "a"))
	put(t, s, obj("w2", id, ms(2), hub.TLPGreen, "a"))
	latest := list(t, s, hub.Filter{Viewer: system})
	if got, want := versions(latest), []string{id + "@15:09:26.538/w1", id + "@15:09:26.537/w2"}; !slices.Equal(got, want) {
		t.Errorf("latest = %v, want %v", got, want)
	}
	all := list(t, s, hub.Filter{Viewer: system, AllVersions: true})
	if len(all) != 4 {
		t.Errorf("all versions = %v, want 4", versions(all))
	}
	if c := count(t, s, hub.Filter{Viewer: system}); c != 2 {
		t.Errorf("count latest = %d, want 2", c)
	}
	got, err := s.GetObject(ctx, system, id, time.Time{})
	must(t, err)
	if !got.Modified.Equal(ms(3)) || got.Workspace != "w1" {
		t.Errorf("GetObject latest = %s, want modified %v in w1", versions([]*hub.Object{got}), ms(3))
	}
	// A viewer of w2 only sees w2's newest version.
	got, err = s.GetObject(ctx, hub.Viewer{Org: "a", Workspaces: []string{"w2"}}, id, time.Time{})
	must(t, err)
	if !got.Modified.Equal(ms(2)) || got.Workspace != "w2" {
		t.Errorf("GetObject for w2 = %s", versions([]*hub.Object{got}))
	}
}

func testLateOlderVersion(t *testing.T, s hub.Store) {
	ctx := context.Background()
	setup(t, s, []string{"a"}, []string{"w1"})
	id := newID("report")
	put(t, s, obj("w1", id, ms(5), hub.TLPGreen, "a"))
	put(t, s, obj("w1", id, ms(2), hub.TLPGreen, "a")) // arrives late
	// In one batch: newer and older around the stored one.
	put(t, s, obj("w1", id, ms(1), hub.TLPGreen, "a"), obj("w1", id, ms(4), hub.TLPGreen, "a"))
	latest := list(t, s, hub.Filter{Viewer: system})
	if len(latest) != 1 || !latest[0].Modified.Equal(ms(5)) {
		t.Fatalf("latest = %v, want only the version at %v", versions(latest), ms(5))
	}
	got, err := s.GetObject(ctx, system, id, time.Time{})
	must(t, err)
	if !got.Modified.Equal(ms(5)) {
		t.Errorf("GetObject = %v, want %v", got.Modified, ms(5))
	}
	put(t, s, obj("w1", id, ms(3), hub.TLPGreen, "a"), obj("w1", id, ms(9), hub.TLPGreen, "a"), obj("w1", id, ms(7), hub.TLPGreen, "a"))
	latest = list(t, s, hub.Filter{Viewer: system})
	if len(latest) != 1 || !latest[0].Modified.Equal(ms(9)) {
		t.Fatalf("latest = %v, want only the version at %v", versions(latest), ms(9))
	}
	if c := count(t, s, hub.Filter{Viewer: system, AllVersions: true}); c != 7 {
		t.Errorf("versions = %d, want 7", c)
	}
}

func testGetObjectVersion(t *testing.T, s hub.Store) {
	ctx := context.Background()
	setup(t, s, []string{"a", "b"}, []string{"w1"})
	id := newID("indicator")
	put(t, s, obj("w1", id, ms(1), hub.TLPGreen, "a"), obj("w1", id, ms(2), hub.TLPRed, "a"))
	got, err := s.GetObject(ctx, system, id, ms(1))
	must(t, err)
	if !got.Modified.Equal(ms(1)) {
		t.Errorf("GetObject(version 1) = %v", got.Modified)
	}
	_, err = s.GetObject(ctx, system, id, ms(7))
	wantCode(t, err, hub.ENotFound)
	_, err = s.GetObject(ctx, system, newID("indicator"), time.Time{})
	wantCode(t, err, hub.ENotFound)
	// b may see version 1 (GREEN) but not version 2 (RED): the latest it may see is version 1,
	// and asking for version 2 is not found, exactly like a missing version.
	b := hub.Viewer{Org: "b", Workspaces: []string{"w1"}}
	got, err = s.GetObject(ctx, b, id, time.Time{})
	must(t, err)
	if !got.Modified.Equal(ms(1)) {
		t.Errorf("b's latest = %v, want %v", got.Modified, ms(1))
	}
	_, err = s.GetObject(ctx, b, id, ms(2))
	wantCode(t, err, hub.ENotFound)
	_, err = s.GetObject(ctx, hub.Viewer{Org: "b"}, id, time.Time{})
	wantCode(t, err, hub.ENotFound)
}

func testListFilters(t *testing.T, s hub.Store) {
	ctx := context.Background()
	setup(t, s, []string{"a"}, []string{"w1", "w2"})
	ind1, ind2, mal := newID("indicator"), newID("indicator"), newID("malware")
	tok := []byte("token-1")
	o1 := obj("w1", ind1, ms(1), hub.TLPGreen, "a")
	o1.Tokens = [][]byte{tok, []byte("other")}
	o2 := obj("w2", ind2, ms(1), hub.TLPGreen, "a")
	o2.Tokens = [][]byte{tok}
	o3 := obj("w1", mal, ms(1), hub.TLPGreen, "a")
	if _, err := s.PutObjects(ctx, []*hub.Object{o1, o2, o3}, hub.PutOptions{Now: ms(100)}); err != nil {
		t.Fatal(err)
	}
	o4 := obj("w1", ind1, ms(2), hub.TLPGreen, "a")
	if _, err := s.PutObjects(ctx, []*hub.Object{o4}, hub.PutOptions{Now: ms(200)}); err != nil {
		t.Fatal(err)
	}
	v := hub.Viewer{Org: "a", Workspaces: []string{"w1", "w2"}}
	for _, tt := range []struct {
		name string
		f    hub.Filter
		want []*hub.Object
	}{
		{"latest", hub.Filter{}, []*hub.Object{o2, o3, o4}},
		{"all versions", hub.Filter{AllVersions: true}, []*hub.Object{o1, o2, o3, o4}},
		{"types", hub.Filter{Types: []string{"indicator"}}, []*hub.Object{o2, o4}},
		{"types none", hub.Filter{Types: []string{"campaign"}}, nil},
		{"workspaces", hub.Filter{Workspaces: []string{"w2"}}, []*hub.Object{o2}},
		{"workspaces foreign", hub.Filter{Workspaces: []string{"w3"}}, nil},
		{"ids", hub.Filter{IDs: []string{ind1, mal}, AllVersions: true}, []*hub.Object{o1, o3, o4}},
		{"token", hub.Filter{Token: tok, AllVersions: true}, []*hub.Object{o1, o2}},
		{"token latest", hub.Filter{Token: tok}, []*hub.Object{o2}},
		{"token none", hub.Filter{Token: []byte("x")}, nil},
		{"after seq", hub.Filter{AfterSeq: o2.Seq, AllVersions: true}, []*hub.Object{o3, o4}},
		{"added after", hub.Filter{AddedAfter: ms(100), AllVersions: true}, []*hub.Object{o4}},
		{"added after earlier", hub.Filter{AddedAfter: ms(99), AllVersions: true}, []*hub.Object{o1, o2, o3, o4}},
		{"limit", hub.Filter{Limit: 2, AllVersions: true}, []*hub.Object{o1, o2}},
		{"limit and cursor", hub.Filter{Limit: 2, AfterSeq: o2.Seq, AllVersions: true}, []*hub.Object{o3, o4}},
		{"combined", hub.Filter{Types: []string{"indicator"}, Workspaces: []string{"w1"}, AllVersions: true, AddedAfter: ms(50)}, []*hub.Object{o1, o4}},
	} {
		f := tt.f
		f.Viewer = v
		got := list(t, s, f)
		if g, w := versions(got), versions(tt.want); !slices.Equal(g, w) {
			t.Errorf("%s: ListObjects = %v, want %v", tt.name, g, w)
		}
		for i := range got {
			if i < len(tt.want) && got[i].Seq != tt.want[i].Seq {
				t.Errorf("%s: seq %d = %d, want %d", tt.name, i, got[i].Seq, tt.want[i].Seq)
			}
		}
		c := count(t, s, f) // ignores Limit and AfterSeq
		f.Limit, f.AfterSeq = 0, 0
		if wantCount := len(list(t, s, f)); c != int64(wantCount) {
			t.Errorf("%s: CountObjects = %d, want %d", tt.name, c, wantCount)
		}
	}
}

func testAccess(t *testing.T, s hub.Store) {
	ctx := context.Background()
	setup(t, s, []string{"a", "b", "c"}, []string{"w1", "w2"})
	green := obj("w1", newID("indicator"), ms(1), hub.TLPGreen, "a")
	amberStrict := obj("w1", newID("indicator"), ms(1), hub.TLPAmberStrict, "a")
	red := obj("w1", newID("indicator"), ms(1), hub.TLPRed, "a")
	redForB := obj("w1", newID("indicator"), ms(1), hub.TLPRed, "a")
	redForB.Recipients = []string{"b"}
	other := obj("w2", newID("indicator"), ms(1), hub.TLPClear, "c")
	put(t, s, green, amberStrict, red, redForB, other)
	for _, tt := range []struct {
		name string
		v    hub.Viewer
		want []*hub.Object
	}{
		{"author", hub.Viewer{Org: "a", Workspaces: []string{"w1", "w2"}}, []*hub.Object{green, amberStrict, red, redForB, other}},
		{"recipient", hub.Viewer{Org: "b", Workspaces: []string{"w1"}}, []*hub.Object{green, amberStrict, redForB}},
		{"neither", hub.Viewer{Org: "c", Workspaces: []string{"w1", "w2"}}, []*hub.Object{green, amberStrict, other}},
		{"no workspaces", hub.Viewer{Org: "a"}, nil},
		{"system", system, []*hub.Object{green, amberStrict, red, redForB, other}},
	} {
		got := list(t, s, hub.Filter{Viewer: tt.v})
		if g, w := versions(got), versions(tt.want); !slices.Equal(g, w) {
			t.Errorf("%s: ListObjects = %v, want %v", tt.name, g, w)
		}
		if c := count(t, s, hub.Filter{Viewer: tt.v}); c != int64(len(tt.want)) {
			t.Errorf("%s: CountObjects = %d, want %d", tt.name, c, len(tt.want))
		}
	}
	_, err := s.GetObject(ctx, hub.Viewer{Org: "c", Workspaces: []string{"w1"}}, red.ID, time.Time{})
	wantCode(t, err, hub.ENotFound)
	_, err = s.GetObject(ctx, hub.Viewer{Org: "b", Workspaces: []string{"w1"}}, redForB.ID, time.Time{})
	must(t, err)
}

// testAccessRandom stores random objects over several orgs, workspaces, TLP levels and
// recipients, then checks, for random viewers and filters, that every page of a listing is full
// and holds exactly what the access rule, computed here independently, allows.
func testAccessRandom(t *testing.T, s hub.Store) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	orgs := []string{"o1", "o2", "o3", "o4", "o5", "o6"}
	wss := []string{"wa", "wb", "wc"}
	types := []string{"indicator", "malware", "report"}
	setup(t, s, orgs, wss)

	var all []*hub.Object
	var ids []string
	for range 450 {
		ids = append(ids, newID(types[rng.IntN(len(types))]))
	}
	for len(all) < 1200 {
		id := ids[rng.IntN(len(ids))]
		o := obj(wss[rng.IntN(len(wss))], id, ms(rng.IntN(400)), hub.TLP(1+rng.IntN(5)), orgs[rng.IntN(len(orgs))])
		for _, r := range orgs {
			if rng.IntN(4) == 0 {
				o.Recipients = append(o.Recipients, r)
			}
		}
		all = append(all, o)
	}
	// Random batches, so versions of one object arrive in any order and some more than once.
	var stored []*hub.Object
	seen := map[string]bool{}
	for len(all) > 0 {
		n := min(len(all), 1+rng.IntN(300))
		batch := all[:n]
		all = all[n:]
		if rng.IntN(5) == 0 && len(stored) > 0 { // repeat an already stored version
			c := *stored[rng.IntN(len(stored))]
			batch = append(batch, &c)
		}
		_, err := s.PutObjects(ctx, batch, hub.PutOptions{Now: ms(10_000 + len(stored))})
		must(t, err)
		for _, o := range batch {
			k := fmt.Sprintf("%s|%s|%d", o.Workspace, o.ID, o.Modified.UnixMilli())
			if seen[k] {
				if o.Seq != 0 {
					t.Fatalf("repeated version %s got seq %d", k, o.Seq)
				}
				continue
			}
			if o.Seq == 0 {
				t.Fatalf("new version %s got no seq", k)
			}
			seen[k] = true
			stored = append(stored, o)
		}
	}
	if len(stored) < 1000 {
		t.Fatalf("only %d distinct versions", len(stored))
	}
	sort.Slice(stored, func(i, j int) bool { return stored[i].Seq < stored[j].Seq })
	newest := map[string]time.Time{} // workspace|id -> newest modified
	for _, o := range stored {
		k := o.Workspace + "|" + o.ID
		if m, ok := newest[k]; !ok || o.Modified.After(m) {
			newest[k] = o.Modified
		}
	}
	visible := func(v hub.Viewer, o *hub.Object) bool {
		if v.System {
			return true
		}
		return slices.Contains(v.Workspaces, o.Workspace) &&
			(o.TLP != hub.TLPRed || o.Author == v.Org || slices.Contains(o.Recipients, v.Org))
	}

	for i := range 40 {
		var v hub.Viewer
		if i == 0 {
			v = system
		} else {
			v.Org = orgs[rng.IntN(len(orgs))]
			for _, w := range wss {
				if rng.IntN(3) > 0 {
					v.Workspaces = append(v.Workspaces, w)
				}
			}
		}
		f := hub.Filter{Viewer: v, AllVersions: rng.IntN(2) == 0, Limit: 1 + rng.IntN(60)}
		if rng.IntN(3) == 0 {
			f.Types = []string{types[rng.IntN(len(types))]}
		}
		if rng.IntN(3) == 0 {
			f.Workspaces = []string{wss[rng.IntN(len(wss))], "nowhere"}
		}
		var want []*hub.Object
		for _, o := range stored {
			if !visible(v, o) ||
				(len(f.Types) > 0 && !slices.Contains(f.Types, o.Type)) ||
				(len(f.Workspaces) > 0 && !slices.Contains(f.Workspaces, o.Workspace)) ||
				(!f.AllVersions && !o.Modified.Equal(newest[o.Workspace+"|"+o.ID])) {
				continue
			}
			want = append(want, o)
		}
		if c := count(t, s, f); c != int64(len(want)) {
			t.Errorf("viewer %+v filter %+v: CountObjects = %d, want %d", v, f, c, len(want))
		}
		// Page through: every page but the last is full and equals the expected slice.
		pages := 0
		for start := 0; ; start += f.Limit {
			page := list(t, s, f)
			end := min(start+f.Limit, len(want))
			exp := want[min(start, len(want)):end]
			if g, w := versions(page), versions(exp); !slices.Equal(g, w) {
				t.Fatalf("viewer %+v filter %+v page %d:\n got %v\nwant %v", v, f, pages, g, w)
			}
			pages++
			if len(page) == 0 {
				break
			}
			f.AfterSeq = page[len(page)-1].Seq
		}
		// GetObject returns the newest visible version across the viewer's workspaces.
		for range 25 {
			id := ids[rng.IntN(len(ids))]
			var best *hub.Object
			for _, o := range stored {
				if o.ID == id && visible(v, o) && (best == nil || o.Modified.After(best.Modified)) {
					best = o
				}
			}
			got, err := s.GetObject(ctx, v, id, time.Time{})
			if best == nil {
				if hub.ErrorCode(err) != hub.ENotFound {
					t.Fatalf("viewer %+v GetObject(%s) = %v, %v; want not found", v, id, got, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("viewer %+v GetObject(%s): %v", v, id, err)
			}
			if !got.Modified.Equal(best.Modified) || !visible(v, got) {
				t.Fatalf("viewer %+v GetObject(%s) = %v, want modified %v", v, id, versions([]*hub.Object{got}), best.Modified)
			}
		}
	}
}

// testReplaceBodies checks the compare-and-swap of ReplaceBodies: a body changes only where it
// still equals Old, nothing else of the row changes, and rows that do not match are skipped
// without an error.
func testReplaceBodies(t *testing.T, s hub.Store) {
	ctx := context.Background()
	setup(t, s, []string{"fr", "de"}, []string{"alpha", "beta"})
	a := obj("alpha", newID("indicator"), ms(1), hub.TLPAmber, "fr")
	a.Tokens = [][]byte{[]byte("tok-a")}
	b := obj("alpha", newID("indicator"), ms(2), hub.TLPRed, "fr")
	b.Recipients = []string{"de"}
	c := obj("beta", newID("malware"), ms(3), hub.TLPGreen, "de")
	put(t, s, a, b, c)
	before := list(t, s, hub.Filter{Viewer: system, AllVersions: true})

	n, err := s.ReplaceBodies(ctx, nil)
	if err != nil || n != 0 {
		t.Fatalf("ReplaceBodies(nil) = %d, %v; want 0, nil", n, err)
	}
	n, err = s.ReplaceBodies(ctx, []hub.BodyUpdate{
		{Seq: a.Seq, Old: a.Body, New: []byte("rewrapped a")},     // matches
		{Seq: b.Seq, Old: []byte("stale"), New: []byte("lost b")}, // body changed meanwhile
		{Seq: c.Seq, Old: c.Body, New: []byte("rewrapped c")},     // matches
		{Seq: c.Seq + 1000, Old: c.Body, New: []byte("nowhere")},  // no such row
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("replaced = %d, want 2", n)
	}
	want := map[int64]string{a.Seq: "rewrapped a", b.Seq: string(b.Body), c.Seq: "rewrapped c"}
	after := list(t, s, hub.Filter{Viewer: system, AllVersions: true})
	if len(after) != len(before) {
		t.Fatalf("%d rows after, %d before", len(after), len(before))
	}
	for i, o := range after {
		if got := string(o.Body); got != want[o.Seq] {
			t.Errorf("body of seq %d = %q, want %q", o.Seq, got, want[o.Seq])
		}
		w := *before[i]
		w.Body = o.Body
		sameObject(t, o, &w)
	}
	// A second run with the same Old values finds nothing left to swap.
	n, err = s.ReplaceBodies(ctx, []hub.BodyUpdate{{Seq: a.Seq, Old: a.Body, New: []byte("again")}})
	if err != nil || n != 0 {
		t.Errorf("repeated swap = %d, %v; want 0, nil", n, err)
	}
	// Rows of a deleted workspace are gone, not an error.
	must(t, s.DeleteWorkspace(ctx, "beta"))
	n, err = s.ReplaceBodies(ctx, []hub.BodyUpdate{{Seq: c.Seq, Old: []byte("rewrapped c"), New: []byte("x")}})
	if err != nil || n != 0 {
		t.Errorf("swap in deleted workspace = %d, %v; want 0, nil", n, err)
	}
}

// testReplaceBodiesConcurrent races writers that all expect the same old bodies: each row must
// be swapped by exactly one of them.
func testReplaceBodiesConcurrent(t *testing.T, s hub.Store) {
	ctx := context.Background()
	setup(t, s, []string{"fr"}, []string{"alpha"})
	var objs []*hub.Object
	for i := range 50 {
		objs = append(objs, obj("alpha", newID("indicator"), ms(i), hub.TLPAmber, "fr"))
	}
	put(t, s, objs...)
	const writers = 4
	var wg sync.WaitGroup
	var total atomic.Int64
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ups := make([]hub.BodyUpdate, len(objs))
			for i, o := range objs {
				ups[i] = hub.BodyUpdate{Seq: o.Seq, Old: o.Body, New: []byte(fmt.Sprintf("writer %d", w))}
			}
			n, err := s.ReplaceBodies(ctx, ups)
			if err != nil {
				errs <- err
				return
			}
			total.Add(int64(n))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got, want := total.Load(), int64(len(objs)); got != want {
		t.Errorf("rows swapped in all = %d, want %d (each exactly once)", got, want)
	}
}

// testAddedGrowsWithSeq: a writer reads its clock before it waits for the store's write lock,
// so a batch may reach the store with an earlier Added than one already stored. A reader that
// asks for what was added after the newest Added it has seen (TAXII added_after) must still
// get it: the store moves such a batch's Added just past the newest stored.
func testAddedGrowsWithSeq(t *testing.T, s hub.Store) {
	ctx := context.Background()
	setup(t, s, []string{"a"}, []string{"w"})
	late := obj("w", newID("indicator"), ms(0), hub.TLPGreen, "a")
	_, err := s.PutObjects(ctx, []*hub.Object{late}, hub.PutOptions{Now: ms(2000)})
	must(t, err)
	seen := list(t, s, hub.Filter{Viewer: system})
	if len(seen) != 1 || !seen[0].Added.Equal(ms(2000)) {
		t.Fatalf("first read = %d objects, want the one added at %v", len(seen), ms(2000))
	}
	early := obj("w", newID("indicator"), ms(0), hub.TLPGreen, "a")
	_, err = s.PutObjects(ctx, []*hub.Object{early}, hub.PutOptions{Now: ms(1000)}) // a clock read before the lock
	must(t, err)
	if !early.Added.After(late.Added) {
		t.Errorf("Added of the second batch = %v, want after the first's %v", early.Added, late.Added)
	}
	got := list(t, s, hub.Filter{Viewer: system, AddedAfter: seen[0].Added})
	if len(got) != 1 || got[0].ID != early.ID || !got[0].Added.Equal(early.Added) {
		t.Errorf("added after %v: %d objects, want the second batch (%s) as PutObjects reported it", seen[0].Added, len(got), early.ID)
	}
	// A clock that is ahead is kept as it is.
	ahead := obj("w", newID("indicator"), ms(0), hub.TLPGreen, "a")
	_, err = s.PutObjects(ctx, []*hub.Object{ahead}, hub.PutOptions{Now: ms(5000)})
	must(t, err)
	if !ahead.Added.Equal(ms(5000)) {
		t.Errorf("Added of a batch after the newest = %v, want its own %v", ahead.Added, ms(5000))
	}
}
