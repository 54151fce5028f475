package hubtest_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"cshub/internal/api"
	"cshub/internal/auth"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
)

// echo is a feature with one endpoint that needs write scope and refuses an empty "name".
type echo struct{}

func (echo) Routes(r *api.Router) {
	r.Handle("POST /api/v1/echo", hub.ScopeWrite, func(w http.ResponseWriter, req *http.Request, p *auth.Principal) error {
		name := req.URL.Query().Get("name")
		if name == "" {
			return hub.FieldError("name", "required")
		}
		api.WriteJSON(w, http.StatusOK, map[string]string{"org": p.Org, "name": name})
		return nil
	})
}

func TestFeatureRoutesShareAuthScopesAndErrors(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			h := hubtest.New(t, backend)
			srv := h.Serve(t, nil, echo{})
			cases := []struct {
				name, key, query string
				status           int
				want             string // org in the answer, or the error's field
			}{
				{"writer", h.Keys["cert-fr"], "?name=x", http.StatusOK, "cert-fr"},
				{"no key", "", "?name=x", http.StatusUnauthorized, "Authorization"},
				{"read key", h.Keys["cert-fr:read"], "?name=x", http.StatusForbidden, "Authorization"},
				{"bad field", h.Keys["cert-be"], "", http.StatusBadRequest, "name"},
			}
			for _, c := range cases {
				status, body := srv.Do(t, c.key, "POST", "/api/v1/echo"+c.query, nil)
				if status != c.status {
					t.Fatalf("%s: status %d, want %d: %s", c.name, status, c.status, body)
				}
				var got struct {
					Org   string `json:"org"`
					Error struct {
						Field string `json:"field"`
					} `json:"error"`
				}
				if err := json.Unmarshal(body, &got); err != nil {
					t.Fatalf("%s: %v: %s", c.name, err, body)
				}
				if got.Org != c.want && got.Error.Field != c.want {
					t.Errorf("%s: answer %s, want %q", c.name, body, c.want)
				}
			}
		})
	}
}
