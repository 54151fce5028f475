package lookup

import (
	"strconv"
	"unicode/utf8"
)

// The match endpoint answers up to 100,000 values a request, and encoding/json's reflection
// over the results cost it a quarter of its time: the results have a fixed shape, so they are
// written by hand here, byte for byte as encoding/json writes them (tested against it).

// AppendJSON appends the JSON encoding of r to b, exactly as encoding/json's Marshal writes it,
// and returns the extended buffer.
func (r *Result) AppendJSON(b []byte) []byte {
	b = append(b, `{"value":`...)
	b = appendString(b, r.Value)
	b = append(b, `,"matches":`...)
	if r.Matches == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range r.Matches {
			if i > 0 {
				b = append(b, ',')
			}
			b = r.Matches[i].AppendJSON(b)
		}
		b = append(b, ']')
	}
	if len(r.Warninglists) > 0 {
		b = append(b, `,"warninglists":[`...)
		for i, name := range r.Warninglists {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, name)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// AppendJSON appends the JSON encoding of m to b, exactly as encoding/json's Marshal writes it,
// and returns the extended buffer.
func (m *Match) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, m.ID)
	if m.Name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, m.Name)
	}
	b = append(b, `,"workspace":`...)
	b = appendString(b, m.Workspace)
	b = append(b, `,"tlp":`...)
	b = appendString(b, m.TLP)
	b = append(b, `,"author":`...)
	b = appendString(b, m.Author)
	if m.Confidence != 0 {
		b = append(b, `,"confidence":`...)
		b = strconv.AppendInt(b, int64(m.Confidence), 10)
	}
	b = append(b, `,"how":`...)
	b = appendString(b, m.How)
	b = append(b, `,"matched":`...)
	b = appendString(b, m.Matched)
	return append(b, '}')
}

// appendString appends s as a JSON string the way encoding/json writes one with HTML escaping
// on (its default): the characters JSON requires escaped, control characters (\n and its kind
// in short form), '<', '>' and '&' as \u escapes, U+2028 and U+2029 too (JavaScript reads them
// as line ends), and each byte of invalid UTF-8 as U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	done := 0 // s[:done] is in b
	for i := 0; i < len(s); {
		c := s[i]
		if plainASCII[c] {
			i++
			continue
		}
		b = append(b, s[done:i]...)
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			done = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
		done = i
	}
	b = append(b, s[done:]...)
	return append(b, '"')
}

// plainASCII tells the bytes appendString copies as they are.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()
