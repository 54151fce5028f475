package web

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"cshub/internal/hub"
)

// TestRefsSnapshotRoundTrip: the reference index restored from its sections answers as the
// one saved, a workspace left out of them is gone, and remove unfiles an object.
func TestRefsSnapshotRoundTrip(t *testing.T) {
	obj := func(ws, id, body string, tlp hub.TLP, rcpt ...string) *hub.Object {
		typ, _, _ := strings.Cut(id, "--")
		return &hub.Object{ID: id, Type: typ, Workspace: ws, Author: "cert-fr", TLP: tlp, Recipients: rcpt, Body: []byte(body)}
	}
	x := newRefIndex()
	x.add(obj("community", "malware--0001", `{"name":"m"}`, hub.TLPGreen))
	x.add(obj("community", "relationship--0002", `{"relationship_type":"uses","source_ref":"intrusion-set--0003","target_ref":"malware--0001"}`, hub.TLPGreen))
	x.add(obj("community", "sighting--0004", `{"sighting_of_ref":"malware--0001","where_sighted_refs":["identity--0005"]}`, hub.TLPRed, "cert-be"))
	x.add(obj("secret", "note--0006", `{"content":"x","object_refs":["malware--0001","intrusion-set--0003"]}`, hub.TLPAmber))
	sections, err := (&savedRefs{x: x}).Sections()
	if err != nil {
		t.Fatal(err)
	}
	describe := func(x *refIndex, v hub.Viewer, id string) []string {
		refs, ready := x.to(v, id)
		out := []string{fmt.Sprint(ready)}
		for _, r := range refs {
			out = append(out, r.meta.Workspace+"/"+r.meta.ID+"/"+r.prop+"/"+r.relType+"/"+r.other+"/"+r.meta.TLP.String())
		}
		slices.Sort(out)
		return out
	}
	be := hub.Viewer{Org: "cert-be", Workspaces: []string{"community", "secret"}}
	uk := hub.Viewer{Org: "cert-uk", Workspaces: []string{"community"}}
	x.ready = true
	if got := describe(x, be, "malware--0001"); len(got) != 4 {
		t.Fatalf("the saved index holds %v for malware--0001; want the relationship, sighting and note", got)
	}
	y := newRefIndex()
	if _, err := (&savedRefs{x: y}).Restore(sections); err != nil {
		t.Fatal(err)
	}
	for _, v := range []hub.Viewer{be, uk} {
		for _, id := range []string{"malware--0001", "intrusion-set--0003", "identity--0005"} {
			if got, want := describe(y, v, id), describe(x, v, id); !slices.Equal(got, want) {
				t.Errorf("%s, references to %s: restored %v, saved %v", v.Org, id, got, want)
			}
		}
	}
	if len(y.meta) != len(x.meta) {
		t.Errorf("restored %d objects' metadata, saved %d", len(y.meta), len(x.meta))
	}

	delete(sections, "secret") // as when its keys are destroyed
	z := newRefIndex()
	if _, err := (&savedRefs{x: z}).Restore(sections); err != nil {
		t.Fatal(err)
	}
	if got := describe(z, be, "intrusion-set--0003"); len(got) != 2 {
		t.Errorf("without the secret section, references to intrusion-set--0003: %v; want the relationship alone", got)
	}
	z.remove("community", "relationship--0002")
	if got := describe(z, be, "intrusion-set--0003"); len(got) != 1 {
		t.Errorf("after removing the relationship: %v; want none", got)
	}
	if _, ok := z.meta["community\x00relationship--0002"]; ok {
		t.Error("a removed object keeps its metadata")
	}
}
