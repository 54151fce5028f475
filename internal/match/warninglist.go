package match

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math/bits"
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
//
// The entries of all lists are merged into one structure per way of
// comparing (equality, parent domains, substrings, CIDR containment), each
// entry mapped to the set of lists holding it: a value costs one probe per
// structure however many lists are loaded, where a loop over the lists
// would probe each list's own.
type Warninglists struct {
	lists []*warninglist

	strs  map[string]listSet // string lists' entries, lower-case, no trailing dot
	dots  bool               // some string list has ".example.com" entries: suffixes
	hosts map[string]listSet // hostname lists' entries, without a leading dot
	subs  map[string]listSet // substring lists' entries
	// grams indexes subs by their first gram bytes, gram being the length of
	// the shortest: a text is probed once per position, not once per
	// position and entry length. pairs has a bit for the first two bytes of
	// every entry, so that most positions are passed over without a probe.
	grams map[string][]string
	gram  int
	pairs *[1 << 16 / 64]uint64
	// cidr holds the blocks of the CIDR lists, each with the lists of every
	// block that covers it (its own included): the longest match for a value
	// is then all the lists that contain it.
	cidr  *bart.Table[listSet]
	regex []int // the regex lists, by index
}

// warninglist is what one loaded list keeps of its own; its entries are in
// the merged structures of Warninglists.
type warninglist struct {
	name  string
	attrs []string // matching_attributes: MISP attribute types the list applies to
	res   []*regexp.Regexp
}

// listSet is a set of lists, by their index in Warninglists.lists. Sets are
// shared between entries and never modified once stored: with returns a
// new one.
type listSet []uint64

// with returns s with list i added.
func (s listSet) with(i int) listSet {
	if s.has(i) {
		return s
	}
	out := make(listSet, max(len(s), i/64+1))
	copy(out, s)
	out[i/64] |= 1 << (i % 64)
	return out
}

func (s listSet) has(i int) bool { return i/64 < len(s) && s[i/64]&(1<<(i%64)) != 0 }

// union adds the lists of o to s, which the caller owns.
func (s listSet) union(o listSet) listSet {
	for len(s) < len(o) {
		s = append(s, 0)
	}
	for j, x := range o {
		s[j] |= x
	}
	return s
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
// or has a malformed CIDR entry or a regular expression Go cannot compile;
// such a list adds nothing.
func (w *Warninglists) Add(data []byte) error {
	var f warninglistFile
	if err := json.Unmarshal(data, &f); err != nil {
		return hub.FieldError("warninglist", "not valid JSON: %v", err)
	}
	if f.Name == "" {
		return hub.FieldError("name", "missing")
	}
	l := &warninglist{name: f.Name}
	for _, a := range f.MatchingAttributes {
		l.attrs = append(l.attrs, strings.ToLower(a))
	}
	// Every entry is checked before any is merged: a refused list must leave
	// no trace under the index the next list will take.
	var (
		blocks []netip.Prefix
		vals   []string
	)
	switch f.Type {
	case "cidr":
		for _, v := range f.List {
			p, err := parseIPOrPrefix(strings.TrimSpace(v))
			if err != nil {
				return hub.FieldError("list", "%q is not a CIDR block", clip(v))
			}
			blocks = append(blocks, p)
		}
	case "string", "hostname", "substring":
		for _, v := range f.List {
			if v = normWL(v); f.Type == "hostname" {
				v = strings.TrimPrefix(v, ".")
			}
			if v != "" {
				vals = append(vals, v)
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
	i := len(w.lists)
	w.lists = append(w.lists, l)
	one := listSet(nil).with(i) // shared by every entry held by this list alone
	for _, p := range blocks {
		w.addBlock(p, i, one)
	}
	switch f.Type {
	case "string":
		w.strs = addEntries(w.strs, vals, i, one)
		for _, v := range vals {
			w.dots = w.dots || strings.HasPrefix(v, ".")
		}
	case "hostname":
		w.hosts = addEntries(w.hosts, vals, i, one)
	case "substring":
		w.subs = addEntries(w.subs, vals, i, one)
		w.indexSubs()
	case "regex":
		w.regex = append(w.regex, i)
	}
	return nil
}

// addEntries records in m that list i (whose singleton set is one) holds
// vals.
func addEntries(m map[string]listSet, vals []string, i int, one listSet) map[string]listSet {
	if m == nil {
		m = make(map[string]listSet, len(vals))
	}
	for _, v := range vals {
		if s, ok := m[v]; ok {
			m[v] = s.with(i)
		} else {
			m[v] = one
		}
	}
	return m
}

// addBlock records that list i (whose singleton set is one) holds block p,
// keeping every block's set the lists of the blocks covering it.
func (w *Warninglists) addBlock(p netip.Prefix, i int, one listSet) {
	if w.cidr == nil {
		w.cidr = new(bart.Table[listSet])
	}
	// p, if already there, or else the longest block covering it, holds the
	// lists that cover p so far.
	if s, ok := w.cidr.LookupPrefix(p); ok {
		w.cidr.Insert(p, s.with(i))
	} else {
		w.cidr.Insert(p, one)
	}
	var inside []netip.Prefix
	for q, s := range w.cidr.Subnets(p) {
		if !s.has(i) {
			inside = append(inside, q)
		}
	}
	for _, q := range inside {
		w.cidr.Modify(q, func(s listSet, _ bool) (listSet, bool) { return s.with(i), false })
	}
}

// indexSubs rebuilds grams from subs.
func (w *Warninglists) indexSubs() {
	w.gram = 0
	for v := range w.subs {
		if w.gram == 0 || len(v) < w.gram {
			w.gram = len(v)
		}
	}
	w.grams = make(map[string][]string, len(w.subs))
	w.pairs = new([1 << 16 / 64]uint64)
	for v := range w.subs {
		w.grams[v[:w.gram]] = append(w.grams[v[:w.gram]], v)
		if w.gram >= 2 {
			w.pairs[pair(v, 0)/64] |= 1 << (pair(v, 0) % 64)
		}
	}
}

// pair returns the two bytes of s at i as one number.
func pair(s string, i int) int { return int(s[i])<<8 | int(s[i+1]) }

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

// The MISP attribute types that a value of each kind stands for; a list
// applies to a value if it names one of them. An e-mail address stands for
// its domain too.
var (
	ipAttrs     = []string{"ip-src", "ip-dst", "domain|ip", "ip-src|port", "ip-dst|port"}
	domainAttrs = []string{"domain", "hostname", "domain|ip"}
	urlAttrs    = []string{"url", "uri"}
	emailAttrs  = []string{"email", "email-src", "email-dst", "target-email", "whois-registrant-email", "domain"}
	md5Attrs    = []string{"md5", "filename|md5"}
	sha1Attrs   = []string{"sha1", "filename|sha1"}
	sha256Attrs = []string{"sha256", "filename|sha256"}
	sha512Attrs = []string{"sha512", "filename|sha512"}
	otherAttrs  = []string{"ssdeep", "filename|ssdeep", "tlsh"}
)

// attrsFor returns the attribute types of a value of kind k whose canonical
// text is hexLen long. The slice is shared: callers must not modify it.
func attrsFor(k kind, hexLen int) []string {
	switch k {
	case kIPv4, kIPv6, kPrefix4, kPrefix6:
		return ipAttrs
	case kDomain:
		return domainAttrs
	case kURL:
		return urlAttrs
	case kEmail:
		return emailAttrs
	case kHash:
		switch hexLen {
		case 32:
			return md5Attrs
		case 40:
			return sha1Attrs
		case 64:
			return sha256Attrs
		case 128:
			return sha512Attrs
		}
	case kOtherHash:
		return otherAttrs
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
	q := newListQuery(typ, value)
	var buf [2]uint64
	found := w.lookup(listSet(buf[:0]), q)
	for _, i := range w.regex {
		if l := w.lists[i]; l.applies(&q) && slices.ContainsFunc(l.res, func(re *regexp.Regexp) bool { return re.MatchString(q.value) }) {
			found = found.union(listSet(nil).with(i))
		}
	}
	var out []string
	for j, x := range found {
		for ; x != 0; x &= x - 1 {
			if l := w.lists[j*64+bits.TrailingZeros64(x)]; l.applies(&q) {
				out = append(out, l.name)
			}
		}
	}
	return out
}

// listQuery is a value in the forms the lists compare.
type listQuery struct {
	value string // as given, without surrounding white space: for regex lists
	// typ (the type asked about, lower case) and attrs (the MISP attribute
	// types of the value's kind) are the types it stands for; both empty:
	// any. attrs is attrsFor's: not to be modified.
	typ   string
	attrs []string
	texts [2]string    // canonical forms to compare; "" for none
	host  string       // the domain part of a URL or e-mail address, or the domain itself
	pfx   netip.Prefix // the address or block it is, if any
}

// newListQuery reads value as a query. It allocates nothing for a value
// already in canonical form, such as an export's (a million of them are
// asked about at once); the canonical text of any other is a new string.
func newListQuery(typ, value string) listQuery {
	q := listQuery{value: strings.TrimSpace(value), typ: strings.ToLower(typ)}
	var buf, tbuf [64]byte
	key, err := appendKey(buf[:0], typ, q.value)
	if err != nil {
		q.texts[0] = strings.ToLower(q.value)
		return q
	}
	k := keyKind(key)
	text := q.value
	if t := appendKeyText(tbuf[:0], key); string(t) != text {
		text = string(t)
	}
	q.attrs = attrsFor(k, len(text))
	q.texts[0] = text
	switch k {
	case kIPv4, kIPv6, kPrefix4, kPrefix6:
		q.pfx = keyPrefix(key)
	case kDomain:
		q.host = text
	case kEmail:
		q.host = text[strings.LastIndexByte(text, '@')+1:]
	case kURL:
		q.host = urlHost(text)
		// Only a host that starts with a digit or holds a colon can be an address: asking
		// ParseAddr about a name would allocate its error.
		if h := strings.Trim(q.host, "[]"); h != "" && (h[0] >= '0' && h[0] <= '9' || strings.Contains(h, ":")) {
			if a, err := netip.ParseAddr(h); err == nil {
				q.pfx, q.host = netip.PrefixFrom(a, a.BitLen()), ""
			}
		}
	}
	if q.host != text {
		q.texts[1] = q.host
	}
	return q
}

// applies reports whether l applies to a value standing for the types of q.
func (l *warninglist) applies(q *listQuery) bool {
	return q.typ == "" && q.attrs == nil || len(l.attrs) == 0 ||
		q.typ != "" && slices.Contains(l.attrs, q.typ) || intersects(l.attrs, q.attrs)
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

// lookup adds to found the lists other than regex lists that hold q, and
// returns found.
func (w *Warninglists) lookup(found listSet, q listQuery) listSet {
	if q.pfx.IsValid() && w.cidr != nil {
		var s listSet
		if q.pfx.IsSingleIP() {
			s, _ = w.cidr.Lookup(q.pfx.Addr())
		} else {
			s, _ = w.cidr.LookupPrefix(q.pfx)
		}
		found = found.union(s)
	}
	for _, t := range q.texts {
		if t == "" {
			continue
		}
		found = found.union(w.strs[t])
		for i := 0; w.dots && i < len(t); i++ {
			if t[i] == '.' {
				found = found.union(w.strs[t[i:]])
			}
		}
		for i := 0; w.gram > 0 && i+w.gram <= len(t); i++ {
			if w.gram >= 2 && w.pairs[pair(t, i)/64]&(1<<(pair(t, i)%64)) == 0 {
				continue
			}
			for _, v := range w.grams[t[i:i+w.gram]] {
				if strings.HasPrefix(t[i:], v) {
					found = found.union(w.subs[v])
				}
			}
		}
	}
	for h := q.host; h != ""; {
		found = found.union(w.hosts[h])
		i := strings.IndexByte(h, '.')
		if i < 0 {
			break
		}
		h = h[i+1:]
	}
	return found
}
