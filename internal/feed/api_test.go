package feed_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"cshub/internal/export"
	"cshub/internal/feed"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
)

// call sends a request and decodes the JSON answer, which must come with status want.
func call[T any](t *testing.T, srv *hubtest.Server, key, method, path, reqBody string, want int) T {
	t.Helper()
	status, body := srv.Do(t, key, method, path, []byte(reqBody))
	if status != want {
		t.Fatalf("status %d, want %d: %s", status, want, body)
	}
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return v
}

// TestFeedsOverAPI drives the feed endpoints as an enforcement point and its operator would:
// define a feed, poll it in full, poll the changes, fetch it as a file with If-None-Match, and
// find that other organisations, read-only keys and bad input are refused.
func TestFeedsOverAPI(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			c := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
			h, svc := newHub(t, backend, c)
			srv := h.Serve(t, nil, svc)
			uk, ukRead := h.Keys["cert-uk"], h.Keys["cert-uk:read"]

			for _, tc := range []struct {
				key, method, path, body string
				status                  int
				field                   string
			}{
				{ukRead, "POST", "/api/v1/feeds", `{"name":"dns"}`, http.StatusForbidden, "Authorization"},
				{uk, "POST", "/api/v1/feeds", `{"name":"Bad Name"}`, http.StatusBadRequest, "name"},
				{uk, "POST", "/api/v1/feeds", `{"name":"x","selection":{"types":["process"]}}`, http.StatusBadRequest, "types"},
				{uk, "POST", "/api/v1/feeds", `{"name":"x","filters":{}}`, http.StatusBadRequest, "body"},
				{uk, "GET", "/api/v1/feeds/none", "", http.StatusNotFound, ""},
			} {
				status, body := srv.Do(t, tc.key, tc.method, tc.path, []byte(tc.body))
				if status != tc.status || !strings.Contains(string(body), `"field":"`+tc.field+`"`) && tc.field != "" {
					t.Errorf("%s %s %s: %d %s, want %d on field %q", tc.method, tc.path, tc.body, status, body, tc.status, tc.field)
				}
			}

			d := call[feed.Definition](t, srv, uk, "POST", "/api/v1/feeds", `{"name":"border","selection":{"types":["ipv4-addr"],"min_confidence":50}}`, http.StatusCreated)
			if d.Name != "border" || d.Org != "cert-uk" || d.Selection.MinConfidence != 50 {
				t.Fatalf("created %+v", d)
			}
			if status, body := srv.Do(t, uk, "POST", "/api/v1/feeds", []byte(`{"name":"border"}`)); status != http.StatusConflict {
				t.Errorf("a second feed of the same name: %d %s", status, body)
			}
			// Another organisation neither lists nor reads cert-uk's feed.
			list := call[struct{ Feeds []feed.Definition }](t, srv, h.Keys["cert-fr"], "GET", "/api/v1/feeds", "", http.StatusOK)
			if len(list.Feeds) != 0 {
				t.Errorf("cert-fr lists %v", list.Feeds)
			}
			if status, _ := srv.Do(t, h.Keys["cert-fr"], "GET", "/api/v1/feeds/border", nil); status != http.StatusNotFound {
				t.Errorf("cert-fr reads cert-uk's feed: %d", status)
			}

			h.Ingest(t, "cert-fr", hubtest.Community, (indicatorJSON{id: "indicator--00000000-0000-4000-8000-000000000001", value: "198.51.100.1", tlp: hub.TLPGreen, confidence: 80, modified: c.Add(time.Minute)}).bundle())
			h.Ingest(t, "cert-fr", hubtest.Community, (indicatorJSON{id: "indicator--00000000-0000-4000-8000-000000000002", value: "198.51.100.2", tlp: hub.TLPRed, confidence: 80, modified: c.Add(time.Minute)}).bundle(), "cert-uk")
			full := call[feed.Delta](t, srv, ukRead, "GET", "/api/v1/feeds/border", "", http.StatusOK)
			if !full.Full || len(full.Added) != 1 || full.Added[0].Values[0].Value != "198.51.100.1" || len(full.Removed) != 0 {
				t.Fatalf("first poll (RED must stay out of a feed): %+v", full)
			}
			same := call[feed.Delta](t, srv, ukRead, "GET", "/api/v1/feeds/border?since="+full.Cursor, "", http.StatusOK)
			if same.Full || len(same.Added)+len(same.Removed) != 0 {
				t.Errorf("poll without changes: %+v", same)
			}
			// A lowered confidence removes it, a new one adds one.
			h.Ingest(t, "cert-fr", hubtest.Community, (indicatorJSON{id: "indicator--00000000-0000-4000-8000-000000000001", value: "198.51.100.1", tlp: hub.TLPGreen, confidence: 20, modified: c.Add(time.Minute)}).bundle())
			h.Ingest(t, "cert-be", hubtest.Community, (indicatorJSON{id: "indicator--00000000-0000-4000-8000-000000000003", value: "198.51.100.3", tlp: hub.TLPAmber, confidence: 60, modified: c.Add(time.Minute)}).bundle())
			delta := call[feed.Delta](t, srv, ukRead, "GET", "/api/v1/feeds/border?since="+same.Cursor, "", http.StatusOK)
			if delta.Full || len(delta.Added) != 1 || delta.Added[0].ID != "indicator--00000000-0000-4000-8000-000000000003" ||
				len(delta.Removed) != 1 || delta.Removed[0].ID != "indicator--00000000-0000-4000-8000-000000000001" {
				t.Errorf("delta: %+v", delta)
			}
			if status, body := srv.Do(t, ukRead, "GET", "/api/v1/feeds/border?since=garbage", nil); status != http.StatusBadRequest || !strings.Contains(string(body), `"since"`) {
				t.Errorf("bad cursor: %d %s", status, body)
			}
			if status, body := srv.Do(t, ukRead, "GET", "/api/v1/feeds/border?min-confidence=1", nil); status != http.StatusBadRequest {
				t.Errorf("filter on a feed's URL: %d %s", status, body)
			}

			// The file form, with its ETag.
			get := func(etag string) *http.Response {
				req, _ := http.NewRequestWithContext(context.Background(), "GET", srv.URL+"/api/v1/feeds/border?format=nftables", nil)
				req.Header.Set("Authorization", "Bearer "+ukRead)
				if etag != "" {
					req.Header.Set("If-None-Match", etag)
				}
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { resp.Body.Close() })
				return resp
			}
			resp := get("")
			file, _ := io.ReadAll(resp.Body)
			etag := resp.Header.Get("ETag")
			if resp.StatusCode != http.StatusOK || etag == "" || !strings.Contains(string(file), "198.51.100.3") || strings.Contains(string(file), "198.51.100.1") {
				t.Fatalf("file: %d etag %q\n%s", resp.StatusCode, etag, file)
			}
			if resp := get(etag); resp.StatusCode != http.StatusNotModified {
				t.Errorf("If-None-Match with the current ETag: %d", resp.StatusCode)
			}
			h.Ingest(t, "cert-be", hubtest.Community, (indicatorJSON{id: "indicator--00000000-0000-4000-8000-000000000003", value: "198.51.100.3", tlp: hub.TLPAmber, confidence: 60, modified: c.Add(time.Minute), revoked: true}).bundle())
			if resp := get(etag); resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == etag {
				t.Errorf("after a revocation: %d, ETag %q (was %q)", resp.StatusCode, resp.Header.Get("ETag"), etag)
			}

			if status, body := srv.Do(t, uk, "DELETE", "/api/v1/feeds/border", nil); status != http.StatusNoContent {
				t.Fatalf("delete: %d %s", status, body)
			}
			if status, _ := srv.Do(t, ukRead, "GET", "/api/v1/feeds/border?since="+delta.Cursor, nil); status != http.StatusNotFound {
				t.Errorf("a deleted feed: %d", status)
			}
			// The name is free again; the new definition resets old cursors.
			call[feed.Definition](t, srv, uk, "POST", "/api/v1/feeds", `{"name":"border"}`, http.StatusCreated)
			again := call[feed.Delta](t, srv, ukRead, "GET", "/api/v1/feeds/border?since="+delta.Cursor, "", http.StatusOK)
			if !again.Full {
				t.Errorf("a cursor of the deleted definition continued: %+v", again)
			}
		})
	}
}

// TestNoPrivateWorkspace: an organisation without a private workspace is told where feeds are
// kept instead of having them stored somewhere shared.
func TestNoPrivateWorkspace(t *testing.T) {
	h := hubtest.New(t, "sqlite")
	svc := feed.New(feed.Config{KB: h.KB, Dir: h.Store})
	_, err := svc.Create(context.Background(), "cert-fr", "test", "dns", export.Selection{})
	if hub.ErrorCode(err) != hub.EConflict || !strings.Contains(hub.ErrorMessage(err), "private workspace") {
		t.Errorf("got %v", err)
	}
}
