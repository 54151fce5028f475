package export

import (
	"bufio"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// zeekType maps a value to its Zeek Intel framework type; "" for none.
func zeekType(v Value) string {
	switch v.Type {
	case "ipv4-addr", "ipv6-addr":
		if v.CIDR() {
			return "Intel::SUBNET"
		}
		return "Intel::ADDR"
	case "domain-name":
		return "Intel::DOMAIN"
	case "url":
		return "Intel::URL"
	case "email-addr":
		return "Intel::EMAIL"
	case "file":
		switch v.Hash {
		case "MD5", "SHA-1", "SHA-256":
			return "Intel::FILE_HASH" // the hashes Zeek's file analysis computes
		}
	}
	return ""
}

// appendZeekField appends s as one Intel file column: tabs and line breaks become spaces and
// bytes that are not UTF-8 become U+FFFD, as strings.Map made them; callers write "-" for empty.
func appendZeekField(b []byte, s string) []byte {
	i := 0
	for i < len(s) && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' && s[i] < utf8.RuneSelf {
		i++
	}
	b = append(b, s[:i]...)
	for _, r := range s[i:] {
		if r == '\t' || r == '\n' || r == '\r' {
			r = ' '
		}
		b = utf8.AppendRune(b, r)
	}
	return b
}

// writeZeek writes an Intel framework file: a #fields header and one tab-separated line per
// value. Zeek compares URLs without their scheme, so it is cut off.
func writeZeek(w *bufio.Writer, inds []*Indicator, _ Meta) error {
	w.WriteString("#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url\n")
	vals := distinct(inds, func(v Value) bool { return zeekType(v) != "" })
	return writeOrdered(w, len(vals), func(b []byte, lo, hi int) []byte {
		for i := lo; i < hi; i++ {
			v, ind := *vals[i].v, vals[i].ind
			val := v.Value
			if v.Type == "url" {
				if _, rest, ok := strings.Cut(val, "://"); ok {
					val = rest
				}
			}
			if val == "" {
				b = append(b, '-')
			}
			b = append(appendZeekField(b, val), '\t')
			b = append(append(b, zeekType(v)...), "\tcshub\t"...)
			// The description is "id name (TLP:level)"; its pieces are cleaned one by one,
			// which is the same as the whole since the ASCII between them ends any rune.
			b = appendZeekField(b, ind.ID)
			if ind.Name != "" {
				b = appendZeekField(append(b, ' '), ind.Name)
			}
			b = appendZeekField(append(b, " (TLP:"...), ind.TLP.String())
			b = append(b, ")\t-\n"...)
		}
		return b
	})
}

// rpzOrigin is the zone an RPZ export is written for; resolvers load it under that name.
const rpzOrigin = "rpz.cshub."

// writeRPZ writes a DNS response policy zone: NXDOMAIN (CNAME .) for each domain and its
// subdomains, and for answers holding an indicator address (rpz-ip triggers).
func writeRPZ(w *bufio.Writer, inds []*Indicator, m Meta) error {
	fmt.Fprintf(w, "; cshub response policy zone for %s, %s\n", m.Org, stamp(m.Time))
	fmt.Fprintf(w, "$TTL 300\n$ORIGIN %s\n", rpzOrigin)
	fmt.Fprintf(w, "@\tIN\tSOA\tlocalhost. hostmaster.localhost. ( %d 3600 600 604800 300 )\n", uint32(m.Time.Unix()))
	w.WriteString("@\tIN\tNS\tlocalhost.\n")
	// Owner names are relative to the origin; the whole name must fit in 255 bytes. A chunk's
	// names are written one after another into one string they are cut from: a string apiece
	// was most of what an export allocated.
	fits := func(name int) bool { return name+len(rpzOrigin)+1 <= 253 }
	names := collect(len(inds), func(names []string, lo, hi int) []string {
		count, size := 0, 0
		for _, ind := range inds[lo:hi] {
			for _, v := range ind.Values {
				switch v.Type {
				case "domain-name":
					count, size = count+2, size+2*len(v.Value)+len("*.")
				case "ipv4-addr", "ipv6-addr":
					count++
					if strings.Contains(v.Value, ":") {
						size += len(rpzIPLongest)
					} else {
						size += len(v.Value) + len("32..rpz-ip") // an IPv4 name reverses the value's digits
					}
				}
			}
		}
		names = slices.Grow(names, count)
		var all strings.Builder
		all.Grow(size) // so that the chunk's names share one allocation
		// all.String() is what was written so far: each name is its end, which later writes
		// leave as it is.
		var ip []byte
		for _, ind := range inds[lo:hi] {
			for _, v := range ind.Values {
				start := all.Len()
				switch v.Type {
				case "domain-name":
					if fits(len(v.Value)) {
						all.WriteString(v.Value)
						names = append(names, all.String()[start:])
						start = all.Len()
					}
					if fits(len("*.") + len(v.Value)) {
						all.WriteString("*.")
						all.WriteString(v.Value)
						names = append(names, all.String()[start:])
					}
				case "ipv4-addr", "ipv6-addr":
					var ok bool
					if ip, ok = appendRPZIP(ip[:0], v.Value); ok && fits(len(ip)) {
						all.Write(ip)
						names = append(names, all.String()[start:])
					}
				}
			}
		}
		return names
	})
	first := firsts(len(names), func(i int) string { return names[i] }, func(i, j int) bool { return names[i] == names[j] })
	return writeOrdered(w, len(names), func(b []byte, lo, hi int) []byte {
		for i := lo; i < hi; i++ {
			if first[i] {
				b = append(append(b, names[i]...), "\tCNAME\t.\n"...)
			}
		}
		return b
	})
}

// rpzIPLongest is the longest name appendRPZIP writes.
const rpzIPLongest = "128.ffff.ffff.ffff.ffff.ffff.ffff.ffff.ffff.rpz-ip"

// appendRPZIP appends an address or block as an RPZ IP trigger owner name: the prefix length,
// then the address reversed (IPv4 by octet, IPv6 by 16-bit group with "zz" for the longest run
// of zero groups), then "rpz-ip".
func appendRPZIP(b []byte, s string) ([]byte, bool) {
	// Only a block is tried as one: ParsePrefix fails on a plain address, allocating its error.
	var p netip.Prefix
	ok := false
	if strings.Contains(s, "/") {
		var err error
		p, err = netip.ParsePrefix(s)
		ok = err == nil
	}
	if !ok {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return b, false
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	b = strconv.AppendInt(b, int64(p.Bits()), 10)
	a := p.Addr()
	if a.Is4() {
		x := a.As4()
		for i := 3; i >= 0; i-- {
			b = strconv.AppendUint(append(b, '.'), uint64(x[i]), 10)
		}
		return append(b, ".rpz-ip"...), true
	}
	x := a.As16()
	var g [8]uint16
	for i := range g {
		g[i] = uint16(x[2*i])<<8 | uint16(x[2*i+1])
	}
	// The longest run of at least two zero groups becomes "zz", as in RFC 5952's "::".
	start, n := -1, 1
	for i := 0; i < 8; {
		j := i
		for j < 8 && g[j] == 0 {
			j++
		}
		if j-i > n {
			start, n = i, j-i
		}
		i = j + 1
	}
	for i := 7; i >= 0; i-- {
		b = append(b, '.')
		if start >= 0 && i == start+n-1 {
			b = append(b, "zz"...)
			i = start
			continue
		}
		b = strconv.AppendUint(b, uint64(g[i]), 16)
	}
	return append(b, ".rpz-ip"...), true
}

// addresses returns the distinct IPv4 and IPv6 values of inds.
func addresses(inds []*Indicator) (v4, v6 []string) {
	for _, r := range distinct(inds, func(v Value) bool { return v.Type == "ipv4-addr" || v.Type == "ipv6-addr" }) {
		if r.v.Type == "ipv4-addr" {
			v4 = append(v4, r.v.Value)
		} else {
			v6 = append(v6, r.v.Value)
		}
	}
	return v4, v6
}

// nftChunk is how many elements one add element statement carries.
const nftChunk = 1000

// writeNftables writes an nft -f script: a table with one interval set per address family
// (auto-merge folds addresses into the blocks that hold them), emptied and refilled in the one
// transaction nft -f makes of a file, so that reloading it replaces the sets atomically.
func writeNftables(w *bufio.Writer, inds []*Indicator, m Meta) error {
	v4, v6 := addresses(inds)
	fmt.Fprintf(w, "# cshub nftables sets for %s, %s: %d IPv4, %d IPv6\n", m.Org, stamp(m.Time), len(v4), len(v6))
	w.WriteString("table inet cshub {\n")
	w.WriteString("\tset blocklist_v4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\tauto-merge\n\t}\n")
	w.WriteString("\tset blocklist_v6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t\tauto-merge\n\t}\n")
	w.WriteString("}\n")
	for _, set := range []struct {
		name  string
		elems []string
	}{{"blocklist_v4", v4}, {"blocklist_v6", v6}} {
		fmt.Fprintf(w, "flush set inet cshub %s\n", set.name)
		for i := 0; i < len(set.elems); i += nftChunk {
			fmt.Fprintf(w, "add element inet cshub %s { %s }\n", set.name, strings.Join(set.elems[i:min(i+nftChunk, len(set.elems))], ", "))
		}
	}
	return nil
}

// writeIPSet writes an `ipset restore` file: a hash:net set per address family, created if
// missing, emptied and refilled.
func writeIPSet(w *bufio.Writer, inds []*Indicator, m Meta) error {
	v4, v6 := addresses(inds)
	fmt.Fprintf(w, "# cshub ipset for %s, %s: %d IPv4, %d IPv6\n", m.Org, stamp(m.Time), len(v4), len(v6))
	for _, set := range []struct {
		name, family string
		elems        []string
	}{{"cshub-v4", "inet", v4}, {"cshub-v6", "inet6", v6}} {
		fmt.Fprintf(w, "create %s hash:net family %s hashsize 1024 maxelem %d -exist\n", set.name, set.family, max(65536, len(set.elems)))
		fmt.Fprintf(w, "flush %s\n", set.name)
		for _, e := range set.elems {
			w.WriteString("add ")
			w.WriteString(set.name)
			w.WriteByte(' ')
			w.WriteString(e)
			w.WriteByte('\n')
		}
	}
	return nil
}
