package pattern

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"cshub/internal/hub"
)

// SyntaxError reports a pattern that does not parse or breaks a rule of the
// specification. Pos is the byte offset in the pattern text of the token or
// character at fault.
type SyntaxError struct {
	Pos int
	Msg string
}

// Error returns "pattern: position N: message".
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("pattern: position %d: %s", e.Pos, e.Msg)
}

// As lets errors.As find a *hub.Error (code EInvalid, field "pattern") in a
// SyntaxError, so that callers reporting to users need no special case.
func (e *SyntaxError) As(target any) bool {
	t, ok := target.(**hub.Error)
	if !ok {
		return false
	}
	*t = hub.FieldError("pattern", "position %d: %s", e.Pos, e.Msg)
	return true
}

// maxDepth bounds the nesting of parentheses and brackets so that hostile
// input cannot exhaust the stack.
const maxDepth = 256

// maxLength bounds the pattern text Parse accepts.
const maxLength = 1 << 20

// Parse parses and validates a STIX 2.1 pattern. Every error it returns is
// a *SyntaxError. Besides the grammar it enforces: object type names as
// the specification defines them (3 to 250 characters of a-z, 0-9 and
// single hyphens); valid timestamps; hex and base64 literals; positive
// WITHIN and REPEATS values; START before STOP; IP addresses or CIDR
// blocks for ISSUBSET and ISSUPERSET; regular expressions Go's RE2 engine
// compiles for MATCHES; and that comparisons joined by AND inside one
// observation expression all use one object type (section 9.5), while OR
// may mix types.
func Parse(s string) (*Pattern, error) {
	if len(s) > maxLength {
		return nil, &SyntaxError{Pos: maxLength, Msg: "pattern too long"}
	}
	p := &parser{lex: lexer{src: s}, pat: &Pattern{regexps: map[*Comparison]*regexp.Regexp{}}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	e, err := p.followedBy()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, p.errorf("expected AND, OR, FOLLOWEDBY or a qualifier, found %s", p.describe())
	}
	p.pat.Expr = e
	return p.pat, nil
}

type parser struct {
	lex   lexer
	tok   token
	depth int
	pat   *Pattern
}

func (p *parser) advance() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{Pos: p.tok.pos, Msg: fmt.Sprintf(format, args...)}
}

// describe names the current token for error messages.
func (p *parser) describe() string {
	switch p.tok.kind {
	case tokEOF:
		return "end of pattern"
	case tokIdent:
		return strconv.Quote(p.tok.text)
	case tokString:
		return "string"
	}
	t := p.lex.src[p.tok.pos:p.tok.end]
	if len(t) > 20 {
		t = t[:20] + "..."
	}
	return strconv.Quote(t)
}

func (p *parser) isKeyword(kw string) bool {
	return p.tok.kind == tokIdent && p.tok.text == kw
}

func (p *parser) expect(k tokKind, what string) error {
	if p.tok.kind != k {
		return p.errorf("expected %s, found %s", what, p.describe())
	}
	return p.advance()
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errorf("nesting deeper than %d", maxDepth)
	}
	return nil
}

// joinObs builds a compound node, flattening operands that already are
// compounds of the same operator (they came from parentheses).
func joinObs(op ObservationOp, list []ObservationExpr) ObservationExpr {
	if len(list) == 1 {
		return list[0]
	}
	var out []ObservationExpr
	for _, e := range list {
		if c, ok := e.(*ObservationCompound); ok && c.Op == op {
			out = append(out, c.Operands...)
		} else {
			out = append(out, e)
		}
	}
	return &ObservationCompound{Op: op, Operands: out}
}

func (p *parser) obsChain(op ObservationOp, kw string, sub func() (ObservationExpr, error)) (ObservationExpr, error) {
	e, err := sub()
	if err != nil {
		return nil, err
	}
	list := []ObservationExpr{e}
	for p.isKeyword(kw) {
		if err := p.advance(); err != nil {
			return nil, err
		}
		e, err := sub()
		if err != nil {
			return nil, err
		}
		list = append(list, e)
	}
	return joinObs(op, list), nil
}

func (p *parser) followedBy() (ObservationExpr, error) {
	return p.obsChain(ObsFollowedBy, "FOLLOWEDBY", p.obsOr)
}

func (p *parser) obsOr() (ObservationExpr, error) {
	return p.obsChain(ObsOr, "OR", p.obsAnd)
}

func (p *parser) obsAnd() (ObservationExpr, error) {
	return p.obsChain(ObsAnd, "AND", p.qualified)
}

func (p *parser) qualified() (ObservationExpr, error) {
	e, err := p.obsPrimary()
	if err != nil {
		return nil, err
	}
	for {
		var q Qualifier
		var err error
		switch {
		case p.isKeyword("WITHIN"):
			q, err = p.within()
		case p.isKeyword("REPEATS"):
			q, err = p.repeats()
		case p.isKeyword("START"):
			q, err = p.startStop()
		default:
			return e, nil
		}
		if err != nil {
			return nil, err
		}
		e = &ObservationQualified{Expr: e, Qualifier: q}
	}
}

func (p *parser) within() (Qualifier, error) {
	if err := p.advance(); err != nil {
		return Qualifier{}, err
	}
	q := Qualifier{Kind: Within}
	switch p.tok.kind {
	case tokInt:
		n, err := strconv.ParseInt(p.tok.text, 10, 64)
		if err != nil || n > 1<<53 {
			return q, p.errorf("WITHIN value out of range")
		}
		q.Seconds, q.Integer = float64(n), true
	case tokFloat:
		f, err := strconv.ParseFloat(p.tok.text, 64)
		if err != nil {
			return q, p.errorf("WITHIN value out of range")
		}
		q.Seconds = f
	default:
		return q, p.errorf("expected a number of seconds after WITHIN, found %s", p.describe())
	}
	if !(q.Seconds > 0) {
		return q, p.errorf("WITHIN value must be positive")
	}
	if err := p.advance(); err != nil {
		return q, err
	}
	if !p.isKeyword("SECONDS") {
		return q, p.errorf("expected SECONDS, found %s", p.describe())
	}
	return q, p.advance()
}

func (p *parser) repeats() (Qualifier, error) {
	if err := p.advance(); err != nil {
		return Qualifier{}, err
	}
	q := Qualifier{Kind: Repeats}
	if p.tok.kind != tokInt {
		return q, p.errorf("expected a count after REPEATS, found %s", p.describe())
	}
	n, err := strconv.ParseInt(p.tok.text, 10, 32)
	if err != nil {
		return q, p.errorf("REPEATS count out of range")
	}
	if n <= 0 {
		return q, p.errorf("REPEATS count must be greater than 0")
	}
	q.Times = int(n)
	if err := p.advance(); err != nil {
		return q, err
	}
	if !p.isKeyword("TIMES") {
		return q, p.errorf("expected TIMES, found %s", p.describe())
	}
	return q, p.advance()
}

func (p *parser) startStop() (Qualifier, error) {
	if err := p.advance(); err != nil {
		return Qualifier{}, err
	}
	q := Qualifier{Kind: StartStop}
	startPos := p.tok.pos
	start, err := p.timestamp("START")
	if err != nil {
		return q, err
	}
	if !p.isKeyword("STOP") {
		return q, p.errorf("expected STOP, found %s", p.describe())
	}
	if err := p.advance(); err != nil {
		return q, err
	}
	stop, err := p.timestamp("STOP")
	if err != nil {
		return q, err
	}
	if !start.Before(stop) {
		return q, &SyntaxError{Pos: startPos, Msg: "START must be earlier than STOP"}
	}
	q.Start, q.Stop = start, stop
	return q, nil
}

func (p *parser) timestamp(after string) (time.Time, error) {
	if p.tok.kind != tokTimestamp {
		return time.Time{}, p.errorf("expected t'...' timestamp after %s, found %s", after, p.describe())
	}
	t, err := parseTimestamp(p.tok.text)
	if err != nil {
		return t, p.errorf("%v", err)
	}
	return t, p.advance()
}

// parseTimestamp accepts the grammar's timestamp form,
// YYYY-MM-DDTHH:MM:SS[.fraction]Z, and checks that the date exists.
func parseTimestamp(s string) (time.Time, error) {
	bad := fmt.Errorf("invalid timestamp %q: want YYYY-MM-DDTHH:MM:SS[.s]Z", s)
	if len(s) < 20 || s[len(s)-1] != 'Z' {
		return time.Time{}, bad
	}
	for i := 0; i < 19; i++ {
		switch i {
		case 4, 7:
			if s[i] != '-' {
				return time.Time{}, bad
			}
		case 10:
			if s[i] != 'T' {
				return time.Time{}, bad
			}
		case 13, 16:
			if s[i] != ':' {
				return time.Time{}, bad
			}
		default:
			if !isDigit(s[i]) {
				return time.Time{}, bad
			}
		}
	}
	frac := s[19 : len(s)-1]
	if frac != "" {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, bad
		}
		for i := 1; i < len(frac); i++ {
			if !isDigit(frac[i]) {
				return time.Time{}, bad
			}
		}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid timestamp %q: no such date or time", s)
	}
	return t.UTC(), nil
}

func (p *parser) obsPrimary() (ObservationExpr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	switch p.tok.kind {
	case tokLBrack:
		if err := p.advance(); err != nil {
			return nil, err
		}
		c, _, err := p.compOr()
		if err != nil {
			return nil, err
		}
		if err := p.expect(tokRBrack, "']' or AND/OR"); err != nil {
			return nil, err
		}
		return &ObservationBracket{Comparison: c}, nil
	case tokLParen:
		if err := p.advance(); err != nil {
			return nil, err
		}
		e, err := p.followedBy()
		if err != nil {
			return nil, err
		}
		if err := p.expect(tokRParen, "')' or an observation operator"); err != nil {
			return nil, err
		}
		return e, nil
	}
	return nil, p.errorf("expected '[' or '(' to start an observation expression, found %s", p.describe())
}

// compOr and the functions below return, with each comparison expression,
// the sorted object types it references, to enforce one type per AND.
func (p *parser) compOr() (ComparisonExpr, []string, error) {
	e, types, err := p.compAnd()
	if err != nil {
		return nil, nil, err
	}
	if !p.isKeyword("OR") {
		return e, types, nil
	}
	list := []ComparisonExpr{e}
	for p.isKeyword("OR") {
		if err := p.advance(); err != nil {
			return nil, nil, err
		}
		e, t, err := p.compAnd()
		if err != nil {
			return nil, nil, err
		}
		list = append(list, e)
		types = mergeTypes(types, t)
	}
	return joinComp(Or, list), types, nil
}

func (p *parser) compAnd() (ComparisonExpr, []string, error) {
	e, types, err := p.compTerm()
	if err != nil {
		return nil, nil, err
	}
	if !p.isKeyword("AND") {
		return e, types, nil
	}
	list := []ComparisonExpr{e}
	for p.isKeyword("AND") {
		if err := p.advance(); err != nil {
			return nil, nil, err
		}
		pos := p.tok.pos
		e, t, err := p.compTerm()
		if err != nil {
			return nil, nil, err
		}
		types = mergeTypes(types, t)
		if len(types) > 1 {
			return nil, nil, &SyntaxError{Pos: pos, Msg: fmt.Sprintf(
				"comparisons joined by AND in one observation expression must use one object type, found %s",
				strings.Join(types, " and "))}
		}
		list = append(list, e)
	}
	return joinComp(And, list), types, nil
}

func mergeTypes(a, b []string) []string {
	out := slices.Clone(a)
	for _, t := range b {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

func joinComp(op BoolOp, list []ComparisonExpr) ComparisonExpr {
	var out []ComparisonExpr
	for _, e := range list {
		if c, ok := e.(*ComparisonCompound); ok && c.Op == op {
			out = append(out, c.Operands...)
		} else {
			out = append(out, e)
		}
	}
	return &ComparisonCompound{Op: op, Operands: out}
}

var compareOps = map[string]CompareOp{
	"IN": OpIn, "LIKE": OpLike, "MATCHES": OpMatches,
	"ISSUBSET": OpIsSubset, "ISSUPERSET": OpIsSuperset,
}

func (p *parser) compTerm() (ComparisonExpr, []string, error) {
	if p.tok.kind == tokLParen {
		if err := p.enter(); err != nil {
			return nil, nil, err
		}
		defer func() { p.depth-- }()
		if err := p.advance(); err != nil {
			return nil, nil, err
		}
		e, types, err := p.compOr()
		if err != nil {
			return nil, nil, err
		}
		if err := p.expect(tokRParen, "')' or AND/OR"); err != nil {
			return nil, nil, err
		}
		return e, types, nil
	}
	if p.isKeyword("EXISTS") {
		if err := p.advance(); err != nil {
			return nil, nil, err
		}
		path, err := p.objectPath()
		if err != nil {
			return nil, nil, err
		}
		return &Comparison{Path: path, Op: OpExists}, []string{path.Type}, nil
	}
	path, err := p.objectPath()
	if err != nil {
		return nil, nil, err
	}
	c := &Comparison{Path: path}
	if p.isKeyword("NOT") {
		c.Negated = true
		if err := p.advance(); err != nil {
			return nil, nil, err
		}
	}
	switch p.tok.kind {
	case tokEQ:
		c.Op = OpEQ
	case tokNEQ:
		c.Op = OpNEQ
	case tokGT:
		c.Op = OpGT
	case tokLT:
		c.Op = OpLT
	case tokGE:
		c.Op = OpGE
	case tokLE:
		c.Op = OpLE
	case tokIdent:
		op, ok := compareOps[p.tok.text]
		if !ok {
			return nil, nil, p.errorf("expected a comparison operator, found %s", p.describe())
		}
		c.Op = op
	default:
		return nil, nil, p.errorf("expected a comparison operator, found %s", p.describe())
	}
	if err := p.advance(); err != nil {
		return nil, nil, err
	}
	valPos := p.tok.pos
	switch c.Op {
	case OpIn:
		c.Value, err = p.setLiteral()
	case OpLike, OpMatches, OpIsSubset, OpIsSuperset:
		if p.tok.kind != tokString {
			return nil, nil, p.errorf("%s needs a string, found %s", c.Op, p.describe())
		}
		c.Value = &Literal{Kind: LitString, Str: p.tok.text}
		err = p.advance()
	default:
		c.Value, err = p.literal()
	}
	if err != nil {
		return nil, nil, err
	}
	if c.Value.Kind == LitBool && c.Op != OpEQ && c.Op != OpNEQ {
		return nil, nil, &SyntaxError{Pos: valPos, Msg: fmt.Sprintf("%s cannot compare booleans", c.Op)}
	}
	if err := p.checkOperand(c, valPos); err != nil {
		return nil, nil, err
	}
	return c, []string{path.Type}, nil
}

// checkOperand validates the string operand of LIKE, MATCHES, ISSUBSET and
// ISSUPERSET and compiles the regular expressions once.
func (p *parser) checkOperand(c *Comparison, pos int) error {
	switch c.Op {
	case OpLike:
		re, err := likeRegexp(c.Value.Str)
		if err != nil {
			return &SyntaxError{Pos: pos, Msg: "LIKE: " + err.Error()}
		}
		p.pat.regexps[c] = re
	case OpMatches:
		re, err := regexp.Compile(c.Value.Str)
		if err != nil {
			return &SyntaxError{Pos: pos, Msg: "MATCHES: regular expression not supported by Go's RE2 engine " +
				"(PCRE features such as lookaround and backreferences are not available): " + err.Error()}
		}
		p.pat.regexps[c] = re
	case OpIsSubset, OpIsSuperset:
		if _, err := parsePrefix(c.Value.Str); err != nil {
			return &SyntaxError{Pos: pos, Msg: fmt.Sprintf("%s needs an IP address or CIDR block: %v", c.Op, err)}
		}
	}
	return nil
}

// likeRegexp translates a LIKE pattern: % is any run of characters, _ is
// exactly one character, everything else is literal.
func likeRegexp(s string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for len(s) > 0 {
		i := strings.IndexAny(s, "%_")
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(s))
			break
		}
		b.WriteString(regexp.QuoteMeta(s[:i]))
		if s[i] == '%' {
			b.WriteString(".*")
		} else {
			b.WriteString(".")
		}
		s = s[i+1:]
	}
	b.WriteString(`$`)
	return regexp.Compile(b.String())
}

// parsePrefix reads an IP address or CIDR block; an address is a host prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pr, err := netip.ParsePrefix(s)
		if err != nil {
			return pr, err
		}
		return pr.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (p *parser) setLiteral() (*Literal, error) {
	if p.tok.kind != tokLParen {
		return nil, p.errorf("IN needs a set such as ('a', 'b'), found %s", p.describe())
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	set := &Literal{Kind: LitSet, Set: []Literal{}}
	if p.tok.kind == tokRParen {
		return set, p.advance()
	}
	for {
		l, err := p.literal()
		if err != nil {
			return nil, err
		}
		set.Set = append(set.Set, *l)
		if p.tok.kind == tokRParen {
			return set, p.advance()
		}
		if err := p.expect(tokComma, "',' or ')' in set"); err != nil {
			return nil, err
		}
	}
}

// literal reads a primitive literal: anything but a set.
func (p *parser) literal() (*Literal, error) {
	t := p.tok
	var l *Literal
	switch t.kind {
	case tokString:
		l = &Literal{Kind: LitString, Str: t.text}
	case tokInt:
		n, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return nil, p.errorf("integer out of range")
		}
		l = &Literal{Kind: LitInt, Int: n}
	case tokFloat:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, p.errorf("float out of range")
		}
		l = &Literal{Kind: LitFloat, Float: f}
	case tokTimestamp:
		tm, err := parseTimestamp(t.text)
		if err != nil {
			return nil, p.errorf("%v", err)
		}
		l = &Literal{Kind: LitTimestamp, Time: tm}
	case tokHex:
		if len(t.text)%2 != 0 {
			return nil, p.errorf("hex literal needs an even number of digits")
		}
		b, err := hex.DecodeString(t.text)
		if err != nil {
			return nil, p.errorf("invalid hex literal")
		}
		l = &Literal{Kind: LitHex, Bytes: b}
	case tokBinary:
		b, err := base64.StdEncoding.Strict().DecodeString(t.text)
		if err != nil {
			return nil, p.errorf("invalid base64 in binary literal")
		}
		l = &Literal{Kind: LitBinary, Bytes: b}
	case tokIdent:
		switch t.text {
		case "true", "false":
			l = &Literal{Kind: LitBool, Bool: t.text == "true"}
		default:
			return nil, p.errorf("expected a constant, found %s", p.describe())
		}
	default:
		return nil, p.errorf("expected a constant, found %s", p.describe())
	}
	return l, p.advance()
}

// objectPath reads type:property followed by .property, [n] and [*] steps.
func (p *parser) objectPath() (ObjectPath, error) {
	var path ObjectPath
	if p.tok.kind != tokIdent {
		return path, p.errorf("expected an object path such as file:name, found %s", p.describe())
	}
	if err := checkTypeName(p.tok.text); err != nil {
		return path, p.errorf("%v", err)
	}
	path.Type = p.tok.text
	if err := p.advance(); err != nil {
		return path, err
	}
	if err := p.expect(tokColon, "':' after object type"); err != nil {
		return path, err
	}
	name, err := p.pathName()
	if err != nil {
		return path, err
	}
	path.Steps = append(path.Steps, PathStep{Kind: StepProperty, Name: name})
	for {
		switch p.tok.kind {
		case tokDot:
			if err := p.advance(); err != nil {
				return path, err
			}
			name, err := p.pathName()
			if err != nil {
				return path, err
			}
			path.Steps = append(path.Steps, PathStep{Kind: StepProperty, Name: name})
		case tokLBrack:
			if err := p.advance(); err != nil {
				return path, err
			}
			switch p.tok.kind {
			case tokStar:
				path.Steps = append(path.Steps, PathStep{Kind: StepAny})
			case tokInt:
				n, err := strconv.Atoi(p.tok.text)
				if err != nil || n > 1<<31-1 || n < -(1<<31) {
					return path, p.errorf("list index out of range")
				}
				path.Steps = append(path.Steps, PathStep{Kind: StepIndex, Index: n})
			default:
				return path, p.errorf("expected a list index or '*', found %s", p.describe())
			}
			if err := p.advance(); err != nil {
				return path, err
			}
			if err := p.expect(tokRBrack, "']' after list index"); err != nil {
				return path, err
			}
		default:
			return path, nil
		}
	}
}

// pathName reads a property name: an identifier without hyphens, or a
// quoted string for names such as 'SHA-256'.
func (p *parser) pathName() (string, error) {
	switch p.tok.kind {
	case tokString:
		s := p.tok.text
		if s == "" {
			return "", p.errorf("empty property name")
		}
		return s, p.advance()
	case tokIdent:
		s := p.tok.text
		if i := strings.IndexByte(s, '-'); i >= 0 {
			return "", &SyntaxError{Pos: p.tok.pos + i,
				Msg: fmt.Sprintf("property name %q contains '-': quote it as '%s'", s, s)}
		}
		return s, p.advance()
	}
	return "", p.errorf("expected a property name, found %s", p.describe())
}

// checkTypeName applies the STIX type-name rules (section 2.10 of the
// specification) to the object type of a path.
func checkTypeName(s string) error {
	if len(s) < 3 || len(s) > 250 {
		return fmt.Errorf("object type %q must be 3 to 250 characters long", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', isDigit(c):
		case c == '-':
			if i > 0 && s[i-1] == '-' {
				return fmt.Errorf("object type %q must not contain '--'", s)
			}
			if i == 0 || i == len(s)-1 {
				return fmt.Errorf("object type %q must not begin or end with '-'", s)
			}
		default:
			return fmt.Errorf("object type %q may contain only a-z, 0-9 and '-'", s)
		}
	}
	return nil
}
