package stix

import "cshub/internal/stix/pattern"

// checkPattern reports whether s is a valid STIX pattern. It is the one place this package
// depends on the patterning parser.
func checkPattern(s string) error {
	_, err := pattern.Parse(s)
	return err
}
