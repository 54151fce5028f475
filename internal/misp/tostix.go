// Package misp converts MISP events to STIX 2.1 bundles and back, and polls MISP feeds.
//
// The mapping follows the MISP project's own (misp-stix): an event becomes a report whose
// object_refs list everything else; an attribute with to_ids set becomes an indicator with a
// STIX pattern, any other attribute observed-data with its cyber-observable objects (or an
// x-misp-attribute object when STIX has no observable for its type); a MISP object becomes one
// indicator, observed-data or x-misp-object for the whole object. Attribute and object UUIDs are
// kept as the STIX objects' UUIDs, so importing the same event twice gives the same objects.
// Custom properties prefixed x_misp_ carry what STIX lacks, so that FromSTIX gives the
// attributes back.
package misp

import (
	"bytes"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"cshub/internal/hub"
	"cshub/internal/stix"
)

// MaxInput bounds the MISP JSON that ToSTIX reads.
const MaxInput = 256 << 20

// ToSTIX reads MISP events in core format from r, as {"Event":{...}}, a bare event object, a
// list of either or a {"response":[...]} search answer, and returns one STIX 2.1 bundle holding
// them all. Every object of the bundle passes stix.Validate. The output depends only on the
// input: the same events give the same bytes. Input that is not MISP JSON is a hub.EInvalid
// error naming the offending field; an attribute that cannot be expressed in STIX is never an
// error, it travels as an x-misp-attribute object.
func ToSTIX(r io.Reader) ([]byte, error) { return ToSTIXWith(r, Options{}) }

// Options adjusts ToSTIXWith.
type Options struct {
	// Warninglists, when set, names the warninglists holding an attribute's value, given its
	// MISP type ("ip-dst", "domain", "md5"); package warninglist's Set.Lookup is one. An
	// indicator made from a listed value carries the names in x_cshub_warninglists, so that
	// analysts see it is probably benign before they act on it.
	Warninglists func(kind, value string) []string
}

// ToSTIXWith is ToSTIX with options.
func ToSTIXWith(r io.Reader, opt Options) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxInput+1))
	if err != nil {
		return nil, fmt.Errorf("misp: reading the event: %w", err)
	}
	if len(data) > MaxInput {
		return nil, hub.Errorf(hub.ETooLarge, "MISP input larger than %d bytes", MaxInput)
	}
	events, err := decodeEvents(data)
	if err != nil {
		return nil, err
	}
	c := &converter{ids: map[string]bool{}, lists: opt.Warninglists}
	var seeds []string
	for i := range events {
		if err := c.event(&events[i], i); err != nil {
			return nil, err
		}
		seeds = append(seeds, events[i].UUID)
	}
	var b bytes.Buffer
	size := 128
	for _, o := range c.out {
		size += len(o) + 1
	}
	b.Grow(size)
	fmt.Fprintf(&b, `{"type":"bundle","id":"bundle--%s","objects":[`, uuid5("bundle:"+strings.Join(seeds, ",")))
	for i, o := range c.out {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(o)
	}
	b.WriteString("]}")
	return b.Bytes(), nil
}

// epoch stands in for times an event does not give.
var epoch = time.Unix(0, 0).UTC()

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// namespace is the UUIDv5 namespace of the identifiers this package derives.
var namespace = [16]byte{0x3c, 0x0e, 0x5a, 0x6b, 0x1d, 0x2f, 0x4b, 0x8e, 0x9a, 0x41, 0x6f, 0x7c, 0x2e, 0x11, 0xd0, 0x5b}

// uuid5 returns the RFC 4122 name-based (SHA-1) UUID of name in this package's namespace.
func uuid5(name string) string {
	h := sha1.New()
	h.Write(namespace[:])
	h.Write([]byte(name))
	return uuidSum(h)
}

// uuidSum makes a version 5 UUID of the SHA-1 hash h.
func uuidSum(h hash.Hash) string {
	s := h.Sum(nil)
	s[6] = s[6]&0x0f | 0x50
	s[8] = s[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-5][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$`)

// validUUID accepts what STIX identifiers accept: an RFC 4122 UUID of version 1 to 5.
func validUUID(s string) bool { return uuidRE.MatchString(s) }

// converter builds one bundle. It is used by one goroutine.
type converter struct {
	out [][]byte
	// ids holds every id written and, under "uuid:<uuid>", every UUID taken, so that bad or
	// repeated MISP UUIDs cannot make two objects with one id.
	ids   map[string]bool
	lists func(kind, value string) []string // Options.Warninglists
	// per event
	ev       *event
	evKey    string // names the event in derived UUIDs
	created  time.Time
	markings []string
	identity string
	refs     []string          // the report's object_refs
	primary  map[string]string // MISP attribute uuid -> id of the STIX object made from it
}

// uuidFor returns the MISP uuid when it is valid and unused, else one derived from key.
func (c *converter) uuidFor(misp, key string) string {
	u := strings.ToLower(strings.TrimSpace(misp))
	if validUUID(u) && !c.usedUUID(u) {
		return u
	}
	for i := 0; ; i++ {
		u = uuid5(fmt.Sprintf("%s/%s/%d", c.evKey, key, i))
		if !c.usedUUID(u) {
			return u
		}
	}
}

func (c *converter) usedUUID(u string) bool { return c.ids["uuid:"+u] }

// emit validates objs and appends them to the bundle: all of them, or none when one is
// invalid, so that the caller can fall back to another form.
func (c *converter) emit(objs ...map[string]any) error {
	raws := make([][]byte, len(objs))
	for i, o := range objs {
		raw, err := json.Marshal(o)
		if err != nil {
			return fmt.Errorf("misp: encoding %v: %w", o["id"], err)
		}
		if _, _, err := stix.Validate(raw); err != nil {
			return err
		}
		if c.ids[o["id"].(string)] {
			return hub.Errorf(hub.EInvalid, "misp: two objects with id %v", o["id"])
		}
		raws[i] = raw
	}
	for i, o := range objs {
		id := o["id"].(string)
		c.ids[id] = true
		c.ids["uuid:"+id[strings.Index(id, "--")+2:]] = true
		c.out = append(c.out, raws[i])
	}
	return nil
}

// common returns the properties every domain object of the event carries.
func (c *converter) common(typ, uuid string, t time.Time, markings []string) map[string]any {
	m := map[string]any{
		"type": typ, "spec_version": "2.1", "id": typ + "--" + uuid,
		"created": stamp(t), "modified": stamp(t), "created_by_ref": c.identity,
	}
	if len(markings) > 0 {
		m["object_marking_refs"] = markings
	}
	return m
}

// tagSet sorts a list of MISP tags into TLP markings, galaxy clusters and plain labels.
type tagSet struct {
	tlp      hub.TLP
	clusters []clusterRef
	labels   []string
}

type clusterRef struct{ galaxyType, value string }

var galaxyTagRE = regexp.MustCompile(`^misp-galaxy:([^=]+)="(.*)"$`)

func sortTags(names []string) tagSet {
	var s tagSet
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if strings.HasPrefix(strings.ToLower(n), "tlp:") {
			if t, err := hub.ParseTLP(n); err == nil {
				s.tlp = max(s.tlp, t)
				continue
			}
		}
		if m := galaxyTagRE.FindStringSubmatch(n); m != nil && stixTypeOfGalaxy(m[1]) != "" && m[2] != "" {
			if cr := (clusterRef{m[1], m[2]}); !slices.Contains(s.clusters, cr) {
				s.clusters = append(s.clusters, cr)
			}
			continue
		}
		if !slices.Contains(s.labels, n) {
			s.labels = append(s.labels, n)
		}
	}
	return s
}

// stixTypeOfGalaxy maps a MISP galaxy type to the STIX domain object its clusters become, or
// "" for galaxies (sectors, countries, guidelines …) that stay tags.
func stixTypeOfGalaxy(g string) string {
	switch g {
	case "threat-actor", "mitre-intrusion-set", "intrusion-set", "mitre-enterprise-attack-intrusion-set",
		"mitre-mobile-attack-intrusion-set", "mitre-pre-attack-intrusion-set", "microsoft-activity-group":
		return "intrusion-set"
	case "tool", "mitre-tool", "mitre-enterprise-attack-tool", "mitre-mobile-attack-tool":
		return "tool"
	case "malpedia", "mitre-malware", "ransomware", "rat", "banker", "botnet", "backdoor", "stealer",
		"android", "exploit-kit", "cryptominers", "mitre-enterprise-attack-malware",
		"mitre-mobile-attack-malware", "malware":
		return "malware"
	case "mitre-attack-pattern", "attack-pattern", "mitre-enterprise-attack-attack-pattern",
		"mitre-mobile-attack-attack-pattern", "mitre-pre-attack-attack-pattern":
		return "attack-pattern"
	case "mitre-course-of-action", "mitre-enterprise-attack-course-of-action", "course-of-action":
		return "course-of-action"
	}
	return ""
}

var attackIDRE = regexp.MustCompile(`^(.*\S)\s+-\s+([GSTMC]\d{4}(?:\.\d{3})?)$`)

// clusterObject returns the id of the STIX object for a galaxy cluster, writing the object the
// first time. The object depends on the galaxy type, the cluster value and the event's TLP
// only, so that every event naming APT28 under one TLP refers to the same object, and an event
// under TLP:RED does not make a cluster name known under a lower TLP.
func (c *converter) clusterObject(cr clusterRef) (string, error) {
	typ := stixTypeOfGalaxy(cr.galaxyType)
	u := uuid5("misp-galaxy:" + cr.galaxyType + "=" + cr.value + " " + strings.Join(c.markings, ","))
	id := typ + "--" + u
	if c.ids[id] {
		// Written for an earlier event of the input, or earlier in this one.
		if !slices.Contains(c.refs, id) {
			c.refs = append(c.refs, id)
		}
		return id, nil
	}
	// Clusters are shared knowledge, not the event's: a fixed creation time keeps the object
	// the same whichever event names it.
	m := map[string]any{
		"type": typ, "spec_version": "2.1", "id": id, "created": stamp(epoch), "modified": stamp(epoch),
		"name": cr.value, "x_misp_galaxy_type": cr.galaxyType, "x_misp_cluster_value": cr.value,
	}
	if len(c.markings) > 0 {
		m["object_marking_refs"] = c.markings
	}
	if sm := attackIDRE.FindStringSubmatch(cr.value); sm != nil && strings.HasPrefix(cr.galaxyType, "mitre-") {
		m["name"] = sm[1]
		m["external_references"] = []any{map[string]any{"source_name": "mitre-attack", "external_id": sm[2]}}
	}
	if typ == "malware" {
		m["is_family"] = true
	}
	if err := c.emit(m); err != nil {
		return "", err
	}
	c.refs = append(c.refs, id)
	return id, nil
}

func (c *converter) event(ev *event, n int) error {
	c.ev = ev
	c.evKey = ev.UUID
	if c.evKey == "" {
		c.evKey = fmt.Sprintf("event-%d-%s", n, ev.Info)
	}
	c.refs = nil
	c.primary = map[string]string{}
	c.created = epoch
	if t, ok := unixTime(ev.Timestamp); ok {
		c.created = t
	} else if t, ok := dayTime(ev.Date); ok {
		c.created = t
	}
	tags := ev.tags()
	for _, g := range ev.Galaxy {
		for _, cl := range g.GalaxyCluster {
			gt := cmp(cl.Type, g.Type)
			tags = append(tags, fmt.Sprintf("misp-galaxy:%s=%q", gt, cl.Value))
		}
	}
	ts := sortTags(tags)
	c.markings = nil
	if id := stix.MarkingID(ts.tlp); id != "" {
		c.markings = []string{id}
	}

	// The organisation that created the event.
	orgName, orgUUID := "MISP", ""
	if ev.Orgc != nil {
		orgName, orgUUID = cmp(strings.TrimSpace(ev.Orgc.Name), "MISP"), ev.Orgc.UUID
	}
	idu := strings.ToLower(orgUUID)
	if !validUUID(idu) {
		idu = uuid5("misp-org:" + orgName)
	}
	c.identity = "identity--" + idu
	if !c.ids[c.identity] {
		if err := c.emit(map[string]any{
			"type": "identity", "spec_version": "2.1", "id": c.identity, "created": stamp(epoch),
			"modified": stamp(epoch), "name": orgName, "identity_class": "organization",
		}); err != nil {
			return err
		}
	}

	for _, cr := range ts.clusters {
		if _, err := c.clusterObject(cr); err != nil {
			return err
		}
	}
	for i := range ev.Attribute {
		if err := c.attribute(&ev.Attribute[i], fmt.Sprintf("attribute/%d", i)); err != nil {
			return err
		}
	}
	for i := range ev.Object {
		if err := c.object(&ev.Object[i], fmt.Sprintf("object/%d", i)); err != nil {
			return err
		}
	}
	for i, s := range ev.Sighting {
		if err := c.sighting(&s, c.primary[strings.ToLower(s.AttributeUUID)], fmt.Sprintf("sighting/%d", i)); err != nil {
			return err
		}
	}

	published := c.created
	if t, ok := unixTime(ev.PublishTimestamp); ok {
		published = t
	} else if t, ok := dayTime(ev.Date); ok {
		published = t
	}
	rep := c.common("report", c.uuidFor(ev.UUID, "report"), c.created, c.markings)
	rep["name"] = cmp(ev.Info, "MISP event "+ev.UUID)
	rep["published"] = stamp(published)
	rep["report_types"] = []string{"threat-report"}
	refs := c.refs
	if len(refs) == 0 {
		refs = []string{c.identity}
	}
	rep["object_refs"] = refs
	if len(ts.labels) > 0 {
		rep["labels"] = ts.labels
	}
	rep["x_misp_published"] = bool(ev.Published)
	setIf(rep, "x_misp_date", ev.Date)
	setIf(rep, "x_misp_threat_level_id", string(ev.ThreatLevelID))
	setIf(rep, "x_misp_analysis", string(ev.Analysis))
	setIf(rep, "x_misp_distribution", string(ev.Distribution))
	if ev.UUID != "" && !strings.HasSuffix(rep["id"].(string), strings.ToLower(ev.UUID)) {
		rep["x_misp_uuid"] = ev.UUID
	}
	return c.emit(rep)
}

func setIf(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

// cmp returns a, or b when a is empty.
func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (c *converter) timeOf(ts flexString) time.Time {
	if t, ok := unixTime(ts); ok {
		return t
	}
	return c.created
}

// labelsOf gives the labels misp-stix writes for an attribute, then its tags.
func labelsOf(typ, category string, toIDs bool, tags []string) []string {
	l := []string{fmt.Sprintf("misp:type=%q", typ)}
	if category != "" {
		l = append(l, fmt.Sprintf("misp:category=%q", category))
	}
	if toIDs {
		l = append(l, `misp:to_ids="True"`)
	}
	for _, t := range tags {
		if !slices.Contains(l, t) {
			l = append(l, t)
		}
	}
	return l
}

// attribute converts one top-level attribute and its sightings.
func (c *converter) attribute(a *attribute, key string) error {
	tags := a.tags()
	for _, g := range a.Galaxy {
		for _, cl := range g.GalaxyCluster {
			tags = append(tags, fmt.Sprintf("misp-galaxy:%s=%q", cmp(cl.Type, g.Type), cl.Value))
		}
	}
	ts := sortTags(tags)
	markings := c.markings
	if id := stix.MarkingID(ts.tlp); id != "" {
		markings = []string{id}
	}
	u := c.uuidFor(a.UUID, key)
	t := c.timeOf(a.Timestamp)
	objs := c.attributeObjects(a, u, t, markings, ts.labels)
	if err := c.emit(objs...); err != nil {
		// The value defeats the observable form (say, a URL STIX finds empty): keep the
		// attribute as a custom object rather than lose it.
		objs = []map[string]any{c.customAttribute(a, u, t, markings, ts.labels)}
		if err := c.emit(objs...); err != nil {
			return fmt.Errorf("misp: attribute %s (%s): %w", a.UUID, a.Type, err)
		}
	}
	id := objs[0]["id"].(string)
	c.refs = append(c.refs, id)
	c.primary[strings.ToLower(a.UUID)] = id
	for _, cr := range ts.clusters {
		cid, err := c.clusterObject(cr)
		if err != nil {
			return err
		}
		rt := "related-to"
		if strings.HasPrefix(id, "indicator--") {
			rt = "indicates"
		}
		rel := c.common("relationship", uuid5(id+" "+rt+" "+cid), t, markings)
		if c.ids[rel["id"].(string)] {
			continue // the same cluster twice, as a tag and in a Galaxy block
		}
		rel["relationship_type"], rel["source_ref"], rel["target_ref"] = rt, id, cid
		if err := c.emit(rel); err != nil {
			return err
		}
		c.refs = append(c.refs, rel["id"].(string))
	}
	for i, s := range a.Sighting {
		if err := c.sighting(&s, id, fmt.Sprintf("%s/sighting/%d", key, i)); err != nil {
			return err
		}
	}
	return nil
}

// attributeObjects returns the objects for attribute a, the primary one first.
func (c *converter) attributeObjects(a *attribute, u string, t time.Time, markings, tags []string) []map[string]any {
	v := a.Value
	switch a.Type {
	case "vulnerability", "campaign-name", "threat-actor":
		typ := map[string]string{"vulnerability": "vulnerability", "campaign-name": "campaign", "threat-actor": "threat-actor"}[a.Type]
		m := c.attrCommon(typ, a, u, t, markings, tags, false)
		m["name"] = v
		if typ == "vulnerability" && strings.HasPrefix(strings.ToUpper(v), "CVE-") {
			m["external_references"] = []any{map[string]any{"source_name": "cve", "external_id": strings.ToUpper(v)}}
		}
		return []map[string]any{m}
	case "yara", "snort", "sigma", "suricata":
		if bool(a.ToIDs) && nonEmpty(v) {
			m := c.attrCommon("indicator", a, u, t, markings, tags, true)
			pt := a.Type
			if pt == "suricata" {
				pt = "snort"
			}
			m["pattern"], m["pattern_type"], m["valid_from"] = v, pt, stamp(t)
			return []map[string]any{m}
		}
	}
	o, ok := mapAttribute(a.Type, v, a.Data, u)
	if !ok {
		return []map[string]any{c.customAttribute(a, u, t, markings, tags)}
	}
	first, last := seen(a, t)
	if a.ToIDs {
		m := c.attrCommon("indicator", a, u, t, markings, tags, true)
		m["pattern"], m["pattern_type"], m["pattern_version"] = patternOf(o.comps), "stix", "2.1"
		m["valid_from"] = stamp(first)
		if last.After(first) {
			m["valid_until"] = stamp(last)
		}
		m["name"] = clip(v, 256)
		if c.lists != nil {
			if names := c.lists(a.Type, v); len(names) > 0 {
				m["x_cshub_warninglists"] = names
			}
		}
		return []map[string]any{m}
	}
	m := c.attrCommon("observed-data", a, u, t, markings, tags, false)
	m["first_observed"], m["last_observed"], m["number_observed"] = stamp(first), stamp(last), 1
	objs := []map[string]any{m}
	var refs []string
	for _, s := range o.scos {
		if len(markings) > 0 {
			s["object_marking_refs"] = markings
		}
		refs = append(refs, s["id"].(string))
		objs = append(objs, s)
	}
	m["object_refs"] = refs
	return objs
}

// seen returns when an attribute was first and last seen: its first_seen and last_seen when
// MISP gives them, else t for both.
func seen(a *attribute, t time.Time) (first, last time.Time) {
	first, last = t, t
	if f, ok := dayTime(a.FirstSeen); ok {
		first, last = f, f
	}
	if l, ok := dayTime(a.LastSeen); ok && !l.Before(first) {
		last = l
	}
	return first, last
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8Start(b byte) bool { return b&0xc0 != 0x80 }

// attrCommon returns the properties a domain object made from attribute a carries.
func (c *converter) attrCommon(typ string, a *attribute, u string, t time.Time, markings, tags []string, toIDs bool) map[string]any {
	m := c.common(typ, u, t, markings)
	m["labels"] = labelsOf(a.Type, a.Category, toIDs, tags)
	if a.Comment != "" {
		m["description"] = a.Comment
	}
	m["x_misp_value"] = a.Value
	setIf(m, "x_misp_distribution", string(a.Distribution))
	if !strings.EqualFold(u, a.UUID) && a.UUID != "" {
		m["x_misp_uuid"] = a.UUID
	}
	if typ == "indicator" && a.Category != "" {
		m["kill_chain_phases"] = []any{map[string]any{"kill_chain_name": "misp-category", "phase_name": a.Category}}
	}
	return m
}

// customAttribute is the x-misp-attribute object misp-stix uses for attributes STIX has no
// observable for.
func (c *converter) customAttribute(a *attribute, u string, t time.Time, markings, tags []string) map[string]any {
	m := c.attrCommon("x-misp-attribute", a, u, t, markings, tags, false)
	m["x_misp_type"] = a.Type
	setIf(m, "x_misp_category", a.Category)
	if a.ToIDs {
		m["x_misp_to_ids"] = true
	}
	return m
}

// object converts a MISP object: one indicator when any of its attributes is for detection
// and has a pattern, else one observed-data when any has observables, else an x-misp-object.
func (c *converter) object(o *object, key string) error {
	u := c.uuidFor(o.UUID, key)
	t := c.timeOf(o.Timestamp)
	var comps []comparison
	var scos []map[string]any
	var attrs []any
	for i := range o.Attribute {
		a := &o.Attribute[i]
		au := c.uuidFor(a.UUID, fmt.Sprintf("%s/attribute/%d", key, i))
		c.ids["uuid:"+au] = true
		rec := map[string]any{"type": a.Type, "value": a.Value, "to_ids": bool(a.ToIDs), "uuid": au}
		setIf(rec, "object_relation", a.ObjectRelation)
		setIf(rec, "category", a.Category)
		setIf(rec, "comment", a.Comment)
		setIf(rec, "distribution", string(a.Distribution))
		if tags := a.tags(); len(tags) > 0 {
			rec["tags"] = tags
		}
		attrs = append(attrs, rec)
		ob, ok := mapAttribute(a.Type, a.Value, a.Data, au)
		if !ok {
			continue
		}
		if a.ToIDs {
			comps = append(comps, ob.comps...)
		}
		scos = mergeSCOs(scos, ob.scos)
	}
	var typ string
	switch {
	case len(comps) > 0:
		typ = "indicator"
	case len(scos) > 0:
		typ = "observed-data"
	default:
		typ = "x-misp-object"
	}
	build := func(typ string) []map[string]any {
		m := c.common(typ, u, t, c.markings)
		m["labels"] = []string{fmt.Sprintf("misp:name=%q", o.Name), fmt.Sprintf("misp:meta-category=%q", o.MetaCategory)}
		if o.Comment != "" {
			m["description"] = o.Comment
		}
		m["x_misp_name"] = o.Name
		setIf(m, "x_misp_meta_category", o.MetaCategory)
		setIf(m, "x_misp_template_uuid", o.TemplateUUID)
		setIf(m, "x_misp_distribution", string(o.Distribution))
		if len(attrs) > 0 {
			m["x_misp_attributes"] = attrs
		}
		objs := []map[string]any{m}
		switch typ {
		case "indicator":
			m["name"] = cmp(o.Name, "MISP object")
			m["pattern"], m["pattern_type"], m["pattern_version"], m["valid_from"] = patternOf(comps), "stix", "2.1", stamp(t)
			if o.MetaCategory != "" {
				m["kill_chain_phases"] = []any{map[string]any{"kill_chain_name": "misp-category", "phase_name": o.MetaCategory}}
			}
		case "observed-data":
			m["first_observed"], m["last_observed"], m["number_observed"] = stamp(t), stamp(t), 1
			var refs []string
			for _, s := range scos {
				if len(c.markings) > 0 {
					s["object_marking_refs"] = c.markings
				}
				refs = append(refs, s["id"].(string))
				objs = append(objs, s)
			}
			m["object_refs"] = refs
		}
		return objs
	}
	objs := build(typ)
	if err := c.emit(objs...); err != nil {
		objs = build("x-misp-object")
		if err := c.emit(objs...); err != nil {
			return fmt.Errorf("misp: object %s (%s): %w", o.UUID, o.Name, err)
		}
	}
	id := objs[0]["id"].(string)
	c.refs = append(c.refs, id)
	for i := range o.Attribute {
		a := &o.Attribute[i]
		c.primary[strings.ToLower(a.UUID)] = id
		for j, s := range a.Sighting {
			if err := c.sighting(&s, id, fmt.Sprintf("%s/attribute/%d/sighting/%d", key, i, j)); err != nil {
				return err
			}
		}
	}
	return nil
}

// mergeSCOs adds the observables of one attribute of a MISP object to those of the others. A
// lone observable that refers to nothing joins an earlier one of its type when their
// properties do not clash, so that a file object's name and hashes describe one file.
func mergeSCOs(scos, add []map[string]any) []map[string]any {
	if len(add) != 1 {
		return append(scos, add...)
	}
	n := add[0]
	for k := range n {
		if strings.HasSuffix(k, "_ref") || strings.HasSuffix(k, "_refs") {
			return append(scos, n)
		}
	}
next:
	for _, o := range scos {
		if o["type"] != n["type"] {
			continue
		}
		for k := range o {
			if strings.HasSuffix(k, "_ref") || strings.HasSuffix(k, "_refs") {
				continue next
			}
		}
		for k, v := range n {
			switch k {
			case "type", "spec_version", "id":
				continue
			case "hashes":
				oh, _ := o["hashes"].(map[string]any)
				for hk := range v.(map[string]any) {
					if _, clash := oh[hk]; clash {
						continue next
					}
				}
				continue
			}
			if _, clash := o[k]; clash {
				continue next
			}
		}
		for k, v := range n {
			switch k {
			case "type", "spec_version", "id":
			case "hashes":
				oh, _ := o["hashes"].(map[string]any)
				if oh == nil {
					oh = map[string]any{}
					o["hashes"] = oh
				}
				for hk, hv := range v.(map[string]any) {
					oh[hk] = hv
				}
			default:
				o[k] = v
			}
		}
		return scos
	}
	return append(scos, n)
}

// sighting converts a MISP sighting of the object with id of (skipped when unknown).
func (c *converter) sighting(s *sighting, of, key string) error {
	if of == "" {
		return nil
	}
	t := c.created
	if st, ok := unixTime(s.DateSighting); ok {
		t = st
	}
	m := c.common("sighting", c.uuidFor(s.UUID, key), t, c.markings)
	m["sighting_of_ref"] = of
	m["first_seen"], m["last_seen"], m["count"] = stamp(t), stamp(t), 1
	setIf(m, "x_misp_sighting_type", string(s.Type))
	setIf(m, "x_misp_source", s.Source)
	if s.Organisation != nil {
		setIf(m, "x_misp_organisation", s.Organisation.Name)
	}
	if err := c.emit(m); err != nil {
		return fmt.Errorf("misp: sighting %s: %w", s.UUID, err)
	}
	c.refs = append(c.refs, m["id"].(string))
	return nil
}
