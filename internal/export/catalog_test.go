package export

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"cshub/internal/export/record"
	"cshub/internal/hub"
)

// TestIndexChains: indicators whose ids hash alike (the same id in two workspaces always does,
// two ids may: here indicator--2 is given the hash of indicator--1) share a slot of the index and
// are told apart by workspace and id, in a catalog of every version (Delta, Forget) and in one
// of the latest versions only.
func TestIndexChains(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, latestOnly := range []bool{false, true} {
		c := NewCatalog(Config{LatestOnly: latestOnly, Now: func() time.Time { return t0.Add(time.Hour) }})
		keys := []key{{"a", "indicator--1"}, {"b", "indicator--1"}, {"a", "indicator--2"}}
		add := func(seq int64, k key, value string) {
			r := &record.Record{Object: record.Object{Seq: seq, ID: k.id, Type: "indicator", Workspace: k.workspace, TLP: hub.TLPClear,
				Modified: t0.Add(time.Duration(seq))}, Values: []Value{{Type: "ipv4-addr", Value: value}}}
			c.addIndicator(parsed{rec: r, hash: c.idHash("indicator--1"), exports: true})
			c.seq = seq
		}
		for i, k := range keys {
			add(int64(i+1), k, "10.0.0.1")
		}
		add(4, keys[1], "10.0.0.2") // a second version of one of them
		from := Point{Seq: 3, Time: t0.Add(time.Hour)}
		to := Point{Seq: 4, Time: t0.Add(time.Hour)}
		got := map[key]string{}
		for _, ind := range c.selectAll(&View{Viewer: system}, to) {
			got[key{ind.Workspace, ind.ID}] = ind.Values[0].Value
		}
		want := map[key]string{keys[0]: "10.0.0.1", keys[1]: "10.0.0.2", keys[2]: "10.0.0.1"}
		if len(got) != len(want) || got[keys[0]] != want[keys[0]] || got[keys[1]] != want[keys[1]] || got[keys[2]] != want[keys[2]] {
			t.Errorf("latest only %v: selected %v, want %v", latestOnly, got, want)
		}
		if latestOnly {
			continue
		}
		changed, removed := c.Delta(&View{Viewer: system}, from, to)
		if len(changed) != 1 || changed[0].Key() != "b/indicator--1" || len(removed) != 0 {
			t.Errorf("delta: changed %v, removed %v; want b/indicator--1 changed", changed, removed)
		}
		c.Forget("a", "indicator--1", 1)
		if h := c.history(keys[0], c.idHash("indicator--1")); h == nil || h.versions[0].gone.IsZero() {
			t.Errorf("forget a/indicator--1: not marked gone")
		}
		if h := c.history(keys[1], c.idHash("indicator--1")); h == nil || !h.versions[0].gone.IsZero() || h.versions[1].rec.Values[0].Value != "10.0.0.2" {
			t.Errorf("forget a/indicator--1: b/indicator--1 changed too")
		}
	}
}

// TestSelectMerges: the parts that the cores select and sort are merged into one order, the
// order of relevant, whatever the number of parts (three: one is carried to the next round).
func TestSelectMerges(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewCatalog(Config{LatestOnly: true, Now: func() time.Time { return t0 }})
	const n = 3 * 4096 // three parts of the least size package parsort sorts apart
	for i := range n {
		id := fmt.Sprintf("indicator--%d", i)
		r := &record.Record{Object: record.Object{Seq: int64(i + 1), ID: id, Type: "indicator", Workspace: "a", TLP: hub.TLPClear,
			Modified: t0.Add(-time.Duration(i%7) * time.Hour)}, Confidence: i * 31 % 101, Values: []Value{{Type: "ipv4-addr", Value: "10.0.0.1"}}}
		c.addIndicator(parsed{rec: r, hash: c.idHash(id), exports: true})
	}
	got := c.selectAll(&View{Viewer: system}, Point{Seq: n, Time: t0})
	if len(got) != n || !slices.IsSortedFunc(got, relevant) {
		t.Errorf("selected %d indicators, sorted: %v; want all %d, sorted", len(got), slices.IsSortedFunc(got, relevant), n)
	}
}

// TestRelevant: the order Select returns, whatever order the indicators come in.
func TestRelevant(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ind := func(ws, id string, sightings, confidence int, modified time.Time) *Indicator {
		return &Indicator{Record: &record.Record{Object: record.Object{ID: id, Workspace: ws, Modified: modified}, Confidence: confidence}, Sightings: sightings}
	}
	want := []*Indicator{
		ind("a", "indicator--9", 3, 0, t0),                 // most sightings
		ind("a", "indicator--8", 1, 90, t0),                // then the highest confidence
		ind("a", "indicator--7", 1, 50, t0.Add(time.Hour)), // then the latest modified
		ind("a", "indicator--6", 1, 50, t0.Add(time.Nanosecond).In(time.FixedZone("CET", 3600))),
		ind("a-b", "indicator--1", 1, 50, t0),                                  // then by key: "a-b/…" < "a/…"
		ind("a", "indicator--1", 1, 50, t0.In(time.FixedZone("EST", -5*3600))), // the same instant elsewhere
		ind("a", "indicator--2", 1, 50, t0),
		ind("a0", "indicator--1", 1, 50, t0), // "a/…" < "a0/…", though "a" + "indicator…" > "a0" + "indicator…"
		ind("a", "indicator--0", 0, -1, t0),  // no confidence last among the unsighted
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		got := slices.Clone(want)
		r.Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
		slices.SortFunc(got, relevant)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("position %d: %s; want %s", i, got[i].Key(), want[i].Key())
			}
		}
	}
}
