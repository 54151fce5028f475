package export_test

import (
	"encoding/json"
	"net/url"
	"reflect"
	"testing"

	"cshub/internal/export"
	"cshub/internal/hub"
)

// FuzzParseSelection feeds query strings to ParseSelection: it must never panic, accept only
// selections that pass Check, fail only with a hub.Error naming a field, and what it accepts
// must survive the JSON form feed definitions are stored in.
func FuzzParseSelection(f *testing.F) {
	for _, s := range []string{
		"", "type=ipv4-addr,domain-name&tlp=green,amber", "min-confidence=50&max-age=30d&limit=100",
		"include-warninglisted&include-false-positives=false", "max-age=36h&min-sightings=2&workspace=community",
		"tlp=red&tlp=clear", "limit=-1", "max-age=0d", "type=process", "bogus=1", "max-age=1d&max-age=2d",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		sel, err := export.ParseSelection(q)
		if err != nil {
			if hub.ErrorCode(err) != hub.EInvalid || hub.ErrorField(err) == "" {
				t.Fatalf("%q: error without a field: %v", raw, err)
			}
			return
		}
		if err := sel.Check(); err != nil {
			t.Fatalf("%q: accepted a selection Check refuses: %v", raw, err)
		}
		b, err := json.Marshal(sel)
		if err != nil {
			t.Fatal(err)
		}
		var back export.Selection
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q: %s does not read back: %v", raw, b, err)
		}
		if !reflect.DeepEqual(back, sel) {
			t.Fatalf("%q: JSON round trip gives %+v, want %+v", raw, back, sel)
		}
	})
}
