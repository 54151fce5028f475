package api_test

import (
	"net/http"
	"testing"

	"cshub/internal/hubtest"
)

// TestAnonymousSightingHidesItsAuthor: an anonymous sighting names its author to nobody but
// the author, neither in the body nor in the metadata headers.
func TestAnonymousSightingHidesItsAuthor(t *testing.T) {
	h := hubtest.New(t, "")
	h.Ingest(t, "cert-be", hubtest.Community, []byte(`{"type":"bundle","id":"bundle--6a0e3f4c-52d1-4f7e-8c9b-1a2b3c4d5e6f","objects":[
		{"type":"sighting","spec_version":"2.1","id":"sighting--5b4f2a10-9c8d-4e7f-a6b5-c4d3e2f1a0b9","created":"2026-11-20T08:00:00.000Z",
		 "modified":"2026-11-20T08:00:00.000Z","sighting_of_ref":"indicator--a1000000-0000-4000-8000-000000000001","count":3,
		 "x_cshub_anonymous":true}]}`))
	srv := h.Serve(t, nil)
	for _, c := range []struct {
		org, want string
	}{{"cert-fr", ""}, {"cert-uk", ""}, {"cert-be", "cert-be"}} {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/objects/sighting--5b4f2a10-9c8d-4e7f-a6b5-c4d3e2f1a0b9", nil)
		req.Header.Set("Authorization", "Bearer "+h.Keys[c.org])
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-Cshub-Author"); resp.StatusCode != 200 || got != c.want {
			t.Errorf("as %s: %d, X-Cshub-Author %q, want %q", c.org, resp.StatusCode, got, c.want)
		}
	}
}
