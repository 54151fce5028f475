package export

import (
	"strings"
	"testing"

	"cshub/internal/export/record"
	"cshub/internal/hub"
)

// TestRuleEscaping pins what msg, content and DNS wire strings make of the bytes a rule cannot
// carry as they are, which the golden files, all plain names, do not reach.
func TestRuleEscaping(t *testing.T) {
	long := strings.Repeat("a", 300)
	for _, tc := range []struct{ name, got, want string }{
		{"content plain", string(appendContent(nil, "login.example")), "login.example"},
		{"content reserved", string(appendContent(nil, `a"b;c\d|e`)), `a|22|b|3B|c|5C|d|7C|e`},
		{"content other bytes", string(appendContent(nil, "\x00\x7f\xff é")), "|00||7F||FF| |C3||A9|"},
		{"wire", string(appendDNSWire(nil, "a.bc")), "|01|a|02|bc|00|"},
		{"wire empty", string(appendDNSWire(nil, "")), "|00||00|"},
		{"wire empty labels", string(appendDNSWire(nil, "a..b.")), "|01|a|00||01|b|00||00|"},
		{"wire reserved", string(appendDNSWire(nil, "x|y")), "|03|x|7C|y|00|"},
		{"wire long label", string(appendDNSWire(nil, long)), "|12C|" + long + "|00|"},
		{"msg reserved", msgOf(hub.TLPGreen, placeIP, `a;b"c\d`), `cshub TLP:GREEN address a\;b\"c\\d`},
		{"msg control and invalid UTF-8", msgOf(hub.TLPAmber, placeSNI, "\x01\x7fé\xff"), "cshub TLP:AMBER TLS SNI   é\uFFFD"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %q; want %q", tc.name, tc.got, tc.want)
		}
	}
}

func msgOf(tlp hub.TLP, p place, value string) string {
	ind := &Indicator{Record: &record.Record{Object: record.Object{TLP: tlp}}}
	return string(appendMsg(nil, &rule{ind: ind, v: &Value{Value: value}, place: p}))
}
