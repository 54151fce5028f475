package metrics

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cshub/internal/api"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestExpositionGolden writes one metric of each kind, with labels that need escaping, and
// compares the text with the golden file.
func TestExpositionGolden(t *testing.T) {
	r := New()
	c := r.Counter("cshub_test_requests_total", "Requests with a \\ and\na newline.", "route", "code")
	c.With("GET /api/v1/objects/{id}", "200").Add(3)
	c.With(`odd "quoted" \ value`+"\n", "500").Inc()
	c.With("GET /api/v1/objects/{id}", "200").Add(-5) // ignored: counters never go down
	r.Gauge("cshub_test_depth", "A gauge.").With().Set(-2.5)
	r.GaugeFunc("cshub_test_func", "A gauge read at scrape time.", func() float64 { return 42 })
	h := r.Histogram("cshub_test_seconds", "A histogram.", []float64{0.1, 1}, "route")
	for _, v := range []float64{0.05, 0.1, 0.5, 2} {
		h.With("POST /api/v1/match").Observe(v)
	}
	var b bytes.Buffer
	if _, err := r.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "exposition.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("got\n%s\nwant\n%s", b.Bytes(), want)
	}
}

func TestRegistryRefusesBadNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		reg  func(r *Registry)
	}{
		{"no prefix", func(r *Registry) { r.Gauge("requests", "") }},
		{"counter without _total", func(r *Registry) { r.Counter("cshub_requests", "") }},
		{"bad character", func(r *Registry) { r.Gauge("cshub_a-b", "") }},
		{"twice", func(r *Registry) { r.Gauge("cshub_x", ""); r.Gauge("cshub_x", "") }},
		{"unsorted buckets", func(r *Registry) { r.Histogram("cshub_h", "", []float64{2, 1}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("accepted")
				}
			}()
			tc.reg(New())
		})
	}
}

// scrape returns the registry's text.
func scrape(t *testing.T, m *Hub) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := m.Registry.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestInstrumentLabelsByRoute serves the real API behind Instrument on each store and checks
// that requests are counted under their route pattern and status, never under their path.
func TestInstrumentLabelsByRoute(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			h := hubtest.New(t, backend)
			m := NewHub()
			srv := httptest.NewTLSServer(m.Instrument(api.New(api.Config{KB: h.KB, Dir: h.Store, Auth: h.Auth})))
			defer srv.Close()
			for _, tc := range []struct {
				key, path string
				want      int
			}{
				{h.Keys["cert-fr"], "/api/v1/objects", 200},
				{h.Keys["cert-fr"], "/api/v1/objects", 200},
				{"", "/api/v1/objects", 401},
				{h.Keys["cert-fr"], "/api/v1/objects/indicator--00000000-0000-4000-8000-000000000000", 404},
				{h.Keys["cert-fr"], "/api/v1/nothing-here", 404},
			} {
				req, _ := http.NewRequest("GET", srv.URL+tc.path, nil)
				if tc.key != "" {
					req.Header.Set("Authorization", "Bearer "+tc.key)
				}
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Fatalf("%s: %d, want %d", tc.path, resp.StatusCode, tc.want)
				}
			}
			text := scrape(t, m)
			for _, want := range []string{
				`cshub_http_requests_total{route="GET /api/v1/objects",code="200"} 2`,
				`cshub_http_requests_total{route="GET /api/v1/objects",code="401"} 1`,
				`cshub_http_requests_total{route="GET /api/v1/objects/{id}",code="404"} 1`,
				`cshub_http_requests_total{route="/api/",code="404"} 1`,
				`cshub_http_request_duration_seconds_count{route="GET /api/v1/objects"} 3`,
				"cshub_http_requests_in_flight 0",
			} {
				if !strings.Contains(text, want+"\n") {
					t.Errorf("scrape lacks %q:\n%s", want, text)
				}
			}
			if strings.Contains(text, "indicator--") {
				t.Error("a path became a label value")
			}
		})
	}
}

// TestReadiness: not ready until the indexes are loaded, ready while the store answers, not
// ready once it does not.
func TestReadiness(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			h := hubtest.New(t, backend)
			m := NewHub()
			ping := func(ctx context.Context) error { _, _, err := h.Store.Keyring(ctx); return err }
			ready := m.Readiness(ping)
			probe := func() int {
				w := httptest.NewRecorder()
				ready.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
				return w.Code
			}
			if got := probe(); got != http.StatusServiceUnavailable {
				t.Fatalf("before loading: %d", got)
			}
			ready.MarkLoaded()
			if got := probe(); got != http.StatusOK {
				t.Fatalf("loaded: %d", got)
			}
			if !strings.Contains(scrape(t, m), "cshub_ready 1\n") {
				t.Error("cshub_ready is not 1 when ready")
			}
			h.Store.Close()
			if got := probe(); got != http.StatusServiceUnavailable {
				t.Fatalf("store closed: %d", got)
			}
		})
	}
}

// TestHandlerGuardsNonLoopback: loopback peers scrape freely; others need the token.
func TestHandlerGuardsNonLoopback(t *testing.T) {
	m := NewHub()
	for _, tc := range []struct {
		peer, token, auth string
		want              int
	}{
		{"127.0.0.1:5000", "", "", 200},
		{"[::1]:5000", "", "", 200},
		{"192.0.2.7:5000", "", "", 403},
		{"192.0.2.7:5000", "", "Bearer ", 403},
		{"192.0.2.7:5000", "s3cret", "", 403},
		{"192.0.2.7:5000", "s3cret", "Bearer wrong", 403},
		{"192.0.2.7:5000", "s3cret", "Bearer s3cret", 200},
	} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.RemoteAddr = tc.peer
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		w := httptest.NewRecorder()
		m.Handler(tc.token).ServeHTTP(w, req)
		if w.Code != tc.want {
			t.Errorf("peer %s token %q auth %q: %d, want %d", tc.peer, tc.token, tc.auth, w.Code, tc.want)
		}
		if w.Code == 200 && !strings.Contains(w.Body.String(), "\ncshub_") {
			t.Errorf("scrape without cshub_ lines: %s", w.Body.String())
		}
	}
}

// TestFollowBusCountsIngest ingests through a real hub and counts what the bus announced.
func TestFollowBusCountsIngest(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			h := hubtest.New(t, backend)
			m := NewHub()
			ctx, cancel := context.WithCancel(context.Background())
			events, err := h.Bus.Subscribe(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { m.FollowBus(events); close(done) }()
			sum := h.Ingest(t, "cert-fr", hubtest.Community, indicators(7))
			want := fmt.Sprintf("cshub_ingest_objects_total %d\n", sum.Accepted)
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(scrape(t, m), want) {
				if time.Now().After(deadline) {
					t.Fatalf("scrape lacks %q:\n%s", want, scrape(t, m))
				}
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			<-done
			if !strings.Contains(scrape(t, m), fmt.Sprintf(`cshub_bus_events_total{kind=%q} %d`, hub.EventObject, sum.Accepted)) {
				t.Error("events are not counted by kind")
			}
		})
	}
}

// indicators returns a bundle of n indicators.
func indicators(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"type":"bundle","id":"bundle--6f1b2c1e-0000-4000-8000-000000000000","objects":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"indicator","spec_version":"2.1","id":"indicator--6f1b2c1e-0000-4000-8000-%012d","created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z","pattern":"[domain-name:value = 'metrics%d.example']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}`, i, i)
	}
	b.WriteString("]}")
	return []byte(b.String())
}
