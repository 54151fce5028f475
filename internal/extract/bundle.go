package extract

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// namespace is the UUIDv5 namespace of the ids ToSTIX derives. Changing it changes every id the
// hub has stored, so it is fixed forever.
const namespace = "3e12e4f2-38e4-4482-8369-66e457396aed"

// uuidV5 returns the RFC 4122 version 5 UUID of name in namespace ns (a UUID string).
func uuidV5(ns, name string) string {
	nsb, _ := hex.DecodeString(strings.ReplaceAll(ns, "-", ""))
	h := sha1.New()
	h.Write(nsb)
	h.Write([]byte(name))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	x := hex.EncodeToString(u)
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// validUUID reports whether s is an RFC 4122 UUID of versions 1 to 5, as STIX ids need.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return false
			}
		} else if !isHexDigit(s[i]) {
			return false
		}
	}
	return s[14] >= '1' && s[14] <= '5' && strings.IndexByte("89abAB", s[19]) >= 0
}

// ObjectID returns the deterministic STIX id ToSTIX gives the object it creates for e: an
// indicator, vulnerability, location, sector identity or MISP-only threat actor. For entities
// that refer to existing objects (ATT&CK) it returns e.Ref, and "" for those that become no
// object (UN documents, unknown technique ids). The same (Kind, Value) always gives the same
// id, so ingesting a text twice updates objects instead of duplicating them.
func ObjectID(e Entity) string {
	switch {
	case e.Kind.IsIndicator():
		return "indicator--" + uuidV5(namespace, "indicator\x00"+string(e.Kind)+"\x00"+e.Value)
	case e.Kind == KindCVE:
		return "vulnerability--" + uuidV5(namespace, "vulnerability\x00"+e.Value)
	case e.Kind == KindCountry:
		return "location--" + uuidV5(namespace, "location\x00country\x00"+e.Value)
	case e.Kind == KindSector:
		return "identity--" + uuidV5(namespace, "identity\x00sector\x00"+e.Value)
	}
	return e.Ref
}

// ReportID returns the id ToSTIX gives the report of text: derived from the text's SHA-256, so
// the same text is the same report whatever its title.
func ReportID(text string) string {
	sum := sha256.Sum256([]byte(text))
	return "report--" + uuidV5(namespace, "report\x00"+hex.EncodeToString(sum[:]))
}

// pattern returns the STIX pattern matching an indicator entity.
func pattern(e Entity) string {
	v := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(e.Value)
	var path string
	switch e.Kind {
	case KindIPv4:
		path = "ipv4-addr:value"
	case KindIPv6:
		path = "ipv6-addr:value"
	case KindCIDR:
		path = "ipv4-addr:value"
		if strings.Contains(e.Value, ":") {
			path = "ipv6-addr:value"
		}
	case KindDomain:
		path = "domain-name:value"
	case KindURL:
		path = "url:value"
	case KindEmail:
		path = "email-addr:value"
	case KindMD5:
		path = "file:hashes.MD5"
	case KindSHA1:
		path = "file:hashes.'SHA-1'"
	case KindSHA256:
		path = "file:hashes.'SHA-256'"
	case KindSHA512:
		path = "file:hashes.'SHA-512'"
	}
	return "[" + path + " = '" + v + "']"
}

// externalRef is a STIX external reference.
type externalRef struct {
	SourceName string `json:"source_name"`
	ExternalID string `json:"external_id,omitempty"`
	URL        string `json:"url,omitempty"`
}

// object is the union of the properties of the objects ToSTIX writes, in the order they are
// written.
type object struct {
	Type               string        `json:"type"`
	SpecVersion        string        `json:"spec_version"`
	ID                 string        `json:"id"`
	Created            string        `json:"created"`
	Modified           string        `json:"modified"`
	Name               string        `json:"name,omitempty"`
	Description        string        `json:"description,omitempty"`
	ReportTypes        []string      `json:"report_types,omitempty"`
	Published          string        `json:"published,omitempty"`
	Pattern            string        `json:"pattern,omitempty"`
	PatternType        string        `json:"pattern_type,omitempty"`
	PatternVersion     string        `json:"pattern_version,omitempty"`
	ValidFrom          string        `json:"valid_from,omitempty"`
	Country            string        `json:"country,omitempty"`
	IdentityClass      string        `json:"identity_class,omitempty"`
	Sectors            []string      `json:"sectors,omitempty"`
	ObjectRefs         []string      `json:"object_refs,omitempty"`
	ExternalReferences []externalRef `json:"external_references,omitempty"`
	Warninglists       []string      `json:"x_cshub_warninglists,omitempty"`
}

// Report describes the report ToSTIXReport writes around extracted entities.
type Report struct {
	Title     string    // the report's name; empty: "Untitled report"
	Text      string    // the description; the report's id derives from it (ReportID)
	Published time.Time // zero: the time of writing
	URL       string    // where the text came from (a news item's link), as an external reference
	// Types are the report_types; empty: threat-report. A news or policy source sets its own,
	// such as "policy-development".
	Types []string
}

// ToSTIX returns a STIX 2.1 bundle for a text and the entities extracted from it: a report
// (name title, description text, report type threat-report, published now) whose object_refs
// link an indicator per indicator entity, a vulnerability per CVE, a location per country, a
// class identity per sector, a threat-actor per actor known only to the MISP galaxy, and the
// existing ATT&CK intrusion sets, software and attack-patterns by their ids, which the bundle
// does not repeat. UN document symbols become the report's external references. Ids are
// deterministic (see ObjectID and ReportID), and all timestamps are now, in UTC.
//
// A STIX report must refer to at least one object; when ents link nothing, the report refers
// to itself. An empty title becomes "Untitled report". The result is valid STIX 2.1 for any
// input: invalid UTF-8 is replaced.
func ToSTIX(title, text string, ents []Entity, now time.Time) []byte {
	return ToSTIXReport(Report{Title: title, Text: text}, ents, now)
}

// ToSTIXReport is ToSTIX for a report described by r: its publication time, source URL and
// report types as r gives them.
func ToSTIXReport(r Report, ents []Entity, now time.Time) []byte {
	ts := now.UTC().Format("2006-01-02T15:04:05.000Z")
	title := r.Title
	if strings.TrimSpace(title) == "" {
		title = "Untitled report"
	}
	published := ts
	if !r.Published.IsZero() {
		published = r.Published.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	types := r.Types
	if len(types) == 0 {
		types = []string{"threat-report"}
	}
	report := object{
		Type: "report", SpecVersion: "2.1", ID: ReportID(r.Text), Created: ts, Modified: ts,
		Name: title, Description: r.Text, ReportTypes: types, Published: published,
	}
	if r.URL != "" {
		report.ExternalReferences = append(report.ExternalReferences, externalRef{SourceName: "source", URL: r.URL})
	}
	var objs []object
	seen := map[string]bool{}
	for _, e := range ents {
		id := ObjectID(e)
		if e.Kind == KindUNDocument {
			report.ExternalReferences = append(report.ExternalReferences, externalRef{SourceName: "UN document", ExternalID: e.Value})
			continue
		}
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		report.ObjectRefs = append(report.ObjectRefs, id)
		o := object{SpecVersion: "2.1", ID: id, Created: ts, Modified: ts}
		switch {
		case e.Kind.IsIndicator():
			o.Type, o.Name = "indicator", e.Value
			o.Pattern, o.PatternType, o.PatternVersion, o.ValidFrom = pattern(e), "stix", "2.1", ts
			o.Warninglists = e.Lists
		case e.Kind == KindCVE:
			o.Type, o.Name = "vulnerability", e.Value
			o.ExternalReferences = []externalRef{{SourceName: "cve", ExternalID: e.Value}}
		case e.Kind == KindCountry:
			o.Type, o.Name, o.Country = "location", e.Name, e.Value
		case e.Kind == KindSector:
			o.Type, o.Name, o.IdentityClass = "identity", e.Name+" sector", "class"
			o.Sectors = []string{e.Value}
		case strings.HasPrefix(id, "threat-actor--"):
			o.Type, o.Name = "threat-actor", e.Name
		default:
			continue // an existing object: referred to, not repeated
		}
		if o.Name == "" {
			o.Name = e.Value
		}
		objs = append(objs, o)
	}
	if len(report.ObjectRefs) == 0 {
		report.ObjectRefs = []string{report.ID}
	}
	bundle := struct {
		Type    string   `json:"type"`
		ID      string   `json:"id"`
		Objects []object `json:"objects"`
	}{
		Type:    "bundle",
		ID:      "bundle--" + uuidV5(namespace, "bundle\x00"+report.ID+"\x00"+ts),
		Objects: append([]object{report}, objs...),
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(bundle); err != nil {
		// Only strings and slices of them are encoded; this cannot fail.
		panic("extract: encode bundle: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
