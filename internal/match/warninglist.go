package match

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/gaissmai/bart"

	"cshub/internal/hub"
)

// Warninglists holds MISP warninglists: lists of known-benign values (public
// DNS resolvers, top sites, RFC 1918 blocks, hashes of empty files) used to
// flag indicators that are probably false positives. The zero value is
// empty and ready to use. A Warninglists is safe for concurrent Check calls
// once no more lists are added.
type Warninglists struct {
	lists []*warninglist
}

// warninglist is one loaded list. Values are kept lower-case, without a
// trailing dot.
type warninglist struct {
	name  string
	typ   string
	attrs []string // matching_attributes: MISP attribute types the list applies to
	cidr  *bart.Lite
	set   map[string]struct{} // string and hostname lists
	dots  bool                // a string list with ".example.com" entries: suffixes
	subs  map[string]struct{} // substring lists
	lens  []int               // distinct lengths of subs
	res   []*regexp.Regexp
}

// warninglistFile is the JSON form, per the warninglists' schema.json.
type warninglistFile struct {
	Name               string   `json:"name"`
	Type               string   `json:"type"`
	Description        string   `json:"description"`
	Version            int      `json:"version"`
	List               []string `json:"list"`
	MatchingAttributes []string `json:"matching_attributes"`
}

// LoadWarninglists reads every .json file in the directory dir of fsys as a
// warninglist, skipping schema.json.
func LoadWarninglists(fsys fs.FS, dir string) (*Warninglists, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("match: warninglists: %w", err)
	}
	w := new(Warninglists)
	for _, n := range names {
		if path.Base(n) == "schema.json" {
			continue
		}
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("match: warninglists: %w", err)
		}
		if err := w.Add(data); err != nil {
			return nil, fmt.Errorf("match: warninglist %s: %w", n, err)
		}
	}
	return w, nil
}

// Add parses one warninglist in the MISP JSON format and adds it. It returns
// a *hub.Error for a list that breaks the schema (no name, an unknown type)
// or has a malformed CIDR entry or a regular expression Go cannot compile.
func (w *Warninglists) Add(data []byte) error {
	var f warninglistFile
	if err := json.Unmarshal(data, &f); err != nil {
		return hub.FieldError("warninglist", "not valid JSON: %v", err)
	}
	if f.Name == "" {
		return hub.FieldError("name", "missing")
	}
	l := &warninglist{name: f.Name, typ: f.Type}
	for _, a := range f.MatchingAttributes {
		l.attrs = append(l.attrs, strings.ToLower(a))
	}
	switch f.Type {
	case "cidr":
		l.cidr = new(bart.Lite)
		for _, v := range f.List {
			p, err := parseIPOrPrefix(strings.TrimSpace(v))
			if err != nil {
				return hub.FieldError("list", "%q is not a CIDR block", clip(v))
			}
			l.cidr.Insert(p)
		}
	case "string", "hostname":
		l.set = make(map[string]struct{}, len(f.List))
		for _, v := range f.List {
			v = normWL(v)
			if f.Type == "hostname" {
				v = strings.TrimPrefix(v, ".")
			} else if strings.HasPrefix(v, ".") {
				l.dots = true
			}
			if v != "" {
				l.set[v] = struct{}{}
			}
		}
	case "substring":
		l.subs = make(map[string]struct{}, len(f.List))
		for _, v := range f.List {
			if v = normWL(v); v != "" {
				l.subs[v] = struct{}{}
				if !slices.Contains(l.lens, len(v)) {
					l.lens = append(l.lens, len(v))
				}
			}
		}
	case "regex":
		for _, v := range f.List {
			re, err := compileMISPRegex(v)
			if err != nil {
				return hub.FieldError("list", "regular expression %q: %v", clip(v), err)
			}
			l.res = append(l.res, re)
		}
	default:
		return hub.FieldError("type", "unknown warninglist type %q", f.Type)
	}
	w.lists = append(w.lists, l)
	return nil
}

func normWL(v string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(v)), ".")
}

// compileMISPRegex compiles a PHP-style "/expr/flags" expression (or a bare
// one) as a Go regular expression. The flags i, m, s map to Go's; g is
// meaningless for a test and ignored.
func compileMISPRegex(v string) (*regexp.Regexp, error) {
	expr, flags := v, ""
	if len(v) >= 2 && v[0] == '/' {
		if end := strings.LastIndexByte(v, '/'); end > 0 {
			expr, flags = v[1:end], v[end+1:]
		}
	}
	var goFlags string
	for _, f := range flags {
		switch f {
		case 'i', 'm', 's':
			goFlags += string(f)
		case 'g':
		default:
			return nil, fmt.Errorf("unsupported flag %q", f)
		}
	}
	if goFlags != "" {
		expr = "(?" + goFlags + ")" + expr
	}
	return regexp.Compile(expr)
}

// Names returns the names of the loaded lists, in load order.
func (w *Warninglists) Names() []string {
	var out []string
	for _, l := range w.lists {
		out = append(out, l.name)
	}
	return out
}

// attrsFor lists the MISP attribute types that a value of class tc stands
// for; a list applies to a value if it names one of them.
func attrsFor(k kind, hexLen int) []string {
	switch k {
	case kIPv4, kIPv6, kPrefix4, kPrefix6:
		return []string{"ip-src", "ip-dst", "domain|ip", "ip-src|port", "ip-dst|port"}
	case kDomain:
		return []string{"domain", "hostname", "domain|ip"}
	case kURL:
		return []string{"url", "uri"}
	case kEmail:
		return []string{"email", "email-src", "email-dst", "target-email", "whois-registrant-email"}
	case kHash:
		switch hexLen {
		case 32:
			return []string{"md5", "filename|md5"}
		case 40:
			return []string{"sha1", "filename|sha1"}
		case 64:
			return []string{"sha256", "filename|sha256"}
		case 128:
			return []string{"sha512", "filename|sha512"}
		}
	case kOtherHash:
		return []string{"ssdeep", "filename|ssdeep", "tlsh"}
	}
	return nil
}

// Check returns the names of the lists that contain value as an observable
// of type typ (as for Canonical; "" classifies the value), in load order.
// A list applies if its matching_attributes name the value's kind (an
// IPv4 address is ip-src/ip-dst, a domain domain/hostname, and so on) or
// typ itself, or if it names none. Values are compared canonical: CIDR
// lists by containment, hostname lists as the name or a parent of it,
// string lists by equality (".example.com" entries as suffixes),
// substring lists by containment, regex lists on the value as given. For
// a URL the host, and for an e-mail address the domain, are checked too.
func (w *Warninglists) Check(typ, value string) []string {
	value = strings.TrimSpace(value)
	key, err := appendKey(nil, typ, value)
	var (
		attrs []string
		texts []string // canonical forms to compare
		host  string   // the domain part of a URL or e-mail address
		pfx   netip.Prefix
	)
	if t := strings.ToLower(typ); t != "" {
		attrs = append(attrs, t)
	}
	if err != nil {
		texts = []string{strings.ToLower(value)}
		if typ == "" {
			attrs = nil // unclassified: every list applies
		}
	} else {
		k := keyKind(key)
		text := keyText(key)
		attrs = append(attrs, attrsFor(k, len(text))...)
		texts = []string{text}
		switch k {
		case kIPv4, kIPv6, kPrefix4, kPrefix6:
			pfx = keyPrefix(key)
		case kDomain:
			host = text
		case kEmail:
			host = text[strings.LastIndexByte(text, '@')+1:]
			attrs = append(attrs, "domain")
		case kURL:
			host = urlHost(text)
			if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
				pfx, host = netip.PrefixFrom(a, a.BitLen()), ""
			}
		}
		if host != "" && host != text {
			texts = append(texts, host)
		}
	}
	var out []string
	for _, l := range w.lists {
		if attrs != nil && len(l.attrs) > 0 && !intersects(l.attrs, attrs) {
			continue
		}
		if l.contains(texts, host, pfx, value) {
			out = append(out, l.name)
		}
	}
	return out
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// urlHost returns the host of a canonical URL.
func urlHost(u string) string {
	_, rest, _ := strings.Cut(u, "://")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if strings.HasPrefix(rest, "[") {
		if i := strings.IndexByte(rest, ']'); i >= 0 {
			return rest[:i+1]
		}
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

func (l *warninglist) contains(texts []string, host string, pfx netip.Prefix, raw string) bool {
	switch l.typ {
	case "cidr":
		if !pfx.IsValid() {
			return false
		}
		if pfx.IsSingleIP() {
			return l.cidr.Contains(pfx.Addr())
		}
		return l.cidr.LookupPrefix(pfx)
	case "string":
		for _, t := range texts {
			if _, ok := l.set[t]; ok {
				return true
			}
			if l.dots {
				for i := 0; i < len(t); i++ {
					if t[i] == '.' {
						if _, ok := l.set[t[i:]]; ok {
							return true
						}
					}
				}
			}
		}
	case "hostname":
		for h := host; h != ""; {
			if _, ok := l.set[h]; ok {
				return true
			}
			i := strings.IndexByte(h, '.')
			if i < 0 {
				break
			}
			h = h[i+1:]
		}
	case "substring":
		for _, t := range texts {
			for _, n := range l.lens {
				for i := 0; i+n <= len(t); i++ {
					if _, ok := l.subs[t[i:i+n]]; ok {
						return true
					}
				}
			}
		}
	case "regex":
		for _, re := range l.res {
			if re.MatchString(raw) {
				return true
			}
		}
	}
	return false
}
