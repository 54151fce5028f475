package stix

import "cshub/internal/stix/pattern"

// parsePattern parses s, a STIX pattern. It is the one place this package depends on the
// patterning parser.
func parsePattern(s string) (*pattern.Pattern, error) {
	return pattern.Parse(s)
}
