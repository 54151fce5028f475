// Package record reads what an export needs of an indicator or sighting version, and writes it
// as a compact record. Package kb writes the record beside each version at ingest, sealed, so
// that a cold export reads a few hundred bytes a version instead of the whole object, and
// decodes no JSON and parses no pattern. A version stored without its record gets it from its
// object, through Of, so both decide alike by construction.
package record

import (
	"encoding/binary"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"cshub/internal/hub"
	"cshub/internal/match"
	"cshub/internal/stix/pattern"
)

// Value is one enforceable value of an indicator.
type Value struct {
	Type  string // STIX type: ipv4-addr, ipv6-addr, domain-name, url, email-addr or file
	Hash  string // for file: the hash algorithm as STIX names it ("SHA-256", "MD5", …)
	Value string // canonical (see match.Canonical); an address block as CIDR
}

// CIDR reports whether v is an address block rather than a single address.
func (v Value) CIDR() bool { return strings.Contains(v.Value, "/") }

// Object is the access metadata of a stored version: the fields of hub.Object that an export
// decides on. It is not a hub.Object, whose body, tokens and record fields would make a catalog
// of a million records a third larger.
type Object struct {
	Seq        int64
	ID         string
	Type       string
	Workspace  string
	Author     string
	TLP        hub.TLP
	Recipients []string
	Created    time.Time
	Modified   time.Time
	Revoked    bool
}

// Hub returns o as a hub.Object, without body, for package access to decide on.
func (o *Object) Hub() hub.Object {
	return hub.Object{Seq: o.Seq, ID: o.ID, Type: o.Type, Workspace: o.Workspace, Author: o.Author, TLP: o.TLP,
		Recipients: o.Recipients, Created: o.Created, Modified: o.Modified, Revoked: o.Revoked}
}

// Record is what an export needs of one indicator or sighting version: the access metadata of
// the object and what its body says. Object is embedded so that an export's Indicator, which
// points at its record, reads ind.ID and ind.Modified as it reads ind.Name.
type Record struct {
	Object

	// Of an indicator: its exportable values, none when the version exports nothing (revoked,
	// not a STIX pattern, a pattern that no single value decides).
	Name       string
	Confidence int // 0–100; -1 when the indicator has none
	ValidFrom  time.Time
	ValidUntil time.Time
	Values     []Value

	// Of a sighting: the indicator it sights ("" when it sights no indicator: the export
	// ignores it), and what it counts.
	Of            string
	FalsePositive bool
	Count         int // the sighting's count, 1 when it has none, never negative
}

// Of reads the record of o, a version of a type hub.Exported names, with its body open. parsed
// is an indicator's pattern already parsed (ingest has it from validation); nil: Of parses it.
func Of(o *hub.Object, parsed *pattern.Pattern) *Record {
	r := &Record{Object: Object{Seq: o.Seq, ID: o.ID, Type: o.Type, Workspace: o.Workspace, Author: o.Author, TLP: o.TLP,
		Recipients: o.Recipients, Created: o.Created, Modified: o.Modified, Revoked: o.Revoked}, Confidence: -1}
	if o.Type == "sighting" {
		r.sighting(o.Body)
	} else {
		r.indicator(o, parsed)
	}
	return r
}

// indicator fills the indicator fields from the body of o, whose pattern is parsed if the caller
// had it.
func (r *Record) indicator(o *hub.Object, parsed *pattern.Pattern) {
	var body struct {
		Name        string    `json:"name"`
		Pattern     string    `json:"pattern"`
		PatternType string    `json:"pattern_type"`
		ValidFrom   time.Time `json:"valid_from"`
		ValidUntil  time.Time `json:"valid_until"`
		Confidence  *int      `json:"confidence"`
		Revoked     bool      `json:"revoked"`
	}
	if json.Unmarshal(o.Body, &body) != nil || body.Revoked || o.Revoked || body.PatternType != "stix" {
		return
	}
	p := parsed
	if p == nil {
		var err error
		if p, err = pattern.Parse(body.Pattern); err != nil {
			return
		}
	}
	if !enforceable(p.Expr) {
		return
	}
	var values []Value
	for _, e := range p.Entries() {
		if v, ok := valueOf(e); ok && !slices.Contains(values, v) {
			values = append(values, v)
		}
	}
	if len(values) == 0 {
		return
	}
	r.Name, r.ValidFrom, r.ValidUntil, r.Values = body.Name, body.ValidFrom, body.ValidUntil, values
	if body.Confidence != nil {
		r.Confidence = *body.Confidence
	}
}

// sighting fills the sighting fields from body.
func (r *Record) sighting(body []byte) {
	var b struct {
		Of            string `json:"sighting_of_ref"`
		Count         *int   `json:"count"`
		FalsePositive bool   `json:"x_cshub_false_positive"`
	}
	if json.Unmarshal(body, &b) != nil || !strings.HasPrefix(b.Of, "indicator--") {
		return
	}
	r.Of, r.FalsePositive, r.Count = b.Of, b.FalsePositive, 1
	if b.Count != nil {
		r.Count = max(*b.Count, 0)
	}
}

// enforceable reports whether blocking a pattern's Exact and CIDR entries blocks what the
// pattern matches and no more. It is pattern.FullyServed (asked of each comparison), except that
// ISSUBSET on an address counts as decided by its block: FullyServed does not count it because
// an observed value may itself be a wider block, but the packets, queries and answers an
// enforcement point sees carry single addresses.
func enforceable(e pattern.ObservationExpr) bool {
	switch e := e.(type) {
	case *pattern.ObservationBracket:
		return enforceableComp(e.Comparison)
	case *pattern.ObservationCompound:
		return e.Op == pattern.ObsOr && !slices.ContainsFunc(e.Operands, func(o pattern.ObservationExpr) bool { return !enforceable(o) })
	}
	return false
}

func enforceableComp(c pattern.ComparisonExpr) bool {
	switch c := c.(type) {
	case *pattern.Comparison:
		one := &pattern.Pattern{Expr: &pattern.ObservationBracket{Comparison: c}}
		if c.Op == pattern.OpIsSubset && !c.Negated {
			return len(one.Entries()) > 0 // an address block it could read
		}
		return one.FullyServed()
	case *pattern.ComparisonCompound:
		return c.Op == pattern.Or && !slices.ContainsFunc(c.Operands, func(o pattern.ComparisonExpr) bool { return !enforceableComp(o) })
	}
	return false
}

// valueOf turns an index entry into an exportable value: exact values and CIDR blocks in
// canonical form; prefixes and suffixes are not enforceable as values.
func valueOf(e pattern.Entry) (Value, bool) {
	if e.Kind != pattern.Exact && e.Kind != pattern.CIDR {
		return Value{}, false
	}
	v := Value{Type: e.Type}
	typ := e.Type
	if e.Type == "file" {
		algo, ok := strings.CutPrefix(e.Path, "hashes.")
		if !ok {
			return Value{}, false
		}
		v.Hash = strings.ToUpper(strings.Trim(algo, "'"))
		typ = v.Hash
	}
	canon, err := match.Canonical(typ, e.Value)
	if err != nil {
		return Value{}, false
	}
	v.Value = canon
	return v, true
}

// format is the first byte of a marshalled record; a record of another format does not decode.
const format = 1

// Marshal writes r compactly: every field but Object.Seq and Object.Workspace, which the store
// keeps beside the record (the workspace picks the key that seals it).
func (r *Record) Marshal() []byte {
	o := &r.Object
	b := make([]byte, 0, 128)
	b = append(b, format)
	b = appendString(b, o.ID)
	b = appendString(b, o.Type)
	b = appendString(b, o.Author)
	b = binary.AppendUvarint(b, uint64(o.TLP))
	b = binary.AppendUvarint(b, uint64(len(o.Recipients)))
	for _, s := range o.Recipients {
		b = appendString(b, s)
	}
	b = appendTime(appendTime(b, o.Created), o.Modified)
	b = appendBool(b, o.Revoked)
	b = appendString(b, r.Name)
	b = binary.AppendVarint(b, int64(r.Confidence))
	b = appendTime(appendTime(b, r.ValidFrom), r.ValidUntil)
	b = binary.AppendUvarint(b, uint64(len(r.Values)))
	for _, v := range r.Values {
		b = appendString(appendString(appendString(b, v.Type), v.Hash), v.Value)
	}
	b = appendString(b, r.Of)
	b = appendBool(b, r.FalsePositive)
	return binary.AppendUvarint(b, uint64(r.Count))
}

// Unmarshal reads into r a record that Marshal wrote, stored at seq in workspace. The record's
// strings are parts of s: a caller that decodes many records from one string (one allocation
// for a page of them, not one per record) keeps that string alive as long as any of them.
func (r *Record) Unmarshal(seq int64, workspace string, s string) error {
	d := decoder{b: s}
	if d.byte() != format {
		return hub.Errorf(hub.EIntegrity, "export record %d: unknown format", seq)
	}
	*r = Record{Object: Object{Seq: seq, Workspace: workspace}}
	o := &r.Object
	o.ID, o.Type, o.Author = d.string(), d.string(), d.string()
	o.TLP = hub.TLP(d.uvarint())
	if n := d.count(); n > 0 {
		o.Recipients = make([]string, n)
		for i := range o.Recipients {
			o.Recipients[i] = d.string()
		}
	}
	o.Created, o.Modified, o.Revoked = d.time(), d.time(), d.bool()
	r.Name = d.string()
	r.Confidence = int(d.varint())
	r.ValidFrom, r.ValidUntil = d.time(), d.time()
	if n := d.count(); n > 0 {
		r.Values = make([]Value, n)
		for i := range r.Values {
			r.Values[i] = Value{Type: d.string(), Hash: d.string(), Value: d.string()}
		}
	}
	r.Of, r.FalsePositive, r.Count = d.string(), d.bool(), int(d.uvarint())
	if d.bad || len(d.b) != 0 {
		return hub.Errorf(hub.EIntegrity, "export record %d is malformed", seq)
	}
	return nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendTime writes t as seconds and nanoseconds since 1970, which holds every time.Time in
// UTC, the zero one included.
func appendTime(b []byte, t time.Time) []byte {
	return binary.AppendUvarint(binary.AppendVarint(b, t.Unix()), uint64(t.Nanosecond()))
}

// decoder reads what Marshal wrote; past the first error it reads zeros and sets bad.
type decoder struct {
	b   string
	bad bool
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.bad = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bool() bool { return d.byte() == 1 }

// uvarint reads what binary.AppendUvarint wrote.
func (d *decoder) uvarint() uint64 {
	var x uint64
	for i, shift := 0, uint(0); i < len(d.b) && i < binary.MaxVarintLen64; i, shift = i+1, shift+7 {
		c := d.b[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break // overflows 64 bits
			}
			d.b = d.b[i+1:]
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
	}
	d.bad, d.b = true, ""
	return 0
}

// varint reads what binary.AppendVarint wrote: a zig-zag encoded uvarint.
func (d *decoder) varint() int64 {
	u := d.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

// count reads a length that must fit what is left of the record.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.bad, d.b = true, ""
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	n := d.count()
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) time() time.Time {
	sec, nsec := d.varint(), d.uvarint()
	if nsec >= 1e9 {
		d.bad = true
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}
