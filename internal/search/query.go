package search

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"cshub/internal/hub"
)

// Limits on a query, so that one request cannot make the index do unbounded work.
const (
	maxQueryLen  = 1024 // bytes
	maxClauses   = 32   // text clauses and filter values together
	minPrefixLen = 2    // bytes of a prefix before the '*'
)

// ClauseKind is what a text clause matches.
type ClauseKind int

const (
	Term   ClauseKind = iota + 1 // one word, or one compound such as a domain or an address
	Phrase                       // consecutive words, from "…" or from a word that splits into several
	Prefix                       // every word that starts with Tokens[0], from lazag*
)

// Clause is one text condition of a Query. Tokens are folded (lower case, no diacritics).
type Clause struct {
	Kind   ClauseKind
	Tokens []string // the parts; for Prefix, the prefix itself
	Whole  string   // for Term: the folded compound ("login-ministry.example") matched as one token
	Not    bool     // the clause excludes instead of requiring (written -word)
}

// Query is a parsed search. Every text clause must match (or, with Not, must not), every
// filter must hold; the values of one filter are alternatives. The zero Query matches every
// object the viewer may see.
type Query struct {
	Clauses    []Clause
	Types      []string  // type:indicator
	Workspaces []string  // workspace:community
	TLPs       []hub.TLP // tlp:amber
	Authors    []string  // author:cert-nl
	Labels     []string  // label:x, folded
	Phases     []string  // phase:credential-access (kill-chain phase name), folded
	After      time.Time // after:2024-01-01 — modified at or after
	Before     time.Time // before:2024-02-01 — modified strictly before
	// AfterAgo and BeforeAgo are the relative forms (after:90d), resolved against the clock
	// when the query runs.
	AfterAgo, BeforeAgo time.Duration
}

// filterNames are the words recognised before a ':' as filters; anything else with a colon
// ("c:\windows", "http://…", "domain-name:value") is text.
var filterNames = []string{"type", "workspace", "tlp", "author", "label", "phase", "after", "before"}

// ParseQuery parses the search syntax: words, "phrases", prefixes (lazag*), -exclusions and
// the filters type:, workspace:, tlp:, author:, label:, phase:, after: and before: (a date
// 2024-01-01, an RFC 3339 instant, or a relative 90d / 12h). Filter values may be
// comma-separated or quoted. Bad syntax is a *hub.Error naming field "q" with the reason.
func ParseQuery(q string) (Query, error) {
	var out Query
	if len(q) > maxQueryLen {
		return out, hub.FieldError("q", "the query is longer than %d bytes", maxQueryLen)
	}
	if !utf8.ValidString(q) {
		return out, hub.FieldError("q", "the query is not valid UTF-8")
	}
	n := 0
	for i := 0; i < len(q); {
		r, size := utf8.DecodeRuneInString(q[i:])
		if unicode.IsSpace(r) {
			i += size
			continue
		}
		not := false
		if r == '-' && i+1 < len(q) && q[i+1] != ' ' {
			not = true
			i++
		}
		if q[i] == '"' {
			end := strings.IndexByte(q[i+1:], '"')
			if end < 0 {
				return out, hub.FieldError("q", "a phrase opened at byte %d is not closed with \"", i)
			}
			text := q[i+1 : i+1+end]
			i += end + 2
			parts, _ := queryTokens(text)
			if len(parts) == 0 {
				continue // "" or "?!" holds nothing to look for
			}
			kind := Phrase
			if len(parts) == 1 {
				kind = Term
			}
			out.Clauses = append(out.Clauses, Clause{Kind: kind, Tokens: parts, Not: not})
			n++
			if n > maxClauses {
				return out, hub.FieldError("q", "the query has more than %d terms and filters", maxClauses)
			}
			continue
		}
		// A word runs to the next space; a filter value may be quoted.
		start := i
		for i < len(q) {
			r, size := utf8.DecodeRuneInString(q[i:])
			if unicode.IsSpace(r) {
				break
			}
			i += size
		}
		word := q[start:i]
		if name, value, ok := strings.Cut(word, ":"); ok && slices.Contains(filterNames, strings.ToLower(name)) {
			if not {
				return out, hub.FieldError("q", "filter %s: cannot be negated", name)
			}
			if strings.HasPrefix(value, `"`) {
				rest := q[start+len(name)+2:]
				end := strings.IndexByte(rest, '"')
				if end < 0 {
					return out, hub.FieldError("q", "the quoted value of %s: is not closed with \"", name)
				}
				value = rest[:end]
				i = start + len(name) + 2 + end + 1
			}
			c, err := out.addFilter(strings.ToLower(name), value)
			if err != nil {
				return out, err
			}
			n += c
		} else {
			c, err := out.addWord(word, not)
			if err != nil {
				return out, err
			}
			n += c
		}
		if n > maxClauses {
			return out, hub.FieldError("q", "the query has more than %d terms and filters", maxClauses)
		}
	}
	return out, nil
}

// addWord adds a bare word (or prefix) and returns how many clauses it made.
func (q *Query) addWord(word string, not bool) (int, error) {
	if p, ok := strings.CutSuffix(word, "*"); ok {
		p = strings.TrimLeftFunc(p, func(r rune) bool { return !isWord(r) })
		f := fold(p)
		if strings.Contains(f, "*") {
			return 0, hub.FieldError("q", "%q: '*' may only end a word", word)
		}
		if len(f) < minPrefixLen {
			return 0, hub.FieldError("q", "%q: a prefix needs at least %d characters before '*'", word, minPrefixLen)
		}
		if len(f) > maxToken {
			return 0, hub.FieldError("q", "%q: the prefix is too long", word)
		}
		q.Clauses = append(q.Clauses, Clause{Kind: Prefix, Tokens: []string{f}, Not: not})
		return 1, nil
	}
	parts, whole := queryTokens(word)
	switch {
	case len(parts) == 0:
		return 0, nil // punctuation only
	case len(parts) == 1:
		q.Clauses = append(q.Clauses, Clause{Kind: Term, Tokens: parts, Not: not})
	case whole != "":
		q.Clauses = append(q.Clauses, Clause{Kind: Term, Tokens: parts, Whole: whole, Not: not})
	default:
		// "APT28's" or "(T1003)": the parts in order.
		q.Clauses = append(q.Clauses, Clause{Kind: Phrase, Tokens: parts, Not: not})
	}
	return 1, nil
}

// addFilter adds the values of one filter and returns how many it added.
func (q *Query) addFilter(name, value string) (int, error) {
	var vals []string
	for v := range strings.SplitSeq(value, ",") {
		if v = strings.TrimSpace(v); v != "" {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return 0, hub.FieldError("q", "filter %s: has no value", name)
	}
	for _, v := range vals {
		switch name {
		case "type":
			q.Types = append(q.Types, strings.ToLower(v))
		case "workspace":
			q.Workspaces = append(q.Workspaces, v)
		case "author":
			q.Authors = append(q.Authors, strings.ToLower(v))
		case "label":
			q.Labels = append(q.Labels, fold(v))
		case "phase":
			q.Phases = append(q.Phases, fold(v))
		case "tlp":
			t, err := hub.ParseTLP(v)
			if err != nil {
				return 0, hub.FieldError("q", "filter tlp: %q is not a TLP 2.0 level (clear, green, amber, amber+strict, red)", v)
			}
			q.TLPs = append(q.TLPs, t)
		case "after", "before":
			if len(vals) > 1 {
				return 0, hub.FieldError("q", "filter %s: takes one value", name)
			}
			t, ago, err := parseWhen(v)
			if err != nil {
				return 0, hub.FieldError("q", "filter %s: %q is not a date (2024-01-01), an instant (RFC 3339) or an age (90d, 12h)", name, v)
			}
			if name == "after" {
				if !q.After.IsZero() || q.AfterAgo != 0 {
					return 0, hub.FieldError("q", "filter after: given twice")
				}
				q.After, q.AfterAgo = t, ago
			} else {
				if !q.Before.IsZero() || q.BeforeAgo != 0 {
					return 0, hub.FieldError("q", "filter before: given twice")
				}
				q.Before, q.BeforeAgo = t, ago
			}
		}
	}
	return len(vals), nil
}

// parseWhen reads a date, an RFC 3339 instant or an age in days (90d) or hours (12h).
func parseWhen(v string) (time.Time, time.Duration, error) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, 0, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), 0, nil
	}
	if len(v) >= 2 {
		unit := map[byte]time.Duration{'d': 24 * time.Hour, 'h': time.Hour}[v[len(v)-1]]
		if n, err := strconv.ParseUint(v[:len(v)-1], 10, 16); err == nil && unit != 0 && n > 0 {
			return time.Time{}, time.Duration(n) * unit, nil
		}
	}
	return time.Time{}, 0, strconv.ErrSyntax
}

// window returns the modified-time bounds of q at now: [after, before), zero meaning open.
func (q *Query) window(now time.Time) (after, before time.Time) {
	after, before = q.After, q.Before
	if q.AfterAgo != 0 {
		after = now.Add(-q.AfterAgo)
	}
	if q.BeforeAgo != 0 {
		before = now.Add(-q.BeforeAgo)
	}
	return after, before
}
