package pattern

import (
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Pattern is a parsed, validated STIX 2.1 pattern. Its String method prints
// canonical pattern text that parses back to an equal Expr. A Pattern is
// immutable after Parse and safe for concurrent use.
type Pattern struct {
	// Expr is the root observation expression.
	Expr ObservationExpr

	// regexps holds the compiled LIKE and MATCHES expressions of the
	// comparisons in Expr, compiled once by Parse.
	regexps map[*Comparison]*regexp.Regexp
}

// String returns the canonical text of the pattern.
func (p *Pattern) String() string {
	var b strings.Builder
	writeObs(&b, p.Expr, precFollowedBy)
	return b.String()
}

// ObservationExpr is an observation expression: an *ObservationBracket, an
// *ObservationCompound or an *ObservationQualified.
type ObservationExpr interface {
	observationExpr()
}

// ObservationBracket is a bracketed comparison expression, "[...]".
type ObservationBracket struct {
	Comparison ComparisonExpr
}

// ObservationOp is an observation operator.
type ObservationOp int

// The observation operators, from the tightest binding to the loosest.
const (
	ObsAnd ObservationOp = iota
	ObsOr
	ObsFollowedBy
)

// String returns the operator's keyword.
func (op ObservationOp) String() string {
	switch op {
	case ObsAnd:
		return "AND"
	case ObsOr:
		return "OR"
	default:
		return "FOLLOWEDBY"
	}
}

// ObservationCompound joins two or more observation expressions with one
// operator. The parser flattens chains of the same operator, so no operand
// is an *ObservationCompound with the same Op.
type ObservationCompound struct {
	Op       ObservationOp
	Operands []ObservationExpr
}

// ObservationQualified is an observation expression restricted by a
// qualifier. Several qualifiers nest, the innermost written first.
type ObservationQualified struct {
	Expr      ObservationExpr
	Qualifier Qualifier
}

func (*ObservationBracket) observationExpr()   {}
func (*ObservationCompound) observationExpr()  {}
func (*ObservationQualified) observationExpr() {}

// QualifierKind says which qualifier a Qualifier is.
type QualifierKind int

// The qualifiers of section 9.7.
const (
	Within    QualifierKind = iota // WITHIN Seconds SECONDS
	Repeats                        // REPEATS Times TIMES
	StartStop                      // START t'Start' STOP t'Stop'
)

// Qualifier is a WITHIN, REPEATS or START/STOP qualifier; only the fields
// of its Kind are set.
type Qualifier struct {
	Kind    QualifierKind
	Seconds float64 // Within: positive
	Integer bool    // Within: Seconds was written as an integer
	Times   int     // Repeats: positive
	Start   time.Time
	Stop    time.Time // StartStop: Start before Stop, both UTC
}

// ComparisonExpr is a comparison expression: a *Comparison or a
// *ComparisonCompound.
type ComparisonExpr interface {
	comparisonExpr()
}

// BoolOp joins comparison expressions.
type BoolOp int

// The boolean operators of comparison expressions; AND binds tighter.
const (
	And BoolOp = iota
	Or
)

// ComparisonCompound joins two or more comparison expressions with one
// operator; like ObservationCompound it is flattened.
type ComparisonCompound struct {
	Op       BoolOp
	Operands []ComparisonExpr
}

// CompareOp is a comparison operator.
type CompareOp int

// The comparison operators of section 9.6.
const (
	OpEQ CompareOp = iota
	OpNEQ
	OpGT
	OpLT
	OpGE
	OpLE
	OpIn
	OpLike
	OpMatches
	OpIsSubset
	OpIsSuperset
	OpExists
)

var opNames = [...]string{"=", "!=", ">", "<", ">=", "<=", "IN", "LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET", "EXISTS"}

// String returns the operator as written in a pattern.
func (op CompareOp) String() string { return opNames[op] }

// Comparison is one property test. For OpExists Value is nil and Negated is
// false; for OpIn Value is a set literal.
type Comparison struct {
	Path    ObjectPath
	Negated bool // NOT before the operator
	Op      CompareOp
	Value   *Literal
}

func (*Comparison) comparisonExpr()         {}
func (*ComparisonCompound) comparisonExpr() {}

// ObjectPath names a property of an SCO: Type, then Steps, the first of
// which is always a property.
type ObjectPath struct {
	Type  string
	Steps []PathStep
}

// StepKind says what a PathStep selects.
type StepKind int

// The kinds of path step.
const (
	StepProperty StepKind = iota // .Name (or the first property)
	StepIndex                    // [Index]
	StepAny                      // [*]
)

// PathStep is one component of an object path.
type PathStep struct {
	Kind  StepKind
	Name  string // StepProperty
	Index int    // StepIndex; may be negative, as the grammar allows
}

// String returns the path as it appears in a pattern, "type:prop.sub[*]".
func (op ObjectPath) String() string {
	var b strings.Builder
	b.WriteString(op.Type)
	b.WriteByte(':')
	b.WriteString(op.Property())
	return b.String()
}

// Property returns the path without its object type, as in
// "hashes.'SHA-256'".
func (op ObjectPath) Property() string {
	var b strings.Builder
	for i, s := range op.Steps {
		switch s.Kind {
		case StepProperty:
			if i > 0 {
				b.WriteByte('.')
			}
			if isPlainName(s.Name) {
				b.WriteString(s.Name)
			} else {
				writeQuoted(&b, s.Name)
			}
		case StepIndex:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.Index))
			b.WriteByte(']')
		case StepAny:
			b.WriteString("[*]")
		}
	}
	return b.String()
}

// isPlainName reports whether a path component can be written without
// quotes: an identifier without hyphens that is not a reserved word.
func isPlainName(s string) bool {
	if s == "" || !isIdentStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isIdentStart(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// LiteralKind says which kind of constant a Literal is.
type LiteralKind int

// The literal kinds of section 9.3.
const (
	LitString LiteralKind = iota
	LitInt
	LitFloat
	LitBool
	LitTimestamp
	LitHex
	LitBinary
	LitSet
)

// Literal is a constant. Only the field of its Kind is set: Str, Int,
// Float, Bool, Time (UTC), Bytes (LitHex and LitBinary) or Set.
type Literal struct {
	Kind  LiteralKind
	Str   string
	Int   int64
	Float float64
	Bool  bool
	Time  time.Time
	Bytes []byte
	Set   []Literal
}

// String returns the literal as written in canonical pattern text.
func (l *Literal) String() string {
	var b strings.Builder
	writeLiteral(&b, l)
	return b.String()
}

func writeQuoted(b *strings.Builder, s string) {
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('\'')
}

func writeLiteral(b *strings.Builder, l *Literal) {
	switch l.Kind {
	case LitString:
		writeQuoted(b, l.Str)
	case LitInt:
		b.WriteString(strconv.FormatInt(l.Int, 10))
	case LitFloat:
		b.WriteString(formatFloat(l.Float))
	case LitBool:
		b.WriteString(strconv.FormatBool(l.Bool))
	case LitTimestamp:
		b.WriteString("t'")
		b.WriteString(formatTime(l.Time))
		b.WriteByte('\'')
	case LitHex:
		b.WriteString("h'")
		b.WriteString(hex.EncodeToString(l.Bytes))
		b.WriteByte('\'')
	case LitBinary:
		b.WriteString("b'")
		b.WriteString(base64.StdEncoding.EncodeToString(l.Bytes))
		b.WriteByte('\'')
	case LitSet:
		b.WriteByte('(')
		for i := range l.Set {
			if i > 0 {
				b.WriteString(", ")
			}
			writeLiteral(b, &l.Set[i])
		}
		b.WriteByte(')')
	}
}

// formatFloat prints f in the grammar's float form, which has no exponent
// and always a fractional part.
func formatFloat(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.999999999Z")
}

// Operator precedence for printing: a child is parenthesised when it binds
// more loosely than its context allows.
const (
	precPrimary = iota
	precAnd
	precOr
	precFollowedBy
)

func obsPrec(e ObservationExpr) int {
	switch e := e.(type) {
	case *ObservationCompound:
		switch e.Op {
		case ObsAnd:
			return precAnd
		case ObsOr:
			return precOr
		}
		return precFollowedBy
	}
	return precPrimary
}

func writeObs(b *strings.Builder, e ObservationExpr, max int) {
	if obsPrec(e) > max {
		b.WriteByte('(')
		defer b.WriteByte(')')
	}
	switch e := e.(type) {
	case *ObservationBracket:
		b.WriteByte('[')
		writeComp(b, e.Comparison, precOr)
		b.WriteByte(']')
	case *ObservationCompound:
		// Operands of the same operator were flattened into this node, so
		// an operand needs parentheses only if it binds more loosely.
		inner := obsPrec(e) - 1
		for i, o := range e.Operands {
			if i > 0 {
				b.WriteByte(' ')
				b.WriteString(e.Op.String())
				b.WriteByte(' ')
			}
			writeObs(b, o, inner)
		}
	case *ObservationQualified:
		writeObs(b, e.Expr, precPrimary)
		q := e.Qualifier
		switch q.Kind {
		case Within:
			b.WriteString(" WITHIN ")
			if q.Integer {
				b.WriteString(strconv.FormatFloat(q.Seconds, 'f', -1, 64))
			} else {
				b.WriteString(formatFloat(q.Seconds))
			}
			b.WriteString(" SECONDS")
		case Repeats:
			b.WriteString(" REPEATS ")
			b.WriteString(strconv.Itoa(q.Times))
			b.WriteString(" TIMES")
		case StartStop:
			b.WriteString(" START t'")
			b.WriteString(formatTime(q.Start))
			b.WriteString("' STOP t'")
			b.WriteString(formatTime(q.Stop))
			b.WriteByte('\'')
		}
	}
}

func writeComp(b *strings.Builder, e ComparisonExpr, max int) {
	switch e := e.(type) {
	case *Comparison:
		if e.Op == OpExists {
			b.WriteString("EXISTS ")
			b.WriteString(e.Path.String())
			return
		}
		b.WriteString(e.Path.String())
		if e.Negated {
			b.WriteString(" NOT")
		}
		b.WriteByte(' ')
		b.WriteString(e.Op.String())
		b.WriteByte(' ')
		writeLiteral(b, e.Value)
	case *ComparisonCompound:
		prec, inner, word := precAnd, precPrimary, " AND "
		if e.Op == Or {
			prec, inner, word = precOr, precAnd, " OR "
		}
		if prec > max {
			b.WriteByte('(')
			defer b.WriteByte(')')
		}
		for i, o := range e.Operands {
			if i > 0 {
				b.WriteString(word)
			}
			writeComp(b, o, inner)
		}
	}
}
