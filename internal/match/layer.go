package match

import (
	"hash/maphash"
	"net/netip"
	"slices"
	"strings"

	"github.com/gaissmai/bart"
	"golang.org/x/net/publicsuffix"

	"cshub/internal/hub"
	"cshub/internal/stix/pattern"
)

// How a hit matched; the values of Hit.How.
const (
	HowExact        = "exact"
	HowCIDR         = "cidr"
	HowParentDomain = "parent-domain"
	HowPrefix       = "prefix"
	HowSuffix       = "suffix"
)

// layer holds indicator entries of every kind: exact keys in a hash table,
// CIDR blocks in a trie, prefixes and suffixes in small maps. A layer is not
// safe for concurrent use while it is written; the base layer of a snapshot
// is never written after it is built, and the delta layer is guarded by a
// lock (see Index).
type layer struct {
	exact *exactTable
	cidr  *bart.Table[uint32] // value: a ref, or multiFlag|index into multi
	multi [][]uint32          // refs of blocks held by more than one ref
	nCIDR int
	// cover4 has a bit for every /24 of the IPv4 space that an IPv4 block
	// overlaps (2 MiB, made with the first IPv4 block). Most addresses
	// looked up lie in no block; one load of this bitmap tells so without
	// walking the trie, and LookupBatch loads it ahead for many queries.
	cover4 []uint64
	affix  map[affixKey][]uint32 // prefix and suffix entries
	// affixLens lists, per kind and side, the distinct lengths of the
	// affixes, so that a lookup tries one map probe per length.
	affixLens map[affixSide][]int
}

const multiFlag = 1 << 31

type affixSide struct {
	k      kind
	suffix bool
}

type affixKey struct {
	affixSide
	s string
}

func newLayer(seed maphash.Seed, hint int) *layer {
	return &layer{exact: newExactTable(seed, hint), cidr: new(bart.Table[uint32])}
}

// add adds one pattern entry for ref. The entry's value is canonicalised as
// Canonical does; a value that does not canonicalise is refused.
func (l *layer) add(ref Ref, e pattern.Entry) error {
	if uint32(ref) > maxRef {
		return hub.FieldError("ref", "ref %d is above the limit %d", ref, uint32(maxRef))
	}
	tc, hexLen, hashName := entryClass(e)
	if tc == tcUnknown {
		return hub.FieldError("type", "the index does not serve %s:%s", e.Type, e.Path)
	}
	switch e.Kind {
	case pattern.Exact:
		key, err := appendKeyClass(nil, tc, hexLen, hashName, e.Type, e.Value)
		if err != nil {
			return err
		}
		var flags byte
		if keyKind(key) == kDomain && parentEligible(string(key[:len(key)-1])) {
			flags = flagParent
		}
		l.exact.insert(key, flags, uint32(ref))
		return nil
	case pattern.CIDR:
		return l.addCIDR(ref, tc, e.Value)
	case pattern.Prefix, pattern.Suffix:
		return l.addAffix(ref, tc, e)
	}
	return hub.FieldError("kind", "unknown entry kind %d", e.Kind)
}

// entryClass returns the canonicalisation class of an entry's property.
func entryClass(e pattern.Entry) (typeClass, int, string) {
	switch e.Type {
	case "ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr":
		if e.Path != "value" {
			return tcUnknown, 0, ""
		}
		tc, _, _ := classOf(e.Type)
		if tc == tcIPv4 {
			tc = tcIP // an ipv4-addr pattern may be written with a mapped address
		}
		return tc, 0, ""
	case "file":
		name, ok := strings.CutPrefix(e.Path, "hashes.")
		if !ok {
			return tcUnknown, 0, ""
		}
		return hashClass(name)
	}
	return tcUnknown, 0, ""
}

// parentEligible reports whether a canonical domain may match as the parent
// of looked-up names: not a single label, not a public suffix (co.uk,
// github.io). Lookups walk up to two-label names only; this keeps a listed
// public suffix from matching every name below it.
func parentEligible(d string) bool {
	if strings.IndexByte(d, '.') < 0 {
		return false
	}
	ps, _ := publicsuffix.PublicSuffix(d)
	return ps != d
}

func (l *layer) addCIDR(ref Ref, tc typeClass, v string) error {
	if tc != tcIP {
		return hub.FieldError("value", "a CIDR block on a non-address property")
	}
	p, err := parseIPOrPrefix(v)
	if err != nil {
		return hub.FieldError("value", "not a CIDR block: %q", clip(v))
	}
	if p.Bits() == 0 {
		return hub.FieldError("value", "the CIDR block %s matches every address; refused", p)
	}
	if p.IsSingleIP() {
		// One address: an exact key, flagged so that hits say "cidr".
		return l.addHost(ref, p)
	}
	l.nCIDR++
	if p.Addr().Is4() {
		l.markCover4(p)
	}
	l.cidr.Modify(p, func(old uint32, ok bool) (uint32, bool) {
		switch {
		case !ok:
			return uint32(ref), false
		case old&multiFlag != 0:
			i := old &^ multiFlag
			if !slices.Contains(l.multi[i], uint32(ref)) {
				l.multi[i] = append(l.multi[i], uint32(ref))
			}
			return old, false
		case old == uint32(ref):
			return old, false
		}
		l.multi = append(l.multi, []uint32{old, uint32(ref)})
		return uint32(len(l.multi)-1) | multiFlag, false
	})
	return nil
}

// markCover4 sets the cover4 bits of the /24s that an IPv4 block overlaps.
func (l *layer) markCover4(p netip.Prefix) {
	if l.cover4 == nil {
		l.cover4 = make([]uint64, 1<<24/64)
	}
	first := slash24(p.Addr())
	n := uint32(1)
	if p.Bits() < 24 {
		n = 1 << (24 - p.Bits())
	}
	for i := first; i < first+n; i++ {
		l.cover4[i/64] |= 1 << (i % 64)
	}
}

// slash24 returns the number of the /24 holding an IPv4 address.
func slash24(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2])
}

// maybeCIDR reports whether an IPv4 address or block of /24 or longer may
// lie in one of the layer's blocks; false is certain.
func (l *layer) maybeCIDR(p netip.Prefix) bool {
	if !p.Addr().Is4() || p.Bits() < 24 {
		return l.nCIDR > 0
	}
	if l.cover4 == nil {
		return false
	}
	i := slash24(p.Addr())
	return l.cover4[i/64]&(1<<(i%64)) != 0
}

func (l *layer) addHost(ref Ref, p netip.Prefix) error {
	key := appendPrefixKey(nil, p)
	l.exact.insert(key, 0, uint32(ref)|refHostCIDR)
	return nil
}

func (l *layer) addAffix(ref Ref, tc typeClass, e pattern.Entry) error {
	var k kind
	v := e.Value
	switch tc {
	case tcDomain:
		k, v = kDomain, strings.ToLower(v)
	case tcURL:
		k = kURL
	case tcEmail:
		k = kEmail
	case tcHash:
		k, v = kHash, strings.ToLower(v)
	default:
		return hub.FieldError("value", "prefix and suffix entries are not served on %s", e.Type)
	}
	if v == "" {
		return hub.FieldError("value", "empty prefix or suffix")
	}
	l.addAffixKey(affixKey{affixSide{k: k, suffix: e.Kind == pattern.Suffix}, v}, uint32(ref))
	return nil
}

func (l *layer) addAffixKey(ak affixKey, ref uint32) {
	if l.affix == nil {
		l.affix, l.affixLens = map[affixKey][]uint32{}, map[affixSide][]int{}
	}
	if refs := l.affix[ak]; !slices.Contains(refs, ref) {
		l.affix[ak] = append(refs, ref)
	}
	if lens := l.affixLens[ak.affixSide]; !slices.Contains(lens, len(ak.s)) {
		l.affixLens[ak.affixSide] = append(lens, len(ak.s))
	}
}

// filter decides whether a ref's hit is reported; see refStates.
type filter func(ref uint32) bool

// lookupExact reports the exact (and single-address CIDR) hits on key.
func (l *layer) lookupExact(h uint64, key []byte, ok filter, emit func(Hit)) {
	l.exact.each(h, key, func(ref uint32, _ byte) {
		r := ref &^ refHostCIDR
		if !ok(r) {
			return
		}
		hit := Hit{Ref: Ref(r), How: HowExact, Matched: keyText(key)}
		if ref&refHostCIDR != 0 {
			hit.How = HowCIDR
			hit.Matched = keyPrefix(key).String()
		}
		emit(hit)
	})
}

// lookupMore reports the hits other than exact ones: enclosing CIDR blocks
// of an address or block, parent domains of a name if parents is set, and
// affixes.
func (l *layer) lookupMore(key []byte, parents bool, ok filter, emit func(Hit)) {
	switch k := keyKind(key); k {
	case kIPv4, kIPv6, kPrefix4, kPrefix6:
		if p := keyPrefix(key); l.maybeCIDR(p) {
			l.lookupCIDR(p, ok, emit)
		}
	case kDomain:
		if parents {
			l.lookupParents(key, ok, emit)
		}
	}
	if l.affix != nil {
		l.lookupAffix(key, ok, emit)
	}
}

func (l *layer) lookupCIDR(p netip.Prefix, ok filter, emit func(Hit)) {
	if p.IsSingleIP() {
		if !l.cidr.Contains(p.Addr()) {
			return // the common case: a miss, without an iterator
		}
	} else if _, _, found := l.cidr.LookupPrefixLPM(p); !found {
		return
	}
	for sp, v := range l.cidr.Supernets(p) {
		if v&multiFlag == 0 {
			if ok(v) {
				emit(Hit{Ref: Ref(v), How: HowCIDR, Matched: sp.String()})
			}
			continue
		}
		for _, r := range l.multi[v&^multiFlag] {
			if ok(r) {
				emit(Hit{Ref: Ref(r), How: HowCIDR, Matched: sp.String()})
			}
		}
	}
}

// lookupParents reports entries for the parents of a domain key, down to
// two-label names. Keys end in their kind byte, so each parent's key is a
// suffix of the child's.
func (l *layer) lookupParents(key []byte, ok filter, emit func(Hit)) {
	name := key[:len(key)-1]
	for i := 0; i < len(name); i++ {
		if name[i] != '.' {
			continue
		}
		parent := key[i+1:]
		if !hasDot(parent[:len(parent)-1]) {
			return
		}
		l.lookupParent(l.exact.hash(parent), parent, ok, emit)
	}
}

// lookupParent reports the entries for parent, the key of a parent domain
// of a looked-up name, that may match as parents.
func (l *layer) lookupParent(h uint64, parent []byte, ok filter, emit func(Hit)) {
	l.exact.each(h, parent, func(ref uint32, flags byte) {
		if flags&flagParent != 0 && ok(ref) {
			emit(Hit{Ref: Ref(ref), How: HowParentDomain, Matched: string(parent[:len(parent)-1])})
		}
	})
}

func hasDot(b []byte) bool {
	for _, c := range b {
		if c == '.' {
			return true
		}
	}
	return false
}

func (l *layer) lookupAffix(key []byte, ok filter, emit func(Hit)) {
	k := keyKind(key)
	pre, suf := l.affixLens[affixSide{k, false}], l.affixLens[affixSide{k, true}]
	if len(pre) == 0 && len(suf) == 0 {
		return
	}
	text := keyText(key)
	try := func(side affixSide, s, how string) {
		for _, r := range l.affix[affixKey{side, s}] {
			if ok(r) {
				emit(Hit{Ref: Ref(r), How: how, Matched: s})
			}
		}
	}
	for _, n := range pre {
		if n <= len(text) {
			try(affixSide{k, false}, text[:n], HowPrefix)
		}
	}
	for _, n := range suf {
		if n <= len(text) {
			try(affixSide{k, true}, text[len(text)-n:], HowSuffix)
		}
	}
}
