package sources_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cshub/internal/access"
	"cshub/internal/extract"
	"cshub/internal/gather"
	"cshub/internal/hub"
	"cshub/internal/hubtest"

	"cshub/internal/policy"
	"cshub/internal/sources"
)

const mispEvent = "57c4445b-c548-4654-af0b-4be3950d210f"

// feedServer serves an RSS feed, a malformed feed, a MISP feed and an IOC list with validators,
// answering conditional requests with 304, and counts what it was asked.
type feedServer struct {
	*httptest.Server
	mu          sync.Mutex
	files       map[string]string
	notModified int
	requests    int
}

func newFeedServer(t *testing.T) *feedServer {
	event, err := os.ReadFile(filepath.Join("testdata", "circl-57c4445b-ransomware-xorist.json"))
	if err != nil {
		t.Fatal(err)
	}
	fs := &feedServer{files: map[string]string{
		"/news.xml":                    rss("Seedworm targets Pakistan and Turkey", "Seedworm used LaZagne against telecoms in Pakistan; C2 at hxxp://update-check[.]example/api."),
		"/policy.xml":                  rss("UNGA adopts A/RES/73/266", "By a recorded vote the assembly adopted the resolution A/RES/73/266."),
		"/broken.xml":                  "<rss version=\"2.0\"><channel><item><title>cut off",
		"/misp/manifest.json":          `{"` + mispEvent + `": {"info": "Ransomware - Xorist", "timestamp": "1472541011"}}`,
		"/misp/" + mispEvent + ".json": string(event),
		"/list.txt":                    "# block list\n198.51.100.77\nbad-updates.example.net\n",
	}}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		fs.requests++
		body, ok := fs.files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		sum := sha256.Sum256([]byte(body))
		etag := `"` + hex.EncodeToString(sum[:8]) + `"`
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			fs.notModified++
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprint(w, body)
	}))
	t.Cleanup(fs.Close)
	return fs
}

func (fs *feedServer) set(path, body string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.files[path] = body
}

func rss(items ...string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>`)
	for i := 0; i+1 < len(items); i += 2 {
		fmt.Fprintf(&b, "<item><title>%s</title><guid>item-%d</guid><description>%s</description></item>", items[i], i/2, items[i+1])
	}
	b.WriteString("</channel></rss>")
	return b.String()
}

func TestPollTwiceAddsNothingAndBrokenFeedsStayApart(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			h := hubtest.New(t, backend)
			fs := newFeedServer(t)
			svc := sources.New(sources.Config{KB: h.KB, Gather: gather.New(h.KB, nil), Guard: sources.Guard{AllowPrivate: true}})
			ids := map[string]string{}
			for _, s := range []struct{ name, path, kind string }{
				{"news", "/news.xml", sources.KindNews},
				{"policy", "/policy.xml", sources.KindPolicy},
				{"broken", "/broken.xml", sources.KindNews},
				{"misp", "/misp/", sources.KindMISP},
				{"list", "/list.txt", sources.KindList},
			} {
				src, err := svc.Add(ctx, sources.NewSource{Org: "cert-fr", Workspace: hubtest.Community, Name: s.name, URL: fs.URL + s.path, Kind: s.kind, TLP: hub.TLPGreen})
				if err != nil {
					t.Fatal(err)
				}
				ids[s.name] = src.ID
			}
			viewer := func(org string) hub.Viewer {
				v, err := access.ViewerFor(ctx, h.Store, org, access.PathRead)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			status := func() map[string]sources.Status {
				list, err := svc.List(ctx, viewer("cert-fr"))
				if err != nil {
					t.Fatal(err)
				}
				out := map[string]sources.Status{}
				for _, s := range list {
					out[s.Name] = s.Status
				}
				return out
			}

			if err := svc.PollAll(ctx); err != nil {
				t.Fatal(err)
			}
			first := status()
			for name, want := range map[string]int{"news": 1, "policy": 1, "misp": 1, "list": 1, "broken": 0} {
				st := first[name]
				if st.LastNew != want || st.LastRun.IsZero() {
					t.Errorf("first poll of %s: %+v, want %d new", name, st, want)
				}
				if (name == "broken") != (st.LastError != "") {
					t.Errorf("%s: last error %q", name, st.LastError)
				}
			}
			if !strings.Contains(first["broken"].LastError, "not well-formed XML") {
				t.Errorf("broken feed's error %q does not say what is wrong", first["broken"].LastError)
			}
			// The news item became a report in the workspace, under the source's TLP, linking
			// the entities of its text.
			text := "Seedworm targets Pakistan and Turkey\n\nSeedworm used LaZagne against telecoms in Pakistan; C2 at hxxp://update-check[.]example/api."
			rep, err := h.KB.Get(ctx, viewer("cert-be"), extract.ReportID(text), time.Time{})
			if err != nil {
				t.Fatalf("news item's report not readable by another member: %v", err)
			}
			if rep.TLP != hub.TLPGreen || rep.Author != "cert-fr" || !strings.Contains(string(rep.Body), "intrusion-set--") {
				t.Errorf("report %s: TLP %s author %s body %s", rep.ID, rep.TLP, rep.Author, rep.Body)
			}
			// The policy item is tracked as citing its resolution.
			d, err := policy.New(h.KB).Document(ctx, viewer("cert-uk"), "A/RES/73/266")
			if err != nil || len(d.Citations) != 1 {
				t.Errorf("A/RES/73/266 citations %+v, %v; want the policy item", d, err)
			}

			before := fs.notModified
			if err := svc.PollAll(ctx); err != nil {
				t.Fatal(err)
			}
			for name, st := range status() {
				if st.LastNew != 0 || st.Items != first[name].Items {
					t.Errorf("second poll of %s added %d (items %d, were %d)", name, st.LastNew, st.Items, first[name].Items)
				}
			}
			// news, policy, list and the MISP manifest were unchanged: four 304s.
			if got := fs.notModified - before; got != 4 {
				t.Errorf("second poll got %d conditional 304s, want 4", got)
			}

			fs.set("/news.xml", rss("Seedworm targets Pakistan and Turkey", "Seedworm used LaZagne against telecoms in Pakistan; C2 at hxxp://update-check[.]example/api.",
				"Fancy Bear phishing", "Fancy Bear registered login-ministry[.]example."))
			fs.set("/broken.xml", rss("Fixed", "The feed works again."))
			if err := svc.PollAll(ctx); err != nil {
				t.Fatal(err)
			}
			third := status()
			if third["news"].LastNew != 1 || third["news"].Items != 2 {
				t.Errorf("after one new item: %+v, want 1 new of 2", third["news"])
			}
			if third["broken"].LastError != "" || third["broken"].LastNew != 1 {
				t.Errorf("repaired feed: %+v", third["broken"])
			}

			// Subscriptions are the subscriber's alone.
			if other, err := svc.List(ctx, viewer("cert-be")); err != nil || len(other) != 0 {
				t.Errorf("cert-be sees %d of cert-fr's sources (%v)", len(other), err)
			}
			if err := svc.Remove(ctx, viewer("cert-be"), "cert-be", "", ids["news"]); hub.ErrorCode(err) != hub.ENotFound {
				t.Errorf("cert-be removing cert-fr's source: %v, want not found", err)
			}
			if err := svc.Remove(ctx, viewer("cert-fr"), "cert-fr", "", ids["news"]); err != nil {
				t.Fatal(err)
			}
			if _, ok := status()["news"]; ok {
				t.Error("removed source still listed")
			}
		})
	}
}

func TestAddRefuses(t *testing.T) {
	h := hubtest.New(t, "sqlite")
	svc := sources.New(sources.Config{KB: h.KB, Gather: gather.New(h.KB, nil), Guard: sources.Guard{AllowedHosts: []string{".example.org", "198.51.100.7"}}})
	for _, tc := range []struct {
		name  string
		n     sources.NewSource
		field string
	}{
		{"ftp", sources.NewSource{URL: "ftp://feeds.example.org/x", Kind: "news", Workspace: "community"}, "url"},
		{"not allowed host", sources.NewSource{URL: "https://evil.example.net/rss", Kind: "news", Workspace: "community"}, "url"},
		{"credentials", sources.NewSource{URL: "https://u:p@feeds.example.org/rss", Kind: "news", Workspace: "community"}, "url"},
		{"kind", sources.NewSource{URL: "https://feeds.example.org/rss", Kind: "taxi", Workspace: "community"}, "kind"},
		{"no workspace", sources.NewSource{URL: "https://feeds.example.org/rss", Kind: "news"}, "workspace"},
		{"not a member", sources.NewSource{URL: "https://feeds.example.org/rss", Kind: "news", Workspace: "elsewhere"}, "workspace"},
	} {
		tc.n.Org = "cert-fr"
		_, err := svc.Add(context.Background(), tc.n)
		if hub.ErrorField(err) != tc.field {
			t.Errorf("%s: %v, want an error on %s", tc.name, err, tc.field)
		}
	}
	if _, err := (sources.Guard{}).CheckURL("http://127.0.0.1:8080/x"); hub.ErrorField(err) != "url" {
		t.Errorf("loopback literal: %v, want refused", err)
	}
	if _, err := (sources.Guard{}).CheckURL("https://feeds.example.org/x"); err != nil {
		t.Errorf("public name: %v", err)
	}
}

// TestGuardRefusesAtDial holds that a name resolving to a private address is refused when the
// connection is made, and that a redirect may not change scheme.
func TestGuardRefusesAtDial(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "https://"+r.Host+"/feed", http.StatusFound)
			return
		}
		fmt.Fprint(w, rss("x", "y"))
	}))
	defer srv.Close()
	port := srv.URL[strings.LastIndexByte(srv.URL, ':'):]
	if _, err := (sources.Guard{}).Client().Get("http://localhost" + port + "/feed"); err == nil || !strings.Contains(err.Error(), "not a public address") {
		t.Errorf("localhost under the default guard: %v, want refused", err)
	}
	if _, err := (sources.Guard{AllowPrivate: true}).Client().Get(srv.URL + "/redirect"); err == nil || !strings.Contains(err.Error(), "keeps its scheme") {
		t.Errorf("redirect to https: %v, want refused", err)
	}
	resp, err := (sources.Guard{AllowPrivate: true}).Client().Get(srv.URL + "/feed")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestRoutes(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			h := hubtest.New(t, backend)
			fs := newFeedServer(t)
			svc := sources.New(sources.Config{KB: h.KB, Gather: gather.New(h.KB, nil), Guard: sources.Guard{AllowPrivate: true}})
			srv := h.Serve(t, nil, sources.Routes{Sources: svc, Dir: h.Store})
			body, _ := json.Marshal(map[string]string{"name": "advisories", "url": fs.URL + "/news.xml", "kind": "news", "workspace": "community", "tlp": "green"})
			status, out := srv.Do(t, h.Keys["cert-fr"], "POST", "/api/v1/sources", body)
			if status != 201 {
				t.Fatalf("add: %d %s", status, out)
			}
			var src sources.Source
			json.Unmarshal(out, &src)
			if status, _ := srv.Do(t, h.Keys["cert-fr:read"], "POST", "/api/v1/sources", body); status != 403 {
				t.Errorf("add with a read key: %d", status)
			}
			status, out = srv.Do(t, h.Keys["cert-fr"], "POST", "/api/v1/sources/"+src.ID+"/poll", nil)
			json.Unmarshal(out, &src)
			if status != 200 || src.Status.LastNew != 1 || src.Status.LastError != "" {
				t.Errorf("poll: %d %s", status, out)
			}
			for _, tc := range []struct {
				key  string
				want int
			}{{h.Keys["cert-fr:read"], 1}, {h.Keys["cert-be"], 0}} {
				_, out := srv.Do(t, tc.key, "GET", "/api/v1/sources", nil)
				var list struct{ Sources []sources.Source }
				json.Unmarshal(out, &list)
				if len(list.Sources) != tc.want {
					t.Errorf("list: %s, want %d sources", out, tc.want)
				}
			}
			if status, _ := srv.Do(t, h.Keys["cert-be"], "DELETE", "/api/v1/sources/"+src.ID, nil); status != 404 {
				t.Errorf("delete by another member: %d, want 404", status)
			}
			if status, out := srv.Do(t, h.Keys["cert-fr"], "DELETE", "/api/v1/sources/"+src.ID, nil); status != 200 {
				t.Errorf("delete: %d %s", status, out)
			}
			bad, _ := json.Marshal(map[string]string{"url": fs.URL + "/news.xml", "kind": "news", "workspace": "community", "colour": "red"})
			if status, out := srv.Do(t, h.Keys["cert-fr"], "POST", "/api/v1/sources", bad); status != 400 || !strings.Contains(string(out), `"field":"colour"`) {
				t.Errorf("unknown property: %d %s", status, out)
			}
		})
	}
}
