package export_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The checkers below stand in for tools this machine lacks (Debian 12 packages neither
// Suricata nor Snort, and ipset restore needs a kernel it may not touch): each reads a file as
// the tool's grammar says and refuses what the tool would. They run over every golden file, so
// what the goldens pin down is also checked for form.

// ruleOption is one name[:value] option of an IDS rule.
type ruleOption struct{ name, value string }

// parseRule reads one Suricata or Snort 3 rule: a header of seven fields (action, protocol,
// source, source port, direction, destination, destination port) and options in parentheses,
// each name[:value] ended by ';', where quoted strings may hold \" \; \\ escapes and a raw
// ';' ends an option only outside quotes.
func parseRule(line string) (header []string, opts []ruleOption, err error) {
	line = strings.TrimSpace(line)
	open := strings.IndexByte(line, '(')
	if open < 0 || !strings.HasSuffix(line, ")") {
		return nil, nil, fmt.Errorf("no (options)")
	}
	header = strings.Fields(line[:open])
	if len(header) != 7 {
		return nil, nil, fmt.Errorf("header has %d fields, want 7", len(header))
	}
	body := strings.TrimSpace(line[open+1 : len(line)-1])
	var cur strings.Builder
	quoted, escaped := false, false
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case escaped:
			if c != '"' && c != ';' && c != '\\' {
				return nil, nil, fmt.Errorf("bad escape \\%c", c)
			}
			escaped = false
		case c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == ';' && !quoted:
			o := strings.TrimSpace(cur.String())
			name, value, _ := strings.Cut(o, ":")
			opts = append(opts, ruleOption{strings.TrimSpace(name), strings.TrimSpace(value)})
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	if quoted || escaped || strings.TrimSpace(cur.String()) != "" {
		return nil, nil, fmt.Errorf("options do not end with ';' outside quotes")
	}
	return header, opts, nil
}

// checkContent checks a content string: quoted, and its |..| segments even hex pairs.
func checkContent(v string) error {
	s, _, _ := strings.Cut(v, `",`) // Snort 3 puts modifiers after a comma
	s = strings.TrimSuffix(s, `"`)
	if !strings.HasPrefix(v, `"`) {
		return fmt.Errorf("content %s is not quoted", v)
	}
	s = s[1:]
	parts := strings.Split(s, "|")
	if len(parts)%2 == 0 {
		return fmt.Errorf("content %s has an unclosed |hex|", v)
	}
	for i := 1; i < len(parts); i += 2 {
		for _, h := range strings.Fields(parts[i]) {
			if _, err := strconv.ParseUint(h, 16, 8); err != nil || len(h)%2 != 0 {
				return fmt.Errorf("content %s: bad hex %q", v, h)
			}
		}
	}
	return nil
}

var ruleAddrOK = func(s string) bool {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if s == "any" || s == "$HOME_NET" || s == "$EXTERNAL_NET" {
		return true
	}
	if _, err := netip.ParsePrefix(s); err == nil {
		return true
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

// checkRules checks a rules file: every rule parses, its header is sound, it has msg, sid and
// rev, names its indicator in metadata, and no sid repeats. Suricata's modifiers must follow a
// content (dotprefix precede one), and every sticky buffer must be followed by a content.
func checkRules(name string, data []byte, suricata bool) (problems []string) {
	sids := map[string]bool{}
	for n, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fail := func(format string, args ...any) {
			problems = append(problems, fmt.Sprintf("%s:%d: %s\n%s", name, n+1, fmt.Sprintf(format, args...), line))
		}
		h, opts, err := parseRule(line)
		if err != nil {
			fail("%v", err)
			continue
		}
		switch {
		case h[0] != "alert":
			fail("action %q", h[0])
		case !slices.Contains([]string{"ip", "tcp", "udp", "dns", "tls", "http"}, h[1]):
			fail("protocol %q", h[1])
		case !ruleAddrOK(h[2]) || !ruleAddrOK(h[5]):
			fail("addresses %q %q", h[2], h[5])
		case h[4] != "->" && h[4] != "<>":
			fail("direction %q", h[4])
		}
		have := map[string]string{}
		lastContent := -1
		for i, o := range opts {
			have[o.name] = o.value
			switch o.name {
			case "content":
				if err := checkContent(o.value); err != nil {
					fail("%v", err)
				}
				lastContent = i
			case "nocase", "startswith", "endswith":
				if suricata && lastContent != i-1 && !(i >= 2 && lastContent == i-2) && !(i >= 3 && lastContent == i-3) {
					fail("%s does not follow a content", o.name)
				}
			case "dotprefix", "dns.query", "tls.sni", "http.host", "http.uri", "http_uri":
				if i+1 >= len(opts) || (opts[i+1].name != "content" && opts[i+1].name != "dotprefix") {
					fail("%s is not followed by a content", o.name)
				}
			case "http_header":
				if o.value != "field host" {
					fail("http_header:%s", o.value)
				}
			}
		}
		if !strings.HasPrefix(have["msg"], `"`) || !strings.HasSuffix(have["msg"], `"`) {
			fail("msg %q", have["msg"])
		}
		sid, err := strconv.ParseUint(have["sid"], 10, 32)
		if err != nil || sid < 1_000_000 {
			fail("sid %q: a local sid below 2^32", have["sid"])
		}
		if sids[have["sid"]] {
			fail("sid %s repeats", have["sid"])
		}
		sids[have["sid"]] = true
		if _, err := strconv.ParseUint(have["rev"], 10, 32); err != nil {
			fail("rev %q", have["rev"])
		}
		if !strings.HasPrefix(have["metadata"], "cshub_id indicator--") {
			fail("metadata %q does not name the indicator", have["metadata"])
		}
	}
	return problems
}

var zeekTypes = []string{"Intel::ADDR", "Intel::SUBNET", "Intel::DOMAIN", "Intel::URL", "Intel::EMAIL", "Intel::FILE_HASH"}

// checkZeek checks an Intel framework file against the framework's column rules: a #fields
// header naming indicator, indicator_type and meta.source; as many tab-separated columns on
// every line; no empty column (Zeek writes "-"); a known type whose indicator reads as that type
// (URLs without their scheme, as Zeek compares them).
func checkZeek(name string, data []byte) (problems []string) {
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	head, ok := strings.CutPrefix(lines[0], "#fields\t")
	fields := strings.Split(head, "\t")
	if !ok || !slices.Contains(fields, "indicator") || !slices.Contains(fields, "indicator_type") || !slices.Contains(fields, "meta.source") {
		bad("%s: header %q", name, lines[0])
		return problems
	}
	for n, line := range lines[1:] {
		cols := strings.Split(line, "\t")
		if len(cols) != len(fields) {
			bad("%s:%d: %d columns, header has %d", name, n+2, len(cols), len(fields))
			continue
		}
		if slices.Contains(cols, "") {
			bad("%s:%d: an empty column", name, n+2)
		}
		ind, typ := cols[slices.Index(fields, "indicator")], cols[slices.Index(fields, "indicator_type")]
		var err error
		switch typ {
		case "Intel::ADDR":
			_, err = netip.ParseAddr(ind)
		case "Intel::SUBNET":
			_, err = netip.ParsePrefix(ind)
		case "Intel::URL":
			if strings.Contains(ind, "://") {
				err = fmt.Errorf("URL with a scheme")
			}
		case "Intel::DOMAIN", "Intel::EMAIL", "Intel::FILE_HASH":
			if strings.ContainsAny(ind, " /") {
				err = fmt.Errorf("space or slash")
			}
		default:
			err = fmt.Errorf("unknown type %q", typ)
		}
		if err != nil {
			bad("%s:%d: %s %q: %v", name, n+2, typ, ind, err)
		}
	}
	return problems
}

// checkIPSet reads an `ipset restore` file as ipset would: create before use, a hash:net set
// of family inet or inet6 with room for what is added, elements of that family, no element
// added twice, and set names of at most 31 characters.
func checkIPSet(name string, data []byte) (problems []string) {
	type set struct {
		v6      bool
		maxelem int
		elems   map[netip.Prefix]bool
	}
	sets := map[string]*set{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		bad := func(format string, args ...any) {
			problems = append(problems, fmt.Sprintf("%s:%d: %s", name, n, fmt.Sprintf(format, args...)))
		}
		if len(f) < 2 || len(f[1]) > 31 {
			bad("command %q", sc.Text())
			continue
		}
		s := sets[f[1]]
		switch f[0] {
		case "create":
			if len(f) < 3 || f[2] != "hash:net" {
				bad("set type %v", f)
				continue
			}
			s = &set{elems: map[netip.Prefix]bool{}}
			for i := 3; i+1 < len(f); i += 2 {
				switch f[i] {
				case "family":
					s.v6 = f[i+1] == "inet6"
					if f[i+1] != "inet" && f[i+1] != "inet6" {
						bad("family %q", f[i+1])
					}
				case "maxelem":
					s.maxelem, _ = strconv.Atoi(f[i+1])
				case "hashsize":
				default:
					bad("option %q", f[i])
				}
			}
			sets[f[1]] = s
		case "flush":
			if s == nil {
				bad("flush of unknown set %s", f[1])
			}
		case "add":
			if s == nil || len(f) != 3 {
				bad("add %v", f)
				continue
			}
			p, err := netip.ParsePrefix(f[2])
			if err != nil {
				a, aerr := netip.ParseAddr(f[2])
				if aerr != nil {
					bad("element %q", f[2])
					continue
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			if p.Addr().Is6() != s.v6 {
				bad("element %s of the other family", f[2])
			}
			if s.elems[p] {
				bad("element %s added twice", f[2])
			}
			s.elems[p] = true
			if len(s.elems) > s.maxelem {
				bad("more than maxelem %d", s.maxelem)
			}
		default:
			bad("command %q", f[0])
		}
	}
	return problems
}

// TestFormsOfGoldenFiles runs the checkers over every golden file of the rules, Zeek and ipset
// formats.
func TestFormsOfGoldenFiles(t *testing.T) {
	for _, tc := range []struct {
		format string
		check  func(name string, data []byte) []string
	}{
		{"suricata", func(n string, d []byte) []string { return checkRules(n, d, true) }},
		{"snort", func(n string, d []byte) []string { return checkRules(n, d, false) }},
		{"zeek", checkZeek},
		{"ipset", checkIPSet},
	} {
		files, err := filepath.Glob(filepath.Join("testdata", "golden", tc.format, "*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no golden files (%v)", tc.format, err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tc.check(f, data) {
				t.Error(p)
			}
		}
	}
}

// TestCheckersRefuse makes sure the checkers are not blind: each refuses a broken file.
func TestCheckersRefuse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		check func(name string, data []byte) []string
		data  string
	}{
		{"unescaped quote", func(n string, d []byte) []string { return checkRules(n, d, true) }, `alert ip any any <> 1.2.3.4 any (msg:"a"b"; metadata:cshub_id indicator--x; sid:1000001; rev:1;)`},
		{"repeated sid", func(n string, d []byte) []string { return checkRules(n, d, true) }, "alert ip any any <> 1.2.3.4 any (msg:\"a\"; metadata:cshub_id indicator--x; sid:1000001; rev:1;)\nalert ip any any <> 1.2.3.5 any (msg:\"a\"; metadata:cshub_id indicator--y; sid:1000001; rev:1;)"},
		{"bad hex", func(n string, d []byte) []string { return checkRules(n, d, false) }, `alert udp any any -> any 53 ( msg:"a"; content:"|0G|a", nocase; metadata:cshub_id indicator--x; sid:1000001; rev:1; )`},
		{"zeek empty column", checkZeek, "#fields\tindicator\tindicator_type\tmeta.source\n1.2.3.4\tIntel::ADDR\t"},
		{"zeek URL scheme", checkZeek, "#fields\tindicator\tindicator_type\tmeta.source\nhttp://a.example/\tIntel::URL\tcshub"},
		{"ipset family", checkIPSet, "create s hash:net family inet maxelem 10\nadd s 2001:db8::1"},
		{"ipset twice", checkIPSet, "create s hash:net family inet maxelem 10\nadd s 10.0.0.1\nadd s 10.0.0.1/32"},
	} {
		if len(tc.check(tc.name, []byte(tc.data))) == 0 {
			t.Errorf("%s: the checker accepts it", tc.name)
		}
	}
}

// FuzzParseRule: the rule reader never panics, and a rule it accepts has seven header fields.
func FuzzParseRule(f *testing.F) {
	for _, s := range []string{`alert ip any any <> 1.2.3.4 any (msg:"a\;b"; sid:1000001; rev:1;)`, `alert (`, `a b c d e f g ("\`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, _, err := parseRule(s)
		if err == nil && len(h) != 7 {
			t.Fatalf("%q: header %v", s, h)
		}
	})
}
