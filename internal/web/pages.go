package web

import (
	"context"
	"net/http"
	"slices"

	"cshub/internal/access"
	"cshub/internal/collab"
	"cshub/internal/hub"
)

// newestCount is how many of the newest objects the dashboard lists.
const newestCount = 20

// countedTypes are the object types the dashboard counts one by one: STIX 2.1's domain,
// relationship and observable types, and the custom types MITRE ATT&CK ships. Objects of any
// other type are counted together as "other types".
var countedTypes = []string{
	// STIX domain objects
	"attack-pattern", "campaign", "course-of-action", "grouping", "identity", "incident",
	"indicator", "infrastructure", "intrusion-set", "location", "malware", "malware-analysis",
	"note", "observed-data", "opinion", "report", "threat-actor", "tool", "vulnerability",
	// relationships
	"relationship", "sighting",
	// cyber observables
	"artifact", "autonomous-system", "directory", "domain-name", "email-addr", "email-message",
	"file", "ipv4-addr", "ipv6-addr", "mac-addr", "mutex", "network-traffic", "process",
	"software", "url", "user-account", "windows-registry-key", "x509-certificate",
	// meta objects
	"marking-definition", "language-content", "extension-definition",
	// MITRE ATT&CK
	"x-mitre-tactic", "x-mitre-matrix", "x-mitre-collection", "x-mitre-data-source",
	"x-mitre-data-component", "x-mitre-asset", "x-mitre-analytic", "x-mitre-detection-strategy",
}

type typeCount struct {
	Type  string
	Count int64
}

type dashboardPage struct {
	Counts typeCounts
	Newest []objectRow // newest first
	Stats  *dashStats
	Live   bool // the live stream is served: the script may follow it
	// OpenCases are the newest open or in-progress cases the user's organisation may see,
	// when the hub serves cases.
	OpenCases []*collab.Case
}

// dashboard serves GET /: counts of the objects the user may see by type, the newest ones, the
// statistics of the last statsDays days on access.PathStats and, when the hub serves cases,
// the open cases of collab.Service.
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := principal(ctx).Viewer
	var d dashboardPage
	var err error
	if d.Counts, err = s.counts(ctx, v); err != nil {
		s.fail(w, r, err)
		return
	}
	objs, err := s.newest(ctx, v, newestCount, d.Counts.Total)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, o := range objs {
		d.Newest = append(d.Newest, rowOf(o))
	}
	sv, err := access.ViewerFor(ctx, s.dir, principal(ctx).Org, access.PathStats)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if d.Stats, err = s.stats(ctx, sv); err != nil {
		s.fail(w, r, err)
		return
	}
	d.Live = s.stream != nil
	if s.collab != nil {
		if d.OpenCases, err = s.openCases(ctx, principal(ctx).Org, openCasesShown); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.render(w, r, http.StatusOK, "dashboard.html", &page{Title: "Dashboard", Nav: "dashboard", Data: d})
}

// newest returns the n objects v may see with the highest Seq, newest first, bodies opened.
// visible, if not 0, is about how many objects v may see (it may be stale) and speeds the
// search up.
//
// The store lists in ascending Seq order only and counts ignore the cursor, so newest finds the
// cursor that leaves exactly n objects by searching over AfterSeq: "at least n visible objects
// lie after x" holds up to some x and not beyond, and the largest such x is the cursor. Each step
// is one small indexed query on sealed rows, and only the final page is opened. Since every
// visible object has its own Seq, the k-th visible one in Seq order has a Seq of at least k, so
// the search may start at visible-n. A store listing in descending order would make it one query.
func (s *Server) newest(ctx context.Context, v hub.Viewer, n int, visible int64) ([]*hub.Object, error) {
	atLeastN := func(after int64) (bool, error) {
		objs, err := s.objects.ListObjects(ctx, hub.Filter{Viewer: v, AfterSeq: after, Limit: n})
		return len(objs) == n, err
	}
	lo := max(0, visible-int64(n)) // atLeastN(lo) holds, once checked
	ok, err := atLeastN(lo)
	if err != nil {
		return nil, err
	}
	if !ok && lo > 0 { // the count was stale: objects were deleted since
		lo = 0
		if ok, err = atLeastN(0); err != nil {
			return nil, err
		}
	}
	if ok {
		step := int64(n)
		hi := lo + step // grows until atLeastN(hi) fails
		for {
			ok, err := atLeastN(hi)
			if err != nil {
				return nil, err
			}
			if !ok {
				break
			}
			step *= 2
			lo, hi = hi, hi+step
		}
		for hi-lo > 1 {
			mid := lo + (hi-lo)/2
			ok, err := atLeastN(mid)
			if err != nil {
				return nil, err
			}
			if ok {
				lo = mid
			} else {
				hi = mid
			}
		}
	}
	objs, err := s.kb.List(ctx, hub.Filter{Viewer: v, AfterSeq: lo, Limit: n})
	if err != nil {
		return nil, err
	}
	slices.Reverse(objs)
	return objs, nil
}
