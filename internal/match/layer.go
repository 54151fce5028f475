package match

import (
	"hash/maphash"
	"math/bits"
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
	// cells, made when a layer is sealed, has one cell per bit set in
	// cover4, at the index rank4[i/64] (the bits set in the words before)
	// plus the bits set before bit i in its word: for most addresses in a
	// block, one load answers without the trie's chain of dependent loads,
	// and LookupBatch loads it ahead too. See cell.
	rank4    []uint32
	cells    []uint64
	cellList []uint64
	affix    map[affixKey][]uint32 // prefix and suffix entries
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
	l.rank4, l.cells, l.cellList = nil, nil, nil // they would miss the block
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

// refsOf returns the refs of a trie value.
func (l *layer) refsOf(v uint32) []uint32 {
	if v&multiFlag != 0 {
		return l.multi[v&^multiFlag]
	}
	return []uint32{v}
}

// markCover4 sets the cover4 bits of the /24s that an IPv4 block overlaps.
func (l *layer) markCover4(p netip.Prefix) {
	if l.cover4 == nil {
		l.cover4 = make([]uint64, 1<<24/64)
	}
	first, n := span24(p)
	for i := first; i < first+n; i++ {
		l.cover4[i/64] |= 1 << (i % 64)
	}
}

// span24 returns the first and the number of the /24s that an IPv4 block
// overlaps.
func span24(p netip.Prefix) (first, n uint32) {
	n = 1
	if p.Bits() < 24 {
		n = 1 << (24 - p.Bits())
	}
	return slash24(p.Addr()), n
}

// slash24 returns the number of the /24 holding an IPv4 address.
func slash24(a netip.Addr) uint32 {
	b := a.As4()
	return slash24Key(b[:])
}

// slash24Key returns the number of the /24 holding the address of a kIPv4
// key.
func slash24Key(k []byte) uint32 { return uint32(k[0])<<16 | uint32(k[1])<<8 | uint32(k[2]) }

// A cell tells the hits of the addresses of one /24 that some IPv4 block
// overlaps. It is an entry (see makeCell) when one block with one ref
// overlaps the /24; cellList|n<<32|i when n > 1 entries do, held in
// cellList[i:i+n]; cellTrie when so many do that the trie is quicker.
const (
	cellList    = 1 << 63
	cellTrie    = cellList // a list of none
	maxCellList = 16
)

// cell returns the cell of /24 number i and whether an IPv4 block overlaps
// it; cellTrie for any overlapped /24 of a layer without cells (a layer
// still written).
func (l *layer) cell(i uint32) (uint64, bool) {
	if l.cover4 == nil {
		return 0, false
	}
	w, bit := l.cover4[i/64], uint64(1)<<(i%64)
	switch {
	case w&bit == 0:
		return 0, false
	case l.cells == nil:
		return cellTrie, true
	}
	return l.cells[l.rank4[i/64]+uint32(bits.OnesCount64(w&(bit-1)))], true
}

// makeCell returns the entry of an IPv4 block for one of its refs: the ref
// in the low 32 bits, the last byte of the block's address above it, the
// block's length above that. It is never 0.
func makeCell(p netip.Prefix, ref uint32) uint64 {
	return uint64(p.Bits())<<40 | uint64(p.Addr().As4()[3])<<32 | uint64(ref)
}

// seal prepares a layer that will not be written any more for lookups:
// it shrinks the exact table and makes its parent filter, and makes the
// cells. A later add drops what it would make stale.
func (l *layer) seal() {
	l.exact.compact()
	l.buildCells()
}

// buildCells makes the cells of the overlapped /24s.
func (l *layer) buildCells() {
	if l.cover4 == nil {
		return
	}
	l.rank4 = make([]uint32, len(l.cover4))
	n := uint32(0)
	for i, w := range l.cover4 {
		l.rank4[i] = n
		n += uint32(bits.OnesCount64(w))
	}
	index := func(i uint32) uint32 {
		return l.rank4[i/64] + uint32(bits.OnesCount64(l.cover4[i/64]&(1<<(i%64)-1)))
	}
	// Count the entries of each /24, lay out the lists, then fill them,
	// counting down.
	count := make([]uint32, n)
	for p, v := range l.cidr.All4() {
		first, m := span24(p)
		for i := first; i < first+m; i++ {
			count[index(i)] += uint32(len(l.refsOf(v)))
		}
	}
	cells := make([]uint64, n)
	var list []uint64
	for j, c := range count {
		switch {
		case c > maxCellList:
			cells[j] = cellTrie
		case c > 1:
			cells[j] = cellList | uint64(c)<<32 | uint64(len(list))
			list = append(list, make([]uint64, c)...)
		}
	}
	for p, v := range l.cidr.All4() {
		first, m := span24(p)
		for i := first; i < first+m; i++ {
			j := index(i)
			for _, r := range l.refsOf(v) {
				switch c := cells[j]; {
				case c == 0:
					cells[j] = makeCell(p, r)
				case c != cellTrie:
					count[j]--
					list[uint32(c)+count[j]] = makeCell(p, r)
				}
			}
		}
	}
	l.cells, l.cellList = cells, list
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
		l.lookupCIDR(keyPrefix(key), ok, emit)
	case kDomain:
		if parents {
			l.lookupParents(key, ok, emit)
		}
	}
	if l.affix != nil {
		l.lookupAffix(key, ok, emit)
	}
}

// lookupCIDR reports the blocks that contain an address or block.
func (l *layer) lookupCIDR(p netip.Prefix, ok filter, emit func(Hit)) {
	if a := p.Addr(); a.Is4() && p.Bits() >= 24 {
		c, covered := l.cell(slash24(a))
		switch {
		case !covered:
			return
		case c&cellList == 0:
			emitCell(c, p, ok, emit)
			return
		case c != cellTrie:
			for _, e := range l.cellList[uint32(c):][:c>>32&maxRef] {
				emitCell(e, p, ok, emit)
			}
			return
		}
	} else if l.nCIDR == 0 {
		return
	}
	if p.IsSingleIP() {
		if !l.cidr.Contains(p.Addr()) {
			return // the common case: a miss, without an iterator
		}
	} else if _, _, found := l.cidr.LookupPrefixLPM(p); !found {
		return
	}
	for sp, v := range l.cidr.Supernets(p) {
		for _, r := range l.refsOf(v) {
			if ok(r) {
				emit(Hit{Ref: Ref(r), How: HowCIDR, Matched: sp.String()})
			}
		}
	}
}

// emitCell reports the block of a cell entry if it contains p, an IPv4
// address or block of /24 or longer in the entry's /24.
func emitCell(e uint64, p netip.Prefix, ok filter, emit func(Hit)) {
	bits := int(e >> 40)
	if bits > p.Bits() {
		return
	}
	b := netip.PrefixFrom(p.Addr(), bits).Masked()
	if b.Addr().As4()[3] == byte(e>>32) && ok(uint32(e)) {
		var buf [len("255.255.255.255/32")]byte
		emit(Hit{Ref: Ref(uint32(e)), How: HowCIDR, Matched: string(b.AppendTo(buf[:0]))}) // one allocation, where String makes two
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
	if !l.exact.mayParent(h) {
		return
	}
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
