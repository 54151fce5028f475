// Package export turns the indicators an organisation may take away into the files that
// enforcement points read: plain value lists, CSV, STIX 2.1 bundles, MISP events, Suricata and
// Snort rules, Zeek Intel files, DNS RPZ zones, nftables sets and ipset restore files.
//
// A Catalog holds, in memory, every version of every indicator and sighting in the store as the
// hub sees it (package kb opens the sealed bodies; nothing is written to disk). Select answers
// "what would this organisation export now": the access decision is package access's (Allow on
// PathExport for exports, PathFeed for feeds), then the Selection's filters (workspace, value
// type, TLP, confidence, age, sightings, false-positive sightings, validity, revocation,
// warninglists) and its maximum count, most relevant first. Because the Catalog keeps every
// version with the store Seq it arrived at, it can also answer the same question as of an
// earlier Point, which is what delta feeds (package feed) are built on.
//
// Values come from the indicators' STIX patterns through package stix/pattern: only patterns
// that a single value decides (pattern.FullyServed) are exported, and of them only exact values
// and CIDR blocks, in package match's canonical form. A pattern such as
// [ipv4-addr:value = '198.51.100.7' AND network-traffic:dst_port = 443] is not exported: blocking
// the address alone would block more than the indicator says.
package export

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cshub/internal/export/record"
	"cshub/internal/hub"
)

// Value is one enforceable value of an indicator.
type Value = record.Value

// Indicator is one indicator version as an export holds it: what the formats write and what
// selection and ordering need. Sightings and FalsePositives count the sightings the exporting
// organisation may see.
type Indicator struct {
	// Record is the version's export record (ID, Workspace, Author, Name, TLP, Confidence,
	// Created, Modified, ValidFrom, ValidUntil), shared with the Catalog, which never changes
	// it: read only. A selection of a million indicators pointing at their records instead of
	// copying them is 180 MB less for a cold export to allocate.
	*record.Record
	Values []Value // the values selected: Record.Values, or those of them the Selection keeps
	Body   []byte  // the STIX JSON, kept only by a Catalog with KeepBodies

	Sightings      int // sightings that are not false-positive reports
	FalsePositives int // sightings carrying "x_cshub_false_positive": true
}

// Key names an indicator within the hub: the same STIX id may be shared in two workspaces.
func (ind *Indicator) Key() string { return ind.Workspace + "/" + ind.ID }

// Value types an export can carry, in the order formats group them.
var valueTypes = []string{"ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "file"}

// ValueTypes returns the value types an export can carry.
func ValueTypes() []string { return slices.Clone(valueTypes) }

// Selection says which indicators an export or feed carries beyond what the access rule allows.
// The zero value selects every allowed indicator that is valid, not revoked, has no
// false-positive sighting and no value on a warninglist of real services.
type Selection struct {
	Workspaces    []string  `json:"workspaces,omitempty"`     // only these workspaces
	Types         []string  `json:"types,omitempty"`          // only values of these types (ValueTypes)
	TLP           []hub.TLP `json:"tlp,omitempty"`            // only these TLP levels
	MinConfidence int       `json:"min_confidence,omitempty"` // confidence at least this (an indicator without one fails any minimum)
	MaxAge        Age       `json:"max_age,omitempty"`        // modified at most this long ago
	MinSightings  int       `json:"min_sightings,omitempty"`  // at least this many sightings
	// FalsePositives keeps indicators that a member reported as a false positive.
	FalsePositives bool `json:"include_false_positives,omitempty"`
	// Warninglisted keeps values on warninglists of real services (warninglist.Set.Benign).
	Warninglisted bool `json:"include_warninglisted,omitempty"`
	Limit         int  `json:"limit,omitempty"` // at most this many indicators, most relevant first; 0: all
}

// Age is a duration written as Go writes durations ("36h") or in days ("30d").
type Age time.Duration

// MarshalText writes a whole number of days as "Nd", anything else as a Go duration.
func (a Age) MarshalText() ([]byte, error) {
	d := time.Duration(a)
	if d%(24*time.Hour) == 0 {
		return []byte(strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"), nil
	}
	return []byte(d.String()), nil
}

// UnmarshalText reads what ParseAge accepts.
func (a *Age) UnmarshalText(b []byte) error {
	v, err := ParseAge(string(b))
	*a = v
	return err
}

// ParseAge reads "30d" or a Go duration such as "36h"; it must be positive and at most 100
// years.
func ParseAge(s string) (Age, error) {
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int64
		days, err = strconv.ParseInt(n, 10, 64)
		if err == nil && (days <= 0 || days > 36500) {
			return 0, hub.FieldError("max_age", "%q: between 1 and 36500 days", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 || d > 36500*24*time.Hour {
		return 0, hub.FieldError("max_age", "%q is not a positive age such as 30d or 12h", s)
	}
	return Age(d), nil
}

// maxLimit bounds Selection.Limit; it also keeps the count a sane number to parse.
const maxLimit = 100_000_000

// Check returns a hub.Error naming the first field of s that is out of range.
func (s *Selection) Check() error {
	for _, t := range s.Types {
		if !slices.Contains(valueTypes, t) {
			return hub.FieldError("types", "%q is not one of %s", t, strings.Join(valueTypes, ", "))
		}
	}
	for _, l := range s.TLP {
		if l < hub.TLPClear || l > hub.TLPRed {
			return hub.FieldError("tlp", "%v is not a TLP 2.0 level", l)
		}
	}
	for _, w := range s.Workspaces {
		if w == "" || len(w) > 200 || !utf8.ValidString(w) {
			return hub.FieldError("workspaces", "%q is not a workspace name", w)
		}
	}
	switch {
	case s.MinConfidence < 0 || s.MinConfidence > 100:
		return hub.FieldError("min_confidence", "%d is not between 0 and 100", s.MinConfidence)
	case s.MinSightings < 0:
		return hub.FieldError("min_sightings", "%d is negative", s.MinSightings)
	case s.Limit < 0 || s.Limit > maxLimit:
		return hub.FieldError("limit", "%d is not between 0 and %d", s.Limit, maxLimit)
	case s.MaxAge < 0:
		return hub.FieldError("max_age", "negative")
	}
	return nil
}

// Query parameters of ParseSelection, which are also the flags of `cshub export` and
// `cshub feed create`.
const (
	ParamWorkspace      = "workspace"
	ParamType           = "type"
	ParamTLP            = "tlp"
	ParamMinConfidence  = "min-confidence"
	ParamMaxAge         = "max-age"
	ParamMinSightings   = "min-sightings"
	ParamFalsePositives = "include-false-positives"
	ParamWarninglisted  = "include-warninglisted"
	ParamLimit          = "limit"
)

// SelectionParams lists the parameters ParseSelection reads.
func SelectionParams() []string {
	return []string{ParamWorkspace, ParamType, ParamTLP, ParamMinConfidence, ParamMaxAge,
		ParamMinSightings, ParamFalsePositives, ParamWarninglisted, ParamLimit}
}

// ParseSelection reads a Selection from query parameters (or flags given as such): list
// parameters take comma-separated values and may repeat; the others appear at most once.
// Parameters in ignore (such as "since" or "format") are skipped; any other unknown parameter
// is an error naming it, so that a misspelt filter never silently widens an export.
func ParseSelection(q url.Values, ignore ...string) (Selection, error) {
	var s Selection
	for k, vs := range q {
		if slices.Contains(ignore, k) {
			continue
		}
		var items []string
		for _, v := range vs {
			for _, x := range strings.Split(v, ",") {
				if x = strings.TrimSpace(x); x != "" {
					items = append(items, x)
				}
			}
		}
		single := func() (string, error) {
			if len(vs) != 1 {
				return "", hub.FieldError(k, "give it once")
			}
			return strings.TrimSpace(vs[0]), nil
		}
		number := func() (int, error) {
			v, err := single()
			if err != nil {
				return 0, err
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return 0, hub.FieldError(k, "%q is not a whole number", v)
			}
			return n, nil
		}
		flag := func() (bool, error) {
			v, err := single()
			if err != nil {
				return false, err
			}
			if v == "" {
				return true, nil // a bare ?include-warninglisted
			}
			b, err := strconv.ParseBool(v)
			if err != nil {
				return false, hub.FieldError(k, "%q is not true or false", v)
			}
			return b, nil
		}
		var err error
		switch k {
		case ParamWorkspace:
			s.Workspaces = append(s.Workspaces, items...)
		case ParamType:
			s.Types = append(s.Types, items...)
		case ParamTLP:
			for _, x := range items {
				l, perr := hub.ParseTLP(x)
				if perr != nil {
					return s, perr
				}
				s.TLP = append(s.TLP, l)
			}
		case ParamMinConfidence:
			s.MinConfidence, err = number()
		case ParamMinSightings:
			s.MinSightings, err = number()
		case ParamLimit:
			s.Limit, err = number()
		case ParamMaxAge:
			var v string
			if v, err = single(); err == nil {
				s.MaxAge, err = ParseAge(v)
			}
		case ParamFalsePositives:
			s.FalsePositives, err = flag()
		case ParamWarninglisted:
			s.Warninglisted, err = flag()
		default:
			field := k
			if field == "" {
				field = "query" // "?=x" names no parameter
			}
			return s, hub.FieldError(field, "unknown parameter; known: %s", strings.Join(SelectionParams(), ", "))
		}
		if err != nil {
			return s, err
		}
	}
	slices.Sort(s.Workspaces)
	s.Workspaces = slices.Compact(s.Workspaces)
	slices.Sort(s.Types)
	s.Types = slices.Compact(s.Types)
	slices.Sort(s.TLP)
	s.TLP = slices.Compact(s.TLP)
	return s, s.Check()
}

// relevant orders indicators most relevant first: more sightings, then higher confidence, then
// more recently modified, then by key so that the order is total and exports are stable.
func relevant(a, b *Indicator) int {
	return byRank(rankOf(a), rankOf(b))
}

// rank is what relevant compares of an indicator, held beside it: sorting a million indicators
// by relevant read the records of both at every comparison, two reads scattered over hundreds
// of megabytes, and waited on memory for most of the sort.
type rank struct {
	sightings        int
	modified         int64 // Unix seconds
	nsec, confidence int32
	ind              *Indicator
}

func rankOf(ind *Indicator) rank {
	return rank{sightings: ind.Sightings, modified: ind.Modified.Unix(), nsec: int32(ind.Modified.Nanosecond()),
		confidence: int32(ind.Confidence), ind: ind}
}

// byRank orders ranks as relevant orders their indicators.
func byRank(a, b rank) int {
	switch {
	case a.sightings != b.sightings:
		return cmp.Compare(b.sightings, a.sightings)
	case a.confidence != b.confidence:
		return cmp.Compare(b.confidence, a.confidence)
	case a.modified != b.modified:
		return cmp.Compare(b.modified, a.modified)
	case a.nsec != b.nsec:
		return cmp.Compare(b.nsec, a.nsec)
	case a.ind.Workspace == b.ind.Workspace:
		return strings.Compare(a.ind.ID, b.ind.ID)
	}
	return strings.Compare(a.ind.Key(), b.ind.Key())
}
