package storetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"cshub/internal/hub"
)

func testOrgs(t *testing.T, s hub.Store) {
	ctx := context.Background()
	o := &hub.Org{Code: "cert-fr", Name: "CERT-FR", Country: "FR", Kind: hub.OrgMember, Active: true, Created: ms(1)}
	must(t, s.CreateOrg(ctx, o))
	wantCode(t, s.CreateOrg(ctx, &hub.Org{Code: "cert-fr", Name: "again"}), hub.EConflict)
	noTime := &hub.Org{Code: "op", Name: "Operator", Kind: hub.OrgOperator}
	must(t, s.CreateOrg(ctx, noTime))
	if noTime.Created.IsZero() {
		t.Error("CreateOrg did not set Created")
	}
	got, err := s.Org(ctx, "cert-fr")
	must(t, err)
	if *got != *o {
		t.Errorf("Org = %+v, want %+v", got, o)
	}
	o.Name, o.Active, o.Kind = "CERT-FR (ANSSI)", false, hub.OrgObserver
	must(t, s.UpdateOrg(ctx, o))
	got, err = s.Org(ctx, "cert-fr")
	must(t, err)
	if *got != *o {
		t.Errorf("updated Org = %+v, want %+v", got, o)
	}
	wantCode(t, s.UpdateOrg(ctx, &hub.Org{Code: "nope"}), hub.ENotFound)
	_, err = s.Org(ctx, "nope")
	wantCode(t, err, hub.ENotFound)
	all, err := s.Orgs(ctx)
	must(t, err)
	if len(all) != 2 || all[0].Code != "cert-fr" || all[1].Code != "op" {
		t.Errorf("Orgs = %+v", all)
	}
}

func testWorkspaces(t *testing.T, s hub.Store) {
	ctx := context.Background()
	setup(t, s, []string{"a", "b", "c"}, nil)
	w := &hub.Workspace{Slug: "community", Name: "Community", Kind: hub.WorkspaceCommunity, Members: []string{"a", "b"}, Created: ms(1)}
	must(t, s.CreateWorkspace(ctx, w))
	if w.DefaultTLP != hub.TLPAmber {
		t.Errorf("DefaultTLP = %v, want AMBER when unset", w.DefaultTLP)
	}
	wantCode(t, s.CreateWorkspace(ctx, &hub.Workspace{Slug: "community"}), hub.EConflict)
	wantCode(t, s.CreateWorkspace(ctx, &hub.Workspace{Slug: "bad", Members: []string{"nobody"}}), hub.EInvalid)
	if _, err := s.Workspace(ctx, "bad"); hub.ErrorCode(err) != hub.ENotFound {
		t.Errorf("a failed CreateWorkspace left the workspace behind: %v", err)
	}
	p := &hub.Workspace{Slug: "private-c", Name: "C", Kind: hub.WorkspacePrivate, DefaultTLP: hub.TLPRed, Members: []string{"c"}, Created: ms(2)}
	must(t, s.CreateWorkspace(ctx, p))
	got, err := s.Workspace(ctx, "community")
	must(t, err)
	if fmt.Sprint(*got) != fmt.Sprint(*w) {
		t.Errorf("Workspace = %+v, want %+v", got, w)
	}
	_, err = s.Workspace(ctx, "nope")
	wantCode(t, err, hub.ENotFound)

	must(t, s.AddMember(ctx, "community", "c"))
	must(t, s.AddMember(ctx, "community", "c")) // again: no error
	wantCode(t, s.AddMember(ctx, "nope", "c"), hub.ENotFound)
	wantCode(t, s.AddMember(ctx, "community", "nobody"), hub.ENotFound)
	must(t, s.RemoveMember(ctx, "community", "a"))
	wantCode(t, s.RemoveMember(ctx, "community", "a"), hub.ENotFound)
	got, err = s.Workspace(ctx, "community")
	must(t, err)
	if want := []string{"b", "c"}; !slices.Equal(got.Members, want) {
		t.Errorf("members = %v, want %v", got.Members, want)
	}
	all, err := s.Workspaces(ctx)
	must(t, err)
	if len(all) != 2 || all[0].Slug != "community" || all[1].Slug != "private-c" || all[1].DefaultTLP != hub.TLPRed {
		t.Errorf("Workspaces = %+v", all)
	}
	for _, tt := range []struct {
		org  string
		want []string
	}{{"a", nil}, {"b", []string{"community"}}, {"c", []string{"community", "private-c"}}, {"nobody", nil}} {
		ws, err := s.WorkspacesOf(ctx, tt.org)
		must(t, err)
		var slugs []string
		for _, w := range ws {
			slugs = append(slugs, w.Slug)
		}
		if !slices.Equal(slugs, tt.want) {
			t.Errorf("WorkspacesOf(%s) = %v, want %v", tt.org, slugs, tt.want)
		}
	}
}

func testDeleteWorkspace(t *testing.T, s hub.Store) {
	ctx := context.Background()
	setup(t, s, []string{"a", "b"}, []string{"w1", "w2"})
	id := newID("indicator")
	gone := obj("w1", id, ms(1), hub.TLPRed, "a")
	gone.Recipients = []string{"b"}
	gone.Tokens = [][]byte{[]byte("tok")}
	kept := obj("w2", id, ms(1), hub.TLPRed, "a")
	kept.Recipients = []string{"b"}
	kept.Tokens = [][]byte{[]byte("tok")}
	put(t, s, gone, kept, obj("w1", newID("malware"), ms(1), hub.TLPGreen, "a"))
	must(t, s.DeleteWorkspace(ctx, "w1"))
	wantCode(t, s.DeleteWorkspace(ctx, "w1"), hub.ENotFound)
	_, err := s.Workspace(ctx, "w1")
	wantCode(t, err, hub.ENotFound)
	objs := list(t, s, hub.Filter{Viewer: system, AllVersions: true})
	if len(objs) != 1 || objs[0].Workspace != "w2" {
		t.Errorf("after delete: %v", versions(objs))
	}
	if c := count(t, s, hub.Filter{Viewer: system, Token: []byte("tok")}); c != 1 {
		t.Errorf("token count after delete = %d, want 1", c)
	}
	ws, err := s.WorkspacesOf(ctx, "a")
	must(t, err)
	if len(ws) != 1 || ws[0].Slug != "w2" {
		t.Errorf("WorkspacesOf after delete = %+v", ws)
	}
	// The slug can be used again and starts empty.
	must(t, s.CreateWorkspace(ctx, &hub.Workspace{Slug: "w1", Members: []string{"a"}}))
	if c := count(t, s, hub.Filter{Viewer: system, Workspaces: []string{"w1"}}); c != 0 {
		t.Errorf("recreated workspace holds %d objects", c)
	}
	// Seqs keep growing after the newest objects were deleted, so no cursor skips anything.
	o := obj("w1", newID("indicator"), ms(1), hub.TLPGreen, "a")
	put(t, s, o)
	if o.Seq <= gone.Seq+1 {
		t.Errorf("seq after delete = %d, want > %d", o.Seq, gone.Seq+1)
	}
}

func testUsers(t *testing.T, s hub.Store) {
	ctx := context.Background()
	setup(t, s, []string{"a", "b"}, nil)
	u := &hub.User{Org: "a", Username: "alice", Role: hub.RoleAdmin, PasswordHash: "$argon2id$x", Active: true, Created: ms(1)}
	must(t, s.CreateUser(ctx, u))
	if u.ID == 0 {
		t.Fatal("CreateUser did not set ID")
	}
	wantCode(t, s.CreateUser(ctx, &hub.User{Org: "b", Username: "alice", Role: hub.RoleReader}), hub.EConflict)
	wantCode(t, s.CreateUser(ctx, &hub.User{Org: "nope", Username: "zed", Role: hub.RoleReader}), hub.EInvalid)
	bob := &hub.User{Org: "b", Username: "bob", Role: hub.RoleAnalyst, PasswordHash: "h", Active: true}
	must(t, s.CreateUser(ctx, bob))
	got, err := s.User(ctx, u.ID)
	must(t, err)
	if fmt.Sprint(*got) != fmt.Sprint(*u) {
		t.Errorf("User = %+v, want %+v", got, u)
	}
	u.TOTPSecret, u.Role, u.Active = []byte{9, 8, 7}, hub.RoleAnalyst, false
	u.RecoveryCodes = [][]byte{bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)}
	u.SessionsAfter = ms(5)
	must(t, s.UpdateUser(ctx, u))
	got, err = s.UserByName(ctx, "alice")
	must(t, err)
	if fmt.Sprint(*got) != fmt.Sprint(*u) {
		t.Errorf("updated user = %+v, want %+v", got, u)
	}
	// Spending a code and logging everyone back in clear both again.
	u.RecoveryCodes, u.SessionsAfter = nil, time.Time{}
	must(t, s.UpdateUser(ctx, u))
	if got, err = s.User(ctx, u.ID); err != nil || got.RecoveryCodes != nil || !got.SessionsAfter.IsZero() {
		t.Errorf("cleared user = %+v, %v", got, err)
	}
	wantCode(t, s.UpdateUser(ctx, &hub.User{ID: 9999, Org: "a", Username: "x"}), hub.ENotFound)
	wantCode(t, s.UpdateUser(ctx, &hub.User{ID: bob.ID, Org: "b", Username: "alice"}), hub.EConflict)
	_, err = s.User(ctx, 9999)
	wantCode(t, err, hub.ENotFound)
	_, err = s.UserByName(ctx, "nobody")
	wantCode(t, err, hub.ENotFound)
	for _, tt := range []struct {
		org  string
		want []string
	}{{"", []string{"alice", "bob"}}, {"b", []string{"bob"}}, {"c", nil}} {
		us, err := s.Users(ctx, tt.org)
		must(t, err)
		var names []string
		for _, u := range us {
			names = append(names, u.Username)
		}
		if !slices.Equal(names, tt.want) {
			t.Errorf("Users(%q) = %v, want %v", tt.org, names, tt.want)
		}
	}
}

func testAPIKeys(t *testing.T, s hub.Store) {
	ctx := context.Background()
	setup(t, s, []string{"a", "b"}, nil)
	u := &hub.User{Org: "a", Username: "alice", Role: hub.RoleAdmin}
	must(t, s.CreateUser(ctx, u))
	k := &hub.APIKey{ID: "csh_abc", Hash: bytes.Repeat([]byte{7}, 32), Org: "a", UserID: u.ID, Scope: hub.ScopeWrite, Expires: ms(86_400_000), Created: ms(1)}
	must(t, s.CreateAPIKey(ctx, k))
	wantCode(t, s.CreateAPIKey(ctx, &hub.APIKey{ID: "csh_abc", Hash: []byte{1}, Org: "b", Scope: hub.ScopeRead}), hub.EConflict)
	machine := &hub.APIKey{ID: "csh_def", Hash: []byte{1}, Org: "a", Scope: hub.ScopeRead} // no user, never expires
	must(t, s.CreateAPIKey(ctx, machine))
	got, err := s.APIKey(ctx, "csh_abc")
	must(t, err)
	if fmt.Sprint(*got) != fmt.Sprint(*k) {
		t.Errorf("APIKey = %+v, want %+v", got, k)
	}
	got, err = s.APIKey(ctx, "csh_def")
	must(t, err)
	if !got.Expires.IsZero() || got.UserID != 0 {
		t.Errorf("machine key = %+v, want no expiry and no user", got)
	}
	_, err = s.APIKey(ctx, "nope")
	wantCode(t, err, hub.ENotFound)
	must(t, s.RevokeAPIKey(ctx, "csh_abc"))
	wantCode(t, s.RevokeAPIKey(ctx, "nope"), hub.ENotFound)
	keys, err := s.APIKeys(ctx, "a")
	must(t, err)
	if len(keys) != 2 || keys[0].ID != "csh_abc" || !keys[0].Revoked || keys[1].Revoked {
		t.Errorf("APIKeys = %+v", keys)
	}
	keys, err = s.APIKeys(ctx, "b")
	must(t, err)
	if len(keys) != 0 {
		t.Errorf("APIKeys(b) = %+v", keys)
	}
}

func testKeyring(t *testing.T, s hub.Store) {
	ctx := context.Background()
	_, _, err := s.Keyring(ctx)
	wantCode(t, err, hub.ENotFound)
	_, err = s.SetKeyring(ctx, []byte("k1"), 3)
	wantCode(t, err, hub.EConflict)
	v1, err := s.SetKeyring(ctx, []byte("k1"), 0)
	must(t, err)
	_, err = s.SetKeyring(ctx, []byte("other"), 0)
	wantCode(t, err, hub.EConflict)
	v2, err := s.SetKeyring(ctx, []byte("k2"), v1)
	must(t, err)
	if v2 <= v1 {
		t.Errorf("versions %d then %d, want increasing", v1, v2)
	}
	_, err = s.SetKeyring(ctx, []byte("stale"), v1)
	wantCode(t, err, hub.EConflict)
	blob, v, err := s.Keyring(ctx)
	must(t, err)
	if string(blob) != "k2" || v != v2 {
		t.Errorf("Keyring = %q, %d; want k2, %d", blob, v, v2)
	}
	// Racing writers from the same version: exactly one wins.
	var wg sync.WaitGroup
	wins := make(chan int64, 8)
	for i := range 8 {
		wg.Go(func() {
			nv, err := s.SetKeyring(ctx, []byte(fmt.Sprint("race", i)), v2)
			switch hub.ErrorCode(err) {
			case "":
				wins <- nv
			case hub.EConflict:
			default:
				t.Errorf("racing SetKeyring: %v", err)
			}
		})
	}
	wg.Wait()
	close(wins)
	if n := len(wins); n != 1 {
		t.Errorf("%d racing writers won, want 1", n)
	}
}

func testAudit(t *testing.T, s hub.Store) {
	ctx := context.Background()
	_, err := s.LastAudit(ctx)
	wantCode(t, err, hub.ENotFound)
	var prev []byte
	at := time.Date(2025, 1, 1, 0, 0, 0, 123_456_000, time.UTC)
	var want []*hub.AuditEntry
	for i := int64(1); i <= 5; i++ {
		e := &hub.AuditEntry{Seq: i, Time: at.Add(time.Duration(i) * time.Second), Org: "a", Actor: "alice", Action: "login",
			Target: fmt.Sprint("t", i), Details: []byte{byte(i)}, Prev: prev, Hash: bytes.Repeat([]byte{byte(i)}, 32)}
		must(t, s.AppendAudit(ctx, e))
		prev = e.Hash
		want = append(want, e)
	}
	wantCode(t, s.AppendAudit(ctx, &hub.AuditEntry{Seq: 5, Time: at, Action: "x", Hash: []byte{1}}), hub.EConflict)
	wantCode(t, s.AppendAudit(ctx, &hub.AuditEntry{Seq: 1, Time: at, Action: "x", Hash: []byte{1}}), hub.EConflict)
	if err := s.AppendAudit(ctx, &hub.AuditEntry{Seq: 9, Time: at, Action: "x", Hash: []byte{1}}); err == nil {
		t.Error("AppendAudit with a gap succeeded")
	}
	last, err := s.LastAudit(ctx)
	must(t, err)
	if fmt.Sprint(*last) != fmt.Sprint(*want[4]) {
		t.Errorf("LastAudit = %+v, want %+v", last, want[4])
	}
	got, err := s.AuditEntries(ctx, 1, 3)
	must(t, err)
	if len(got) != 3 || fmt.Sprint(*got[0]) != fmt.Sprint(*want[1]) || got[2].Seq != 4 {
		t.Errorf("AuditEntries(1, 3) = %+v", got)
	}
	got, err = s.AuditEntries(ctx, 5, 10)
	must(t, err)
	if len(got) != 0 {
		t.Errorf("AuditEntries(5) = %+v", got)
	}
	// Racing appenders for the same seq: exactly one wins, the others see EConflict.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 6 {
		wg.Go(func() {
			err := s.AppendAudit(ctx, &hub.AuditEntry{Seq: 6, Time: at, Actor: fmt.Sprint(i), Action: "x", Prev: prev, Hash: []byte{6}})
			switch hub.ErrorCode(err) {
			case "":
				mu.Lock()
				wins++
				mu.Unlock()
			case hub.EConflict:
			default:
				t.Errorf("racing AppendAudit: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d racing appenders won, want 1", wins)
	}
}

// testConcurrentPut puts overlapping batches from several goroutines: every call succeeds, each
// version is stored once, and each object has exactly one latest version, its newest.
func testConcurrentPut(t *testing.T, s hub.Store) {
	ctx := context.Background()
	setup(t, s, []string{"a"}, []string{"w1", "w2"})
	var pool []*hub.Object
	for i := range 300 {
		id := fmt.Sprintf("indicator--00000000-0000-4000-9000-%012d", i%120)
		pool = append(pool, obj([]string{"w1", "w2"}[i%2], id, ms(i), hub.TLPGreen, "a"))
	}
	const workers = 6
	var wg sync.WaitGroup
	added := make([]int, workers)
	for w := range workers {
		wg.Go(func() {
			for round := range 4 {
				start := (w*37 + round*53) % len(pool)
				var batch []*hub.Object
				for i := range 150 {
					c := *pool[(start+i)%len(pool)]
					batch = append(batch, &c)
				}
				n, err := s.PutObjects(ctx, batch, hub.PutOptions{})
				if err != nil {
					t.Errorf("worker %d: PutObjects: %v", w, err)
					return
				}
				added[w] += n
			}
		})
	}
	wg.Wait()
	// Whatever the overlap left out goes in now.
	n, err := s.PutObjects(ctx, pool, hub.PutOptions{})
	must(t, err)
	total := n
	for _, a := range added {
		total += a
	}
	if total != len(pool) {
		t.Errorf("versions added in all = %d, want %d", total, len(pool))
	}
	all := list(t, s, hub.Filter{Viewer: system, AllVersions: true, Limit: 1000})
	if len(all) != len(pool) {
		t.Errorf("stored %d versions, want %d", len(all), len(pool))
	}
	seen := map[string]bool{}
	for i, o := range all {
		k := versions([]*hub.Object{o})[0]
		if seen[k] {
			t.Errorf("version %s stored twice", k)
		}
		seen[k] = true
		if i > 0 && o.Seq <= all[i-1].Seq {
			t.Errorf("seqs not increasing: %d after %d", o.Seq, all[i-1].Seq)
		}
	}
	newest := map[string]time.Time{}
	for _, o := range pool {
		k := o.Workspace + "|" + o.ID
		if o.Modified.After(newest[k]) {
			newest[k] = o.Modified
		}
	}
	latest := list(t, s, hub.Filter{Viewer: system, Limit: 1000})
	if len(latest) != len(newest) {
		t.Errorf("%d latest versions, want %d", len(latest), len(newest))
	}
	for _, o := range latest {
		if m := newest[o.Workspace+"|"+o.ID]; !o.Modified.Equal(m) {
			t.Errorf("latest of %s/%s = %v, want %v", o.Workspace, o.ID, o.Modified, m)
		}
	}
}
