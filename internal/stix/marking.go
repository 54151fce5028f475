package stix

import (
	"fmt"
	"strings"

	"cshub/internal/hub"
)

// The TLP 1.0 marking-definition identifiers fixed by the STIX 2.1 specification (section 7.2.1.4).
const (
	TLP1White = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
	TLP1Green = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
	TLP1Amber = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
	TLP1Red   = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
)

// The TLP 2.0 marking-definition identifiers published by OASIS (cti-stix-common-objects).
const (
	TLP2Clear       = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
	TLP2Green       = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
	TLP2Amber       = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
	TLP2AmberStrict = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
	TLP2Red         = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
)

// TLP2Extension is the id of the extension-definition that TLP 2.0 marking definitions use.
const TLP2Extension = "extension-definition--" + tlp2ExtensionUUID

const tlp2ExtensionUUID = "60a3c5c5-0d10-413e-aab3-9e08dde9e88d"

// tlp1ByID maps the TLP 1.0 ids to their definition.tlp value.
var tlp1ByID = map[string]string{
	TLP1White: "white", TLP1Green: "green", TLP1Amber: "amber", TLP1Red: "red",
}

// tlp2ByID maps the UUID part of the TLP 2.0 ids to their tlp_2_0 value.
var tlp2ByID = map[string]string{
	strings.TrimPrefix(TLP2Clear, "marking-definition--"):       "clear",
	strings.TrimPrefix(TLP2Green, "marking-definition--"):       "green",
	strings.TrimPrefix(TLP2Amber, "marking-definition--"):       "amber",
	strings.TrimPrefix(TLP2AmberStrict, "marking-definition--"): "amber+strict",
	strings.TrimPrefix(TLP2Red, "marking-definition--"):         "red",
}

// tlpByID maps every standard TLP marking id to its TLP 2.0 level; TLP 1.0 WHITE reads as CLEAR.
var tlpByID = map[string]hub.TLP{
	TLP1White: hub.TLPClear, TLP1Green: hub.TLPGreen, TLP1Amber: hub.TLPAmber, TLP1Red: hub.TLPRed,
	TLP2Clear: hub.TLPClear, TLP2Green: hub.TLPGreen, TLP2Amber: hub.TLPAmber,
	TLP2AmberStrict: hub.TLPAmberStrict, TLP2Red: hub.TLPRed,
}

// TLPOf returns the most restrictive TLP level among the standard TLP 1.0 and 2.0 markings in
// markingRefs, or hub.TLPUnset when there is none. Other marking ids are ignored.
func TLPOf(markingRefs []string) hub.TLP {
	t := hub.TLPUnset
	for _, r := range markingRefs {
		if l, ok := tlpByID[r]; ok && l > t {
			t = l
		}
	}
	return t
}

// MarkingID returns the TLP 2.0 marking-definition id for t, or "" for hub.TLPUnset and
// unknown levels.
func MarkingID(t hub.TLP) string {
	switch t {
	case hub.TLPClear:
		return TLP2Clear
	case hub.TLPGreen:
		return TLP2Green
	case hub.TLPAmber:
		return TLP2Amber
	case hub.TLPAmberStrict:
		return TLP2AmberStrict
	case hub.TLPRed:
		return TLP2Red
	}
	return ""
}

// TLPMarkingDefinitions returns the five TLP 2.0 marking-definition objects, CLEAR to RED, as
// OASIS publishes them. Each call returns fresh slices the caller may keep.
func TLPMarkingDefinitions() [][]byte {
	levels := []hub.TLP{hub.TLPClear, hub.TLPGreen, hub.TLPAmber, hub.TLPAmberStrict, hub.TLPRed}
	out := make([][]byte, 0, len(levels))
	for _, l := range levels {
		out = append(out, []byte(fmt.Sprintf(
			`{"type":"marking-definition","spec_version":"2.1","id":%q,"created":"2022-10-01T00:00:00.000Z","name":"TLP:%s","extensions":{%q:{"extension_type":"property-extension","tlp_2_0":%q}}}`,
			MarkingID(l), l.String(), TLP2Extension, strings.ToLower(l.String()))))
	}
	return out
}
