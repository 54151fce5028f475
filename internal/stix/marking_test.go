package stix

import (
	"encoding/json"
	"os"
	"testing"

	"cshub/internal/hub"
)

func TestTLPOf(t *testing.T) {
	cases := []struct {
		refs []string
		want hub.TLP
	}{
		{nil, hub.TLPUnset},
		{[]string{"marking-definition--fa42a846-8d90-4e51-bc29-71d5b4802168"}, hub.TLPUnset},
		{[]string{TLP1White}, hub.TLPClear},
		{[]string{TLP2Clear}, hub.TLPClear},
		{[]string{TLP1Green, TLP2Clear}, hub.TLPGreen},
		{[]string{TLP1Amber}, hub.TLPAmber},
		{[]string{TLP2AmberStrict, TLP1Amber}, hub.TLPAmberStrict},
		{[]string{TLP2Green, TLP1Red, TLP2AmberStrict}, hub.TLPRed},
		{[]string{TLP2Red}, hub.TLPRed},
	}
	for _, c := range cases {
		if got := TLPOf(c.refs); got != c.want {
			t.Errorf("TLPOf(%v): got %v, want %v", c.refs, got, c.want)
		}
	}
}

func TestMarkingID(t *testing.T) {
	cases := []struct {
		tlp  hub.TLP
		want string
	}{
		{hub.TLPUnset, ""},
		{hub.TLPClear, "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"},
		{hub.TLPGreen, "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"},
		{hub.TLPAmber, "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"},
		{hub.TLPAmberStrict, "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"},
		{hub.TLPRed, "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"},
	}
	for _, c := range cases {
		if got := MarkingID(c.tlp); got != c.want {
			t.Errorf("MarkingID(%v): got %q, want %q", c.tlp, got, c.want)
		}
		if c.tlp != hub.TLPUnset && TLPOf([]string{c.want}) != c.tlp {
			t.Errorf("TLPOf(MarkingID(%v)) does not round-trip", c.tlp)
		}
	}
}

// TestTLPMarkingDefinitions checks the built-in objects against the OASIS files.
func TestTLPMarkingDefinitions(t *testing.T) {
	files := []string{"tlp-clear", "tlp-green", "tlp-amber", "tlp-amber+strict", "tlp-red"}
	defs := TLPMarkingDefinitions()
	if len(defs) != len(files) {
		t.Fatalf("got %d definitions, want %d", len(defs), len(files))
	}
	for i, f := range files {
		b, err := os.ReadFile("testdata/tlp2/" + f + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var bundle struct{ Objects []json.RawMessage }
		if err := json.Unmarshal(b, &bundle); err != nil {
			t.Fatal(err)
		}
		var want, got any
		json.Unmarshal(bundle.Objects[0], &want)
		if err := json.Unmarshal(defs[i], &got); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		wb, _ := json.Marshal(want)
		gb, _ := json.Marshal(got)
		if string(wb) != string(gb) {
			t.Errorf("%s:\ngot  %s\nwant %s", f, gb, wb)
		}
		m, _, err := Validate(defs[i])
		if err != nil {
			t.Errorf("%s: %v", f, err)
		} else if m.ID != MarkingID(hub.TLP(i+1)) {
			t.Errorf("%s: id %s", f, m.ID)
		}
	}
}
