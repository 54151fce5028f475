package taxii_test

// The conformance suite: one test per requirement of the TAXII 2.1 specification (OASIS
// Standard, 10 June 2021) that the server implements, named by the section that states it:
// 2 data types, 3.1 endpoints (media types, authentication), 3.2 HTTP headers, 3.3 sorting,
// 3.4 filtering, 3.5 pagination, 3.6 errors, 3.7 envelope, 4.1-4.3 server information and
// 5.1-5.8 collections.

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"cshub/internal/hub"
	"cshub/internal/taxii"
)

var (
	uuidRE      = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	taxiiTimeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)
)

// Data types: identifiers (collection and status ids) are version 4 UUIDs; timestamps are UTC
// with exactly microsecond precision.
func TestSpec_2_IdentifiersAndTimestamps(t *testing.T) {
	h := newTestHub(t)
	st := h.post(t, "cert-fr", community, malware(1))
	for _, id := range []string{st.ID, community, taxii.CollectionID("fr-private")} {
		if !uuidRE.MatchString(id) {
			t.Errorf("%q is not a version 4 UUID", id)
		}
	}
	r := h.get(t, "cert-fr", root+"status/"+st.ID+"/")
	var raw struct {
		RequestTimestamp string `json:"request_timestamp"`
	}
	r.decode(t, &raw)
	var m manifestRes
	h.get(t, "cert-fr", root+"collections/"+community+"/manifest/").decode(t, &m)
	for _, ts := range []string{raw.RequestTimestamp, m.Objects[0].DateAdded} {
		if !taxiiTimeRE.MatchString(ts) {
			t.Errorf("timestamp %q is not YYYY-MM-DDTHH:MM:SS.ssssssZ", ts)
		}
	}
}

// HTTP headers: X-TAXII-Date-Added-First and -Last give the date_added of the first and last
// object of the response.
func TestSpec_3_2_DateAddedHeaders(t *testing.T) {
	h := newTestHub(t)
	h.post(t, "cert-fr", community, malware(1))
	h.post(t, "cert-fr", community, malware(2))
	var m manifestRes
	h.get(t, "cert-fr", root+"collections/"+community+"/manifest/").decode(t, &m)
	if len(m.Objects) != 2 {
		t.Fatalf("manifest %+v", m)
	}
	first, last := m.Objects[0].DateAdded, m.Objects[1].DateAdded
	if first >= last {
		t.Fatalf("date_added %s then %s: two requests, want increasing", first, last)
	}
	for _, path := range []string{"objects/", "manifest/"} {
		r := h.get(t, "cert-fr", root+"collections/"+community+"/"+path)
		if got := r.header.Get("X-TAXII-Date-Added-First"); got != first {
			t.Errorf("%s: X-TAXII-Date-Added-First %q, want %q", path, got, first)
		}
		if got := r.header.Get("X-TAXII-Date-Added-Last"); got != last {
			t.Errorf("%s: X-TAXII-Date-Added-Last %q, want %q", path, got, last)
		}
	}
	if r := h.get(t, "cert-fr", root+"collections/"+community+"/objects/?match[type]=report"); r.header.Get("X-TAXII-Date-Added-First") != "" {
		t.Errorf("headers on an empty page: %v", r.header)
	}
}

// Sorting: objects come in the order they were added, oldest first.
func TestSpec_3_3_SortedByDateAdded(t *testing.T) {
	h := newTestHub(t)
	h.post(t, "cert-fr", community, malware(3))
	h.post(t, "cert-fr", community, malware(1), indicator(2, "2020-01-01T00:00:00.000Z"))
	var e envelopeRes
	h.get(t, "cert-fr", root+"collections/"+community+"/objects/").decode(t, &e)
	var got []string
	for _, o := range e.Objects {
		got = append(got, o["id"].(string))
	}
	want := []string{"malware--00000000-0000-4000-8000-000000000003", "malware--00000000-0000-4000-8000-000000000001", indicatorID(2)}
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

// Envelope: empty lists are prohibited, so a page without objects has no objects property.
func TestSpec_3_7_EmptyEnvelope(t *testing.T) {
	h := newTestHub(t)
	r := h.get(t, "cert-fr", root+"collections/"+community+"/objects/")
	if r.code != 200 || strings.TrimSpace(string(r.body)) != `{"more":false}` {
		t.Errorf("empty collection: %d %s", r.code, r.body)
	}
}

// Endpoints: a request that does not accept the TAXII 2.1 media type
// is 406 Not Acceptable.
func TestSpec_3_1_AcceptHeader406(t *testing.T) {
	h := newTestHub(t)
	for _, tc := range []struct {
		accept string
		want   int
	}{
		{taxii.MediaType, 200},
		{"application/taxii+json", 200},
		{"application/taxii+json; version=2.1", 200},
		{"text/html, application/taxii+json;version=2.1;q=0.9", 200},
		{"application/json", 406},
		{"*/*", 406},
		{"application/taxii+json;version=2.0", 406},
		{"application/taxii+json;version=2.1;q=0", 406},
		{"application/stix+json;version=2.1", 406},
		{"", 406}, // no Accept header at all
	} {
		r := h.get(t, "cert-fr", root, "Accept", tc.accept)
		if r.code != tc.want {
			t.Errorf("Accept %q: status %d, want %d: %s", tc.accept, r.code, tc.want, r.body)
		}
	}
}

// Every response, errors included, is of the TAXII 2.1 media type.
func TestSpec_3_1_ResponseContentType(t *testing.T) {
	h := newTestHub(t)
	for _, path := range []string{"/taxii2/", root, root + "collections/", root + "collections/" + community + "/objects/",
		root + "collections/nothing/", root + "nothing/"} {
		for _, key := range []string{h.keys["cert-fr"], ""} {
			r := h.req(t, key, "GET", path, nil)
			if got := r.header.Get("Content-Type"); got != taxii.MediaType {
				t.Errorf("GET %s (%d): Content-Type %q, want %q", path, r.code, got, taxii.MediaType)
			}
		}
	}
}

// Content sent to the server must be declared as TAXII 2.1; anything else is 415.
func TestSpec_5_5_ContentType415(t *testing.T) {
	h := newTestHub(t)
	path := root + "collections/" + community + "/objects/"
	for _, tc := range []struct {
		ct   string
		want int
	}{
		{"application/json", 415},
		{"application/stix+json;version=2.1", 415},
		{"application/taxii+json;version=2.0", 415},
		{"", 415},
		{taxii.MediaType, 202},
		{"application/taxii+json", 202},
	} {
		r := h.req(t, h.keys["cert-fr"], "POST", path, envelope(malware(1)), "Content-Type", tc.ct)
		if r.code != tc.want {
			t.Errorf("Content-Type %q: status %d, want %d: %s", tc.ct, r.code, tc.want, r.body)
		}
	}
}

// Authentication: a request without valid credentials is 401 with a challenge.
func TestSpec_3_1_Unauthenticated401(t *testing.T) {
	h := newTestHub(t)
	for _, tc := range []struct{ name, authz string }{
		{"none", ""},
		{"bad key", "Bearer cshub_0123456789abcdef_" + strings.Repeat("a", 52)},
		{"unknown scheme", "Digest x"},
		{"basic wrong user", "Basic " + base64.StdEncoding.EncodeToString([]byte("cert-uk-analyst:"+h.keys["cert-fr"]))},
	} {
		for _, path := range []string{"/taxii2/", root + "collections/" + community + "/objects/", root + "nowhere/"} {
			r := h.req(t, "", "GET", path, nil, "Authorization", tc.authz)
			if r.code != 401 {
				t.Errorf("%s, GET %s: status %d, want 401", tc.name, path, r.code)
			}
			if len(r.header.Values("WWW-Authenticate")) == 0 {
				t.Errorf("%s, GET %s: no WWW-Authenticate challenge", tc.name, path)
			}
		}
	}
}

// Authentication with HTTP Basic: the user name of the key's user and the API key as password.
func TestSpec_3_1_BasicAuth(t *testing.T) {
	h := newTestHub(t)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(h.users["cert-fr"]+":"+h.keys["cert-fr"]))
	if r := h.req(t, "", "GET", root+"collections/", nil, "Authorization", basic); r.code != 200 {
		t.Fatalf("Basic: %d %s", r.code, r.body)
	}
}

// Authorization: an authenticated caller not allowed to act is 403.
func TestSpec_3_1_Forbidden403(t *testing.T) {
	h := newTestHub(t)
	r := h.req(t, h.keys["cert-fr:read"], "POST", root+"collections/"+community+"/objects/", envelope(malware(1)))
	if r.code != 403 {
		t.Fatalf("read key POST: %d, want 403: %s", r.code, r.body)
	}
}

// Pagination: limit bounds a page, more says whether there is more, next continues.
func TestSpec_3_5_PagingLimitNextMore(t *testing.T) {
	h := newTestHub(t)
	var objs []string
	for i := range 25 {
		objs = append(objs, indicator(i, "2020-01-01T00:00:00.000Z"))
	}
	h.post(t, "cert-fr", community, objs...)
	seen := map[string]bool{}
	next := ""
	var sizes []int
	for range 10 {
		path := root + "collections/" + community + "/objects/?limit=10"
		if next != "" {
			path += "&next=" + next
		}
		r := h.get(t, "cert-uk", path)
		if r.code != 200 {
			t.Fatalf("GET %s: %d %s", path, r.code, r.body)
		}
		var e envelopeRes
		r.decode(t, &e)
		sizes = append(sizes, len(e.Objects))
		for _, id := range ids(e) {
			if seen[id] {
				t.Fatalf("%s on two pages", id)
			}
			seen[id] = true
		}
		if e.More != (e.Next != "") {
			t.Fatalf("more %v with next %q", e.More, e.Next)
		}
		if !e.More {
			break
		}
		next = e.Next
	}
	if want := []int{10, 10, 5}; !slices.Equal(sizes, want) {
		t.Errorf("page sizes %v, want %v", sizes, want)
	}
	if len(seen) != 25 {
		t.Errorf("saw %d objects, want 25", len(seen))
	}
}

// Pagination: a limit above the server's maximum is cut to it; a limit that is not a positive
// number, and a next the server did not give, are 400.
func TestSpec_3_5_LimitAndNextValues(t *testing.T) {
	h := newTestHub(t)
	h.post(t, "cert-fr", community, malware(1))
	base := root + "collections/" + community + "/objects/"
	for q, want := range map[string]int{
		"?limit=100000": 200, "?limit=1": 200, "?limit=0": 400, "?limit=-3": 400, "?limit=ten": 400,
		"?next=garbage": 400, "?next=" + base64.RawURLEncoding.EncodeToString([]byte("s1.x")): 400,
		"?added_after=yesterday": 400, "?match[version]=newest": 400, "?match[spec_version]=two": 400,
	} {
		r := h.get(t, "cert-fr", base+q)
		if r.code != want {
			t.Errorf("GET %s: %d, want %d: %s", q, r.code, want, r.body)
		}
		if want == 400 {
			var e errorRes
			r.decode(t, &e)
			if e.Details["field"] == "" {
				t.Errorf("GET %s: error names no parameter: %s", q, r.body)
			}
		}
	}
}

// Error message: title is required; http_status, description and error_code say what happened.
func TestSpec_3_6_ErrorMessage(t *testing.T) {
	h := newTestHub(t)
	for path, want := range map[string]int{
		root + "collections/" + taxii.CollectionID("nowhere") + "/": 404,
		root + "collections/" + community + "/objects/?limit=0":     400,
		"/taxii2/other-root/": 404,
	} {
		r := h.get(t, "cert-fr", path)
		var e errorRes
		r.decode(t, &e)
		if r.code != want || e.Title == "" || e.HTTPStatus != fmt.Sprint(want) || e.Description == "" || e.ErrorCode == "" {
			t.Errorf("GET %s: %d %s, want a complete error message with status %d", path, r.code, r.body, want)
		}
	}
}

// A method a resource does not support is 405 with Allow.
func TestSpec_3_6_MethodNotAllowed(t *testing.T) {
	h := newTestHub(t)
	r := h.req(t, h.keys["cert-fr"], "PUT", root+"collections/", []byte("{}"))
	if r.code != 405 || r.header.Get("Allow") != "GET" {
		t.Fatalf("PUT collections: %d Allow %q, want 405 Allow GET", r.code, r.header.Get("Allow"))
	}
}

// Server discovery: title is required; default names the API root and api_roots lists it with
// the federation root.
func TestSpec_4_1_Discovery(t *testing.T) {
	h := newTestHub(t)
	r := h.get(t, "cert-fr", "/taxii2/")
	var d struct {
		Title    string   `json:"title"`
		Default  string   `json:"default"`
		APIRoots []string `json:"api_roots"`
	}
	r.decode(t, &d)
	if r.code != 200 || d.Title != "test hub" {
		t.Fatalf("discovery: %d %s", r.code, r.body)
	}
	want := h.srv.URL + root
	if d.Default != want || !slices.Equal(d.APIRoots, []string{want, h.srv.URL + taxii.FederationRootPath}) {
		t.Errorf("default %q api_roots %q, want %q", d.Default, d.APIRoots, want)
	}
}

// API root: title, versions with the TAXII 2.1 media type and max_content_length are required.
func TestSpec_4_2_APIRoot(t *testing.T) {
	h := newTestHub(t)
	r := h.get(t, "cert-fr", root)
	var a struct {
		Title            string   `json:"title"`
		Versions         []string `json:"versions"`
		MaxContentLength int64    `json:"max_content_length"`
	}
	r.decode(t, &a)
	if r.code != 200 || a.Title == "" || !slices.Contains(a.Versions, taxii.MediaType) || a.MaxContentLength != 1<<20 {
		t.Fatalf("API root: %d %s", r.code, r.body)
	}
	if r := h.get(t, "cert-fr", "/taxii2/nothing/"); r.code != 404 {
		t.Errorf("unknown API root: %d, want 404", r.code)
	}
}

// Status: the status of an add-objects request can be read back by its id, by the organisation
// that made it only; statuses are kept for the most recent requests.
func TestSpec_4_3_GetStatus(t *testing.T) {
	h := newTestHub(t)
	st := h.post(t, "cert-fr", community, malware(1))
	if !uuidRE.MatchString(st.ID) {
		t.Fatalf("status id %q is not a UUID", st.ID)
	}
	r := h.get(t, "cert-fr", root+"status/"+st.ID+"/")
	var got status
	r.decode(t, &got)
	if r.code != 200 || got.ID != st.ID || got.Status != "complete" || got.TotalCount != 1 || got.SuccessCount != 1 {
		t.Fatalf("GET status: %d %s", r.code, r.body)
	}
	if r := h.get(t, "cert-be", root+"status/"+st.ID+"/"); r.code != 404 {
		t.Errorf("another organisation reads the status: %d, want 404", r.code)
	}
	for i := range 3 { // the test hub keeps 3 statuses
		h.post(t, "cert-fr", community, malware(10+i))
	}
	if r := h.get(t, "cert-fr", root+"status/"+st.ID+"/"); r.code != 404 {
		t.Errorf("the oldest status outlives the bound: %d, want 404", r.code)
	}
}

type collection struct {
	ID         string   `json:"id"`
	Title      string   `json:"title"`
	Alias      string   `json:"alias"`
	CanRead    bool     `json:"can_read"`
	CanWrite   bool     `json:"can_write"`
	MediaTypes []string `json:"media_types"`
}

// Collections: the collections the caller may read, each with id, title, can_read and can_write.
func TestSpec_5_1_GetCollections(t *testing.T) {
	h := newTestHub(t)
	for _, tc := range []struct {
		key      string
		want     []string
		canWrite bool
	}{
		{"cert-fr", []string{"community", "fr-private"}, true},
		{"cert-uk", []string{"community"}, true},
		{"cert-fr:read", []string{"community", "fr-private"}, false},
	} {
		r := h.get(t, tc.key, root+"collections/")
		var res struct{ Collections []collection }
		r.decode(t, &res)
		var got []string
		for _, c := range res.Collections {
			got = append(got, c.Alias)
			if c.ID != taxii.CollectionID(c.Alias) || !uuidRE.MatchString(c.ID) || c.Title == "" || !c.CanRead ||
				c.CanWrite != tc.canWrite || !slices.Contains(c.MediaTypes, "application/stix+json;version=2.1") {
				t.Errorf("%s: collection %+v", tc.key, c)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: collections %v, want %v (exercise workspaces never appear)", tc.key, got, tc.want)
		}
	}
}

// Collection: one collection by its id (or alias); one the caller may not read is 404 exactly as
// one that does not exist.
func TestSpec_5_2_GetCollection(t *testing.T) {
	h := newTestHub(t)
	for _, id := range []string{community, "community"} {
		r := h.get(t, "cert-be", root+"collections/"+id+"/")
		var c collection
		r.decode(t, &c)
		if r.code != 200 || c.ID != community || c.Title != "Community" {
			t.Errorf("GET collection %s: %d %s", id, r.code, r.body)
		}
	}
	private := taxii.CollectionID("fr-private")
	hidden := h.get(t, "cert-uk", root+"collections/"+private+"/")
	missing := h.get(t, "cert-uk", root+"collections/"+taxii.CollectionID("nowhere")+"/")
	if hidden.code != 404 || missing.code != 404 {
		t.Fatalf("hidden %d, missing %d, want 404 both", hidden.code, missing.code)
	}
	strip := func(b []byte, id string) string { return strings.ReplaceAll(string(b), id, "") }
	if strip(hidden.body, private) != strip(missing.body, taxii.CollectionID("nowhere")) {
		t.Errorf("a hidden collection answers differently from a missing one:\n%s\n%s", hidden.body, missing.body)
	}
	if r := h.get(t, "cert-fr", root+"collections/"+taxii.CollectionID("drill")+"/"); r.code != 404 {
		t.Errorf("exercise workspace as a collection: %d, want 404", r.code)
	}
}

// Manifest: one record per object version with id, date_added, version and media_type, paged
// like objects, with the date-added headers.
func TestSpec_5_3_Manifest(t *testing.T) {
	h := newTestHub(t)
	h.post(t, "cert-fr", community, indicator(1, "2020-01-01T00:00:00.000Z"), indicator(1, "2020-03-01T00:00:00.000Z"), malware(2))
	r := h.get(t, "cert-be", root+"collections/"+community+"/manifest/?limit=1")
	var m manifestRes
	r.decode(t, &m)
	if r.code != 200 || len(m.Objects) != 1 || !m.More || m.Next == "" {
		t.Fatalf("manifest page 1: %d %s", r.code, r.body)
	}
	rec := m.Objects[0]
	if rec.ID != indicatorID(1) || rec.Version != "2020-03-01T00:00:00.000Z" || rec.MediaType != "application/stix+json;version=2.1" {
		t.Errorf("record %+v", rec)
	}
	if !taxiiTimeRE.MatchString(rec.DateAdded) {
		t.Errorf("date_added %q is not a TAXII timestamp", rec.DateAdded)
	}
	if r.header.Get("X-TAXII-Date-Added-First") != rec.DateAdded || r.header.Get("X-TAXII-Date-Added-Last") != rec.DateAdded {
		t.Errorf("headers %q %q, want %q", r.header.Get("X-TAXII-Date-Added-First"), r.header.Get("X-TAXII-Date-Added-Last"), rec.DateAdded)
	}
	r = h.get(t, "cert-be", root+"collections/"+community+"/manifest/?limit=1&next="+m.Next)
	r.decode(t, &m)
	if len(m.Objects) != 1 || m.More || m.Objects[0].ID != "malware--00000000-0000-4000-8000-000000000002" {
		t.Errorf("manifest page 2: %s", r.body)
	}
	r = h.get(t, "cert-be", root+"collections/"+community+"/manifest/?match[version]=all")
	r.decode(t, &m)
	if len(m.Objects) != 3 {
		t.Errorf("manifest of all versions: %s", r.body)
	}
}

// Get objects: added_after selects the versions added after the instant; a client that polls
// with the last X-TAXII-Date-Added-Last gets only what is new.
func TestSpec_5_4_GetObjectsAddedAfter(t *testing.T) {
	h := newTestHub(t)
	h.post(t, "cert-fr", community, malware(1), malware(2))
	base := root + "collections/" + community + "/objects/"
	r := h.get(t, "cert-be", base)
	last := r.header.Get("X-TAXII-Date-Added-Last")
	if r.code != 200 || last == "" || r.header.Get("X-TAXII-Date-Added-First") == "" {
		t.Fatalf("GET objects: %d headers %v", r.code, r.header)
	}
	h.post(t, "cert-fr", community, malware(3))
	var e envelopeRes
	h.get(t, "cert-be", base+"?added_after="+last).decode(t, &e)
	if len(e.Objects) != 1 || e.Objects[0]["id"] != "malware--00000000-0000-4000-8000-000000000003" {
		t.Errorf("added_after %s: %v", last, ids(e))
	}
	h.get(t, "cert-be", base+"?added_after=2000-01-01T00:00:00Z").decode(t, &e)
	if len(e.Objects) != 3 {
		t.Errorf("added_after long ago: %d objects, want 3", len(e.Objects))
	}
	r = h.get(t, "cert-be", base+"?added_after=2999-01-01T00:00:00Z")
	e = envelopeRes{}
	r.decode(t, &e)
	if r.code != 200 || len(e.Objects) != 0 || e.More {
		t.Errorf("added_after in the future: %d %s", r.code, r.body)
	}
}

// Get objects: match[type] and match[id] select by type and id, each a comma-separated list.
func TestSpec_3_4_1_MatchTypeIDSpecVersion(t *testing.T) {
	h := newTestHub(t)
	h.post(t, "cert-fr", community, indicator(1, "2020-01-01T00:00:00.000Z"), indicator(2, "2020-01-01T00:00:00.000Z"), malware(3))
	base := root + "collections/" + community + "/objects/"
	for q, want := range map[string]int{
		"?match[type]=indicator":                                 2,
		"?match[type]=malware":                                   1,
		"?match[type]=indicator,malware":                         3,
		"?match[type]=report":                                    0,
		"?match[id]=" + indicatorID(2):                           1,
		"?match[id]=" + indicatorID(1) + "," + indicatorID(2):    2,
		"?match[id]=" + indicatorID(1) + "&match[type]=malware":  0,
		"?match[type]=indicator&match[id]=" + indicatorID(1):     1,
		"?match[spec_version]=2.1":                               3,
		"?match[spec_version]=2.0":                               0,
		"?match[spec_version]=2.0,2.1&match[type]=malware":       1,
		"?match[version]=all&match[type]=indicator&limit=1":      1,
		"?match[version]=last,first&match[id]=" + indicatorID(2): 1,
	} {
		var e envelopeRes
		r := h.get(t, "cert-uk", base+q)
		r.decode(t, &e)
		if r.code != 200 || len(e.Objects) != want {
			t.Errorf("GET %s: %d, %d objects, want %d", q, r.code, len(e.Objects), want)
		}
	}
}

// Get objects: match[version] is last by default, or first, all, or exact versions.
func TestSpec_3_4_1_MatchVersion(t *testing.T) {
	h := newTestHub(t)
	const v1, v2, v3 = "2020-01-01T00:00:00.000Z", "2020-02-01T00:00:00.000Z", "2020-03-01T00:00:00.000Z"
	h.post(t, "cert-fr", community, indicator(1, v2), indicator(1, v1), indicator(1, v3), indicator(2, v1))
	base := root + "collections/" + community + "/objects/?match[type]=indicator"
	a, b := indicatorID(1)+"@", indicatorID(2)+"@"
	for q, want := range map[string][]string{
		"":                                              {a + v3, b + v1},
		"&match[version]=last":                          {a + v3, b + v1},
		"&match[version]=first":                         {a + v1, b + v1},
		"&match[version]=all":                           {a + v1, a + v2, a + v3, b + v1},
		"&match[version]=" + v2:                         {a + v2},
		"&match[version]=2020-02-01T00:00:00Z":          {a + v2},
		"&match[version]=first,last":                    {a + v1, a + v3, b + v1},
		"&match[version]=" + v1 + "," + v3:              {a + v1, a + v3, b + v1},
		"&match[version]=2019-01-01T00:00:00Z":          nil,
		"&match[version]=first&limit=1":                 {a + v1},
		"&match[version]=all&match[id]=" + b[:len(b)-1]: {b + v1},
	} {
		var e envelopeRes
		r := h.get(t, "cert-be", base+q)
		r.decode(t, &e)
		got := ids(e)
		slices.Sort(got)
		if r.code != 200 || !slices.Equal(got, want) {
			t.Errorf("GET ...%s: %d %v, want %v", q, r.code, got, want)
		}
	}
}

// Add objects: 202 with a status resource that accounts for every object: successes (new or
// already present) and failures with a message.
func TestSpec_5_5_AddObjectsStatus(t *testing.T) {
	h := newTestHub(t)
	h.post(t, "cert-fr", community, malware(1))
	bad := `{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-000000000009","created":"2020-01-01T00:00:00.000Z","modified":"2020-01-01T00:00:00.000Z"}`
	st := h.post(t, "cert-fr", community, malware(1), indicator(2, "2020-01-01T00:00:00.000Z"), bad)
	if st.Status != "complete" || st.TotalCount != 3 || st.SuccessCount != 2 || st.FailureCount != 1 || st.PendingCount != 0 {
		t.Fatalf("status %+v", st)
	}
	if len(st.Successes) != 2 || st.Successes[0].ID != "malware--00000000-0000-4000-8000-000000000001" ||
		st.Successes[0].Message == "" || st.Successes[1].ID != indicatorID(2) || st.Successes[1].Version != "2020-01-01T00:00:00.000Z" {
		t.Errorf("successes %+v", st.Successes)
	}
	if len(st.Failures) != 1 || st.Failures[0].ID != indicatorID(9) || st.Failures[0].Message == "" {
		t.Errorf("failures %+v", st.Failures)
	}
	var e envelopeRes
	h.get(t, "cert-be", root+"collections/"+community+"/objects/").decode(t, &e)
	if len(e.Objects) != 2 {
		t.Errorf("collection holds %v, want the malware and the valid indicator", ids(e))
	}
}

// Add objects: a STIX bundle has the envelope's objects list and is accepted as one.
func TestSpec_5_5_AddBundle(t *testing.T) {
	h := newTestHub(t)
	body := `{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000001","objects":[` + malware(1) + `]}`
	r := h.req(t, h.keys["cert-fr"], "POST", root+"collections/community/objects/", []byte(body))
	var st status
	r.decode(t, &st)
	if r.code != 202 || st.SuccessCount != 1 {
		t.Fatalf("POST bundle: %d %s", r.code, r.body)
	}
}

// Add objects: a body over max_content_length is 413; a body that is no envelope is 400; a
// collection the caller may not write is 404 when it may not read it either.
func TestSpec_5_5_AddObjectsRefused(t *testing.T) {
	h := newTestHub(t)
	big := envelope(`{"x":"` + strings.Repeat("a", 1<<20) + `"}`)
	for _, tc := range []struct {
		name, org, coll string
		body            []byte
		want            int
	}{
		{"too large", "cert-fr", community, big, 413},
		{"not JSON", "cert-fr", community, []byte("{not json"), 400},
		{"no objects", "cert-fr", community, []byte(`{"more":false}`), 400},
		{"not a member", "cert-uk", taxii.CollectionID("fr-private"), envelope(malware(1)), 404},
		{"exercise", "cert-fr", taxii.CollectionID("drill"), envelope(malware(1)), 404},
		{"unknown recipient", "cert-fr", community + "/objects/?recipients=cert-zz&x=", envelope(malware(1)), 400},
	} {
		path := root + "collections/" + tc.coll + "/objects/"
		if strings.Contains(tc.coll, "?") {
			path = root + "collections/" + tc.coll
		}
		r := h.req(t, h.keys[tc.org], "POST", path, tc.body)
		if r.code != tc.want {
			t.Errorf("%s: %d, want %d: %.300s", tc.name, r.code, tc.want, r.body)
		}
	}
}

// Get an object: its latest version by default, every version with match[version]=all; an
// object that is not in the collection is 404.
func TestSpec_5_6_GetObject(t *testing.T) {
	h := newTestHub(t)
	h.post(t, "cert-fr", community, indicator(1, "2020-01-01T00:00:00.000Z"), indicator(1, "2020-02-01T00:00:00.000Z"))
	h.post(t, "cert-fr", "fr-private", malware(5))
	base := root + "collections/" + community + "/objects/" + indicatorID(1) + "/"
	for q, want := range map[string]int{"": 1, "?match[version]=all": 2, "?match[version]=first": 1, "?match[version]=all&limit=1": 1,
		"?match[version]=2019-01-01T00:00:00Z": 0} {
		var e envelopeRes
		r := h.get(t, "cert-be", base+q)
		r.decode(t, &e)
		if r.code != 200 || len(e.Objects) != want {
			t.Errorf("GET object%s: %d %v, want %d", q, r.code, ids(e), want)
		}
		if q == "" && (e.Objects[0]["modified"] != "2020-02-01T00:00:00.000Z" || r.header.Get("X-TAXII-Date-Added-First") == "") {
			t.Errorf("GET object: %s, headers %v", r.body, r.header)
		}
	}
	for _, path := range []string{
		root + "collections/" + community + "/objects/" + indicatorID(7) + "/",
		root + "collections/" + community + "/objects/malware--00000000-0000-4000-8000-000000000005/", // in fr-private
	} {
		if r := h.get(t, "cert-fr", path); r.code != 404 {
			t.Errorf("GET %s: %d, want 404", path, r.code)
		}
	}
}

// Delete an object (5.7): only its author may; another member that sees it is 403, one that may
// not see it (TLP:RED not addressed to it) gets the same 404 as for a missing object; the
// author's delete answers 200 with no body, removes the versions match[version] selects (all by
// default) and announces each on the bus.
func TestSpec_5_7_DeleteObject(t *testing.T) {
	h := newTestHub(t)
	events, err := h.bus.Subscribe(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	h.post(t, "cert-fr", community, malware(1), indicator(1, "2020-01-01T00:00:00.000Z"), indicator(1, "2020-02-01T00:00:00.000Z"),
		indicator(1, "2020-03-01T00:00:00.000Z"), indicator(2, "2020-01-01T00:00:00.000Z", tlpRed))
	objPath := func(id string) string { return root + "collections/" + community + "/objects/" + id + "/" }
	mal := objPath("malware--00000000-0000-4000-8000-000000000001")
	missing404 := h.req(t, h.keys["cert-be"], "DELETE", objPath(indicatorID(9)), nil)
	for _, tc := range []struct {
		name string
		key  string
		path string
		want int
	}{
		{"another member", h.keys["cert-be"], mal, 403},
		{"a read key", h.keys["cert-fr:read"], mal, 403},
		{"a missing object", h.keys["cert-fr"], objPath(indicatorID(4)), 404},
		{"RED not addressed to the caller", h.keys["cert-be"], objPath(indicatorID(2)), 404},
		{"a version that does not exist", h.keys["cert-fr"], objPath(indicatorID(1)) + "?match[version]=2021-01-01T00:00:00.000Z", 404},
		{"another spec_version", h.keys["cert-fr"], objPath(indicatorID(1)) + "?match[spec_version]=2.0", 404},
		{"one version by the author", h.keys["cert-fr"], objPath(indicatorID(1)) + "?match[version]=2020-02-01T00:00:00.000Z", 200},
		{"first by the author", h.keys["cert-fr"], objPath(indicatorID(1)) + "?match[version]=first", 200},
		{"the author, all versions", h.keys["cert-fr"], mal, 200},
		{"deleted already", h.keys["cert-fr"], mal, 404},
	} {
		r := h.req(t, tc.key, "DELETE", tc.path, nil)
		if r.code != tc.want {
			t.Errorf("%s: DELETE %s: %d, want %d: %s", tc.name, tc.path, r.code, tc.want, r.body)
		}
		if tc.want == 200 && len(r.body) != 0 {
			t.Errorf("%s: body %q, want none", tc.name, r.body)
		}
		if tc.name == "RED not addressed to the caller" {
			var a, b errorRes
			r.decode(t, &a)
			missing404.decode(t, &b)
			if a.Title != b.Title || a.ErrorCode != b.ErrorCode || missing404.code != 404 {
				t.Errorf("an invisible object's 404 %s differs from a missing one's %s", r.body, missing404.body)
			}
		}
	}
	if r := h.get(t, "cert-be", mal); r.code != 404 {
		t.Errorf("GET a deleted object: %d, want 404", r.code)
	}
	var v versionsRes
	h.get(t, "cert-uk", objPath(indicatorID(1))+"versions/").decode(t, &v)
	if want := []string{"2020-03-01T00:00:00.000Z"}; !slices.Equal(v.Versions, want) {
		t.Errorf("versions left %v, want %v", v.Versions, want)
	}
	var e envelopeRes
	h.get(t, "cert-uk", objPath(indicatorID(1))).decode(t, &e)
	if got := ids(e); len(got) != 1 || !strings.HasSuffix(got[0], "@2020-03-01T00:00:00.000Z") {
		t.Errorf("latest after deleting older versions: %v", got)
	}
	var deleted []string
	for len(deleted) < 3 {
		ev := <-events
		if ev.Kind == hub.EventDelete {
			if ev.Author != "cert-fr" || ev.Workspace != "community" || ev.ObjectSeq == 0 {
				t.Errorf("delete event %+v", ev)
			}
			deleted = append(deleted, ev.ObjectID)
		}
	}
	want := []string{indicatorID(1), indicatorID(1), "malware--00000000-0000-4000-8000-000000000001"}
	if !slices.Equal(deleted, want) {
		t.Errorf("delete events for %v, want %v", deleted, want)
	}
}

// Object versions: every version of the object, paged, with the date-added headers; a missing
// object is 404.
func TestSpec_5_8_ObjectVersions(t *testing.T) {
	h := newTestHub(t)
	h.post(t, "cert-fr", community, indicator(1, "2020-01-01T00:00:00.000Z"), indicator(1, "2020-02-01T00:00:00.000Z"), indicator(2, "2020-01-01T00:00:00.000Z"))
	h.post(t, "cert-fr", community, indicator(1, "2020-03-01T00:00:00.000Z"))
	base := root + "collections/" + community + "/objects/" + indicatorID(1) + "/versions/"
	var v versionsRes
	r := h.get(t, "cert-uk", base)
	r.decode(t, &v)
	want := []string{"2020-01-01T00:00:00.000Z", "2020-02-01T00:00:00.000Z", "2020-03-01T00:00:00.000Z"}
	if r.code != 200 || !slices.Equal(v.Versions, want) || v.More || r.header.Get("X-TAXII-Date-Added-Last") == "" {
		t.Fatalf("versions: %d %s", r.code, r.body)
	}
	h.get(t, "cert-uk", base+"?limit=2").decode(t, &v)
	if len(v.Versions) != 2 || !v.More {
		t.Errorf("versions limit=2: %+v", v)
	}
	if r := h.get(t, "cert-uk", root+"collections/"+community+"/objects/"+indicatorID(8)+"/versions/"); r.code != 404 {
		t.Errorf("versions of a missing object: %d, want 404", r.code)
	}
}

// The handler answers only under /taxii2/ and leaves the rest of the outer mux alone.
func TestMountedBesideAPI(t *testing.T) {
	h := newTestHub(t)
	if r := h.get(t, "cert-fr", "/api/v1/objects"); r.code != http.StatusTeapot {
		t.Errorf("/api/v1/objects reached the TAXII handler: %d", r.code)
	}
}
