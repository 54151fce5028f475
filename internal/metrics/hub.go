package metrics

import (
	"context"
	"crypto/subtle"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"cshub/internal/hub"
)

// Hub is the set of metrics a serving hub exposes. Ingest rates come from the bus (every
// stored object version is announced there), request counts, errors and latencies from the
// HTTP middleware, whose per-route histogram also gives the match and ingest latencies:
// route "POST /api/v1/match" and "POST /api/v1/workspaces/{ws}/bundles".
type Hub struct {
	Registry *Registry

	requests *CounterVec   // route, code
	latency  *HistogramVec // route
	inFlight *Gauge
	events   *CounterVec   // kind
	objects  *Counter      // object versions stored
	delay    *HistogramVec // from an event's time to its delivery here
	backlog  atomic.Int64  // events delivered to our subscription and not yet read
	ready    *Gauge
}

// NewHub registers the hub's metrics in a new registry.
func NewHub() *Hub {
	r := New()
	m := &Hub{
		Registry: r,
		requests: r.Counter("cshub_http_requests_total", "HTTP requests answered, by route pattern and status code.", "route", "code"),
		latency:  r.Histogram("cshub_http_request_duration_seconds", "Time to answer an HTTP request, by route pattern (streams: their whole life).", nil, "route"),
		inFlight: r.Gauge("cshub_http_requests_in_flight", "HTTP requests being answered now.").With(),
		events:   r.Counter("cshub_bus_events_total", "Events received from the bus, by kind.", "kind"),
		objects:  r.Counter("cshub_ingest_objects_total", "Object versions stored by any replica (the ingest rate is its rate).").With(),
		delay:    r.Histogram("cshub_bus_delay_seconds", "Time from an event's creation to its delivery to this replica (bus lag).", nil),
		ready:    r.Gauge("cshub_ready", "1 once the indexes are loaded and the store answers, else 0.").With(),
	}
	r.GaugeFunc("cshub_bus_backlog", "Events delivered to this replica's metrics subscription and not yet counted (queue depth).", func() float64 { return float64(m.backlog.Load()) })
	r.GaugeFunc("cshub_go_goroutines", "Goroutines in this process.", func() float64 { return float64(runtime.NumGoroutine()) })
	start := time.Now()
	r.GaugeFunc("cshub_uptime_seconds", "Seconds since this process began serving.", func() float64 { return time.Since(start).Seconds() })
	return m
}

// Instrument wraps next, counting and timing every request by the pattern of the ServeMux
// route that answered it. Patterns, not paths, label the series, so object ids and other
// caller-chosen strings never become label values.
func (m *Hub) Instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inFlight.Add(1)
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			m.inFlight.Add(-1)
			route := r.Pattern // set by the innermost ServeMux that matched, on this same request
			if route == "" {
				route = "unmatched"
			}
			m.requests.With(route, strconv.Itoa(sw.code)).Inc()
			m.latency.With(route).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

// statusWriter remembers the status code; Unwrap lets http.ResponseController reach the
// flushing and deadlines of the connection (the event stream needs them).
type statusWriter struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wroteHeader {
		s.code, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(p)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush passes a flush on, for handlers that assert http.Flusher rather than use a controller.
func (s *statusWriter) Flush() {
	s.wroteHeader = true
	http.NewResponseController(s.ResponseWriter).Flush()
}

// FollowBus counts the events of a subscription until it ends: call it in its own goroutine
// with a subscription taken from the hub's bus (Subscribe(ctx, 0)).
func (m *Hub) FollowBus(events <-chan hub.Event) {
	for e := range events {
		m.backlog.Store(int64(len(events)))
		m.events.With(e.Kind).Inc()
		if e.Kind == hub.EventObject {
			m.objects.Inc()
		}
		if !e.Time.IsZero() {
			m.delay.With().Observe(max(0, time.Since(e.Time).Seconds()))
		}
	}
}

// Handler serves the registry to a scraper. Peers on loopback are always answered; others only
// with "Authorization: Bearer token" when token is not empty. The figures reveal no content but
// do reveal how active the hub and its members are, which is not for the open network.
func (m *Hub) Handler(token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackPeer(r) {
			got := r.Header.Get("Authorization")
			if token == "" || subtle.ConstantTimeCompare([]byte(got), []byte("Bearer "+token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="cshub-metrics"`)
				http.Error(w, "metrics are served to loopback, or with the scrape token", http.StatusForbidden)
				return
			}
		}
		m.Registry.ServeHTTP(w, r)
	})
}

func loopbackPeer(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Readiness answers GET /readyz: 200 once MarkLoaded has been called and ping succeeds within
// a few seconds, 503 otherwise. Load balancers send traffic only to a ready replica; /healthz
// stays the liveness probe.
type Readiness struct {
	loaded atomic.Bool
	ping   func(context.Context) error
	gauge  *Gauge
}

// Readiness returns a readiness probe that asks ping whether the store answers. For a
// hub.Store a cheap ping is reading the keyring: it exists in every hub and is one row.
func (m *Hub) Readiness(ping func(context.Context) error) *Readiness {
	return &Readiness{ping: ping, gauge: m.ready}
}

// MarkLoaded records that the in-memory indexes (matching, search) are built.
func (r *Readiness) MarkLoaded() { r.loaded.Store(true) }

// pingTimeout bounds the store check of one probe.
const pingTimeout = 3 * time.Second

func (r *Readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	status, msg := http.StatusOK, `{"status":"ready"}`
	if !r.loaded.Load() {
		status, msg = http.StatusServiceUnavailable, `{"status":"loading"}`
	} else {
		ctx, cancel := context.WithTimeout(req.Context(), pingTimeout)
		defer cancel()
		if err := r.ping(ctx); err != nil {
			status, msg = http.StatusServiceUnavailable, `{"status":"store unavailable"}`
		}
	}
	if status == http.StatusOK {
		r.gauge.Set(1)
	} else {
		r.gauge.Set(0)
	}
	w.WriteHeader(status)
	w.Write([]byte(msg + "\n"))
}
