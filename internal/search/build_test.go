package search

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"cshub/internal/access"
	"cshub/internal/demo"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/seal"
	"cshub/internal/store/sqlite"
)

// TestBuildFromSealedStore ingests the seed scenario through the knowledge base into a real
// SQLite store behind a real barrier, rebuilds the index from it as the hub does at start, and
// searches it as different members; a RED note for one recipient and a private workspace check
// that the rebuilt index keeps the access rule.
func TestBuildFromSealedStore(t *testing.T) {
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "hub.db")
	st, err := sqlite.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := seal.New(st)
	root, err := seal.NewRootKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Initialize(ctx, root); err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"cert-fr", "cert-be", "cert-uk"} {
		if err := st.CreateOrg(ctx, &hub.Org{Code: code, Name: code, Country: "FR", Kind: hub.OrgMember, Active: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []*hub.Workspace{
		{Slug: "community", Kind: hub.WorkspaceCommunity, DefaultTLP: hub.TLPAmber, Members: []string{"cert-fr", "cert-be", "cert-uk"}},
		{Slug: "cert-fr", Kind: hub.WorkspacePrivate, DefaultTLP: hub.TLPAmber, Members: []string{"cert-fr"}},
	} {
		if err := b.AddWorkspace(ctx, w.Slug); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateWorkspace(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	k := kb.New(kb.Config{Store: st, Sealer: b})
	ingest := func(org, ws string, recipients []string, bundle []byte) {
		t.Helper()
		sum, err := k.Ingest(ctx, kb.Submission{Org: org, Workspace: ws, Recipients: recipients}, bytes.NewReader(bundle))
		if err != nil || len(sum.Rejected) > 0 {
			t.Fatalf("Ingest: %+v, %v", sum, err)
		}
	}
	ingest("cert-fr", "community", nil, demo.SeedBundle())
	const red = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
	ingest("cert-fr", "community", []string{"cert-be"}, []byte(`{"type":"bundle","id":"bundle--1f2e5a4c-0b9e-4f7e-9d51-3c1a2b3c4d5e","objects":[
		{"type":"note","spec_version":"2.1","id":"note--6a1c1d0e-3b1f-4c55-8d7e-2f0a4b5c6d7e","created":"2024-03-01T00:00:00Z","modified":"2024-03-01T00:00:00Z",
		 "content":"Seedworm staging host seen at login-ministry.example","object_refs":["intrusion-set--269e8108-68c6-4f99-b911-14b2e765dec2"],"object_marking_refs":["`+red+`"]}]}`))
	ingest("cert-fr", "cert-fr", nil, []byte(`{"type":"bundle","id":"bundle--2f2e5a4c-0b9e-4f7e-9d51-3c1a2b3c4d5e","objects":[
		{"type":"indicator","spec_version":"2.1","id":"indicator--7b1c1d0e-3b1f-4c55-8d7e-2f0a4b5c6d7e","created":"2024-03-01T00:00:00Z","modified":"2024-03-01T00:00:00Z",
		 "name":"Seedworm private lead","pattern":"[domain-name:value = 'login-ministry.example']","pattern_type":"stix","valid_from":"2024-03-01T00:00:00Z"}]}`))

	x, stats, err := Build(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	n, err := st.CountObjects(ctx, hub.Filter{Viewer: hub.Viewer{System: true}})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Objects != int(n) || stats.Skipped != 0 || x.Len() != int(n) {
		t.Fatalf("Build = %+v, Len %d; the store holds %d objects", stats, x.Len(), n)
	}
	t.Logf("built %d objects in %v (%.0f objects/s)", stats.Objects, stats.Duration, stats.Rate())

	for _, tc := range []struct {
		org  string
		q    string
		want []string // ids that must be found
		not  []string // ids that must not
	}{
		{"cert-uk", "login-ministry.example", nil, []string{"note--6a1c1d0e-3b1f-4c55-8d7e-2f0a4b5c6d7e", "indicator--7b1c1d0e-3b1f-4c55-8d7e-2f0a4b5c6d7e"}},
		{"cert-be", "login-ministry.example", []string{"note--6a1c1d0e-3b1f-4c55-8d7e-2f0a4b5c6d7e"}, []string{"indicator--7b1c1d0e-3b1f-4c55-8d7e-2f0a4b5c6d7e"}},
		{"cert-fr", "login-ministry.example", []string{"note--6a1c1d0e-3b1f-4c55-8d7e-2f0a4b5c6d7e", "indicator--7b1c1d0e-3b1f-4c55-8d7e-2f0a4b5c6d7e"}, nil},
		{"cert-uk", "senate.group", []string{"indicator--1d495d52-3145-58fb-99f3-d1ccb18e98b5"}, nil},
	} {
		v, err := access.ViewerFor(ctx, st, tc.org, access.PathSearch)
		if err != nil {
			t.Fatal(err)
		}
		res, err := x.Search(ctx, v, tc.q, 50, "")
		if err != nil {
			t.Fatal(err)
		}
		got := ids(res)
		for _, id := range tc.want {
			if !slices.Contains(got, id) {
				t.Errorf("%s: Search(%q) = %v, want %s", tc.org, tc.q, got, id)
			}
		}
		for _, id := range tc.not {
			if slices.Contains(got, id) {
				t.Errorf("%s: Search(%q) = %v: LEAKS %s", tc.org, tc.q, got, id)
			}
		}
		if res.Total != len(got) {
			t.Errorf("%s: Search(%q).Total = %d, %d hits", tc.org, tc.q, res.Total, len(got))
		}
		// Each hit's Seq fetches the body it was found in.
		for _, h := range res.Hits {
			objs, err := k.List(ctx, hub.Filter{Viewer: v, IDs: []string{h.ID}, Workspaces: []string{h.Workspace}})
			if err != nil || len(objs) != 1 || objs[0].Seq != h.Seq {
				t.Errorf("%s: hit %s seq %d: store has %v, %v", tc.org, h.ID, h.Seq, objs, err)
			}
		}
	}

	// The index writes nothing: the store's files hold the content only sealed.
	files, _ := filepath.Glob(dbPath + "*")
	for _, f := range files {
		db, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"Seedworm", "login-ministry", "LaZagne"} {
			if bytes.Contains(db, []byte(s)) {
				t.Errorf("%s contains %q in plain text", filepath.Base(f), s)
			}
		}
	}
}
