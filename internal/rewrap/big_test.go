package rewrap_test

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/rewrap"
	"cshub/internal/seal"
	"cshub/internal/store/sqlite"
)

// TestRotationUnderLoad fills a SQLite store with CSHUB_BIG_N (default 1,000,000) small sealed
// objects, rotates the keys and rewraps everything while a reader keeps opening random objects
// through kb.Get. No read may fail. It logs the fill and rewrap rates and the reader's latency
// during the rewrap. It runs only with CSHUB_BIG=1:
//
//	CSHUB_BIG=1 go test ./internal/rewrap -run RotationUnderLoad -v -timeout 30m
func TestRotationUnderLoad(t *testing.T) {
	if os.Getenv("CSHUB_BIG") != "1" {
		t.Skip("set CSHUB_BIG=1 to fill a store with a million objects and rewrap them")
	}
	n := 1_000_000
	if v := os.Getenv("CSHUB_BIG_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatalf("CSHUB_BIG_N: %v", err)
		}
	}
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "big.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := seal.New(st)
	root := make([]byte, 32)
	rand.Read(root)
	must(t, b.Initialize(ctx, root))
	const workspaces = 8
	must(t, st.CreateOrg(ctx, &hub.Org{Code: "fr", Name: "CERT-FR", Country: "FR", Kind: hub.OrgMember, Active: true, Created: time.Now()}))
	for i := range workspaces {
		ws := fmt.Sprintf("ws%d", i)
		must(t, b.AddWorkspace(ctx, ws))
		must(t, st.CreateWorkspace(ctx, &hub.Workspace{Slug: ws, Name: ws, Kind: hub.WorkspaceCommunity, Members: []string{"fr"}, Created: time.Now()}))
	}

	// Fill: the fast path, sealed bodies straight into PutObjects.
	id := func(i int) string { return fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", i) }
	at := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	start := time.Now()
	const fillBatch = 5000
	for lo := 0; lo < n; lo += fillBatch {
		objs := make([]*hub.Object, 0, fillBatch)
		for i := lo; i < min(lo+fillBatch, n); i++ {
			o := &hub.Object{ID: id(i), Type: "indicator", Created: at, Modified: at, Workspace: fmt.Sprintf("ws%d", i%workspaces), Author: "fr", TLP: hub.TLPGreen}
			body := fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":%q,"pattern":"[ipv4-addr:value = '10.%d.%d.%d']"}`, o.ID, i>>16&255, i>>8&255, i&255)
			if o.Body, err = b.Encrypt(seal.ObjectLocation(o), []byte(body)); err != nil {
				t.Fatal(err)
			}
			objs = append(objs, o)
		}
		if _, err := st.PutObjects(ctx, objs, hub.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	fill := time.Since(start)
	t.Logf("fill: %d objects in %s (%.0f/s)", n, fill.Round(time.Millisecond), float64(n)/fill.Seconds())

	start = time.Now()
	census, err := rewrap.Census(ctx, st)
	must(t, err)
	t.Logf("census (what 'keys status' scans): %v in %s", census, time.Since(start).Round(time.Millisecond))

	// The reader: random objects through kb.Get, timed, from before the rotation to after the
	// rewrap.
	k := kb.New(kb.Config{Store: st, Sealer: b})
	var (
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		during   atomic.Bool
		mu       sync.Mutex
		lat      []time.Duration // reads while the rewrap ran
		reads    atomic.Int64
		readErrs atomic.Int64
		firstErr atomic.Value
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			want := id(mrand.IntN(n))
			t0 := time.Now()
			o, err := k.Get(ctx, hub.Viewer{System: true}, want, time.Time{})
			d := time.Since(t0)
			reads.Add(1)
			if err == nil && (o.ID != want || len(o.Body) == 0 || o.Body[0] != '{') {
				err = fmt.Errorf("read %s: got %s, body %.20q", want, o.ID, o.Body)
			}
			if err != nil {
				readErrs.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
			if during.Load() {
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}
	}()

	term, err := b.Rotate(ctx)
	must(t, err)
	during.Store(true)
	start = time.Now()
	sum, err := rewrap.Run(ctx, st, b, rewrap.Options{})
	elapsed := time.Since(start)
	during.Store(false)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Term != term || sum.Rewrapped != int64(n) {
		t.Errorf("summary = %+v, want %d rewrapped under term %d", *sum, n, term)
	}
	if e := readErrs.Load(); e > 0 {
		t.Errorf("%d of %d reads failed; first: %v", e, reads.Load(), firstErr.Load())
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	t.Logf("rewrap: %d bodies in %s (%.0f/s), term %d", sum.Rewrapped, elapsed.Round(time.Millisecond), float64(sum.Rewrapped)/elapsed.Seconds(), sum.Term)
	t.Logf("reader during rewrap: %d reads (%.0f/s), p50 %s, p99 %s, max %s; %d errors in %d reads overall",
		len(lat), float64(len(lat))/elapsed.Seconds(), pct(0.50), pct(0.99), pct(1), readErrs.Load(), reads.Load())

	census, err = rewrap.Census(ctx, st)
	must(t, err)
	if len(census) != 1 || census[term] != int64(n) {
		t.Errorf("census after = %v, want all %d under term %d", census, n, term)
	}
}
