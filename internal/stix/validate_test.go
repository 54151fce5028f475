package stix

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"cshub/internal/hub"
)

const (
	ts       = "2024-01-02T03:04:05.000Z"
	identity = "identity--c78cb6e5-0c4b-4611-8297-d1b8b55e40b5"
	uuid1    = "0b1e4b8f-2c53-4b1e-9f6f-3f1c7a6b2d11"
	uuid2    = "4a1f3e2d-9c8b-4d7a-8e6f-5b4c3a2d1e0f"
)

// base returns a valid object of type typ as a map to modify.
func base(typ string) map[string]any {
	common := map[string]any{
		"type": typ, "spec_version": "2.1", "id": typ + "--" + uuid1,
		"created": ts, "modified": ts,
	}
	add := func(kv ...any) map[string]any {
		for i := 0; i < len(kv); i += 2 {
			common[kv[i].(string)] = kv[i+1]
		}
		return common
	}
	sco := func(kv ...any) map[string]any {
		m := map[string]any{"type": typ, "id": typ + "--" + uuid1}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	switch typ {
	case "indicator":
		return add("pattern", "[ipv4-addr:value = '198.51.100.1']", "pattern_type", "stix", "valid_from", ts)
	case "malware":
		return add("name", "Evil", "is_family", true)
	case "grouping":
		return add("context", "suspicious-activity", "object_refs", []any{"indicator--" + uuid2})
	case "note":
		return add("content", "hello", "object_refs", []any{"indicator--" + uuid2})
	case "opinion":
		return add("opinion", "agree", "object_refs", []any{"indicator--" + uuid2})
	case "report":
		return add("name", "R", "published", ts, "object_refs", []any{"indicator--" + uuid2})
	case "observed-data":
		return add("first_observed", ts, "last_observed", ts, "number_observed", 1, "object_refs", []any{"ipv4-addr--" + uuid2})
	case "location":
		return add("region", "europe")
	case "malware-analysis":
		return add("product", "av", "result", "malicious")
	case "relationship":
		return add("relationship_type", "uses", "source_ref", "intrusion-set--"+uuid1, "target_ref", "malware--"+uuid2)
	case "sighting":
		return add("sighting_of_ref", "indicator--"+uuid2)
	case "marking-definition":
		m := add("definition_type", "statement", "definition", map[string]any{"statement": "Copyright"})
		delete(m, "modified")
		return m
	case "language-content":
		return add("object_ref", "campaign--"+uuid2, "contents", map[string]any{"de": map[string]any{"name": "Bern"}})
	case "extension-definition":
		return add("created_by_ref", identity, "name", "ext", "schema", "https://example.com/s", "version", "1.0", "extension_types", []any{"property-extension"})
	case "ipv4-addr":
		return sco("value", "198.51.100.0/24")
	case "ipv6-addr":
		return sco("value", "2001:db8::1")
	case "domain-name", "url", "email-addr":
		return sco("value", "example.com")
	case "file":
		return sco("hashes", map[string]any{"SHA-256": strings.Repeat("ab", 32)})
	case "autonomous-system":
		return sco("number", 15169)
	case "x-acme-widget":
		return add("x_acme_size", 3)
	}
	return add("name", "N")
}

func encode(t *testing.T, m map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// with returns a copy of m with kv set; a nil value deletes the property.
func with(m map[string]any, kv ...any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

var allTypes = []string{"attack-pattern", "campaign", "course-of-action", "grouping", "identity",
	"incident", "indicator", "infrastructure", "intrusion-set", "location", "malware",
	"malware-analysis", "note", "observed-data", "opinion", "report", "threat-actor", "tool",
	"vulnerability", "relationship", "sighting", "marking-definition", "language-content",
	"extension-definition", "ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "file",
	"autonomous-system", "x-acme-widget"}

func TestValidateValid(t *testing.T) {
	for _, typ := range allTypes {
		t.Run(typ, func(t *testing.T) {
			m, body, err := Validate(encode(t, base(typ)))
			if err != nil {
				t.Fatalf("got %v, want valid", err)
			}
			if m.Type != typ || m.ID != typ+"--"+uuid1 || m.Upgraded || len(body) == 0 {
				t.Errorf("meta: %+v", m)
			}
		})
	}
	// Valid variants of rules that reject their neighbours.
	variants := []struct {
		name string
		obj  map[string]any
	}{
		{"custom property without x_", with(base("indicator"), "acme_score", 3)},
		{"confidence 100", with(base("indicator"), "confidence", 100)},
		{"confidence 0", with(base("indicator"), "confidence", 0)},
		{"external reference with url", with(base("attack-pattern"), "external_references", []any{map[string]any{"source_name": "x", "url": "https://x"}})},
		{"kill chain", with(base("attack-pattern"), "kill_chain_phases", []any{map[string]any{"kill_chain_name": "mitre-attack", "phase_name": "execution"}})},
		{"granular marking", with(base("indicator"), "granular_markings", []any{map[string]any{"selectors": []any{"pattern", "external_references.[0].source_name"}, "marking_ref": TLP2Red}}, "external_references", []any{map[string]any{"source_name": "x", "url": "https://x"}})},
		{"TLP 1.0 white", with(base("marking-definition"), "id", TLP1White, "definition_type", "tlp", "definition", map[string]any{"tlp": "white"})},
		{"extension by id", with(base("indicator"), "extensions", map[string]any{TLP2Extension: map[string]any{"extension_type": "property-extension"}})},
		{"toplevel extension", with(base("indicator"), "extensions", map[string]any{"extension-definition--" + uuid2: map[string]any{"extension_type": "toplevel-property-extension"}})},
		{"malware instance without name", with(base("malware"), "is_family", false, "name", nil)},
		{"location by coordinates", with(base("location"), "region", nil, "latitude", 48.8, "longitude", 2.3, "precision", 10)},
		{"sighting full", with(base("sighting"), "where_sighted_refs", []any{identity, "location--" + uuid2}, "observed_data_refs", []any{"observed-data--" + uuid2}, "count", 0)},
		{"relationship to custom object", with(base("relationship"), "target_ref", "x-mitre-tactic--"+uuid2)},
		{"non-stix pattern not parsed", with(base("indicator"), "pattern_type", "sigma", "pattern", "title: x")},
		{"modified equals created", base("campaign")},
		{"first_seen equals last_seen", with(base("campaign"), "first_seen", ts, "last_seen", ts)},
		{"ipv4 single address", with(base("ipv4-addr"), "value", "10.0.0.1")},
		{"file by name", with(base("file"), "hashes", nil, "name", "a.exe")},
		{"leap second", with(base("campaign"), "modified", "2024-12-31T23:59:60Z")},
		{"empty custom reference", with(base("x-acme-widget"), "x_acme_thing_ref", "")},
		{"SCO with created", with(base("ipv4-addr"), "created", ts)},
		{"number_observed max", with(base("observed-data"), "number_observed", 999999999)},
	}
	for _, c := range variants {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := Validate(encode(t, c.obj)); err != nil {
				t.Fatalf("got %v, want valid", err)
			}
		})
	}
}

func TestValidateMeta(t *testing.T) {
	obj := with(base("indicator"), "created_by_ref", identity, "object_marking_refs", []any{TLP2Amber},
		"valid_until", "2025-01-01T00:00:00Z", "name", "bad ip", "revoked", true, "modified", "2024-02-01T00:00:00.123Z")
	m, _, err := Validate(encode(t, obj))
	if err != nil {
		t.Fatal(err)
	}
	wantModified := time.Date(2024, 2, 1, 0, 0, 0, 123e6, time.UTC)
	if !m.Modified.Equal(wantModified) || !m.Created.Equal(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("times: got %v %v", m.Created, m.Modified)
	}
	if m.CreatedByRef != identity || len(m.MarkingRefs) != 1 || m.MarkingRefs[0] != TLP2Amber ||
		m.Name != "bad ip" || !m.Revoked || m.ValidUntil.Year() != 2025 || m.SpecVersion != "2.1" ||
		m.PatternType != "stix" || m.Category != CategorySDO {
		t.Errorf("meta: %+v", m)
	}
	if TLPOf(m.MarkingRefs) != hub.TLPAmber {
		t.Errorf("TLP: got %v", TLPOf(m.MarkingRefs))
	}
	m, _, err = Validate(encode(t, with(base("indicator"), "acme_score", 3)))
	if err != nil || len(m.Warnings) != 1 {
		t.Errorf("warnings: got %v, %v; want one", m, err)
	}
	m, _, err = Validate(encode(t, base("relationship")))
	if err != nil || m.RelationshipType != "uses" || m.SourceRef != "intrusion-set--"+uuid1 || m.TargetRef != "malware--"+uuid2 {
		t.Errorf("relationship meta: %+v %v", m, err)
	}
}

// manyProps returns n custom properties x_p_0 … as JSON members.
func manyProps(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"x_p_%d":%d`, i, i)
	}
	return b.String()
}

func TestValidateInvalid(t *testing.T) {
	ind := base("indicator")
	cases := []struct {
		name string
		obj  any // map[string]any or string (raw JSON)
		prop string
		rule string
	}{
		{"malformed JSON", `{"type":"indicator",}`, "", RuleJSON},
		{"not an object", `["indicator"]`, "", RuleNotObject},
		{"no type", with(ind, "type", nil), "type", RuleRequired},
		{"type not a string", with(ind, "type", 3), "type", RuleValueType},
		{"uppercase type", with(ind, "type", "Indicator"), "type", RuleTypeName},
		{"short type", with(ind, "type", "ab", "id", "ab--"+uuid1), "type", RuleTypeName},
		{"type with double hyphen", with(ind, "type", "x--y", "id", "x--y--"+uuid1), "type", RuleTypeName},
		{"no id", with(ind, "id", nil), "id", RuleRequired},
		{"bad id", with(ind, "id", "indicator--zzz"), "id", RuleID},
		{"bad uuid variant", with(ind, "id", "indicator--0b1e4b8f-2c53-4b1e-cf6f-3f1c7a6b2d11"), "id", RuleID},
		{"id of another type", with(ind, "id", "malware--"+uuid1), "id", RuleIDType},
		{"no spec_version on marking-less meta", with(base("language-content"), "spec_version", nil), "spec_version", RuleRequired},
		{"spec_version 2.2", with(ind, "spec_version", "2.2"), "spec_version", RuleSpecVersion},
		{"no created", with(ind, "created", nil), "created", RuleRequired},
		{"no modified", with(ind, "modified", nil), "modified", RuleRequired},
		{"timestamp without Z", with(ind, "created", "2024-01-02T03:04:05+00:00"), "created", RuleTimestamp},
		{"timestamp bad month", with(ind, "modified", "2022-101-27T00:00:00Z"), "modified", RuleTimestamp},
		{"timestamp Feb 30", with(ind, "valid_from", "2023-02-30T00:00:00Z"), "valid_from", RuleTimestamp},
		{"modified before created", with(ind, "modified", "2024-01-01T00:00:00Z"), "modified", RuleTimeOrder},
		{"confidence negative", with(ind, "confidence", -1), "confidence", RuleRange},
		{"confidence 101", with(ind, "confidence", 101), "confidence", RuleRange},
		{"confidence not integer", with(ind, "confidence", 1.5), "confidence", RuleValueType},
		{"property name with hyphen", with(ind, "x-bad", 1), "x-bad", RulePropertyName},
		{"property name too short", with(ind, "xy", 1), "xy", RulePropertyName},
		{"duplicate property", `{"type":"tool","spec_version":"2.1","id":"tool--` + uuid1 + `","created":"` + ts + `","modified":"` + ts + `","name":"a","name":"b"}`, "name", RuleDuplicate},
		{"duplicate among many", `{"type":"tool","spec_version":"2.1","id":"tool--` + uuid1 + `","created":"` + ts + `","modified":"` + ts + `","name":"a",` + manyProps(40) + `,"x_p_7":1}`, "x_p_7", RuleDuplicate},
		{"reserved property", with(base("tool"), "severity", "high"), "severity", RuleReserved},
		{"indicator without pattern", with(ind, "pattern", nil), "pattern", RuleRequired},
		{"indicator without pattern_type", with(ind, "pattern_type", nil), "pattern_type", RuleRequired},
		{"indicator without valid_from", with(ind, "valid_from", nil), "valid_from", RuleRequired},
		{"valid_until not after valid_from", with(ind, "valid_until", ts), "valid_until", RuleTimeOrder},
		{"created_by_ref to malware", with(ind, "created_by_ref", "malware--"+uuid2), "created_by_ref", RuleRefType},
		{"created_by_ref not an id", with(ind, "created_by_ref", "acme"), "created_by_ref", RuleRef},
		{"marking ref to identity", with(ind, "object_marking_refs", []any{identity}), "object_marking_refs", RuleRefType},
		{"empty object_marking_refs", with(ind, "object_marking_refs", []any{}), "object_marking_refs", RuleEmpty},
		{"custom _refs not ids", with(ind, "x_acme_refs", []any{"foo"}), "x_acme_refs", RuleRef},
		{"labels not strings", with(ind, "labels", []any{1}), "labels", RuleValueType},
		{"revoked not bool", with(ind, "revoked", "yes"), "revoked", RuleValueType},
		{"external reference without source_name", with(ind, "external_references", []any{map[string]any{"url": "https://x"}}), "external_references[0].source_name", RuleExternalRef},
		{"external reference source only", with(ind, "external_references", []any{map[string]any{"source_name": "x"}}), "external_references[0]", RuleExternalRef},
		{"kill chain without phase_name", with(base("attack-pattern"), "kill_chain_phases", []any{map[string]any{"kill_chain_name": "k"}}), "kill_chain_phases[0].phase_name", RuleKillChain},
		{"kill chain without kill_chain_name", with(base("attack-pattern"), "kill_chain_phases", []any{map[string]any{"phase_name": "p"}}), "kill_chain_phases[0].kill_chain_name", RuleKillChain},
		{"granular marking without selectors", with(ind, "granular_markings", []any{map[string]any{"marking_ref": TLP2Red}}), "granular_markings[0].selectors", RuleGranular},
		{"granular marking selects nothing", with(ind, "granular_markings", []any{map[string]any{"selectors": []any{"labels.[0]"}, "marking_ref": TLP2Red}}), "granular_markings[0].selectors", RuleGranular},
		{"granular marking bad selector", with(ind, "granular_markings", []any{map[string]any{"selectors": []any{"pattern..x"}, "marking_ref": TLP2Red}}), "granular_markings[0].selectors", RuleGranular},
		{"granular marking with ref and lang", with(ind, "granular_markings", []any{map[string]any{"selectors": []any{"pattern"}, "marking_ref": TLP2Red, "lang": "en"}}), "granular_markings[0]", RuleGranular},
		{"granular marking ref to identity", with(ind, "granular_markings", []any{map[string]any{"selectors": []any{"pattern"}, "marking_ref": identity}}), "granular_markings[0].marking_ref", RuleRefType},
		{"extension key neither id nor predefined", with(ind, "extensions", map[string]any{"acme": map[string]any{}}), "extensions.acme", RuleExtension},
		{"extension type unknown", with(ind, "extensions", map[string]any{TLP2Extension: map[string]any{"extension_type": "new-thing"}}), "extensions." + TLP2Extension + ".extension_type", RuleVocab},
		{"malware without is_family", with(base("malware"), "is_family", nil), "is_family", RuleRequired},
		{"malware family without name", with(base("malware"), "name", nil), "name", RuleRequired},
		{"malware sample_refs to indicator", with(base("malware"), "sample_refs", []any{"indicator--" + uuid2}), "sample_refs", RuleRefType},
		{"first_seen after last_seen", with(base("campaign"), "first_seen", "2024-02-01T00:00:00Z", "last_seen", "2024-01-01T00:00:00Z"), "last_seen", RuleTimeOrder},
		{"opinion not in vocabulary", with(base("opinion"), "opinion", "meh"), "opinion", RuleVocab},
		{"grouping without context", with(base("grouping"), "context", nil), "context", RuleRequired},
		{"grouping empty object_refs", with(base("grouping"), "object_refs", []any{}), "object_refs", RuleEmpty},
		{"report without published", with(base("report"), "published", nil), "published", RuleRequired},
		{"note without content", with(base("note"), "content", nil), "content", RuleRequired},
		{"identity without name", with(base("identity"), "name", nil), "name", RuleRequired},
		{"attack-pattern without name", with(base("attack-pattern"), "name", nil), "name", RuleRequired},
		{"campaign without name", with(base("campaign"), "name", nil), "name", RuleRequired},
		{"course-of-action without name", with(base("course-of-action"), "name", nil), "name", RuleRequired},
		{"incident without name", with(base("incident"), "name", nil), "name", RuleRequired},
		{"infrastructure without name", with(base("infrastructure"), "name", nil), "name", RuleRequired},
		{"intrusion-set without name", with(base("intrusion-set"), "name", nil), "name", RuleRequired},
		{"threat-actor without name", with(base("threat-actor"), "name", nil), "name", RuleRequired},
		{"tool without name", with(base("tool"), "name", nil), "name", RuleRequired},
		{"vulnerability without name", with(base("vulnerability"), "name", nil), "name", RuleRequired},
		{"malware-analysis without product", with(base("malware-analysis"), "product", nil), "product", RuleRequired},
		{"malware-analysis without result", with(base("malware-analysis"), "result", nil), "result", RuleOneOf},
		{"location without region", with(base("location"), "region", nil), "region", RuleOneOf},
		{"latitude out of range", with(base("location"), "latitude", 91.0, "longitude", 0.0), "latitude", RuleRange},
		{"observed-data number 0", with(base("observed-data"), "number_observed", 0), "number_observed", RuleRange},
		{"observed-data number too big", with(base("observed-data"), "number_observed", 1000000000), "number_observed", RuleRange},
		{"observed-data last before first", with(base("observed-data"), "last_observed", "2023-01-01T00:00:00Z"), "last_observed", RuleTimeOrder},
		{"observed-data objects and object_refs", with(base("observed-data"), "objects", map[string]any{"0": map[string]any{"type": "file"}}), "objects", RuleExclusive},
		{"observed-data refs to SDO", with(base("observed-data"), "object_refs", []any{"malware--" + uuid2}), "object_refs", RuleRefType},
		{"relationship without type", with(base("relationship"), "relationship_type", nil), "relationship_type", RuleRequired},
		{"relationship to marking", with(base("relationship"), "target_ref", TLP2Red), "target_ref", RuleRefType},
		{"relationship stop before start", with(base("relationship"), "start_time", ts, "stop_time", ts), "stop_time", RuleTimeOrder},
		{"sighting of SCO", with(base("sighting"), "sighting_of_ref", "ipv4-addr--"+uuid2), "sighting_of_ref", RuleRefType},
		{"sighting where_sighted malware", with(base("sighting"), "where_sighted_refs", []any{"malware--" + uuid2}), "where_sighted_refs", RuleRefType},
		{"sighting observed_data_refs indicator", with(base("sighting"), "observed_data_refs", []any{"indicator--" + uuid2}), "observed_data_refs", RuleRefType},
		{"sighting count too big", with(base("sighting"), "count", 1000000000), "count", RuleRange},
		{"TLP marking with wrong id", with(base("marking-definition"), "definition_type", "tlp", "definition", map[string]any{"tlp": "red"}), "id", RuleMarking},
		{"TLP 1.0 id with other level", with(base("marking-definition"), "id", TLP1White, "definition_type", "tlp", "definition", map[string]any{"tlp": "red"}), "id", RuleMarking},
		{"TLP value unknown", with(base("marking-definition"), "definition_type", "tlp", "definition", map[string]any{"tlp": "pink"}), "definition.tlp", RuleVocab},
		{"TLP 2.0 id with wrong level", map[string]any{"type": "marking-definition", "spec_version": "2.1", "id": TLP2Red, "created": ts, "extensions": map[string]any{TLP2Extension: map[string]any{"extension_type": "property-extension", "tlp_2_0": "clear"}}}, "extensions", RuleMarking},
		{"marking definition versioned", with(base("marking-definition"), "modified", ts), "modified", RuleMarking},
		{"marking definition without definition", with(base("marking-definition"), "definition_type", nil, "definition", nil), "extensions", RuleRequired},
		{"statement without statement", with(base("marking-definition"), "definition", map[string]any{}), "definition.statement", RuleRequired},
		{"language-content without contents", with(base("language-content"), "contents", nil), "contents", RuleRequired},
		{"language-content contents not dict", with(base("language-content"), "contents", map[string]any{"de": "x"}), "contents.de", RuleLanguage},
		{"extension-definition without schema", with(base("extension-definition"), "schema", nil), "schema", RuleRequired},
		{"extension-definition bad type", with(base("extension-definition"), "extension_types", []any{"widget"}), "extension_types", RuleVocab},
		{"toplevel extension without properties", with(base("extension-definition"), "extension_types", []any{"toplevel-property-extension"}), "extension_properties", RuleRequired},
		{"ipv4 invalid", with(base("ipv4-addr"), "value", "999.1.1.1"), "value", RuleValue},
		{"ipv6 given ipv4", with(base("ipv6-addr"), "value", "10.0.0.1"), "value", RuleValue},
		{"ipv4 without value", with(base("ipv4-addr"), "value", nil), "value", RuleRequired},
		{"domain-name without value", with(base("domain-name"), "value", nil), "value", RuleRequired},
		{"url empty", with(base("url"), "value", ""), "value", RuleEmpty},
		{"email-addr without value", with(base("email-addr"), "value", nil), "value", RuleRequired},
		{"file without hashes or name", with(base("file"), "hashes", nil), "hashes", RuleOneOf},
		{"file bad SHA-256", with(base("file"), "hashes", map[string]any{"SHA-256": "abc"}), "hashes.SHA-256", RuleHash},
		{"hash key invalid", with(base("file"), "hashes", map[string]any{"SHA 1": "abc"}), "hashes.SHA 1", RuleHash},
		{"autonomous-system number string", with(base("autonomous-system"), "number", "AS1"), "number", RuleValueType},
		{"SCO with reserved name", with(base("ipv4-addr"), "phone_numbers", "1"), "phone_numbers", RuleReserved},
		{"ipv4 resolves_to domain", with(base("ipv4-addr"), "resolves_to_refs", []any{"domain-name--" + uuid2}), "resolves_to_refs", RuleRefType},
		{"stix pattern does not parse", with(ind, "pattern", "[ipv4-addr:value = '1.2.3.4'"), "pattern", RulePattern},
		{"aliases not a list", with(base("intrusion-set"), "aliases", "APT"), "aliases", RuleValueType},
		{"aliases empty", with(base("intrusion-set"), "aliases", []any{}), "aliases", RuleEmpty},
		{"is_family not bool", with(base("malware"), "is_family", "yes"), "is_family", RuleValueType},
		{"identity_class not string", with(base("identity"), "identity_class", 1), "identity_class", RuleValueType},
		{"bundle as object", map[string]any{"type": "bundle", "id": "bundle--" + uuid1}, "type", RuleBundle},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var raw []byte
			switch o := c.obj.(type) {
			case string:
				raw = []byte(o)
			case map[string]any:
				raw = encode(t, o)
			}
			_, _, err := Validate(raw)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a *ValidationError", err)
			}
			if ve.Property != c.prop || ve.Rule != c.rule {
				t.Fatalf("got property %q rule %q (%v), want %q %q", ve.Property, ve.Rule, err, c.prop, c.rule)
			}
			if hub.ErrorCode(err) != hub.EInvalid {
				t.Errorf("code: got %q, want %q", hub.ErrorCode(err), hub.EInvalid)
			}
			if msg := err.Error(); c.prop != "" && !strings.Contains(msg, c.prop+": "+c.rule) {
				t.Errorf("message %q does not name %q and the rule", msg, c.prop)
			}
		})
	}
}
