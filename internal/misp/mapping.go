package misp

import (
	"encoding/base64"
	"net/netip"
	"strconv"
	"strings"
)

// comparison is one term of a STIX pattern, written out: path, operator and literal.
type comparison struct {
	typ  string // the object type the path starts with
	path string // without the type, e.g. "hashes.'SHA-256'"
	lit  string // the literal as pattern text: 'quoted' or a number
}

func (c comparison) String() string { return c.typ + ":" + c.path + " = " + c.lit }

// observable is what one MISP attribute becomes in STIX terms: cyber-observable objects for
// observed-data and the comparisons of an indicator's pattern. Either may be empty.
type observable struct {
	scos  []map[string]any
	comps []comparison
}

// quote writes s as a STIX pattern string literal; only ' and \ need escaping there.
func quote(s string) string {
	return "'" + patternEscaper.Replace(s) + "'"
}

var patternEscaper = strings.NewReplacer(`\`, `\\`, `'`, `\'`)

// pathKey writes a dictionary key as a pattern path step, quoted when it is not a plain name.
func pathKey(k string) string {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return quote(k)
		}
	}
	return k
}

// hashAlgorithms maps MISP hash attribute types to the keys of STIX hashes dictionaries (the
// hash-algorithm-ov names where there is one) and the hex length, 0 when not fixed.
var hashAlgorithms = map[string]struct {
	key string
	hex int
}{
	"md5": {"MD5", 32}, "sha1": {"SHA-1", 40}, "sha224": {"SHA-224", 56}, "sha256": {"SHA-256", 64},
	"sha384": {"SHA-384", 96}, "sha512": {"SHA-512", 128}, "sha512/224": {"SHA-512/224", 56},
	"sha512/256": {"SHA-512/256", 64}, "sha3-224": {"SHA3-224", 56}, "sha3-256": {"SHA3-256", 64},
	"sha3-384": {"SHA3-384", 96}, "sha3-512": {"SHA3-512", 128}, "ssdeep": {"SSDEEP", 0},
	"tlsh": {"TLSH", 0}, "imphash": {"IMPHASH", 32}, "authentihash": {"AUTHENTIHASH", 64},
	"pehash": {"PEHASH", 40}, "vhash": {"VHASH", 0}, "impfuzzy": {"IMPFUZZY", 0},
	"telfhash": {"TELFHASH", 0},
}

// hashKeyOK checks that the hashes dictionary key is valid ("SHA-512/224" is not: keys are
// letters, digits, '_' and '-') and that a fixed-length hash has the right form.
func hashValue(typ, v string) (key string, val string, ok bool) {
	h, found := hashAlgorithms[typ]
	if !found || v == "" || strings.ContainsRune(h.key, '/') {
		return "", "", false
	}
	if h.hex > 0 {
		if len(v) != h.hex || !isHex(v) {
			return "", "", false
		}
		v = strings.ToLower(v)
	}
	return h.key, v, true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return s != ""
}

// ipType returns the SCO type and canonical text of an IP address or CIDR block.
func ipType(s string) (typ, canon string, ok bool) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" {
			return "", "", false
		}
		if p.Addr().Is4() {
			return "ipv4-addr", p.String(), true
		}
		if p.Addr().Is4In6() {
			return "", "", false
		}
		return "ipv6-addr", p.String(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return "", "", false
	}
	a = a.Unmap()
	if a.Is4() {
		return "ipv4-addr", a.String(), true
	}
	return "ipv6-addr", a.String(), true
}

// split cuts a composite MISP value "a|b" at the first or last bar.
func split(v string, last bool) (string, string, bool) {
	i := strings.IndexByte(v, '|')
	if last {
		i = strings.LastIndexByte(v, '|')
	}
	if i < 0 {
		return "", "", false
	}
	return v[:i], v[i+1:], true
}

func port(s string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	return n, err == nil && n >= 0 && n <= 65535
}

func sco(typ, uuid string, props ...any) map[string]any {
	m := map[string]any{"type": typ, "spec_version": "2.1", "id": typ + "--" + uuid}
	for i := 0; i+1 < len(props); i += 2 {
		m[props[i].(string)] = props[i+1]
	}
	return m
}

// nonEmpty reports whether a value can stand as the value of a SCO.
func nonEmpty(s string) bool { return strings.TrimSpace(s) != "" }

// mapAttribute returns the STIX form of a MISP attribute of type typ and value v, whose SCOs
// take uuid. ok is false for types (and malformed values) without an observable form; those
// travel as x-misp-attribute objects.
func mapAttribute(typ, v, data, uuid string) (observable, bool) {
	var o observable
	str := func(scoType, prop string) (observable, bool) {
		if !nonEmpty(v) {
			return o, false
		}
		o.scos = []map[string]any{sco(scoType, uuid, prop, v)}
		o.comps = []comparison{{scoType, prop, quote(v)}}
		return o, true
	}
	switch typ {
	case "ip-src", "ip-dst", "ip":
		t, canon, ok := ipType(v)
		if !ok {
			return o, false
		}
		o.scos = []map[string]any{sco(t, uuid, "value", canon)}
		o.comps = []comparison{{t, "value", quote(canon)}}
		return o, true
	case "domain", "hostname":
		return str("domain-name", "value")
	case "url", "link", "uri":
		return str("url", "value")
	case "email", "email-src", "email-dst", "email-reply-to", "target-email", "whois-registrant-email":
		return str("email-addr", "value")
	case "mutex":
		return str("mutex", "name")
	case "mac-address", "mac-eui-64":
		return str("mac-addr", "value")
	case "filename":
		return str("file", "name")
	case "regkey":
		return str("windows-registry-key", "key")
	case "size-in-bytes":
		// Only meaningful beside a file name or hash in a MISP file object, which it joins.
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 53)
		if err != nil {
			return o, false
		}
		o.scos = []map[string]any{sco("file", uuid, "size", n)}
		o.comps = []comparison{{"file", "size", strconv.FormatUint(n, 10)}}
		return o, true
	case "email-subject":
		if !nonEmpty(v) {
			return o, false
		}
		o.scos = []map[string]any{sco("email-message", uuid, "is_multipart", false, "subject", v)}
		o.comps = []comparison{{"email-message", "subject", quote(v)}}
		return o, true
	case "AS":
		n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(v)), "AS"), 10, 32)
		if err != nil {
			return o, false
		}
		o.scos = []map[string]any{sco("autonomous-system", uuid, "number", n)}
		o.comps = []comparison{{"autonomous-system", "number", strconv.FormatUint(n, 10)}}
		return o, true
	case "x509-fingerprint-md5", "x509-fingerprint-sha1", "x509-fingerprint-sha256":
		k, h, ok := hashValue(strings.TrimPrefix(typ, "x509-fingerprint-"), v)
		if !ok {
			return o, false
		}
		o.scos = []map[string]any{sco("x509-certificate", uuid, "hashes", map[string]any{k: h})}
		o.comps = []comparison{{"x509-certificate", "hashes." + pathKey(k), quote(h)}}
		return o, true
	case "regkey|value":
		k, val, ok := split(v, false)
		if !ok || !nonEmpty(k) {
			return o, false
		}
		o.scos = []map[string]any{sco("windows-registry-key", uuid, "key", k, "values", []any{map[string]any{"data": val}})}
		o.comps = []comparison{{"windows-registry-key", "key", quote(k)}, {"windows-registry-key", "values[*].data", quote(val)}}
		return o, true
	case "domain|ip":
		d, ip, ok := split(v, false)
		t, canon, ipok := ipType(ip)
		if !ok || !ipok || !nonEmpty(d) {
			return o, false
		}
		ipID := t + "--" + uuid
		o.scos = []map[string]any{sco("domain-name", uuid, "value", d, "resolves_to_refs", []any{ipID}), sco(t, uuid, "value", canon)}
		o.comps = []comparison{{"domain-name", "value", quote(d)}, {"domain-name", "resolves_to_refs[*].value", quote(canon)}}
		return o, true
	case "ip-src|port", "ip-dst|port":
		ip, p, ok := split(v, true)
		t, canon, ipok := ipType(ip)
		n, pok := port(p)
		if !ok || !ipok || !pok {
			return o, false
		}
		side := "dst"
		if typ == "ip-src|port" {
			side = "src"
		}
		o.scos = []map[string]any{
			sco("network-traffic", uuid, side+"_ref", t+"--"+uuid, side+"_port", n, "protocols", []any{"tcp"}),
			sco(t, uuid, "value", canon),
		}
		o.comps = []comparison{
			{"network-traffic", side + "_ref.type", quote(t)},
			{"network-traffic", side + "_ref.value", quote(canon)},
			{"network-traffic", side + "_port", strconv.Itoa(n)},
		}
		return o, true
	case "hostname|port", "domain|port":
		h, p, ok := split(v, true)
		n, pok := port(p)
		if !ok || !pok || !nonEmpty(h) {
			return o, false
		}
		o.scos = []map[string]any{
			sco("network-traffic", uuid, "dst_ref", "domain-name--"+uuid, "dst_port", n, "protocols", []any{"tcp"}),
			sco("domain-name", uuid, "value", h),
		}
		o.comps = []comparison{
			{"network-traffic", "dst_ref.type", quote("domain-name")},
			{"network-traffic", "dst_ref.value", quote(h)},
			{"network-traffic", "dst_port", strconv.Itoa(n)},
		}
		return o, true
	case "attachment":
		if !nonEmpty(v) {
			return o, false
		}
		f := sco("file", uuid, "name", v)
		o.scos = []map[string]any{f}
		if a := artifact(data, uuid); a != nil {
			f["content_ref"] = a["id"]
			o.scos = append(o.scos, a)
		}
		o.comps = []comparison{{"file", "name", quote(v)}}
		return o, true
	case "malware-sample":
		name, h, ok := split(v, true)
		k, hv, hok := hashValue("md5", h)
		if !ok || !hok || !nonEmpty(name) {
			return o, false
		}
		f := sco("file", uuid, "name", name, "hashes", map[string]any{k: hv})
		o.scos = []map[string]any{f}
		if a := artifact(data, uuid); a != nil {
			f["content_ref"] = a["id"]
			o.scos = append(o.scos, a)
		}
		o.comps = []comparison{{"file", "name", quote(name)}, {"file", "hashes." + pathKey(k), quote(hv)}}
		return o, true
	}
	if k, h, ok := hashValue(typ, v); ok {
		o.scos = []map[string]any{sco("file", uuid, "hashes", map[string]any{k: h})}
		o.comps = []comparison{{"file", "hashes." + pathKey(k), quote(h)}}
		return o, true
	}
	if name, hv, ok := strings.Cut(typ, "|"); ok && name == "filename" {
		fname, h, ok := split(v, true)
		k, hv, hok := hashValue(hv, h)
		if !ok || !hok || !nonEmpty(fname) {
			return o, false
		}
		o.scos = []map[string]any{sco("file", uuid, "name", fname, "hashes", map[string]any{k: hv})}
		o.comps = []comparison{{"file", "name", quote(fname)}, {"file", "hashes." + pathKey(k), quote(hv)}}
		return o, true
	}
	return o, false
}

// artifact returns an artifact SCO for a MISP attachment's base64 data, or nil.
func artifact(data, uuid string) map[string]any {
	if data == "" {
		return nil
	}
	if _, err := base64.StdEncoding.DecodeString(data); err != nil {
		return nil
	}
	return sco("artifact", uuid, "payload_bin", data)
}

// patternOf writes comparisons as a STIX pattern: comparisons on one object type share an
// observation expression unless they would test the same property twice (two IP addresses of
// one MISP object are two observations, not one impossible address).
func patternOf(comps []comparison) string {
	type group struct {
		typ   string
		paths map[string]bool
		terms []string
	}
	var groups []*group
	for _, c := range comps {
		var g *group
		for _, x := range groups {
			if x.typ == c.typ && !x.paths[c.path] {
				g = x
				break
			}
		}
		if g == nil {
			g = &group{typ: c.typ, paths: map[string]bool{}}
			groups = append(groups, g)
		}
		g.paths[c.path] = true
		g.terms = append(g.terms, c.String())
	}
	parts := make([]string, len(groups))
	for i, g := range groups {
		parts[i] = "[" + strings.Join(g.terms, " AND ") + "]"
	}
	return strings.Join(parts, " AND ")
}
