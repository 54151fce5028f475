package extract

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
)

// This file finds indicators and identifiers: addresses, domains, URLs, e-mail addresses,
// hashes, CVE ids, ATT&CK technique ids and UN document symbols, in plain and defanged form.
//
// The text is cut into chunks at white space. A chunk that may hold an indicator is refanged
// into a scratch buffer that remembers, for every refanged byte, the original bytes it came
// from, so that offsets always point into the text as written. Chunks such as
// "user [at] example" and chains of " dot " are joined first (see scanIOCs and dotChain).
//
// Rules against false positives, each pinned by the tricky-text test table:
//   - A domain needs a top-level domain from the MISP tlds warninglist (plus the reserved
//     example, test, invalid and onion), so "report.pdf" and "LaZagne.exe" are not domains.
//   - A two-label name whose TLD is also a common file extension (setup.py, notes.md,
//     archive.zip, Calculator.app) is a domain only when written defanged or inside a URL
//     or e-mail address.
//   - A TLD written with capitals ("ASP.NET", "law.The") is not taken unless the name was
//     defanged or is a name of three labels or more all in capitals ("WWW.EXAMPLE.COM"):
//     indicators are written in lower case, prose that lost a space is not.
//   - A dotted quad after "version", "ver", "v", "build", "release" or "firmware" is a version
//     number, not an address; octets with leading zeros are not addresses either.
//   - A hash is a run of exactly 32, 40, 64 or 128 hex digits holding both digits and letters.
//   - Plain " dot " is refanged only in a chain of at least two ("mail dot example dot com"),
//     and only between lower-case labels ending in a known TLD, at most maxDotLabels of them.

// fileExtTLDs are top-level domains that are also common file name extensions.
var fileExtTLDs = map[string]bool{
	"app": true, "cab": true, "docs": true, "download": true, "java": true, "map": true,
	"md": true, "mov": true, "one": true, "pl": true, "pm": true, "ps": true, "pub": true,
	"py": true, "rs": true, "run": true, "sh": true, "so": true, "zip": true,
}

// versionWords are words after which a dotted quad is a version number.
var versionWords = map[string]bool{
	"version": true, "ver": true, "ver.": true, "v": true, "v.": true, "build": true,
	"release": true, "firmware": true, "versions": true,
}

// spaceTable[c] reports whether c is ASCII white space.
var spaceTable = [256]bool{' ': true, '\t': true, '\n': true, '\r': true, '\f': true, '\v': true}

func isSpace(c byte) bool { return spaceTable[c] }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isAlpha(c byte) bool { return isLower(c) || isUpper(c) }
func isAlnum(c byte) bool { return isAlpha(c) || isDigit(c) }
func isHexDigit(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// interesting reports whether a chunk can hold an indicator at all; most words cannot.
func interesting(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isDigit(c), c == '.', c == '@', c == ':', c == '/', c == '[', c == '(', c == '{':
			return true
		}
	}
	return false
}

// scanIOCs appends the indicators and identifiers found in text to out.
func scanIOCs(text string, tlds map[string]bool, out []Entity) []Entity {
	sc := iocScanner{text: text, tlds: tlds, out: out}
	var pieces []Span
	var peeked Span // the chunk after c, once looked at
	for i := 0; ; {
		var c Span
		if peeked.End > i {
			c = peeked
		} else if next, ok := nextChunk(text, i); ok {
			c = next
		} else {
			break
		}
		i = c.End
		pieces = append(pieces[:0], c)
		// "user [at] example [dot] com": defanging tokens standing between spaces.
		for {
			d, ok := nextChunk(text, i)
			peeked = d
			if !ok || !isBracketDefang(text[d.Start:d.End]) {
				break
			}
			e, ok := nextChunk(text, d.End)
			if !ok {
				break
			}
			pieces = append(pieces, d, e)
			i = e.End
		}
		if len(pieces) == 1 {
			if chain, end := dotChain(text, c, tlds); chain != nil {
				pieces = append(pieces[:0], chain...)
				i = end
			}
		}
		if len(pieces) == 1 && !interesting(text[c.Start:c.End]) {
			continue
		}
		sc.chunk(pieces)
	}
	return sc.out
}

// nextChunk returns the first run of non-space bytes of text at or after i.
func nextChunk(text string, i int) (Span, bool) {
	for i < len(text) && isSpace(text[i]) {
		i++
	}
	j := i
	for j < len(text) && !isSpace(text[j]) {
		j++
	}
	return Span{i, j}, j > i
}

// isBracketDefang reports whether s is a defanging token such as "[.]" or "(at)".
func isBracketDefang(s string) bool {
	if len(s) < 3 || len(s) > 5 || (s[0] != '[' && s[0] != '(' && s[0] != '{') {
		return false
	}
	for _, d := range [...]string{"[.]", "(.)", "{.}", "[dot]", "(dot)", "{dot}", "[@]", "(@)", "[at]", "(at)", "{at}"} {
		if strings.EqualFold(s, d) {
			return true
		}
	}
	return false
}

// maxDotLabels is the most labels a " dot " chain may have.
const maxDotLabels = 8

// dotChain returns the chunks of a chain "label dot label dot tld" starting with c, all in
// lower case, with at least two "dot"s and a known TLD at the end, and the offset after it;
// or nil.
func dotChain(text string, c Span, tlds map[string]bool) ([]Span, int) {
	if !isLabel(text[c.Start:c.End]) {
		return nil, 0
	}
	if d, ok := nextChunk(text, c.End); !ok || text[d.Start:d.End] != "dot" {
		return nil, 0 // the common case, without allocating
	}
	chain := []Span{c}
	i := c.End
	// A bound on the labels keeps long runs of "a dot a dot ..." linear.
	for len(chain) < 2*maxDotLabels {
		d, ok := nextChunk(text, i)
		if !ok || text[d.Start:d.End] != "dot" {
			break
		}
		e, ok := nextChunk(text, d.End)
		if !ok {
			break
		}
		word := text[e.Start:e.End]
		trimmed := strings.TrimRight(word, ".,;:!?)")
		if !isLabel(trimmed) {
			break
		}
		chain = append(chain, d, e)
		i = e.End
		if trimmed != word {
			break // the sentence goes on after punctuation
		}
	}
	if len(chain) < 5 {
		return nil, 0
	}
	last := chain[len(chain)-1]
	if !tlds[strings.TrimRight(text[last.Start:last.End], ".,;:!?)")] {
		return nil, 0
	}
	return chain, i
}

// isLabel reports whether s is a lower-case DNS label.
func isLabel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLower(c) && !isDigit(c) && c != '-' {
			return false
		}
	}
	return true
}

// iocScanner holds the state of one scanIOCs call.
type iocScanner struct {
	text string
	tlds map[string]bool
	out  []Entity
	// The refanged chunk and, per byte, the original span it came from.
	r      []byte
	so, eo []int
}

// refang fills sc.r, sc.so and sc.eo from the pieces of one chunk.
func (sc *iocScanner) refang(pieces []Span) {
	sc.r, sc.so, sc.eo = sc.r[:0], sc.so[:0], sc.eo[:0]
	emit := func(b string, start, end int) {
		for k := 0; k < len(b); k++ {
			sc.r = append(sc.r, b[k])
			sc.so = append(sc.so, start)
			sc.eo = append(sc.eo, end)
		}
	}
	plainDot := len(pieces) >= 5 && sc.text[pieces[1].Start:pieces[1].End] == "dot"
	for pi, p := range pieces {
		s := sc.text[p.Start:p.End]
		if plainDot && pi%2 == 1 {
			emit(".", p.Start, p.End)
			continue
		}
		for i := 0; i < len(s); {
			if rep, n := defangAt(s, i); n > 0 {
				emit(rep, p.Start+i, p.Start+i+n)
				i += n
				continue
			}
			sc.r = append(sc.r, s[i])
			sc.so = append(sc.so, p.Start+i)
			sc.eo = append(sc.eo, p.Start+i+1)
			i++
		}
	}
}

// defangAt returns the refanged form of a defanging token at s[i:] and its length, or 0.
func defangAt(s string, i int) (string, int) {
	c := s[i]
	switch c {
	case '[', '(', '{':
		for _, d := range [...]struct{ in, out string }{
			{"[.]", "."}, {"(.)", "."}, {"{.}", "."}, {"[dot]", "."}, {"(dot)", "."}, {"{dot}", "."},
			{"[@]", "@"}, {"(@)", "@"}, {"[at]", "@"}, {"(at)", "@"}, {"{at}", "@"},
			{"[:]", ":"}, {"[://]", "://"}, {"[/]", "/"},
		} {
			if hasPrefixFold(s[i:], d.in) {
				return d.out, len(d.in)
			}
		}
	case 'h', 'H':
		if i > 0 && isAlnum(s[i-1]) {
			return "", 0
		}
		// hxxp://, hxxps://, hxxp[:]//, in any case.
		for _, d := range [...]string{"hxxps", "hxxp"} {
			if hasPrefixFold(s[i:], d) {
				rest := s[i+len(d):]
				if strings.HasPrefix(rest, "://") || strings.HasPrefix(rest, "[:]//") || strings.HasPrefix(rest, "[://]") {
					return "http" + d[4:], len(d)
				}
			}
		}
	case 'f', 'F':
		if i > 0 && isAlnum(s[i-1]) {
			return "", 0
		}
		if hasPrefixFold(s[i:], "fxp") && (strings.HasPrefix(s[i+3:], "://") || strings.HasPrefix(s[i+3:], "[:]//")) {
			return "ftp", 3
		}
	}
	return "", 0
}

// hasPrefixFold reports whether s begins with the ASCII prefix p, ignoring case.
func hasPrefixFold(s, p string) bool {
	return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p)
}

// chunk finds the indicators of one (joined) chunk.
func (sc *iocScanner) chunk(pieces []Span) {
	sc.refang(pieces)
	r := sc.r
	// URLs first: their hosts are reported as domains or addresses, and nothing else inside
	// them is.
	from := 0
	for from < len(r) {
		k := indexFrom(r, "://", from)
		if k < 0 {
			break
		}
		s := k
		for s > from && (isAlnum(r[s-1]) || r[s-1] == '+' || r[s-1] == '.' || r[s-1] == '-') {
			s--
		}
		scheme := strings.ToLower(string(r[s:k]))
		if scheme != "http" && scheme != "https" && scheme != "ftp" && scheme != "ftps" && scheme != "sftp" {
			sc.tokens(from, k+3)
			from = k + 3
			continue
		}
		e := urlEnd(r, k+3)
		if sc.url(s, k, e) {
			sc.tokens(from, s)
		} else {
			sc.tokens(from, e)
		}
		from = e
	}
	sc.tokens(from, len(r))
}

// indexFrom returns the index of sep in b at or after from, or -1.
func indexFrom(b []byte, sep string, from int) int {
	i := bytes.Index(b[from:], []byte(sep))
	if i < 0 {
		return -1
	}
	return from + i
}

// urlEnd returns the end of the URL whose authority starts at i.
func urlEnd(r []byte, i int) int {
	e := i
	for e < len(r) {
		c := r[e]
		if c >= 0x80 || c <= ' ' || strings.IndexByte("\"<>'`|{}\\^", c) >= 0 {
			break
		}
		e++
	}
	// Trailing punctuation belongs to the sentence; a closing bracket only when unbalanced.
	for e > i {
		c := r[e-1]
		if strings.IndexByte(".,;:!?", c) >= 0 {
			e--
			continue
		}
		if c == ')' || c == ']' {
			open := byte('(')
			if c == ']' {
				open = '['
			}
			n := 0
			for _, x := range r[i:e] {
				if x == open {
					n++
				} else if x == c {
					n--
				}
			}
			if n < 0 {
				e--
				continue
			}
		}
		break
	}
	return e
}

// url reports a URL r[s:e] whose scheme ends at k, and its host, if the host is valid.
func (sc *iocScanner) url(s, k, e int) bool {
	r := sc.r
	hs := k + 3
	he := hs
	for he < e && r[he] != '/' && r[he] != '?' && r[he] != '#' {
		he++
	}
	if at := lastIndexByte(r[hs:he], '@'); at >= 0 {
		hs += at + 1
	}
	if hs >= he {
		return false
	}
	host := string(r[hs:he])
	hostEnd := he
	var hostKind Kind
	var hostValue string
	if host[0] == '[' {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return false
		}
		a, err := netip.ParseAddr(host[1:end])
		if err != nil || !a.Is6() {
			return false
		}
		hostKind, hostValue = KindIPv6, a.String()
		hs++
		hostEnd = hs + end - 1
	} else {
		if c := strings.LastIndexByte(host, ':'); c >= 0 {
			if _, err := strconv.Atoi(host[c+1:]); err != nil && c+1 < len(host) {
				return false
			}
			host = host[:c]
			hostEnd = hs + c
		}
		host = strings.TrimSuffix(host, ".")
		hostEnd = hs + len(host)
		if a, ok := parseIPv4(host); ok {
			hostKind, hostValue = KindIPv4, a
		} else if d, ok := sc.domain(host, false, true); ok {
			hostKind, hostValue = KindDomain, d
		} else {
			return false
		}
	}
	if hostEnd <= hs {
		return false
	}
	canon := strings.ToLower(string(r[s:k])) + "://" + strings.ToLower(string(r[k+3:he])) + string(r[he:e])
	sc.emit(KindURL, canon, s, e)
	sc.emit(hostKind, hostValue, hs, hostEnd)
	return true
}

func lastIndexByte(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// emit records an entity for the refanged range r[a:b].
func (sc *iocScanner) emit(k Kind, value string, a, b int) {
	if a >= b || b > len(sc.r) {
		return
	}
	start, end := sc.so[a], sc.eo[b-1]
	sc.out = append(sc.out, Entity{Kind: k, Value: value, Name: value, Text: sc.text[start:end], Start: start, End: end})
}

// defanged reports whether any byte of r[a:b] came from a defanging token.
func (sc *iocScanner) defanged(a, b int) bool {
	for i := a; i < b; i++ {
		if sc.eo[i]-sc.so[i] != 1 {
			return true
		}
		if i > a && sc.so[i] != sc.eo[i-1] && sc.so[i] != sc.so[i-1] {
			return true // joined across spaces
		}
	}
	return false
}

// tokenByte reports whether c can be part of an indicator token.
func tokenByte(c byte) bool {
	return isAlnum(c) || c == '.' || c == '-' || c == '_' || c == '%' || c == '+' || c == '@' || c == ':' || c == '/'
}

// tokens classifies the tokens of r[a:b].
func (sc *iocScanner) tokens(a, b int) {
	r := sc.r
	for i := a; i < b; {
		for i < b && !tokenByte(r[i]) {
			i++
		}
		j := i
		for j < b && tokenByte(r[j]) {
			j++
		}
		if j > i {
			sc.token(i, j)
		}
		i = j
	}
}

// token classifies r[a:b], trimming punctuation that belongs to the sentence.
func (sc *iocScanner) token(a, b int) {
	r := sc.r
	for b > a && strings.IndexByte(".-/_%+@", r[b-1]) >= 0 {
		b--
	}
	for b > a && r[b-1] == ':' && (b-a < 2 || r[b-2] != ':') {
		b--
	}
	for a < b && strings.IndexByte(".-/_%+@", r[a]) >= 0 {
		a++
	}
	if a >= b {
		return
	}
	t := string(r[a:b])
	switch {
	case strings.IndexByte(t, '@') >= 0:
		sc.email(t, a, b)
		return
	case len(t) > 2 && (t[0] == 'A' || t[0] == 'S' || t[0] == 'E') && t[1] == '/':
		if sc.unDoc(t, a, b) {
			return
		}
	}
	if strings.IndexByte(t, '/') >= 0 {
		if sc.cidr(t, a, b) {
			return
		}
		sc.split(a, b, '/')
		return
	}
	if strings.IndexByte(t, ':') >= 0 {
		if sc.ipv6(t, a, b) {
			return
		}
		sc.split(a, b, ':')
		return
	}
	sc.atom(t, a, b)
}

// split classifies the parts of r[a:b] between occurrences of sep.
func (sc *iocScanner) split(a, b int, sep byte) {
	start := a
	for i := a; i <= b; i++ {
		if i == b || sc.r[i] == sep {
			if i > start {
				sc.token(start, i)
			}
			start = i + 1
		}
	}
}

// atom classifies a token without '@', '/' or ':'.
func (sc *iocScanner) atom(t string, a, b int) {
	switch {
	case len(t) >= 13 && hasPrefixFold(t, "cve-"):
		if isCVE(t) {
			sc.emit(KindCVE, strings.ToUpper(t), a, b)
		}
		return
	case t[0] == 'T' && isTechnique(t):
		sc.emit(KindTechnique, t, a, b)
		return
	}
	if k := hashKind(t); k != "" {
		sc.emit(k, strings.ToLower(t), a, b)
		return
	}
	if v, ok := parseIPv4(t); ok {
		if !sc.afterVersionWord(sc.so[a]) {
			sc.emit(KindIPv4, v, a, b)
		}
		return
	}
	if strings.IndexByte(t, '.') >= 0 {
		if d, ok := sc.domain(t, sc.defanged(a, b), false); ok {
			sc.emit(KindDomain, d, a, b)
		}
	}
}

// afterVersionWord reports whether the word before offset i of the text is a version word.
func (sc *iocScanner) afterVersionWord(i int) bool {
	t := sc.text
	j := i
	for j > 0 && isSpace(t[j-1]) {
		j--
	}
	k := j
	for k > 0 && (isAlpha(t[k-1]) || t[k-1] == '.') {
		k--
	}
	if j == i && k == j {
		return false
	}
	return versionWords[strings.ToLower(t[k:j])]
}

// isCVE reports whether t is CVE-YYYY-NNNN with at least four digits in the sequence number.
func isCVE(t string) bool {
	if len(t) < 13 || t[8] != '-' {
		return false
	}
	for i := 4; i < len(t); i++ {
		if i == 8 {
			continue
		}
		if !isDigit(t[i]) {
			return false
		}
	}
	return len(t)-9 >= 4 && len(t)-9 <= 7
}

// isTechnique reports whether t is an ATT&CK technique id: T1234 or T1234.567.
func isTechnique(t string) bool {
	if len(t) != 5 && len(t) != 9 {
		return false
	}
	for i := 1; i < 5; i++ {
		if !isDigit(t[i]) {
			return false
		}
	}
	if len(t) == 9 {
		return t[5] == '.' && isDigit(t[6]) && isDigit(t[7]) && isDigit(t[8])
	}
	return true
}

// hashKind returns the hash kind of t, or "".
func hashKind(t string) Kind {
	var k Kind
	switch len(t) {
	case 32:
		k = KindMD5
	case 40:
		k = KindSHA1
	case 64:
		k = KindSHA256
	case 128:
		k = KindSHA512
	default:
		return ""
	}
	digit, letter := false, false
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !isHexDigit(c) {
			return ""
		}
		if isDigit(c) {
			digit = true
		} else {
			letter = true
		}
	}
	if !digit || !letter {
		return ""
	}
	return k
}

// parseIPv4 parses a dotted quad without leading zeros and returns its canonical form.
func parseIPv4(t string) (string, bool) {
	parts := 0
	for i := 0; i < len(t); {
		j := i
		for j < len(t) && isDigit(t[j]) {
			j++
		}
		if j == i || j-i > 3 || (j-i > 1 && t[i] == '0') {
			return "", false
		}
		n, _ := strconv.Atoi(t[i:j])
		if n > 255 {
			return "", false
		}
		parts++
		if j == len(t) {
			break
		}
		if t[j] != '.' || parts == 4 {
			return "", false
		}
		i = j + 1
		if i == len(t) {
			return "", false
		}
	}
	return t, parts == 4
}

// cidr reports an IPv4 or IPv6 network r[a:b] written address/prefix.
func (sc *iocScanner) cidr(t string, a, b int) bool {
	slash := strings.IndexByte(t, '/')
	addr, bits := t[:slash], t[slash+1:]
	if bits == "" || len(bits) > 3 {
		return false
	}
	n, err := strconv.Atoi(bits)
	if err != nil || bits[0] == '+' || bits[0] == '-' {
		return false
	}
	if _, ok := parseIPv4(addr); ok {
		if n > 32 {
			return false
		}
		sc.emit(KindCIDR, t, a, b)
		return true
	}
	if strings.IndexByte(addr, ':') >= 0 {
		p, err := netip.ParsePrefix(t)
		if err != nil || !p.Addr().Is6() || p.Addr().Zone() != "" || !strings.ContainsAny(addr, "0123456789") {
			return false
		}
		sc.emit(KindCIDR, p.String(), a, b)
		return true
	}
	return false
}

// ipv6 reports an IPv6 address r[a:b].
func (sc *iocScanner) ipv6(t string, a, b int) bool {
	if strings.Count(t, ":") < 2 || !strings.ContainsAny(t, "0123456789") {
		return false
	}
	for i := 0; i < len(t); i++ {
		if !isHexDigit(t[i]) && t[i] != ':' && t[i] != '.' {
			return false
		}
	}
	addr, err := netip.ParseAddr(t)
	if err != nil || !addr.Is6() || addr.IsUnspecified() {
		return false
	}
	sc.emit(KindIPv6, addr.String(), a, b)
	return true
}

// email reports an e-mail address r[a:b].
func (sc *iocScanner) email(t string, a, b int) {
	at := strings.LastIndexByte(t, '@')
	local, dom := t[:at], t[at+1:]
	if local == "" || len(local) > 64 || local[0] == '.' || local[len(local)-1] == '.' || strings.IndexByte(local, '@') >= 0 {
		// Not an address; the part after the last '@' may still be a domain.
		if at+1 < b-a {
			sc.token(a+at+1, b)
		}
		return
	}
	for i := len(local) - 1; i >= 0; i-- {
		c := local[i]
		if !isAlnum(c) && strings.IndexByte("._%+-", c) < 0 {
			// "mailto:a@b.com", "smtp/a@b.com": the address starts after the separator.
			sc.token(a+i+1, b)
			return
		}
	}
	d, ok := sc.domain(dom, true, true)
	if !ok {
		return
	}
	sc.emit(KindEmail, strings.ToLower(local)+"@"+d, a, b)
}

// domain checks a host name and returns its canonical form. defanged and inURL relax the
// file-name and capitalisation rules, as explained at the top of the file.
func (sc *iocScanner) domain(t string, defanged, inURL bool) (string, bool) {
	if len(t) > 253 || len(t) < 3 {
		return "", false
	}
	labels := 0
	lastDot := -1
	for i := 0; i <= len(t); i++ {
		if i < len(t) && t[i] != '.' {
			c := t[i]
			if !isAlnum(c) && c != '-' {
				return "", false
			}
			continue
		}
		l := t[lastDot+1 : i]
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", false
		}
		labels++
		if i < len(t) {
			lastDot = i
		}
	}
	if labels < 2 {
		return "", false
	}
	tld := t[lastDot+1:]
	lower := strings.ToLower(tld)
	if !sc.tlds[lower] {
		return "", false
	}
	if !defanged && !inURL {
		if tld != lower && (labels < 3 || t != strings.ToUpper(t)) {
			return "", false
		}
		if labels == 2 && fileExtTLDs[lower] {
			return "", false
		}
	}
	return strings.ToLower(t), true
}

// unDoc reports a UN document symbol r[a:b]: A/RES/73/266, A/C.1/73/L.37, A/73/678, and
// S/RES/2341 (2017) with the year that Security Council resolutions carry.
func (sc *iocScanner) unDoc(t string, a, b int) bool {
	segs := strings.Split(t[2:], "/")
	if len(segs) < 2 {
		return false
	}
	numeric := false
	for _, s := range segs {
		switch {
		case s == "":
			return false
		case allDigits(s):
			if len(s) > 5 {
				return false
			}
			numeric = true
		case !unSegment(s):
			return false
		}
	}
	last := segs[len(segs)-1]
	if !numeric || !isDigit(last[len(last)-1]) {
		return false
	}
	value := t
	end := sc.eo[b-1]
	// The year of a Security Council resolution, in the text after the symbol.
	if strings.HasPrefix(t, "S/RES/") {
		rest := sc.text[end:]
		if len(rest) >= 7 && rest[0] == ' ' && rest[1] == '(' && allDigits(rest[2:6]) && rest[6] == ')' {
			value += rest[:7]
			end += 7
		}
	}
	start := sc.so[a]
	sc.out = append(sc.out, Entity{Kind: KindUNDocument, Value: value, Name: value, Text: sc.text[start:end], Start: start, End: end})
	return true
}

// unSegment reports whether s is a lettered segment of a UN symbol: RES, HRC, C.1, L.37,
// CONF.230, Add.1, Rev.2.
func unSegment(s string) bool {
	i := 0
	for i < len(s) && isAlpha(s[i]) {
		i++
	}
	if i == 0 || i > 6 || !isUpper(s[0]) {
		return false
	}
	if i == len(s) {
		return allUpper(s)
	}
	return s[i] == '.' && i+1 < len(s) && len(s)-i-1 <= 4 && allDigits(s[i+1:])
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func allUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isUpper(s[i]) {
			return false
		}
	}
	return true
}
