package stix

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"cshub/internal/hub"
)

// BundleReader reads the objects of a STIX bundle one at a time from a stream, holding in
// memory only the object being read and a small buffer, so that bundles of any size can be
// ingested. It also accepts a single top-level STIX object, which it returns as the only
// element. A BundleReader is not safe for concurrent use.
type BundleReader struct {
	r   io.Reader
	buf []byte // buf[pos:] is unread input
	pos int
	// keep, when non-negative, is the index in buf of the first byte that must stay buffered:
	// the start of the top-level object while it is not yet known to be a bundle.
	keep  int
	base  int64 // stream offset of buf[0]
	eof   bool  // r has returned io.EOF
	err   error // sticky error, io.EOF at the clean end
	state readState

	sawType     bool
	typ         string
	id          string
	specVersion string
	nodes       []node // scratch for syntax checks
}

type readState uint8

const (
	stateStart    readState = iota // nothing read yet
	stateElements                  // inside the objects array, before an element or ']'
	stateTail                      // after the objects array, reading the remaining properties
	stateDone                      // a single object has been returned
)

// NewBundleReader returns a reader of the bundle (or single object) in r.
func NewBundleReader(r io.Reader) *BundleReader {
	return &BundleReader{r: r, buf: make([]byte, 0, 64<<10), keep: -1}
}

// SpecVersion returns the bundle's spec_version property ("2.0" for STIX 2.0 bundles), or ""
// when the bundle has none, as STIX 2.1 bundles do not. It is known once the property has been
// read, at the latest when Next has returned io.EOF.
func (br *BundleReader) SpecVersion() string { return br.specVersion }

// ID returns the bundle's id once read, or "" for a single object or a bundle without one.
func (br *BundleReader) ID() string { return br.id }

// Next returns the next element of the bundle's objects array as its JSON text, which the
// caller owns. It returns io.EOF after the last element. Malformed JSON is a *SyntaxError with
// the byte offset in the stream; an object larger than 64 MiB is a hub.ETooLarge error; a
// bundle that breaks a rule of the specification (no
// "type":"bundle", a bad id) is a *ValidationError. Properties of the bundle may come in any
// order, so a rule broken by a property after the objects array is only reported after the
// elements before it: a caller that must not keep part of a bad bundle has to wait for io.EOF
// before committing. After any error, Next returns the same error again.
func (br *BundleReader) Next() (json.RawMessage, error) {
	if br.err != nil {
		return nil, br.err
	}
	el, err := br.next()
	if err != nil {
		br.err = err
		return nil, err
	}
	return el, nil
}

func (br *BundleReader) next() (json.RawMessage, error) {
	switch br.state {
	case stateStart:
		return br.start()
	case stateElements:
		c, err := br.peek()
		if err != nil {
			return nil, err
		}
		if c == ']' {
			br.pos++
			br.state = stateTail
			return nil, br.finish()
		}
		return br.element()
	}
	return nil, io.EOF
}

// start reads the top-level object up to the start of its objects array, deciding whether it
// is a bundle or a single object.
func (br *BundleReader) start() (json.RawMessage, error) {
	c, err := br.peek()
	if err == io.EOF {
		return nil, br.syntax(0, "empty input")
	}
	if err != nil {
		return nil, err
	}
	if c != '{' {
		return nil, br.syntax(0, "a STIX bundle or object must be a JSON object")
	}
	br.keep = br.pos
	br.pos++
	first := true
	for {
		c, err := br.peek()
		if err != nil {
			return nil, br.unexpectedEOF(err)
		}
		if c == '}' {
			br.pos++
			break
		}
		if !first {
			if c != ',' {
				return nil, br.syntax(0, "',' or '}' expected in object")
			}
			br.pos++
		}
		first = false
		key, err := br.memberKey()
		if err != nil {
			return nil, err
		}
		if key == "objects" && !(br.sawType && br.typ != "bundle") {
			c, err := br.peek()
			if err != nil {
				return nil, br.unexpectedEOF(err)
			}
			if c == '[' {
				br.pos++
				br.keep = -1
				br.state = stateElements
				if err := br.checkHeader(); err != nil {
					return nil, err
				}
				return br.next()
			}
		}
		v, _, err := br.rawValue()
		if err != nil {
			return nil, err
		}
		if err := br.headerProperty(key, v); err != nil {
			return nil, err
		}
		if br.sawType && br.typ != "bundle" {
			// A single object: hand back the whole of it.
			br.pos = br.keep
			obj, _, err := br.rawValue()
			if err != nil {
				return nil, err
			}
			br.keep = -1
			br.state = stateDone
			return obj, br.checkSingle(obj, br.base+int64(br.pos-len(obj)))
		}
	}
	// The top-level object ended without an objects array.
	obj := bytes.Clone(br.buf[br.keep:br.pos])
	objOff := br.base + int64(br.keep)
	br.keep = -1
	br.state = stateDone
	if br.sawType && br.typ == "bundle" {
		if err := br.trailer(); err != nil {
			return nil, err
		}
		return nil, br.bundleRules()
	}
	return obj, br.checkSingle(obj, objOff)
}

// checkSingle checks the syntax of a single top-level object at stream offset off and that
// nothing follows it.
func (br *BundleReader) checkSingle(obj []byte, off int64) error {
	d, err := parse(obj, br.nodes)
	if d != nil {
		br.nodes = d.nodes
	}
	var se *SyntaxError
	if errors.As(err, &se) {
		return &SyntaxError{Offset: off + se.Offset, Msg: se.Msg}
	}
	if err != nil {
		return err
	}
	return br.trailer()
}

// headerProperty records the bundle properties the reader needs.
func (br *BundleReader) headerProperty(key string, v []byte) error {
	switch key {
	case "type", "id", "spec_version":
	default:
		return nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		if br.sawType && br.typ != "bundle" || key == "type" {
			// Not a bundle; the object's own validation reports it.
			br.sawType = true
			return nil
		}
		return &ValidationError{ID: br.id, Property: key, Rule: RuleValueType, Message: "must be a string"}
	}
	switch key {
	case "type":
		br.sawType, br.typ = true, s
	case "id":
		br.id = s
	case "spec_version":
		br.specVersion = s
	}
	return nil
}

// checkHeader applies the bundle rules that the properties read so far allow.
func (br *BundleReader) checkHeader() error {
	if br.sawType && br.typ != "bundle" {
		return &ValidationError{ID: br.id, Property: "type", Rule: RuleBundle, Message: "a bundle's type must be \"bundle\""}
	}
	if br.id != "" {
		if err := checkIdentifier(br.id); err != "" || typeOfID(br.id) != "bundle" {
			return &ValidationError{ID: br.id, Property: "id", Rule: RuleID, Message: "a bundle id must be bundle--<UUID>"}
		}
	}
	switch br.specVersion {
	case "", "2.0", "2.1":
	default:
		return &ValidationError{ID: br.id, Property: "spec_version", Rule: RuleSpecVersion, Message: fmt.Sprintf("unsupported bundle spec_version %q", br.specVersion)}
	}
	return nil
}

// finish reads what follows the objects array and applies the bundle rules.
func (br *BundleReader) finish() error {
	for {
		c, err := br.peek()
		if err != nil {
			return br.unexpectedEOF(err)
		}
		if c == '}' {
			br.pos++
			break
		}
		if c != ',' {
			return br.syntax(0, "',' or '}' expected in object")
		}
		br.pos++
		key, err := br.memberKey()
		if err != nil {
			return err
		}
		v, _, err := br.rawValue()
		if err != nil {
			return err
		}
		if err := br.headerProperty(key, v); err != nil {
			return err
		}
	}
	if err := br.trailer(); err != nil {
		return err
	}
	return br.bundleRules()
}

// bundleRules applies the bundle rules once all its properties are known; it returns io.EOF
// when they hold.
func (br *BundleReader) bundleRules() error {
	if !br.sawType {
		return &ValidationError{ID: br.id, Property: "type", Rule: RuleBundle, Message: "a bundle must have \"type\": \"bundle\""}
	}
	if br.id == "" {
		return &ValidationError{Property: "id", Rule: RuleRequired, Message: "a bundle must have an id"}
	}
	if err := br.checkHeader(); err != nil {
		return err
	}
	return io.EOF
}

// element reads one element of the objects array and the separator after it. It parses the
// element where it lies in the buffer, which both finds its end and checks its syntax, and
// reads more input when the element runs past the end of the buffer.
func (br *BundleReader) element() (json.RawMessage, error) {
	for {
		d, end, err := parsePrefix(br.buf[br.pos:], br.nodes)
		if d != nil {
			br.nodes = d.nodes
		}
		avail := len(br.buf) - br.pos
		var se *SyntaxError
		switch {
		case err == nil && (end < avail || br.eof):
		case err != nil && !errors.As(err, &se):
			return nil, err
		case br.eof || se != nil && se.Offset+8 < int64(avail):
			// A real syntax error: at the end of the input, or well before the end of the
			// buffer (a value cut off by the buffer fails within its last few bytes).
			return nil, &SyntaxError{Offset: br.base + int64(br.pos) + se.Offset, Msg: se.Msg}
		default:
			// Cut off by the end of the buffer: read more and parse again.
			if avail > maxObjectSize {
				return nil, br.tooLarge()
			}
			if err := br.fillMore(); err != nil && err != io.EOF {
				return nil, err
			}
			continue
		}
		el := make([]byte, end)
		copy(el, br.buf[br.pos:])
		br.pos += end
		c, err := br.peek()
		if err != nil {
			return nil, br.unexpectedEOF(err)
		}
		switch c {
		case ',':
			br.pos++
			if c, err := br.peek(); err == nil && c == ']' {
				return nil, br.syntax(0, "trailing ',' in array")
			}
		case ']':
		default:
			return nil, br.syntax(0, "',' or ']' expected in array")
		}
		return el, nil
	}
}

// fillMore compacts the buffer to the unread input, grows it when it is more than half full
// and reads until it is full or the input ends, so that re-parsing a large element costs
// time linear in its size.
func (br *BundleReader) fillMore() error {
	if br.eof {
		return io.EOF
	}
	if br.pos > 0 {
		n := copy(br.buf, br.buf[br.pos:])
		br.buf = br.buf[:n]
		br.base += int64(br.pos)
		br.pos = 0
	}
	if len(br.buf) > cap(br.buf)/2 {
		nb := make([]byte, len(br.buf), 2*cap(br.buf))
		copy(nb, br.buf)
		br.buf = nb
	}
	for len(br.buf) < cap(br.buf) {
		n, err := br.r.Read(br.buf[len(br.buf):cap(br.buf)])
		br.buf = br.buf[:len(br.buf)+n]
		if err == io.EOF {
			br.eof = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("stix: reading bundle: %w", err)
		}
	}
	return nil
}

// trailer checks that only white space follows the top-level object.
func (br *BundleReader) trailer() error {
	_, err := br.peek()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	return br.syntax(0, "unexpected data after the top-level object")
}

// tooLarge is the error for an element or value larger than Validate accepts; reading it
// whole would let one object take any amount of memory.
func (br *BundleReader) tooLarge() error {
	return hub.Errorf(hub.ETooLarge, "stix: an object in the bundle at byte offset %d is larger than %d bytes", br.base+int64(br.pos), maxObjectSize)
}

func (br *BundleReader) unexpectedEOF(err error) error {
	if err == io.EOF {
		return br.syntax(0, "unexpected end of input")
	}
	return err
}

func (br *BundleReader) syntax(delta int, msg string) error {
	return &SyntaxError{Offset: br.base + int64(br.pos+delta), Msg: msg}
}

// memberKey reads a property name and the colon after it.
func (br *BundleReader) memberKey() (string, error) {
	c, err := br.peek()
	if err != nil {
		return "", br.unexpectedEOF(err)
	}
	if c != '"' {
		return "", br.syntax(0, "property name expected")
	}
	k, _, err := br.rawValue()
	if err != nil {
		return "", err
	}
	var key string
	if err := json.Unmarshal(k, &key); err != nil {
		return "", br.syntax(-len(k), "invalid property name")
	}
	c, err = br.peek()
	if err != nil {
		return "", br.unexpectedEOF(err)
	}
	if c != ':' {
		return "", br.syntax(0, "':' expected after property name")
	}
	br.pos++
	return key, nil
}

// peek skips white space and returns the next byte without consuming it.
func (br *BundleReader) peek() (byte, error) {
	for {
		for br.pos < len(br.buf) {
			switch c := br.buf[br.pos]; c {
			case ' ', '\t', '\n', '\r':
				br.pos++
			default:
				return c, nil
			}
		}
		if err := br.fill(); err != nil {
			return 0, err
		}
	}
}

// fill reads more input, keeping buf[keep:] (or buf[pos:]) and growing the buffer when it is
// full. It returns io.EOF when there is no more.
func (br *BundleReader) fill() error {
	if br.eof {
		return io.EOF
	}
	from := br.pos
	if br.keep >= 0 && br.keep < from {
		from = br.keep
	}
	if from > 0 {
		n := copy(br.buf, br.buf[from:])
		br.buf = br.buf[:n]
		br.base += int64(from)
		br.pos -= from
		if br.keep >= 0 {
			br.keep -= from
		}
	}
	if len(br.buf) == cap(br.buf) {
		nb := make([]byte, len(br.buf), 2*cap(br.buf))
		copy(nb, br.buf)
		br.buf = nb
	}
	for {
		n, err := br.r.Read(br.buf[len(br.buf):cap(br.buf)])
		br.buf = br.buf[:len(br.buf)+n]
		if err == io.EOF {
			br.eof = true
			if n > 0 {
				return nil
			}
			return io.EOF
		}
		if err != nil {
			return fmt.Errorf("stix: reading bundle: %w", err)
		}
		if n > 0 {
			return nil
		}
	}
}

// rawValue reads the JSON value starting at the next non-space byte and returns a copy of its
// text and its stream offset. It only tracks strings and nesting; the caller checks the syntax
// of what it keeps.
func (br *BundleReader) rawValue() ([]byte, int64, error) {
	if _, err := br.peek(); err != nil {
		return nil, 0, br.unexpectedEOF(err)
	}
	start := br.pos
	saveKeep := br.keep
	if br.keep < 0 {
		br.keep = start
	}
	defer func() { br.keep = saveKeep }()

	var (
		i        = br.pos
		depth    = 0
		inStr    = false
		esc      = false
		scalar   = br.buf[i] != '{' && br.buf[i] != '[' && br.buf[i] != '"'
		topLevel = br.buf[i] == '"'
	)
	for {
		buf := br.buf
		for ; i < len(buf); i++ {
			c := buf[i]
			if inStr {
				if esc {
					esc = false
				} else if c == '\\' {
					esc = true
				} else if c == '"' {
					inStr = false
					if topLevel && depth == 0 {
						i++
						goto done
					}
				}
				continue
			}
			if scalar {
				switch c {
				case ',', ']', '}', ' ', '\t', '\n', '\r', ':':
					goto done
				}
				continue
			}
			switch c {
			case '"':
				inStr = true
			case '{', '[':
				depth++
				if depth > maxDepth {
					br.pos = i
					return nil, 0, br.syntax(0, "nesting too deep")
				}
			case '}', ']':
				depth--
				if depth == 0 {
					i++
					goto done
				}
			}
		}
		// Need more input; positions move when fill compacts the buffer.
		if i-start > maxObjectSize {
			return nil, 0, br.tooLarge()
		}
		off := i - br.keep
		kstart := start - br.keep
		if err := br.fill(); err != nil {
			if err == io.EOF {
				if scalar {
					i = br.keep + off
					start = br.keep + kstart
					goto done
				}
				br.pos = br.keep + off
				return nil, 0, br.syntax(0, "unexpected end of input")
			}
			return nil, 0, err
		}
		i = br.keep + off
		start = br.keep + kstart
	}
done:
	br.pos = i
	return bytes.Clone(br.buf[start:i]), br.base + int64(start), nil
}
