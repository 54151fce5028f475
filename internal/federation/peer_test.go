package federation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"cshub/internal/federation"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/stix"
	"cshub/internal/taxii"
	"cshub/internal/taxii/client"
)

// TestFederationRootOffers: a peer hub is offered its own workspaces and the community ones, and
// may not write through the federation root; the hub operator's organisation is no peer.
func TestFederationRootOffers(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			a := newSource(t, backend)
			if err := a.Members.CreateOrg(ctx, &hub.Org{Code: "operator", Name: "Operator", Country: "EU", Kind: hub.OrgOperator, Active: true}); err != nil {
				t.Fatal(err)
			}
			opKey := a.Key(t, a.User(t, "operator", "op", hub.RoleOperator), hub.ScopeWrite)
			c := client.New(client.Config{HTTP: a.srv.Client(), Token: a.key})
			cols, err := c.Collections(ctx, a.root())
			if err != nil {
				t.Fatal(err)
			}
			var aliases []string
			for _, col := range cols {
				aliases = append(aliases, col.Alias)
				if col.CanWrite || !col.CanRead {
					t.Errorf("collection %s: can_read %v can_write %v, want read only", col.Alias, col.CanRead, col.CanWrite)
				}
			}
			if want := []string{"community", "peering"}; !slices.Equal(aliases, want) {
				t.Errorf("federation collections %v, want %v", aliases, want)
			}
			for _, tc := range []struct {
				name string
				call func() error
				code string
			}{
				{"a private workspace", func() error { _, err := c.Objects(ctx, a.root(), "fr-only", client.Query{}); return err }, hub.ENotFound},
				{"a write", func() error {
					_, err := client.New(client.Config{HTTP: a.srv.Client(), Token: a.Keys["cert-fr"]}).AddObjects(ctx, a.root(), "community", nil)
					return err
				}, hub.EInvalid}, // 405 Method Not Allowed
				{"the operator", func() error {
					_, err := client.New(client.Config{HTTP: a.srv.Client(), Token: opKey}).Collections(ctx, a.root())
					return err
				}, hub.EForbidden},
				{"a wrong key", func() error {
					_, err := client.New(client.Config{HTTP: a.srv.Client(), Token: a.key + "x"}).Collections(ctx, a.root())
					return err
				}, hub.EUnauthorized},
			} {
				if err := tc.call(); hub.ErrorCode(err) != tc.code {
					t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
				}
			}
			var re *client.ResponseError
			_, err = client.New(client.Config{HTTP: a.srv.Client(), Token: a.Keys["cert-fr"]}).AddObjects(ctx, a.root(), "community", nil)
			if !asResponse(err, &re) || re.StatusCode != 405 {
				t.Errorf("POST on the federation root: %v, want 405", err)
			}
		})
	}
}

// TestPeers: configured peers are listed by name, synced when due, their credentials are sealed
// in the store and readable by the receiving organisation only, and a removed peer is no longer
// synced.
func TestPeers(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			a := newSource(t, backend)
			a.Ingest(t, "cert-fr", "community", indicator(1, hub.TLPGreen))
			a.Ingest(t, "cert-fr", "peering", indicator(2, hub.TLPAmber))
			b := hubtest.New(t, backend)
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			sync := federation.NewSyncer(federation.Config{KB: b.KB, Store: b.Store, Sealer: b.Barrier, Now: func() time.Time { return now }})
			reg := sync.Registry()
			ca := certPEM(a)
			for _, p := range []federation.Peer{
				{Name: "alliance", URL: a.root(), Collection: "community", Workspace: "community", Org: "cert-uk", User: "hub-b-sync", Key: a.key, CA: ca, Every: time.Hour},
				{Name: "alliance-peering", URL: a.root(), Collection: "peering", Workspace: "community", Org: "cert-uk", Token: a.key, CA: ca, Every: 2 * time.Hour},
			} {
				if _, err := reg.Put(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := reg.Put(ctx, federation.Peer{Name: "alliance", URL: a.root(), Collection: "peering", Workspace: "community", Org: "cert-uk"}); hub.ErrorCode(err) != hub.EConflict {
				t.Errorf("a second peer of the same name: %v, want EConflict", err)
			}
			peers, err := reg.List(ctx)
			if err != nil || len(peers) != 2 || peers[0].Name != "alliance" || peers[1].Name != "alliance-peering" {
				t.Fatalf("peers %v, %v", peers, err)
			}
			// Sealed on disk: the raw bodies never hold the key.
			raw, err := b.Store.ListObjects(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, Types: []string{federation.PeerType}})
			if err != nil || len(raw) != 2 {
				t.Fatalf("peer records %d, %v", len(raw), err)
			}
			for _, o := range raw {
				if bytes.Contains(o.Body, []byte(a.key)) || bytes.Contains(o.Body, []byte("hub-b-sync")) {
					t.Errorf("peer record %s holds a credential in plain text", o.ID)
				}
				if o.TLP != hub.TLPRed || o.Author != "cert-uk" || len(o.Recipients) != 0 {
					t.Errorf("peer record marked %v by %s for %v, want RED for cert-uk alone", o.TLP, o.Author, o.Recipients)
				}
			}
			if objs, err := b.KB.List(ctx, hub.Filter{Viewer: hub.Viewer{Org: "cert-fr", Workspaces: []string{"community"}}, Types: []string{federation.PeerType}}); err != nil || len(objs) != 0 {
				t.Errorf("cert-fr sees %d peer records (%v), want none", len(objs), err)
			}

			if err := sync.SyncDue(ctx); err != nil {
				t.Fatal(err)
			}
			if got := stored(t, b, "community"); len(got) != 2 {
				t.Fatalf("after the first scheduled run hub B holds %v, want both objects", got)
			}
			a.Ingest(t, "cert-fr", "community", indicator(3, hub.TLPGreen))
			a.Ingest(t, "cert-fr", "peering", indicator(4, hub.TLPGreen))
			now = now.Add(90 * time.Minute) // alliance is due, alliance-peering not yet
			if err := sync.SyncDue(ctx); err != nil {
				t.Fatal(err)
			}
			got := stored(t, b, "community")
			if _, ok := got[indicatorID(3)]; !ok || len(got) != 3 {
				t.Errorf("after 90 minutes hub B holds %v, want indicator 3 and not 4", got)
			}
			if err := reg.Remove(ctx, "alliance-peering"); err != nil {
				t.Fatal(err)
			}
			if err := reg.Remove(ctx, "alliance-peering"); hub.ErrorCode(err) != hub.ENotFound {
				t.Errorf("removing twice: %v, want ENotFound", err)
			}
			now = now.Add(3 * time.Hour)
			if err := sync.SyncDue(ctx); err != nil {
				t.Fatal(err)
			}
			if got := stored(t, b, "community"); len(got) != 3 {
				t.Errorf("a removed peer was synced: hub B holds %v", got)
			}
			st, err := reg.Get(ctx, federation.Peer{URL: a.root(), Collection: "peering", Workspace: "community"})
			if err != nil || st.Key != "" || st.Token != "" || st.State.AddedAfter.IsZero() {
				t.Errorf("removed peer kept %+v, %v; want its cursor without credentials", st, err)
			}
		})
	}
}

// TestPeerCredentialsWriteOnly: a configured peer's token and key never come back to the
// receiving organisation's users through any read path (the objects API, TAXII), though they
// may read the record itself; and a record version they write that sends the credentials
// elsewhere (another source, another CA) no longer opens them.
func TestPeerCredentialsWriteOnly(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			b := hubtest.New(t, backend)
			reg := federation.NewRegistry(federation.Config{KB: b.KB, Store: b.Store, Sealer: b.Barrier})
			const token, key = "peer-bearer-token-7f3a", "peer-basic-key-91c2"
			p := federation.Peer{Name: "alliance", URL: "https://127.0.0.1:1/taxii2/federation/", Collection: "community",
				Workspace: "community", Org: "cert-uk", Token: token, User: "hub-b-sync", Key: key, Every: time.Hour}
			if _, err := reg.Put(ctx, p); err != nil {
				t.Fatal(err)
			}
			if got, err := reg.Named(ctx, "alliance"); err != nil || got.Token != token || got.Key != key {
				t.Fatalf("the registry reads back %+v, %v; want the credentials given", got, err)
			}
			id := p.ID()
			api := b.Serve(t, nil)
			mux := http.NewServeMux()
			mux.Handle(taxii.DiscoveryPath, taxii.New(taxii.Config{KB: b.KB, Dir: b.Store, Auth: b.Auth, Objects: b.Store, Bus: b.Bus}))
			tx := httptest.NewTLSServer(mux)
			defer tx.Close()
			for _, who := range []string{"cert-uk:read", "cert-uk", "cert-uk:admin"} {
				c := client.New(client.Config{HTTP: tx.Client(), Token: b.Keys[who]})
				env, err := c.Objects(ctx, tx.URL+taxii.RootPath, "community", client.Query{})
				if err != nil {
					t.Fatal(err)
				}
				all, err := c.Objects(ctx, tx.URL+taxii.RootPath, "community", client.Query{IDs: []string{id}, Versions: []string{"all"}})
				if err != nil {
					t.Fatal(err)
				}
				var bodies [][]byte
				for _, o := range append(env.Objects, all.Objects...) {
					bodies = append(bodies, o)
				}
				for _, path := range []string{"/api/v1/objects?type=" + federation.PeerType, "/api/v1/objects/" + id} {
					code, body := api.Do(t, b.Keys[who], "GET", path, nil)
					if code != http.StatusOK {
						t.Fatalf("%s GET %s: %d %s", who, path, code, body)
					}
					bodies = append(bodies, body)
				}
				seen := 0
				for _, body := range bodies {
					if bytes.Contains(body, []byte(id)) {
						seen++
					}
					if bytes.Contains(body, []byte(token)) || bytes.Contains(body, []byte(key)) {
						t.Errorf("%s reads a peer credential: %s", who, body)
					}
				}
				if seen != len(bodies) {
					t.Errorf("%s sees the record in %d of %d reads, want all: the test reads nothing", who, seen, len(bodies))
				}
			}

			// cert-uk's analyst writes a version that trusts another CA, copying the sealed
			// credentials: they must not open for it.
			code, body := api.Do(t, b.Keys["cert-uk"], "GET", "/api/v1/objects/"+id, nil)
			if code != http.StatusOK {
				t.Fatalf("GET the record: %d %s", code, body)
			}
			var rec map[string]any
			if err := json.Unmarshal(body, &rec); err != nil {
				t.Fatal(err)
			}
			rec["modified"] = time.Now().UTC().Add(time.Minute).Format("2006-01-02T15:04:05.000Z")
			rec["x_cshub_peer"].(map[string]any)["ca"] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
			forged, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			b.Ingest(t, "cert-uk", "community", stix.Bundle(forged))
			if got, err := reg.Named(ctx, "alliance"); hub.ErrorCode(err) != hub.EIntegrity {
				t.Errorf("a record rewritten through the API reads as %+v, %v; want EIntegrity", got, err)
			}
		})
	}
}
