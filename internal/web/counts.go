package web

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"cshub/internal/access"
	"cshub/internal/hub"
)

// countsTTL is how long the dashboard's counts by type are reused for viewers with the same
// organisation and workspaces. The store answers them with one COUNT per type, and some tens of
// those over a large workspace take a noticeable time, while a dashboard a minute behind on
// totals misleads nobody; the newest objects are always read afresh.
const countsTTL = time.Minute

// maxCountEntries bounds the cache: beyond it the cache starts afresh.
const maxCountEntries = 1024

// typeCounts are the counts of one viewer's objects.
type typeCounts struct {
	Total  int64
	ByType []typeCount // types with at least one object, most numerous first
	Other  int64       // objects of types not in countedTypes
	At     time.Time   // when they were counted
}

// countCache holds typeCounts per viewer, computing each at most once at a time.
type countCache struct {
	mu sync.Mutex
	m  map[string]*countEntry // guarded by mu
}

type countEntry struct {
	done chan struct{} // closed once counts and err are set
	at   time.Time     // when computing began
	tc   typeCounts
	err  error
}

// viewerKey identifies what a viewer may see: the same organisation with the same workspaces
// sees the same objects.
func viewerCacheKey(v hub.Viewer) string {
	ws := slices.Clone(v.Workspaces)
	slices.Sort(ws)
	return v.Org + "\x00" + strings.Join(ws, "\x00")
}

// TypeCounter is an optional ability of a hub.ObjectStore: counting the objects a Filter selects
// by type in one query. CountObjectsByType returns, for every type with at least one object that
// f.Viewer may see, how many there are, ignoring f.Types, the cursor and the limit. With it the
// dashboard counts exactly and afresh on every load. Without it, the dashboard counts from the
// index of references in memory once Start has built it (also exactly and afresh), and before
// that counts countedTypes one by one in the store and reuses the result for countsTTL.
type TypeCounter interface {
	CountObjectsByType(ctx context.Context, f hub.Filter) (map[string]int64, error)
}

// counts returns v's counts by type: from the store's TypeCounter if it has one, else from the
// cache when they are younger than countsTTL. When another request is counting for the same
// viewer it waits for that result instead of counting again.
func (s *Server) counts(ctx context.Context, v hub.Viewer) (typeCounts, error) {
	now := s.now()
	if tcr, ok := s.objects.(TypeCounter); ok {
		m, err := tcr.CountObjectsByType(ctx, hub.Filter{Viewer: v})
		if err != nil {
			return typeCounts{}, err
		}
		return countsOf(m, now), nil
	}
	if m, ok := s.refs.countTypes(v, access.PathRead); ok {
		return countsOf(m, now), nil
	}
	key := viewerCacheKey(v)
	c := &s.countCache
	c.mu.Lock()
	if e := c.m[key]; e != nil {
		select {
		case <-e.done:
			if e.err == nil && now.Sub(e.at) < countsTTL && !now.Before(e.at) {
				c.mu.Unlock()
				return e.tc, nil
			}
		default:
			c.mu.Unlock()
			select {
			case <-e.done:
				return e.tc, e.err
			case <-ctx.Done():
				return typeCounts{}, ctx.Err()
			}
		}
	}
	if c.m == nil || len(c.m) >= maxCountEntries {
		c.m = make(map[string]*countEntry)
	}
	e := &countEntry{done: make(chan struct{}), at: now}
	c.m[key] = e
	c.mu.Unlock()

	// Waiters share the result, so one client going away must not cancel it for the others.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	e.tc, e.err = s.countTypes(cctx, v)
	e.tc.At = now
	close(e.done)
	if e.err != nil {
		c.mu.Lock()
		if c.m[key] == e {
			delete(c.m, key)
		}
		c.mu.Unlock()
	}
	return e.tc, e.err
}

// countsOf returns the counts of m, counted at now.
func countsOf(m map[string]int64, now time.Time) typeCounts {
	tc := typeCounts{At: now}
	for t, n := range m {
		if n > 0 {
			tc.ByType = append(tc.ByType, typeCount{t, n})
			tc.Total += n
		}
	}
	sortCounts(tc.ByType)
	return tc
}

// countTypes counts v's objects, in total and for each of countedTypes. The queries run one
// after another: on SQLite, running them side by side was measured slower, not faster.
func (s *Server) countTypes(ctx context.Context, v hub.Viewer) (typeCounts, error) {
	var tc typeCounts
	var err error
	if tc.Total, err = s.objects.CountObjects(ctx, hub.Filter{Viewer: v}); err != nil || tc.Total == 0 {
		return tc, err
	}
	sum := int64(0)
	for _, t := range countedTypes {
		n, err := s.objects.CountObjects(ctx, hub.Filter{Viewer: v, Types: []string{t}})
		if err != nil {
			return typeCounts{}, err
		}
		if n > 0 {
			tc.ByType = append(tc.ByType, typeCount{t, n})
			sum += n
		}
	}
	sortCounts(tc.ByType)
	tc.Other = tc.Total - sum
	return tc, nil
}

// sortCounts orders counts most numerous first, then by type name.
func sortCounts(c []typeCount) {
	slices.SortFunc(c, func(a, b typeCount) int {
		switch {
		case a.Count > b.Count:
			return -1
		case a.Count < b.Count:
			return 1
		}
		return strings.Compare(a.Type, b.Type)
	})
}
