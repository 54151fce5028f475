package exercise

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Expr is a compiled jq filter of the subset CEXF evaluations use: paths (.a.b, ."k", .[],
// .[n]), pipes, commas, array construction, parentheses, literals, == != < <= > >=, and, or,
// and the builtins select, map, has, contains, any(gen; cond), length, keys and not. A filter
// outside the subset does not compile, which tells an importer the evaluation cannot run here.
type Expr struct {
	src string
	run node
}

// node evaluates one filter on one input and returns the values it yields, in order.
type node func(in any) ([]any, error)

// maxOutputs bounds what one evaluation may yield, so that a hostile filter cannot make the
// hub build an unbounded list.
const maxOutputs = 100000

// maxDepth bounds the nesting of a filter, so that parsing cannot exhaust the stack.
const maxDepth = 64

// ParseFilter compiles src. Its errors are *hub.Error-free plain errors meant to be placed in
// a Problem by the caller, and say at which byte the filter went wrong.
func ParseFilter(src string) (*Expr, error) {
	p := &parser{src: src}
	p.next()
	n, err := p.pipe(0)
	if err != nil {
		return nil, err
	}
	if p.tok != tEOF {
		return nil, p.errorf("unexpected %q", p.text)
	}
	return &Expr{src: src, run: n}, nil
}

// String returns the filter's source.
func (e *Expr) String() string { return e.src }

// Eval runs the filter on doc, a value as encoding/json decodes into any, and returns what it
// yields.
func (e *Expr) Eval(doc any) ([]any, error) { return e.run(doc) }

type tokKind int

const (
	tEOF tokKind = iota
	tDot
	tIdent // also keywords: and, or, true, false, null
	tString
	tNumber
	tPunct // | , ( ) [ ] ;
	tOp    // == != < <= > >=
	tField // .name or ."name" after a dot, text is the name
)

type parser struct {
	src  string
	pos  int
	tok  tokKind
	text string
	err  error
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("filter %q at byte %d: %s", p.src, p.pos, fmt.Sprintf(format, args...))
}

// next reads the next token into p.tok and p.text.
func (p *parser) next() {
	s := p.src
	for p.pos < len(s) && strings.IndexByte(" \t\r\n", s[p.pos]) >= 0 {
		p.pos++
	}
	if p.pos >= len(s) {
		p.tok, p.text = tEOF, ""
		return
	}
	start := p.pos
	c := s[p.pos]
	switch {
	case c == '.':
		p.pos++
		if p.pos < len(s) && isIdentStart(s[p.pos]) {
			i := p.pos
			for p.pos < len(s) && isIdentPart(s[p.pos]) {
				p.pos++
			}
			p.tok, p.text = tField, s[i:p.pos]
			return
		}
		if p.pos < len(s) && s[p.pos] == '"' {
			str, ok := p.readString()
			if !ok {
				p.tok, p.text = tEOF, ""
				p.err = p.errorf("unterminated string")
				return
			}
			p.tok, p.text = tField, str
			return
		}
		p.tok, p.text = tDot, "."
	case c == '"':
		str, ok := p.readString()
		if !ok {
			p.tok, p.text = tEOF, ""
			p.err = p.errorf("unterminated string")
			return
		}
		p.tok, p.text = tString, str
	case c >= '0' && c <= '9':
		for p.pos < len(s) && (s[p.pos] >= '0' && s[p.pos] <= '9' || s[p.pos] == '.') {
			p.pos++
		}
		p.tok, p.text = tNumber, s[start:p.pos]
	case isIdentStart(c):
		for p.pos < len(s) && isIdentPart(s[p.pos]) {
			p.pos++
		}
		p.tok, p.text = tIdent, s[start:p.pos]
	case strings.IndexByte("|,()[];", c) >= 0:
		p.pos++
		p.tok, p.text = tPunct, s[start:p.pos]
	case strings.IndexByte("=!<>", c) >= 0:
		p.pos++
		if p.pos < len(s) && s[p.pos] == '=' {
			p.pos++
		}
		p.tok, p.text = tOp, s[start:p.pos]
		if p.text == "=" || p.text == "!" {
			p.err = p.errorf("%q is not an operator of the supported subset", p.text)
			p.tok = tEOF
		}
	default:
		p.pos++
		p.tok, p.text = tEOF, ""
		p.err = p.errorf("unexpected character %q", c)
	}
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isIdentPart(c byte) bool  { return isIdentStart(c) || c >= '0' && c <= '9' }

// readString reads a JSON string literal starting at p.pos.
func (p *parser) readString() (string, bool) {
	s := p.src
	i := p.pos + 1
	for i < len(s) && s[i] != '"' {
		if s[i] == '\\' {
			i++
		}
		i++
	}
	if i >= len(s) {
		return "", false
	}
	var out string
	if err := json.Unmarshal([]byte(s[p.pos:i+1]), &out); err != nil {
		return "", false
	}
	p.pos = i + 1
	return out, true
}

func (p *parser) is(kind tokKind, text string) bool { return p.tok == kind && p.text == text }

func (p *parser) expect(kind tokKind, text string) error {
	if p.err != nil {
		return p.err
	}
	if !p.is(kind, text) {
		return p.errorf("expected %q, found %q", text, p.text)
	}
	p.next()
	return p.err
}

func (p *parser) pipe(depth int) (node, error) {
	if depth > maxDepth {
		return nil, p.errorf("nested too deeply")
	}
	left, err := p.comma(depth)
	if err != nil {
		return nil, err
	}
	for p.is(tPunct, "|") {
		p.next()
		right, err := p.comma(depth)
		if err != nil {
			return nil, err
		}
		l := left
		left = func(in any) ([]any, error) {
			xs, err := l(in)
			if err != nil {
				return nil, err
			}
			var out []any
			for _, x := range xs {
				ys, err := right(x)
				if err != nil {
					return nil, err
				}
				if out = append(out, ys...); len(out) > maxOutputs {
					return nil, fmt.Errorf("filter yields more than %d values", maxOutputs)
				}
			}
			return out, nil
		}
	}
	return left, p.err
}

func (p *parser) comma(depth int) (node, error) {
	left, err := p.or(depth)
	if err != nil {
		return nil, err
	}
	for p.is(tPunct, ",") {
		p.next()
		right, err := p.or(depth)
		if err != nil {
			return nil, err
		}
		l := left
		left = func(in any) ([]any, error) {
			a, err := l(in)
			if err != nil {
				return nil, err
			}
			b, err := right(in)
			if err != nil {
				return nil, err
			}
			if len(a)+len(b) > maxOutputs {
				return nil, fmt.Errorf("filter yields more than %d values", maxOutputs)
			}
			return append(a, b...), nil
		}
	}
	return left, p.err
}

func (p *parser) or(depth int) (node, error)  { return p.logic(depth, "or") }
func (p *parser) and(depth int) (node, error) { return p.logic(depth, "and") }

// logic parses a chain of `and` or `or`; each side yields booleans by jq truthiness.
func (p *parser) logic(depth int, op string) (node, error) {
	sub := p.cmp
	if op == "or" {
		sub = p.and
	}
	left, err := sub(depth)
	if err != nil {
		return nil, err
	}
	for p.is(tIdent, op) {
		p.next()
		right, err := sub(depth)
		if err != nil {
			return nil, err
		}
		l := left
		left = product(l, right, func(a, b any) (any, error) {
			if op == "and" {
				return truthy(a) && truthy(b), nil
			}
			return truthy(a) || truthy(b), nil
		})
	}
	return left, p.err
}

func (p *parser) cmp(depth int) (node, error) {
	left, err := p.postfix(depth)
	if err != nil {
		return nil, err
	}
	if p.tok != tOp {
		return left, p.err
	}
	op := p.text
	p.next()
	right, err := p.postfix(depth)
	if err != nil {
		return nil, err
	}
	return product(left, right, func(a, b any) (any, error) {
		c := compareJSON(a, b)
		switch op {
		case "==":
			return c == 0, nil
		case "!=":
			return c != 0, nil
		case "<":
			return c < 0, nil
		case "<=":
			return c <= 0, nil
		case ">":
			return c > 0, nil
		}
		return c >= 0, nil
	}), p.err
}

// product applies f to every pair of what l and r yield on the same input, as jq's binary
// operators do.
func product(l, r node, f func(a, b any) (any, error)) node {
	return func(in any) ([]any, error) {
		as, err := l(in)
		if err != nil {
			return nil, err
		}
		bs, err := r(in)
		if err != nil {
			return nil, err
		}
		if len(as)*len(bs) > maxOutputs {
			return nil, fmt.Errorf("filter yields more than %d values", maxOutputs)
		}
		var out []any
		for _, b := range bs {
			for _, a := range as {
				v, err := f(a, b)
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			}
		}
		return out, nil
	}
}

func (p *parser) postfix(depth int) (node, error) {
	n, err := p.primary(depth)
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.tok == tField:
			n = chain(n, field(p.text))
			p.next()
		case p.is(tPunct, "["):
			p.next()
			s, err := p.subscript()
			if err != nil {
				return nil, err
			}
			n = chain(n, s)
		case p.tok == tDot && p.pos < len(p.src) && p.src[p.pos] == '[':
			p.next() // ".[" after a term is the same as "["
		default:
			return n, p.err
		}
	}
}

// subscript parses what follows "[" in a path: "]" iterates, "n]" indexes.
func (p *parser) subscript() (node, error) {
	if p.is(tPunct, "]") {
		p.next()
		return iterate, p.err
	}
	if p.tok != tNumber {
		return nil, p.errorf("only [] and [n] subscripts are supported, found %q", p.text)
	}
	i, err := strconv.Atoi(p.text)
	if err != nil {
		return nil, p.errorf("bad index %q", p.text)
	}
	p.next()
	if err := p.expect(tPunct, "]"); err != nil {
		return nil, err
	}
	return func(in any) ([]any, error) {
		switch v := in.(type) {
		case nil:
			return []any{nil}, nil
		case []any:
			if i < len(v) {
				return []any{v[i]}, nil
			}
			return []any{nil}, nil
		}
		return nil, fmt.Errorf("cannot index %s with a number", typeName(in))
	}, nil
}

func chain(a, b node) node {
	return func(in any) ([]any, error) {
		xs, err := a(in)
		if err != nil {
			return nil, err
		}
		var out []any
		for _, x := range xs {
			ys, err := b(x)
			if err != nil {
				return nil, err
			}
			if out = append(out, ys...); len(out) > maxOutputs {
				return nil, fmt.Errorf("filter yields more than %d values", maxOutputs)
			}
		}
		return out, nil
	}
}

func field(name string) node {
	return func(in any) ([]any, error) {
		switch v := in.(type) {
		case nil:
			return []any{nil}, nil
		case map[string]any:
			return []any{v[name]}, nil
		}
		return nil, fmt.Errorf("cannot index %s with %q", typeName(in), name)
	}
}

// iterate yields the elements of an array or the values of an object. Iterating null yields
// nothing, where jq fails: MISP leaves empty lists out, and a missing list holds no match.
func iterate(in any) ([]any, error) {
	switch v := in.(type) {
	case nil:
		return nil, nil
	case []any:
		return slices.Clone(v), nil
	case map[string]any:
		keys := sortedKeys(v)
		out := make([]any, len(keys))
		for i, k := range keys {
			out[i] = v[k]
		}
		return out, nil
	}
	return nil, fmt.Errorf("cannot iterate over %s", typeName(in))
}

func identity(in any) ([]any, error) { return []any{in}, nil }

func (p *parser) primary(depth int) (node, error) {
	if p.err != nil {
		return nil, p.err
	}
	switch {
	case p.tok == tDot:
		p.next()
		return identity, p.err
	case p.tok == tField:
		n := field(p.text)
		p.next()
		return n, p.err
	case p.tok == tString:
		v := p.text
		p.next()
		return constant(v), p.err
	case p.tok == tNumber:
		f, err := strconv.ParseFloat(p.text, 64)
		if err != nil {
			return nil, p.errorf("bad number %q", p.text)
		}
		p.next()
		return constant(f), p.err
	case p.is(tPunct, "("):
		p.next()
		n, err := p.pipe(depth + 1)
		if err != nil {
			return nil, err
		}
		return n, p.expect(tPunct, ")")
	case p.is(tPunct, "["):
		p.next()
		if p.is(tPunct, "]") {
			p.next()
			return constant([]any{}), p.err
		}
		n, err := p.pipe(depth + 1)
		if err != nil {
			return nil, err
		}
		if err := p.expect(tPunct, "]"); err != nil {
			return nil, err
		}
		return func(in any) ([]any, error) {
			xs, err := n(in)
			if err != nil {
				return nil, err
			}
			if xs == nil {
				xs = []any{}
			}
			return []any{xs}, nil
		}, nil
	case p.tok == tIdent:
		return p.builtin(depth)
	}
	return nil, p.errorf("unexpected %q", p.text)
}

func constant(v any) node { return func(any) ([]any, error) { return []any{v}, nil } }

// builtin parses a keyword or a call of one of the supported builtins.
func (p *parser) builtin(depth int) (node, error) {
	name := p.text
	p.next()
	switch name {
	case "true", "false":
		return constant(name == "true"), p.err
	case "null":
		return constant(nil), p.err
	case "length":
		return func(in any) ([]any, error) {
			switch v := in.(type) {
			case nil:
				return []any{0.0}, nil
			case string:
				return []any{float64(len([]rune(v)))}, nil
			case []any:
				return []any{float64(len(v))}, nil
			case map[string]any:
				return []any{float64(len(v))}, nil
			case float64:
				if v < 0 {
					v = -v
				}
				return []any{v}, nil
			}
			return nil, fmt.Errorf("%s has no length", typeName(in))
		}, nil
	case "not":
		return func(in any) ([]any, error) { return []any{!truthy(in)}, nil }, nil
	case "keys":
		return func(in any) ([]any, error) {
			m, ok := in.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s has no keys", typeName(in))
			}
			var out []any
			for _, k := range sortedKeys(m) {
				out = append(out, k)
			}
			return []any{out}, nil
		}, nil
	}
	args, err := p.args(depth, name)
	if err != nil {
		return nil, err
	}
	want := map[string]int{"select": 1, "map": 1, "has": 1, "contains": 1, "any": 2}
	n, ok := want[name]
	if !ok {
		return nil, p.errorf("%s is not a builtin of the supported subset", name)
	}
	if len(args) != n {
		return nil, p.errorf("%s takes %d argument(s), not %d", name, n, len(args))
	}
	a := args[0]
	switch name {
	case "select":
		return func(in any) ([]any, error) {
			cs, err := a(in)
			if err != nil {
				return nil, err
			}
			var out []any
			for _, c := range cs {
				if truthy(c) {
					out = append(out, in)
				}
			}
			return out, nil
		}, nil
	case "map":
		return func(in any) ([]any, error) {
			xs, err := iterate(in)
			if err != nil {
				return nil, err
			}
			out := []any{}
			for _, x := range xs {
				ys, err := a(x)
				if err != nil {
					return nil, err
				}
				out = append(out, ys...)
			}
			return []any{out}, nil
		}, nil
	case "has":
		return product(identity, a, func(in, k any) (any, error) {
			switch v := in.(type) {
			case map[string]any:
				s, ok := k.(string)
				if !ok {
					return nil, fmt.Errorf("has: object keys are strings")
				}
				_, found := v[s]
				return found, nil
			case []any:
				f, ok := k.(float64)
				return ok && f >= 0 && int(f) < len(v), nil
			}
			return nil, fmt.Errorf("cannot check whether %s has a key", typeName(in))
		}), nil
	case "contains":
		return product(identity, a, func(in, b any) (any, error) { return containsJSON(in, b), nil }), nil
	}
	cond := args[1]
	return func(in any) ([]any, error) {
		xs, err := a(in)
		if err != nil {
			return nil, err
		}
		for _, x := range xs {
			cs, err := cond(x)
			if err != nil {
				return nil, err
			}
			if slices.ContainsFunc(cs, truthy) {
				return []any{true}, nil
			}
		}
		return []any{false}, nil
	}, nil
}

// args parses "(f; g; …)" after a builtin's name.
func (p *parser) args(depth int, name string) ([]node, error) {
	if !p.is(tPunct, "(") {
		return nil, p.errorf("%s is not a builtin of the supported subset", name)
	}
	p.next()
	var out []node
	for {
		n, err := p.pipe(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
		if p.is(tPunct, ";") {
			p.next()
			continue
		}
		return out, p.expect(tPunct, ")")
	}
}

func truthy(v any) bool { return v != nil && v != false }

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64, json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// compareJSON orders values as jq does: null < false < true < numbers < strings < arrays <
// objects, and within a kind by value.
func compareJSON(a, b any) int {
	rank := func(v any) int {
		switch v := v.(type) {
		case nil:
			return 0
		case bool:
			if v {
				return 2
			}
			return 1
		case float64:
			return 3
		case string:
			return 4
		case []any:
			return 5
		}
		return 6
	}
	ra, rb := rank(a), rank(b)
	if ra != rb {
		return ra - rb
	}
	switch a := a.(type) {
	case float64:
		b := b.(float64)
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
		return 0
	case string:
		return strings.Compare(a, b.(string))
	case []any:
		b := b.([]any)
		for i := 0; i < len(a) && i < len(b); i++ {
			if c := compareJSON(a[i], b[i]); c != 0 {
				return c
			}
		}
		return len(a) - len(b)
	case map[string]any:
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		return strings.Compare(string(ja), string(jb))
	}
	return 0
}

// containsJSON is jq's contains: substrings for strings, every element of b contained in some
// element of a for arrays, and key by key for objects.
func containsJSON(a, b any) bool {
	switch b := b.(type) {
	case string:
		s, ok := a.(string)
		return ok && strings.Contains(s, b)
	case []any:
		as, ok := a.([]any)
		if !ok {
			return false
		}
		for _, x := range b {
			if !slices.ContainsFunc(as, func(y any) bool { return containsJSON(y, x) }) {
				return false
			}
		}
		return true
	case map[string]any:
		am, ok := a.(map[string]any)
		if !ok {
			return false
		}
		for k, x := range b {
			if y, ok := am[k]; !ok || !containsJSON(y, x) {
				return false
			}
		}
		return true
	}
	return compareJSON(a, b) == 0
}

// comparisons are the CEXF comparisons this hub evaluates.
var comparisons = map[string]bool{"contains": true, "equals": true, "is": true, "equals_any": true,
	"count": true, "regex": true, "contains-regex": true}

// holds reports whether the values a filter extracted satisfy f's comparison:
//
//   - contains: each expected value equals an extracted one or is a substring of one
//     (letter case ignored);
//   - equals, is: the extracted values and the expected ones are the same set;
//   - equals_any: some extracted value equals some expected one;
//   - count: the number of extracted values satisfies each expected bound (">0", ">=3", "2");
//   - regex: some extracted value matches each expected regular expression;
//   - contains-regex: as regex, each expression may match a part of the value.
//
// Values are compared as text, with booleans as "1" and "0" as MISP writes them.
func (f Filter) holds(got []any) (bool, error) {
	if f.Extract == "first" && len(got) > 1 {
		got = got[:1]
	}
	gs := make([]string, 0, len(got))
	for _, g := range got {
		if g != nil {
			gs = append(gs, text(g))
		}
	}
	switch f.Comparison {
	case "contains":
		for _, w := range f.Values {
			ws := strings.ToLower(text(w))
			if !slices.ContainsFunc(gs, func(g string) bool { return strings.Contains(strings.ToLower(g), ws) }) {
				return false, nil
			}
		}
		return len(f.Values) > 0 || len(gs) > 0, nil
	case "equals", "is":
		if len(gs) == 0 {
			return false, nil
		}
		want := make([]string, len(f.Values))
		for i, w := range f.Values {
			want[i] = text(w)
		}
		for _, g := range gs {
			if !slices.Contains(want, g) {
				return false, nil
			}
		}
		for _, w := range want {
			if !slices.Contains(gs, w) {
				return false, nil
			}
		}
		return true, nil
	case "equals_any":
		for _, w := range f.Values {
			if slices.Contains(gs, text(w)) {
				return true, nil
			}
		}
		return false, nil
	case "count":
		for _, w := range f.Values {
			ok, err := countHolds(len(gs), text(w))
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case "regex", "contains-regex":
		for _, w := range f.Values {
			re, err := regexp.Compile(text(w))
			if err != nil {
				return false, fmt.Errorf("%q is not a regular expression: %v", text(w), err)
			}
			if !slices.ContainsFunc(gs, re.MatchString) {
				return false, nil
			}
		}
		return len(gs) > 0, nil
	}
	return false, fmt.Errorf("comparison %q is not run by this hub", f.Comparison)
}

// countHolds reports whether n satisfies a bound such as ">0", ">=3", "<2" or "3".
func countHolds(n int, bound string) (bool, error) {
	bound = strings.TrimSpace(bound)
	op := strings.TrimRight(bound, "0123456789 ")
	m, err := strconv.Atoi(strings.TrimSpace(bound[len(op):]))
	if err != nil {
		return false, fmt.Errorf("count bound %q is not like \">0\", \">=3\" or \"2\"", bound)
	}
	switch op {
	case "", "=", "==":
		return n == m, nil
	case ">":
		return n > m, nil
	case ">=":
		return n >= m, nil
	case "<":
		return n < m, nil
	case "<=":
		return n <= m, nil
	case "!=":
		return n != m, nil
	}
	return false, fmt.Errorf("count bound %q has an unknown operator %q", bound, op)
}

// text renders a JSON value as MISP's text form for comparisons.
func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		if v {
			return "1"
		}
		return "0"
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}
