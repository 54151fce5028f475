package collab_test

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"

	"cshub/internal/collab"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
)

func TestCorrelations(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		f.workspace(t, "pair", hub.WorkspaceGroup, "cert-be", "cert-uk")

		// Follow correlations, and listen to what they publish.
		events, err := f.h.Bus.Subscribe(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var told []string // "org object" per correlation event, in order
		go func() {
			for e := range events {
				if e.Kind == hub.EventCorrelation {
					mu.Lock()
					told = append(told, e.Author+" "+e.ObjectID)
					mu.Unlock()
				}
			}
		}()
		followed := make(chan error, 1)
		go func() { followed <- f.s.FollowCorrelations(ctx, f.h.Bus) }()
		// FollowCorrelations subscribes from now on: a first event through it proves it
		// listens before the test ingests.
		f.ingest(t, "cert-fr", hubtest.Community, nil, indicator(90, "warmup.example", hub.TLPGreen))

		a := f.ingest(t, "cert-fr", hubtest.Community, nil, indicator(1, "senate.example", hub.TLPGreen))[0]
		b := f.ingest(t, "cert-be", hubtest.Community, nil, indicator(2, "SENATE.example.", hub.TLPAmber))[0]
		c := f.ingest(t, "cert-uk", hubtest.Community, nil, indicator(3, "senate.example", hub.TLPRed))[0]
		d := f.ingest(t, "cert-uk", "pair", nil, indicator(4, "senate.example", hub.TLPGreen))[0]
		want := []string{
			"cert-be " + b, "cert-fr " + a, // b's arrival tells both
			"cert-uk " + c,                                 // the RED c tells its author only: nobody else may see or count it
			"cert-uk " + d, "cert-fr " + a, "cert-be " + b, // fr may count d, be may see it
		}
		waitFor(t, "correlation events", func() bool { mu.Lock(); defer mu.Unlock(); return len(told) >= len(want) })
		mu.Lock()
		got := slices.Clone(told)
		mu.Unlock()
		// Within one arrival the order of the other holders is the store's; compare per arrival.
		for _, span := range [][2]int{{0, 2}, {2, 3}, {3, 6}} {
			g, w := slices.Clone(got[span[0]:span[1]]), slices.Clone(want[span[0]:span[1]])
			slices.Sort(g)
			slices.Sort(w)
			if !slices.Equal(g, w) {
				t.Errorf("events %v: got %q, want %q", span, g, w)
			}
		}

		for _, tc := range []struct {
			org  string
			want map[string]collab.Correlation // by object
		}{
			{"cert-fr", map[string]collab.Correlation{a: {HeldBy: []collab.Holder{{Org: "cert-be", Object: b, Workspace: "community"}}, OtherMembers: 1}}},
			{"cert-be", map[string]collab.Correlation{b: {HeldBy: []collab.Holder{{Org: "cert-fr", Object: a, Workspace: "community"}, {Org: "cert-uk", Object: d, Workspace: "pair"}}}}},
			{"cert-uk", map[string]collab.Correlation{
				c: {HeldBy: []collab.Holder{{Org: "cert-fr", Object: a, Workspace: "community"}, {Org: "cert-be", Object: b, Workspace: "community"}}},
				d: {HeldBy: []collab.Holder{{Org: "cert-fr", Object: a, Workspace: "community"}, {Org: "cert-be", Object: b, Workspace: "community"}}},
			}},
		} {
			var got []collab.Correlation
			f.call(t, tc.org, "GET", "/api/v1/correlations", nil, http.StatusOK, &got)
			if len(got) != len(tc.want) {
				t.Errorf("%s: %d correlations, want %d: %s", tc.org, len(got), len(tc.want), mustJSON(got))
				continue
			}
			for _, c := range got {
				w, ok := tc.want[c.Object]
				if !ok || c.Value != "domain-name:senate.example" || c.OtherMembers != w.OtherMembers || !sameHolders(c.HeldBy, w.HeldBy) {
					t.Errorf("%s: %s, want %s", tc.org, mustJSON(c), mustJSON(w))
				}
			}
		}
		// Another's object is not the caller's to be told about.
		f.call(t, "cert-fr", "GET", "/api/v1/correlations?object="+c, nil, http.StatusNotFound, nil)
		var none []collab.Correlation
		f.call(t, "cert-fr", "GET", "/api/v1/correlations?object="+b, nil, http.StatusOK, &none)
		if len(none) != 0 {
			t.Errorf("cert-fr is told about cert-be's object: %s", mustJSON(none))
		}
		cancel()
		<-followed
	})
}

func sameHolders(a, b []collab.Holder) bool {
	key := func(h collab.Holder) string { return h.Org + h.Object + h.Workspace }
	x, y := make([]string, len(a)), make([]string, len(b))
	for i, h := range a {
		x[i] = key(h)
	}
	for i, h := range b {
		y[i] = key(h)
	}
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
