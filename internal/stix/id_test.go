package stix

import (
	"encoding/json"
	"regexp"
	"testing"
)

func TestNewIDAndBundle(t *testing.T) {
	v4 := regexp.MustCompile(`^sighting--[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := NewID("sighting"), NewID("sighting")
	if !v4.MatchString(a) || a == b {
		t.Errorf("NewID gave %q and %q", a, b)
	}
	var got struct {
		Type, ID string
		Objects  []map[string]any
	}
	if err := json.Unmarshal(Bundle(json.RawMessage(`{"type":"note"}`), json.RawMessage(`{"type":"opinion"}`)), &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != "bundle" || len(got.Objects) != 2 || got.Objects[1]["type"] != "opinion" || len(got.ID) != len("bundle--")+36 {
		t.Errorf("Bundle = %+v", got)
	}
	if err := json.Unmarshal(Bundle(), &got); err != nil || len(got.Objects) != 0 {
		t.Errorf("empty Bundle: %+v, %v", got, err)
	}
}
