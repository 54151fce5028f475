// Package stix reads, validates and upgrades STIX 2.1 content: a streaming bundle reader, a
// validator of the specification's MUST rules that returns the metadata the hub indexes, the
// STIX 2.0 to 2.1 upgrade MITRE applies to ATT&CK, and the TLP marking definitions.
package stix

import (
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"sync"
	"time"

	"cshub/internal/hub"
	"cshub/internal/stix/pattern"
)

// Rules named by a ValidationError. Tests and callers compare against these constants.
const (
	RuleJSON          = "malformed JSON"
	RuleNotObject     = "not a JSON object"
	RuleRequired      = "required property missing"
	RuleTypeName      = "invalid type name"
	RuleID            = "invalid identifier"
	RuleIDType        = "identifier type does not match object type"
	RuleTimestamp     = "invalid timestamp"
	RuleTimeOrder     = "timestamps out of order"
	RuleSpecVersion   = "unsupported spec_version"
	RuleRange         = "value out of range"
	RulePropertyName  = "invalid property name"
	RuleReserved      = "reserved property name"
	RuleDuplicate     = "duplicate property"
	RuleValueType     = "wrong value type"
	RuleEmpty         = "empty value"
	RuleRef           = "invalid reference"
	RuleRefType       = "reference to a wrong object type"
	RuleVocab         = "value not in closed vocabulary"
	RuleExclusive     = "mutually exclusive properties"
	RuleOneOf         = "one of several properties required"
	RuleHash          = "invalid hash"
	RuleMarking       = "invalid marking definition"
	RuleGranular      = "invalid granular marking"
	RuleExternalRef   = "invalid external reference"
	RuleKillChain     = "invalid kill chain phase"
	RuleExtension     = "invalid extension"
	RulePattern       = "pattern does not parse"
	RuleBundle        = "not a bundle"
	RuleValue         = "invalid value"
	RuleLanguage      = "invalid language content"
	RuleUpgradeLossy  = "STIX 2.0 object cannot be upgraded"
	RuleDictionaryKey = "invalid dictionary key"
)

// ValidationError is a STIX object or bundle breaking a rule of the specification. It unwraps
// to a hub.EInvalid error naming the property.
type ValidationError struct {
	ID       string // the object's id, when known
	Property string // the offending property, a dotted path for nested ones; "" for the object
	Rule     string // one of the Rule constants
	Message  string // what is wrong, for people
}

// Error returns "<id>: <property>: <rule> (<message>)", leaving out what is unknown.
func (e *ValidationError) Error() string {
	var b strings.Builder
	if e.ID != "" {
		b.WriteString(e.ID)
		b.WriteString(": ")
	}
	if e.Property != "" {
		b.WriteString(e.Property)
		b.WriteString(": ")
	}
	b.WriteString(e.Rule)
	if e.Message != "" && e.Message != e.Rule {
		b.WriteString(" (")
		b.WriteString(e.Message)
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns the hub.EInvalid error that API layers map to a status.
func (e *ValidationError) Unwrap() error {
	field := e.Property
	if field == "" {
		field = "object"
	}
	return &hub.Error{Code: hub.EInvalid, Field: field, Message: e.Error()}
}

// Category is the kind of STIX object.
type Category uint8

const (
	CategorySDO  Category = iota + 1 // domain object, including custom object types
	CategorySRO                      // relationship or sighting
	CategorySCO                      // cyber-observable object
	CategoryMeta                     // language-content, marking-definition, extension-definition
)

// String returns "SDO", "SRO", "SCO" or "meta".
func (c Category) String() string {
	switch c {
	case CategorySDO:
		return "SDO"
	case CategorySRO:
		return "SRO"
	case CategorySCO:
		return "SCO"
	case CategoryMeta:
		return "meta"
	}
	return "unknown"
}

// Meta is what the hub indexes about a valid object. Times are zero when the object lacks them.
type Meta struct {
	ID           string
	Type         string
	Category     Category
	SpecVersion  string // always "2.1" for a valid object; "" for SCOs without it
	Created      time.Time
	Modified     time.Time // for objects without modified (marking definitions, SCOs): Created
	Revoked      bool
	CreatedByRef string
	MarkingRefs  []string // object_marking_refs
	ValidUntil   time.Time
	Name         string
	PatternType  string // indicators
	Pattern      string // indicators
	// Parsed is Pattern parsed, for an indicator whose PatternType is "stix": validation had
	// to parse it, and what is built from it at ingest (blind-index tokens, the export
	// record) need not again. The parsed form is never modified.
	Parsed *pattern.Pattern
	// RelationshipType, SourceRef and TargetRef are set for relationships; for sightings
	// SourceRef is sighting_of_ref.
	RelationshipType string
	SourceRef        string
	TargetRef        string
	Upgraded         bool     // the object came as STIX 2.0 and the body is its 2.1 form
	Warnings         []string // SHOULD-level findings, such as custom properties without x_
}

// nodePool recycles parse trees between calls of Validate; they hold no pointers into inputs.
var nodePool = sync.Pool{New: func() any { s := make([]node, 0, 256); return &s }}

// maxObjectSize bounds one object; larger ones are refused before parsing.
const maxObjectSize = 64 << 20

// Validate checks one STIX object against the specification's MUST rules and returns its
// metadata and the body to store: raw itself for a STIX 2.1 object, or a new STIX 2.1 body for
// a STIX 2.0 object (one without spec_version) that could be upgraded losslessly. A rule
// broken is a *ValidationError; malformed JSON is a *ValidationError with Rule RuleJSON whose
// Message gives the byte offset. Validate is safe for concurrent use.
func Validate(raw []byte) (*Meta, []byte, error) {
	if len(raw) > maxObjectSize {
		return nil, nil, &ValidationError{Rule: RuleRange, Message: fmt.Sprintf("object larger than %d bytes", maxObjectSize)}
	}
	np := nodePool.Get().(*[]node)
	defer func() { nodePool.Put(np) }()
	d, err := parse(raw, *np)
	if d != nil {
		*np = d.nodes
	}
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			return nil, nil, &ValidationError{Rule: RuleJSON, Message: se.Error()}
		}
		return nil, nil, err
	}
	if d.nodes[0].kind != kObject {
		return nil, nil, &ValidationError{Rule: RuleNotObject, Message: "a STIX object must be a JSON object"}
	}
	v := validator{d: d, m: &Meta{}}
	v.run()
	if v.err != nil {
		return nil, nil, v.err
	}
	if !v.upgrade {
		return v.m, raw, nil
	}
	// A STIX 2.0 object: convert it, then hold the result to every 2.1 rule.
	body := v.upgraded()
	d, err = parse(body, d.nodes)
	if d != nil {
		*np = d.nodes
	}
	if err != nil {
		return nil, nil, fmt.Errorf("stix: upgraded body does not parse: %w", err)
	}
	v = validator{d: d, m: &Meta{Upgraded: true}}
	v.run()
	if v.err != nil {
		v.err.Message = "after upgrading from STIX 2.0: " + v.err.Message
		return nil, nil, v.err
	}
	return v.m, body, nil
}

// member is one top-level property of the object being validated.
type member struct {
	key string
	idx int
}

type validator struct {
	d       *doc
	m       *Meta
	top     []member
	err     *ValidationError
	upgrade bool
}

func (v *validator) fail(prop, rule, format string, args ...any) {
	if v.err == nil {
		msg := rule
		if format != "" {
			msg = fmt.Sprintf(format, args...)
		}
		// prop may point into the input (see doc.keyRef); the error outlives the call.
		v.err = &ValidationError{ID: v.m.ID, Property: strings.Clone(prop), Rule: rule, Message: msg}
	}
}

func (v *validator) warn(format string, args ...any) {
	v.m.Warnings = append(v.m.Warnings, fmt.Sprintf(format, args...))
}

// get returns the node of top-level property key, or -1.
func (v *validator) get(key string) int {
	for _, m := range v.top {
		if m.key == key {
			return m.idx
		}
	}
	return -1
}

func (v *validator) has(key string) bool { return v.get(key) >= 0 }

func (v *validator) run() {
	d := v.d
	v.top = make([]member, 0, d.nodes[0].n)
	for c := range d.kids(0) {
		v.top = append(v.top, member{key: d.keyRef(c), idx: c})
	}
	// type and id first, so that every later error can name the object.
	ti := v.get("type")
	if ti < 0 {
		v.fail("type", RuleRequired, "")
		return
	}
	if d.nodes[ti].kind != kString {
		v.fail("type", RuleValueType, "must be a string")
		return
	}
	v.m.Type = d.str(ti)
	if ii := v.get("id"); ii >= 0 && d.nodes[ii].kind == kString {
		v.m.ID = d.str(ii)
	}
	if !validTypeName(v.m.Type) {
		v.fail("type", RuleTypeName, "%q: type names are 3-250 characters a-z, 0-9 and single hyphens, starting with a letter", v.m.Type)
		return
	}
	if v.m.Type == "bundle" {
		v.fail("type", RuleBundle, "a bundle is not a STIX object; read it with a BundleReader")
		return
	}
	ii := v.get("id")
	if ii < 0 {
		v.fail("id", RuleRequired, "")
		return
	}
	if d.nodes[ii].kind != kString {
		v.fail("id", RuleValueType, "must be a string")
		return
	}
	if msg := checkIdentifier(v.m.ID); msg != "" {
		v.fail("id", RuleID, "%s", msg)
		return
	}
	if typeOfID(v.m.ID) != v.m.Type {
		v.fail("id", RuleIDType, "id %q is not of type %q", v.m.ID, v.m.Type)
		return
	}
	v.m.Category = v.category()
	v.checkNames()
	if v.err != nil {
		return
	}
	v.checkSpecVersion()
	if v.upgrade || v.err != nil {
		return
	}
	v.checkCommon()
	if v.err != nil {
		return
	}
	for _, m := range v.top {
		v.checkProperty(m.key, m.idx)
		if v.err != nil {
			return
		}
	}
	if !v.m.Created.IsZero() && v.m.Modified.Before(v.m.Created) && v.has("modified") {
		v.fail("modified", RuleTimeOrder, "modified must be at or after created")
		return
	}
	v.checkType()
	if v.err == nil && v.m.Modified.IsZero() {
		v.m.Modified = v.m.Created
	}
}

// category decides the kind of object; custom types without created are taken as custom
// observables, all other custom types as custom domain objects.
func (v *validator) category() Category {
	switch t := v.m.Type; {
	case sdoTypes[t]:
		return CategorySDO
	case t == "relationship" || t == "sighting":
		return CategorySRO
	case scoTypes[t]:
		return CategorySCO
	case t == "language-content" || t == "marking-definition" || t == "extension-definition":
		return CategoryMeta
	case !v.has("created") && !v.has("modified"):
		return CategorySCO
	}
	return CategorySDO
}

// checkNames applies the property-name rules to the top-level properties.
func (v *validator) checkNames() {
	// Objects have a few dozen properties; a set only pays off for hostile ones.
	var seen map[string]bool
	if len(v.top) > 32 {
		seen = make(map[string]bool, len(v.top))
	}
	for i, m := range v.top {
		dup := false
		if seen != nil {
			dup = seen[m.key]
			seen[m.key] = true
		} else {
			for _, o := range v.top[:i] {
				dup = dup || o.key == m.key
			}
		}
		if dup {
			v.fail(m.key, RuleDuplicate, "property %q appears twice", m.key)
			return
		}
		if m.key == "id" {
			continue
		}
		if !validPropertyName(m.key) {
			v.fail(m.key, RulePropertyName, "property names are 3-250 ASCII letters, digits and underscores")
			return
		}
		switch m.key {
		case "severity", "action", "username", "phone_numbers":
			v.fail(m.key, RuleReserved, "%q is reserved by the specification", m.key)
			return
		}
		if !specProperties[m.key] && !strings.HasPrefix(m.key, "x_") && !isExtensionName(m.key) {
			v.warn("custom property %q should start with x_", m.key)
		}
	}
}

// checkSpecVersion applies the spec_version rules and decides whether to upgrade from 2.0.
func (v *validator) checkSpecVersion() {
	i := v.get("spec_version")
	if i < 0 {
		switch v.m.Category {
		case CategorySCO:
			return
		case CategoryMeta:
			if v.m.Type != "marking-definition" {
				v.fail("spec_version", RuleRequired, "")
				return
			}
		}
		// A STIX 2.0 object: 2.0 objects carry no spec_version.
		v.upgrade = true
		return
	}
	s, ok := v.strAt("spec_version", i)
	if !ok {
		return
	}
	switch s {
	case "2.1":
		v.m.SpecVersion = s
	case "2.0":
		if v.m.Category == CategorySCO {
			v.fail("spec_version", RuleSpecVersion, "must be \"2.1\"")
			return
		}
		v.upgrade = true
	default:
		v.fail("spec_version", RuleSpecVersion, "%q: must be \"2.1\"", s)
	}
}

// checkCommon checks that the common properties the object's category requires are present.
func (v *validator) checkCommon() {
	var req []string
	switch v.m.Category {
	case CategorySDO, CategorySRO:
		req = []string{"created", "modified"}
	case CategoryMeta:
		req = []string{"created"}
		if v.m.Type != "marking-definition" {
			req = append(req, "modified")
		}
	}
	for _, p := range req {
		if !v.has(p) {
			v.fail(p, RuleRequired, "")
			return
		}
	}
	for _, p := range typeRequired[v.m.Type] {
		if !v.has(p) {
			v.fail(p, RuleRequired, "")
			return
		}
	}
	if v.m.Category == CategorySCO && scoTypes[v.m.Type] {
		// Not rules of the OASIS validator either: the common properties of domain objects
		// mean nothing on an observable, but are not forbidden there.
		for _, p := range []string{"created", "modified", "created_by_ref", "revoked", "labels", "confidence", "lang", "external_references"} {
			if v.has(p) {
				v.warn("%q is not a property of cyber-observable objects", p)
			}
		}
	}
}

// isStr checks that node i is a string without decoding it.
func (v *validator) isStr(prop string, i int) bool {
	if v.d.nodes[i].kind != kString {
		v.fail(prop, RuleValueType, "must be a string, not %s", v.d.nodes[i].kind)
		return false
	}
	return true
}

// strAt returns the string at node i or fails naming prop.
func (v *validator) strAt(prop string, i int) (string, bool) {
	if v.d.nodes[i].kind != kString {
		v.fail(prop, RuleValueType, "must be a string, not %s", v.d.nodes[i].kind)
		return "", false
	}
	return v.d.str(i), true
}

func (v *validator) boolAt(prop string, i int) (bool, bool) {
	n := &v.d.nodes[i]
	if n.kind != kBool {
		v.fail(prop, RuleValueType, "must be a boolean, not %s", n.kind)
		return false, false
	}
	return v.d.src[n.start] == 't', true
}

// intAt returns the integer at node i or fails naming prop.
func (v *validator) intAt(prop string, i int) (int64, bool) {
	n := &v.d.nodes[i]
	if n.kind != kNumber {
		v.fail(prop, RuleValueType, "must be an integer, not %s", n.kind)
		return 0, false
	}
	s := string(v.d.src[n.start:n.end])
	x, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != float64(int64(f)) {
			v.fail(prop, RuleValueType, "%s is not an integer", s)
			return 0, false
		}
		x = int64(f)
	}
	return x, true
}

func (v *validator) numAt(prop string, i int) (float64, bool) {
	n := &v.d.nodes[i]
	if n.kind != kNumber {
		v.fail(prop, RuleValueType, "must be a number, not %s", n.kind)
		return 0, false
	}
	f, err := strconv.ParseFloat(string(v.d.src[n.start:n.end]), 64)
	if err != nil {
		v.fail(prop, RuleRange, "number out of range")
		return 0, false
	}
	return f, true
}

// timeAt parses the timestamp at node i.
func (v *validator) timeAt(prop string, i int) (time.Time, bool) {
	n := &v.d.nodes[i]
	if n.kind != kString {
		v.fail(prop, RuleValueType, "a timestamp must be a string, not %s", n.kind)
		return time.Time{}, false
	}
	t, ok := parseTimestamp(v.d.src[n.start:n.end])
	if !ok || n.esc {
		v.fail(prop, RuleTimestamp, "%q is not an RFC 3339 UTC timestamp ending in Z", v.d.str(i))
		return time.Time{}, false
	}
	return t, true
}

// listAt checks that node i is a non-empty array and returns its elements.
func (v *validator) listAt(prop string, i int) (iter.Seq2[int, int], bool) {
	n := &v.d.nodes[i]
	if n.kind != kArray {
		v.fail(prop, RuleValueType, "must be a list, not %s", n.kind)
		return nil, false
	}
	if n.n == 0 {
		v.fail(prop, RuleEmpty, "a list must not be empty")
		return nil, false
	}
	d := v.d
	return func(yield func(int, int) bool) {
		k := 0
		for c := range d.kids(i) {
			if !yield(k, c) {
				return
			}
			k++
		}
	}, true
}

// refAt checks the identifier at node i and, when targets is not nil, its type.
//
// The string returned shares the input's memory (see doc.keyRef); clone it to keep it.
func (v *validator) refAt(prop string, i int, targets []string) (string, bool) {
	if !v.isStr(prop, i) {
		return "", false
	}
	s := v.d.strRef(i)
	if msg := checkIdentifier(s); msg != "" {
		v.fail(prop, RuleRef, "%s", msg)
		return "", false
	}
	if targets != nil && !refTypeAllowed(typeOfID(s), targets) {
		v.fail(prop, RuleRefType, "%q must refer to %s", s, strings.Join(targets, " or "))
		return "", false
	}
	return s, true
}

// checkProperty applies the rules that follow from a property's name or its common meaning.
func (v *validator) checkProperty(key string, i int) {
	d := v.d
	switch key {
	case "type", "id", "spec_version":
		return
	case "created":
		t, ok := v.timeAt(key, i)
		if ok && v.m.Category != CategorySCO {
			v.m.Created = t
		}
		return
	case "modified":
		t, ok := v.timeAt(key, i)
		if ok && v.m.Category != CategorySCO {
			v.m.Modified = t
		}
		return
	case "revoked":
		b, ok := v.boolAt(key, i)
		v.m.Revoked = ok && b
		return
	case "confidence":
		if x, ok := v.intAt(key, i); ok && (x < 0 || x > 100) {
			v.fail(key, RuleRange, "confidence %d is not in 0-100", x)
		}
		return
	case "labels":
		if els, ok := v.listAt(key, i); ok {
			for _, e := range els {
				if !v.isStr(key, e) {
					return
				}
			}
		}
		return
	case "lang", "description":
		v.isStr(key, i)
		return
	case "name":
		if s, ok := v.strAt(key, i); ok {
			v.m.Name = s
		}
		return
	case "defanged":
		v.boolAt(key, i)
		return
	case "external_references":
		v.checkExternalRefs(i)
		return
	case "granular_markings":
		v.checkGranular(i)
		return
	case "kill_chain_phases":
		v.checkKillChain(i)
		return
	case "extensions":
		v.checkExtensions(i)
		return
	case "hashes":
		v.checkHashes(key, i)
		return
	}
	if timestampProps[key] {
		v.timeAt(key, i)
		return
	}
	if propKinds[key] != 0 {
		v.checkKind(key, i)
		return
	}
	switch {
	case strings.HasSuffix(key, "_ref"):
		if !specProperties[key] && d.nodes[i].kind == kString && d.nodes[i].start == d.nodes[i].end {
			// ATT&CK leaves some custom references empty; the OASIS validator accepts that.
			v.warn("custom reference %q is empty", key)
			return
		}
		s, ok := v.refAt(key, i, v.refTargets(key))
		if !ok {
			return
		}
		switch key {
		case "created_by_ref":
			v.m.CreatedByRef = strings.Clone(s)
		case "source_ref", "sighting_of_ref":
			v.m.SourceRef = strings.Clone(s)
		case "target_ref":
			v.m.TargetRef = strings.Clone(s)
		}
	case strings.HasSuffix(key, "_refs"):
		els, ok := v.listAt(key, i)
		if !ok {
			return
		}
		targets := v.refTargets(key)
		var refs []string
		if key == "object_marking_refs" {
			refs = make([]string, 0, d.nodes[i].n)
		}
		for _, e := range els {
			s, ok := v.refAt(key, e, targets)
			if !ok {
				return
			}
			if refs != nil {
				refs = append(refs, strings.Clone(s))
			}
		}
		if refs != nil {
			v.m.MarkingRefs = refs
		}
	case strings.HasSuffix(key, "_hashes"):
		v.checkHashes(key, i)
	}
}

// refTargets returns the object types that property key of the current type may refer to, or
// nil when any identifier is allowed.
func (v *validator) refTargets(key string) []string {
	if t, ok := refTargets[typeProp{v.m.Type, key}]; ok {
		return t
	}
	return commonRefTargets[key]
}

// refTypeAllowed reports whether an object of type t is among targets, where targets may name
// the groups "SDO", "SCO" and "SRO".
func refTypeAllowed(t string, targets []string) bool {
	for _, x := range targets {
		switch x {
		case t:
			return true
		case "SDO":
			if sdoTypes[t] || isCustomType(t) {
				return true
			}
		case "SCO":
			if scoTypes[t] || isCustomType(t) {
				return true
			}
		case "SRO":
			if t == "relationship" || t == "sighting" {
				return true
			}
		}
	}
	return false
}

// isCustomType reports whether t is not a type the specification defines.
func isCustomType(t string) bool {
	return !sdoTypes[t] && !scoTypes[t] && !metaOrSRO[t]
}

var metaOrSRO = map[string]bool{
	"relationship": true, "sighting": true, "marking-definition": true,
	"language-content": true, "extension-definition": true, "bundle": true,
}

// elemPath names property prop's element k, or a property of it.
func elemPath(prop string, k int, sub string) string {
	p := prop + "[" + strconv.Itoa(k) + "]"
	if sub != "" {
		p += "." + sub
	}
	return p
}

func (v *validator) checkExternalRefs(i int) {
	const prop = "external_references"
	els, ok := v.listAt(prop, i)
	if !ok {
		return
	}
	d := v.d
	for k, e := range els {
		if d.nodes[e].kind != kObject {
			v.fail(elemPath(prop, k, ""), RuleValueType, "an external reference must be an object")
			return
		}
		var source string
		var hasDetail bool
		for c := range d.kids(e) {
			switch key := d.keyRef(c); key {
			case "source_name", "description", "url", "external_id":
				if d.nodes[c].kind != kString {
					v.fail(elemPath(prop, k, key), RuleValueType, "must be a string, not %s", d.nodes[c].kind)
					return
				}
				if key == "source_name" {
					source = d.strRef(c)
				} else {
					hasDetail = true
				}
			case "hashes":
				v.checkHashes(elemPath(prop, k, key), c)
			}
		}
		if source == "" {
			v.fail(elemPath(prop, k, "source_name"), RuleExternalRef, "an external reference must have a source_name")
			return
		}
		if !hasDetail {
			v.fail(elemPath(prop, k, ""), RuleExternalRef, "an external reference needs a description, url or external_id besides source_name")
			return
		}
		if (source == "capec" || source == "cve") && v.m.Category == CategorySDO {
			if id, ok := externalID(d, e); ok {
				if source == "capec" && !strings.HasPrefix(id, "CAPEC-") || source == "cve" && !strings.HasPrefix(id, "CVE-") {
					v.fail(elemPath(prop, k, "external_id"), RuleExternalRef, "%s external_id %q has the wrong form", source, id)
					return
				}
			}
		}
	}
}

func externalID(d *doc, e int) (string, bool) {
	for c := range d.kids(e) {
		if d.keyRef(c) == "external_id" && d.nodes[c].kind == kString {
			return d.strRef(c), true
		}
	}
	return "", false
}

func (v *validator) checkKillChain(i int) {
	const prop = "kill_chain_phases"
	els, ok := v.listAt(prop, i)
	if !ok {
		return
	}
	d := v.d
	for k, e := range els {
		if d.nodes[e].kind != kObject {
			v.fail(elemPath(prop, k, ""), RuleValueType, "a kill chain phase must be an object")
			return
		}
		var name, phase bool
		for c := range d.kids(e) {
			switch key := d.keyRef(c); key {
			case "kill_chain_name", "phase_name":
				n := &d.nodes[c]
				if n.kind != kString {
					v.fail(elemPath(prop, k, key), RuleValueType, "must be a string, not %s", n.kind)
					return
				}
				if key == "phase_name" {
					phase = n.end > n.start
				} else {
					name = n.end > n.start
				}
			}
		}
		if !name {
			v.fail(elemPath(prop, k, "kill_chain_name"), RuleKillChain, "a kill chain phase needs a kill_chain_name")
			return
		}
		if !phase {
			v.fail(elemPath(prop, k, "phase_name"), RuleKillChain, "a kill chain phase needs a phase_name")
			return
		}
	}
}

func (v *validator) checkGranular(i int) {
	const prop = "granular_markings"
	els, ok := v.listAt(prop, i)
	if !ok {
		return
	}
	d := v.d
	for k, e := range els {
		p := elemPath(prop, k, "")
		if d.nodes[e].kind != kObject {
			v.fail(p, RuleValueType, "a granular marking must be an object")
			return
		}
		var selectors, ref, lang bool
		for c := range d.kids(e) {
			switch d.keyRef(c) {
			case "selectors":
				sel, ok := v.listAt(p+".selectors", c)
				if !ok {
					return
				}
				for _, s := range sel {
					str, ok := v.strAt(p+".selectors", s)
					if !ok {
						return
					}
					if !validSelector(str) {
						v.fail(p+".selectors", RuleGranular, "%q is not a valid selector", str)
						return
					}
					if !v.resolves(str) {
						v.fail(p+".selectors", RuleGranular, "selector %q names nothing in the object", str)
						return
					}
				}
				selectors = true
			case "marking_ref":
				if _, ok := v.refAt(p+".marking_ref", c, []string{"marking-definition"}); !ok {
					return
				}
				ref = true
			case "lang":
				if _, ok := v.strAt(p+".lang", c); !ok {
					return
				}
				lang = true
			}
		}
		if !selectors {
			v.fail(p+".selectors", RuleGranular, "a granular marking needs selectors")
			return
		}
		if ref == lang {
			v.fail(p, RuleGranular, "a granular marking needs exactly one of marking_ref and lang")
			return
		}
	}
}

// resolves reports whether selector sel names a property or list element of the object.
func (v *validator) resolves(sel string) bool {
	d := v.d
	cur := 0
	for part := range strings.SplitSeq(sel, ".") {
		n := &d.nodes[cur]
		next := -1
		if part[0] == '[' {
			k, _ := strconv.Atoi(part[1 : len(part)-1])
			if n.kind == kArray && k < int(n.n) {
				j := 0
				for c := range d.kids(cur) {
					if j == k {
						next = c
						break
					}
					j++
				}
			}
		} else if n.kind == kObject {
			for c := range d.kids(cur) {
				if d.keyRef(c) == part {
					next = c
					break
				}
			}
		}
		if next < 0 {
			return false
		}
		cur = next
	}
	return true
}

// validSelector checks the selector syntax: property names joined by dots, with [n] for list
// indexes, as in "external_references.[0].source_name".
func validSelector(s string) bool {
	if s == "" {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" {
			return false
		}
		if len(part) > 2 && part[0] == '[' && part[len(part)-1] == ']' {
			if _, err := strconv.ParseUint(part[1:len(part)-1], 10, 31); err == nil {
				continue
			}
			return false
		}
		if !validDictKey(part) && part != "id" {
			return false
		}
	}
	return true
}

// hashLengths gives the hex length of the hash algorithms of the hash-algorithm-ov vocabulary
// whose values have a fixed form.
var hashLengths = map[string]int{
	"MD5": 32, "SHA-1": 40, "SHA-256": 64, "SHA-512": 128, "SHA3-256": 64, "SHA3-512": 128,
}

func (v *validator) checkHashes(prop string, i int) {
	d := v.d
	if d.nodes[i].kind != kObject {
		v.fail(prop, RuleValueType, "hashes must be a dictionary")
		return
	}
	if d.nodes[i].n == 0 {
		v.fail(prop, RuleEmpty, "hashes must not be empty")
		return
	}
	for c := range d.kids(i) {
		k := d.keyRef(c)
		p := prop + "." + k
		if !validDictKey(k) || len(k) > 250 {
			v.fail(p, RuleHash, "%q is not a valid hash algorithm name", k)
			return
		}
		if !v.isStr(p, c) {
			return
		}
		s := d.strRef(c)
		if s == "" {
			v.fail(p, RuleHash, "empty hash value")
			return
		}
		if n, ok := hashLengths[k]; ok {
			if len(s) != n || !allHex(s) {
				v.fail(p, RuleHash, "%s must be %d hex digits", k, n)
				return
			}
		}
	}
}

func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// checkExtensions checks the extensions dictionary: each key is an extension-definition id or
// a predefined extension name, each value an object.
func (v *validator) checkExtensions(i int) {
	const prop = "extensions"
	d := v.d
	if d.nodes[i].kind != kObject {
		v.fail(prop, RuleValueType, "extensions must be a dictionary")
		return
	}
	if d.nodes[i].n == 0 {
		v.fail(prop, RuleEmpty, "extensions must not be empty")
		return
	}
	for c := range d.kids(i) {
		k := d.keyRef(c)
		p := prop + "." + k
		if strings.HasPrefix(k, "extension-definition--") {
			if msg := checkIdentifier(k); msg != "" {
				v.fail(p, RuleExtension, "%s", msg)
				return
			}
		} else if !predefinedExtensions[k] && !(strings.HasPrefix(k, "x-") && validTypeName(k)) {
			v.fail(p, RuleExtension, "%q is neither an extension-definition id nor a predefined extension", k)
			return
		}
		if d.nodes[c].kind != kObject {
			v.fail(p, RuleValueType, "an extension must be an object")
			return
		}
		for e := range d.kids(c) {
			if d.keyRef(e) == "extension_type" {
				s, ok := v.strAt(p+".extension_type", e)
				if !ok {
					return
				}
				if !extensionTypes[s] {
					v.fail(p+".extension_type", RuleVocab, "%q is not an extension type", s)
					return
				}
				if s == "toplevel-property-extension" && v.m.Type == "extension-definition" {
					v.fail(p+".extension_type", RuleExtension, "an extension-definition cannot use a toplevel-property-extension")
					return
				}
			}
		}
	}
}

var predefinedExtensions = map[string]bool{
	"archive-ext": true, "ntfs-ext": true, "pdf-ext": true, "raster-image-ext": true,
	"windows-pebinary-ext": true, "http-request-ext": true, "icmp-ext": true, "socket-ext": true,
	"tcp-ext": true, "windows-process-ext": true, "windows-service-ext": true, "unix-account-ext": true,
}

var extensionTypes = map[string]bool{
	"new-sdo": true, "new-sco": true, "new-sro": true, "property-extension": true, "toplevel-property-extension": true,
}

func isExtensionName(k string) bool { return strings.HasPrefix(k, "extension-definition--") }

// validTypeName applies the type-name rule: 3-250 characters a-z, 0-9 and hyphen, starting
// with a letter, with no two hyphens in a row.
func validTypeName(s string) bool {
	if len(s) < 3 || len(s) > 250 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-':
			if s[i-1] == '-' {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// validPropertyName applies the property-name rule: 3-250 ASCII letters, digits, underscores.
func validPropertyName(s string) bool {
	if len(s) < 3 || len(s) > 250 {
		return isExtensionName(s) && len(s) <= 250
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// validDictKey applies the dictionary-key rule: at most 250 ASCII letters, digits, underscores
// and hyphens.
func validDictKey(s string) bool {
	if s == "" || len(s) > 250 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checkIdentifier checks the form type--UUID and returns a reason, or "" when it is fine.
func checkIdentifier(s string) string {
	i := strings.Index(s, "--")
	if i < 0 {
		return fmt.Sprintf("%q is not of the form type--UUID", s)
	}
	if !validTypeName(s[:i]) {
		return fmt.Sprintf("%q does not start with a valid type name", s)
	}
	if !validUUID(s[i+2:]) {
		return fmt.Sprintf("%q does not end in an RFC 4122 UUID", s)
	}
	return ""
}

// typeOfID returns the type part of an identifier.
func typeOfID(s string) string {
	if i := strings.Index(s, "--"); i >= 0 {
		return s[:i]
	}
	return ""
}

// validUUID checks the 8-4-4-4-12 hex form with an RFC 4122 variant and a version 1-5, as the
// OASIS schemas do.
func validUUID(u string) bool {
	if len(u) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		switch i {
		case 8, 13, 18, 23:
			if u[i] != '-' {
				return false
			}
		default:
			if !isHex(u[i]) {
				return false
			}
		}
	}
	if u[14] < '1' || u[14] > '5' {
		return false
	}
	switch u[19] {
	case '8', '9', 'a', 'b', 'A', 'B':
		return true
	}
	return false
}

// parseTimestamp parses YYYY-MM-DDTHH:MM:SS[.fraction]Z, checking the calendar.
func parseTimestamp(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[len(b)-1] != 'Z' || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	num := func(s []byte) int {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, mon, day := num(b[0:4]), num(b[5:7]), num(b[8:10])
	hh, mm, ss := num(b[11:13]), num(b[14:16]), num(b[17:19])
	if year < 0 || mon < 1 || mon > 12 || day < 1 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60 {
		return time.Time{}, false
	}
	if day > daysIn(year, mon) {
		return time.Time{}, false
	}
	nsec := 0
	rest := b[19 : len(b)-1]
	if len(rest) > 0 {
		if rest[0] != '.' || len(rest) < 2 {
			return time.Time{}, false
		}
		digits := rest[1:]
		scale := 100000000
		for k, c := range digits {
			if c < '0' || c > '9' {
				return time.Time{}, false
			}
			if k < 9 {
				nsec += int(c-'0') * scale
				scale /= 10
			}
		}
	}
	leap := 0
	if ss == 60 { // a leap second: keep the instant just before the next minute
		ss, leap = 59, 1
	}
	t := time.Date(year, time.Month(mon), day, hh, mm, ss, nsec, time.UTC)
	if leap == 1 {
		t = t.Add(time.Second - time.Nanosecond)
	}
	return t, true
}

func daysIn(year, mon int) int {
	switch mon {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
