package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	loadClients  = flag.Int("load.clients", 20, "clients of TestLoad (the acceptance run: 200)")
	loadDuration = flag.Duration("load.duration", 3*time.Second, "duration of TestLoad (the acceptance run: 60s)")
)

// TestLoad drives a hub served in-process with the load test's mix of operations and requires
// every request of every kind to succeed. With -load.clients=200 -load.duration=60s it is the
// acceptance run; by default it is a short one that keeps the load test itself honest.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a hub for seconds")
	}
	url, key := servingHub(t, t.TempDir())
	cfg := loadConfig{url: url, keys: []string{key}, workspace: "community", clients: *loadClients, duration: *loadDuration,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *loadClients}}}
	stats, err := loadTest(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range loadOps {
		s := stats[o.name]
		t.Logf("%-6s %6d requests %d errors p50 %.1f ms p99 %.1f ms max %.1f ms", o.name, s.Requests, s.Errors, s.P50ms, s.P99ms, s.MaxMs)
		if s.Requests == 0 {
			t.Errorf("no %s requests were made", o.name)
		}
		if s.Errors > 0 {
			t.Errorf("%s: %d of %d failed: %s", o.name, s.Errors, s.Requests, strings.Join(s.Samples, "; "))
		}
	}
}

func TestLoadtestRefusesRemoteTargets(t *testing.T) {
	for _, u := range []string{"https://192.0.2.1:8443", "https://example.org", ""} {
		if _, _, err := runIn(runLoadtest, nil, "--url", u, "--keys", "k"); err == nil {
			t.Errorf("loadtest accepted %q", u)
		}
	}
}

// lockedBuffer is a log sink for several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestLogsHoldNoSecrets serves a hub, uses its credentials the right and the wrong ways (API
// calls under load, unknown and near-miss keys, web logins with the right password and a
// wrong code, a wrong password), and greps everything the hub logged for the API key, the
// password and the TOTP secret it was given: none may appear, nor the secret part of a key.
func TestLogsHoldNoSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("serves a hub")
	}
	dir := t.TempDir()
	initOut, initErr, err := runIn(runInit, nil, "--data", dir)
	if err != nil {
		t.Fatal(err)
	}
	var creds struct {
		Password   string `json:"password"`
		TOTPSecret string `json:"totp_secret"`
		APIKey     string `json:"api_key"`
		Username   string `json:"username"`
	}
	if err := json.Unmarshal([]byte(initOut), &creds); err != nil {
		t.Fatal(err)
	}
	log := &lockedBuffer{}
	base, key := serveHub(t, dir, log)
	client := &http.Client{Timeout: 30 * time.Second}
	do := func(method, path, auth string, body io.Reader) {
		req, _ := http.NewRequest(method, base+path, body)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	nearMiss := creds.APIKey[:len(creds.APIKey)-4] + "aaaa"
	for _, k := range []string{creds.APIKey, key, nearMiss, "cshub_0000000000000000_" + strings.Repeat("b", 52), creds.Password} {
		do("GET", "/api/v1/objects", k, nil)
		do("POST", "/api/v1/match", k, strings.NewReader(`{"values":["198.51.100.1"]}`))
	}
	cfg := loadConfig{url: base, keys: []string{key, creds.APIKey}, workspace: "community", clients: 8, duration: time.Second,
		client: &http.Client{Timeout: 30 * time.Second}}
	if _, err := loadTest(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	web := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	for _, pw := range []string{creds.Password, "wrong-" + creds.Password} {
		resp, err := web.Get(base + "/login")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := csrfInput.FindSubmatch(page)
		if m == nil {
			t.Fatalf("no CSRF token in the login form")
		}
		resp, err = web.PostForm(base+"/login", url.Values{"csrf": {string(m[1])}, "username": {creds.Username}, "password": {pw}, "totp": {"000000"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	logged := log.String() + initErr
	if !strings.Contains(logged, "serving") {
		t.Fatalf("the log capture caught nothing: %q", logged)
	}
	for name, secret := range map[string]string{
		"password": creds.Password, "TOTP secret": creds.TOTPSecret, "API key": creds.APIKey,
		"API key secret part": creds.APIKey[len("cshub_")+17:], "other API key": key, "near-miss key": nearMiss,
	} {
		if strings.Contains(logged, secret) {
			t.Errorf("the %s appears in the log", name)
		}
	}
}

// TestHostileBodies sends bodies built to exhaust a parser (deep nesting, many keys, cut off) to the endpoints that read JSON: each must be refused as the caller's fault (4xx) and
// the hub must keep answering.
func TestHostileBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("serves a hub")
	}
	base, key := servingHub(t, t.TempDir())
	deep := func(open, close string, n int) string { return strings.Repeat(open, n) + strings.Repeat(close, n) }
	bodies := map[string]string{
		"deep arrays":         deep("[", "]", 200_000),
		"deep objects":        deep(`{"a":`, "}", 100_000),
		"deep in values":      `{"values":` + deep("[", "]", 100_000) + `}`,
		"deep in a bundle":    `{"type":"bundle","id":"bundle--6f1b2c1e-0000-4000-8000-000000000001","objects":[{"type":"note","x":` + deep("[", "]", 100_000) + `}]}`,
		"truncated":           `{"values":["198.51.100.1"`,
		"huge number of keys": "{" + strings.Repeat(`"k":1,`, 200_000) + `"values":[]}`,
	}
	client := &http.Client{Timeout: time.Minute}
	for name, body := range bodies {
		for _, path := range []string{"/api/v1/match", "/api/v1/workspaces/community/bundles"} {
			req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s to %s: %v", name, path, err)
			}
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
			resp.Body.Close()
			// A bundle answers 200 with each bad object rejected in the summary; a match
			// request is refused whole.
			if resp.StatusCode >= 500 || path == "/api/v1/match" && resp.StatusCode < 400 {
				t.Errorf("%s to %s: %d %s", name, path, resp.StatusCode, msg)
			}
		}
	}
	if _, err := postBundle(base, key, newIDs(3)); err != nil {
		t.Fatalf("the hub no longer answers: %v", err)
	}
}
