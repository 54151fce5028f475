package news_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cshub/internal/hub"
	"cshub/internal/news"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func TestParseGolden(t *testing.T) {
	for _, tc := range []struct {
		file, format string
		items        int
	}{
		{"rss2-advisories.xml", news.FormatRSS, 3},
		{"atom-policy.xml", news.FormatAtom, 3},
		{"rdf-news.xml", news.FormatRDF, 1},
		{"latin1.xml", news.FormatRSS, 1},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			f, err := news.Parse(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if f.Format != tc.format || len(f.Items) != tc.items {
				t.Errorf("format %q with %d items, want %q with %d", f.Format, len(f.Items), tc.format, tc.items)
			}
			got, _ := json.MarshalIndent(f, "", "  ")
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", strings.TrimSuffix(tc.file, ".xml")+".json")
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
				t.Errorf("%s differs from %s; run with -update and review the diff", tc.file, path)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"empty", "", "no XML element"},
		{"html page", "<html><body>not a feed</body></html>", "root is <html>"},
		{"broken", "<rss version=\"2.0\"><channel><item><title>x</item></channel></rss>", "line 1"},
		{"json", `{"items":[]}`, "no XML element"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := news.Parse(strings.NewReader(tc.doc))
			if hub.ErrorField(err) != "feed" || !strings.Contains(hub.ErrorMessage(err), tc.want) {
				t.Errorf("err %v, want a field error on feed saying %q", err, tc.want)
			}
		})
	}
}

func TestItemReportKeepsTitleLinkDate(t *testing.T) {
	b, _ := os.ReadFile(filepath.Join("testdata", "atom-policy.xml"))
	f, err := news.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	r := f.Items[0].Report("policy-development")
	if r.URL != "https://observatory.example.org/updates/unga-a-res-73-266" || r.Published.IsZero() ||
		!strings.HasPrefix(r.Text, f.Items[0].Title+"\n\n") || r.Types[0] != "policy-development" {
		t.Errorf("report %+v", r)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.xml"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<feed xmlns="http://www.w3.org/2005/Atom"><entry><content type="xhtml"><div><p>a</p></div></content></entry></feed>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		feed, err := news.Parse(bytes.NewReader(b))
		if err != nil {
			if hub.ErrorCode(err) == hub.EInternal {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		for _, it := range feed.Items {
			if it.ID == "" {
				t.Fatalf("item without id: %+v", it)
			}
		}
	})
}
