package misp

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"cshub/internal/hub"
)

// feedServer serves a MISP feed from a map of files, honouring If-None-Match and
// If-Modified-Since, and counts the full (200) and conditional (304) answers.
type feedServer struct {
	mu      sync.Mutex
	files   map[string]string
	etag    map[string]string
	full    atomic.Int64
	notMod  atomic.Int64
	lastMod bool // answer with Last-Modified instead of ETag
}

func (s *feedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	body, ok := s.files[r.URL.Path]
	tag := s.etag[r.URL.Path]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if s.lastMod {
		lm := "Mon, 01 Jan 2024 00:00:0" + tag + " GMT"
		if r.Header.Get("If-Modified-Since") == lm {
			s.notMod.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Last-Modified", lm)
	} else {
		et := `"` + tag + `"`
		if r.Header.Get("If-None-Match") == et {
			s.notMod.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", et)
	}
	s.full.Add(1)
	fmt.Fprint(w, body)
}

func (s *feedServer) set(path, body, tag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path], s.etag[path] = body, tag
}

const (
	evA = "5a0ac036-0000-4000-8000-00000000000a"
	evB = "5a0ac036-0000-4000-8000-00000000000b"
)

func feedEvent(uuid, info, ts string) string {
	return fmt.Sprintf(`{"Event":{"uuid":%q,"info":%q,"timestamp":%q,"Attribute":[{"type":"domain","value":"%s.example","to_ids":true}]}}`, uuid, info, ts, info)
}

func newFeedServer(t *testing.T, lastMod bool) (*feedServer, *httptest.Server) {
	s := &feedServer{files: map[string]string{}, etag: map[string]string{}, lastMod: lastMod}
	s.set("/feed/manifest.json", fmt.Sprintf(`{%q:{"info":"a","timestamp":"1700000000"},%q:{"info":"b","timestamp":1700000100}}`, evA, evB), "1")
	s.set("/feed/"+evA+".json", feedEvent(evA, "a", "1700000000"), "a1")
	s.set("/feed/"+evB+".json", feedEvent(evB, "b", "1700000100"), "b1")
	s.set("/feed/hashes.csv", "0749bae92ca336a02c83d126e04ec628,"+evA+"\n", "h1")
	ts := httptest.NewServer(s) // listens on 127.0.0.1
	t.Cleanup(ts.Close)
	return s, ts
}

func TestFeedPoll(t *testing.T) {
	for _, lastMod := range []bool{false, true} {
		t.Run(fmt.Sprintf("lastModified=%v", lastMod), func(t *testing.T) {
			s, ts := newFeedServer(t, lastMod)
			f, err := NewFeed("circl", ts.URL+"/feed", FeedMISP, ts.Client())
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			evs, err := f.Poll(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 2 || evs[0].UUID != evA || evs[1].UUID != evB || evs[1].Info != "b" {
				t.Fatalf("first poll: got %+v", evs)
			}
			for _, e := range evs {
				if _, err := ToSTIX(strings.NewReader(string(e.Body))); err != nil {
					t.Errorf("event %s does not convert: %v", e.UUID, err)
				}
			}
			evs, err = f.Poll(ctx)
			if err != nil || len(evs) != 0 {
				t.Fatalf("second poll: got %d events, %v; want none", len(evs), err)
			}
			if got := s.notMod.Load(); got != 1 {
				t.Errorf("second poll: got %d Not Modified answers, want 1", got)
			}
			// Event b changes: only b comes back.
			s.set("/feed/manifest.json", fmt.Sprintf(`{%q:{"info":"a","timestamp":"1700000000"},%q:{"info":"b2","timestamp":"1700000200"}}`, evA, evB), "2")
			s.set("/feed/"+evB+".json", feedEvent(evB, "b2", "1700000200"), "b2")
			evs, err = f.Poll(ctx)
			if err != nil || len(evs) != 1 || evs[0].UUID != evB || evs[0].Info != "b2" {
				t.Fatalf("third poll: got %+v, %v", evs, err)
			}
			// A new Feed with the saved state polls like the old one.
			g, _ := NewFeed("circl", ts.URL+"/feed/", FeedMISP, ts.Client())
			g.SetState(f.State())
			if evs, err := g.Poll(ctx); err != nil || len(evs) != 0 {
				t.Errorf("restored state: got %d events, %v", len(evs), err)
			}
		})
	}
}

func TestFeedMalformedManifest(t *testing.T) {
	for _, tc := range []struct{ name, manifest, want string }{
		{"not json", `{"x":`, "not valid JSON"},
		{"list", `[1,2]`, "not a JSON object"},
		{"null", `null`, "null"},
		{"bad key", `{"../../etc/passwd":{"timestamp":"1"}}`, "not an event UUID"},
		{"no timestamp", fmt.Sprintf(`{%q:{"info":"a"}}`, evA), "not Unix seconds"},
		{"bad timestamp", fmt.Sprintf(`{%q:{"timestamp":"yesterday"}}`, evA), "not Unix seconds"},
		{"entry not object", fmt.Sprintf(`{%q:"x"}`, evA), evA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ts := newFeedServer(t, false)
			s.set("/feed/manifest.json", tc.manifest, "x")
			f, _ := NewFeed("botvrij", ts.URL+"/feed", "", ts.Client())
			_, err := f.Poll(context.Background())
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, `"botvrij"`) || !strings.Contains(msg, "manifest.json") || !strings.Contains(msg, tc.want) {
				t.Errorf("got %q, want the feed name, manifest.json and %q", msg, tc.want)
			}
			if hub.ErrorCode(err) != hub.EInvalid {
				t.Errorf("code: got %s, want %s", hub.ErrorCode(err), hub.EInvalid)
			}
		})
	}
}

func TestFeedMissingEvent(t *testing.T) {
	s, ts := newFeedServer(t, false)
	s.mu.Lock()
	delete(s.files, "/feed/"+evB+".json")
	s.mu.Unlock()
	f, _ := NewFeed("circl", ts.URL+"/feed", FeedMISP, ts.Client())
	evs, err := f.Poll(context.Background())
	if len(evs) != 1 || hub.ErrorCode(err) != hub.EUnavailable || !strings.Contains(err.Error(), "404") {
		t.Fatalf("got %d events, %v; want event a and a 404 error", len(evs), err)
	}
	// The file comes back: the next poll fetches the manifest again and returns b only.
	s.set("/feed/"+evB+".json", feedEvent(evB, "b", "1700000100"), "b1")
	evs, err = f.Poll(context.Background())
	if err != nil || len(evs) != 1 || evs[0].UUID != evB {
		t.Fatalf("retry: got %+v, %v", evs, err)
	}
}

func TestFeedHashesAndCSV(t *testing.T) {
	s, ts := newFeedServer(t, false)
	f, _ := NewFeed("circl", ts.URL+"/feed", FeedMISP, ts.Client())
	hs, err := f.Hashes(context.Background())
	if err != nil || len(hs) != 1 || hs[0].EventUUID != evA {
		t.Fatalf("hashes: got %+v, %v", hs, err)
	}
	if hs, err := f.Hashes(context.Background()); err != nil || hs != nil {
		t.Errorf("unchanged hashes: got %+v, %v; want nil", hs, err)
	}
	s.set("/feed/hashes.csv", "nothex,"+evA+"\n", "h2")
	if _, err := f.Hashes(context.Background()); hub.ErrorField(err) != "hashes.csv" || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad hashes.csv: got %v", err)
	}

	s.set("/list.csv", "198.51.100.7\nevil.example\n", "l1")
	c, err := NewFeed("blocklist", ts.URL+"/list.csv", FeedCSV, ts.Client())
	if err != nil {
		t.Fatal(err)
	}
	evs, err := c.Poll(context.Background())
	if err != nil || len(evs) != 1 || !strings.Contains(string(evs[0].Body), "evil.example") {
		t.Fatalf("csv feed: got %+v, %v", evs, err)
	}
	if evs, err := c.Poll(context.Background()); err != nil || len(evs) != 0 {
		t.Errorf("unchanged csv feed: got %d, %v", len(evs), err)
	}
}

func TestNewFeedErrors(t *testing.T) {
	for _, tc := range []struct {
		url, format string
		client      *http.Client
		field       string
	}{
		{"http://127.0.0.1/feed", "", nil, "client"},
		{"ftp://127.0.0.1/feed", "", http.DefaultClient, "url"},
		{"http://127.0.0.1/feed", "stix", http.DefaultClient, "format"},
	} {
		if _, err := NewFeed("x", tc.url, tc.format, tc.client); hub.ErrorField(err) != tc.field {
			t.Errorf("NewFeed(%q, %q): got %v, want an error on %s", tc.url, tc.format, err, tc.field)
		}
	}
}

func TestFeedConcurrentPolls(t *testing.T) {
	_, ts := newFeedServer(t, false)
	f, _ := NewFeed("circl", ts.URL+"/feed", FeedMISP, ts.Client())
	var wg sync.WaitGroup
	var total atomic.Int64
	for range 4 {
		wg.Go(func() {
			evs, err := f.Poll(context.Background())
			if err != nil {
				t.Error(err)
			}
			total.Add(int64(len(evs)))
			_ = f.State()
		})
	}
	wg.Wait()
	if got := total.Load(); got != 2 {
		t.Errorf("four concurrent polls returned %d events in all, want 2", got)
	}
}
