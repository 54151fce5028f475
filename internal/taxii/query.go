package taxii

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"cshub/internal/hub"
)

// query is what the URL parameters of a TAXII request select (section 3.4 and 3.5).
type query struct {
	limit      int
	afterSeq   int64     // from next
	hasCursor  bool      // next was given
	addedAfter time.Time // zero: none
	types      []string  // match[type]
	ids        []string  // match[id]
	versions   versionMatch
	specOK     bool // match[spec_version] admits STIX 2.1, the only version held
}

// versionMatch is match[version]: any combination of "first", "last", "all" and timestamps.
type versionMatch struct {
	set         bool // the parameter was given
	first, last bool
	all         bool
	at          []time.Time
}

// onlyLast reports whether the match selects just the latest version, which the store answers
// by itself.
func (m versionMatch) onlyLast() bool { return m.last && !m.first && !m.all && len(m.at) == 0 }

// parseQuery reads the paging and filter parameters; bad values are EInvalid naming the parameter.
// Parameters the endpoint does not support are ignored, as are unknown ones.
func parseQuery(v url.Values) (query, error) {
	q := query{limit: DefaultLimit, specOK: true, versions: versionMatch{last: true}}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return q, hub.FieldError("limit", "must be a whole number of at least 1 (the server returns at most %d)", MaxLimit)
		}
		q.limit = min(n, MaxLimit)
	}
	if s := v.Get("next"); s != "" {
		seq, err := decodeCursor(s)
		if err != nil {
			return q, err
		}
		q.afterSeq, q.hasCursor = seq, true
	}
	if s := v.Get("added_after"); s != "" {
		t, err := parseTimestamp(s)
		if err != nil {
			return q, hub.FieldError("added_after", "%q is not an RFC 3339 timestamp", s)
		}
		// date_added is shown cut to the microsecond, so "added after T" means that the shown
		// date_added is after T: added at or after the next whole microsecond. A client that
		// polls with the last X-TAXII-Date-Added-Last then never sees that object again.
		q.addedAfter = t.Truncate(time.Microsecond).Add(time.Microsecond - time.Nanosecond)
	}
	q.types = list(v["match[type]"])
	q.ids = list(v["match[id]"])
	if vals := list(v["match[version]"]); len(vals) > 0 {
		m := versionMatch{set: true}
		for _, s := range vals {
			switch s {
			case "first":
				m.first = true
			case "last":
				m.last = true
			case "all":
				m.all = true
			default:
				t, err := parseTimestamp(s)
				if err != nil {
					return q, hub.FieldError("match[version]", "%q is not first, last, all or a timestamp", s)
				}
				m.at = append(m.at, t)
			}
		}
		q.versions = m
	}
	if vals := list(v["match[spec_version]"]); len(vals) > 0 {
		for _, s := range vals {
			maj, minr, ok := strings.Cut(s, ".")
			if !ok || !digits(maj) || !digits(minr) {
				return q, hub.FieldError("match[spec_version]", "%q is not a STIX version such as 2.1", s)
			}
		}
		q.specOK = slices.Contains(vals, "2.1")
	}
	return q, nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// list splits repeated and comma-separated parameter values into one list without empty items.
func list(vals []string) []string {
	var out []string
	for _, v := range vals {
		for x := range strings.SplitSeq(v, ",") {
			if x = strings.TrimSpace(x); x != "" {
				out = append(out, x)
			}
		}
	}
	return out
}

// parseTimestamp reads a TAXII timestamp: RFC 3339 with any fraction of a second.
func parseTimestamp(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// taxiiTime writes t as a TAXII timestamp (section 2): UTC, "Z", exactly microsecond
// precision. The store keeps nanoseconds; see parseQuery for how added_after makes up for it.
func taxiiTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

// stixTime writes an object version, a STIX timestamp, in UTC with the precision it has:
// milliseconds at least, as STIX timestamps are usually written, nanoseconds at most.
func stixTime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()%int(time.Millisecond) == 0 {
		return t.Format("2006-01-02T15:04:05.000Z")
	}
	return t.Format(time.RFC3339Nano)
}

// cursorPrefix marks a next value of this server, so that stray values are refused rather than
// read as positions.
const cursorPrefix = "s1."

// encodeCursor returns the opaque next value that continues after store sequence seq.
func encodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(seq, 10)))
}

func decodeCursor(s string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		if rest, ok := strings.CutPrefix(string(b), cursorPrefix); ok {
			if seq, err := strconv.ParseInt(rest, 10, 64); err == nil && seq >= 0 {
				return seq, nil
			}
		}
	}
	return 0, hub.FieldError("next", "not a value this server returned as next")
}

// version returns the version of o as TAXII names it: modified, else created, else date_added.
func version(o *hub.Object) time.Time {
	if !o.Modified.IsZero() {
		return o.Modified
	}
	if !o.Created.IsZero() {
		return o.Created
	}
	return o.Added.Truncate(time.Microsecond) // as date_added is shown
}
