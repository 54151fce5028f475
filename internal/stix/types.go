package stix

import (
	"net/netip"
	"strings"
)

// sdoTypes are the 19 STIX 2.1 domain object types.
var sdoTypes = setOf("attack-pattern", "campaign", "course-of-action", "grouping", "identity",
	"incident", "indicator", "infrastructure", "intrusion-set", "location", "malware",
	"malware-analysis", "note", "observed-data", "opinion", "report", "threat-actor", "tool",
	"vulnerability")

// scoTypes are the 18 STIX 2.1 cyber-observable object types.
var scoTypes = setOf("artifact", "autonomous-system", "directory", "domain-name", "email-addr",
	"email-message", "file", "ipv4-addr", "ipv6-addr", "mac-addr", "mutex", "network-traffic",
	"process", "software", "url", "user-account", "windows-registry-key", "x509-certificate")

func setOf(s ...string) map[string]bool {
	m := make(map[string]bool, len(s))
	for _, x := range s {
		m[x] = true
	}
	return m
}

// typeRequired lists each type's required properties besides the common ones.
var typeRequired = map[string][]string{
	"attack-pattern":       {"name"},
	"campaign":             {"name"},
	"course-of-action":     {"name"},
	"grouping":             {"context", "object_refs"},
	"identity":             {"name"},
	"incident":             {"name"},
	"indicator":            {"pattern", "pattern_type", "valid_from"},
	"infrastructure":       {"name"},
	"intrusion-set":        {"name"},
	"malware":              {"is_family"},
	"malware-analysis":     {"product"},
	"note":                 {"content", "object_refs"},
	"observed-data":        {"first_observed", "last_observed", "number_observed"},
	"opinion":              {"opinion", "object_refs"},
	"report":               {"name", "published", "object_refs"},
	"threat-actor":         {"name"},
	"tool":                 {"name"},
	"vulnerability":        {"name"},
	"relationship":         {"relationship_type", "source_ref", "target_ref"},
	"sighting":             {"sighting_of_ref"},
	"autonomous-system":    {"number"},
	"directory":            {"path"},
	"domain-name":          {"value"},
	"email-addr":           {"value"},
	"email-message":        {"is_multipart"},
	"ipv4-addr":            {"value"},
	"ipv6-addr":            {"value"},
	"mac-addr":             {"value"},
	"mutex":                {"name"},
	"network-traffic":      {"protocols"},
	"software":             {"name"},
	"url":                  {"value"},
	"language-content":     {"object_ref", "contents"},
	"extension-definition": {"created_by_ref", "name", "schema", "version", "extension_types"},
}

// timestampProps are the properties the specification types as timestamps.
var timestampProps = setOf("created", "modified", "valid_from", "valid_until", "first_seen",
	"last_seen", "first_observed", "last_observed", "published", "start_time", "stop_time",
	"object_modified", "submitted", "analysis_started", "analysis_ended", "ctime", "mtime", "atime",
	"date", "start", "end", "created_time", "account_created", "account_expires",
	"credential_last_changed", "account_first_login", "account_last_login", "modified_time",
	"validity_not_before", "validity_not_after")

// commonRefTargets fixes the targets of reference properties whatever the object type.
var commonRefTargets = map[string][]string{
	"created_by_ref":      {"identity"},
	"object_marking_refs": {"marking-definition"},
}

// typeProp names a property of an object type.
type typeProp struct{ typ, prop string }

// refTargets fixes the targets of type-specific reference properties.
var refTargets = map[typeProp][]string{
	{"relationship", "source_ref"}:                  {"SDO", "SCO"},
	{"relationship", "target_ref"}:                  {"SDO", "SCO"},
	{"sighting", "sighting_of_ref"}:                 {"SDO"},
	{"sighting", "observed_data_refs"}:              {"observed-data"},
	{"sighting", "where_sighted_refs"}:              {"identity", "location"},
	{"malware", "sample_refs"}:                      {"file", "artifact"},
	{"malware", "operating_system_refs"}:            {"software"},
	{"malware-analysis", "host_vm_ref"}:             {"software"},
	{"malware-analysis", "operating_system_ref"}:    {"software"},
	{"malware-analysis", "installed_software_refs"}: {"software"},
	{"malware-analysis", "sample_ref"}:              {"file", "artifact", "network-traffic"},
	{"malware-analysis", "analysis_sco_refs"}:       {"SCO"},
	{"observed-data", "object_refs"}:                {"SCO", "SRO"},
	{"domain-name", "resolves_to_refs"}:             {"ipv4-addr", "ipv6-addr", "domain-name"},
	{"ipv4-addr", "resolves_to_refs"}:               {"mac-addr"},
	{"ipv4-addr", "belongs_to_refs"}:                {"autonomous-system"},
	{"ipv6-addr", "resolves_to_refs"}:               {"mac-addr"},
	{"ipv6-addr", "belongs_to_refs"}:                {"autonomous-system"},
	{"email-addr", "belongs_to_ref"}:                {"user-account"},
	{"email-message", "from_ref"}:                   {"email-addr"},
	{"email-message", "sender_ref"}:                 {"email-addr"},
	{"email-message", "to_refs"}:                    {"email-addr"},
	{"email-message", "cc_refs"}:                    {"email-addr"},
	{"email-message", "bcc_refs"}:                   {"email-addr"},
	{"email-message", "raw_email_ref"}:              {"artifact"},
	{"file", "parent_directory_ref"}:                {"directory"},
	{"file", "content_ref"}:                         {"artifact"},
	{"file", "contains_refs"}:                       {"SCO"},
	{"directory", "contains_refs"}:                  {"file", "directory"},
	{"network-traffic", "src_ref"}:                  {"ipv4-addr", "ipv6-addr", "mac-addr", "domain-name"},
	{"network-traffic", "dst_ref"}:                  {"ipv4-addr", "ipv6-addr", "mac-addr", "domain-name"},
	{"network-traffic", "src_payload_ref"}:          {"artifact"},
	{"network-traffic", "dst_payload_ref"}:          {"artifact"},
	{"network-traffic", "encapsulates_refs"}:        {"network-traffic"},
	{"network-traffic", "encapsulated_by_ref"}:      {"network-traffic"},
	{"process", "opened_connection_refs"}:           {"network-traffic"},
	{"process", "creator_user_ref"}:                 {"user-account"},
	{"process", "image_ref"}:                        {"file"},
	{"process", "parent_ref"}:                       {"process"},
	{"process", "child_refs"}:                       {"process"},
	{"windows-registry-key", "creator_user_ref"}:    {"user-account"},
	{"language-content", "object_ref"}:              {"SDO", "SRO", "SCO", "marking-definition", "extension-definition"},
}

// specProperties are the property names the specification defines; only used to warn about
// custom properties without the x_ prefix.
var specProperties = setOf("type", "spec_version", "id", "created_by_ref", "created", "modified",
	"revoked", "labels", "confidence", "lang", "external_references", "object_marking_refs",
	"granular_markings", "extensions", "defanged", "name", "description", "aliases",
	"kill_chain_phases", "first_seen", "last_seen", "objective", "context", "object_refs", "roles",
	"identity_class", "sectors", "contact_information", "indicator_types", "pattern",
	"pattern_type", "pattern_version", "valid_from", "valid_until", "infrastructure_types", "goals",
	"resource_level", "primary_motivation", "secondary_motivations", "latitude", "longitude",
	"precision", "region", "country", "administrative_area", "city", "street_address",
	"postal_code", "malware_types", "is_family", "architecture_execution_envs",
	"implementation_languages", "capabilities", "operating_system_refs", "sample_refs", "product",
	"version", "host_vm_ref", "operating_system_ref", "installed_software_refs",
	"configuration_version", "modules", "analysis_engine_version", "analysis_definition_version",
	"submitted", "analysis_started", "analysis_ended", "result_name", "result",
	"analysis_sco_refs", "sample_ref", "abstract", "content", "authors", "first_observed",
	"last_observed", "number_observed", "objects", "explanation", "opinion", "report_types",
	"published", "threat_actor_types", "sophistication", "personal_motivations", "tool_types",
	"tool_version", "relationship_type", "source_ref", "target_ref", "start_time", "stop_time",
	"sighting_of_ref", "observed_data_refs", "where_sighted_refs", "count", "summary",
	"object_ref", "object_modified", "contents", "definition_type", "definition", "schema",
	"extension_types", "extension_properties", "value", "resolves_to_refs", "belongs_to_refs",
	"hashes", "size", "name_enc", "magic_number_hex", "mime_type", "ctime", "mtime", "atime",
	"parent_directory_ref", "contains_refs", "content_ref", "number", "rir", "path", "path_enc",
	"is_multipart", "date", "content_type", "from_ref", "sender_ref", "to_refs", "cc_refs",
	"bcc_refs", "message_id", "subject", "received_lines", "additional_header_fields", "body",
	"body_multipart", "raw_email_ref", "payload_bin", "url", "encryption_algorithm",
	"decryption_key", "display_name", "start", "end", "is_active", "src_ref", "dst_ref",
	"src_port", "dst_port", "protocols", "src_byte_count", "dst_byte_count", "src_packets",
	"dst_packets", "ipfix", "src_payload_ref", "dst_payload_ref", "encapsulates_refs",
	"encapsulated_by_ref", "is_hidden", "pid", "created_time", "cwd", "command_line",
	"environment_variables", "opened_connection_refs", "creator_user_ref", "image_ref",
	"parent_ref", "child_refs", "cpe", "swid", "languages", "vendor", "user_id", "credential",
	"account_login", "account_type", "is_service_account", "is_privileged", "can_escalate_privs",
	"is_disabled", "account_created", "account_expires", "credential_last_changed",
	"account_first_login", "account_last_login", "key", "values", "modified_time",
	"number_of_subkeys", "is_self_signed", "serial_number", "signature_algorithm", "issuer",
	"validity_not_before", "validity_not_after", "subject_public_key_algorithm",
	"subject_public_key_modulus", "subject_public_key_exponent", "x509_v3_extensions")

// valueKind is the JSON form a property of the specification takes.
type valueKind uint8

const (
	vString  valueKind = iota + 1
	vStrings           // non-empty list of strings
	vBool
	vInt
)

// propKinds gives the form of properties of the specification's own types; checkProperty
// checks them there (custom types may use the names differently).
var propKinds = func() map[string]valueKind {
	m := map[string]valueKind{}
	for _, k := range []string{"context", "identity_class", "contact_information", "pattern",
		"pattern_type", "pattern_version", "objective", "resource_level", "primary_motivation",
		"sophistication", "region", "country", "administrative_area", "city", "street_address",
		"postal_code", "product", "version", "configuration_version", "analysis_engine_version",
		"analysis_definition_version", "result_name", "result", "abstract", "content",
		"explanation", "opinion", "tool_version", "relationship_type", "summary_text", "schema",
		"definition_type", "value", "path", "mime_type", "rir", "cpe", "swid", "vendor", "key",
		"user_id", "account_login", "account_type", "display_name", "command_line", "cwd",
		"subject", "message_id", "content_type", "body", "serial_number", "signature_algorithm",
		"issuer", "subject_public_key_algorithm"} {
		m[k] = vString
	}
	for _, k := range []string{"aliases", "roles", "sectors", "goals", "secondary_motivations",
		"personal_motivations", "malware_types", "tool_types", "threat_actor_types",
		"infrastructure_types", "indicator_types", "report_types", "architecture_execution_envs",
		"implementation_languages", "capabilities", "authors", "protocols", "modules",
		"received_lines", "languages", "extension_properties"} {
		m[k] = vStrings
	}
	for _, k := range []string{"is_family", "summary", "is_multipart", "is_active", "is_hidden",
		"is_service_account", "is_privileged", "can_escalate_privs", "is_disabled",
		"is_self_signed"} {
		m[k] = vBool
	}
	for _, k := range []string{"number_observed", "count", "size", "number", "src_port",
		"dst_port", "src_byte_count", "dst_byte_count", "src_packets", "dst_packets", "pid",
		"number_of_subkeys"} {
		m[k] = vInt
	}
	return m
}()

// checkKind checks the form of property key of a type the specification defines.
func (v *validator) checkKind(key string, i int) {
	if isCustomType(v.m.Type) {
		return
	}
	switch propKinds[key] {
	case vString:
		v.isStr(key, i)
	case vStrings:
		if els, ok := v.listAt(key, i); ok {
			for _, e := range els {
				if !v.isStr(key, e) {
					return
				}
			}
		}
	case vBool:
		v.boolAt(key, i)
	case vInt:
		v.intAt(key, i)
	}
}

// Closed vocabularies (enumerations) of STIX 2.1; the -ov vocabularies are open and not checked.
var (
	opinionEnum       = setOf("strongly-disagree", "disagree", "neutral", "agree", "strongly-agree")
	encryptionAlgEnum = setOf("AES-256-GCM", "ChaCha20-Poly1305", "mime-type-indicated")
	registryTypeEnum  = setOf("REG_NONE", "REG_SZ", "REG_EXPAND_SZ", "REG_BINARY", "REG_DWORD",
		"REG_DWORD_BIG_ENDIAN", "REG_DWORD_LITTLE_ENDIAN", "REG_LINK", "REG_MULTI_SZ",
		"REG_RESOURCE_LIST", "REG_FULL_RESOURCE_DESCRIPTION", "REG_RESOURCE_REQUIREMENTS_LIST",
		"REG_QWORD", "REG_INVALID_TYPE")
	tlp1Enum = map[string]string{
		"white": TLP1White, "green": TLP1Green, "amber": TLP1Amber, "red": TLP1Red,
	}
)

// checkType applies the rules particular to the object's type.
func (v *validator) checkType() {
	if v.err != nil {
		return
	}
	switch v.m.Type {
	case "campaign", "intrusion-set", "threat-actor", "infrastructure":
		v.order("first_seen", "last_seen", true)
	case "indicator":
		v.order("valid_from", "valid_until", false)
		if i := v.get("valid_until"); i >= 0 && v.err == nil {
			v.m.ValidUntil, _ = v.timeAt("valid_until", i)
		}
		v.m.PatternType, _ = v.strAt("pattern_type", v.get("pattern_type"))
		if v.err != nil {
			return
		}
		p, ok := v.strAt("pattern", v.get("pattern"))
		if !ok {
			return
		}
		v.m.Pattern = p
		if v.m.PatternType == "stix" {
			parsed, err := parsePattern(p)
			if err != nil {
				v.fail("pattern", RulePattern, "%v", err)
			}
			v.m.Parsed = parsed
		}
	case "observed-data":
		v.order("first_observed", "last_observed", true)
		if x, ok := v.intAt("number_observed", v.get("number_observed")); ok && (x < 1 || x > 999999999) {
			v.fail("number_observed", RuleRange, "number_observed %d is not in 1-999,999,999", x)
		}
		v.exactlyOne("object_refs", "objects")
	case "sighting":
		v.order("first_seen", "last_seen", true)
		if i := v.get("count"); i >= 0 {
			if x, ok := v.intAt("count", i); ok && (x < 0 || x > 999999999) {
				v.fail("count", RuleRange, "count %d is not in 0-999,999,999", x)
			}
		}
		if i := v.get("summary"); i >= 0 {
			v.boolAt("summary", i)
		}
	case "relationship":
		if s, ok := v.strAt("relationship_type", v.get("relationship_type")); ok {
			v.m.RelationshipType = s
			if !validVocabTerm(s) {
				v.fail("relationship_type", RuleValue, "%q: relationship types are lower-case letters, digits and hyphens", s)
			}
		}
		v.order("start_time", "stop_time", false)
	case "opinion":
		if s, ok := v.strAt("opinion", v.get("opinion")); ok && !opinionEnum[s] {
			v.fail("opinion", RuleVocab, "%q is not one of strongly-disagree, disagree, neutral, agree, strongly-agree", s)
		}
	case "malware":
		v.order("first_seen", "last_seen", true)
		fam, ok := v.boolAt("is_family", v.get("is_family"))
		if ok && fam && !v.has("name") {
			v.fail("name", RuleRequired, "a malware family must have a name")
		}
	case "malware-analysis":
		if !v.has("result") && !v.has("analysis_sco_refs") {
			v.fail("result", RuleOneOf, "a malware-analysis needs result or analysis_sco_refs")
		}
	case "location":
		v.checkLocation()
	case "marking-definition":
		v.checkMarkingDefinition()
	case "language-content":
		v.checkLanguageContent()
	case "extension-definition":
		v.checkExtensionDefinition()
	case "ipv4-addr":
		v.checkAddr(func(s string) bool {
			if p, err := netip.ParsePrefix(s); err == nil {
				return p.Addr().Is4()
			}
			a, err := netip.ParseAddr(s)
			return err == nil && a.Is4()
		})
	case "ipv6-addr":
		v.checkAddr(func(s string) bool {
			if p, err := netip.ParsePrefix(s); err == nil {
				return p.Addr().Is6() && !p.Addr().Is4In6()
			}
			a, err := netip.ParseAddr(s)
			return err == nil && a.Is6() && a.Zone() == ""
		})
	case "domain-name", "url", "email-addr", "mac-addr", "mutex", "directory", "software":
		key := "value"
		switch v.m.Type {
		case "mutex", "software":
			key = "name"
		case "directory":
			key = "path"
		}
		if s, ok := v.strAt(key, v.get(key)); ok && s == "" {
			v.fail(key, RuleEmpty, "must not be empty")
		}
	case "autonomous-system":
		if x, ok := v.intAt("number", v.get("number")); ok && (x < 0 || x > 1<<32-1) {
			v.fail("number", RuleRange, "AS number %d out of range", x)
		}
	case "file":
		if !v.has("hashes") && !v.has("name") {
			v.fail("hashes", RuleOneOf, "a file needs hashes or name")
		}
		if i := v.get("size"); i >= 0 {
			if x, ok := v.intAt("size", i); ok && x < 0 {
				v.fail("size", RuleRange, "size must not be negative")
			}
		}
	case "artifact":
		hasPayload, hasURL := v.has("payload_bin"), v.has("url")
		switch {
		case hasPayload && hasURL:
			v.fail("url", RuleExclusive, "an artifact has payload_bin or url, not both")
		case !hasPayload && !hasURL:
			v.fail("payload_bin", RuleOneOf, "an artifact needs payload_bin or url")
		case hasURL && !v.has("hashes"):
			v.fail("hashes", RuleRequired, "an artifact with url must have hashes")
		}
		if i := v.get("encryption_algorithm"); i >= 0 && v.err == nil {
			if s, ok := v.strAt("encryption_algorithm", i); ok && !encryptionAlgEnum[s] {
				v.fail("encryption_algorithm", RuleVocab, "%q is not an encryption algorithm of the specification", s)
			}
		}
	case "network-traffic":
		if !v.has("src_ref") && !v.has("dst_ref") {
			v.fail("src_ref", RuleOneOf, "network-traffic needs src_ref or dst_ref")
		}
		for _, p := range []string{"src_port", "dst_port"} {
			if i := v.get(p); i >= 0 && v.err == nil {
				if x, ok := v.intAt(p, i); ok && (x < 0 || x > 65535) {
					v.fail(p, RuleRange, "port %d out of range", x)
				}
			}
		}
		v.order("start", "end", true)
	case "email-message":
		multi, ok := v.boolAt("is_multipart", v.get("is_multipart"))
		if ok && multi && v.has("body") {
			v.fail("body", RuleExclusive, "a multipart message has body_multipart, not body")
		} else if ok && !multi && v.has("body_multipart") {
			v.fail("body_multipart", RuleExclusive, "body_multipart needs is_multipart true")
		}
	case "windows-registry-key":
		v.checkRegistryValues()
	}
}

// order checks that timestamp property a is not after b (or, when !allowEqual, before b).
func (v *validator) order(a, b string, allowEqual bool) {
	if v.err != nil {
		return
	}
	ia, ib := v.get(a), v.get(b)
	if ia < 0 || ib < 0 {
		return
	}
	ta, ok1 := v.timeAt(a, ia)
	tb, ok2 := v.timeAt(b, ib)
	if !ok1 || !ok2 {
		return
	}
	if tb.Before(ta) || (!allowEqual && tb.Equal(ta)) {
		rel := "at or after"
		if !allowEqual {
			rel = "after"
		}
		v.fail(b, RuleTimeOrder, "%s must be %s %s", b, rel, a)
	}
}

func (v *validator) exactlyOne(a, b string) {
	if v.err != nil {
		return
	}
	ha, hb := v.has(a), v.has(b)
	if ha && hb {
		v.fail(b, RuleExclusive, "%s and %s must not both be present", a, b)
	} else if !ha && !hb {
		v.fail(a, RuleOneOf, "one of %s and %s is required", a, b)
	}
}

// validVocabTerm accepts the characters the specification allows in relationship types and
// vocabulary terms: a-z, 0-9 and hyphen.
func validVocabTerm(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func (v *validator) checkAddr(ok func(string) bool) {
	s, good := v.strAt("value", v.get("value"))
	if good && !ok(s) {
		v.fail("value", RuleValue, "%q is not a valid %s address or CIDR block", s, v.m.Type)
	}
}

func (v *validator) checkLocation() {
	lat, lon := v.get("latitude"), v.get("longitude")
	if !v.has("region") && !v.has("country") && (lat < 0 || lon < 0) {
		v.fail("region", RuleOneOf, "a location needs region, country, or latitude and longitude")
		return
	}
	if (lat < 0) != (lon < 0) {
		v.fail("latitude", RuleRequired, "latitude and longitude go together")
		return
	}
	if lat >= 0 {
		if x, ok := v.numAt("latitude", lat); ok && (x < -90 || x > 90) {
			v.fail("latitude", RuleRange, "latitude %g is not in -90..90", x)
			return
		}
		if x, ok := v.numAt("longitude", lon); ok && (x < -180 || x > 180) {
			v.fail("longitude", RuleRange, "longitude %g is not in -180..180", x)
			return
		}
	}
	if i := v.get("precision"); i >= 0 {
		if lat < 0 {
			v.fail("precision", RuleRequired, "precision needs latitude and longitude")
			return
		}
		if x, ok := v.numAt("precision", i); ok && x < 0 {
			v.fail("precision", RuleRange, "precision must not be negative")
		}
	}
}

// checkMarkingDefinition applies the marking-definition rules: the statement and TLP 1.0
// definitions, and the fixed TLP 1.0 and TLP 2.0 identifiers.
func (v *validator) checkMarkingDefinition() {
	d := v.d
	if v.has("modified") {
		v.fail("modified", RuleMarking, "marking definitions cannot be versioned")
		return
	}
	dt, di := v.get("definition_type"), v.get("definition")
	if (dt < 0) != (di < 0) {
		v.fail("definition", RuleRequired, "definition_type and definition go together")
		return
	}
	id := v.m.ID
	uuid := id[len("marking-definition--"):]
	if dt < 0 {
		if !v.has("extensions") {
			v.fail("extensions", RuleRequired, "a marking definition needs definition_type and definition, or extensions")
			return
		}
		if lvl, isTLP2 := tlp2ByID[uuid]; isTLP2 {
			if got := tlp2Value(d, v.get("extensions")); got != lvl {
				v.fail("extensions", RuleMarking, "%s is the TLP 2.0 %s marking, not %q", id, lvl, got)
			}
		} else if got := tlp2Value(d, v.get("extensions")); got != "" {
			v.fail("id", RuleMarking, "a TLP 2.0 marking must use the standard id for TLP:%s", strings.ToUpper(got))
		}
		return
	}
	typ, ok := v.strAt("definition_type", dt)
	if !ok {
		return
	}
	if d.nodes[di].kind != kObject {
		v.fail("definition", RuleValueType, "definition must be an object")
		return
	}
	var tlp, statement string
	var hasTLP, hasStatement bool
	for c := range d.kids(di) {
		switch d.keyRef(c) {
		case "tlp":
			tlp, ok = v.strAt("definition.tlp", c)
			hasTLP = true
		case "statement":
			statement, ok = v.strAt("definition.statement", c)
			hasStatement = true
		}
		if !ok {
			return
		}
	}
	switch typ {
	case "tlp":
		want, known := tlp1Enum[tlp]
		if !hasTLP || !known {
			v.fail("definition.tlp", RuleVocab, "%q is not white, green, amber or red", tlp)
			return
		}
		if id != want {
			v.fail("id", RuleMarking, "TLP:%s must use the standard id %s", strings.ToUpper(tlp), want)
		}
	case "statement":
		if !hasStatement || statement == "" {
			v.fail("definition.statement", RuleRequired, "a statement marking needs a statement")
		}
	}
	if v.err == nil {
		if lvl, ok := tlp1ByID[id]; ok && (typ != "tlp" || tlp != lvl) {
			v.fail("definition", RuleMarking, "%s is the TLP:%s marking", id, strings.ToUpper(lvl))
		}
	}
}

// tlp2Value returns the tlp_2_0 value of the TLP 2.0 extension in extensions node i, or "".
func tlp2Value(d *doc, i int) string {
	if i < 0 || d.nodes[i].kind != kObject {
		return ""
	}
	for c := range d.kids(i) {
		if d.keyRef(c) != "extension-definition--"+tlp2ExtensionUUID || d.nodes[c].kind != kObject {
			continue
		}
		for e := range d.kids(c) {
			if d.keyRef(e) == "tlp_2_0" && d.nodes[e].kind == kString {
				return d.str(e)
			}
		}
	}
	return ""
}

func (v *validator) checkLanguageContent() {
	d := v.d
	ci := v.get("contents")
	if d.nodes[ci].kind != kObject || d.nodes[ci].n == 0 {
		v.fail("contents", RuleLanguage, "contents must be a non-empty dictionary of language codes")
		return
	}
	for c := range d.kids(ci) {
		k := d.keyRef(c)
		if k == "" || !validDictKey(k) {
			v.fail("contents."+k, RuleLanguage, "%q is not a language code", k)
			return
		}
		if d.nodes[c].kind != kObject {
			v.fail("contents."+k, RuleLanguage, "each language's content must be a dictionary")
			return
		}
	}
}

func (v *validator) checkExtensionDefinition() {
	els, ok := v.listAt("extension_types", v.get("extension_types"))
	if !ok {
		return
	}
	toplevel := false
	for _, e := range els {
		s, ok := v.strAt("extension_types", e)
		if !ok {
			return
		}
		if !extensionTypes[s] {
			v.fail("extension_types", RuleVocab, "%q is not an extension type", s)
			return
		}
		toplevel = toplevel || s == "toplevel-property-extension"
	}
	if toplevel && !v.has("extension_properties") {
		v.fail("extension_properties", RuleRequired, "a toplevel-property-extension lists its extension_properties")
	} else if !toplevel && v.has("extension_properties") {
		v.fail("extension_properties", RuleExtension, "extension_properties is only for toplevel-property-extension")
	}
}

func (v *validator) checkRegistryValues() {
	d := v.d
	i := v.get("values")
	if i < 0 {
		return
	}
	els, ok := v.listAt("values", i)
	if !ok {
		return
	}
	for _, e := range els {
		if d.nodes[e].kind != kObject {
			v.fail("values", RuleValueType, "registry values must be objects")
			return
		}
		for c := range d.kids(e) {
			if d.keyRef(c) == "data_type" {
				if s, ok := v.strAt("values.data_type", c); ok && !registryTypeEnum[s] {
					v.fail("values.data_type", RuleVocab, "%q is not a registry data type", s)
					return
				}
			}
		}
	}
}
