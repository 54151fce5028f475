// Package pattern implements the STIX 2.1 patterning language (STIX 2.1
// specification, section 9).
//
// Parse turns pattern text into a *Pattern, checking the grammar and the
// rules the specification fixes; every error is a *SyntaxError carrying the
// byte offset at fault. Pattern.String prints canonical text that parses
// back to the same tree. Pattern.Entries lists the constants a matching
// index can serve (exact values, CIDR blocks, prefixes and suffixes) and
// Pattern.FullyServed says whether an index hit decides the match on its
// own. Pattern.Match evaluates the pattern against observed data.
//
// # Regular expressions
//
// The specification defines MATCHES with PCRE. Go's regexp package
// implements RE2, which lacks lookaround, backreferences, possessive
// quantifiers, atomic groups and \Z; Parse rejects a MATCHES operand RE2
// cannot compile, saying so, rather than matching it differently. RE2 also
// treats a few escapes differently: \xNN is the code point U+00NN, so for
// binary properties (*_bin, *_hex) Match maps each byte to the code point of
// the same value before matching, which makes '\\xd4' match byte 0xd4.
//
// # Evaluation
//
// Match follows the specification where it is explicit and documents its
// choices where it is not (see Match). Not covered: comparisons of a whole
// list or object value (only its elements through [*] or an index); negative
// list indexes (they select nothing); SCOs referenced by an observation
// but not included in it; and the evaluator keeps at most 10,000 candidate
// matches per observation expression and picks REPEATS groups greedily, so
// on very large inputs it may miss a match, though it never reports a false
// one.
package pattern
