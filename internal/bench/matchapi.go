package bench

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"cshub/internal/access"
	"cshub/internal/api"
	"cshub/internal/auth"
	"cshub/internal/bus"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/lookup"
	"cshub/internal/members"
)

// matchBatch is how many values one POST /api/v1/match carries, as the issue names it.
const matchBatch = 1000

// MatchAPI measures POST /api/v1/match over loopback (TLS, keep-alive, one client per core
// and one more so that the server never waits for a request) against a hub holding
// indicators synthetic indicators, 1,000 values a request, in values per second: a realistic
// stream, nine values in ten missing. Beside it, in the same run, the same batches looked up
// by the lookup service in process, without HTTP or JSON, as many goroutines: the floor the
// endpoint adds its transport and encoding to.
func MatchAPI(ctx context.Context, dir string, indicators int, d time.Duration) ([]Row, error) {
	st, b, err := sealedStore(ctx, filepath.Join(dir, "match.db"))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if err := benchWorkspace(ctx, st); err != nil {
		return nil, err
	}
	a, err := auth.New(auth.Config{Directory: st})
	if err != nil {
		return nil, err
	}
	m := members.New(st, b, a, nil)
	u, err := m.CreateUser(ctx, members.NewUser{Org: "bench", Username: "bench-analyst", Role: hub.RoleAnalyst, Password: crand.Text()})
	if err != nil {
		return nil, err
	}
	key, _, err := m.CreateAPIKey(ctx, u.User, hub.ScopeRead, time.Time{})
	if err != nil {
		return nil, err
	}
	events := bus.New(bus.Options{})
	defer events.Close()
	k := kb.New(kb.Config{Store: st, Sealer: b, Bus: events})
	bundle := SyntheticIndicators(indicators, 1)
	if _, err := k.Ingest(ctx, kb.Submission{Org: "bench", Workspace: "bench"}, bytes.NewReader(bundle)); err != nil {
		return nil, err
	}
	lookups := lookup.New(k, nil)
	if _, err := lookups.Load(ctx); err != nil {
		return nil, err
	}
	batches, err := matchBatches(bundle, 64)
	if err != nil {
		return nil, err
	}
	v, err := access.ViewerFor(ctx, st, "bench", access.PathMatch)
	if err != nil {
		return nil, err
	}
	clients := 3
	direct, directCPU, err := rate(clients, d, func(i int) error {
		lookups.Lookup(v, batches[i%len(batches)].values)
		return nil
	})
	if err != nil {
		return nil, err
	}
	srv := httptest.NewTLSServer(api.New(api.Config{KB: k, Dir: st, Auth: a, Lookup: lookups}))
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = clients
	overHTTP, overHTTPCPU, err := rate(clients, d, func(i int) error {
		req, err := http.NewRequestWithContext(ctx, "POST", srv.URL+"/api/v1/match", bytes.NewReader(batches[i%len(batches)].body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("bench: POST /api/v1/match: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// On a loaded machine the wall clock counts the time other processes ran: the rates per
	// second of the process's CPU time (client and server together over HTTP) say what the
	// work itself cost.
	name := fmt.Sprintf("POST /api/v1/match, %d values a request, %d indicators held (per CPU-second: %.0f, in process %.0f)",
		matchBatch, indicators, overHTTPCPU*matchBatch, directCPU*matchBatch)
	return []Row{{Name: name, Value: overHTTP * matchBatch, Unit: "values/s", Baseline: "the lookup service in process, same batches", Base: direct * matchBatch}}, nil
}

// batch is one request's values and its JSON body.
type batch struct {
	values []string
	body   []byte
}

// matchBatches returns n batches of matchBatch values: one in ten a value of an indicator of
// bundle (as SyntheticIndicators writes it), the rest drawn from the same mix and so, almost
// always, held by nothing.
func matchBatches(bundle []byte, n int) ([]batch, error) {
	var held []string
	for _, line := range bytes.Split(bundle, []byte("\n")) {
		// A pattern is "[type:value = 'V']" or "[file:hashes.'SHA-256' = 'V']": V is what
		// follows the last "= '".
		if _, after, ok := bytes.Cut(line, []byte(`"pattern":"`)); ok {
			p, _, _ := strings.Cut(string(after), `"`)
			if i := strings.LastIndex(p, "= '"); i >= 0 {
				held = append(held, strings.TrimSuffix(p[i+3:], "']"))
			}
		}
	}
	if len(held) == 0 {
		return nil, fmt.Errorf("bench: no pattern values in the bundle")
	}
	r := rand.New(rand.NewPCG(7, 7))
	out := make([]batch, n)
	for i := range out {
		vs := make([]string, matchBatch)
		for j := range vs {
			if r.IntN(10) == 0 {
				vs[j] = held[r.IntN(len(held))]
			} else {
				_, _, vs[j] = syntheticValue(r)
			}
		}
		body, err := json.Marshal(map[string][]string{"values": vs})
		if err != nil {
			return nil, err
		}
		out[i] = batch{values: vs, body: body}
	}
	return out, nil
}

// rate runs fn from workers goroutines for about d, each call numbered, and returns the calls
// per second of wall-clock time and per second of the process's CPU time.
func rate(workers int, d time.Duration, fn func(i int) error) (wall, cpu float64, err error) {
	var (
		mu    sync.Mutex
		calls int
		first error
		wg    sync.WaitGroup
	)
	start, cpu0 := time.Now(), cpuTime()
	for w := range workers {
		wg.Go(func() {
			n := 0
			for i := w; time.Since(start) < d; i += workers {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
				n++
			}
			mu.Lock()
			calls += n
			mu.Unlock()
		})
	}
	wg.Wait()
	return float64(calls) / time.Since(start).Seconds(), float64(calls) / (cpuTime() - cpu0).Seconds(), first
}
