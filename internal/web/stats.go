package web

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"cshub/internal/access"
	"cshub/internal/hub"
)

// The dashboard's situational picture over the last statsDays days: new objects per day by TLP
// and by type, the countries targeted, the intrusion sets most referred to and the indicators
// most sighted. Everything is counted for the viewer built on access.PathStats and only from
// objects that path allows, so that no count says anything about objects the viewer may not
// see. Everything comes from the index of references, which holds the metadata of every object
// in memory: reading a month of sealed rows from the store instead took 8 s for ATT&CK's 25k
// objects (BenchmarkPages/dashboard-uncached, load ~17). The result is reused for countsTTL per
// viewer.

const (
	statsDays = 30
	statsTop  = 10 // rows of each ranking
)

// tlpOrder is the order of the chart's stacks and legend, least restricted first.
var tlpOrder = []hub.TLP{hub.TLPClear, hub.TLPGreen, hub.TLPAmber, hub.TLPAmberStrict, hub.TLPRed}

type dashStats struct {
	Days      []dayCount // oldest first
	Max       int64      // the largest day's total, for scaling the chart
	Total     int64      // objects added in the window
	Types     []typeCount
	Countries []rankRow
	Map       *countryMap // of Countries; nil when none lies on the map
	Sets      []rankRow
	Trending  []rankRow
	Chart     *barChart
	TypeChart *hbarChart
	At        time.Time
}

type dayCount struct {
	Day   time.Time
	ByTLP map[hub.TLP]int64
	Total int64
}

// rankRow is one object of a ranking with how often it was referred to.
type rankRow struct {
	ID, Name, Extra string
	Count           int
}

// statsCache holds dashStats per viewer for countsTTL.
type statsCache struct {
	mu sync.Mutex
	m  map[string]*dashStats // guarded by mu
}

// stats returns v's dashboard statistics, from the cache when younger than countsTTL.
func (s *Server) stats(ctx context.Context, v hub.Viewer) (*dashStats, error) {
	now := s.now()
	key := viewerCacheKey(v)
	c := &s.statsCache
	c.mu.Lock()
	if st := c.m[key]; st != nil && now.Sub(st.At) < countsTTL && !now.Before(st.At) {
		c.mu.Unlock()
		return st, nil
	}
	c.mu.Unlock()
	st, err := s.computeStats(ctx, v, now)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCountEntries {
		c.m = map[string]*dashStats{}
	}
	c.m[key] = st
	c.mu.Unlock()
	return st, nil
}

func (s *Server) computeStats(ctx context.Context, v hub.Viewer, now time.Time) (*dashStats, error) {
	st := &dashStats{At: now}
	today := now.UTC().Truncate(24 * time.Hour)
	since := today.AddDate(0, 0, -(statsDays - 1))
	for i := range statsDays {
		st.Days = append(st.Days, dayCount{Day: since.AddDate(0, 0, i), ByTLP: map[hub.TLP]int64{}})
	}
	types := map[string]int64{}
	s.refs.each(v, access.PathStats, func(o *hub.Object) {
		d := int(o.Added.UTC().Sub(since) / (24 * time.Hour))
		if o.Added.Before(since) || d >= statsDays {
			return
		}
		st.Days[d].ByTLP[o.TLP]++
		st.Days[d].Total++
		st.Total++
		types[o.Type]++
	})
	for _, d := range st.Days {
		st.Max = max(st.Max, d.Total)
	}
	for t, n := range types {
		st.Types = append(st.Types, typeCount{t, n})
	}
	sortCounts(st.Types)
	if len(st.Types) > statsTop {
		st.Types = st.Types[:statsTop]
	}
	var err error
	if st.Countries, err = s.ranking(ctx, v, "location--", time.Time{}, func(r backRef) bool { return r.relType == "targets" }); err != nil {
		return nil, err
	}
	if st.Sets, err = s.ranking(ctx, v, "intrusion-set--", since, func(backRef) bool { return true }); err != nil {
		return nil, err
	}
	if st.Trending, err = s.ranking(ctx, v, "indicator--", since, func(r backRef) bool { return r.prop == "sighting_of_ref" }); err != nil {
		return nil, err
	}
	st.Map = newCountryMap(st.Countries)
	st.Chart = dayChart(st)
	st.TypeChart = typeChart(st.Types)
	return st, nil
}

// ranking returns the statsTop objects whose id starts with prefix that are referred to most
// often by references keep accepts, added at or after since, counting only references and
// objects v may see on access.PathStats. For locations Extra is the country code.
func (s *Server) ranking(ctx context.Context, v hub.Viewer, prefix string, since time.Time, keep func(backRef) bool) ([]rankRow, error) {
	counts := s.refs.count(v, access.PathStats, prefix, func(r backRef) bool {
		return keep(r) && !r.meta.Added.Before(since)
	})
	ids := make([]string, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	// Fetch a few more than shown: some targets may be hidden from v although references to
	// them are not.
	ids = ids[:min(len(ids), 3*statsTop)]
	objs, err := s.fetch(ctx, v, slices.Clone(ids))
	if err != nil {
		return nil, err
	}
	var out []rankRow
	for _, id := range ids {
		o := objs[id]
		if o == nil || !access.Allow(v, o, access.PathStats) {
			continue
		}
		var f struct {
			Name    string `json:"name"`
			Country string `json:"country"`
			Pattern string `json:"pattern"`
		}
		json.Unmarshal(o.Body, &f) // an undecodable body shows by its id
		row := rankRow{ID: id, Name: f.Name, Extra: f.Country, Count: counts[id]}
		if row.Name == "" {
			row.Name = f.Pattern
		}
		out = append(out, row)
		if len(out) == statsTop {
			break
		}
	}
	return out, nil
}

// each calls fn with the metadata of the latest version of every object v may see on path p.
func (x *refIndex) each(v hub.Viewer, p access.Path, fn func(*hub.Object)) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, o := range x.meta {
		if access.Allow(v, o, p) {
			fn(o)
		}
	}
}

// countTypes counts the latest versions of the objects v may see on path p by type, and
// reports whether the index is built; before Start has built it, it counts nothing.
func (x *refIndex) countTypes(v hub.Viewer, p access.Path) (map[string]int64, bool) {
	x.mu.RLock()
	ready := x.ready
	x.mu.RUnlock()
	if !ready {
		return nil, false
	}
	m := map[string]int64{}
	x.each(v, p, func(o *hub.Object) { m[o.Type]++ })
	return m, true
}

// count returns, for every object id starting with prefix, how many references keep accepts
// among those v may see on path p. Ids without any are left out.
func (x *refIndex) count(v hub.Viewer, p access.Path, prefix string, keep func(backRef) bool) map[string]int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := map[string]int{}
	for id, refs := range x.by {
		if !strings.HasPrefix(id, prefix) {
			continue
		}
		for _, r := range refs {
			if keep(r) && access.Allow(v, r.meta, p) {
				out[id]++
			}
		}
	}
	return out
}

// barChart is the chart of new objects per day, stacked by TLP, drawn in the TLP colours on
// black as FIRST prescribes for TLP labels.
type barChart struct {
	Width, Height, Top, Bottom, Left int
	Bars                             []bar
	Ticks                            []tick
	Labels                           []tick // dates under the bars
	Legend                           []hub.TLP
}

type bar struct {
	Title    string // for the tooltip and screen readers
	Segments []segment
}

type segment struct {
	TLP        hub.TLP
	X, Y, W, H int
}

type tick struct {
	Y, X  int
	Label string
}

func dayChart(st *dashStats) *barChart {
	c := &barChart{Width: 900, Height: 260, Top: 16, Bottom: 40, Left: 56, Legend: tlpOrder}
	plotH := c.Height - c.Top - c.Bottom
	slot := (c.Width - c.Left - 8) / len(st.Days)
	scale := max(st.Max, 1)
	for i, d := range st.Days {
		b := bar{Title: d.Day.Format("2006-01-02") + ": " + strconv.FormatInt(d.Total, 10) + " new"}
		y := c.Top + plotH
		x := c.Left + i*slot + 2
		for _, t := range tlpOrder {
			n := d.ByTLP[t]
			if n == 0 {
				continue
			}
			h := max(1, int(int64(plotH)*n/scale))
			y -= h
			b.Segments = append(b.Segments, segment{TLP: t, X: x, Y: y, W: slot - 4, H: h})
			b.Title += ", TLP:" + t.String() + " " + strconv.FormatInt(n, 10)
		}
		c.Bars = append(c.Bars, b)
		// A date every week, and today's unless it would crowd the last weekly one.
		if i%7 == 0 || i == len(st.Days)-1 && i%7 > 3 {
			c.Labels = append(c.Labels, tick{X: x + (slot-4)/2, Y: c.Height - c.Bottom + 16, Label: d.Day.Format("02 Jan")})
		}
	}
	for _, f := range []int64{0, 2, 4} {
		n := scale * f / 4
		c.Ticks = append(c.Ticks, tick{Y: c.Top + plotH - int(int64(plotH)*n/scale), X: c.Left - 6, Label: strconv.FormatInt(n, 10)})
	}
	return c
}

// hbarChart is the chart of new objects by type, one horizontal bar per type.
type hbarChart struct {
	Width, Height int
	Rows          []hbar
}

type hbar struct {
	Label       string
	Count       int64
	Y, W, TextX int
}

func typeChart(types []typeCount) *hbarChart {
	if len(types) == 0 {
		return nil
	}
	c := &hbarChart{Width: 900, Height: 28*len(types) + 8}
	most := types[0].Count
	for i, t := range types {
		w := max(1, int(int64(560)*t.Count/most))
		c.Rows = append(c.Rows, hbar{Label: t.Type, Count: t.Count, Y: 4 + 28*i, W: w, TextX: 250 + w + 8})
	}
	return c
}
