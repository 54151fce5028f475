package lookup

import (
	"testing"
	"time"

	"cshub/internal/hub"
)

// FuzzRestore feeds the matching index's snapshot sections arbitrary bytes. Sections are
// authenticated before they reach Restore, so this guards against a damaged encoder, not an
// attacker; still, nothing may panic, and an indicator restored must be found as saved.
func FuzzRestore(f *testing.F) {
	src := New(nil, nil)
	for i, p := range []string{"[ipv4-addr:value = '198.51.100.7']", "[domain-name:value = 'evil.example']", "[process:name = 'x']"} {
		src.add(&hub.Object{ID: "indicator--" + string(rune('a'+i)), Type: "indicator", Workspace: "community", Author: "cert-fr",
			TLP: hub.TLPGreen, Modified: time.Unix(0, 0), Body: []byte(`{"name":"n","pattern_type":"stix","pattern":"` + p + `"}`)})
	}
	sections, err := (*saved)(src).Sections()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sections["community"])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := New(nil, nil)
		n, err := (*saved)(s).Restore(map[string][]byte{"community": b})
		if err != nil {
			return
		}
		v := hub.Viewer{System: true}
		if n > 0 && len(s.Lookup(v, []string{"198.51.100.7", "evil.example"})) != 2 {
			t.Fatal("a lookup after a restore did not answer for every value")
		}
	})
}

// TestRestoreMatchesSaved: an index restored from its sections finds what the saved one found.
func TestRestoreMatchesSaved(t *testing.T) {
	src := New(nil, nil)
	src.add(&hub.Object{ID: "indicator--1", Type: "indicator", Workspace: "community", Author: "cert-fr", TLP: hub.TLPGreen,
		Body: []byte(`{"name":"C2","pattern_type":"stix","pattern":"[ipv4-addr:value = '203.0.113.9']","confidence":80}`)})
	sections, err := (*saved)(src).Sections()
	if err != nil {
		t.Fatal(err)
	}
	dst := New(nil, nil)
	if n, err := (*saved)(dst).Restore(sections); n != 1 || err != nil {
		t.Fatalf("Restore = %d, %v; want 1 indicator", n, err)
	}
	v := hub.Viewer{System: true}
	got, want := dst.Lookup(v, []string{"203.0.113.9"}), src.Lookup(v, []string{"203.0.113.9"})
	if len(got[0].Matches) != 1 || got[0].Matches[0] != want[0].Matches[0] {
		t.Errorf("restored %+v, saved %+v", got[0].Matches, want[0].Matches)
	}
}
