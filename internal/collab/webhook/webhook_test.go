package webhook_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cshub/internal/collab"
	"cshub/internal/collab/webhook"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/stix"
)

func TestCheckURL(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://soc.cert-fr.example/hooks/cshub", true},
		{"https://192.0.2.10:8443/x", true},
		{"http://127.0.0.1:9999/hook", true},
		{"http://[::1]:9999/hook", true},
		{"http://localhost/hook", true},
		{"http://soc.cert-fr.example/hook", false},
		{"http://10.0.0.1/hook", false},
		{"ftp://127.0.0.1/hook", false},
		{"https://user:pw@soc.example/hook", false},
		{"https:///nohost", false},
		{"soc.example/hook", false},
		{"", false},
		{"https://soc.example/" + strings.Repeat("a", 2048), false},
	} {
		err := webhook.CheckURL(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("CheckURL(%q) = %v, want ok %v", tc.url, err, tc.ok)
		}
		if err != nil && hub.ErrorField(err) != "url" {
			t.Errorf("CheckURL(%q) names field %q", tc.url, hub.ErrorField(err))
		}
	}
}

func TestSignVerify(t *testing.T) {
	secret := []byte("0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"kind":"object"}`)
	sig := webhook.Sign(secret, now, body)
	for _, tc := range []struct {
		name   string
		secret []byte
		header string
		body   []byte
		at     time.Time
		ok     bool
	}{
		{"valid", secret, sig, body, now, true},
		{"valid a little later", secret, sig, body, now.Add(4 * time.Minute), true},
		{"replayed later", secret, sig, body, now.Add(6 * time.Minute), false},
		{"from the future", secret, sig, body, now.Add(-6 * time.Minute), false},
		{"tampered body", secret, sig, []byte(`{"kind":"note"}`), now, false},
		{"other secret", []byte("another secret!!"), sig, body, now, false},
		{"no signature", secret, "t=1800000000", body, now, false},
		{"no time", secret, "v1=" + strings.Repeat("00", 32), body, now, false},
		{"garbage", secret, "garbage", body, now, false},
		{"short mac", secret, "t=1800000000,v1=abcd", body, now, false},
	} {
		err := webhook.Verify(tc.secret, tc.header, tc.body, tc.at, 5*time.Minute)
		if (err == nil) != tc.ok {
			t.Errorf("%s: Verify = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// receiver is a loopback HTTP server recording the deliveries it accepts; it fails the first
// fail requests with 503.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	tries  int
	fail   int
	secret []byte
}

type received struct {
	kind  string
	d     webhook.Delivery
	raw   []byte
	valid error
}

func newReceiver(t *testing.T, fail int) *receiver {
	r := &receiver{fail: fail}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.tries++
		if r.tries <= r.fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var d webhook.Delivery
		if err := json.Unmarshal(body, &d); err != nil {
			t.Errorf("delivery is not JSON: %v", err)
		}
		r.got = append(r.got, received{kind: req.Header.Get("X-Cshub-Event"), d: d, raw: body,
			valid: webhook.Verify(r.secret, req.Header.Get("X-Cshub-Signature"), body, time.Now(), time.Minute)})
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) deliveries() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// waitFor polls cond until it holds or a few seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func indicator(n int, domain, marking string) map[string]any {
	return map[string]any{
		"type": "indicator", "spec_version": "2.1", "id": fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", n),
		"created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "name": "Domain " + domain,
		"pattern": "[domain-name:value = '" + domain + "']", "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
		"object_marking_refs": []string{marking},
	}
}

func bundle(t testing.TB, objs ...map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000001", "objects": objs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDeliveries(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) { testDeliveries(t, backend) })
	}
}

func testDeliveries(t *testing.T, backend string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := hubtest.New(t, backend)
	cs := collab.New(collab.Config{KB: h.KB, Dir: h.Store})
	ws := webhook.New(h.KB, h.Store, cs, h.Barrier, nil, webhook.Config{Backoff: 10 * time.Millisecond, MaxAttempts: 4})
	srv := h.Serve(t, nil, collab.Routes{S: cs}, webhook.Routes{S: ws})
	do := func(key, method, path string, in any, want int, out any) {
		t.Helper()
		b, _ := json.Marshal(in)
		status, body := srv.Do(t, key, method, path, b)
		if status != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, status, want, body)
		}
		if out != nil {
			if err := json.Unmarshal(body, out); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Registration rules.
	do(h.Keys["cert-fr"], "POST", "/api/v1/webhooks", webhook.Input{URL: "https://x.example/h", Workspace: "community"}, http.StatusForbidden, nil)
	var e struct{ Error struct{ Field string } }
	do(h.Keys["cert-fr:admin"], "POST", "/api/v1/webhooks", webhook.Input{URL: "http://soc.example/h", Workspace: "community"}, http.StatusBadRequest, &e)
	if e.Error.Field != "url" {
		t.Errorf("plain http off loopback: field %q", e.Error.Field)
	}
	do(h.Keys["cert-fr:admin"], "POST", "/api/v1/webhooks", webhook.Input{URL: "https://x.example/h"}, http.StatusBadRequest, &e)
	if e.Error.Field != "workspace" {
		t.Errorf("no private workspace: field %q", e.Error.Field)
	}
	do(h.Keys["cert-fr:admin"], "POST", "/api/v1/webhooks", webhook.Input{URL: "https://x.example/h", Workspace: "community", Events: []string{"gossip"}}, http.StatusBadRequest, &e)
	if e.Error.Field != "events" {
		t.Errorf("unknown event kind: field %q", e.Error.Field)
	}

	recv := map[string]*receiver{"cert-fr": newReceiver(t, 0), "cert-be": newReceiver(t, 0), "cert-uk": newReceiver(t, 2)}
	hooks := map[string]string{}
	for org, r := range recv {
		var reg webhook.Registered
		do(h.Keys[org+":admin"], "POST", "/api/v1/webhooks", webhook.Input{URL: r.URL + "/" + org, Workspace: "community"}, http.StatusCreated, &reg)
		if r.secret, _ = hex.DecodeString(reg.Secret); len(r.secret) == 0 || reg.Org != org {
			t.Fatalf("registration: %+v", reg)
		}
		hooks[org] = reg.ID
		// The registration is the organisation's alone, and carries no secret.
		status, body := srv.Do(t, h.Keys[org], "GET", "/api/v1/objects/"+reg.ID, nil)
		if status != http.StatusOK || bytes.Contains(body, []byte(reg.Secret)) {
			t.Errorf("%s reads its registration: %d %s", org, status, body)
		}
		for other := range recv {
			if other != org {
				if status, _ := srv.Do(t, h.Keys[other], "GET", "/api/v1/objects/"+reg.ID, nil); status != http.StatusNotFound {
					t.Errorf("%s reads %s's registration: %d", other, org, status)
				}
			}
		}
	}
	var list []webhook.Hook
	do(h.Keys["cert-be:read"], "GET", "/api/v1/webhooks", nil, http.StatusOK, &list)
	if len(list) != 1 || list[0].ID != hooks["cert-be"] {
		t.Errorf("cert-be lists %+v", list)
	}

	go ws.Run(ctx, h.Bus, 0)
	go cs.FollowCorrelations(ctx, h.Bus)
	time.Sleep(100 * time.Millisecond) // both subscribe from now on

	green := indicator(1, "senate.example", stix.TLP2Green)
	h.Ingest(t, "cert-be", "community", bundle(t, green))
	red := indicator(2, "red.example", stix.TLP2Red)
	h.Ingest(t, "cert-be", "community", bundle(t, red), "cert-uk")
	var sg collab.Sighting
	do(h.Keys["cert-uk"], "POST", "/api/v1/sightings", map[string]any{"sighting_of_ref": green["id"], "x_cshub_anonymous": true}, http.StatusCreated, &sg)
	do(h.Keys["cert-uk"], "POST", "/api/v1/notes", map[string]any{"object_refs": []string{green["id"].(string)}, "content": "@cert-fr look"}, http.StatusCreated, nil)
	h.Ingest(t, "cert-fr", "community", bundle(t, indicator(3, "senate.example", stix.TLP2Amber)))

	kinds := func(org string) []string {
		var out []string
		for _, d := range recv[org].deliveries() {
			k := d.kind
			if d.d.ObjectID != "" {
				k += " " + d.d.ObjectID
			}
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	want := map[string][]string{
		"cert-fr": {"correlation indicator--00000000-0000-4000-8000-000000000003", "mention", "object", "object", "sighting"},
		"cert-be": {"correlation indicator--00000000-0000-4000-8000-000000000001", "note", "object", "object", "object", "sighting"},
		"cert-uk": {"note", "object", "object", "object", "sighting"},
	}
	for org, w := range want {
		waitFor(t, org+"'s deliveries", func() bool { return len(recv[org].deliveries()) >= len(w) })
	}
	time.Sleep(200 * time.Millisecond) // and nothing more arrives
	for org, w := range want {
		if got := kinds(org); !slices.Equal(got, w) {
			t.Errorf("%s received %q, want %q", org, got, w)
		}
		for _, d := range recv[org].deliveries() {
			if d.valid != nil {
				t.Errorf("%s: delivery %s: signature: %v", org, d.d.ID, d.valid)
			}
			if bytes.Contains(d.raw, []byte("red.example")) && org == "cert-fr" {
				t.Errorf("cert-fr received the RED indicator not addressed to it")
			}
			if d.kind == "sighting" && bytes.Contains(d.raw, []byte("cert-uk")) {
				t.Errorf("%s: the anonymous sighting names its author: %s", org, d.raw)
			}
		}
	}
	// cert-uk's receiver failed twice: three attempts, the last delivered.
	var log []webhook.Attempt
	do(h.Keys["cert-uk:read"], "GET", "/api/v1/webhooks/"+hooks["cert-uk"]+"/deliveries", nil, http.StatusOK, &log)
	if len(log) < 3 || log[0].Status != 503 || log[0].Done || log[1].Attempt != 2 || log[2].Attempt != 3 || !log[2].Done || log[0].Delivery != log[2].Delivery {
		t.Errorf("cert-uk's delivery log: %+v", log[:min(3, len(log))])
	}
	do(h.Keys["cert-fr:read"], "GET", "/api/v1/webhooks/"+hooks["cert-uk"]+"/deliveries", nil, http.StatusNotFound, nil)

	// A deleted webhook receives nothing more.
	do(h.Keys["cert-fr:admin"], "DELETE", "/api/v1/webhooks/"+hooks["cert-fr"], nil, http.StatusNoContent, nil)
	do(h.Keys["cert-be:admin"], "DELETE", "/api/v1/webhooks/"+hooks["cert-fr"], nil, http.StatusNotFound, nil)
	before := len(recv["cert-fr"].deliveries())
	h.Ingest(t, "cert-be", "community", bundle(t, indicator(4, "after.example", stix.TLP2Green)))
	waitFor(t, "cert-be's delivery of the last object", func() bool { return len(recv["cert-be"].deliveries()) == len(want["cert-be"])+1 })
	time.Sleep(100 * time.Millisecond)
	if after := len(recv["cert-fr"].deliveries()); after != before {
		t.Errorf("a deleted webhook received %d more deliveries", after-before)
	}
}
