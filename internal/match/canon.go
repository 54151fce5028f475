package match

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"cshub/internal/hub"
)

// kind is the family of a canonical value. It is the last byte of every
// index key, so that a parent domain's key is a suffix of its child's key
// and needs no copying.
type kind byte

const (
	kNone      kind = iota
	kIPv4           // key: 4 address bytes
	kIPv6           // key: 16 address bytes (never an IPv4-mapped address)
	kPrefix4        // key: 4 address bytes, prefix length
	kPrefix6        // key: 16 address bytes, prefix length
	kDomain         // key: the ASCII (A-label) name, lower case, no trailing dot
	kURL            // key: the normalised URL text
	kEmail          // key: local part verbatim, "@", canonical domain
	kHash           // key: the digest bytes; the length tells the algorithm family
	kOtherHash      // key: algorithm name (upper case), 0, value verbatim
)

// String returns the name of the family, used in error messages.
func (k kind) String() string {
	switch k {
	case kIPv4, kPrefix4:
		return "IPv4 address"
	case kIPv6, kPrefix6:
		return "IPv6 address"
	case kDomain:
		return "domain name"
	case kURL:
		return "URL"
	case kEmail:
		return "e-mail address"
	case kHash, kOtherHash:
		return "hash"
	}
	return "value"
}

// maxValue bounds the length of any value this package canonicalises; longer
// input is refused rather than copied around.
const maxValue = 8 << 10

// typeClass says how a caller-given type name is canonicalised.
type typeClass int

const (
	tcUnknown typeClass = iota
	tcAuto              // classify the value
	tcIP                // IPv4 or IPv6 address or CIDR block
	tcIPv4              // as tcIP, but the result must be IPv4
	tcDomain
	tcURL
	tcEmail
	tcHash // hex digest, algorithm taken from its length or from hashLen
)

// classOf maps the type names callers use (STIX object types, MISP attribute
// types, hash algorithm names) to a class and, for named hex hash algorithms,
// the digest length in hex digits; hashName is set for hash algorithms whose
// values are not hex digests (SSDEEP, TLSH).
func classOf(typ string) (tc typeClass, hexLen int, hashName string) {
	switch strings.ToLower(typ) {
	case "":
		return tcAuto, 0, ""
	case "ipv4-addr":
		return tcIPv4, 0, ""
	case "ipv6-addr", "ip", "ip-src", "ip-dst", "ip-addr":
		return tcIP, 0, ""
	case "domain-name", "domain", "hostname":
		return tcDomain, 0, ""
	case "url", "uri", "link":
		return tcURL, 0, ""
	case "email-addr", "email", "email-src", "email-dst", "target-email":
		return tcEmail, 0, ""
	case "file", "hash", "hashes":
		return tcHash, 0, ""
	}
	return hashClass(typ)
}

// hashClass maps a hash algorithm name, as in STIX ("SHA-256") or MISP
// ("sha256"), to its class.
func hashClass(name string) (typeClass, int, string) {
	n := strings.ToUpper(strings.Trim(name, "'"))
	switch n {
	case "MD5":
		return tcHash, 32, ""
	case "SHA-1", "SHA1":
		return tcHash, 40, ""
	case "SHA-256", "SHA256", "SHA3-256":
		return tcHash, 64, ""
	case "SHA-512", "SHA512", "SHA3-512":
		return tcHash, 128, ""
	case "SSDEEP", "TLSH":
		return tcHash, 0, n
	}
	return tcUnknown, 0, ""
}

// Canonical returns the canonical text of value as an observable of type
// typ, the form in which the index stores and compares it:
//
//   - domain names: IDNA A-labels (UTS #46 lookup profile), lower case, no
//     trailing dot;
//   - URLs: scheme and host in lower case (the host as a domain name or an
//     address), default port dropped, percent-encoding of unreserved
//     characters decoded and other escapes in upper case, bytes outside
//     printable ASCII percent-encoded, an empty path as "/", no fragment;
//   - IPv4 and IPv6 addresses and CIDR blocks: as net/netip prints them, IPv6
//     compressed, IPv4-mapped IPv6 unmapped, blocks masked, /32 and /128
//     written as the address;
//   - hashes: lower-case hex, the length checked against the algorithm;
//   - e-mail addresses: the local part as given, the domain canonical.
//
// typ is a STIX type (ipv4-addr, ipv6-addr, domain-name, url, email-addr,
// file), a MISP attribute type (ip-src, domain, hostname, email-src, md5,
// ...), a hash algorithm name (MD5, SHA-1, SHA-256, SHA-512) or "", which
// classifies the value by its form. Surrounding white space is ignored.
// Errors are *hub.Error values with code hub.EInvalid naming the field
// "value".
func Canonical(typ, value string) (string, error) {
	key, err := appendKey(nil, typ, value)
	if err != nil {
		return "", err
	}
	return keyText(key), nil
}

// appendKey appends the index key of value (see kind) to dst.
func appendKey(dst []byte, typ, value string) ([]byte, error) {
	tc, hexLen, hashName := classOf(typ)
	return appendKeyClass(dst, tc, hexLen, hashName, typ, value)
}

func appendKeyClass(dst []byte, tc typeClass, hexLen int, hashName, typ, value string) ([]byte, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return dst, hub.FieldError("value", "empty")
	}
	if len(value) > maxValue {
		return dst, hub.FieldError("value", "longer than %d bytes", maxValue)
	}
	if tc == tcAuto {
		tc = classify(value)
	}
	switch tc {
	case tcIP, tcIPv4:
		return appendIP(dst, value, tc == tcIPv4)
	case tcDomain:
		return appendDomain(dst, value)
	case tcURL:
		return appendURL(dst, value)
	case tcEmail:
		return appendEmail(dst, value)
	case tcHash:
		if hashName != "" {
			dst = append(dst, hashName...)
			dst = append(dst, 0)
			dst = append(dst, value...)
			return append(dst, byte(kOtherHash)), nil
		}
		return appendHash(dst, value, hexLen)
	case tcAuto:
		return dst, hub.FieldError("value", "cannot tell what kind of observable %q is", clip(value))
	}
	return dst, hub.FieldError("value", "unsupported observable type %q", clip(typ))
}

// classify tells the class of an untyped value by its form.
func classify(v string) typeClass {
	switch {
	case strings.Contains(v, "://"):
		return tcURL
	case strings.IndexByte(v, '@') > 0:
		return tcEmail
	}
	if strings.IndexByte(v, ':') >= 0 || isIPv4ish(v) {
		if _, err := parseIPOrPrefix(v); err == nil {
			return tcIP
		}
	}
	if isHex(v) {
		switch len(v) {
		case 32, 40, 64, 128:
			return tcHash
		}
	}
	if strings.IndexByte(strings.TrimSuffix(v, "."), '.') > 0 {
		return tcDomain // a single label cannot be told from other words
	}
	return tcAuto
}

func isIPv4ish(v string) bool {
	if v == "" || v[0] < '0' || v[0] > '9' {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c == '.' || c == '/') {
			return false
		}
	}
	return true
}

func isHex(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// clip shortens v for an error message.
func clip(v string) string {
	if len(v) > 64 {
		return v[:64] + "..."
	}
	return v
}

// parseIPOrPrefix parses an address or a CIDR block, unmapping IPv4-mapped
// IPv6 and masking blocks; a /32 or /128 block comes back as its address
// (a prefix of full length).
func parseIPOrPrefix(v string) (netip.Prefix, error) {
	if i := strings.IndexByte(v, '/'); i >= 0 {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return p, err
		}
		a, bits := p.Addr(), p.Bits()
		if a.Is4In6() && bits >= 96 {
			a, bits = a.Unmap(), bits-96
		}
		return netip.PrefixFrom(a, bits).Masked(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, hub.FieldError("value", "an address with a zone")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func appendIP(dst []byte, v string, want4 bool) ([]byte, error) {
	if a, ok := parseDottedQuad(v); ok {
		dst = append(dst, a[:]...)
		return append(dst, byte(kIPv4)), nil
	}
	p, err := parseIPOrPrefix(v)
	if err != nil {
		return dst, hub.FieldError("value", "not an IP address or CIDR block: %q", clip(v))
	}
	if want4 && !p.Addr().Is4() {
		return dst, hub.FieldError("value", "not an IPv4 address: %q", clip(v))
	}
	return appendPrefixKey(dst, p), nil
}

// parseDottedQuad parses an IPv4 address written as net/netip writes it:
// four decimal fields from 0 to 255 without leading zeros, nothing else.
// It is the common form of the addresses looked up, and parsing it here
// saves the generality of netip.ParseAddr; for any other text it reports
// false and leaves the text to parseIPOrPrefix.
func parseDottedQuad(v string) (a [4]byte, ok bool) {
	i := 0
	for f := range a {
		if f > 0 {
			if i == len(v) || v[i] != '.' {
				return a, false
			}
			i++
		}
		if i == len(v) || v[i]-'0' > 9 {
			return a, false
		}
		val := uint(v[i] - '0')
		i++
		if i < len(v) && v[i]-'0' <= 9 {
			if val == 0 {
				return a, false // a leading zero
			}
			val = val*10 + uint(v[i]-'0')
			i++
			if i < len(v) && v[i]-'0' <= 9 {
				val = val*10 + uint(v[i]-'0')
				i++
			}
		}
		if val > 255 {
			return a, false
		}
		a[f] = byte(val)
	}
	return a, i == len(v)
}

// appendPrefixKey appends the key of a masked, unmapped prefix: an address
// key for a full-length prefix, a block key otherwise.
func appendPrefixKey(dst []byte, p netip.Prefix) []byte {
	a := p.Addr()
	full := p.Bits() == a.BitLen()
	if a.Is4() {
		b := a.As4()
		dst = append(dst, b[:]...)
		if full {
			return append(dst, byte(kIPv4))
		}
		return append(dst, byte(p.Bits()), byte(kPrefix4))
	}
	b := a.As16()
	dst = append(dst, b[:]...)
	if full {
		return append(dst, byte(kIPv6))
	}
	return append(dst, byte(p.Bits()), byte(kPrefix6))
}

// appendDomain appends the key of a domain name. Plain ASCII names are
// lower-cased and checked here, without the IDNA machinery: it is the
// common case, and UTS #46 with STD3 rules would refuse names that really
// occur in threat data (underscores, "r3--sn-" labels of CDNs).
func appendDomain(dst []byte, v string) ([]byte, error) {
	v = strings.TrimSuffix(v, ".")
	if v == "" {
		return dst, hub.FieldError("value", "empty domain name")
	}
	if d, ok := appendPlainName(dst, v); ok {
		return append(d, byte(kDomain)), nil
	}
	// One trailing dot is the root; another, or two dots inside, is an empty label, which IDNA
	// would drop silently and leave a different name than was given.
	if strings.HasSuffix(v, ".") || strings.HasPrefix(v, ".") || strings.Contains(v, "..") {
		return dst, hub.FieldError("value", "domain name %q has an empty label", clip(v))
	}
	start := len(dst)
	plain := true
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 0x80 {
			plain = false
			break
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	if plain && hasPunyLabel(dst[start:]) {
		plain = false
	}
	if !plain {
		if !utf8.ValidString(v) {
			return dst[:start], hub.FieldError("value", "domain name is not valid UTF-8")
		}
		a, err := idna.Lookup.ToASCII(v)
		if err == nil && a != v {
			// The result must be canonical itself, or lookups by it would
			// miss; x/net/idna does not promise that for every input.
			var again string
			if again, err = idna.Lookup.ToASCII(a); err == nil && again != a {
				err = fmt.Errorf("IDNA conversion is not stable")
			}
		}
		if err != nil {
			return dst[:start], hub.FieldError("value", "not a valid domain name %q: %v", clip(v), err)
		}
		a = strings.ToLower(strings.TrimSuffix(a, "."))
		// IDNA may drop a label it finds empty ("xn--"): the canonical form would then name
		// another domain, and not even be one when a single label is left.
		if strings.Count(a, ".") != strings.Count(v, ".") {
			return dst[:start], hub.FieldError("value", "not a valid domain name %q: a label is empty after IDNA", clip(v))
		}
		dst = append(dst[:start], a...)
	}
	if err := checkHostname(dst[start:]); err != nil {
		return dst[:start], err
	}
	return append(dst, byte(kDomain)), nil
}

// nameByte maps the bytes a plain host name may hold (letters, digits,
// hyphen, underscore) to their lower case, and any other byte to 0.
var nameByte = func() (t [256]byte) {
	for c := byte('0'); c <= '9'; c++ {
		t[c] = c
	}
	for c := byte('a'); c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = c, c
	}
	t['-'], t['_'] = '-', '_'
	return t
}()

// appendPlainName appends the lower-case form of v in one pass when v is a
// plain ASCII host name that checkHostname would pass and that has no
// "xn--" label: the form of nearly every name looked up. For anything else
// it reports false and appendDomain takes its general path, which also
// words the errors.
func appendPlainName(dst []byte, v string) ([]byte, bool) {
	if len(v) > 253 {
		return dst, false
	}
	start := len(dst)
	dst = slices.Grow(dst, len(v))[:start+len(v)]
	out, label := dst[start:], 0
	for i := 0; i <= len(v); i++ {
		if i == len(v) || v[i] == '.' {
			if n := i - label; n == 0 || n > 63 || n >= 4 && string(out[label:label+4]) == "xn--" {
				return dst[:start], false
			}
			if i < len(v) {
				out[i], label = '.', i+1
			}
			continue
		}
		c := nameByte[v[i]]
		if c == 0 {
			return dst[:start], false
		}
		out[i] = c
	}
	return dst, true
}

// hasPunyLabel reports whether a lower-case name has an "xn--" label, which
// must pass IDNA validation to be canonical.
func hasPunyLabel(b []byte) bool {
	for i := 0; i+4 <= len(b); i++ {
		if (i == 0 || b[i-1] == '.') && b[i] == 'x' && b[i+1] == 'n' && b[i+2] == '-' && b[i+3] == '-' {
			return true
		}
	}
	return false
}

// checkHostname checks a lower-case ASCII name: labels of 1 to 63 letters,
// digits, hyphens and underscores, at most 253 bytes in all.
func checkHostname(b []byte) error {
	if len(b) > 253 {
		return hub.FieldError("value", "domain name longer than 253 bytes")
	}
	label := 0
	for i := 0; i <= len(b); i++ {
		if i == len(b) || b[i] == '.' {
			if label == 0 {
				return hub.FieldError("value", "domain name %q has an empty label", clip(string(b)))
			}
			if label > 63 {
				return hub.FieldError("value", "domain name label longer than 63 bytes")
			}
			label = 0
			continue
		}
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return hub.FieldError("value", "domain name %q has the character %q", clip(string(b)), rune(c))
		}
		label++
	}
	return nil
}

func appendEmail(dst []byte, v string) ([]byte, error) {
	at := strings.LastIndexByte(v, '@')
	if at <= 0 || at == len(v)-1 {
		return dst, hub.FieldError("value", "not an e-mail address: %q", clip(v))
	}
	local := v[:at]
	for i := 0; i < len(local); i++ {
		if c := local[i]; c <= ' ' || c == 0x7f {
			return dst, hub.FieldError("value", "e-mail address %q has a space or control character", clip(v))
		}
	}
	start := len(dst)
	dst = append(dst, local...)
	dst = append(dst, '@')
	d, err := appendDomain(dst, v[at+1:])
	if err != nil {
		return dst[:start], err
	}
	d[len(d)-1] = byte(kEmail)
	return d, nil
}

func appendHash(dst []byte, v string, want int) ([]byte, error) {
	switch {
	case want != 0 && len(v) != want:
		return dst, hub.FieldError("value", "hash has %d hex digits, the algorithm has %d", len(v), want)
	case want == 0 && len(v) != 32 && len(v) != 40 && len(v) != 64 && len(v) != 128:
		return dst, hub.FieldError("value", "hash has %d hex digits, not 32, 40, 64 or 128", len(v))
	}
	start := len(dst)
	var bad byte
	for i := 0; i < len(v); i += 2 {
		hi, lo := hexVal[v[i]], hexVal[v[i+1]]
		bad |= hi | lo
		dst = append(dst, hi<<4|lo&15)
	}
	if bad&0x80 != 0 {
		return dst[:start], hub.FieldError("value", "hash %q is not hexadecimal", clip(v))
	}
	return append(dst, byte(kHash)), nil
}

// hexVal maps a hex digit to its value and any other byte to 0xff.
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := range 10 {
		t['0'+i] = byte(i)
	}
	for i := range 6 {
		t['a'+i], t['A'+i] = byte(10+i), byte(10+i)
	}
	return t
}()

// keyKind returns the kind of a key.
func keyKind(key []byte) kind {
	if len(key) == 0 {
		return kNone
	}
	return kind(key[len(key)-1])
}

// keyPrefix returns the address or block a key of kind kIPv4, kIPv6,
// kPrefix4 or kPrefix6 stands for.
func keyPrefix(key []byte) netip.Prefix {
	switch keyKind(key) {
	case kIPv4:
		a := netip.AddrFrom4([4]byte(key[:4]))
		return netip.PrefixFrom(a, 32)
	case kIPv6:
		a := netip.AddrFrom16([16]byte(key[:16]))
		return netip.PrefixFrom(a, 128)
	case kPrefix4:
		return netip.PrefixFrom(netip.AddrFrom4([4]byte(key[:4])), int(key[4]))
	case kPrefix6:
		return netip.PrefixFrom(netip.AddrFrom16([16]byte(key[:16])), int(key[16]))
	}
	return netip.Prefix{}
}

// keyText returns the canonical text of a key.
func keyText(key []byte) string {
	var buf [64]byte
	return string(appendKeyText(buf[:0], key))
}

// appendKeyText appends the canonical text of a key to dst.
func appendKeyText(dst, key []byte) []byte {
	body := key[:len(key)-1]
	switch k := keyKind(key); k {
	case kIPv4, kIPv6:
		return keyPrefix(key).Addr().AppendTo(dst)
	case kPrefix4, kPrefix6:
		return keyPrefix(key).AppendTo(dst)
	case kHash:
		return hex.AppendEncode(dst, body)
	case kOtherHash:
		if i := bytes.IndexByte(body, 0); i >= 0 {
			return append(dst, body[i+1:]...)
		}
	}
	return append(dst, body...)
}

// unhex returns the value of a hex digit already checked by isHex.
func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
