package stix

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"iter"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"cshub/internal/hub"
)

// This file holds a small JSON parser made for validation speed. Decoding every object into
// map[string]any costs an allocation per value; instead the parser records, in one flat slice,
// where each value lies in the input. Strings are compared in place and only decoded when they
// contain escapes or are handed to the caller.

// kind is the JSON type of a node.
type kind uint8

const (
	kNull kind = iota
	kBool
	kNumber
	kString
	kObject
	kArray
)

func (k kind) String() string {
	return [...]string{"null", "boolean", "number", "string", "object", "array"}[k]
}

// node is one JSON value in a document's preorder layout: a container's first child, if it has
// any, is the node right after it, and each node's after is the index following its subtree,
// that is, its next sibling.
type node struct {
	kind       kind
	esc        bool  // a string (or key) holds backslash escapes
	keyEsc     bool  // the member key holds backslash escapes
	n          int32 // number of children of an object or array
	start, end int32 // the value in the input; strings without their quotes
	kstart     int32 // the member key in the input without quotes (object members only)
	kend       int32
	after      int32
}

// doc is a parsed JSON document.
type doc struct {
	src   []byte
	nodes []node
}

// SyntaxError is malformed JSON. Offset counts bytes from the start of the input (for a
// BundleReader, from the start of the stream).
type SyntaxError struct {
	Offset int64
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("malformed JSON at byte offset %d: %s", e.Offset, e.Msg)
}

// Unwrap returns the hub.EInvalid error that API layers map to a status.
func (e *SyntaxError) Unwrap() error {
	return &hub.Error{Code: hub.EInvalid, Field: "json", Message: e.Error()}
}

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 200

type parser struct {
	src   []byte
	pos   int
	nodes []node
	depth int
	err   *SyntaxError
}

// parse parses src, which must hold exactly one JSON value with optional surrounding space.
func parse(src []byte, nodes []node) (*doc, error) {
	d, end, err := parsePrefix(src, nodes)
	if err != nil {
		return d, err
	}
	for ; end < len(src); end++ {
		switch src[end] {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return d, &SyntaxError{int64(end), "unexpected data after the top-level value"}
	}
	return d, nil
}

// parsePrefix parses the JSON value at the start of src (after optional space) and returns the
// offset just past it. The doc is returned even on error so that its node slice can be reused.
func parsePrefix(src []byte, nodes []node) (*doc, int, error) {
	if len(src) > 1<<31-1 {
		return nil, 0, &SyntaxError{0, "document larger than 2 GiB"}
	}
	p := parser{src: src, nodes: nodes[:0]}
	p.skipSpace()
	p.value()
	d := &doc{src: src, nodes: p.nodes}
	if p.err != nil {
		return d, 0, p.err
	}
	return d, p.pos, nil
}

func (p *parser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = &SyntaxError{int64(p.pos), fmt.Sprintf(format, args...)}
	}
	p.pos = len(p.src)
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// value parses one value at p.pos and appends its node(s); it returns the node's index.
func (p *parser) value() int {
	if p.pos >= len(p.src) {
		p.fail("unexpected end of input")
		return -1
	}
	i := len(p.nodes)
	p.nodes = append(p.nodes, node{})
	c := p.src[p.pos]
	switch {
	case c == '{':
		p.object(i)
	case c == '[':
		p.array(i)
	case c == '"':
		s, e, esc := p.str()
		p.nodes[i] = node{kind: kString, start: int32(s), end: int32(e), esc: esc}
	case c == 't':
		p.literal(i, "true", kBool)
	case c == 'f':
		p.literal(i, "false", kBool)
	case c == 'n':
		p.literal(i, "null", kNull)
	case c == '-' || (c >= '0' && c <= '9'):
		p.number(i)
	default:
		p.fail("invalid character %q looking for a value", c)
		return -1
	}
	if p.err != nil {
		return -1
	}
	p.nodes[i].after = int32(len(p.nodes))
	return i
}

func (p *parser) literal(i int, lit string, k kind) {
	if !bytes.HasPrefix(p.src[p.pos:], []byte(lit)) {
		p.fail("invalid literal")
		return
	}
	p.nodes[i] = node{kind: k, start: int32(p.pos), end: int32(p.pos + len(lit))}
	p.pos += len(lit)
}

func (p *parser) number(i int) {
	s := p.pos
	src := p.src
	if src[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(src) && src[p.pos] >= '0' && src[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.pos < len(src) && src[p.pos] == '0' {
		p.pos++
	} else if digits() == 0 {
		p.fail("invalid number")
		return
	}
	if p.pos < len(src) && src[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			p.fail("invalid number: digits expected after the decimal point")
			return
		}
	}
	if p.pos < len(src) && (src[p.pos] == 'e' || src[p.pos] == 'E') {
		p.pos++
		if p.pos < len(src) && (src[p.pos] == '+' || src[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			p.fail("invalid number: digits expected in the exponent")
			return
		}
	}
	p.nodes[i] = node{kind: kNumber, start: int32(s), end: int32(p.pos)}
}

// str scans a string starting at the opening quote and returns the bounds of its content.
func (p *parser) str() (start, end int, esc bool) {
	src := p.src
	p.pos++
	start = p.pos
	for {
		// Eight bytes at a time while none of them ends the run of plain content.
		for p.pos+8 <= len(src) && !stopInWord(binary.LittleEndian.Uint64(src[p.pos:])) {
			p.pos += 8
		}
		for p.pos < len(src) && !strStop[src[p.pos]] {
			p.pos++
		}
		if p.pos >= len(src) {
			p.fail("unterminated string")
			return
		}
		if src[p.pos] < 0x20 {
			p.fail("control character in string")
			return
		}
		if src[p.pos] == '"' {
			end = p.pos
			p.pos++
			return start, end, esc
		}
		esc = true
		if p.pos+1 >= len(src) {
			p.fail("unterminated string")
			return
		}
		switch src[p.pos+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			p.pos += 2
		case 'u':
			if p.pos+6 > len(src) || !isHex4(src[p.pos+2:p.pos+6]) {
				p.fail("invalid \\u escape")
				return
			}
			p.pos += 6
		default:
			p.fail("invalid escape character %q", src[p.pos+1])
			return
		}
	}
}

// strStop marks the bytes that end a run of plain string content.
var strStop = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// stopInWord reports whether any byte of the eight in x is a quote, a backslash or a control
// character (the classic "has zero byte" and "has byte less than n" bit tricks).
func stopInWord(x uint64) bool {
	q := x ^ (ones * '"')
	b := x ^ (ones * '\\')
	return ((q-ones)&^q|(b-ones)&^b|(x-ones*0x20)&^x)&highs != 0
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !isHex(c) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func (p *parser) object(i int) {
	p.depth++
	if p.depth > maxDepth {
		p.fail("nesting deeper than %d", maxDepth)
		return
	}
	start := p.pos
	p.pos++
	n := 0
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == '}' {
		p.pos++
	} else {
		for {
			p.skipSpace()
			if p.pos >= len(p.src) || p.src[p.pos] != '"' {
				p.fail("property name expected")
				return
			}
			ks, ke, kesc := p.str()
			if p.err != nil {
				return
			}
			p.skipSpace()
			if p.pos >= len(p.src) || p.src[p.pos] != ':' {
				p.fail("':' expected after property name")
				return
			}
			p.pos++
			p.skipSpace()
			c := p.value()
			if c < 0 {
				return
			}
			m := &p.nodes[c]
			m.kstart, m.kend, m.keyEsc = int32(ks), int32(ke), kesc
			n++
			p.skipSpace()
			if p.pos >= len(p.src) {
				p.fail("unexpected end of input in object")
				return
			}
			if p.src[p.pos] == ',' {
				p.pos++
				continue
			}
			if p.src[p.pos] == '}' {
				p.pos++
				break
			}
			p.fail("',' or '}' expected in object")
			return
		}
	}
	p.depth--
	p.nodes[i] = node{kind: kObject, n: int32(n), start: int32(start), end: int32(p.pos)}
}

func (p *parser) array(i int) {
	p.depth++
	if p.depth > maxDepth {
		p.fail("nesting deeper than %d", maxDepth)
		return
	}
	start := p.pos
	p.pos++
	n := 0
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ']' {
		p.pos++
	} else {
		for {
			p.skipSpace()
			if p.value() < 0 {
				return
			}
			n++
			p.skipSpace()
			if p.pos >= len(p.src) {
				p.fail("unexpected end of input in array")
				return
			}
			if p.src[p.pos] == ',' {
				p.pos++
				continue
			}
			if p.src[p.pos] == ']' {
				p.pos++
				break
			}
			p.fail("',' or ']' expected in array")
			return
		}
	}
	p.depth--
	p.nodes[i] = node{kind: kArray, n: int32(n), start: int32(start), end: int32(p.pos)}
}

// kids iterates over the indexes of the children of container node i.
func (d *doc) kids(i int) iter.Seq[int] {
	return func(yield func(int) bool) {
		c := i + 1
		for k := int32(0); k < d.nodes[i].n; k++ {
			if !yield(c) {
				return
			}
			c = int(d.nodes[c].after)
		}
	}
}

// key returns the decoded key of member node i.
func (d *doc) key(i int) string {
	n := &d.nodes[i]
	if !n.keyEsc {
		return string(d.src[n.kstart:n.kend])
	}
	return unescape(d.src[n.kstart:n.kend])
}

// keyRef is key without a copy for keys without escapes: the string shares the input's memory,
// so it must not outlive the validation of the input, which the caller does not modify meanwhile.
func (d *doc) keyRef(i int) string {
	n := &d.nodes[i]
	if !n.keyEsc && n.kend > n.kstart {
		return unsafe.String(&d.src[n.kstart], int(n.kend-n.kstart))
	}
	return d.key(i)
}

// strRef is str without a copy for strings without escapes, with keyRef's lifetime rule.
func (d *doc) strRef(i int) string {
	n := &d.nodes[i]
	if !n.esc && n.end > n.start {
		return unsafe.String(&d.src[n.start], int(n.end-n.start))
	}
	return d.str(i)
}

// str returns the decoded value of string node i.
func (d *doc) str(i int) string {
	n := &d.nodes[i]
	if !n.esc {
		return string(d.src[n.start:n.end])
	}
	return unescape(d.src[n.start:n.end])
}

// rawStr returns the bytes of string node i, decoded only when it holds escapes.
func (d *doc) rawStr(i int) []byte {
	n := &d.nodes[i]
	if !n.esc {
		return d.src[n.start:n.end]
	}
	return []byte(unescape(d.src[n.start:n.end]))
}

// rawMember returns the JSON text of member node i from its key's opening quote to the end of
// its value.
func (d *doc) rawMember(i int) []byte {
	n := &d.nodes[i]
	end := n.end
	if n.kind == kString {
		end++
	}
	return d.src[n.kstart-1 : end]
}

// unescape decodes the content of a JSON string already checked by the parser. Invalid
// surrogate halves become U+FFFD, as encoding/json does.
func unescape(b []byte) string {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch b[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hexRune(b[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(b) && b[i] == '\\' && b[i+1] == 'u' {
					if r2 := utf16.DecodeRune(r, hexRune(b[i+2:i+6])); r2 != utf8.RuneError {
						r = r2
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
			continue
		default: // '"', '\\', '/'
			out = append(out, b[i+1])
		}
		i += 2
	}
	return string(out)
}

func hexRune(b []byte) rune {
	v, _ := strconv.ParseUint(string(b), 16, 32)
	return rune(v)
}
