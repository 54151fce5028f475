package pattern

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Observation is what Match evaluates a pattern against: the content of
// one observed-data object.
type Observation struct {
	// Objects holds the observed SCOs by key: the ids of a STIX 2.1
	// observed-data's object_refs, or the keys of its deprecated objects
	// property. Each SCO is its JSON object decoded into map[string]any;
	// *_ref and *_refs properties are resolved through these keys.
	Objects        map[string]map[string]any
	FirstObserved  time.Time
	LastObserved   time.Time // the zero time means FirstObserved
	NumberObserved int       // values below 1 count as 1
}

// NewObservation returns an Observation holding scos keyed by their "id"
// property; SCOs without a string id get their list position as key.
func NewObservation(scos []map[string]any, first, last time.Time, number int) Observation {
	o := Observation{Objects: make(map[string]map[string]any, len(scos)),
		FirstObserved: first, LastObserved: last, NumberObserved: number}
	for i, s := range scos {
		id, ok := s["id"].(string)
		if !ok {
			id = strconv.Itoa(i)
		}
		o.Objects[id] = s
	}
	return o
}

func (o *Observation) last() time.Time {
	if o.LastObserved.IsZero() {
		return o.FirstObserved
	}
	return o.LastObserved
}

// maxBindings bounds the candidate matches the evaluator keeps per
// observation expression; beyond it Match may miss a match, never invent one.
const maxBindings = 10000

// Match reports whether the observations satisfy the pattern.
//
// An observation expression [...] is satisfied by one observation holding
// an SCO of the compared type for which the comparisons joined by AND all
// hold (OR operands may be satisfied by different SCOs). Comparisons on a
// property that is absent, or of a type the constant cannot be compared
// with, are false, with or without NOT; on a [*] path they hold if any
// element satisfies them. AND, OR and FOLLOWEDBY between observation
// expressions need distinct observations; FOLLOWEDBY needs the left side's
// last_observed at or before the right side's first_observed. WITHIN limits
// the span from the earliest first_observed to the latest last_observed of
// the observations used; START/STOP requires each of them to lie in
// [START, STOP). REPEATS n needs n disjoint matches, where an observation
// of [...] counts number_observed times.
func (p *Pattern) Match(observations []Observation) bool {
	m := &matcher{p: p, obs: observations}
	return len(m.eval(p.Expr, time.Duration(math.MaxInt64))) > 0
}

type matcher struct {
	p   *Pattern
	obs []Observation
}

// binding is one way of satisfying an observation expression.
type binding struct {
	obs         []int // indices into matcher.obs, sorted
	first, last time.Time
	count       int
}

func disjoint(a, b []int) bool {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			return false
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return true
}

func merge(a, b binding) binding {
	out := binding{obs: append(slices.Clone(a.obs), b.obs...), first: a.first, last: a.last, count: 1}
	slices.Sort(out.obs)
	if b.first.Before(out.first) {
		out.first = b.first
	}
	if b.last.After(out.last) {
		out.last = b.last
	}
	return out
}

// eval returns the bindings of e whose span is at most limit. Merging
// bindings only widens spans, so an enclosing WITHIN can prune candidates
// at every level, before maxBindings truncates anything.
func (m *matcher) eval(e ObservationExpr, limit time.Duration) []binding {
	within := func(b binding) bool { return b.last.Sub(b.first) <= limit }
	switch e := e.(type) {
	case *ObservationBracket:
		var out []binding
		for i := range m.obs {
			o := &m.obs[i]
			if o.last().Sub(o.FirstObserved) > limit {
				continue
			}
			if m.evalTop(e.Comparison, o) {
				out = append(out, binding{obs: []int{i}, first: o.FirstObserved, last: o.last(),
					count: max(1, o.NumberObserved)})
			}
		}
		return out
	case *ObservationCompound:
		if len(e.Operands) == 0 {
			return nil
		}
		acc := m.eval(e.Operands[0], limit)
		for _, operand := range e.Operands[1:] {
			if len(acc) == 0 && e.Op != ObsOr {
				return nil
			}
			next := m.eval(operand, limit)
			switch e.Op {
			case ObsOr:
				acc = append(acc, next...)
				if len(acc) > maxBindings {
					acc = acc[:maxBindings]
				}
			case ObsAnd:
				acc = combine(acc, next, within, func(a, b binding) bool { return true })
			case ObsFollowedBy:
				acc = combine(acc, next, within, func(a, b binding) bool { return !a.last.After(b.first) })
			}
		}
		return acc
	case *ObservationQualified:
		q := e.Qualifier
		if q.Kind == Within {
			if ns := q.Seconds * float64(time.Second); ns < float64(limit) {
				limit = time.Duration(ns)
			}
			return m.eval(e.Expr, limit)
		}
		in := m.eval(e.Expr, limit)
		switch q.Kind {
		case StartStop:
			return slices.DeleteFunc(in, func(b binding) bool {
				for _, i := range b.obs {
					o := &m.obs[i]
					if o.FirstObserved.Before(q.Start) || !o.last().Before(q.Stop) {
						return true
					}
				}
				return false
			})
		case Repeats:
			return repeats(in, q.Times, within)
		}
	}
	return nil
}

// combine pairs every binding of a with every disjoint binding of b that
// ok accepts and whose merge keep accepts, dropping duplicates.
func combine(a, b []binding, keep func(binding) bool, ok func(a, b binding) bool) []binding {
	var out []binding
	seen := map[string]bool{}
	for _, x := range a {
		for _, y := range b {
			if !disjoint(x.obs, y.obs) || !ok(x, y) {
				continue
			}
			z := merge(x, y)
			if !keep(z) {
				continue
			}
			k := key(z.obs)
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, z)
			if len(out) >= maxBindings {
				return out
			}
		}
	}
	return out
}

func key(obs []int) string {
	var b strings.Builder
	for _, i := range obs {
		b.WriteString(strconv.Itoa(i))
		b.WriteByte(',')
	}
	return b.String()
}

// repeats builds, from each binding in turn, a match of n repetitions by
// adding the disjoint bindings that start no earlier and end soonest. This
// finds the tightest group after each start, which is what a following
// WITHIN needs, though not every possible group.
func repeats(in []binding, n int, keep func(binding) bool) []binding {
	if n <= 1 {
		return in
	}
	byEnd := slices.Clone(in)
	slices.SortStableFunc(byEnd, func(a, b binding) int { return a.last.Compare(b.last) })
	var out []binding
	seen := map[string]bool{}
	for _, start := range in {
		acc, got := start, start.count
		for _, b := range byEnd {
			if got >= n {
				break
			}
			if b.first.Before(start.first) || !disjoint(acc.obs, b.obs) {
				continue
			}
			acc = merge(acc, b)
			got += b.count
		}
		if got < n || !keep(acc) {
			continue
		}
		if k := key(acc.obs); !seen[k] {
			seen[k] = true
			out = append(out, acc)
		}
	}
	return out
}

// evalTop evaluates a bracketed comparison expression against one
// observation. OR operands may match different SCOs; an AND group (one
// object type, as Parse enforces) must match a single SCO.
func (m *matcher) evalTop(c ComparisonExpr, o *Observation) bool {
	if cc, ok := c.(*ComparisonCompound); ok && cc.Op == Or {
		for _, sub := range cc.Operands {
			if m.evalTop(sub, o) {
				return true
			}
		}
		return false
	}
	typ := firstType(c)
	for _, obj := range o.Objects {
		if t, _ := obj["type"].(string); t == typ && m.evalOn(c, obj, o) {
			return true
		}
	}
	return false
}

func firstType(c ComparisonExpr) string {
	for {
		switch x := c.(type) {
		case *Comparison:
			return x.Path.Type
		case *ComparisonCompound:
			c = x.Operands[0]
		}
	}
}

func (m *matcher) evalOn(c ComparisonExpr, obj map[string]any, o *Observation) bool {
	switch c := c.(type) {
	case *Comparison:
		return m.compare(c, m.resolve(c.Path, obj, o))
	case *ComparisonCompound:
		for _, sub := range c.Operands {
			if m.evalOn(sub, obj, o) != (c.Op == And) {
				return c.Op != And
			}
		}
		return c.Op == And
	}
	return false
}

// value is a property value found by a path, with the name of the property
// that holds it (which says whether a string is hex or base64 binary).
type value struct {
	v      any
	prop   string
	holder string // type of the SCO holding prop
}

// resolve returns the values a path selects from an SCO, following *_ref
// and *_refs properties to the referenced SCOs in the same observation.
func (m *matcher) resolve(path ObjectPath, obj map[string]any, o *Observation) []value {
	var out []value
	var holder string
	var walk func(cur any, steps []PathStep, prop string, isRef bool)
	walk = func(cur any, steps []PathStep, prop string, isRef bool) {
		if len(steps) == 0 {
			if cur != nil {
				out = append(out, value{cur, prop, holder})
			}
			return
		}
		s := steps[0]
		switch s.Kind {
		case StepProperty:
			if id, ok := cur.(string); ok && isRef {
				ref, ok := o.Objects[id]
				if !ok {
					return
				}
				cur = ref
			}
			mp, ok := cur.(map[string]any)
			if !ok {
				return
			}
			v, ok := mp[s.Name]
			if !ok {
				return
			}
			holder, _ = mp["type"].(string)
			ref := strings.HasSuffix(s.Name, "_ref") || strings.HasSuffix(s.Name, "_refs")
			walk(v, steps[1:], s.Name, ref)
		case StepIndex:
			list, ok := cur.([]any)
			if !ok || s.Index < 0 || s.Index >= len(list) {
				return
			}
			walk(list[s.Index], steps[1:], prop, isRef)
		case StepAny:
			list, ok := cur.([]any)
			if !ok {
				return
			}
			for _, e := range list {
				walk(e, steps[1:], prop, isRef)
			}
		}
	}
	walk(obj, path.Steps, "", false)
	return out
}

// compare applies a comparison to the values a path selected: true if any
// value satisfies it. A value the constant cannot be compared with
// satisfies neither the comparison nor its negation.
func (m *matcher) compare(c *Comparison, vals []value) bool {
	if c.Op == OpExists {
		return len(vals) > 0
	}
	for _, v := range vals {
		r, ok := m.test(c, v)
		if ok && r != c.Negated {
			return true
		}
	}
	return false
}

func (m *matcher) test(c *Comparison, v value) (result, comparable bool) {
	switch c.Op {
	case OpEQ, OpNEQ:
		d, ok := compareValue(v, c.Value)
		if !ok {
			return false, false
		}
		return (d == 0) == (c.Op == OpEQ), true
	case OpGT, OpLT, OpGE, OpLE:
		if c.Value.Kind == LitBool {
			return false, false
		}
		d, ok := compareValue(v, c.Value)
		if !ok {
			return false, false
		}
		switch c.Op {
		case OpGT:
			return d > 0, true
		case OpLT:
			return d < 0, true
		case OpGE:
			return d >= 0, true
		}
		return d <= 0, true
	case OpIn:
		someComparable := false
		for i := range c.Value.Set {
			d, ok := compareValue(v, &c.Value.Set[i])
			if ok && d == 0 {
				return true, true
			}
			someComparable = someComparable || ok
		}
		return false, someComparable
	case OpLike, OpMatches:
		s, ok := textOf(v)
		if !ok {
			return false, false
		}
		re := m.regexp(c)
		if re == nil {
			return false, false
		}
		return re.MatchString(s), true
	case OpIsSubset, OpIsSuperset:
		s, ok := v.v.(string)
		if !ok {
			return false, false
		}
		have, err := parsePrefix(s)
		if err != nil {
			return false, false
		}
		want, _ := parsePrefix(c.Value.Str) // checked by Parse
		if have.Addr().Is4() != want.Addr().Is4() {
			return false, true
		}
		if c.Op == OpIsSubset {
			return want.Bits() <= have.Bits() && want.Contains(have.Addr()), true
		}
		return have.Bits() <= want.Bits() && have.Contains(want.Addr()), true
	}
	return false, false
}

// regexp returns the compiled LIKE or MATCHES expression of c. Parse
// compiled it; a Pattern built by hand gets it compiled here, and an
// expression that does not compile makes the comparison false.
func (m *matcher) regexp(c *Comparison) *regexp.Regexp {
	if re := m.p.regexps[c]; re != nil {
		return re
	}
	var re *regexp.Regexp
	var err error
	if c.Op == OpLike {
		re, err = likeRegexp(c.Value.Str)
	} else {
		re, err = regexp.Compile(c.Value.Str)
	}
	if err != nil {
		return nil
	}
	return re
}

// textOf returns the string LIKE and MATCHES test. Binary properties
// (*_bin in base64, *_hex in hex) are decoded and each byte mapped to the
// code point of the same value, so that \xd4 in a pattern matches byte 0xd4.
func textOf(v value) (string, bool) {
	s, ok := v.v.(string)
	if !ok {
		return "", false
	}
	b, isBin := binaryOf(s, v.prop)
	if !isBin {
		return s, true
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r), true
}

func binaryOf(s, prop string) ([]byte, bool) {
	switch {
	case strings.HasSuffix(prop, "_hex"):
		b, err := hex.DecodeString(s)
		return b, err == nil
	case strings.HasSuffix(prop, "_bin"):
		b, err := base64.StdEncoding.DecodeString(s)
		return b, err == nil
	}
	return nil, false
}

// number returns v as a float64 if it is a JSON number.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// compareValue orders an observed value against a constant: negative,
// zero or positive, and false if the two cannot be compared.
func compareValue(v value, l *Literal) (int, bool) {
	switch l.Kind {
	case LitString:
		switch x := v.v.(type) {
		case string:
			if v.prop == "value" && isIPType(v.holder) && sameAddress(x, l.Str) {
				return 0, true
			}
			return strings.Compare(x, l.Str), true
		default:
			// Numbers written as strings, as in the specification's own
			// example file:size = '371712', compare numerically.
			if n, ok := number(x); ok {
				if f, err := strconv.ParseFloat(l.Str, 64); err == nil {
					return cmp.Compare(n, f), true
				}
			}
		}
	case LitInt, LitFloat:
		f := l.Float
		if l.Kind == LitInt {
			f = float64(l.Int)
		}
		if n, ok := number(v.v); ok {
			return cmp.Compare(n, f), true
		}
	case LitBool:
		if b, ok := v.v.(bool); ok {
			if b == l.Bool {
				return 0, true
			}
			return 1, true
		}
	case LitTimestamp:
		switch x := v.v.(type) {
		case time.Time:
			return x.Compare(l.Time), true
		case string:
			t, err := time.Parse(time.RFC3339Nano, x)
			if err != nil {
				return 0, false
			}
			return t.Compare(l.Time), true
		}
	case LitHex, LitBinary:
		switch x := v.v.(type) {
		case []byte:
			return bytes.Compare(x, l.Bytes), true
		case string:
			b, ok := binaryOf(x, v.prop)
			if !ok {
				return 0, false
			}
			return bytes.Compare(b, l.Bytes), true
		}
	}
	return 0, false
}

// sameAddress reports whether two IP address values denote the same
// address or block, so that '198.51.100.1' equals '198.51.100.1/32' and
// '2001:db8::1' equals '2001:0db8:0:0:0:0:0:1'.
func sameAddress(a, b string) bool {
	pa, err := parsePrefix(a)
	if err != nil {
		return false
	}
	pb, err := parsePrefix(b)
	return err == nil && pa == pb
}
