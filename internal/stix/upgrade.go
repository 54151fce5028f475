package stix

import "bytes"

// STIX 2.0 to 2.1 upgrade. MITRE publishes ATT&CK as STIX 2.0 and converts it to 2.1 for its
// attack-stix-data releases with three changes; Validate applies the same ones, plus the
// pattern_type that a 2.0 indicator implies:
//   - "spec_version": "2.1" is added (2.0 objects carry none);
//   - on malware, labels ["malware"] becomes is_family true, and any other malware gets
//     is_family true (2.0 malware described families) while keeping its labels;
//   - on tools, labels ["tool"] is dropped;
//   - on indicators without pattern_type, "pattern_type": "stix" is added (2.0 knew no other).
// Every other property is kept byte for byte.

// upgraded returns the STIX 2.1 form of the STIX 2.0 object being validated.
func (v *validator) upgraded() []byte {
	d := v.d
	var b bytes.Buffer
	b.Grow(len(d.src) + 64)
	b.WriteString(`{"spec_version":"2.1"`)
	typ := v.m.Type
	for _, m := range v.top {
		switch m.key {
		case "spec_version":
			continue
		case "labels":
			if typ == "malware" && onlyLabel(d, m.idx, "malware") || typ == "tool" && onlyLabel(d, m.idx, "tool") {
				continue
			}
		}
		b.WriteByte(',')
		b.Write(d.rawMember(m.idx))
	}
	if typ == "malware" && !v.has("is_family") {
		b.WriteString(`,"is_family":true`)
	}
	if typ == "indicator" && !v.has("pattern_type") {
		b.WriteString(`,"pattern_type":"stix"`)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// onlyLabel reports whether node i is the list [label].
func onlyLabel(d *doc, i int, label string) bool {
	n := &d.nodes[i]
	if n.kind != kArray || n.n != 1 {
		return false
	}
	c := &d.nodes[i+1]
	return c.kind == kString && string(d.rawStr(i+1)) == label
}
