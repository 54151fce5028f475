package match

import (
	"net/netip"
	"strconv"
	"strings"

	"cshub/internal/hub"
)

// defaultPorts are the ports dropped from URLs of these schemes.
var defaultPorts = map[string]string{
	"http": "80", "https": "443", "ws": "80", "wss": "443", "ftp": "21",
}

// appendURL appends the key of a URL (see Canonical for the rules). It
// works on the text rather than through net/url so that every byte of the
// result is accounted for here: net/url keeps or re-escapes parts of the
// input depending on how it was written, and that is what canonical form
// must not do.
func appendURL(dst []byte, v string) ([]byte, error) {
	start := len(dst)
	i := strings.Index(v, "://")
	if i <= 0 {
		return dst, hub.FieldError("value", "URL %q has no scheme", clip(v))
	}
	scheme := v[:i]
	for j := 0; j < len(scheme); j++ {
		c := scheme[j]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			j > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')
		if !ok {
			return dst, hub.FieldError("value", "URL %q has a bad scheme", clip(v))
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	scheme = string(dst[start:])
	dst = append(dst, "://"...)

	rest := v[i+3:]
	if h := strings.IndexByte(rest, '#'); h >= 0 {
		rest = rest[:h]
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	auth, path := rest[:end], rest[end:]
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		dst = appendEscaped(dst, auth[:at])
		dst = append(dst, '@')
		auth = auth[at+1:]
	}
	host, port := auth, ""
	if strings.HasPrefix(auth, "[") {
		rb := strings.IndexByte(auth, ']')
		if rb < 0 {
			return dst[:start], hub.FieldError("value", "URL %q has an unclosed IPv6 literal", clip(v))
		}
		host, port = auth[:rb+1], auth[rb+1:]
		if port != "" && port[0] != ':' {
			return dst[:start], hub.FieldError("value", "URL %q has junk after its IPv6 literal", clip(v))
		}
	} else if c := strings.LastIndexByte(auth, ':'); c >= 0 {
		host, port = auth[:c], auth[c:]
	}
	port = strings.TrimPrefix(port, ":")

	var err error
	if dst, err = appendURLHost(dst, host, scheme); err != nil {
		return dst[:start], err
	}
	if port != "" {
		n, perr := strconv.ParseUint(port, 10, 16)
		if perr != nil {
			return dst[:start], hub.FieldError("value", "URL %q has a bad port", clip(v))
		}
		if p := strconv.FormatUint(n, 10); defaultPorts[scheme] != p {
			dst = append(dst, ':')
			dst = append(dst, p...)
		}
	}
	if path == "" || path[0] == '?' {
		dst = append(dst, '/')
	}
	dst = appendEscaped(dst, path)
	return append(dst, byte(kURL)), nil
}

// appendURLHost appends the canonical host of a URL: an address, an IPv6
// literal in brackets, or a domain name. Only file URLs may have no host.
func appendURLHost(dst []byte, host, scheme string) ([]byte, error) {
	if host == "" {
		if scheme == "file" {
			return dst, nil
		}
		return dst, hub.FieldError("value", "URL has no host")
	}
	if host[0] == '[' {
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return dst, hub.FieldError("value", "URL has a bad IPv6 literal %q", clip(host))
		}
		if a.Is4In6() {
			return a.Unmap().AppendTo(dst), nil
		}
		dst = append(dst, '[')
		dst = a.AppendTo(dst)
		return append(dst, ']'), nil
	}
	if isIPv4ish(host) {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is4() {
			return dst, hub.FieldError("value", "URL has a bad IPv4 address %q", clip(host))
		}
		return a.AppendTo(dst), nil
	}
	d, err := appendDomain(dst, host)
	if err != nil {
		return dst, err
	}
	return d[:len(d)-1], nil // drop the kind byte
}

// appendEscaped appends a URL path, query or user information with its
// percent-encoding normalised: escapes of unreserved characters decoded,
// other escapes in upper case, a stray "%" and bytes outside printable
// ASCII escaped.
func appendEscaped(dst []byte, s string) []byte {
	const upper = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+2 < len(s) && isHexByte(s[i+1]) && isHexByte(s[i+2]):
			d := unhex(s[i+1])<<4 | unhex(s[i+2])
			if unreserved(d) {
				dst = append(dst, d)
			} else {
				dst = append(dst, '%', upper[d>>4], upper[d&15])
			}
			i += 2
		case c == '%' || c <= ' ' || c >= 0x7f:
			dst = append(dst, '%', upper[c>>4], upper[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func isHexByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
