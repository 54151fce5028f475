package feed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"cshub/internal/access"
	"cshub/internal/access/accesstest"
	"cshub/internal/export"
	"cshub/internal/feed"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/seal"
	"cshub/internal/warninglist"
)

// loadWorld writes an accesstest World into a test hub: its organisations, workspaces (the
// World's community merged into the hub's) and memberships, and its objects sealed, each
// indicator with a pattern of its own address so that exports carry it.
func loadWorld(t *testing.T, h *hubtest.Hub, w *accesstest.World) {
	t.Helper()
	ctx := context.Background()
	for _, o := range w.Orgs {
		c := *o
		if err := h.Store.CreateOrg(ctx, &c); err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range w.Workspaces {
		if x.Slug != hubtest.Community {
			c := *x
			c.Members = nil
			if err := h.Members.CreateWorkspace(ctx, &c); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range x.Members {
			if err := h.Store.AddMember(ctx, x.Slug, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, r := range w.Removed {
		if err := h.Store.AddMember(ctx, r[0], r[1]); err != nil {
			t.Fatal(err)
		}
		if err := h.Store.RemoveMember(ctx, r[0], r[1]); err != nil {
			t.Fatal(err)
		}
	}
	objs := make([]*hub.Object, len(w.Objects))
	for i, o := range w.Objects {
		c := *o
		if c.Type == "indicator" {
			c.Body, _ = json.Marshal(map[string]any{"type": "indicator", "spec_version": "2.1", "id": c.ID,
				"created": c.Created.Format(time.RFC3339Nano), "modified": c.Modified.Format(time.RFC3339Nano),
				"pattern": fmt.Sprintf("[ipv4-addr:value = '198.51.%d.%d']", i/200, i%200+1), "pattern_type": "stix",
				"valid_from": c.Created.Format(time.RFC3339Nano)})
		}
		sealed, err := h.Barrier.Encrypt(seal.ObjectLocation(&c), c.Body)
		if err != nil {
			t.Fatal(err)
		}
		c.Body = sealed
		objs[i] = &c
	}
	if _, err := h.Store.PutObjects(ctx, objs, hub.PutOptions{Now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
}

// TestTLP is the access test of every way indicators leave through this feature: for each
// organisation of a generated World (active, inactive, unknown; members or not; authors and
// RED recipients), an export (`cshub export`'s path: access.ViewerFor on PathExport and a
// Catalog) and a feed (the Service, on PathFeed) must hold exactly the indicators the World's
// own reading of TLP 2.0 (accesstest's Expect) lets the organisation receive on that path:
// not one more, and, since the exports here filter nothing else, not one fewer.
func TestTLP(t *testing.T) {
	w := accesstest.Generate(14, 120)
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			h := hubtest.New(t, backend)
			loadWorld(t, h, w)
			svc := feed.New(feed.Config{KB: h.KB, Dir: h.Store, Warninglists: warninglist.Default()})
			cat := export.NewCatalog(export.Config{KB: h.KB, Warninglists: warninglist.Default()})
			p, err := cat.Sync(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := map[access.Path]map[string]map[string]bool{access.PathExport: {}, access.PathFeed: {}}
			for _, org := range append(orgCodes(w), accesstest.Unknown) {
				exported := map[string]bool{}
				if v, err := access.ViewerFor(ctx, h.Store, org, access.PathExport); err == nil {
					for _, ind := range cat.Select(&export.View{Viewer: v, Path: access.PathExport}, p) {
						exported[ind.ID] = true
					}
				} else if hub.ErrorCode(err) != hub.ENotFound {
					t.Fatal(err)
				}
				got[access.PathExport][org] = exported

				fed := map[string]bool{}
				slug := "feeds-" + org
				if w.Org(org) != nil {
					if err := h.Members.CreateWorkspace(ctx, &hub.Workspace{Slug: slug, Kind: hub.WorkspacePrivate, Members: []string{org}}); err != nil {
						t.Fatal(err)
					}
					if _, err := svc.Create(ctx, org, "test", "all", export.Selection{}); err == nil {
						d, err := svc.Poll(ctx, org, "all", "")
						if err != nil {
							t.Fatal(err)
						}
						for _, it := range d.Added {
							fed[it.ID] = true
						}
					} else if w.Org(org).Active {
						t.Fatalf("%s: create feed: %v", org, err)
					}
				}
				got[access.PathFeed][org] = fed
			}
			leaks, refusals, err := w.Compare(func(tr accesstest.Triple) (bool, error) {
				if tr.Path != access.PathExport && tr.Path != access.PathFeed {
					return w.Expect(tr.Org, tr.Object, tr.Path), nil // not this feature's paths
				}
				if tr.Object.Type != "indicator" {
					return false, nil // only indicators are exported
				}
				return got[tr.Path][tr.Org][tr.Object.ID], nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range leaks {
				t.Error(m)
			}
			for _, m := range refusals {
				if m.Object.Type == "indicator" {
					t.Error(m)
				}
			}
			n := 0
			for _, sets := range got {
				for _, s := range sets {
					n += len(s)
				}
			}
			if n == 0 {
				t.Fatal("nothing was exported to anyone: the test proves nothing")
			}
		})
	}
}

func orgCodes(w *accesstest.World) []string {
	var s []string
	for _, o := range w.Orgs {
		s = append(s, o.Code)
	}
	return s
}
