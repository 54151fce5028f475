package taxii_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"cshub/internal/access"
	"cshub/internal/taxii"
)

// TestRedVisibleToAuthorAndRecipientsOnly posts a TLP:RED indicator as cert-fr addressed to
// cert-be and reads it through every TAXII endpoint as each member: cert-fr and cert-be see it,
// cert-uk sees nothing, and its refusals are indistinguishable from those for a missing object.
func TestRedVisibleToAuthorAndRecipientsOnly(t *testing.T) {
	h := newTestHub(t)
	red := indicator(1, "2020-01-01T00:00:00.000Z", tlpRed)
	r := h.req(t, h.keys["cert-fr"], "POST", root+"collections/"+community+"/objects/?recipients=cert-be",
		envelope(red, indicator(2, "2020-01-01T00:00:00.000Z", tlpGreen)))
	if r.code != 202 {
		t.Fatalf("POST: %d %s", r.code, r.body)
	}
	id := indicatorID(1)
	coll := root + "collections/" + community + "/"
	listings := []string{
		coll + "objects/",
		coll + "objects/?match[id]=" + id,
		coll + "objects/?match[type]=indicator&match[version]=all",
		coll + "objects/?match[version]=first",
		coll + "manifest/",
		coll + "manifest/?match[id]=" + id,
	}
	single := []string{coll + "objects/" + id + "/", coll + "objects/" + id + "/versions/"}
	// The author comes last: its delete succeeds and the object is gone afterwards.
	for _, reader := range []struct {
		org  string
		sees bool
	}{{"cert-be", true}, {"cert-uk", false}, {"cert-fr", true}} {
		org, sees := reader.org, reader.sees
		for _, path := range listings {
			r := h.get(t, org, path)
			if r.code != 200 {
				t.Fatalf("%s GET %s: %d %s", org, path, r.code, r.body)
			}
			if got := bytes.Contains(r.body, []byte(id)); got != sees {
				t.Errorf("%s GET %s: RED object listed = %v, want %v", org, path, got, sees)
			}
		}
		for _, path := range single {
			r := h.get(t, org, path)
			if want := map[bool]int{true: 200, false: 404}[sees]; r.code != want {
				t.Errorf("%s GET %s: %d, want %d", org, path, r.code, want)
			}
			if !sees {
				missing := h.get(t, org, strings.ReplaceAll(path, id, indicatorID(99)))
				if strings.ReplaceAll(string(r.body), id, "") != strings.ReplaceAll(string(missing.body), indicatorID(99), "") {
					t.Errorf("%s GET %s: hidden answers differently from missing:\n%s\n%s", org, path, r.body, missing.body)
				}
			}
		}
		// Deleting: the recipient sees the object but is not its author; cert-uk must not
		// learn it exists.
		want := map[string]int{"cert-fr": http.StatusOK, "cert-be": 403, "cert-uk": 404}[org]
		if r := h.req(t, h.keys[org], "DELETE", coll+"objects/"+id+"/", nil); r.code != want {
			t.Errorf("%s DELETE: %d, want %d", org, r.code, want)
		}
	}
}

// TestFeedPathWithholdsRed shows the stricter feed rules when the server is configured with
// access.PathFeed: RED goes to nobody, not even its author, while GREEN still flows.
func TestFeedPathWithholdsRed(t *testing.T) {
	h := newTestHubWith(t, func(c *taxii.Config) { c.Path = access.PathFeed })
	h.req(t, h.keys["cert-fr"], "POST", root+"collections/"+community+"/objects/?recipients=cert-be",
		envelope(indicator(1, "2020-01-01T00:00:00.000Z", tlpRed), indicator(2, "2020-01-01T00:00:00.000Z", tlpGreen)))
	for _, org := range []string{"cert-fr", "cert-be"} {
		var e envelopeRes
		h.get(t, org, root+"collections/"+community+"/objects/").decode(t, &e)
		if got := ids(e); len(got) != 1 || !strings.HasPrefix(got[0], indicatorID(2)) {
			t.Errorf("%s on the feed path: %v, want only the GREEN indicator", org, got)
		}
	}
}

// TestConcurrentClients runs members adding and reading at once, for the race detector: the
// status store is the one piece of shared state the server keeps.
func TestConcurrentClients(t *testing.T) {
	h := newTestHub(t)
	done := make(chan error)
	for i, org := range orgs {
		go func() {
			for j := range 5 {
				r, err := h.try(h.keys[org], "POST", root+"collections/community/objects/", envelope(malware(100*i+j)))
				var st status
				if err != nil || r.code != 202 || json.Unmarshal(r.body, &st) != nil {
					done <- fmt.Errorf("%s POST: %v %d %s", org, err, r.code, r.body)
					return
				}
				if r, err := h.try(h.keys[org], "GET", root+"status/"+st.ID+"/", nil); err != nil || r.code != 200 && r.code != 404 {
					done <- fmt.Errorf("%s GET status: %v %d", org, err, r.code)
					return
				}
				if _, err := h.try(h.keys[org], "GET", root+"collections/community/objects/?limit=3", nil); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range orgs {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	var e envelopeRes
	h.get(t, "cert-uk", root+"collections/community/objects/").decode(t, &e)
	if len(e.Objects) != 15 {
		t.Errorf("%d objects after 15 adds", len(e.Objects))
	}
}

// TestTLPParameterMarksUnmarkedObjects posts an unmarked object with the cshub extensions
// tlp=red and recipients=cert-be: it is RED, for cert-fr and cert-be only.
func TestTLPParameterMarksUnmarkedObjects(t *testing.T) {
	h := newTestHub(t)
	r := h.req(t, h.keys["cert-fr"], "POST", root+"collections/community/objects/?tlp=red&recipients=cert-be", envelope(malware(7)))
	if r.code != 202 {
		t.Fatalf("POST: %d %s", r.code, r.body)
	}
	for org, want := range map[string]int{"cert-fr": 200, "cert-be": 200, "cert-uk": 404} {
		if r := h.get(t, org, root+"collections/community/objects/malware--00000000-0000-4000-8000-000000000007/"); r.code != want {
			t.Errorf("%s: %d, want %d", org, r.code, want)
		}
	}
	if r := h.req(t, h.keys["cert-fr"], "POST", root+"collections/community/objects/?tlp=purple", envelope(malware(8))); r.code != 400 {
		t.Errorf("tlp=purple: %d, want 400", r.code)
	}
}
