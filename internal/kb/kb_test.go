package kb_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cshub/internal/access"
	"cshub/internal/audit"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/seal"
	"cshub/internal/stix"
	"cshub/internal/store/sqlite"
)

// fixture is a hub on a real SQLite file with a real barrier: three members, a community
// workspace and cert-fr's private one.
type fixture struct {
	store *sqlite.DB
	kb    *kb.Service
	audit *audit.Log
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
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
	log := audit.New(st, audit.Barrier{B: b}, nil)
	return &fixture{store: st, kb: kb.New(kb.Config{Store: st, Sealer: b, Audit: log}), audit: log}
}

func (f *fixture) viewer(t *testing.T, org string) hub.Viewer {
	t.Helper()
	v, err := access.ViewerFor(context.Background(), f.store, org, access.PathRead)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIngestIsIdempotentAndKeepsOrder(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	bundle := read(t, "scenario.json")
	sub := kb.Submission{Org: "cert-fr", Workspace: "community"}
	sum, err := f.kb.Ingest(ctx, sub, bytes.NewReader(bundle))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Accepted != 8 || sum.Duplicates != 0 || len(sum.Rejected) != 0 {
		t.Fatalf("first ingest = %+v, want 8 accepted", sum)
	}
	var b struct{ Objects []struct{ ID string } }
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, o := range b.Objects {
		want = append(want, o.ID)
	}
	if !slices.Equal(sum.IDs, want) {
		t.Errorf("ids = %v, want the bundle's order %v", sum.IDs, want)
	}
	sum, err = f.kb.Ingest(ctx, sub, bytes.NewReader(bundle))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Accepted != 0 || sum.Duplicates != 8 || len(sum.IDs) != 0 {
		t.Fatalf("second ingest = %+v, want 8 duplicates and nothing new", sum)
	}
}

func TestIngestRejectsEachInvalidObjectWithAReason(t *testing.T) {
	f := newFixture(t)
	sum, err := f.kb.Ingest(context.Background(), kb.Submission{Org: "cert-fr", Workspace: "community"}, bytes.NewReader(read(t, "validation-cases.json")))
	if err != nil {
		t.Fatal(err)
	}
	var expect []struct {
		ID    string
		Why   string
		Valid bool
	}
	if err := json.Unmarshal(read(t, "validation-expect.json"), &expect); err != nil {
		t.Fatal(err)
	}
	rejected := map[string]string{}
	for _, r := range sum.Rejected {
		rejected[r.ID] = r.Reason
	}
	for _, e := range expect {
		reason, isRejected := rejected[e.ID]
		if isRejected == e.Valid {
			t.Errorf("%s (%s): rejected = %v, want %v", e.ID, e.Why, isRejected, !e.Valid)
		}
		if isRejected && len(reason) < 8 {
			t.Errorf("%s: reason %q says too little", e.ID, reason)
		}
	}
}

func TestIngestReadsGzip(t *testing.T) {
	f := newFixture(t)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(read(t, "scenario.json"))
	zw.Close()
	sum, err := f.kb.Ingest(context.Background(), kb.Submission{Org: "cert-fr", Workspace: "community"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Accepted != 8 {
		t.Fatalf("gzip'd ingest accepted %d, want 8", sum.Accepted)
	}
}

func TestIngestKeepsWhatWasCommittedBeforeBrokenInput(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// 2,500 valid objects, then the JSON breaks: the first full batches must be kept and the
	// error must say where the input broke.
	var b strings.Builder
	b.WriteString(`{"type":"bundle","id":"bundle--6b8ba7e5-4a39-4a2d-9d0c-3f2d0f8e4f41","objects":[`)
	for i := range 2500 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(identity(i))
	}
	b.WriteString(`,{"type": "identity", "id": `)
	sum, err := f.kb.Ingest(ctx, kb.Submission{Org: "cert-fr", Workspace: "community"}, strings.NewReader(b.String()))
	if err == nil {
		t.Fatal("broken input gave no error")
	}
	if hub.ErrorCode(err) != hub.EInvalid || hub.ErrorField(err) != "body" {
		t.Errorf("error = %v, want invalid body", err)
	}
	if sum == nil || sum.Accepted < 2000 {
		t.Fatalf("summary %+v: the full batches before the break should be committed", sum)
	}
	n, err := f.store.CountObjects(ctx, hub.Filter{Viewer: hub.Viewer{System: true}})
	if err != nil {
		t.Fatal(err)
	}
	if int(n) != sum.Accepted {
		t.Errorf("store holds %d objects, summary says %d accepted", n, sum.Accepted)
	}
}

func identity(i int) string {
	return `{"type":"identity","spec_version":"2.1","id":"identity--` + uuidFor(i) + `","created":"2020-01-01T00:00:00.000Z","modified":"2020-01-01T00:00:00.000Z","name":"Org ` + strings.Repeat("x", i%7) + `"}`
}

func uuidFor(i int) string {
	s := strings.Repeat("0", 12) + itoa(i)
	return "7d5f1f8e-1c2b-4a3d-8e9f-" + s[len(s)-12:]
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var d []byte
	for ; i > 0; i /= 10 {
		d = append([]byte{byte('0' + i%10)}, d...)
	}
	return string(d)
}

func TestRedReachesOnlyAuthorAndRecipients(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sum, err := f.kb.Ingest(ctx, kb.Submission{Org: "cert-fr", Workspace: "community", Recipients: []string{"cert-be"}}, bytes.NewReader(read(t, "red-finding.json")))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Accepted != 1 {
		t.Fatalf("accepted %d, want 1", sum.Accepted)
	}
	id := sum.IDs[0]
	for _, tc := range []struct {
		org  string
		want bool
	}{{"cert-fr", true}, {"cert-be", true}, {"cert-uk", false}} {
		o, err := f.kb.Get(ctx, f.viewer(t, tc.org), id, time.Time{})
		if got := err == nil; got != tc.want {
			t.Errorf("%s: visible = %v (err %v), want %v", tc.org, got, err, tc.want)
		}
		if err != nil && hub.ErrorCode(err) != hub.ENotFound {
			t.Errorf("%s: error code %s, want not_found (as if it did not exist)", tc.org, hub.ErrorCode(err))
		}
		if err == nil && (o.TLP != hub.TLPRed || !bytes.Contains(o.Body, []byte("192.0.2.55"))) {
			t.Errorf("%s: got TLP %v body %s", tc.org, o.TLP, o.Body)
		}
		objs, err := f.kb.List(ctx, hub.Filter{Viewer: f.viewer(t, tc.org), Types: []string{"indicator"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(objs) == 1; got != tc.want {
			t.Errorf("%s: listed %d indicators, want visible=%v", tc.org, len(objs), tc.want)
		}
	}
}

func TestIngestRefusesWorkspacesTheSubmitterIsNotIn(t *testing.T) {
	f := newFixture(t)
	_, err := f.kb.Ingest(context.Background(), kb.Submission{Org: "cert-uk", Workspace: "cert-fr"}, bytes.NewReader(read(t, "scenario.json")))
	if hub.ErrorField(err) != "workspace" {
		t.Fatalf("err = %v, want an error naming the workspace", err)
	}
	_, err = f.kb.Ingest(context.Background(), kb.Submission{Org: "cert-fr", Workspace: "community", Recipients: []string{"cert-xx"}}, bytes.NewReader(read(t, "red-finding.json")))
	if hub.ErrorField(err) != "recipients" {
		t.Fatalf("err = %v, want an error naming recipients", err)
	}
}

func TestBodiesAreSealedInTheStore(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.kb.Ingest(ctx, kb.Submission{Org: "cert-fr", Workspace: "community"}, bytes.NewReader(read(t, "scenario.json"))); err != nil {
		t.Fatal(err)
	}
	raw, err := f.store.ListObjects(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range raw {
		if bytes.Contains(o.Body, []byte("login-ministry")) || bytes.Contains(o.Body, []byte(`"type"`)) {
			t.Fatalf("%s: the store returned a readable body", o.ID)
		}
	}
}

func TestIngestAndRedReadsAreAudited(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sum, err := f.kb.Ingest(ctx, kb.Submission{Org: "cert-fr", Actor: "alice", Workspace: "community", Recipients: []string{"cert-be"}}, bytes.NewReader(read(t, "red-finding.json")))
	if err != nil {
		t.Fatal(err)
	}
	o, err := f.kb.Get(ctx, f.viewer(t, "cert-be"), sum.IDs[0], time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	f.kb.RecordRead(ctx, "cert-be", "bob", o)
	f.kb.RecordRead(ctx, "cert-fr", "alice", o) // the author's own read is not recorded
	items, err := f.audit.List(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		got = append(got, it.Org+" "+it.Actor+" "+it.Action+" "+it.Target)
	}
	want := []string{"cert-fr alice ingest community", "cert-be bob read-red " + sum.IDs[0]}
	if !slices.Equal(got, want) {
		t.Fatalf("audit entries = %q, want %q", got, want)
	}
	if rep, err := f.audit.Verify(ctx); err != nil || rep.Broken != nil {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
}

func bundleOf(objs ...string) *strings.Reader {
	return strings.NewReader(`{"type":"bundle","id":"bundle--0b0b1c52-5a1e-4f4e-9a52-4f0ae1d9a3c1","objects":[` + strings.Join(objs, ",") + `]}`)
}

const actor = `{"type":"intrusion-set","spec_version":"2.1","id":"intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c","created":"2020-01-01T00:00:00.000Z","modified":"2020-01-01T00:00:00.000Z","name":"APT28","aliases":["APT28","Fancy Bear","Sofacy"]}`

func indicatorVersion(modified, marking string) string {
	return `{"type":"indicator","spec_version":"2.1","id":"indicator--6f296474-7015-54e8-ac24-775a616590a2","created":"2019-02-01T00:00:00.000Z","modified":"` + modified + `","pattern":"[domain-name:value = 'Secure-Mail.example.net']","pattern_type":"stix","valid_from":"2019-02-01T00:00:00Z","object_marking_refs":["` + marking + `"]}`
}

func TestBlindIndexFindsSealedObjectsByNameAliasAndValue(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.kb.Ingest(ctx, kb.Submission{Org: "cert-fr", Workspace: "community"}, bundleOf(actor, indicatorVersion("2019-02-01T00:00:00.000Z", stix.TLP2Green))); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ kind, value, want string }{
		{kb.TokenAlias, "fancy bear", "intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c"},
		{kb.TokenAlias, "  SOFACY ", "intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c"},
		{kb.TokenName, "apt28", "intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c"},
		{kb.TokenValue, "secure-mail.EXAMPLE.net.", "indicator--6f296474-7015-54e8-ac24-775a616590a2"},
		{kb.TokenValue, "domain-name:secure-mail.example.net", "indicator--6f296474-7015-54e8-ac24-775a616590a2"},
		{kb.TokenAlias, "cozy bear", ""},
	} {
		objs, err := f.kb.Find(ctx, f.viewer(t, "cert-uk"), tc.kind, tc.value, 10)
		if err != nil {
			t.Fatalf("%s %q: %v", tc.kind, tc.value, err)
		}
		got := ""
		if len(objs) > 0 {
			got = objs[0].ID
		}
		if got != tc.want || len(objs) > 1 {
			t.Errorf("%s %q found %d objects, first %q; want %q", tc.kind, tc.value, len(objs), got, tc.want)
		}
	}
	// Nobody outside the workspace finds it.
	objs, err := f.kb.Find(ctx, hub.Viewer{Org: "cert-uk", Workspaces: []string{"cert-fr"}}, kb.TokenAlias, "fancy bear", 10)
	if err != nil || len(objs) != 0 {
		t.Errorf("found from outside the workspace: %d, %v", len(objs), err)
	}
}

func TestNewVersionsComeFromTheAuthorAndNeverLowerTLP(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first := indicatorVersion("2019-02-01T00:00:00.000Z", stix.TLP2Amber)
	if sum, err := f.kb.Ingest(ctx, kb.Submission{Org: "cert-fr", Workspace: "community"}, bundleOf(first)); err != nil || sum.Accepted != 1 {
		t.Fatalf("first version: %+v %v", sum, err)
	}
	for _, tc := range []struct {
		name, org, version string
		accepted           int
		reason             string
	}{
		{"another org's version", "cert-uk", indicatorVersion("2019-03-01T00:00:00.000Z", stix.TLP2Red), 0, "author's organisation"},
		{"lowered TLP", "cert-fr", indicatorVersion("2019-03-01T00:00:00.000Z", stix.TLP2Green), 0, "never lowered"},
		{"raised TLP", "cert-fr", indicatorVersion("2019-03-01T00:00:00.000Z", stix.TLP2AmberStrict), 1, ""},
		{"the same version again", "cert-uk", first, 0, ""},
	} {
		sum, err := f.kb.Ingest(ctx, kb.Submission{Org: tc.org, Workspace: "community"}, bundleOf(tc.version))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if sum.Accepted != tc.accepted {
			t.Errorf("%s: accepted %d, want %d (%+v)", tc.name, sum.Accepted, tc.accepted, sum)
		}
		if tc.reason != "" && (len(sum.Rejected) != 1 || !strings.Contains(sum.Rejected[0].Reason, tc.reason)) {
			t.Errorf("%s: rejected %+v, want a reason mentioning %q", tc.name, sum.Rejected, tc.reason)
		}
	}
}

// TestBatchesCommittedTogetherKeepTheirOwnOutcome holds the first Progress call until every
// batch has been read and validated, so that those still waiting are committed as one group,
// and checks that each batch still meets the versions the batches before it stored: a version
// lowering the TLP of one in an earlier batch of the same group is refused, and Progress reports
// each batch.
func TestBatchesCommittedTogetherKeepTheirOwnOutcome(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	batches := [][]string{
		{actor},
		{indicatorVersion("2019-02-01T00:00:00.000Z", stix.TLP2Amber)},
		{indicatorVersion("2019-03-01T00:00:00.000Z", stix.TLP2Green)},
		{indicatorVersion("2019-04-01T00:00:00.000Z", stix.TLP2AmberStrict), actor},
		{},
	}
	read := make(chan struct{})
	n := 0
	next := func(context.Context) ([]json.RawMessage, error) {
		if n == len(batches) {
			close(read)
			return nil, io.EOF
		}
		var raws []json.RawMessage
		for _, o := range batches[n] {
			raws = append(raws, json.RawMessage(o))
		}
		n++
		return raws, nil
	}
	var got []kb.Progress
	progress := func(p kb.Progress) {
		if len(got) == 0 {
			<-read
			time.Sleep(200 * time.Millisecond) // for the validated batches to reach the committer
		}
		got = append(got, p)
	}
	sum, err := f.kb.IngestBatches(ctx, kb.Submission{Org: "cert-fr", Workspace: "community", Progress: progress}, next)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ accepted, duplicates, rejected int }{{1, 0, 0}, {2, 0, 0}, {2, 0, 1}, {3, 1, 1}, {3, 1, 1}}
	if len(got) != len(want) {
		t.Fatalf("progress %+v, want one call per batch", got)
	}
	for i, w := range want {
		if p := got[i]; p.Batches != i+1 || p.Accepted != w.accepted || p.Duplicates != w.duplicates || p.Rejected != w.rejected {
			t.Errorf("progress after batch %d = %+v, want %+v", i+1, p, w)
		}
	}
	if len(sum.Rejected) != 1 || !strings.Contains(sum.Rejected[0].Reason, "never lowered") {
		t.Errorf("rejected %+v, want the version lowering the TLP", sum.Rejected)
	}
	ind := "indicator--6f296474-7015-54e8-ac24-775a616590a2"
	if want := []string{"intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c", ind, ind}; !slices.Equal(sum.IDs, want) {
		t.Errorf("ids = %v, want %v", sum.IDs, want)
	}
}
