package collab_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"cshub/internal/access"
	"cshub/internal/access/accesstest"
	"cshub/internal/collab"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/match"
	"cshub/internal/seal"
	"cshub/internal/store/sqlite"
)

// TestCorrelationWorld loads generated adversarial worlds in which every indicator holds the
// same value, and checks every organisation's correlation notices against the TLP text: a
// notice names exactly the other organisations' indicators the receiver may receive on
// access.PathNotify, and counts only organisations whose indicator it may not see and that is
// not RED.
func TestCorrelationWorld(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { testCorrelationWorld(t, seed) })
	}
}

func testCorrelationWorld(t *testing.T, seed int64) {
	ctx := context.Background()
	w := accesstest.Generate(seed, 80)
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bar := seal.New(st)
	root, _ := seal.NewRootKey()
	if err := bar.Initialize(ctx, root); err != nil {
		t.Fatal(err)
	}
	for _, x := range w.Workspaces {
		if err := bar.AddWorkspace(ctx, x.Slug); err != nil {
			t.Fatal(err)
		}
	}
	key, err := match.Canonical("domain-name", "shared.example")
	if err != nil {
		t.Fatal(err)
	}
	token, err := bar.Token(kb.TokenValue, key)
	if err != nil {
		t.Fatal(err)
	}
	err = w.Load(ctx, st, time.Now(), func(o *hub.Object) error {
		if o.Type == "indicator" {
			var b map[string]any
			if err := json.Unmarshal(o.Body, &b); err != nil {
				return err
			}
			b["pattern"], b["pattern_type"], b["valid_from"] = "[domain-name:value = 'shared.example']", "stix", "2026-01-01T00:00:00Z"
			if o.Body, err = json.Marshal(b); err != nil {
				return err
			}
			o.Tokens = [][]byte{token}
		}
		var err error
		o.Body, err = bar.Encrypt(seal.ObjectLocation(o), o.Body)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	s := collab.New(collab.Config{KB: kb.New(kb.Config{Store: st, Sealer: bar}), Dir: st})

	var indicators []*hub.Object
	for _, o := range w.Objects {
		if o.Type == "indicator" && !o.Revoked {
			indicators = append(indicators, o)
		}
	}
	checked, notices := 0, 0
	for _, org := range w.Orgs {
		cs, err := s.Correlations(ctx, org.Code, "")
		if err != nil {
			t.Fatalf("%s: %v", org.Code, err)
		}
		holds := false // whether org holds the value in an indicator it may be told about
		for _, o := range indicators {
			holds = holds || o.Author == org.Code && w.Expect(org.Code, o, access.PathNotify)
		}
		named := map[string]bool{}
		for _, c := range cs {
			if c.Value != "domain-name:"+key {
				t.Errorf("%s: notice on value %q", org.Code, c.Value)
			}
			for _, h := range c.HeldBy {
				named[h.Object] = true
				notices++
			}
		}
		if !holds && len(cs) > 0 {
			t.Errorf("%s holds no visible indicator but is told %s", org.Code, mustJSON(cs))
		}
		counted := map[string]bool{}
		for _, o := range indicators {
			if o.Author == org.Code {
				continue
			}
			checked++
			may := w.Expect(org.Code, o, access.PathNotify)
			switch {
			case named[o.ID] && !may:
				t.Errorf("LEAK: %s is told of %s (%s, TLP:%s, in %s)", org.Code, o.ID, o.Author, o.TLP, o.Workspace)
			case holds && may && !named[o.ID]:
				t.Errorf("%s is not told of %s, which it may see", org.Code, o.ID)
			case holds && !may && o.TLP != hub.TLPRed && w.Workspace(o.Workspace).Kind != hub.WorkspaceExercise:
				counted[o.Author] = true
			}
		}
		for _, c := range cs {
			for _, h := range c.HeldBy {
				delete(counted, h.Org)
			}
			if c.OtherMembers != len(counted) {
				t.Errorf("%s: told %d other members, want %d (%v)", org.Code, c.OtherMembers, len(counted), counted)
			}
		}
	}
	if checked == 0 || notices == 0 {
		t.Fatalf("the world tests nothing: %d indicators checked, %d holders named", checked, notices)
	}
}
