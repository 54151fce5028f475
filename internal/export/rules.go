package export

import (
	"bufio"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// IDS rules. Each value becomes one rule per place the engine can see it: an address in any IP
// packet, a domain in DNS queries and TLS SNI, an http:// URL in the HTTP host and URI. File
// hashes need the engines' external hash-list files (Suricata's filesha256) and e-mail
// addresses a mail parser, so rules leave them out; the zeek, csv and text formats carry them.
//
// How they were checked: Debian 12 has no suricata or snort package here, so the tests parse
// every golden rule with a parser of their own written from the engines' rule grammar (header
// of seven fields, options as name:value; pairs with quoted, escaped strings), check that sids
// are unique and that each rule names its indicator in metadata; see rules_test.go.

// sidBase is the first signature id cshub uses: local rules take sids from 1,000,000 on, and
// the range above 1,000,000,000 keeps well clear of published rule sets.
const sidBase = 1_000_000_000

// sidSpan is how many sids cshub uses, so that sids stay below 2^32 as Suricata requires.
const sidSpan = 3_000_000_000

// rule is one rule before its sid is fixed.
type rule struct {
	ind   *Indicator
	v     *Value // one of ind.Values
	place string // ip, dns, sni or http
	body  string // the rule up to its metadata
	sid   uint64
}

// key is what the rule's sid derives from: indicator id, value and place.
func (r *rule) key() string {
	return r.ind.ID + "\x00" + r.v.Type + "\x00" + r.v.Value + "\x00" + r.place
}

// derivedSID is the sid the rule's key derives, taken unless another key took it first: the
// key's FNV-1a hash, taken piece by piece rather than building a million keys.
func (r *rule) derivedSID() uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for _, s := range [...]string{r.ind.ID, "\x00", r.v.Type, "\x00", r.v.Value, "\x00", r.place} {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * prime
		}
	}
	return sidBase + h%sidSpan
}

// sidShards is how many shards assignSIDs splits the derived sids into, each decided alone.
const sidShards = 256

// assignSIDs gives each rule the sid derived from its key, so that the same indicator value
// keeps its sid from one export to the next. When keys collide (about 170 pairs among a
// million rules), the smallest key keeps the sid and the others, in key order, take the next
// sids that no key derives and no key took, so sids are unique within an export and only
// colliding keys depend on what else is exported. The rules come with their derived sids.
func assignSIDs(rules []rule) {
	// owner[s]: derived sid → the rule with the smallest key deriving it, for the sids of shard s.
	pos, start := byShard(len(rules), sidShards, func(i int) int { return int(rules[i].sid % sidShards) })
	owner := make([]map[uint64]int32, sidShards)
	moved := make([]bool, len(rules))
	forEach(sidShards, func(s int) {
		in := pos[start[s]:start[s+1]]
		m := make(map[uint64]int32, len(in))
		for _, i := range in {
			if j, ok := m[rules[i].sid]; !ok || rules[i].key() < rules[j].key() {
				m[rules[i].sid] = i
			}
		}
		for _, i := range in {
			moved[i] = m[rules[i].sid] != i
		}
		owner[s] = m
	})
	var move []int
	for i, m := range moved {
		if m {
			move = append(move, i)
		}
	}
	slices.SortFunc(move, func(a, b int) int { return strings.Compare(rules[a].key(), rules[b].key()) })
	taken := map[uint64]bool{}
	for _, i := range move {
		sid := rules[i].sid
		for {
			sid = sidBase + (sid-sidBase+1)%sidSpan
			if _, derived := owner[sid%sidShards][sid]; !derived && !taken[sid] {
				break
			}
		}
		taken[sid] = true
		rules[i].sid = sid
	}
}

// quoteMsg escapes a rule's msg: the engines take ; " and \ escaped with a backslash.
func quoteMsg(s string) string {
	if plainASCII(s, ";\"\\") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == ';' || r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// content writes s as a rule content string: printable ASCII as is, and the bytes the
// grammar reserves (" ; \ |) and all others as |hex|.
func content(s string) string {
	if plainASCII(s, "\";\\|") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == ';' || c == '\\' || c == '|' {
			fmt.Fprintf(&b, "|%02X|", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// dnsWire writes a domain name as DNS carries it: each label after its length.
func dnsWire(name string) string {
	var b strings.Builder
	for _, l := range strings.Split(name, ".") {
		fmt.Fprintf(&b, "|%02X|%s", len(l), content(l))
	}
	b.WriteString("|00|")
	return b.String()
}

func msg(ind *Indicator, what string, v Value) string {
	return quoteMsg("cshub TLP:" + ind.TLP.String() + " " + what + " " + v.Value)
}

// plainASCII reports whether s is printable ASCII without any of the bytes in special, which
// a rule then carries as it is.
func plainASCII(s, special string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || strings.IndexByte(special, c) >= 0 {
			return false
		}
	}
	return true
}

// httpURL splits an http:// URL into host and the rest (path and query); ok is false for
// other schemes, which an IDS does not see in clear.
func httpURL(v string) (host, uri string, ok bool) {
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return "", "", false
	}
	uri = u.EscapedPath()
	if uri == "" {
		uri = "/"
	}
	if u.RawQuery != "" {
		uri += "?" + u.RawQuery
	}
	return u.Hostname(), uri, true
}

func writeSuricata(w *bufio.Writer, inds []*Indicator, m Meta) error {
	rules := collectRules(inds, func(ind *Indicator, v Value, add func(place, body string)) {
		switch v.Type {
		case "ipv4-addr", "ipv6-addr":
			add("ip", `alert ip any any <> `+ruleAddr(v)+` any (msg:"`+msg(ind, "address", v)+`";`)
		case "domain-name":
			add("dns", `alert dns any any -> any any (msg:"`+msg(ind, "DNS query", v)+`"; dns.query; dotprefix; content:".`+content(v.Value)+`"; nocase; endswith;`)
			add("sni", `alert tls any any -> any any (msg:"`+msg(ind, "TLS SNI", v)+`"; tls.sni; dotprefix; content:".`+content(v.Value)+`"; nocase; endswith;`)
		case "url":
			if host, uri, ok := httpURL(v.Value); ok {
				add("http", `alert http any any -> any any (msg:"`+msg(ind, "URL", v)+`"; http.host; content:"`+content(host)+
					`"; startswith; endswith; http.uri; content:"`+content(uri)+`"; startswith; endswith;`)
			}
		}
	})
	return writeRules(w, rules, m, "Suricata", ")")
}

func writeSnort(w *bufio.Writer, inds []*Indicator, m Meta) error {
	rules := collectRules(inds, func(ind *Indicator, v Value, add func(place, body string)) {
		switch v.Type {
		case "ipv4-addr", "ipv6-addr":
			add("ip", `alert ip any any <> `+ruleAddr(v)+` any ( msg:"`+msg(ind, "address", v)+`";`)
		case "domain-name":
			add("dns", `alert udp any any -> any 53 ( msg:"`+msg(ind, "DNS query", v)+`"; content:"`+dnsWire(v.Value)+`", nocase;`)
			add("sni", `alert tcp any any -> any 443 ( msg:"`+msg(ind, "TLS SNI", v)+`"; flow:to_server,established; ssl_state:client_hello; content:"`+content(v.Value)+`", nocase;`)
		case "url":
			if host, uri, ok := httpURL(v.Value); ok {
				add("http", `alert http any any -> any any ( msg:"`+msg(ind, "URL", v)+`"; http_header:field host; content:"`+content(host)+
					`", nocase; http_uri; content:"`+content(uri)+`";`)
			}
		}
	})
	return writeRules(w, rules, m, "Snort 3", " )")
}

// collectRules calls bodies for every value of inds, on every core; each rule it adds is keyed
// by indicator, value and place (ip, dns, sni, http), which is what its stable signature id
// derives from. Suricata and Snort differ only in the bodies.
func collectRules(inds []*Indicator, bodies func(ind *Indicator, v Value, add func(place, body string))) []rule {
	return collect(len(inds), func(rules []rule, lo, hi int) []rule {
		for _, ind := range inds[lo:hi] {
			for j := range ind.Values {
				bodies(ind, ind.Values[j], func(place, body string) {
					r := rule{ind: ind, v: &ind.Values[j], place: place, body: body}
					r.sid = r.derivedSID()
					rules = append(rules, r)
				})
			}
		}
		return rules
	})
}

// ruleAddr writes an address or block for a rule header; IPv6 blocks go in brackets so that
// their colons are not taken for list syntax.
func ruleAddr(v Value) string {
	if v.Type == "ipv6-addr" {
		return "[" + v.Value + "]"
	}
	return v.Value
}

// rev is the rule revision: the indicator version's modification time in seconds, which grows
// with every new version.
func rev(ind *Indicator) int64 { return max(ind.Modified.Unix(), 1) }

// writeRules writes the rules with their metadata, sid and rev, each ended by end.
func writeRules(w *bufio.Writer, rules []rule, m Meta, engine, end string) error {
	fmt.Fprintf(w, "# cshub %s rules for %s, %s: %d rules\n", engine, m.Org, stamp(m.Time), len(rules))
	assignSIDs(rules)
	return writeOrdered(w, len(rules), func(b []byte, lo, hi int) []byte {
		for _, r := range rules[lo:hi] {
			b = append(append(b, r.body...), " metadata:cshub_id "...)
			b = append(append(b, r.ind.ID...), ", cshub_tlp "...)
			for _, c := range []byte(r.ind.TLP.String()) { // lower case, as strings.ToLower would, without a copy
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				b = append(b, c)
			}
			b = strconv.AppendUint(append(b, "; sid:"...), r.sid, 10)
			b = strconv.AppendInt(append(b, "; rev:"...), rev(r.ind), 10)
			b = append(append(append(b, ';'), end...), '\n')
		}
		return b
	})
}
