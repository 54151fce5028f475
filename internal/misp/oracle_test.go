package misp

// The conversion FromSTIX made before it scanned objects itself and streamed the event: it
// decoded every object into a map[string]any and marshalled the whole event with encoding/json.
// It stays here only as the oracle TestWriteEventOracle and FuzzWriteEventOracle compare
// against.

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"cshub/internal/hub"
	"cshub/internal/stix"
)

// The MISP event oldFromSTIX writes. Field order is MISP's; empty lists stay, as MISP writes them.
type oldEvent struct {
	UUID             string       `json:"uuid"`
	Info             string       `json:"info"`
	Date             string       `json:"date"`
	Timestamp        string       `json:"timestamp"`
	PublishTimestamp string       `json:"publish_timestamp,omitempty"`
	Published        bool         `json:"published"`
	ThreatLevelID    string       `json:"threat_level_id"`
	Analysis         string       `json:"analysis"`
	Distribution     string       `json:"distribution,omitempty"`
	Orgc             *org         `json:"Orgc,omitempty"`
	Attribute        []*oldAttr   `json:"Attribute"`
	Object           []*oldObject `json:"Object"`
	Tag              []tag        `json:"Tag"`
}

type oldAttr struct {
	UUID           string        `json:"uuid"`
	Type           string        `json:"type"`
	Category       string        `json:"category"`
	Value          string        `json:"value"`
	ToIDs          bool          `json:"to_ids"`
	Comment        string        `json:"comment"`
	Timestamp      string        `json:"timestamp,omitempty"`
	Distribution   string        `json:"distribution,omitempty"`
	ObjectRelation string        `json:"object_relation,omitempty"`
	Data           string        `json:"data,omitempty"`
	Tag            []tag         `json:"Tag,omitempty"`
	Sighting       []oldSighting `json:"Sighting,omitempty"`
}

type oldObject struct {
	UUID         string     `json:"uuid"`
	Name         string     `json:"name"`
	MetaCategory string     `json:"meta-category"`
	TemplateUUID string     `json:"template_uuid,omitempty"`
	Comment      string     `json:"comment"`
	Timestamp    string     `json:"timestamp,omitempty"`
	Distribution string     `json:"distribution,omitempty"`
	Attribute    []*oldAttr `json:"Attribute"`
}

type oldSighting struct {
	UUID         string `json:"uuid"`
	Type         string `json:"type"`
	DateSighting string `json:"date_sighting"`
	Source       string `json:"source,omitempty"`
}

// oldObj is a decoded STIX object.
type oldObj map[string]any

func (o oldObj) str(k string) string { s, _ := o[k].(string); return s }

func (o oldObj) strs(k string) []string {
	l, _ := o[k].([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (o oldObj) uuid() string {
	id := o.str("id")
	if i := strings.Index(id, "--"); i >= 0 {
		return id[i+2:]
	}
	return id
}

// unix writes a STIX timestamp property as MISP's Unix seconds, or "".
func (o oldObj) unix(k string) string {
	t, err := time.Parse(time.RFC3339Nano, o.str(k))
	if err != nil {
		return ""
	}
	return strconv.FormatInt(t.Unix(), 10)
}

// label returns the value of a misp-stix label such as misp:type="ip-dst".
func (o oldObj) label(name string) string {
	for _, l := range o.strs("labels") {
		if v, ok := strings.CutPrefix(l, "misp:"+name+"="); ok {
			if u, err := strconv.Unquote(v); err == nil {
				return u
			}
		}
	}
	return ""
}

// tagLabels returns the labels that are not misp-stix bookkeeping, as MISP tags.
func (o oldObj) tagLabels() []tag {
	var out []tag
	for _, l := range o.strs("labels") {
		if strings.HasPrefix(l, "misp:") {
			continue
		}
		out = append(out, tag{Name: l})
	}
	return out
}

// oldFromSTIX exports STIX objects, each one JSON object as the hub stores it, as one MISP event
// in core format, {"Event":{...}}. A report among them (the first one) gives the event its
// uuid, info and dates; without one the event's uuid is derived from the objects' ids.
// Objects that came from ToSTIX give back their attributes exactly (type, value, to_ids,
// category, comment, uuid); other indicators and observables are mapped by their patterns and
// properties, patterns that do not map to attributes travel as stix2-pattern attributes, and
// intrusion sets, malware, tools and attack patterns become misp-galaxy tags. An object that is
// not JSON is a hub.EInvalid error naming its position.
func oldFromSTIX(objects [][]byte) ([]byte, error) {
	objs, errs := oldDecodeAll(objects)
	byID := make(map[string]oldObj, len(objs))
	for i, o := range objs {
		if errs[i] != nil {
			return nil, hub.FieldError(fmt.Sprintf("objects[%d]", i), "not a JSON object: %v", errs[i])
		}
		if o.str("type") == "" || o.str("id") == "" {
			return nil, hub.FieldError(fmt.Sprintf("objects[%d]", i), "not a STIX object: no type or id")
		}
		byID[o.str("id")] = o
	}
	x := &oldExporter{byID: byID, byObject: map[string]*oldAttr{}, consumed: map[string]bool{}}
	return x.run(objs)
}

// oldDecodeAll decodes every object, the cores sharing the work: an export of a million
// indicators spends most of its time here, and each object decodes alone.
func oldDecodeAll(objects [][]byte) ([]oldObj, []error) {
	objs, errs := make([]oldObj, len(objects)), make([]error, len(objects))
	parts := min(runtime.GOMAXPROCS(0), max(len(objects)/1024, 1))
	var wg sync.WaitGroup
	for p := range parts {
		wg.Go(func() {
			for i := p * len(objects) / parts; i < (p+1)*len(objects)/parts; i++ {
				errs[i] = json.Unmarshal(objects[i], &objs[i])
			}
		})
	}
	wg.Wait()
	return objs, errs
}

type oldExporter struct {
	byID     map[string]oldObj
	byObject map[string]*oldAttr // STIX id -> the first attribute made from it (for sightings)
	consumed map[string]bool     // SCOs already exported through an observed-data or a parent
	ev       oldEvent
	evTLP    hub.TLP
	tags     []string
}

func (x *oldExporter) run(objs []oldObj) ([]byte, error) {
	ev := &x.ev
	ev.Attribute, ev.Object, ev.Tag = []*oldAttr{}, []*oldObject{}, []tag{}
	var rep oldObj
	for _, o := range objs {
		if o.str("type") == "report" {
			rep = o
			break
		}
	}
	// Order: the report's object_refs first, then the rest as given.
	order := make([]oldObj, 0, len(objs))
	seen := map[string]bool{}
	if rep != nil {
		for _, r := range rep.strs("object_refs") {
			if o, ok := x.byID[r]; ok && !seen[r] {
				order = append(order, o)
				seen[r] = true
			}
		}
	}
	for _, o := range objs {
		if !seen[o.str("id")] {
			order = append(order, o)
			seen[o.str("id")] = true
		}
	}

	if rep != nil {
		ev.UUID = cmp(cmp(rep.str("x_misp_uuid"), rep.uuid()), uuid5("report:"+rep.str("id")))
		ev.Info = rep.str("name")
		ev.Date = rep.str("x_misp_date")
		if ev.Date == "" && len(rep.str("published")) >= 10 {
			ev.Date = rep.str("published")[:10]
		}
		ev.Timestamp = rep.unix("modified")
		ev.PublishTimestamp = rep.unix("published")
		ev.Published, _ = rep["x_misp_published"].(bool)
		ev.ThreatLevelID = rep.str("x_misp_threat_level_id")
		ev.Analysis = rep.str("x_misp_analysis")
		ev.Distribution = rep.str("x_misp_distribution")
		x.evTLP = stix.TLPOf(rep.strs("object_marking_refs"))
		for _, t := range rep.tagLabels() {
			x.addTag(t.Name)
		}
		if id, ok := x.byID[rep.str("created_by_ref")]; ok && id.str("name") != "" {
			ev.Orgc = &org{UUID: id.uuid(), Name: id.str("name")}
		}
	} else {
		ids := make([]string, 0, len(objs))
		for _, o := range objs {
			ids = append(ids, o.str("id"))
		}
		slices.Sort(ids)
		ev.UUID = uuid5("export:" + strings.Join(ids, ","))
		ev.Info = fmt.Sprintf("cshub export of %d STIX objects", len(objs))
		latest := ""
		for _, o := range objs {
			latest = max(latest, o.str("modified"))
			x.evTLP = max(x.evTLP, stix.TLPOf(o.strs("object_marking_refs")))
		}
		if t, err := time.Parse(time.RFC3339Nano, latest); err == nil {
			ev.Date, ev.Timestamp = t.UTC().Format("2006-01-02"), strconv.FormatInt(t.Unix(), 10)
		} else {
			ev.Date, ev.Timestamp = "1970-01-01", "0"
		}
	}
	if ev.ThreatLevelID == "" {
		ev.ThreatLevelID = "4" // undefined
	}
	if ev.Analysis == "" {
		ev.Analysis = "0" // initial
	}
	if x.evTLP != hub.TLPUnset {
		x.addTagFirst("tlp:" + strings.ToLower(x.evTLP.String()))
	}
	// Observed-data first claims its observables, so that they are not exported twice.
	for _, o := range order {
		if o.str("type") == "observed-data" {
			for _, r := range o.strs("object_refs") {
				x.consumed[r] = true
			}
		}
	}
	for _, o := range order {
		x.object(o)
	}
	for _, o := range order {
		if o.str("type") == "sighting" {
			if a := x.byObject[o.str("sighting_of_ref")]; a != nil {
				a.Sighting = append(a.Sighting, oldSighting{
					UUID: o.uuid(), Type: cmp(o.str("x_misp_sighting_type"), "0"),
					DateSighting: cmp(o.unix("first_seen"), o.unix("created")), Source: o.str("x_misp_source"),
				})
			}
		}
	}
	for _, t := range x.tags {
		ev.Tag = append(ev.Tag, tag{Name: t})
	}
	return json.Marshal(map[string]any{"Event": ev})
}

func (x *oldExporter) addTag(t string) {
	if !slices.Contains(x.tags, t) {
		x.tags = append(x.tags, t)
	}
}

func (x *oldExporter) addTagFirst(t string) {
	if !slices.Contains(x.tags, t) {
		x.tags = append([]string{t}, x.tags...)
	}
}

// attrTags returns an object's tags for its attribute: its labels, and its TLP when that
// differs from the event's.
func (x *oldExporter) attrTags(o oldObj) []tag {
	tags := o.tagLabels()
	if t := stix.TLPOf(o.strs("object_marking_refs")); t != hub.TLPUnset && t != x.evTLP {
		tags = append([]tag{{Name: "tlp:" + strings.ToLower(t.String())}}, tags...)
	}
	return tags
}

func (x *oldExporter) add(o oldObj, a *oldAttr) {
	if a.UUID == "" {
		a.UUID = o.uuid()
	}
	if a.Timestamp == "" {
		a.Timestamp = o.unix("modified")
	}
	if a.Category == "" {
		a.Category = defaultCategory(a.Type)
	}
	x.restoreData(o, a)
	if _, ok := x.byObject[o.str("id")]; !ok {
		x.byObject[o.str("id")] = a
	}
	x.ev.Attribute = append(x.ev.Attribute, a)
}

// restoreData gives attachments and malware samples back their content, which ToSTIX put in
// an artifact named by the attribute's uuid.
func (x *oldExporter) restoreData(o oldObj, a *oldAttr) {
	if a.Type != "attachment" && a.Type != "malware-sample" {
		return
	}
	if art, ok := x.byID["artifact--"+strings.ToLower(a.UUID)]; ok {
		a.Data = art.str("payload_bin")
		return
	}
	for _, r := range o.strs("object_refs") {
		if strings.HasPrefix(r, "artifact--") {
			a.Data = x.byID[r].str("payload_bin")
		}
	}
}

// object exports one STIX object.
func (x *oldExporter) object(o oldObj) {
	typ := o.str("type")
	if recs, ok := o["x_misp_attributes"].([]any); ok {
		x.mispObject(o, recs)
		return
	}
	if v, ok := o["x_misp_value"].(string); ok && typ != "report" {
		a := &oldAttr{
			UUID: cmp(o.str("x_misp_uuid"), o.uuid()), Type: cmp(o.str("x_misp_type"), o.label("type")),
			Category: cmp(o.str("x_misp_category"), o.label("category")), Value: v,
			Comment: o.str("description"), Distribution: o.str("x_misp_distribution"), Tag: x.attrTags(o),
		}
		a.ToIDs, _ = o["x_misp_to_ids"].(bool)
		a.ToIDs = a.ToIDs || typ == "indicator"
		if a.Type != "" {
			x.add(o, a)
			return
		}
	}
	switch typ {
	case "indicator":
		for _, a := range oldIndicatorAttrs(o) {
			a.Comment, a.Tag = o.str("description"), x.attrTags(o)
			x.add(o, a)
		}
	case "observed-data":
		for _, r := range o.strs("object_refs") {
			for _, a := range x.scoAttrs(r) {
				a.Comment, a.Tag = o.str("description"), x.attrTags(o)
				x.add(o, a)
			}
		}
	case "vulnerability", "campaign", "threat-actor":
		t := map[string]string{"vulnerability": "vulnerability", "campaign": "campaign-name", "threat-actor": "threat-actor"}[typ]
		if n := o.str("name"); n != "" {
			x.add(o, &oldAttr{Type: t, Value: n, Comment: o.str("description"), Tag: x.attrTags(o)})
		}
	case "intrusion-set", "malware", "tool", "attack-pattern", "course-of-action":
		if t := oldGalaxyTag(o); t != "" {
			x.addTag(t)
		}
	default:
		if oldIsSCO(o) && !x.consumed[o.str("id")] {
			for _, a := range x.scoAttrs(o.str("id")) {
				x.add(o, a)
			}
		}
	}
}

func oldIsSCO(o oldObj) bool {
	_, hasCreated := o["created"]
	return !hasCreated && o.str("type") != "marking-definition"
}

// oldGalaxyTag writes a cluster object as a misp-galaxy tag.
func oldGalaxyTag(o oldObj) string {
	gt, val := o.str("x_misp_galaxy_type"), o.str("x_misp_cluster_value")
	if gt == "" || val == "" {
		val = o.str("name")
		if val == "" {
			return ""
		}
		ext := ""
		refs, _ := o["external_references"].([]any)
		for _, r := range refs {
			if m, ok := r.(map[string]any); ok && m["source_name"] == "mitre-attack" {
				ext, _ = m["external_id"].(string)
			}
		}
		gt = map[string]string{"intrusion-set": "threat-actor", "malware": "malpedia", "tool": "tool",
			"attack-pattern": "mitre-attack-pattern", "course-of-action": "mitre-course-of-action"}[o.str("type")]
		if ext != "" {
			gt = map[string]string{"intrusion-set": "mitre-intrusion-set", "malware": "mitre-malware", "tool": "mitre-tool",
				"attack-pattern": "mitre-attack-pattern", "course-of-action": "mitre-course-of-action"}[o.str("type")]
			val += " - " + ext
		}
	}
	return fmt.Sprintf("misp-galaxy:%s=%q", gt, val)
}

func (x *oldExporter) mispObject(o oldObj, recs []any) {
	mo := &oldObject{
		UUID: o.uuid(), Name: cmp(o.str("x_misp_name"), o.label("name")),
		MetaCategory: cmp(o.str("x_misp_meta_category"), o.label("meta-category")),
		TemplateUUID: o.str("x_misp_template_uuid"), Comment: o.str("description"),
		Timestamp: o.unix("modified"), Distribution: o.str("x_misp_distribution"), Attribute: []*oldAttr{},
	}
	for _, r := range recs {
		m, ok := r.(map[string]any)
		if !ok {
			continue
		}
		s := func(k string) string { v, _ := m[k].(string); return v }
		a := &oldAttr{
			UUID: s("uuid"), Type: s("type"), Category: s("category"), Value: s("value"), Comment: s("comment"),
			Timestamp: mo.Timestamp, Distribution: s("distribution"), ObjectRelation: s("object_relation"),
		}
		a.ToIDs, _ = m["to_ids"].(bool)
		x.restoreData(o, a)
		if tl, ok := m["tags"].([]any); ok {
			for _, t := range tl {
				if ts, ok := t.(string); ok {
					a.Tag = append(a.Tag, tag{Name: ts})
				}
			}
		}
		if _, ok := x.byObject[o.str("id")]; !ok {
			x.byObject[o.str("id")] = a
		}
		mo.Attribute = append(mo.Attribute, a)
	}
	x.ev.Object = append(x.ev.Object, mo)
}

// scoAttrs maps the observable with the given id (and what it refers to) to attributes.
func (x *oldExporter) scoAttrs(id string) []*oldAttr {
	o, ok := x.byID[id]
	if !ok {
		return nil
	}
	x.consumed[id] = true
	one := func(t, v string) []*oldAttr {
		if v == "" {
			return nil
		}
		return []*oldAttr{{Type: t, Value: v, UUID: o.uuid()}}
	}
	switch o.str("type") {
	case "ipv4-addr", "ipv6-addr":
		return one("ip-dst", o.str("value"))
	case "domain-name":
		return one("domain", o.str("value"))
	case "url":
		return one("url", o.str("value"))
	case "email-addr":
		return one("email", o.str("value"))
	case "mutex":
		return one("mutex", o.str("name"))
	case "mac-addr":
		return one("mac-address", o.str("value"))
	case "windows-registry-key":
		return one("regkey", o.str("key"))
	case "email-message":
		return one("email-subject", o.str("subject"))
	case "autonomous-system":
		if n, ok := o["number"].(float64); ok {
			return one("AS", "AS"+strconv.FormatFloat(n, 'f', 0, 64))
		}
	case "network-traffic":
		for _, side := range []string{"dst", "src"} {
			ip, ok := x.byID[o.str(side+"_ref")]
			p, hasPort := o[side+"_port"].(float64)
			if ok && hasPort && (ip.str("type") == "ipv4-addr" || ip.str("type") == "ipv6-addr") {
				x.consumed[ip.str("id")] = true
				return one("ip-"+side+"|port", ip.str("value")+"|"+strconv.FormatFloat(p, 'f', 0, 64))
			}
		}
	case "file", "x509-certificate":
		hashes, _ := o["hashes"].(map[string]any)
		keys := make([]string, 0, len(hashes))
		for k := range hashes {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		name := o.str("name")
		var out []*oldAttr
		if o.str("type") == "x509-certificate" {
			for _, k := range keys {
				h, _ := hashes[k].(string)
				if t := mispHashType(k); h != "" && (t == "md5" || t == "sha1" || t == "sha256") {
					out = append(out, &oldAttr{Type: "x509-fingerprint-" + t, Value: h})
				}
			}
		} else if h, ok := hashes[keys0(keys)].(string); ok && len(keys) == 1 && name != "" && mispHashType(keys[0]) != "" {
			return one("filename|"+mispHashType(keys[0]), name+"|"+h)
		} else {
			if name != "" {
				out = append(out, &oldAttr{Type: "filename", Value: name})
			}
			for _, k := range keys {
				if t, ok := hashes[k].(string); ok && mispHashType(k) != "" {
					out = append(out, &oldAttr{Type: mispHashType(k), Value: t})
				}
			}
		}
		for i, a := range out {
			a.UUID = o.uuid()
			if i > 0 {
				a.UUID = uuid5(o.str("id") + "/" + a.Type)
			}
		}
		return out
	}
	return nil
}

// oldIndicatorAttrs maps an indicator without MISP bookkeeping to attributes. It always takes
// the pattern parser's path (patternAttrs, unchanged from the old conversion), so the oracle checks
// simplePattern's shortcut against it.
func oldIndicatorAttrs(o oldObj) []*oldAttr {
	p := o.str("pattern")
	switch pt := o.str("pattern_type"); pt {
	case "yara", "snort", "sigma":
		return []*oldAttr{{Type: pt, Value: p, ToIDs: true}}
	case "stix":
	default:
		return nil
	}
	var out []*oldAttr
	for _, a := range patternAttrs(o.str("id"), p, nil) {
		out = append(out, &oldAttr{UUID: a.UUID, Type: a.Type, Value: a.Value, ToIDs: a.ToIDs})
	}
	return out
}
