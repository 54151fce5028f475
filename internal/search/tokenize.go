package search

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// maxToken is the longest token indexed, in bytes after folding. Longer runs (base64 blobs,
// minified code) would only bloat the dictionary; a SHA-512 in hex (128 bytes) still fits.
const maxToken = 160

// token is one indexed word: a part (a run of letters and digits) or a compound (parts joined
// by single joiner characters, such as a domain, an IP address, a path or an ATT&CK id).
type token struct {
	text       string // folded form
	start, end int    // byte offsets in the original text
	pos        int    // position; a compound shares the position of its first part
	compound   bool
}

// isWord reports whether r belongs to a part.
func isWord(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

// isJoiner reports whether r, standing alone between two parts, joins them into a compound:
// "login-ministry.example", "192.0.2.55", "user@host", "T1003.001", "c:\\path".
func isJoiner(r rune) bool {
	switch r {
	case '.', '-', '_', ':', '/', '@', '\\':
		return true
	}
	return false
}

// fold returns s lower-cased with diacritics removed (NFD, then combining marks dropped), so
// that "Équipe", "EQUIPE" and "equipe" are one token. ASCII, the common case, takes a fast path.
func fold(s string) string {
	ascii, upper := true, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		upper = upper || ('A' <= c && c <= 'Z')
	}
	if ascii {
		if !upper {
			return s // no copy: the index clones what it keeps
		}
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range norm.NFD.String(s) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		switch r {
		case 'ß':
			b.WriteString("ss")
			continue
		case 'ı':
			r = 'i'
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// tokenize calls emit for every token of s in order, parts numbered from pos; it returns the
// position after the last part. A compound is emitted after its last part, with the position
// of its first part.
func tokenize(s string, pos int, emit func(t token)) int {
	type part struct{ start, end int }
	var run []part // parts of the current compound run
	var sepOK bool // whether the text since the last part is exactly one joiner
	var sepLen int // runes since the last part
	flush := func() {
		if len(run) > 1 {
			start, end := run[0].start, run[len(run)-1].end
			if f := fold(s[start:end]); len(f) <= maxToken {
				emit(token{text: f, start: start, end: end, pos: pos - len(run), compound: true})
			}
		}
		run = run[:0]
	}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !isWord(r) {
			if len(run) > 0 {
				sepLen++
				sepOK = sepLen == 1 && isJoiner(r)
			}
			i += n
			continue
		}
		start := i
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if !isWord(r) {
				break
			}
			i += n
		}
		if len(run) > 0 && !(sepLen == 1 && sepOK) {
			flush()
		}
		f := fold(s[start:i])
		if len(f) > maxToken {
			flush()
			sepLen = 0
			continue
		}
		emit(token{text: f, start: start, end: i, pos: pos})
		pos++
		run = append(run, part{start, i})
		sepLen, sepOK = 0, false
	}
	flush()
	return pos
}

// queryTokens returns the folded parts of s and, when the parts of s form one compound (a
// domain, an address, a hash with a prefix), its folded whole form.
func queryTokens(s string) (parts []string, whole string) {
	var compounds []token
	tokenize(s, 0, func(t token) {
		if t.compound {
			compounds = append(compounds, t)
			return
		}
		parts = append(parts, t.text)
	})
	if len(compounds) == 1 && compounds[0].pos == 0 && len(parts) > 1 {
		// The compound covers every part only if no part lies after it.
		var n int
		tokenize(s[:compounds[0].end], 0, func(t token) {
			if !t.compound {
				n++
			}
		})
		if n == len(parts) {
			whole = compounds[0].text
		}
	}
	return parts, whole
}
