package misp

import (
	"encoding/json"
	"errors"
	"iter"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"cshub/internal/hub"
	"cshub/internal/stix"
)

// sobj is what FromSTIX reads of one STIX object. A property that is absent or of another
// JSON type reads as the zero value, as a type assertion on encoding/json's map[string]any
// would; of a repeated property the last one counts, as it does there.
type sobj struct {
	src                                     string // the object's text, which more reads again
	typ, id, description, modified, pattern string
	labels                                  []string
	tlp                                     hub.TLP
	patternType                             patternType

	// The properties of other objects than indicators: apart, so that the million indicators of
	// an export, which the garbage collector scans while they are held, are a third the size.
	// Objects without any share noRare.
	*rare
}

type rare struct {
	published, firstSeen, sightingOfRef                  string
	value, key, subject, dstRef, srcRef, payloadBin      string
	mispUUID, mispDate, mispThreatLevel, mispAnalysis    string
	mispDistribution, mispType, mispCategory, mispName   string
	mispMetaCategory, mispTemplate, mispGalaxyType       string
	mispCluster, mispSightingType, mispSource, mispValue string
	hasMispValue, mispPublished, mispToIDs               bool
	refs                                                 []string

	number, dstPort, srcPort          float64
	hasNumber, hasDstPort, hasSrcPort bool

	// Raw JSON of the properties few objects have, decoded when used: x_misp_attributes and
	// external_references when lists, hashes when an object.
	mispAttrs, extRefs, hashes string
}

var noRare rare

// patternType is an indicator's pattern_type among those FromSTIX maps: a byte, not a string,
// in each of a million held indicators.
type patternType uint8

const (
	otherPattern patternType = iota
	stixPattern
	yaraPattern
	snortPattern
	sigmaPattern
)

// patternTypes names the patternType values as pattern_type writes them.
var patternTypes = [...]string{stixPattern: "stix", yaraPattern: "yara", snortPattern: "snort", sigmaPattern: "sigma"}

// extra is what FromSTIX reads of an object beyond what an export's indicators need: kept in
// sobj, it would add 56 bytes to each of a million held objects.
type extra struct {
	name, created, createdByRef string
	hasCreated                  bool
}

// more reads o's text again for its extra properties.
func (o *sobj) more() (m extra) {
	d := scanner{s: o.src}
	d.object(func(k, v string) {
		switch k {
		case "name":
			m.name = jsonStr(v)
		case "created":
			m.created, m.hasCreated = jsonStr(v), true
		case "created_by_ref":
			m.createdByRef = jsonStr(v)
		}
	})
	return m
}

// own gives o a rare part of its own, to set.
func (o *sobj) own() *rare {
	if o.rare == nil {
		o.rare = &rare{}
	}
	return o.rare
}

// maxDepth is encoding/json's nesting limit, which FromSTIX keeps.
const maxDepth = 10000

// decodeObject reads one stored STIX object into o. It scans the JSON itself, taking only the
// properties FromSTIX uses; what the scanner refuses, encoding/json explains. o's strings share
// b's memory: b must not change while o is in use.
func decodeObject(b []byte, o *sobj) error {
	defer func() {
		if o.rare == nil {
			o.rare = &noRare
		}
	}()
	o.src = unsafe.String(unsafe.SliceData(b), len(b))
	d := scanner{s: o.src}
	if d.object(o.set) {
		return nil
	}
	*o = sobj{}
	var m map[string]any
	err := json.Unmarshal(b, &m)
	switch {
	case err != nil:
		return err
	case m == nil: // null, which encoding/json reads as an empty map
		return nil
	}
	return errors.New("misp: the STIX object scanner refused what encoding/json reads")
}

// scanner checks JSON as strictly as encoding/json and cuts the top-level properties out of it.
type scanner struct {
	s     string
	i     int
	depth int
}

func (d *scanner) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// object reads the whole input as one JSON object, calling set with each property's name and
// JSON value; it is false for anything else.
func (d *scanner) object(set func(k, v string)) bool {
	d.ws()
	if d.i >= len(d.s) || d.s[d.i] != '{' {
		return false
	}
	d.i++
	d.depth = 1
	d.ws()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
	} else {
		for {
			k, ok := d.key()
			if !ok {
				return false
			}
			start := d.i
			if !d.value() {
				return false
			}
			set(k, d.s[start:d.i])
			d.ws()
			if d.i >= len(d.s) {
				return false
			}
			if d.s[d.i] == '}' {
				d.i++
				break
			}
			if d.s[d.i] != ',' {
				return false
			}
			d.i++
		}
	}
	d.ws()
	return d.i == len(d.s)
}

// key reads a property name and the colon after it, leaving d at the value.
func (d *scanner) key() (string, bool) {
	d.ws()
	start := d.i
	plain, ok := d.str()
	if !ok {
		return "", false
	}
	k, ok := unquote(d.s[start:d.i], plain)
	d.ws()
	if !ok || d.i >= len(d.s) || d.s[d.i] != ':' {
		return "", false
	}
	d.i++
	d.ws()
	return k, true
}

// str skips a string; plain is true when its text is the bytes between the quotes.
func (d *scanner) str() (plain, ok bool) {
	if d.i >= len(d.s) || d.s[d.i] != '"' {
		return false, false
	}
	plain, ascii := true, true
	for d.i++; ; d.i++ {
		// To the next byte to look at, eight bytes at a time while none is: most of a million
		// objects' text is in their strings.
		for d.i+8 <= len(d.s) && !stopIn(load8(d.s[d.i:])) {
			d.i += 8
		}
		for d.i < len(d.s) && !strStop[d.s[d.i]] {
			d.i++
		}
		if d.i == len(d.s) {
			return false, false
		}
		switch c := d.s[d.i]; {
		case c == '"':
			d.i++
			return plain && ascii, true
		case c < 0x20:
			return false, false
		case c >= utf8.RuneSelf:
			ascii = false
		case c == '\\':
			plain = false
			d.i++
			if d.i >= len(d.s) {
				return false, false
			}
			switch d.s[d.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if d.i+4 >= len(d.s) || !isHex(d.s[d.i+1:d.i+5]) {
					return false, false
				}
				d.i += 4
			default:
				return false, false
			}
		}
	}
}

// strStop tells the bytes of a string that str looks at: the others are only skipped, which is
// most of the text of a million objects.
var strStop = func() (t [256]bool) {
	for c := range t {
		t[c] = c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf
	}
	return t
}()

// load8 reads the first eight bytes of s, little-endian.
func load8(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// stopIn reports whether any of the eight bytes of w is one strStop holds: '"', '\\', a control
// byte or one past ASCII. Each of the tests (Hacker's Delight, 6-1) is exact as to whether some
// byte qualifies, which is all str asks: it finds which one byte by byte.
func stopIn(w uint64) bool {
	quote, backslash := w^(ones*'"'), w^(ones*'\\')
	return ((quote-ones)&^quote|(backslash-ones)&^backslash|(w-ones*0x20)&^w|w)&highs != 0
}

// unquote returns the text of the string literal q; plain says str found no escapes or
// non-ASCII bytes in it (encoding/json replaces invalid UTF-8, so those go through it).
func unquote(q string, plain bool) (string, bool) {
	if plain {
		return q[1 : len(q)-1], true
	}
	var s string
	return s, json.Unmarshal([]byte(q), &s) == nil
}

// value skips one JSON value.
func (d *scanner) value() bool {
	if d.i >= len(d.s) {
		return false
	}
	switch c := d.s[d.i]; {
	case c == '"':
		_, ok := d.str()
		return ok
	case c == '{' || c == '[':
		return d.container(c)
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case strings.HasPrefix(d.s[d.i:], "true"):
		d.i += 4
	case strings.HasPrefix(d.s[d.i:], "false"):
		d.i += 5
	case strings.HasPrefix(d.s[d.i:], "null"):
		d.i += 4
	default:
		return false
	}
	return true
}

func (d *scanner) container(open byte) bool {
	d.depth++
	if d.depth > maxDepth {
		return false
	}
	close := byte(']')
	if open == '{' {
		close = '}'
	}
	d.i++
	d.ws()
	if d.i < len(d.s) && d.s[d.i] == close {
		d.i++
		d.depth--
		return true
	}
	for {
		if open == '{' {
			if _, ok := d.str(); !ok {
				return false
			}
			d.ws()
			if d.i >= len(d.s) || d.s[d.i] != ':' {
				return false
			}
			d.i++
			d.ws()
		}
		if !d.value() {
			return false
		}
		d.ws()
		if d.i >= len(d.s) {
			return false
		}
		if d.s[d.i] == close {
			d.i++
			d.depth--
			return true
		}
		if d.s[d.i] != ',' {
			return false
		}
		d.i++
		d.ws()
	}
}

// number skips a number in JSON's grammar; like encoding/json decoding into any, it refuses one
// that a float64 cannot hold.
func (d *scanner) number() bool {
	start := d.i
	digits := func() bool {
		n := d.i
		for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
			d.i++
		}
		return d.i > n
	}
	if d.s[d.i] == '-' {
		d.i++
	}
	if d.i < len(d.s) && d.s[d.i] == '0' {
		d.i++
	} else if !digits() {
		return false
	}
	if d.i < len(d.s) && d.s[d.i] == '.' {
		d.i++
		if !digits() {
			return false
		}
	}
	if d.i < len(d.s) && (d.s[d.i] == 'e' || d.s[d.i] == 'E') {
		d.i++
		if d.i < len(d.s) && (d.s[d.i] == '+' || d.s[d.i] == '-') {
			d.i++
		}
		if !digits() {
			return false
		}
	}
	_, err := strconv.ParseFloat(d.s[start:d.i], 64)
	return err == nil
}

// jsonStr returns the text of v when it is a JSON string, else "".
func jsonStr(v string) string {
	if v[0] != '"' {
		return ""
	}
	s, _ := unquote(v, !strings.ContainsRune(v, '\\') && isASCII(v))
	return s
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// jsonStrs yields the strings of v when it is a list, skipping its other members.
func jsonStrs(v string) iter.Seq[string] {
	return func(yield func(string) bool) {
		if v[0] != '[' {
			return
		}
		d := scanner{s: v, i: 1}
		for {
			d.ws()
			if d.s[d.i] == ']' {
				return
			}
			start := d.i
			d.value()
			if d.s[start] == '"' && !yield(jsonStr(d.s[start:d.i])) {
				return
			}
			d.ws()
			if d.s[d.i] == ',' {
				d.i++
			}
		}
	}
}

// jsonNum returns the value of v when it is a number.
func jsonNum(v string) (float64, bool) {
	if v[0] != '-' && (v[0] < '0' || v[0] > '9') {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	return f, err == nil
}

// set records the property k whose JSON value is v.
func (o *sobj) set(k, v string) {
	switch k {
	case "type":
		o.typ = jsonStr(v)
	case "id":
		o.id = jsonStr(v)
	case "description":
		o.description = jsonStr(v)
	case "modified":
		o.modified = jsonStr(v)
	case "published":
		o.own().published = jsonStr(v)
	case "first_seen":
		o.own().firstSeen = jsonStr(v)
	case "sighting_of_ref":
		o.own().sightingOfRef = jsonStr(v)
	case "pattern":
		o.pattern = jsonStr(v)
	case "pattern_type":
		// Not found is -1; "" (not a string) finds otherPattern's empty name.
		o.patternType = patternType(max(slices.Index(patternTypes[:], jsonStr(v)), 0))
	case "value":
		o.own().value = jsonStr(v)
	case "key":
		o.own().key = jsonStr(v)
	case "subject":
		o.own().subject = jsonStr(v)
	case "dst_ref":
		o.own().dstRef = jsonStr(v)
	case "src_ref":
		o.own().srcRef = jsonStr(v)
	case "payload_bin":
		o.own().payloadBin = jsonStr(v)
	case "x_misp_uuid":
		o.own().mispUUID = jsonStr(v)
	case "x_misp_date":
		o.own().mispDate = jsonStr(v)
	case "x_misp_threat_level_id":
		o.own().mispThreatLevel = jsonStr(v)
	case "x_misp_analysis":
		o.own().mispAnalysis = jsonStr(v)
	case "x_misp_distribution":
		o.own().mispDistribution = jsonStr(v)
	case "x_misp_type":
		o.own().mispType = jsonStr(v)
	case "x_misp_category":
		o.own().mispCategory = jsonStr(v)
	case "x_misp_name":
		o.own().mispName = jsonStr(v)
	case "x_misp_meta_category":
		o.own().mispMetaCategory = jsonStr(v)
	case "x_misp_template_uuid":
		o.own().mispTemplate = jsonStr(v)
	case "x_misp_galaxy_type":
		o.own().mispGalaxyType = jsonStr(v)
	case "x_misp_cluster_value":
		o.own().mispCluster = jsonStr(v)
	case "x_misp_sighting_type":
		o.own().mispSightingType = jsonStr(v)
	case "x_misp_source":
		o.own().mispSource = jsonStr(v)
	case "x_misp_value":
		r := o.own()
		r.mispValue, r.hasMispValue = jsonStr(v), v[0] == '"'
	case "x_misp_published":
		o.own().mispPublished = v == "true"
	case "x_misp_to_ids":
		o.own().mispToIDs = v == "true"
	case "labels":
		o.labels = slices.Collect(jsonStrs(v))
	case "object_marking_refs":
		o.tlp = hub.TLPUnset
		for r := range jsonStrs(v) {
			o.tlp = max(o.tlp, stix.TLPOf([]string{r}))
		}
	case "object_refs":
		o.own().refs = slices.Collect(jsonStrs(v))
	case "number":
		r := o.own()
		r.number, r.hasNumber = jsonNum(v)
	case "dst_port":
		r := o.own()
		r.dstPort, r.hasDstPort = jsonNum(v)
	case "src_port":
		r := o.own()
		r.srcPort, r.hasSrcPort = jsonNum(v)
	case "x_misp_attributes":
		o.own().mispAttrs = rawIf(v, '[')
	case "external_references":
		o.own().extRefs = rawIf(v, '[')
	case "hashes":
		o.own().hashes = rawIf(v, '{')
	}
}

// rawIf returns v when its JSON starts with open (is a list or an object), else "".
func rawIf(v string, open byte) string {
	if v[0] != open {
		return ""
	}
	return v
}
