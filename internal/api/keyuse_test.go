package api_test

import (
	"context"
	"testing"

	"cshub/internal/api"
	"cshub/internal/hubtest"
)

// TestKeyUseIsAudited: each API key's use is in the audit log, once per window however often
// it is used, with the organisation and the key's id, and a key that fails to authenticate
// leaves no such entry.
func TestKeyUseIsAudited(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			h := hubtest.New(t, backend)
			srv := h.Serve(t, &api.Config{Audit: h.Audit})
			for range 3 {
				if code, body := srv.Do(t, h.Keys["cert-fr"], "GET", "/api/v1/whoami", nil); code != 200 {
					t.Fatalf("whoami: %d %s", code, body)
				}
			}
			srv.Do(t, h.Keys["cert-be:read"], "GET", "/api/v1/objects", nil)
			srv.Do(t, "cshub_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GET", "/api/v1/whoami", nil)
			items, err := h.Audit.List(context.Background(), 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			uses := map[string]int{}
			for _, it := range items {
				if it.Action == "key.use" {
					uses[it.Org+" "+it.Actor]++
				}
			}
			if uses["cert-fr cert-fr-analyst"] != 1 || uses["cert-be cert-be-analyst"] != 1 || len(uses) != 2 {
				t.Errorf("key.use entries %v; want one for each key used", uses)
			}
		})
	}
}
