package pattern

import (
	"regexp/syntax"
	"strings"
)

// EntryKind says how an Entry's Value is matched.
type EntryKind int

// The kinds of index entry.
const (
	Exact  EntryKind = iota // the property equals Value
	CIDR                    // the address lies in the CIDR block Value
	Prefix                  // the property starts with Value
	Suffix                  // the property ends with Value
)

// String returns the kind's name in lower case.
func (k EntryKind) String() string {
	switch k {
	case Exact:
		return "exact"
	case CIDR:
		return "cidr"
	case Prefix:
		return "prefix"
	default:
		return "suffix"
	}
}

// Entry is one constant of a pattern that a matching index can serve: an
// observed Type object whose Path property matches Value as Kind says. An
// index should canonicalise observed IP values as Entries does (see
// Value) before looking them up.
type Entry struct {
	Type  string // ipv4-addr, ipv6-addr, domain-name, url, email-addr or file
	Path  string // the property path without the type: "value", "hashes.'SHA-256'"
	Kind  EntryKind
	Value string // IPs canonical: "10.0.0.1" (never /32), "10.0.0.0/8" (masked)
}

// Entries returns the index entries of every comparison in the pattern that
// reduces to one (see Entry), in pattern order, without duplicates:
// "=" and IN on the value of ipv4-addr, ipv6-addr, domain-name, url and
// email-addr and on file hashes; ISSUBSET on IP address values; LIKE and
// MATCHES where the pattern is a plain prefix, suffix or whole string.
// Negated comparisons yield nothing. Indexable tells whether a hit on an
// entry is necessary for a match, FullyServed whether it is sufficient.
func (p *Pattern) Entries() []Entry {
	var out []Entry
	seen := map[Entry]bool{}
	walkComparisons(p.Expr, func(c *Comparison) {
		es, _ := entriesOf(c)
		for _, e := range es {
			if !seen[e] {
				seen[e] = true
				out = append(out, e)
			}
		}
	})
	return out
}

// FullyServed reports whether a hit on any of the pattern's Entries is by
// itself a match: the pattern has no qualifiers and is one comparison, or
// an OR of comparisons (inside one or across several observation
// expressions), each of which reduces exactly to entries. Other patterns
// need Match for a decision after an index hit.
func (p *Pattern) FullyServed() bool {
	return servedObs(p.Expr)
}

// Indexable reports whether every match of the pattern involves an
// observed value that hits one of its Entries, so that looking observed
// values up in an index of entries finds every pattern that can match
// (Match then decides, unless FullyServed). It is false when some way of
// matching needs no indexed constant, as in
// [domain-name:value = 'a.example'] OR [process:name = 'x'].
func (p *Pattern) Indexable() bool {
	return p.Expr != nil && indexableObs(p.Expr)
}

func indexableObs(e ObservationExpr) bool {
	switch e := e.(type) {
	case *ObservationBracket:
		return indexableComp(e.Comparison)
	case *ObservationCompound:
		// An OR needs every branch covered; AND and FOLLOWEDBY need one.
		all := e.Op == ObsOr
		for _, o := range e.Operands {
			if indexableObs(o) != all {
				return !all
			}
		}
		return all && len(e.Operands) > 0
	case *ObservationQualified:
		return indexableObs(e.Expr)
	}
	return false
}

func indexableComp(e ComparisonExpr) bool {
	switch e := e.(type) {
	case *Comparison:
		es, exact := entriesOf(e)
		// ISSUBSET is covered by its CIDR entry even though not exact.
		return len(es) > 0 && (exact || e.Op == OpIsSubset)
	case *ComparisonCompound:
		all := e.Op == Or
		for _, o := range e.Operands {
			if indexableComp(o) != all {
				return !all
			}
		}
		return all && len(e.Operands) > 0
	}
	return false
}

func servedObs(e ObservationExpr) bool {
	switch e := e.(type) {
	case *ObservationBracket:
		return servedComp(e.Comparison)
	case *ObservationCompound:
		if e.Op != ObsOr {
			return false
		}
		for _, o := range e.Operands {
			if !servedObs(o) {
				return false
			}
		}
		return true
	}
	return false
}

func servedComp(e ComparisonExpr) bool {
	switch e := e.(type) {
	case *Comparison:
		es, exact := entriesOf(e)
		return exact && len(es) > 0
	case *ComparisonCompound:
		if e.Op != Or {
			return false
		}
		for _, o := range e.Operands {
			if !servedComp(o) {
				return false
			}
		}
		return true
	}
	return false
}

func walkComparisons(e ObservationExpr, f func(*Comparison)) {
	var comp func(ComparisonExpr)
	comp = func(c ComparisonExpr) {
		switch c := c.(type) {
		case *Comparison:
			f(c)
		case *ComparisonCompound:
			for _, o := range c.Operands {
				comp(o)
			}
		}
	}
	switch e := e.(type) {
	case *ObservationBracket:
		comp(e.Comparison)
	case *ObservationCompound:
		for _, o := range e.Operands {
			walkComparisons(o, f)
		}
	case *ObservationQualified:
		walkComparisons(e.Expr, f)
	}
}

// indexedPath reports whether a path is one the index serves: the value of
// an address, domain, URL or e-mail object, or a file hash.
func indexedPath(path ObjectPath) bool {
	s := path.Steps
	switch path.Type {
	case "ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr":
		return len(s) == 1 && s[0].Name == "value"
	case "file":
		return len(s) == 2 && s[0].Name == "hashes" && s[1].Kind == StepProperty
	}
	return false
}

func isIPType(t string) bool { return t == "ipv4-addr" || t == "ipv6-addr" }

// entriesOf returns the entries of one comparison and whether a hit on them
// is equivalent to the comparison being true.
func entriesOf(c *Comparison) ([]Entry, bool) {
	if c.Negated || !indexedPath(c.Path) {
		return nil, false
	}
	base := Entry{Type: c.Path.Type, Path: c.Path.Property()}
	switch c.Op {
	case OpEQ:
		e, ok := exactEntry(base, c.Value)
		if !ok {
			return nil, false
		}
		return []Entry{e}, true
	case OpIn:
		var out []Entry
		exact := true
		for i := range c.Value.Set {
			e, ok := exactEntry(base, &c.Value.Set[i])
			if !ok {
				exact = false // an element the index cannot hold
				continue
			}
			out = append(out, e)
		}
		return out, exact
	case OpIsSubset:
		if !isIPType(c.Path.Type) {
			return nil, false
		}
		pr, err := parsePrefix(c.Value.Str)
		if err != nil {
			return nil, false
		}
		base.Kind, base.Value = CIDR, pr.String()
		// The index tests addresses; an observed value that is itself a
		// wider block than the entry would not match ISSUBSET.
		return []Entry{base}, false
	case OpLike:
		if isIPType(c.Path.Type) {
			return nil, false
		}
		return likeEntry(base, c.Value.Str)
	case OpMatches:
		if isIPType(c.Path.Type) {
			return nil, false
		}
		return matchesEntry(base, c.Value.Str)
	}
	return nil, false
}

// exactEntry makes an Exact entry from a string constant. IP values are
// canonicalised: a single address without its /32 or /128, a block in
// masked form (an observed value equal to the block, not one inside it).
func exactEntry(base Entry, l *Literal) (Entry, bool) {
	if l.Kind != LitString {
		return Entry{}, false
	}
	base.Kind, base.Value = Exact, l.Str
	if isIPType(base.Type) {
		pr, err := parsePrefix(l.Str)
		if err != nil {
			return base, true // not an address: kept verbatim, matched verbatim
		}
		if pr.IsSingleIP() {
			base.Value = pr.Addr().String()
		} else {
			base.Value = pr.String()
		}
	}
	return base, true
}

// likeEntry reduces LIKE 'x%' to Prefix x, LIKE '%x' to Suffix x and a
// pattern without wildcards to Exact. '_' always is a wildcard, so any
// pattern containing it is left to the evaluator.
func likeEntry(base Entry, s string) ([]Entry, bool) {
	if strings.Contains(s, "_") {
		return nil, false
	}
	n := strings.Count(s, "%")
	switch {
	case n == 0:
		base.Kind, base.Value = Exact, s
	case n == 1 && len(s) > 1 && s[len(s)-1] == '%':
		base.Kind, base.Value = Prefix, s[:len(s)-1]
	case n == 1 && len(s) > 1 && s[0] == '%':
		base.Kind, base.Value = Suffix, s[1:]
	default:
		return nil, false
	}
	return []Entry{base}, true
}

// matchesEntry reduces a regular expression that is a literal anchored at
// the start ("^lit", "^lit.*") to Prefix, at the end ("lit$", ".*lit$") to
// Suffix and at both ends to Exact. Anything else is left to the
// evaluator.
func matchesEntry(base Entry, expr string) ([]Entry, bool) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, false
	}
	re = re.Simplify()
	var parts []*syntax.Regexp
	if re.Op == syntax.OpConcat {
		parts = re.Sub
	} else {
		parts = []*syntax.Regexp{re}
	}
	star := func(r *syntax.Regexp) (any, dotAll bool) {
		if r.Op != syntax.OpStar || len(r.Sub) != 1 {
			return false, false
		}
		switch r.Sub[0].Op {
		case syntax.OpAnyChar:
			return true, true
		case syntax.OpAnyCharNotNL:
			return true, false
		}
		return false, false
	}
	begin, end := false, false
	if len(parts) > 0 && parts[0].Op == syntax.OpBeginText {
		begin, parts = true, parts[1:]
	}
	if len(parts) > 0 && parts[len(parts)-1].Op == syntax.OpEndText {
		end, parts = true, parts[:len(parts)-1]
	}
	// A leading or trailing .* that may match the empty string is a no-op
	// next to an open end. Next to an anchor it lifts the anchor, but only
	// (?s). does so exactly: plain . stops at a newline.
	if len(parts) > 0 {
		if ok, dotAll := star(parts[0]); ok && (!begin || dotAll) {
			begin, parts = false, parts[1:]
		}
	}
	if len(parts) > 0 {
		if ok, dotAll := star(parts[len(parts)-1]); ok && (!end || dotAll) {
			end, parts = false, parts[:len(parts)-1]
		}
	}
	if len(parts) != 1 || parts[0].Op != syntax.OpLiteral || parts[0].Flags&syntax.FoldCase != 0 {
		return nil, false
	}
	lit := string(parts[0].Rune)
	switch {
	case begin && end:
		base.Kind = Exact
	case begin:
		base.Kind = Prefix
	case end:
		base.Kind = Suffix
	default:
		return nil, false // a substring: no index serves it
	}
	base.Value = lit
	return []Entry{base}, true
}
