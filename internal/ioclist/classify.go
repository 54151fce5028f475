package ioclist

import (
	"net/netip"
	"net/url"
	"strings"
)

// Kind is the kind of an indicator value.
type Kind string

// The kinds of value a list may hold.
const (
	IPv4   Kind = "ipv4" // an address or a CIDR block
	IPv6   Kind = "ipv6" // an address or a CIDR block
	Domain Kind = "domain"
	URL    Kind = "url"
	Email  Kind = "email"
	MD5    Kind = "md5"
	SHA1   Kind = "sha1"
	SHA256 Kind = "sha256"
	SHA512 Kind = "sha512"
)

// kindNames maps the type names a caller or a type column may give (STIX, MISP and everyday
// names) to a kind; "" means any IP version, "hash" any hash length.
var kindNames = map[string]Kind{
	"ip": "ip", "ip-src": "ip", "ip-dst": "ip", "cidr": "ip", "ip-address": "ip", "ipaddress": "ip",
	"ipv4": IPv4, "ipv4-addr": IPv4, "ip4": IPv4, "ipv6": IPv6, "ipv6-addr": IPv6, "ip6": IPv6,
	"domain": Domain, "domain-name": Domain, "hostname": Domain, "fqdn": Domain, "host": Domain,
	"url": URL, "uri": URL, "link": URL,
	"email": Email, "email-addr": Email, "email-src": Email, "email-dst": Email, "e-mail": Email, "mail": Email,
	"md5": MD5, "sha1": SHA1, "sha-1": SHA1, "sha256": SHA256, "sha-256": SHA256, "sha512": SHA512, "sha-512": SHA512,
	"hash": "hash", "file-hash": "hash", "filehash": "hash",
}

// parseKind reads a type name; ok is false for names it does not know.
func parseKind(s string) (Kind, bool) {
	k, ok := kindNames[strings.ToLower(strings.TrimSpace(s))]
	return k, ok
}

// refang undoes the usual defanging of indicators in reports: hxxp, [.], (.), [@], [:].
func refang(s string) string {
	if len(s) >= 4 && strings.EqualFold(s[:4], "hxxp") {
		s = "http" + s[4:]
	} else if len(s) >= 4 && strings.EqualFold(s[:4], "fxp:") {
		s = "ftp:" + s[4:]
	}
	if !strings.ContainsAny(s, "[({") {
		return s
	}
	return refanger.Replace(s)
}

var refanger = strings.NewReplacer("[.]", ".", "(.)", ".", "{.}", ".", "[dot]", ".", "(dot)", ".",
	"[@]", "@", "[at]", "@", "(at)", "@", "[:]", ":", "[://]", "://")

// classify returns the kind and canonical form of a value, or a reason it is none. want, when
// not "", restricts the kinds accepted ("ip" and "hash" name groups).
func classify(v string, want Kind) (Kind, string, string) {
	v = refang(strings.TrimSpace(v))
	if v == "" {
		return "", "", "empty value"
	}
	k, canon := guess(v)
	switch {
	case k == "" && want != "":
		return "", "", "not a valid " + describe(want)
	case k == "":
		return "", "", "not an IPv4/IPv6 address, CIDR block, domain, URL, e-mail address or MD5/SHA-1/SHA-256/SHA-512 hash"
	case want == "" || want == k:
	case want == "ip" && (k == IPv4 || k == IPv6):
	case want == "hash" && (k == MD5 || k == SHA1 || k == SHA256 || k == SHA512):
	case want == URL && k == Domain:
		// A bare host in a URL column is a URL without path.
		k = URL
	default:
		return "", "", "not a valid " + describe(want) + " (looks like " + describe(k) + ")"
	}
	return k, canon, ""
}

func describe(k Kind) string {
	switch k {
	case "ip":
		return "IP address or CIDR block"
	case IPv4:
		return "IPv4 address or CIDR block"
	case IPv6:
		return "IPv6 address or CIDR block"
	case Email:
		return "e-mail address"
	case URL:
		return "URL"
	case Domain:
		return "domain name"
	case "hash":
		return "MD5, SHA-1, SHA-256 or SHA-512 hash"
	case SHA1:
		return "SHA-1 hash"
	case SHA256:
		return "SHA-256 hash"
	case SHA512:
		return "SHA-512 hash"
	case MD5:
		return "MD5 hash"
	}
	return string(k)
}

// guess classifies a refanged, trimmed value.
func guess(v string) (Kind, string) {
	if strings.ContainsAny(v, " \t\r\n\x00") {
		return "", ""
	}
	if strings.Contains(v, "/") && !strings.Contains(v, "://") {
		if p, err := netip.ParsePrefix(v); err == nil && p.Addr().Zone() == "" {
			p = p.Masked()
			if p.Addr().Is4() {
				return IPv4, p.String()
			}
			if !p.Addr().Is4In6() {
				return IPv6, p.String()
			}
			return "", ""
		}
	}
	if a, err := netip.ParseAddr(v); err == nil {
		if a.Zone() != "" {
			return "", ""
		}
		a = a.Unmap()
		if a.Is4() {
			return IPv4, a.String()
		}
		return IPv6, a.String()
	}
	if isHex(v) {
		switch len(v) {
		case 32:
			return MD5, strings.ToLower(v)
		case 40:
			return SHA1, strings.ToLower(v)
		case 64:
			return SHA256, strings.ToLower(v)
		case 128:
			return SHA512, strings.ToLower(v)
		}
	}
	if i := strings.Index(v, "://"); i > 0 {
		u, err := url.Parse(v)
		if err != nil || u.Host == "" || !validScheme(v[:i]) {
			return "", ""
		}
		return URL, v
	}
	if local, dom, ok := strings.Cut(v, "@"); ok {
		if local == "" || len(local) > 64 || strings.ContainsAny(local, "@<>(),;:\"[]\\") {
			return "", ""
		}
		if d, ok := domain(dom); ok {
			return Email, local + "@" + d
		}
		return "", ""
	}
	if host, path, ok := strings.Cut(v, "/"); ok {
		// host/path without a scheme, as lists often write URLs.
		if _, hok := domain(host); hok || isIP(host) {
			if _, err := url.Parse("http://" + host + "/" + path); err == nil {
				return URL, v
			}
		}
		return "", ""
	}
	if d, ok := domain(v); ok {
		return Domain, d
	}
	return "", ""
}

func isIP(s string) bool {
	if h, _, ok := strings.Cut(s, ":"); ok && strings.Count(s, ":") == 1 {
		s = h
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

func validScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
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

// domain checks a host name as DNS writes it (letters, digits, hyphens, underscores; at least
// two labels; an alphabetic or punycode top-level label) and returns it lower-cased.
func domain(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSuffix(s, "."))
	if len(s) == 0 || len(s) > 253 {
		return "", false
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return "", false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", false
			}
		}
	}
	tld := labels[len(labels)-1]
	if strings.HasPrefix(tld, "xn--") {
		return s, len(tld) > 4
	}
	if len(tld) < 2 {
		return "", false
	}
	for i := 0; i < len(tld); i++ {
		if tld[i] < 'a' || tld[i] > 'z' {
			return "", false
		}
	}
	return s, true
}
