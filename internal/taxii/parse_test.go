package taxii

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// Collection ids are what TAXII clients store in their configuration: they must never change.
func TestCollectionIDStable(t *testing.T) {
	for slug, want := range map[string]string{
		"community":  "cbf47f4c-e49f-4dea-b106-fc90e4bd34dd", // checked with Python's hashlib and uuid
		"fr-private": "",
	} {
		got := CollectionID(slug)
		if want == "" {
			if got == CollectionID("community") {
				t.Errorf("%s shares community's id", slug)
			}
			continue
		}
		if got != want {
			t.Errorf("CollectionID(%q) = %s, want %s", slug, got, want)
		}
	}
}

func TestTimestamps(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		in          time.Time
		taxii, stix string
	}{
		{time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC), "2020-01-02T03:04:05.000000Z", "2020-01-02T03:04:05.000Z"},
		{time.Date(2020, 1, 2, 3, 4, 5, 120_000_000, time.UTC), "2020-01-02T03:04:05.120000Z", "2020-01-02T03:04:05.120Z"},
		{time.Date(2020, 1, 2, 3, 4, 5, 123_456_789, time.UTC), "2020-01-02T03:04:05.123456Z", "2020-01-02T03:04:05.123456789Z"},
		{time.Date(2020, 1, 2, 4, 4, 5, 0, cet), "2020-01-02T03:04:05.000000Z", "2020-01-02T03:04:05.000Z"},
	} {
		if got := taxiiTime(tc.in); got != tc.taxii {
			t.Errorf("taxiiTime(%v) = %s, want %s", tc.in, got, tc.taxii)
		}
		if got := stixTime(tc.in); got != tc.stix {
			t.Errorf("stixTime(%v) = %s, want %s", tc.in, got, tc.stix)
		}
		if back, err := parseTimestamp(stixTime(tc.in)); err != nil || !back.Equal(tc.in) {
			t.Errorf("%v does not survive stixTime: %v %v", tc.in, back, err)
		}
	}
}

// added_after compares with date_added as shown, to the microsecond: an object whose date_added
// was shown as T is not "added after T", one a microsecond later is.
func TestAddedAfterMicroseconds(t *testing.T) {
	added := time.Date(2020, 1, 2, 3, 4, 5, 123_456_789, time.UTC)
	for _, tc := range []struct {
		param string
		after bool
	}{
		{taxiiTime(added), false},
		{"2020-01-02T03:04:05.123455Z", true},
		{"2020-01-02T03:04:05.123455999Z", true},
		{"2020-01-02T03:04:05.123456001Z", false},
		{"2020-01-02T03:04:05.123457Z", false},
	} {
		q, err := parseQuery(url.Values{"added_after": {tc.param}})
		if err != nil {
			t.Fatal(err)
		}
		if got := added.After(q.addedAfter); got != tc.after {
			t.Errorf("added %s after %s = %v, want %v", taxiiTime(added), tc.param, got, tc.after)
		}
	}
}

// FuzzQuery feeds arbitrary query strings to the parameter parser: it never panics, and what it
// accepts is within bounds.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{
		"limit=10&next=" + encodeCursor(42),
		"added_after=2020-01-01T00:00:00Z&match[type]=indicator,malware&match[id]=x--1",
		"match[version]=first,last,2020-01-01T00:00:00.123Z&match[spec_version]=2.0,2.1",
		"limit=0", "next=%zz", "match[version]=", "limit=99999999999999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := parseQuery(v)
		if err != nil {
			return
		}
		if q.limit < 1 || q.limit > MaxLimit || q.afterSeq < 0 {
			t.Fatalf("%q: limit %d, after %d", raw, q.limit, q.afterSeq)
		}
	})
}

// FuzzCursor checks that every next value decodes to the position it was made from, and that
// arbitrary values are refused without a panic.
func FuzzCursor(f *testing.F) {
	f.Add(int64(0), "")
	f.Add(int64(1<<62), "czEuMTI")
	f.Fuzz(func(t *testing.T, seq int64, s string) {
		decodeCursor(s)
		if seq < 0 {
			return
		}
		got, err := decodeCursor(encodeCursor(seq))
		if err != nil || got != seq {
			t.Fatalf("cursor of %d decodes to %d, %v", seq, got, err)
		}
	})
}

// FuzzMediaType runs the Accept and Content-Type checks on arbitrary header values.
func FuzzMediaType(f *testing.F) {
	for _, s := range []string{MediaType, "application/taxii+json", "*/*", "application/taxii+json;q=0", ";;;", "application/taxii+json;version"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, c := checkAccept([]string{s}), checkContentType(s)
		if c == nil && a != nil && !hasQ(s) {
			t.Fatalf("%q is a valid Content-Type but not acceptable", s)
		}
	})
}

// hasQ reports whether s may hold a quality parameter or several media ranges, which make an
// Accept value differ from the same text as a Content-Type.
func hasQ(s string) bool { return strings.ContainsAny(s, "qQ,") }
