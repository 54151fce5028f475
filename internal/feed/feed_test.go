package feed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"cshub/internal/access"
	"cshub/internal/export"
	"cshub/internal/feed"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/stix"
	"cshub/internal/warninglist"
)

// clock is a test clock the Service and the reference exports read.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// newHub returns a test hub whose members each have a private workspace (where feeds are
// kept), and a feed Service on it.
func newHub(t *testing.T, backend string, c *clock) (*hubtest.Hub, *feed.Service) {
	t.Helper()
	h := hubtest.New(t, backend)
	for _, org := range hubtest.Orgs {
		if err := h.Members.CreateWorkspace(context.Background(), &hub.Workspace{Slug: org, Kind: hub.WorkspacePrivate, Members: []string{org}}); err != nil {
			t.Fatal(err)
		}
	}
	return h, newService(h, c)
}

func newService(h *hubtest.Hub, c *clock) *feed.Service {
	return feed.New(feed.Config{KB: h.KB, Dir: h.Store, Warninglists: warninglist.Default(), Now: c.Now})
}

var markings = map[hub.TLP]string{hub.TLPClear: stix.TLP2Clear, hub.TLPGreen: stix.TLP2Green, hub.TLPAmber: stix.TLP2Amber,
	hub.TLPAmberStrict: stix.TLP2AmberStrict, hub.TLPRed: stix.TLP2Red}

// indicatorJSON is one indicator version.
type indicatorJSON struct {
	id, value  string
	tlp        hub.TLP
	confidence int
	modified   time.Time
	validUntil time.Time
	revoked    bool
}

func (i indicatorJSON) bundle() []byte { return bundleOf(i.fields()) }

// object is the indicator's JSON, to put in a bundle with others.
func (i indicatorJSON) object() []byte {
	b, _ := json.Marshal(i.fields())
	return b
}

func (i indicatorJSON) fields() map[string]any {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	o := map[string]any{"type": "indicator", "spec_version": "2.1", "id": i.id, "name": "indicator " + i.value,
		"created": created.Format(time.RFC3339Nano), "modified": i.modified.Format(time.RFC3339Nano),
		"pattern": "[ipv4-addr:value = '" + i.value + "']", "pattern_type": "stix", "valid_from": created.Format(time.RFC3339),
		"confidence": i.confidence, "object_marking_refs": []string{markings[i.tlp]}}
	if !i.validUntil.IsZero() {
		o["valid_until"] = i.validUntil.Format(time.RFC3339Nano)
	}
	if i.revoked {
		o["revoked"] = true
	}
	return o
}

func bundleOf(objs ...map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"type": "bundle", "id": "bundle--" + export.NameUUID(fmt.Sprint(objs)), "objects": objs})
	return b
}

func sightingJSON(n int, of string, fp bool, modified time.Time) []byte {
	return bundleOf(map[string]any{"type": "sighting", "spec_version": "2.1", "id": "sighting--" + export.NameUUID(fmt.Sprint("s", n)),
		"created": modified.Format(time.RFC3339Nano), "modified": modified.Format(time.RFC3339Nano), "sighting_of_ref": of,
		"x_cshub_false_positive": fp, "object_marking_refs": []string{stix.TLP2Green}})
}

// record is what a client keeps per indicator, and what the reference export says.
type record struct {
	modified  time.Time
	sightings int
	values    string
}

func fromItem(it feed.Item) record {
	var vs []string
	for _, v := range it.Values {
		vs = append(vs, v.Type+":"+v.Value)
	}
	return record{modified: it.Modified, sightings: it.Sightings, values: strings.Join(vs, ",")}
}

// reference is a full export of org's feed computed from scratch, by a catalog that loads
// only the latest versions: what the client must end up holding.
func reference(t *testing.T, h *hubtest.Hub, c *clock, org string, sel export.Selection) map[string]record {
	t.Helper()
	ctx := context.Background()
	cat := export.NewCatalog(export.Config{KB: h.KB, Warninglists: warninglist.Default(), LatestOnly: true, Now: c.Now})
	p, err := cat.Sync(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := access.ViewerFor(ctx, h.Store, org, access.PathFeed)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]record{}
	for _, ind := range cat.Select(&export.View{Viewer: v, Path: access.PathFeed, Selection: sel}, p) {
		var vs []string
		for _, v := range ind.Values {
			vs = append(vs, v.Type+":"+v.Value)
		}
		out[ind.Key()] = record{modified: ind.Modified, sightings: ind.Sightings, values: strings.Join(vs, ",")}
	}
	return out
}

// client is an enforcement point applying deltas.
type client struct {
	cursor string
	set    map[string]record
}

func (cl *client) apply(t *testing.T, d *feed.Delta) {
	t.Helper()
	if d.Full {
		cl.set = map[string]record{}
	}
	for _, it := range d.Added {
		cl.set[it.Workspace+"/"+it.ID] = fromItem(it)
	}
	for _, r := range d.Removed {
		k := r.Workspace + "/" + r.ID
		if _, ok := cl.set[k]; !ok {
			t.Errorf("removal of %s, which the client does not hold", k)
		}
		delete(cl.set, k)
	}
	cl.cursor = d.Cursor
}

// TestDeltaProperty runs random sequences of additions, confidence changes, revocations,
// expiries (the clock passing valid_until), sightings and false-positive sightings, and after
// each poll checks that a client applying the deltas holds exactly what a full export from
// scratch gives, for feeds on the incremental path and on the whole-set path (limit, age).
func TestDeltaProperty(t *testing.T) {
	feeds := map[string]export.Selection{
		"all":       {},
		"confident": {MinConfidence: 50},
		"top":       {Limit: 5},
		"recent":    {MaxAge: export.Age(3 * time.Hour), FalsePositives: true},
	}
	for _, backend := range hubtest.Backends() {
		seeds := []uint64{1, 2, 3}
		if backend != "sqlite" {
			seeds = seeds[:1]
		}
		for _, seed := range seeds {
			t.Run(fmt.Sprintf("%s/seed%d", backend, seed), func(t *testing.T) {
				ctx := context.Background()
				c := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
				h, svc := newHub(t, backend, c)
				for name, sel := range feeds {
					if _, err := svc.Create(ctx, "cert-uk", "test", name, sel); err != nil {
						t.Fatal(err)
					}
				}
				clients := map[string]*client{}
				for name := range feeds {
					clients[name] = &client{}
				}
				r := rand.New(rand.NewPCG(seed, 14))
				var live []*indicatorJSON // the latest version of each indicator
				authors := map[string]string{}
				sightings, changes := 0, map[string]int{}
				poll := func() {
					for name, cl := range clients {
						d, err := svc.Poll(ctx, "cert-uk", name, cl.cursor)
						if err != nil {
							t.Fatal(err)
						}
						cl.apply(t, d)
						want := reference(t, h, c, "cert-uk", feeds[name])
						for k, rec := range want {
							if got, ok := cl.set[k]; !ok || got != rec {
								t.Fatalf("feed %s: client holds %v (%v) for %s, a full export %v", name, got, ok, k, rec)
							}
						}
						if len(cl.set) != len(want) {
							t.Fatalf("feed %s: client holds %d indicators, a full export %d", name, len(cl.set), len(want))
						}
					}
				}
				for step := range 60 {
					mod := c.Add(time.Duration(1+r.IntN(20)) * time.Minute)
					op := r.IntN(10)
					if len(live) == 0 {
						op = 0
					}
					switch op {
					case 0, 1, 2: // a new indicator
						i := &indicatorJSON{id: "indicator--" + export.NameUUID(fmt.Sprint(seed, step)), value: fmt.Sprintf("198.51.100.%d", r.IntN(40)),
							tlp:        []hub.TLP{hub.TLPClear, hub.TLPGreen, hub.TLPAmber, hub.TLPAmberStrict, hub.TLPRed}[r.IntN(5)],
							confidence: r.IntN(101), modified: mod}
						if r.IntN(3) == 0 {
							i.validUntil = mod.Add(time.Duration(1+r.IntN(180)) * time.Minute)
						}
						author := hubtest.Orgs[r.IntN(2)] // cert-fr or cert-be
						authors[i.id] = author
						var rcpt []string
						if i.tlp == hub.TLPRed {
							rcpt = []string{"cert-uk"}
						}
						h.Ingest(t, author, hubtest.Community, i.bundle(), rcpt...)
						live = append(live, i)
						changes["add"]++
					case 3, 4: // confidence changes, mostly down
						i := live[r.IntN(len(live))]
						i.modified, i.confidence = mod, max(0, i.confidence-r.IntN(60)+10)
						h.Ingest(t, authors[i.id], hubtest.Community, i.bundle())
						changes["confidence"]++
					case 5: // revocation
						i := live[r.IntN(len(live))]
						i.modified, i.revoked = mod, true
						h.Ingest(t, authors[i.id], hubtest.Community, i.bundle())
						changes["revoke"]++
					case 6, 7: // a sighting, a false positive one time in two
						i := live[r.IntN(len(live))]
						sightings++
						h.Ingest(t, hubtest.Orgs[r.IntN(3)], hubtest.Community, sightingJSON(sightings, i.id, r.IntN(2) == 0, mod))
						changes["sighting"]++
					case 8: // time passes: validity ends, ages grow
						c.Add(time.Duration(r.IntN(120)) * time.Minute)
						changes["time"]++
					case 9:
						poll()
					}
				}
				poll()
				t.Logf("changes: %v", changes)
			})
		}
	}
}
