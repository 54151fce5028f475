package gather_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cshub/internal/gather"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/seal"
	"cshub/internal/store/sqlite"
)

func newGatherer(t *testing.T) *gather.Service {
	t.Helper()
	g, _ := newGathererKB(t)
	return g
}

// newGathererKB returns a gatherer on a new SQLite hub with member cert-nl in workspace
// community, and its knowledge base.
func newGathererKB(t *testing.T) (*gather.Service, *kb.Service) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := seal.New(st)
	root, _ := seal.NewRootKey()
	if err := b.Initialize(ctx, root); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateOrg(ctx, &hub.Org{Code: "cert-nl", Name: "NCSC-NL", Country: "NL", Kind: hub.OrgMember, Active: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.AddWorkspace(ctx, "community"); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateWorkspace(ctx, &hub.Workspace{Slug: "community", Kind: hub.WorkspaceCommunity, DefaultTLP: hub.TLPAmber, Members: []string{"cert-nl"}}); err != nil {
		t.Fatal(err)
	}
	k := kb.New(kb.Config{Store: st, Sealer: b})
	return gather.New(k, nil), k
}

func TestEveryFormatIsDetectedAndIngested(t *testing.T) {
	mispEvent, err := os.ReadFile(filepath.Join("..", "misp", "testdata", "circl-57c4445b-ransomware-xorist.json"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, contentType, body string
		format                  string // forced; "" to detect
		detected                string
		minAccepted             int
		rejectedLines           int
	}{
		{"misp event", "application/json", string(mispEvent), "", gather.FormatMISP, 5, 0},
		{"csv with header", "text/csv", "value,type,description\n203.0.113.7,ip,scanner\nevil.example,domain,phishing\n", "", gather.FormatCSV, 2, 0},
		{"plain ioc list", "text/plain", "# block list\n203.0.113.8\nbad.example.net\nhxxp://phish.example/login\n", "", gather.FormatIOCList, 3, 0},
		{"ioc list with a bad line", "text/plain", "203.0.113.9\nnot a value at all\n", gather.FormatIOCList, gather.FormatText, 1, 1},
		{"prose", "text/plain", "Analysts saw Sofacy register login-ministry[.]example during the campaign against Turkey.", "", gather.FormatText, 2, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			head := []byte(tc.body)
			if got := gather.Detect(tc.contentType, head); got != tc.detected {
				t.Fatalf("detected %q, want %q", got, tc.detected)
			}
			g := newGatherer(t)
			sum, err := g.Ingest(context.Background(), gather.Request{
				Submission:  kb.Submission{Org: "cert-nl", Workspace: "community"},
				ContentType: tc.contentType,
				Format:      tc.format,
			}, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if sum.Accepted < tc.minAccepted {
				t.Errorf("accepted %d, want at least %d: %+v", sum.Accepted, tc.minAccepted, sum)
			}
			lines := 0
			for _, r := range sum.Rejected {
				if strings.HasPrefix(r.ID, "line ") {
					lines++
				}
			}
			if lines != tc.rejectedLines {
				t.Errorf("rejected lines %d, want %d: %+v", lines, tc.rejectedLines, sum.Rejected)
			}
		})
	}
}
