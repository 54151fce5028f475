package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"cshub/internal/hub"
	"cshub/internal/stix"
)

// loadOps are the operations of a load test, with their share of the requests: mostly the
// reads a member's SIEM and analysts make, some ingest, a few live streams.
var loadOps = []struct {
	name   string
	weight int
}{{"match", 40}, {"list", 30}, {"ingest", 20}, {"stream", 10}}

// loadConfig is what a load test runs against and how hard.
type loadConfig struct {
	url       string
	keys      []string // write-scoped API keys; clients take them in turn
	workspace string
	clients   int
	duration  time.Duration
	client    *http.Client
}

// opStats are the figures of one operation.
type opStats struct {
	Requests int      `json:"requests"`
	Errors   int      `json:"errors"`
	P50ms    float64  `json:"p50_ms"`
	P99ms    float64  `json:"p99_ms"`
	MaxMs    float64  `json:"max_ms"`
	Samples  []string `json:"error_samples,omitempty"`
}

// mintKey makes a new write key for the holder of key through POST /api/v1/keys.
func mintKey(ctx context.Context, cfg loadConfig, key string) (string, error) {
	body := fmt.Sprintf(`{"scope":"write","expires":%q}`, time.Now().Add(2*time.Hour).UTC().Format(time.RFC3339))
	req, err := http.NewRequestWithContext(ctx, "POST", cfg.url+"/api/v1/keys", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := cfg.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Secret string `json:"secret"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated || out.Secret == "" {
		return "", fmt.Errorf("POST /api/v1/keys: %s (%v)", resp.Status, err)
	}
	return out.Secret, nil
}

// runLoadtest drives a serving hub with concurrent API clients for a while and prints, per
// operation, the requests, errors and latency percentiles. It fails when any request failed.
func runLoadtest(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "loadtest")
	target := fs.String("url", "", "base `URL` of the hub (required; loopback only)")
	creds := fs.String("credentials", "", "demo-credentials.json `file` whose API keys the clients use")
	keys := fs.String("keys", "", "comma-separated write API `keys` the clients use, instead of --credentials")
	ws := fs.String("workspace", "community", "workspace `slug` to ingest into")
	clients := fs.Int("clients", 200, "concurrent `clients`")
	duration := fs.Duration("duration", time.Minute, "how long to run")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	u, err := url.Parse(*target)
	if err != nil || u.Host == "" {
		return hub.FieldError("url", "required: the hub's base URL, such as https://127.0.0.1:8443")
	}
	// A load test is a denial of service by design: it is only ever aimed at a hub on this machine.
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return hub.FieldError("url", "%s is not a loopback address", u.Hostname())
	}
	cfg := loadConfig{url: strings.TrimSuffix(*target, "/"), workspace: *ws, clients: *clients, duration: *duration}
	cfg.keys = list([]string{*keys})
	if *creds != "" {
		c, err := loadCredentials(*creds)
		if err != nil || c == nil {
			return hub.FieldError("credentials", "cannot read %s: %v", *creds, err)
		}
		for _, u := range c.Users {
			cfg.keys = append(cfg.keys, u.APIKey)
		}
	}
	if len(cfg.keys) == 0 {
		return hub.FieldError("keys", "give --keys or --credentials")
	}
	if cfg.clients < 1 || cfg.duration <= 0 {
		return hub.FieldError("clients", "need at least one client and a positive duration")
	}
	// The hub on loopback presents the self-signed certificate of its data directory.
	cfg.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true},
		MaxIdleConnsPerHost: cfg.clients,
	}}
	stats, err := loadTest(ctx, cfg)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"clients": cfg.clients, "duration": cfg.duration.String(), "operations": stats}); err != nil {
		return err
	}
	errs := 0
	for _, s := range stats {
		errs += s.Errors
	}
	if errs > 0 {
		return hub.Errorf(hub.EUnavailable, "%d requests failed", errs)
	}
	return nil
}

// loadTest runs cfg.clients clients until cfg.duration has passed and returns the figures of
// each operation. Each client works with a key of its own, as each SIEM, sensor and analyst of
// a member does: when fewer keys are given, it first mints the rest (write scope, expiring in two
// hours) with those given, so that the per-key rate limit meets realistic traffic, not 200
// clients crowding one credential.
func loadTest(ctx context.Context, cfg loadConfig) (map[string]*opStats, error) {
	for len(cfg.keys) < cfg.clients {
		key, err := mintKey(ctx, cfg, cfg.keys[len(cfg.keys)%len(cfg.keys)])
		if err != nil {
			return nil, fmt.Errorf("minting a key per client: %w", err)
		}
		cfg.keys = append(cfg.keys, key)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	type sample struct {
		op  string
		d   time.Duration
		err error
	}
	var (
		mu      sync.Mutex
		samples []sample
		wg      sync.WaitGroup
	)
	total := 0
	for _, o := range loadOps {
		total += o.weight
	}
	for i := range cfg.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := cfg.keys[i%len(cfg.keys)]
			rng := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			var mine []sample
			for ctx.Err() == nil {
				n, op := rng.IntN(total), ""
				for _, o := range loadOps {
					if n -= o.weight; n < 0 {
						op = o.name
						break
					}
				}
				start := time.Now()
				err := loadOp(ctx, cfg, key, op, rng)
				if ctx.Err() != nil && err != nil {
					break // cut short by the end of the run, not a failure of the hub
				}
				mine = append(mine, sample{op, time.Since(start), err})
			}
			mu.Lock()
			samples = append(samples, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	byOp := map[string][]time.Duration{}
	stats := map[string]*opStats{}
	for _, o := range loadOps {
		stats[o.name] = &opStats{}
	}
	for _, s := range samples {
		st := stats[s.op]
		st.Requests++
		if s.err != nil {
			st.Errors++
			if len(st.Samples) < 5 {
				st.Samples = append(st.Samples, s.err.Error())
			}
			continue
		}
		byOp[s.op] = append(byOp[s.op], s.d)
	}
	for op, ds := range byOp {
		slices.Sort(ds)
		ms := func(q float64) float64 { return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) / 1000 }
		stats[op].P50ms, stats[op].P99ms, stats[op].MaxMs = ms(0.50), ms(0.99), ms(1)
	}
	return stats, nil
}

// loadOp makes one request of kind op and reads the whole answer.
func loadOp(ctx context.Context, cfg loadConfig, key, op string, rng *rand.Rand) error {
	var req *http.Request
	var err error
	switch op {
	case "match":
		vals := make([]string, 20)
		for i := range vals {
			vals[i] = fmt.Sprintf("198.51.100.%d", rng.IntN(256))
		}
		vals[0] = "login-ministry.example" // a value the demo scenario holds
		b, _ := json.Marshal(map[string]any{"values": vals})
		req, err = http.NewRequestWithContext(ctx, "POST", cfg.url+"/api/v1/match", bytes.NewReader(b))
	case "list":
		req, err = http.NewRequestWithContext(ctx, "GET", cfg.url+"/api/v1/objects?type=indicator&limit=50", nil)
	case "ingest":
		req, err = http.NewRequestWithContext(ctx, "POST", cfg.url+"/api/v1/workspaces/"+cfg.workspace+"/bundles", bytes.NewReader(loadBundle(5)))
	case "stream":
		// A live stream stays open; a client that watches it briefly and leaves is the load.
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		req, err = http.NewRequestWithContext(sctx, "GET", cfg.url+"/api/v1/stream", nil)
	}
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := cfg.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("%s: %d %s", op, resp.StatusCode, b)
	}
	if op == "stream" {
		return nil // connected and authorised: the latency is the time to the headers
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// loadBundle returns a bundle of n new indicators on documentation addresses.
func loadBundle(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"type":"bundle","id":"bundle--` + stix.NewUUID() + `","objects":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"indicator","spec_version":"2.1","id":"indicator--%s","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '203.0.113.%d']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}`,
			stix.NewUUID(), i)
	}
	b.WriteString("]}")
	return b.Bytes()
}
