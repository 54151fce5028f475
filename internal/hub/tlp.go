package hub

import (
	"fmt"
	"strings"
)

// TLP is a Traffic Light Protocol 2.0 level (FIRST). Levels are ordered from least to most
// restrictive so that "raise" and "lower" are comparisons. The zero value means "not marked".
type TLP int8

const (
	TLPUnset TLP = iota
	TLPClear
	TLPGreen
	TLPAmber
	TLPAmberStrict
	TLPRed
)

var tlpNames = [...]string{"", "CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"}

// String returns the TLP 2.0 label without the "TLP:" prefix, e.g. "AMBER+STRICT".
func (t TLP) String() string {
	if t < 0 || int(t) >= len(tlpNames) {
		return fmt.Sprintf("TLP(%d)", int(t))
	}
	return tlpNames[t]
}

// MarshalText encodes the level as its label, "clear" … "red", lower case as MISP tags and
// most APIs write it.
func (t TLP) MarshalText() ([]byte, error) { return []byte(strings.ToLower(t.String())), nil }

// UnmarshalText accepts the labels of ParseTLP.
func (t *TLP) UnmarshalText(b []byte) error {
	v, err := ParseTLP(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// ParseTLP accepts a TLP label with or without the "TLP:"/"tlp:" prefix, in any case. TLP 1.0's
// WHITE is read as CLEAR, as TLP 2.0 prescribes.
func ParseTLP(s string) (TLP, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	u = strings.TrimPrefix(u, "TLP:")
	switch u {
	case "CLEAR", "WHITE":
		return TLPClear, nil
	case "GREEN":
		return TLPGreen, nil
	case "AMBER":
		return TLPAmber, nil
	case "AMBER+STRICT", "AMBER-STRICT", "AMBER_STRICT":
		return TLPAmberStrict, nil
	case "RED":
		return TLPRed, nil
	}
	return TLPUnset, FieldError("tlp", "%q is not a TLP 2.0 level (clear, green, amber, amber+strict, red)", s)
}
