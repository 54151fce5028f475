// Package ioclist turns lists of indicators, plain text with one value a line or CSV with a
// column mapping, into STIX 2.1 bundles of indicators, and tells such lists apart from STIX,
// MISP and prose (Detect).
package ioclist

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cshub/internal/hub"
	"cshub/internal/stix"
)

// The fields a CSV column may hold.
const (
	FieldValue       = "value"
	FieldType        = "type"
	FieldDescription = "description"
	FieldFirstSeen   = "first_seen"
	FieldConfidence  = "confidence"
	FieldTLP         = "tlp"
)

var fields = []string{FieldValue, FieldType, FieldDescription, FieldFirstSeen, FieldConfidence, FieldTLP}

// headerAliases are the header names recognised for each field when the caller gives no
// mapping, compared in lower case with spaces and hyphens as underscores.
var headerAliases = map[string][]string{
	FieldValue:       {"value", "indicator", "ioc", "observable", "ioc_value", "indicator_value", "data"},
	FieldType:        {"type", "ioc_type", "indicator_type", "kind", "value_type"},
	FieldDescription: {"description", "comment", "comments", "desc", "note", "notes"},
	FieldFirstSeen:   {"first_seen", "firstseen", "first_seen_utc", "date", "seen"},
	FieldConfidence:  {"confidence", "score"},
	FieldTLP:         {"tlp", "marking"},
}

// Options says how to read a list. The zero value reads plain text, one value a line, with
// '#' comments.
type Options struct {
	// Format is "text" (one value a line, the default) or "csv".
	Format string
	// Columns maps fields (FieldValue, FieldType, FieldDescription, FieldFirstSeen,
	// FieldConfidence, FieldTLP) to 0-based CSV columns. When nil, the first row is read as a
	// header: ColumnNames, or else the usual names ("indicator", "ioc", "comment" …), find the
	// columns in it; a first row naming no value column is data, with the value in column 0.
	Columns map[string]int
	// ColumnNames maps fields to header names, for headers the usual names do not cover.
	ColumnNames map[string]string
	// Type, when set, forces the kind of every value ("ip", "ipv4", "domain", "url", "email",
	// "md5", "sha256", "hash", or the STIX and MISP names of those); values of another kind are
	// rejected. A type column, when mapped, gives the kind line by line instead.
	Type string
	// Delimiter separates CSV fields; 0 means ','.
	Delimiter rune
	// Comment starts a comment line (and, in text lists, a comment after the value); "" means "#".
	Comment string
	// Name, when set, adds a report of that name whose object_refs are the indicators.
	Name string
	// TLP marks indicators without a tlp column value; TLPUnset leaves them unmarked.
	TLP hub.TLP
	// Warninglists, when set, names the warninglists holding a canonical value (package
	// warninglist's Set.Lookup with kind "" is one); an indicator on any carries their names
	// in x_cshub_warninglists, so that analysts see it is probably benign before sharing it.
	Warninglists func(kind, value string) []string
	// Time is the created and modified time of the objects, and valid_from where no first_seen
	// is given. The zero value stands for 1970-01-01T00:00:00Z, so that the same list always
	// gives the same bundle; callers that want the time of submission pass it.
	Time time.Time
}

// Rejected is a line of the list that gave no indicator, and why.
type Rejected struct {
	Line   int    // 1-based line number in the input
	Value  string // the value as read (trimmed)
	Reason string
}

// MaxInput bounds the list ToSTIX reads.
const MaxInput = 64 << 20

// ToSTIX reads an indicator list and returns a STIX 2.1 bundle with one indicator per value,
// and the lines that gave none with their reason: no line is dropped silently (blank lines
// and comments aside). Indicator ids are UUIDv5 over kind and canonical value, so the same
// list twice gives the same objects; a value repeated in the list is rejected as a duplicate
// of its first line. Bad options are a hub.EInvalid error naming the option; the bundle is
// nil only with an error. Every object of the bundle passes stix.Validate.
func ToSTIX(r io.Reader, opts Options) ([]byte, []Rejected, error) {
	l, err := newLister(opts)
	if err != nil {
		return nil, nil, err
	}
	in := io.LimitReader(r, MaxInput+1)
	cr := &countReader{r: in}
	switch l.format {
	case "text":
		err = l.text(cr)
	case "csv":
		err = l.csv(cr)
	}
	if err == nil && cr.n > MaxInput {
		err = hub.Errorf(hub.ETooLarge, "indicator list larger than %d bytes", MaxInput)
	}
	if err != nil {
		return nil, nil, err
	}
	b, err := l.bundle()
	return b, l.rejected, err
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// lister builds one bundle.
type lister struct {
	opts     Options
	format   string
	kind     Kind // forced, or ""
	comment  string
	created  string
	objs     [][]byte
	ids      []string
	seen     map[string]int // indicator id -> line
	rejected []Rejected
}

func newLister(opts Options) (*lister, error) {
	l := &lister{opts: opts, seen: map[string]int{}, comment: opts.Comment}
	switch f := strings.ToLower(opts.Format); f {
	case "", "text", "txt", "ioc-list":
		l.format = "text"
	case "csv":
		l.format = "csv"
	default:
		return nil, hub.FieldError("format", "%q is not a list format (text, csv)", opts.Format)
	}
	if l.comment == "" {
		l.comment = "#"
	}
	if opts.Type != "" {
		k, ok := parseKind(opts.Type)
		if !ok {
			return nil, hub.FieldError("type", "%q is not an indicator type (ip, ipv4, ipv6, domain, url, email, md5, sha1, sha256, sha512, hash)", opts.Type)
		}
		l.kind = k
	}
	for f, c := range opts.Columns {
		if !slices.Contains(fields, f) {
			return nil, hub.FieldError("columns", "unknown field %q (value, type, description, first_seen, confidence, tlp)", f)
		}
		if c < 0 {
			return nil, hub.FieldError("columns", "column of %q must not be negative", f)
		}
	}
	if opts.Columns != nil {
		if _, ok := opts.Columns[FieldValue]; !ok {
			return nil, hub.FieldError("columns", "no column for the value")
		}
	}
	for f := range opts.ColumnNames {
		if !slices.Contains(fields, f) {
			return nil, hub.FieldError("column_names", "unknown field %q", f)
		}
	}
	if d := opts.Delimiter; d != 0 && (d == '"' || d == '\r' || d == '\n' || d == utf8.RuneError || !utf8.ValidRune(d)) {
		return nil, hub.FieldError("delimiter", "%q cannot separate CSV fields", d)
	}
	t := opts.Time
	if t.IsZero() {
		t = time.Unix(0, 0)
	}
	if t.Year() < 1 || t.Year() > 9999 {
		return nil, hub.FieldError("time", "year %d out of range", t.Year())
	}
	l.created = stamp(t)
	return l, nil
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (l *lister) reject(line int, v, reason string) {
	l.rejected = append(l.rejected, Rejected{Line: line, Value: v, Reason: reason})
}

// text reads one value a line.
func (l *lister) text(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if line == 1 {
			s = strings.TrimPrefix(s, "\ufeff")
		}
		if s == "" || strings.HasPrefix(s, l.comment) {
			continue
		}
		// A comment after the value: "198.51.100.7  # C2".
		desc := ""
		if i := strings.Index(s, " "+l.comment); i > 0 {
			desc = strings.TrimSpace(s[i+1+len(l.comment):])
			s = strings.TrimSpace(s[:i])
		}
		if strings.ContainsAny(s, " \t") {
			l.reject(line, s, "more than one value on the line (a text list has one value a line)")
			continue
		}
		l.add(line, s, entry{kind: l.kind, description: desc})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return hub.FieldError("list", "line %d is longer than 1 MiB", line+1)
		}
		return fmt.Errorf("ioclist: reading line %d: %w", line+1, err)
	}
	return nil
}

// entry is what one line says about its value besides the value.
type entry struct {
	kind        Kind
	description string
	firstSeen   string
	confidence  int
	hasConf     bool
	tlp         hub.TLP
}

func (l *lister) csv(r io.Reader) error {
	cr := csv.NewReader(r)
	cr.Comma = ','
	if l.opts.Delimiter != 0 {
		cr.Comma = l.opts.Delimiter
	}
	if c := []rune(l.comment); len(c) == 1 && c[0] != cr.Comma {
		cr.Comment = c[0]
	}
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	cols := l.opts.Columns
	first := cols == nil
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			l.reject(pe.Line, "", "malformed CSV: "+pe.Err.Error())
			continue
		}
		if err != nil {
			return fmt.Errorf("ioclist: reading CSV: %w", err)
		}
		if len(rec) == 0 {
			continue
		}
		line, _ := cr.FieldPos(0)
		if line == 1 {
			rec[0] = strings.TrimPrefix(rec[0], "\ufeff")
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if first {
			first = false
			var header bool
			cols, header = l.headerColumns(rec)
			if header {
				continue
			}
		}
		field := func(f string) (string, bool) {
			c, ok := cols[f]
			if !ok || c >= len(rec) {
				return "", false
			}
			return strings.TrimSpace(rec[c]), true
		}
		v, ok := field(FieldValue)
		if !ok {
			l.reject(line, "", fmt.Sprintf("no value: the line has %d columns", len(rec)))
			continue
		}
		if strings.HasPrefix(v, l.comment) && cols[FieldValue] == 0 {
			continue
		}
		e := entry{kind: l.kind}
		if t, ok := field(FieldType); ok && t != "" {
			k, known := parseKind(t)
			if !known {
				l.reject(line, v, fmt.Sprintf("unknown type %q", t))
				continue
			}
			e.kind = k
		}
		e.description, _ = field(FieldDescription)
		if s, ok := field(FieldFirstSeen); ok && s != "" {
			t, ok := parseTime(s)
			if !ok {
				l.reject(line, v, fmt.Sprintf("first_seen %q is not a date (YYYY-MM-DD or RFC 3339)", s))
				continue
			}
			e.firstSeen = stamp(t)
		}
		if s, ok := field(FieldConfidence); ok && s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n > 100 {
				l.reject(line, v, fmt.Sprintf("confidence %q is not an integer from 0 to 100", s))
				continue
			}
			e.confidence, e.hasConf = n, true
		}
		if s, ok := field(FieldTLP); ok && s != "" {
			t, err := hub.ParseTLP(s)
			if err != nil {
				l.reject(line, v, hub.ErrorMessage(err))
				continue
			}
			e.tlp = t
		}
		l.add(line, v, e)
	}
}

// headerColumns reads the first row: a header when it names the value column.
func (l *lister) headerColumns(rec []string) (map[string]int, bool) {
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimSpace(s))
		return strings.NewReplacer(" ", "_", "-", "_").Replace(s)
	}
	cols := map[string]int{}
	for i, h := range rec {
		h = norm(h)
		for _, f := range fields {
			if _, done := cols[f]; done {
				continue
			}
			if name, ok := l.opts.ColumnNames[f]; ok {
				if norm(name) == h {
					cols[f] = i
				}
				continue
			}
			if slices.Contains(headerAliases[f], h) {
				cols[f] = i
			}
		}
	}
	if _, ok := cols[FieldValue]; ok {
		return cols, true
	}
	// No header: every column but the first is unknown.
	return map[string]int{FieldValue: 0}, false
}

func parseTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02", "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil && t.Year() >= 1 && t.Year() <= 9999 {
			return t, true
		}
	}
	return time.Time{}, false
}

// namespace is the UUIDv5 namespace of indicator ids; fixed forever, or ids would change.
var namespace = [16]byte{0x6f, 0x1b, 0x3c, 0x52, 0x8a, 0x04, 0x4d, 0x1e, 0xb5, 0x27, 0x90, 0x3e, 0x61, 0xc8, 0x0d, 0x7a}

func uuid5(name string) string {
	h := sha1.New()
	h.Write(namespace[:])
	h.Write([]byte(name))
	s := h.Sum(nil)
	s[6] = s[6]&0x0f | 0x50
	s[8] = s[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

// quote writes s as a STIX pattern string literal.
func quote(s string) string {
	return "'" + patternEscaper.Replace(s) + "'"
}

var patternEscaper = strings.NewReplacer(`\`, `\\`, `'`, `\'`)

// Pattern returns the STIX pattern matching a value of kind k in canonical form.
func Pattern(k Kind, v string) string {
	switch k {
	case IPv4:
		return "[ipv4-addr:value = " + quote(v) + "]"
	case IPv6:
		return "[ipv6-addr:value = " + quote(v) + "]"
	case Domain:
		return "[domain-name:value = " + quote(v) + "]"
	case URL:
		return "[url:value = " + quote(v) + "]"
	case Email:
		return "[email-addr:value = " + quote(v) + "]"
	case MD5:
		return "[file:hashes.MD5 = " + quote(v) + "]"
	case SHA1:
		return "[file:hashes.'SHA-1' = " + quote(v) + "]"
	case SHA256:
		return "[file:hashes.'SHA-256' = " + quote(v) + "]"
	case SHA512:
		return "[file:hashes.'SHA-512' = " + quote(v) + "]"
	}
	return ""
}

// IndicatorID returns the id ToSTIX gives the indicator of a value of kind k in canonical form.
func IndicatorID(k Kind, v string) string {
	return "indicator--" + uuid5(string(k)+"|"+v)
}

func (l *lister) add(line int, raw string, e entry) {
	k, canon, reason := classify(raw, e.kind)
	if reason != "" {
		l.reject(line, raw, reason)
		return
	}
	id := IndicatorID(k, canon)
	if first, dup := l.seen[id]; dup {
		l.reject(line, raw, fmt.Sprintf("duplicate of line %d", first))
		return
	}
	m := map[string]any{
		"type": "indicator", "spec_version": "2.1", "id": id, "created": l.created, "modified": l.created,
		"name": canon, "indicator_types": []string{"malicious-activity"},
		"pattern": Pattern(k, canon), "pattern_type": "stix", "pattern_version": "2.1",
		"valid_from": cmp(e.firstSeen, l.created),
	}
	if e.description != "" {
		m["description"] = e.description
	}
	if e.hasConf {
		m["confidence"] = e.confidence
	}
	if l.opts.Warninglists != nil {
		if names := l.opts.Warninglists("", canon); len(names) > 0 {
			m["x_cshub_warninglists"] = names
		}
	}
	t := e.tlp
	if t == hub.TLPUnset {
		t = l.opts.TLP
	}
	if id := stix.MarkingID(t); id != "" {
		m["object_marking_refs"] = []string{id}
	}
	raw2, err := json.Marshal(m)
	if err == nil {
		_, _, err = stix.Validate(raw2)
	}
	if err != nil {
		l.reject(line, raw, "no valid indicator: "+err.Error())
		return
	}
	l.seen[id] = line
	l.objs = append(l.objs, raw2)
	l.ids = append(l.ids, id)
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (l *lister) bundle() ([]byte, error) {
	if l.opts.Name != "" && len(l.ids) > 0 {
		m := map[string]any{
			"type": "report", "spec_version": "2.1", "id": "report--" + uuid5("report|"+l.opts.Name+"|"+strings.Join(l.ids, ",")),
			"created": l.created, "modified": l.created, "published": l.created, "name": l.opts.Name,
			"report_types": []string{"indicator"}, "object_refs": l.ids,
		}
		if id := stix.MarkingID(l.opts.TLP); id != "" {
			m["object_marking_refs"] = []string{id}
		}
		raw, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		if _, _, err := stix.Validate(raw); err != nil {
			return nil, hub.FieldError("name", "%v", err)
		}
		l.objs = append(l.objs, raw)
	}
	var b bytes.Buffer
	size := 128
	for _, o := range l.objs {
		size += len(o) + 1
	}
	b.Grow(size)
	fmt.Fprintf(&b, `{"type":"bundle","id":"bundle--%s"`, uuid5("bundle|"+strings.Join(l.ids, ",")))
	if len(l.objs) > 0 {
		b.WriteString(`,"objects":[`)
		for i, o := range l.objs {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(o)
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
