package export

import (
	"bufio"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// IDS rules. Each value becomes one rule per place the engine can see it: an address in any IP
// packet, a domain in DNS queries and TLS SNI, an http:// URL in the HTTP host and URI. File
// hashes need the engines' external hash-list files (Suricata's filesha256) and e-mail
// addresses a mail parser, so rules leave them out; the zeek, csv and text formats carry them.
//
// How they were checked: Debian 12 has no suricata or snort package here, so the tests parse
// every golden rule with a parser of their own written from the engines' rule grammar (header
// of seven fields, options as name:value; pairs with quoted, escaped strings), check that sids
// are unique and that each rule names its indicator in metadata; see check_test.go.

// sidBase is the first signature id cshub uses: local rules take sids from 1,000,000 on, and
// the range above 1,000,000,000 keeps well clear of published rule sets.
const sidBase = 1_000_000_000

// sidSpan is how many sids cshub uses, so that sids stay below 2^32 as Suricata requires.
const sidSpan = 3_000_000_000

// place is where an engine sees a value: ip, dns, sni or http.
type place uint8

const (
	placeIP place = iota
	placeDNS
	placeSNI
	placeHTTP
)

var placeNames = [...]string{placeIP: "ip", placeDNS: "dns", placeSNI: "sni", placeHTTP: "http"}

// placeWhat is how a rule's msg names its place.
var placeWhat = [...]string{placeIP: "address", placeDNS: "DNS query", placeSNI: "TLS SNI", placeHTTP: "URL"}

// rule is one rule before its sid is fixed. It holds no body: a million bodies kept until the
// sids are known would be as many strings to allocate, so the writer builds each in its output.
type rule struct {
	ind   *Indicator
	v     *Value // one of ind.Values
	place place
	sid   uint32 // below sidBase+sidSpan, under 2^32
}

// key is what the rule's sid derives from: indicator id, value and place.
func (r *rule) key() string {
	return r.ind.ID + "\x00" + r.v.Type + "\x00" + r.v.Value + "\x00" + placeNames[r.place]
}

// derivedSID is the sid a rule's key derives, taken unless another key took it first: the
// key's FNV-1a hash, taken piece by piece rather than building a million keys. h is the hash of
// the key up to its place (valueHash), which the places of a value share.
func derivedSID(h uint64, p place) uint32 {
	return uint32(sidBase + fnv1a(h, placeNames[p])%sidSpan)
}

// valueHash is the FNV-1a hash of the keys of v's rules up to their place.
func valueHash(ind *Indicator, v *Value) uint64 {
	const offset = 14695981039346656037
	return fnv1a(offset, ind.ID, "\x00", v.Type, "\x00", v.Value, "\x00")
}

// fnv1a goes on with the FNV-1a hash h over the bytes of pieces.
func fnv1a(h uint64, pieces ...string) uint64 {
	const prime = 1099511628211
	for _, s := range pieces {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * prime
		}
	}
	return h
}

// sidShards is how many shards assignSIDs splits the derived sids into, each decided alone.
const sidShards = 256

// assignSIDs gives each rule the sid derived from its key, so that the same indicator value
// keeps its sid from one export to the next. When keys collide (about 170 pairs among a
// million rules), the smallest key keeps the sid and the others, in key order, take the next
// sids that no key derives and no key took, so sids are unique within an export and only
// colliding keys depend on what else is exported. The rules come with their derived sids.
func assignSIDs(rules []rule) {
	// derived holds each shard's rules as sid<<32 | index, sorted (sids stay below 2^32 and
	// indices below 2^31): the rules deriving a sid are next to each other, in index order, and
	// whether a key derives a sid is a binary search, all in a tenth of the memory of maps.
	pos, start := byShard(len(rules), sidShards, func(i int) int { return int(rules[i].sid % sidShards) })
	derived := make([]uint64, len(rules))
	moved := make([]bool, len(rules))
	forEach(sidShards, func(s int) {
		in := derived[start[s]:start[s+1]]
		for k, i := range pos[start[s]:start[s+1]] {
			in[k] = uint64(rules[i].sid)<<32 | uint64(i)
		}
		slices.Sort(in)
		for k := 0; k < len(in); {
			end := k + 1
			for end < len(in) && in[end]>>32 == in[k]>>32 {
				end++
			}
			owner := uint32(in[k]) // the first of those with the smallest key
			for _, x := range in[k+1 : end] {
				if i := uint32(x); rules[i].key() < rules[owner].key() {
					moved[owner], owner = true, i
				} else {
					moved[i] = true
				}
			}
			k = end
		}
	})
	isDerived := func(sid uint32) bool {
		in := derived[start[sid%sidShards]:start[sid%sidShards+1]]
		k, _ := slices.BinarySearch(in, uint64(sid)<<32)
		return k < len(in) && in[k]>>32 == uint64(sid)
	}
	var move []int
	for i, m := range moved {
		if m {
			move = append(move, i)
		}
	}
	slices.SortFunc(move, func(a, b int) int { return strings.Compare(rules[a].key(), rules[b].key()) })
	taken := map[uint32]bool{}
	for _, i := range move {
		sid := rules[i].sid
		for {
			sid = sidBase + (sid-sidBase+1)%sidSpan
			if !isDerived(sid) && !taken[sid] {
				break
			}
		}
		taken[sid] = true
		rules[i].sid = sid
	}
}

// hexDigits are the digits of the |hex| bytes in rule content.
const hexDigits = "0123456789ABCDEF"

// appendHex appends n in upper-case hex, at least two digits, as %02X would.
func appendHex(b []byte, n int) []byte {
	if n > 0xff {
		return append(appendHex(b, n>>4), hexDigits[n&0xf])
	}
	return append(b, hexDigits[n>>4], hexDigits[n&0xf])
}

// appendMsg appends the rule's msg, escaped: the engines take ; " and \ escaped with a
// backslash. Only the value can hold those, or control characters, which become spaces.
func appendMsg(b []byte, r *rule) []byte {
	b = append(append(b, "cshub TLP:"...), r.ind.TLP.String()...)
	b = append(append(append(b, ' '), placeWhat[r.place]...), ' ')
	s := r.v.Value
	if msgPlain.all(s) {
		return append(b, s...)
	}
	for _, c := range s {
		switch {
		case c == ';' || c == '"' || c == '\\':
			b = append(b, '\\', byte(c))
		case c < 0x20 || c == 0x7f:
			b = append(b, ' ')
		default:
			b = utf8.AppendRune(b, c)
		}
	}
	return b
}

// appendContent appends s as a rule content string: printable ASCII as is, and the bytes the
// grammar reserves (" ; \ |) and all others as |hex|.
func appendContent(b []byte, s string) []byte {
	if contentPlain.all(s) {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !contentPlain[c] {
			b = appendHex(append(b, '|'), int(c))
			b = append(b, '|')
			continue
		}
		b = append(b, c)
	}
	return b
}

// appendDNSWire appends a domain name as DNS carries it: each label after its length.
func appendDNSWire(b []byte, name string) []byte {
	for {
		label, rest, more := strings.Cut(name, ".")
		b = appendHex(append(b, '|'), len(label))
		b = appendContent(append(b, '|'), label)
		if !more {
			return append(b, "|00|"...)
		}
		name = rest
	}
}

// plainBytes is a set of bytes a rule carries as they are in msg or content: printable ASCII
// but the bytes that need escaping there. A table, as the check runs on every byte written.
type plainBytes [256]bool

var (
	msgPlain     = plainASCII(";\"\\")
	contentPlain = plainASCII("\";\\|")
)

// plainASCII returns the printable ASCII bytes but those in special.
func plainASCII(special string) (p plainBytes) {
	for c := 0x20; c < 0x7f; c++ {
		p[c] = strings.IndexByte(special, byte(c)) < 0
	}
	return p
}

// all reports whether every byte of s is in p.
func (p *plainBytes) all(s string) bool {
	for i := 0; i < len(s); i++ {
		if !p[s[i]] {
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

// ruleEngine is what tells one engine's rules from another's: the headers and options of the
// rules of each place. Rules of every engine open with a header, then msg, then the options.
type ruleEngine struct {
	name    string                  // as the file's first line names it
	headers [len(placeNames)]string // of each place but ip, whose header names the address
	open    string                  // what opens the options, up to msg's value
	end     string                  // what ends a rule, after its rev

	// options appends the options after msg, up to the metadata.
	options func(b []byte, r *rule) []byte
}

var suricata = ruleEngine{
	name: "Suricata",
	headers: [...]string{
		placeDNS:  "alert dns any any -> any any",
		placeSNI:  "alert tls any any -> any any",
		placeHTTP: "alert http any any -> any any",
	},
	open: ` (msg:"`,
	options: func(b []byte, r *rule) []byte {
		switch r.place {
		case placeDNS, placeSNI:
			buffer := " dns.query;"
			if r.place == placeSNI {
				buffer = " tls.sni;"
			}
			b = appendContent(append(append(b, buffer...), ` dotprefix; content:".`...), r.v.Value)
			return append(b, `"; nocase; endswith;`...)
		case placeHTTP:
			host, uri, _ := httpURL(r.v.Value)
			b = appendContent(append(b, ` http.host; content:"`...), host)
			b = appendContent(append(b, `"; startswith; endswith; http.uri; content:"`...), uri)
			return append(b, `"; startswith; endswith;`...)
		}
		return b
	},
	end: ")",
}

var snort = ruleEngine{
	name: "Snort 3",
	headers: [...]string{
		placeDNS:  "alert udp any any -> any 53",
		placeSNI:  "alert tcp any any -> any 443",
		placeHTTP: "alert http any any -> any any",
	},
	open: ` ( msg:"`,
	options: func(b []byte, r *rule) []byte {
		switch r.place {
		case placeDNS:
			b = appendDNSWire(append(b, ` content:"`...), r.v.Value)
			return append(b, `", nocase;`...)
		case placeSNI:
			b = appendContent(append(b, ` flow:to_server,established; ssl_state:client_hello; content:"`...), r.v.Value)
			return append(b, `", nocase;`...)
		case placeHTTP:
			host, uri, _ := httpURL(r.v.Value)
			b = appendContent(append(b, ` http_header:field host; content:"`...), host)
			b = appendContent(append(b, `", nocase; http_uri; content:"`...), uri)
			return append(b, `";`...)
		}
		return b
	},
	end: " )",
}

// Places of each value type: an address in any IP packet, a domain in DNS queries and TLS SNI,
// an http:// URL in the HTTP host and URI.
var (
	ipPlaces     = []place{placeIP}
	domainPlaces = []place{placeDNS, placeSNI}
	httpPlaces   = []place{placeHTTP}
)

// places returns where an engine sees v; none for what the rules leave out.
func places(v *Value) []place {
	switch v.Type {
	case "ipv4-addr", "ipv6-addr":
		return ipPlaces
	case "domain-name":
		return domainPlaces
	case "url":
		if _, _, ok := httpURL(v.Value); ok {
			return httpPlaces
		}
	}
	return nil
}

// collectRules returns the rules of every value of inds, collected on every core, each with
// the sid its key derives. Each chunk of inds counts its rules first and fills its own part of
// one slice: collecting parts and joining them would allocate the rules two or three times.
func collectRules(inds []*Indicator) []rule {
	size := chunkLen(len(inds))
	start := make([]int, (len(inds)+size-1)/size+1) // chunk c's rules are rules[start[c]:start[c+1]]
	forChunks(len(inds), func(c, lo, hi int) {
		for _, ind := range inds[lo:hi] {
			for j := range ind.Values {
				start[c+1] += len(places(&ind.Values[j]))
			}
		}
	})
	for c := range len(start) - 1 {
		start[c+1] += start[c]
	}
	rules := make([]rule, start[len(start)-1])
	forChunks(len(inds), func(c, lo, hi int) {
		k := start[c]
		for _, ind := range inds[lo:hi] {
			for j := range ind.Values {
				v := &ind.Values[j]
				ps := places(v)
				if len(ps) == 0 {
					continue
				}
				h := valueHash(ind, v)
				for _, p := range ps {
					rules[k] = rule{ind: ind, v: v, place: p, sid: derivedSID(h, p)}
					k++
				}
			}
		}
	})
	return rules
}

// appendAddr appends an address or block for a rule header; IPv6 blocks go in brackets so
// that their colons are not taken for list syntax.
func appendAddr(b []byte, v *Value) []byte {
	if v.Type == "ipv6-addr" {
		return append(append(append(b, '['), v.Value...), ']')
	}
	return append(b, v.Value...)
}

// rev is the rule revision: the indicator version's modification time in seconds, which grows
// with every new version.
func rev(ind *Indicator) int64 { return max(ind.Modified.Unix(), 1) }

// write writes the rules of inds, each with its metadata, sid and rev.
func (e *ruleEngine) write(w *bufio.Writer, inds []*Indicator, m Meta) error {
	rules := collectRules(inds)
	fmt.Fprintf(w, "# cshub %s rules for %s, %s: %d rules\n", e.name, m.Org, stamp(m.Time), len(rules))
	assignSIDs(rules)
	return writeOrdered(w, len(rules), func(b []byte, lo, hi int) []byte {
		if cap(b) == 0 {
			// A rule takes about 240 bytes: a fresh buffer that doubled its way up to a chunk's
			// rules would allocate twice what it ends with.
			b = make([]byte, 0, (hi-lo)*256)
		}
		for i := range rules[lo:hi] {
			r := &rules[lo+i]
			if r.place == placeIP {
				b = append(appendAddr(append(b, "alert ip any any <> "...), r.v), " any"...)
			} else {
				b = append(b, e.headers[r.place]...)
			}
			b = appendMsg(append(b, e.open...), r)
			b = append(e.options(append(b, `";`...), r), " metadata:cshub_id "...)
			b = append(append(b, r.ind.ID...), ", cshub_tlp "...)
			for _, c := range []byte(r.ind.TLP.String()) { // lower case, as strings.ToLower would, without a copy
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				b = append(b, c)
			}
			b = strconv.AppendUint(append(b, "; sid:"...), uint64(r.sid), 10)
			b = strconv.AppendInt(append(b, "; rev:"...), rev(r.ind), 10)
			b = append(append(append(b, ';'), e.end...), '\n')
		}
		return b
	})
}
