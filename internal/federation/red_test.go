package federation

import (
	"encoding/json"
	"strings"
	"testing"

	"cshub/internal/stix"
)

// TestNotRed: an object marked TLP:RED never crosses, however its marking is spelled, and the
// rest passes unparsed or parsed alike.
func TestNotRed(t *testing.T) {
	escaped := strings.Replace(stix.TLP2Red, "-", `\u002d`, 1)
	for _, tt := range []struct {
		name string
		raw  string
		red  bool
	}{
		{"green", `{"id":"indicator--1","object_marking_refs":["` + stix.TLP2Green + `"]}`, false},
		{"unmarked", `{"id":"indicator--1"}`, false},
		{"red", `{"id":"indicator--1","object_marking_refs":["` + stix.TLP2Red + `"]}`, true},
		{"TLP 1.0 red", `{"id":"indicator--1","object_marking_refs":["` + stix.TLP1Red + `"]}`, true},
		{"red among others", `{"id":"indicator--1","object_marking_refs":["` + stix.TLP2Green + `","` + stix.TLP2Red + `"]}`, true},
		{"red spelled with an escape", `{"id":"indicator--1","object_marking_refs":["` + escaped + `"]}`, true},
		{"an escape elsewhere", `{"id":"indicator--1","name":"a\"b","object_marking_refs":["` + stix.TLP2Amber + `"]}`, false},
		{"the red id outside the markings", `{"id":"indicator--1","description":"` + stix.TLP2Red + `"}`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kept, rejected := notRed([]json.RawMessage{json.RawMessage(tt.raw)})
			if got := len(rejected) == 1; got != tt.red || len(kept)+len(rejected) != 1 {
				t.Errorf("kept %d, rejected %v; want red %v", len(kept), rejected, tt.red)
			}
			if tt.red && rejected[0].ID != "indicator--1" {
				t.Errorf("rejection names %q, want indicator--1", rejected[0].ID)
			}
		})
	}
}
