package stix

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readFile reads every element of the bundle (or single object) in path with a BundleReader
// and returns them with the reader's final error (nil at a clean end).
func readFile(t *testing.T, path string) ([]json.RawMessage, *BundleReader, error) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	br := NewBundleReader(bytes.NewReader(b))
	var out []json.RawMessage
	for {
		raw, err := br.Next()
		if err == io.EOF {
			return out, br, nil
		}
		if err != nil {
			return out, br, err
		}
		out = append(out, raw)
	}
}

// validateFile reads and validates every object in path; it returns the first error.
func validateFile(t *testing.T, path string) ([]*Meta, [][]byte, error) {
	t.Helper()
	objs, _, err := readFile(t, path)
	if err != nil {
		return nil, nil, err
	}
	var metas []*Meta
	var bodies [][]byte
	for _, raw := range objs {
		m, body, err := Validate(raw)
		if err != nil {
			return metas, bodies, err
		}
		metas = append(metas, m)
		bodies = append(bodies, body)
	}
	return metas, bodies, nil
}

func TestOASISParity(t *testing.T) {
	examples, _ := filepath.Glob("testdata/examples/*.json")
	if len(examples) < 8 {
		t.Fatalf("found %d example files, want at least 8", len(examples))
	}
	type tc struct {
		path  string
		valid bool
		rule  string // for invalid files: the rule expected, "" for malformed JSON
	}
	var cases []tc
	for _, p := range examples {
		cases = append(cases, tc{path: p, valid: true})
	}
	cases = append(cases,
		tc{path: "testdata/validator-v21/identity.json", valid: true},
		tc{path: "testdata/validator-v21/identity_custom.json", valid: true},
		tc{path: "testdata/validator-v21/identity_warning.json", valid: true},
		tc{path: "testdata/validator-v21/invalid_timestamp.json", rule: RuleTimeOrder},
		tc{path: "testdata/validator-v21/invalid_identity.json", rule: RuleRequired},
		tc{path: "testdata/validator-v21/invalid_braces.json"},
		tc{path: "testdata/validator-v21/invalid_comma.json"},
		tc{path: "testdata/tlp2/tlp-clear.json", valid: true},
		tc{path: "testdata/tlp2/tlp-green.json", valid: true},
		tc{path: "testdata/tlp2/tlp-amber.json", valid: true},
		tc{path: "testdata/tlp2/tlp-amber+strict.json", valid: true},
		tc{path: "testdata/tlp2/tlp-red.json", valid: true},
		tc{path: "testdata/tlp2/extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d.json", rule: RuleBundle},
		tc{path: "testdata/tlp2/example-using-tlp2.0-green.json", rule: "any"},
	)
	for _, c := range cases {
		t.Run(filepath.Base(c.path), func(t *testing.T) {
			metas, _, err := validateFile(t, c.path)
			if c.valid {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				if len(metas) == 0 {
					t.Fatal("no objects read")
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want rejected")
			}
			var se *SyntaxError
			var ve *ValidationError
			switch {
			case c.rule == "":
				if !errors.As(err, &se) {
					t.Fatalf("got %v, want a *SyntaxError", err)
				}
			case c.rule == "any":
				if !errors.As(err, &ve) && !errors.As(err, &se) {
					t.Fatalf("got %v, want a validation or syntax error", err)
				}
			default:
				if !errors.As(err, &ve) || ve.Rule != c.rule {
					t.Fatalf("got %v, want rule %q", err, c.rule)
				}
			}
		})
	}
}

// TestTLP2ExampleRejectedForBoth checks that OASIS's TLP 2.0 example is refused both for the
// missing bundle type and for its bad timestamp.
func TestTLP2ExampleDefects(t *testing.T) {
	objs, _, err := readFile(t, "testdata/tlp2/example-using-tlp2.0-green.json")
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Rule != RuleBundle {
		t.Errorf("reader: got %v, want rule %q", err, RuleBundle)
	}
	bad := 0
	for _, raw := range objs {
		if _, _, err := Validate(raw); err != nil {
			if errors.As(err, &ve) && ve.Rule == RuleTimestamp {
				bad++
			}
		}
	}
	if bad != 1 {
		t.Errorf("objects with a bad timestamp: got %d, want 1", bad)
	}
}

func TestUpgradeATTACK20(t *testing.T) {
	files, _ := filepath.Glob("testdata/stix20/*.json")
	if len(files) != 4 {
		t.Fatalf("found %d STIX 2.0 files, want 4", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			objs, br, err := readFile(t, f)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := br.SpecVersion(), "2.0"; got != want {
				t.Errorf("SpecVersion: got %q, want %q", got, want)
			}
			for _, raw := range objs {
				m, body, err := Validate(raw)
				if err != nil {
					t.Fatal(err)
				}
				if !m.Upgraded || m.SpecVersion != "2.1" {
					t.Errorf("%s: Upgraded %v, SpecVersion %q; want true, 2.1", m.ID, m.Upgraded, m.SpecVersion)
				}
				var before, after map[string]any
				if err := json.Unmarshal(raw, &before); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(body, &after); err != nil {
					t.Fatalf("upgraded body is not JSON: %v", err)
				}
				if after["spec_version"] != "2.1" {
					t.Errorf("%s: spec_version %v", m.ID, after["spec_version"])
				}
				for k, v := range before {
					if k == "labels" && (m.Type == "tool" || m.Type == "malware") {
						continue
					}
					a, _ := json.Marshal(v)
					b, _ := json.Marshal(after[k])
					if !bytes.Equal(a, b) {
						t.Errorf("%s: property %s changed: %s -> %s", m.ID, k, a, b)
					}
				}
				if m.Type == "tool" {
					if _, ok := after["labels"]; ok {
						t.Errorf("%s: tool labels kept", m.ID)
					}
				}
				// The upgrade is idempotent: the 2.1 body validates as is.
				m2, body2, err := Validate(body)
				if err != nil || m2.Upgraded || !bytes.Equal(body2, body) {
					t.Errorf("%s: revalidating the upgraded body: %v, upgraded %v", m.ID, err, m2 != nil && m2.Upgraded)
				}
			}
		})
	}
}

func TestUpgrade20(t *testing.T) {
	head := func(typ string) string {
		return `{"type":"` + typ + `","id":"` + typ + `--b76b2d94-60e4-4107-a903-4a3a7622fb3b","created":"2020-01-01T00:00:00.000Z","modified":"2020-01-01T00:00:00.000Z"`
	}
	cases := []struct {
		name string
		in   string
		want map[string]any // properties the upgraded body must have; nil value: must be absent
	}{
		{"malware family", head("malware") + `,"name":"X","labels":["malware"]}`,
			map[string]any{"is_family": true, "labels": nil, "name": "X"}},
		{"malware other labels kept", head("malware") + `,"name":"X","labels":["ransomware"]}`,
			map[string]any{"is_family": true, "labels": []any{"ransomware"}}},
		{"malware with is_family", head("malware") + `,"name":"X","is_family":false}`,
			map[string]any{"is_family": false}},
		{"tool", head("tool") + `,"name":"T","labels":["tool"]}`,
			map[string]any{"labels": nil, "name": "T"}},
		{"tool other labels kept", head("tool") + `,"name":"T","labels":["remote-access"]}`,
			map[string]any{"labels": []any{"remote-access"}}},
		{"indicator", head("indicator") + `,"labels":["malicious-activity"],"pattern":"[file:name = 'a']","valid_from":"2020-01-01T00:00:00Z"}`,
			map[string]any{"pattern_type": "stix", "labels": []any{"malicious-activity"}}},
		{"explicit 2.0", head("campaign") + `,"spec_version":"2.0","name":"C"}`,
			map[string]any{"name": "C"}},
		{"custom object", head("x-mitre-tactic") + `,"name":"Execution","x_mitre_shortname":"execution"}`,
			map[string]any{"x_mitre_shortname": "execution"}},
		{"marking definition", `{"type":"marking-definition","id":"marking-definition--fa42a846-8d90-4e51-bc29-71d5b4802168","created":"2017-06-01T00:00:00.000Z","definition_type":"statement","definition":{"statement":"Copyright"}}`,
			map[string]any{"definition_type": "statement"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, body, err := Validate([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if !m.Upgraded || m.SpecVersion != "2.1" {
				t.Errorf("Upgraded %v, SpecVersion %q; want true, 2.1", m.Upgraded, m.SpecVersion)
			}
			var got map[string]any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if got["spec_version"] != "2.1" {
				t.Errorf("spec_version: got %v", got["spec_version"])
			}
			for k, want := range c.want {
				g, ok := got[k]
				if want == nil {
					if ok {
						t.Errorf("%s: got %v, want absent", k, g)
					}
					continue
				}
				gb, _ := json.Marshal(g)
				wb, _ := json.Marshal(want)
				if string(gb) != string(wb) {
					t.Errorf("%s: got %s, want %s", k, gb, wb)
				}
			}
		})
	}
	// An SCO with spec_version 2.0 has no 2.0 form to upgrade from.
	_, _, err := Validate([]byte(`{"type":"ipv4-addr","spec_version":"2.0","id":"ipv4-addr--b76b2d94-60e4-4107-a903-4a3a7622fb3b","value":"10.0.0.1"}`))
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Rule != RuleSpecVersion {
		t.Errorf("SCO with spec_version 2.0: got %v, want rule %q", err, RuleSpecVersion)
	}
}

func TestValidationCases(t *testing.T) {
	objs, _, err := readFile(t, "testdata/checks/validation-cases.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("testdata/checks/validation-expect.json")
	if err != nil {
		t.Fatal(err)
	}
	var expect []struct {
		ID    string
		Why   string
		Valid bool
	}
	if err := json.Unmarshal(b, &expect); err != nil {
		t.Fatal(err)
	}
	if len(objs) != len(expect) {
		t.Fatalf("got %d cases, %d expectations", len(objs), len(expect))
	}
	for i, raw := range objs {
		e := expect[i]
		if !strings.Contains(string(raw), `"`+e.ID+`"`) {
			t.Fatalf("case %d is not %s", i, e.ID)
		}
		_, _, err := Validate(raw)
		if got := err == nil; got != e.Valid {
			t.Errorf("%s (%s): valid %v (%v), want %v", e.ID, e.Why, got, err, e.Valid)
		}
	}
}
