package collab_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"cshub/internal/collab"
	"cshub/internal/demo"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
)

// TestSeedDemo seeds the demo's collaboration on the seed scenario, on each backend, and reads
// it back through the API as the demo's members would.
func TestSeedDemo(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		for _, code := range []string{"cert-us", "cert-nl"} {
			if err := f.h.Members.CreateOrg(ctx, &hub.Org{Code: code, Name: code, Country: "US", Kind: hub.OrgMember, Active: true}); err != nil {
				t.Fatal(err)
			}
			if err := f.h.Store.AddMember(ctx, hubtest.Community, code); err != nil {
				t.Fatal(err)
			}
			f.h.Keys[code] = f.h.Key(t, f.h.User(t, code, code+"-analyst", hub.RoleAnalyst), hub.ScopeWrite)
		}
		if sum := f.h.Ingest(t, "cert-be", hubtest.Community, demo.SeedBundle()); len(sum.Rejected) > 0 {
			t.Fatalf("seed rejected: %+v", sum.Rejected)
		}
		if err := collab.SeedDemo(ctx, f.s); err != nil {
			t.Fatal(err)
		}

		var cases []*collab.Case
		f.call(t, "cert-nl", "GET", "/api/v1/cases", nil, http.StatusOK, &cases)
		if len(cases) != 1 || cases[0].Title != "APT28 phishing-domain take-down" || cases[0].Lead != "cert-fr" ||
			len(cases[0].Participants) != 4 || len(cases[0].Tasks) != 3 || cases[0].Status != "in-progress" {
			t.Fatalf("demo case: %s", mustJSON(cases))
		}
		var claims []*collab.Claim
		f.call(t, "cert-us", "GET", "/api/v1/attribution", nil, http.StatusOK, &claims)
		positions := map[string]map[string][]string{}
		for _, c := range claims {
			positions[c.Object] = c.Positions
		}
		apt28 := positions["relationship--ec15048f-a697-5c7b-b0c3-73f41415f400"]
		if !slices.Equal(apt28["agree"], []string{"cert-fr", "cert-uk"}) || !slices.Equal(apt28["neutral"], []string{"cert-nl"}) {
			t.Errorf("APT28 attribution positions: %v", apt28)
		}
		seedworm := positions["report--378b6710-b8ff-508a-b47a-7bddc88e1bed"]
		if len(seedworm["agree"]) != 2 || !slices.Equal(seedworm["disagree"], []string{"cert-be"}) {
			t.Errorf("Seedworm positions: %v", seedworm)
		}
		var tl []collab.Entry
		f.call(t, "cert-uk", "GET", "/api/v1/cases/"+cases[0].ID+"/timeline", nil, http.StatusOK, &tl)
		if len(tl) < 9 {
			t.Errorf("demo timeline has %d events: %s", len(tl), mustJSON(tl))
		}
	})
}
