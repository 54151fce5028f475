package pattern

import (
	"strings"
	"unicode/utf8"
)

// tokKind classifies a token of the patterning language.
type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokString    // '...'; text holds the unescaped value
	tokInt       // text holds the literal as written, sign included
	tokFloat     // text holds the literal as written, sign included
	tokTimestamp // t'...'; text holds the inner text
	tokHex       // h'...'; text holds the inner text
	tokBinary    // b'...'; text holds the inner text
	tokLBrack
	tokRBrack
	tokLParen
	tokRParen
	tokColon
	tokDot
	tokComma
	tokStar
	tokEQ
	tokNEQ
	tokLT
	tokLE
	tokGT
	tokGE
)

var tokNames = [...]string{
	tokEOF: "end of pattern", tokIdent: "identifier", tokString: "string",
	tokInt: "integer", tokFloat: "float", tokTimestamp: "timestamp",
	tokHex: "hex literal", tokBinary: "binary literal",
	tokLBrack: "'['", tokRBrack: "']'", tokLParen: "'('", tokRParen: "')'",
	tokColon: "':'", tokDot: "'.'", tokComma: "','", tokStar: "'*'",
	tokEQ: "'='", tokNEQ: "'!='", tokLT: "'<'", tokLE: "'<='", tokGT: "'>'", tokGE: "'>='",
}

func (k tokKind) String() string { return tokNames[k] }

type token struct {
	kind tokKind
	pos  int    // byte offset of the first byte of the token
	end  int    // byte offset just past the token
	text string // see tokKind
}

// lexer turns pattern text into tokens on demand. It never panics: every
// malformed input ends in a *SyntaxError naming the offending byte.
type lexer struct {
	src string
	pos int
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}
func isIdentPart(c byte) bool { return isIdentStart(c) || isDigit(c) || c == '-' }

// skip passes over white space and the /* */ and // comments the grammar allows.
func (l *lexer) skip() error {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case isSpace(c):
			l.pos++
		case strings.HasPrefix(l.src[l.pos:], "/*"):
			end := strings.Index(l.src[l.pos+2:], "*/")
			if end < 0 {
				return &SyntaxError{Pos: l.pos, Msg: "unterminated comment"}
			}
			l.pos += end + 4
		case strings.HasPrefix(l.src[l.pos:], "//"):
			end := strings.IndexAny(l.src[l.pos:], "\r\n")
			if end < 0 {
				end = len(l.src) - l.pos
			}
			l.pos += end
		default:
			return nil
		}
	}
	return nil
}

func (l *lexer) next() (token, error) {
	if err := l.skip(); err != nil {
		return token{}, err
	}
	start := l.pos
	if start >= len(l.src) {
		return token{kind: tokEOF, pos: start, end: start}, nil
	}
	c := l.src[start]
	single := func(k tokKind, n int) (token, error) {
		l.pos += n
		return token{kind: k, pos: start, end: l.pos, text: l.src[start:l.pos]}, nil
	}
	switch c {
	case '[':
		return single(tokLBrack, 1)
	case ']':
		return single(tokRBrack, 1)
	case '(':
		return single(tokLParen, 1)
	case ')':
		return single(tokRParen, 1)
	case ':':
		return single(tokColon, 1)
	case ',':
		return single(tokComma, 1)
	case '*':
		return single(tokStar, 1)
	case '=':
		if strings.HasPrefix(l.src[start:], "==") {
			return single(tokEQ, 2)
		}
		return single(tokEQ, 1)
	case '!':
		if strings.HasPrefix(l.src[start:], "!=") {
			return single(tokNEQ, 2)
		}
	case '<':
		switch {
		case strings.HasPrefix(l.src[start:], "<="):
			return single(tokLE, 2)
		case strings.HasPrefix(l.src[start:], "<>"):
			return single(tokNEQ, 2)
		}
		return single(tokLT, 1)
	case '>':
		if strings.HasPrefix(l.src[start:], ">=") {
			return single(tokGE, 2)
		}
		return single(tokGT, 1)
	case '\'':
		return l.lexString(start, start)
	case '.':
		if start+1 < len(l.src) && isDigit(l.src[start+1]) {
			return l.lexNumber(start)
		}
		return single(tokDot, 1)
	case '+', '-':
		return l.lexNumber(start)
	}
	if isDigit(c) {
		return l.lexNumber(start)
	}
	if isIdentStart(c) {
		// t'...', h'...' and b'...' are literals, not identifiers.
		if (c == 't' || c == 'h' || c == 'b') && start+1 < len(l.src) && l.src[start+1] == '\'' {
			return l.lexPrefixed(start)
		}
		l.pos++
		for l.pos < len(l.src) && isIdentPart(l.src[l.pos]) {
			l.pos++
		}
		return token{kind: tokIdent, pos: start, end: l.pos, text: l.src[start:l.pos]}, nil
	}
	r, _ := utf8.DecodeRuneInString(l.src[start:])
	return token{}, &SyntaxError{Pos: start, Msg: "unexpected character " + quoteRune(r)}
}

func quoteRune(r rune) string {
	if r == utf8.RuneError {
		return "(invalid UTF-8)"
	}
	if r < ' ' || r == 0x7f {
		return "(control character)"
	}
	return "'" + string(r) + "'"
}

// lexString reads a quoted string starting at quote, in which only \' and \\
// are escapes. tokStart is where the token began (before any t/h/b prefix).
func (l *lexer) lexString(tokStart, quote int) (token, error) {
	var b strings.Builder
	i := quote + 1
	for {
		j := i
		for j < len(l.src) && l.src[j] != '\'' && l.src[j] != '\\' {
			j++
		}
		b.WriteString(l.src[i:j])
		if j >= len(l.src) {
			return token{}, &SyntaxError{Pos: tokStart, Msg: "unterminated string"}
		}
		if l.src[j] == '\'' {
			text := b.String()
			if !utf8.ValidString(text) {
				bad := quote + 1
				for bad < j {
					r, n := utf8.DecodeRuneInString(l.src[bad:j])
					if r == utf8.RuneError && n <= 1 {
						break
					}
					bad += n
				}
				return token{}, &SyntaxError{Pos: bad, Msg: "invalid UTF-8 in string"}
			}
			l.pos = j + 1
			return token{kind: tokString, pos: tokStart, end: l.pos, text: text}, nil
		}
		if j+1 < len(l.src) && (l.src[j+1] == '\'' || l.src[j+1] == '\\') {
			b.WriteByte(l.src[j+1])
			i = j + 2
			continue
		}
		return token{}, &SyntaxError{Pos: j, Msg: `invalid escape in string: only \' and \\ are allowed`}
	}
}

func (l *lexer) lexPrefixed(start int) (token, error) {
	t, err := l.lexString(start, start+1)
	if err != nil {
		return t, err
	}
	if strings.ContainsAny(l.src[start+2:l.pos-1], `\`) {
		return token{}, &SyntaxError{Pos: start, Msg: "escapes are not allowed in " + l.src[start:start+1] + "'...' literals"}
	}
	switch l.src[start] {
	case 't':
		t.kind = tokTimestamp
	case 'h':
		t.kind = tokHex
	default:
		t.kind = tokBinary
	}
	return t, nil
}

// lexNumber reads an integer ('+'? '-'? digits, no leading zeros) or a
// float ('+'? '-'? digits? '.' digits), as the grammar defines them.
func (l *lexer) lexNumber(start int) (token, error) {
	i := start
	if l.src[i] == '+' || l.src[i] == '-' {
		i++
	}
	digits := i
	for i < len(l.src) && isDigit(l.src[i]) {
		i++
	}
	intPart := l.src[digits:i]
	if i < len(l.src) && l.src[i] == '.' {
		i++
		frac := i
		for i < len(l.src) && isDigit(l.src[i]) {
			i++
		}
		if i == frac {
			return token{}, &SyntaxError{Pos: i, Msg: "expected digits after '.' in number"}
		}
		l.pos = i
		return token{kind: tokFloat, pos: start, end: i, text: l.src[start:i]}, nil
	}
	if intPart == "" {
		return token{}, &SyntaxError{Pos: start, Msg: "expected a number after sign"}
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return token{}, &SyntaxError{Pos: digits, Msg: "integer with leading zero"}
	}
	if i < len(l.src) && isIdentStart(l.src[i]) {
		return token{}, &SyntaxError{Pos: i, Msg: "unexpected letter after number"}
	}
	l.pos = i
	return token{kind: tokInt, pos: start, end: i, text: l.src[start:i]}, nil
}
