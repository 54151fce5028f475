package gather_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cshub/internal/gather"
	"cshub/internal/hub"
	"cshub/internal/kb"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestPreviewGolden pins the preview of a report paragraph: aliases resolved to their ATT&CK
// objects, defanged indicators refanged, values on warninglists flagged, every span.
func TestPreviewGolden(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("testdata", "preview.txt"))
	if err != nil {
		t.Fatal(err)
	}
	g := newGatherer(t)
	p, err := g.Preview(context.Background(), "", string(text))
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "golden", "preview.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("preview differs from %s; run with -update and review the diff", path)
	}
	for _, e := range p.Entities {
		for _, sp := range e.Spans {
			if sp.Start < 0 || sp.End > len(text) || sp.Start >= sp.End {
				t.Errorf("%s: span %v outside the text", e.ID, sp)
			}
		}
	}
}

// TestPreviewFlagsWarninglists holds that every known-benign value of a test list is flagged in
// the preview, and that the malicious-looking ones are not.
func TestPreviewFlagsWarninglists(t *testing.T) {
	g := newGatherer(t)
	cases := []struct {
		value   string
		flagged bool
	}{
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"9.9.9.9", true},
		{"www.google.com", true},
		{"login.microsoftonline.com", true},
		{"10.20.30.40", true},
		{"192.168.1.1", true},
		{"d41d8cd98f00b204e9800998ecf8427e", true},
		{"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", true},
		{"bit.ly", true},
		{"203.0.113.77", true}, // TEST-NET-3, RFC 5735
		{"evil-updates.top", false},
		{"185.220.101.4", false},
	}
	for _, tc := range cases {
		p, err := g.Preview(context.Background(), "t", "The implant contacted "+tc.value+" twice.")
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(p.Entities, func(c gather.Candidate) bool { return c.Value == tc.value })
		if i < 0 {
			t.Errorf("%s: not extracted: %+v", tc.value, p.Entities)
			continue
		}
		if got := len(p.Entities[i].Warninglists) > 0; got != tc.flagged {
			t.Errorf("%s: flagged %v (%v), want %v", tc.value, got, p.Entities[i].Warninglists, tc.flagged)
		}
	}
}

func TestSubmitLinksOnlyAccepted(t *testing.T) {
	ctx := context.Background()
	g := newGatherer(t)
	text := "Fancy Bear registered login-ministry[.]example; Seedworm used LaZagne against Turkey."
	p, err := g.Preview(ctx, "", text)
	if err != nil {
		t.Fatal(err)
	}
	var accept, wantRefs []string
	for _, c := range p.Entities {
		if c.Name == "APT28" || c.Name == "LaZagne" {
			accept = append(accept, c.ID)
			wantRefs = append(wantRefs, c.Ref)
		}
	}
	if len(accept) != 2 {
		t.Fatalf("APT28 and LaZagne not both in the preview: %+v", p.Entities)
	}
	req := gather.Request{Submission: kb.Submission{Org: "cert-nl", Workspace: "community"}}
	if _, err := g.Submit(ctx, req, text, []string{"entity--000000000000000000000000"}); hub.ErrorField(err) != "accept" {
		t.Errorf("unknown entity id: err %v, want a field error on accept", err)
	}
	sum, err := g.Submit(ctx, req, text, accept)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(sum.IDs, p.ReportID) {
		t.Fatalf("summary ids %v lack the previewed report id %s", sum.IDs, p.ReportID)
	}
	if sum.Accepted != 1 {
		t.Errorf("accepted %d objects, want the report alone (APT28 and LaZagne exist already): %+v", sum.Accepted, sum)
	}
}

// TestIngestFlagsWarninglists holds that indicators on a warninglist carry the lists' names
// once stored, from a pasted text and from an IOC list alike.
func TestIngestFlagsWarninglists(t *testing.T) {
	for _, tc := range []struct{ name, format, body string }{
		{"text", gather.FormatText, "The implant checked 8.8.8.8 before calling evil-updates.top."},
		{"ioc list", gather.FormatIOCList, "8.8.8.8\nevil-updates.top\n"},
		{"misp event", gather.FormatMISP, `{"Event": {"uuid": "5c066053-0000-4000-8000-000000000001", "info": "beacons", "date": "2019-01-10", "timestamp": "1547078400",
			"Attribute": [{"uuid": "5c066053-0000-4000-8000-000000000002", "type": "ip-dst", "category": "Network activity", "to_ids": true, "value": "8.8.8.8", "timestamp": "1547078400"},
			{"uuid": "5c066053-0000-4000-8000-000000000003", "type": "domain", "category": "Network activity", "to_ids": true, "value": "evil-updates.top", "timestamp": "1547078400"}]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			g, k := newGathererKB(t)
			if _, err := g.Ingest(ctx, gather.Request{Submission: kb.Submission{Org: "cert-nl", Workspace: "community"}, Format: tc.format}, strings.NewReader(tc.body)); err != nil {
				t.Fatal(err)
			}
			objs, err := k.List(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, Types: []string{"indicator"}})
			if err != nil {
				t.Fatal(err)
			}
			flagged := map[string][]string{}
			for _, o := range objs {
				var ind struct {
					Name  string   `json:"name"`
					Lists []string `json:"x_cshub_warninglists"`
				}
				json.Unmarshal(o.Body, &ind)
				flagged[ind.Name] = ind.Lists
			}
			if len(flagged) != 2 || !slices.Contains(flagged["8.8.8.8"], "List of known IPv4 public DNS resolvers") || flagged["evil-updates.top"] != nil {
				t.Errorf("indicators and their lists: %v", flagged)
			}
		})
	}
}
