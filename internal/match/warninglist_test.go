package match

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gaissmai/bart"
)

func loadTestWarninglists(t testing.TB) *Warninglists {
	t.Helper()
	w, err := LoadWarninglists(os.DirFS("../warninglist"), "lists")
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// testListFiles returns the lists loadTestWarninglists loads, in its order.
func testListFiles(t *testing.T) []warninglistFile {
	t.Helper()
	paths, _ := filepath.Glob("../warninglist/lists/*.json")
	var out []warninglistFile
	for _, p := range paths {
		if filepath.Base(p) == "schema.json" {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var f warninglistFile
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, f)
	}
	return out
}

func TestWarninglistsCheck(t *testing.T) {
	w := loadTestWarninglists(t)
	for _, tt := range []struct {
		typ, value string
		want       []string // lists that must be named
		not        []string // lists that must not be named
	}{
		{"ipv4-addr", "8.8.8.8", []string{"List of known IPv4 public DNS resolvers"}, nil},
		{"", "192.168.1.20", []string{"List of RFC 1918 CIDR blocks", "List of RFC 5735 CIDR blocks"}, nil},
		{"", "10.0.0.0/16", []string{"List of RFC 1918 CIDR blocks"}, nil},
		{"", "224.0.0.251", []string{"List of RFC 5771 multicast CIDR blocks"}, nil},
		{"", "198.18.0.1", []string{"List of RFC 5735 CIDR blocks"}, []string{"List of RFC 1918 CIDR blocks"}},
		{"domain-name", "google.com", []string{"Top 1000 websites from Cisco Umbrella", "List of known google domains"}, nil},
		{"domain-name", "mail.google.com", []string{"List of known google domains"}, nil},
		{"domain-name", "Login.Live.COM.", []string{"List of known microsoft domains"}, nil},
		{"url", "https://bit.ly/abc", []string{"List of known URL Shorteners domains"}, nil},
		{"domain-name", "x.bit.ly", []string{"List of known URL Shorteners domains"}, nil},
		{"md5", "D41D8CD98F00B204E9800998ECF8427E", []string{"List of known hashes for empty files"}, nil},
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", []string{"List of known hashes for empty files"}, nil},
		{"domain-name", "com", []string{"TLDs as known by IANA"}, nil},
		{"email-addr", "abuse@example.org", []string{"Common contact e-mail addresses"}, nil},
		{"domain-name", "malwr.com", []string{"List of known domains used by automated malware analysis services & security vendors"}, nil},
		{"domain-name", "evil-unlisted-domain.example", nil, []string{"List of known google domains", "TLDs as known by IANA"}},
		{"ipv4-addr", "45.33.32.156", nil, []string{"List of known IPv4 public DNS resolvers"}},
	} {
		got := w.Check(tt.typ, tt.value)
		for _, n := range tt.want {
			if !slices.Contains(got, n) {
				t.Errorf("Check(%q, %q) = %q; want it to name %q", tt.typ, tt.value, got, n)
			}
		}
		for _, n := range tt.not {
			if slices.Contains(got, n) {
				t.Errorf("Check(%q, %q) = %q; want it not to name %q", tt.typ, tt.value, got, n)
			}
		}
	}
	if got := w.Check("ipv4-addr", "45.33.32.156"); got != nil {
		t.Errorf("Check of an unlisted address = %q; want nothing", got)
	}
}

// TestWarninglistsKnownBenign checks that every value of every non-regex
// list in testdata is flagged by its own list, in the form a feed would
// carry it.
func TestWarninglistsKnownBenign(t *testing.T) {
	w := loadTestWarninglists(t)
	total := 0
	for _, l := range testListFiles(t) {
		if l.Type == "regex" {
			continue
		}
		missed := 0
		for _, v := range l.List {
			typ, q := benignQuery(l, v)
			total++
			if !slices.Contains(w.Check(typ, q), l.Name) {
				if missed++; missed <= 5 {
					t.Errorf("%s: Check(%q, %q) does not name the list", l.Name, typ, q)
				}
			}
		}
		if missed > 0 {
			t.Errorf("%s: %d of %d values not flagged", l.Name, missed, len(l.List))
		}
	}
	t.Logf("%d known-benign values checked", total)
}

// benignQuery turns a list value into a query: a CIDR block's first address,
// a ".suffix" entry under a host name, a substring inside a longer name.
func benignQuery(l warninglistFile, v string) (typ, q string) {
	if len(l.MatchingAttributes) > 0 {
		typ = l.MatchingAttributes[0]
	}
	switch l.Type {
	case "cidr":
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return typ, v
		}
		return typ, p.Masked().Addr().String()
	case "substring":
		return "", "x" + v + "x"
	}
	if strings.HasPrefix(v, ".") {
		return typ, "www" + v
	}
	return typ, v
}

func BenchmarkWarninglistsCheck(b *testing.B) {
	w := loadTestWarninglists(b)
	qs := []Query{{"", "8.8.8.8"}, {"", "evil.example"}, {"", "https://evil.example/x"}, {"", "d41d8cd98f00b204e9800998ecf8427e"}}
	for i := 0; b.Loop(); i++ {
		q := qs[i%len(qs)]
		w.Check(q.Type, q.Value)
	}
}

// TestWarninglistsMergedAgreeWithPerList checks the merged structures of
// Warninglists against the plain way of asking every list in turn (refList,
// below) on the real lists: every entry of every list, in the forms a
// feed carries it and in near misses, must be named by the same lists in
// the same order.
func TestWarninglistsMergedAgreeWithPerList(t *testing.T) {
	w := loadTestWarninglists(t)
	files := testListFiles(t)
	var refs []*refList
	for _, f := range files {
		refs = append(refs, newRefList(t, f))
	}
	check := func(typ, value string) {
		t.Helper()
		checkPerList(t, w, refs, typ, value)
	}
	forms := []struct {
		name string
		form func(v string) string
	}{
		{"as listed", func(v string) string { return v }},
		{"upper case, trailing dot", func(v string) string { return strings.ToUpper(v) + "." }},
		{"a subdomain", func(v string) string { return "www." + strings.TrimPrefix(v, ".") }},
		{"a parent", func(v string) string { _, p, _ := strings.Cut(strings.TrimPrefix(v, "."), "."); return p }},
		{"inside a longer name", func(v string) string { return "x" + v + "x.example" }},
		{"a URL", func(v string) string { return "https://" + strings.TrimPrefix(v, ".") + "/path?q=1" }},
		{"an e-mail address", func(v string) string { return "abuse@" + strings.TrimPrefix(v, ".") }},
		{"the first address", func(v string) string { return blockAddr(v, false, 0) }},
		{"the last address", func(v string) string { return blockAddr(v, true, 0) }},
		{"after the last address", func(v string) string { return blockAddr(v, true, 1) }},
		{"before the first address", func(v string) string { return blockAddr(v, false, -1) }},
		{"a block one bit wider", func(v string) string { return blockResized(v, -1) }},
		{"a block one bit narrower", func(v string) string { return blockResized(v, 1) }},
		{"an address in a URL", func(v string) string { return "http://" + blockAddr(v, false, 0) + ":8080/" }},
	}
	// Each value is asked untyped, as the list's own first attribute type,
	// and as one of other types in turn.
	others := []string{"ipv4-addr", "domain-name", "url", "email-addr", "file", "domain|ip", "sha256"}
	n := 0
	for _, f := range files {
		step := max(1, len(f.List)/2000) // the 62,745 public resolvers sampled
		for j := 0; j < len(f.List); j += step {
			typs := []string{"", others[j%len(others)]}
			if len(f.MatchingAttributes) > 0 {
				typs = append(typs, f.MatchingAttributes[j%len(f.MatchingAttributes)])
			}
			for _, fm := range forms {
				if value := fm.form(f.List[j]); value != "" {
					for _, typ := range typs {
						check(typ, value)
						n++
					}
				}
			}
		}
	}
	for _, c := range []struct{ typ, value string }{
		{"", "security@example.org"}, {"email-src", "NOC@Example.COM"}, {"", "soc@nodot"},
		{"", "not a value at all"}, {"", "  8.8.8.8  "}, {"", "::ffff:8.8.4.4"}, {"", "2001:4860:4860::8888"},
		{"", "0.0.0.0/0"}, {"", "::/0"}, {"", "224.0.0.0/3"}, {"", "https://[2001:db8::1]/x"},
		{"md5", "not-hex"}, {"sha224", "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f"},
		{"", "https://user@www.google.com:443/"}, {"url", "https://mcafee.com.evil.example/"}, {"", "com"},
	} {
		check(c.typ, c.value)
		n++
	}
	t.Logf("%d queries asked both ways", n)
}

// TestWarninglistsManyOverlapping checks the merged structures against the
// lists one by one where the real lists do not reach: more lists than one
// word of a set holds, and blocks inside blocks of other lists, added
// narrow first and wide first.
func TestWarninglistsManyOverlapping(t *testing.T) {
	var (
		w    Warninglists
		refs []*refList
	)
	for k := range 70 {
		f := warninglistFile{Name: fmt.Sprintf("list %d", k), Type: "cidr"}
		switch k % 5 {
		case 0:
			f.List = []string{fmt.Sprintf("10.0.0.0/%d", 8+k/5), "2001:db8::/32"}
		case 1:
			f.List = []string{fmt.Sprintf("10.0.0.0/%d", 30-k/5), "192.0.2.1"}
		case 2:
			f.Type, f.List = "string", []string{"shared.example", fmt.Sprintf(".sub%d.example", k%3)}
		case 3:
			f.Type, f.List = "hostname", []string{"shared.example"}
			f.MatchingAttributes = []string{"url"}
		case 4:
			f.Type, f.List = "substring", []string{fmt.Sprintf("ared%d", k%2), "hare"}
		}
		data, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Add(data); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, newRefList(t, f))
	}
	for _, c := range []struct{ typ, value string }{
		{"", "10.0.0.1"}, {"", "10.0.0.0/12"}, {"", "10.0.0.0/29"}, {"", "10.128.0.1"}, {"", "192.0.2.1"},
		{"", "2001:db8::1"}, {"", "shared.example"}, {"url", "https://a.b.shared.example/"},
		{"", "x.sub1.example"}, {"", "https://shared0.example/"}, {"", "shared1.example"}, {"", "11.0.0.1"},
	} {
		checkPerList(t, &w, refs, c.typ, c.value)
	}
	if got := w.Check("", "10.0.0.1"); len(got) < 20 {
		t.Errorf("Check of an address inside 28 lists' blocks = %q", got)
	}
}

// checkPerList fails t unless w.Check(typ, value) names the lists that
// asking refs one by one names, in the same order.
func checkPerList(t *testing.T, w *Warninglists, refs []*refList, typ, value string) {
	t.Helper()
	q := newListQuery(typ, value)
	// The types the value stands for: the one asked about and those of its kind; none: any.
	types := q.attrs
	if q.typ != "" {
		types = append([]string{q.typ}, q.attrs...)
	}
	var want []string
	for _, l := range refs {
		if (types == nil || len(l.attrs) == 0 || intersects(l.attrs, types)) && l.contains(q) {
			want = append(want, l.name)
		}
	}
	if got := w.Check(typ, value); !slices.Equal(got, want) {
		t.Errorf("Check(%q, %q) = %q; the lists one by one say %q", typ, value, got, want)
	}
}

// blockAddr returns, for a CIDR entry v, its first or last address moved by
// off, or "" if v is no block.
func blockAddr(v string, last bool, off int) string {
	p, err := parseIPOrPrefix(strings.TrimSpace(v))
	if err != nil {
		return ""
	}
	a := p.Addr()
	if last {
		b := a.AsSlice()
		for i := p.Bits(); i < len(b)*8; i++ {
			b[i/8] |= 0x80 >> (i % 8)
		}
		a, _ = netip.AddrFromSlice(b)
	}
	for ; off > 0; off-- {
		a = a.Next()
	}
	for ; off < 0; off++ {
		a = a.Prev()
	}
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// blockResized returns a CIDR entry v with its prefix length changed by d,
// or "" if v is no block or the length would leave range.
func blockResized(v string, d int) string {
	p, err := parseIPOrPrefix(strings.TrimSpace(v))
	if err != nil || p.Bits()+d < 0 || p.Bits()+d > p.Addr().BitLen() {
		return ""
	}
	return netip.PrefixFrom(p.Addr(), p.Bits()+d).Masked().String()
}

// refList is one warninglist asked on its own, the way Warninglists did
// before it merged the lists: the reference the merged structures are
// tested against.
type refList struct {
	name  string
	typ   string
	attrs []string
	cidr  *bart.Lite
	set   map[string]bool
	dots  bool
	subs  map[string]bool
	lens  []int
	res   []*regexp.Regexp
}

func newRefList(t *testing.T, f warninglistFile) *refList {
	l := &refList{name: f.Name, typ: f.Type, cidr: new(bart.Lite), set: map[string]bool{}, subs: map[string]bool{}}
	for _, a := range f.MatchingAttributes {
		l.attrs = append(l.attrs, strings.ToLower(a))
	}
	for _, v := range f.List {
		switch n := normWL(v); f.Type {
		case "cidr":
			p, err := parseIPOrPrefix(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			l.cidr.Insert(p)
		case "string":
			l.set[n] = n != ""
			l.dots = l.dots || strings.HasPrefix(n, ".")
		case "hostname":
			n = strings.TrimPrefix(n, ".")
			l.set[n] = n != ""
		case "substring":
			if n != "" {
				l.subs[n] = true
				if !slices.Contains(l.lens, len(n)) {
					l.lens = append(l.lens, len(n))
				}
			}
		case "regex":
			re, err := compileMISPRegex(v)
			if err != nil {
				t.Fatal(err)
			}
			l.res = append(l.res, re)
		}
	}
	return l
}

func (l *refList) contains(q listQuery) bool {
	switch l.typ {
	case "cidr":
		if !q.pfx.IsValid() {
			return false
		}
		if q.pfx.IsSingleIP() {
			return l.cidr.Contains(q.pfx.Addr())
		}
		return l.cidr.LookupPrefix(q.pfx)
	case "string":
		for _, t := range q.texts {
			if l.set[t] {
				return true
			}
			for i := 0; l.dots && i < len(t); i++ {
				if t[i] == '.' && l.set[t[i:]] {
					return true
				}
			}
		}
	case "hostname":
		for h := q.host; h != ""; {
			if l.set[h] {
				return true
			}
			i := strings.IndexByte(h, '.')
			if i < 0 {
				break
			}
			h = h[i+1:]
		}
	case "substring":
		for _, t := range q.texts {
			for _, n := range l.lens {
				for i := 0; i+n <= len(t); i++ {
					if l.subs[t[i:i+n]] {
						return true
					}
				}
			}
		}
	case "regex":
		for _, re := range l.res {
			if re.MatchString(q.value) {
				return true
			}
		}
	}
	return false
}

// TestListQueryURLHost: the host of a URL is compared as an address when it is one, and as a
// name otherwise.
func TestListQueryURLHost(t *testing.T) {
	for _, tt := range []struct{ url, pfx, host string }{
		{"http://192.168.1.20:8080/x", "192.168.1.20/32", ""},
		{"http://[2001:db8::1]/x", "2001:db8::1/128", ""},
		{"https://evil-host.com/x", "invalid Prefix", "evil-host.com"},
		{"https://1st.example/x", "invalid Prefix", "1st.example"},
	} {
		q := newListQuery("url", tt.url)
		if q.pfx.String() != tt.pfx || q.host != tt.host {
			t.Errorf("newListQuery(url, %q): address %v, host %q; want %v, %q", tt.url, q.pfx, q.host, tt.pfx, tt.host)
		}
	}
}

// TestWarninglistsCheckAllocs: asking about a value in canonical form that no list holds
// allocates nothing, which is what an export asking about a million values relies on.
func TestWarninglistsCheckAllocs(t *testing.T) {
	w := loadTestWarninglists(t)
	for _, q := range []Query{
		{"ipv4-addr", "45.83.64.7"}, {"ipv6-addr", "2a01:4f8::7"}, {"ipv4-addr", "45.83.64.0/24"},
		{"domain-name", "evil-host.com"}, {"url", "https://evil-host.com/x"}, {"email-addr", "a@evil-host.com"},
		{"file", "0ddd" + strings.Repeat("a", 60)}, {"file", "0ddd" + strings.Repeat("a", 28)},
	} {
		v, err := Canonical(q.Type, q.Value)
		if err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { w.Check(q.Type, v) }); n != 0 {
			t.Errorf("Check(%q, %q) allocates %v times; want 0", q.Type, v, n)
		}
	}
}
