package client

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"cshub/internal/hub"
)

func TestParseEnvelope(t *testing.T) {
	for _, tc := range []struct {
		in      string
		more    bool
		next    string
		objects int
		code    string // "" when accepted
	}{
		{`{"more":false}`, false, "", 0, ""},
		{`{}`, false, "", 0, ""},
		{`{"more":true,"next":"abc","objects":[{"id":"x--1"},{"id":"x--2"}]}`, true, "abc", 2, ""},
		{` {"objects":[ {"a":1}],"unknown":[1,2]}`, false, "", 1, ""},
		{`{"more":"yes"}`, false, "", 0, hub.EInvalid},
		{`{"next":1}`, false, "", 0, hub.EInvalid},
		{`{"objects":[1]}`, false, "", 0, hub.EInvalid},
		{`{"objects":{"id":"x"}}`, false, "", 0, hub.EInvalid},
		{`[]`, false, "", 0, hub.EInvalid},
		{`{"objects":[{}]`, false, "", 0, hub.EInvalid},
		{``, false, "", 0, hub.EInvalid},
	} {
		e, err := ParseEnvelope(strings.NewReader(tc.in))
		if got := hub.ErrorCode(err); got != tc.code {
			t.Errorf("%s: error %v, want code %q", tc.in, err, tc.code)
			continue
		}
		if err == nil && (e.More != tc.more || e.Next != tc.next || len(e.Objects) != tc.objects) {
			t.Errorf("%s: %+v, want more %v next %q %d objects", tc.in, e, tc.more, tc.next, tc.objects)
		}
	}
}

func TestQueryValues(t *testing.T) {
	q := Query{AddedAfter: time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 3600)), Limit: 5, Next: "n1",
		Types: []string{"indicator", "malware"}, Versions: []string{"all"}}
	got := q.Values().Encode()
	want := "added_after=2024-05-06T06%3A08%3A09.123456Z&limit=5&match%5Btype%5D=indicator%2Cmalware&match%5Bversion%5D=all&next=n1"
	if got != want {
		t.Errorf("Values() = %s\nwant %s", got, want)
	}
	if got := (Query{}).Values().Encode(); got != "" {
		t.Errorf("the zero Query sends %q", got)
	}
}

func TestCodeOfStatus(t *testing.T) {
	for status, want := range map[int]string{401: hub.EUnauthorized, 403: hub.EForbidden, 404: hub.ENotFound, 400: hub.EInvalid,
		405: hub.EInvalid, 406: hub.EInvalid, 413: hub.ETooLarge, 429: hub.ERateLimited, 500: hub.EUnavailable, 503: hub.EUnavailable} {
		if got := codeOf(status); got != want {
			t.Errorf("codeOf(%d) = %s, want %s", status, got, want)
		}
	}
}

func TestMediaTypeAndDates(t *testing.T) {
	for ct, ok := range map[string]bool{MediaType: true, "application/taxii+json": true, "application/taxii+json; version=2.1": true,
		"application/taxii+json;version=2.0": false, "application/json": false, "": false} {
		if got := checkMediaType(ct) == nil; got != ok {
			t.Errorf("checkMediaType(%q) accepted %v, want %v", ct, got, ok)
		}
	}
	h := http.Header{}
	h.Set("X-TAXII-Date-Added-Last", "2024-01-02T03:04:05.123456Z")
	h.Set("X-TAXII-Date-Added-First", "yesterday")
	if d, err := dateHeader(h, "X-TAXII-Date-Added-Last"); err != nil || !d.Equal(time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)) {
		t.Errorf("date header: %v, %v", d, err)
	}
	if _, err := dateHeader(h, "X-TAXII-Date-Added-First"); hub.ErrorField(err) != "X-TAXII-Date-Added-First" {
		t.Errorf("bad date header: %v", err)
	}
	if d, err := dateHeader(h, "X-Absent"); err != nil || !d.IsZero() {
		t.Errorf("absent header: %v, %v", d, err)
	}
}

// FuzzParseEnvelope: arbitrary bodies never panic the parser, and what it accepts holds only
// JSON objects.
func FuzzParseEnvelope(f *testing.F) {
	for _, s := range []string{`{"more":true,"next":"x","objects":[{"type":"indicator"}]}`, `{}`, `{"objects":[{},[]]}`,
		`{"more":null}`, `{"objects":[{"a":"\u0000"}]}`, "{\"objects\":[ \n{}]}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEnvelope(strings.NewReader(string(b)))
		if err != nil {
			if hub.ErrorCode(err) == hub.EInternal {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		for i, o := range e.Objects {
			if o := strings.TrimSpace(string(o)); !strings.HasPrefix(o, "{") || !strings.HasSuffix(o, "}") {
				t.Fatalf("object %d accepted: %q", i, o)
			}
		}
	})
}
