package match

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"math/bits"
)

// Record flags, stored in the arena with each key.
const (
	// flagParent marks a domain that may match as the parent of a looked-up
	// name: it has at least two labels and is not a public suffix.
	flagParent = 1 << iota
)

// refHostCIDR is set in a slot's ref when the entry was a CIDR block of one
// address (/32, /128). Such blocks live in the exact table, where they cost
// far less than in the trie, and are reported as "cidr" matches.
const refHostCIDR = 1 << 31

// maxRef is the largest Ref the index accepts: the top bit of a slot's ref
// is a flag.
const maxRef = refHostCIDR - 1

// exactTable is an open-addressing hash table from keys to refs, with linear
// probing. It holds no Go pointers per entry: a slot is a 32-bit
// fingerprint, a ref and the offset of the key's record in an arena, 12
// bytes in all. Probing reads only the fingerprint array, 16 slots to a
// cache line; the arena is read only to confirm a fingerprint match, so a
// 64-bit hash collision never yields a wrong hit.
//
// A key held by several refs has one slot per ref, all pointing at one
// record. The zero fingerprint marks an empty slot.
type exactTable struct {
	seed  maphash.Seed
	fps   []uint32
	refs  []uint32
	offs  []uint32
	n     int    // slots in use
	arena []byte // records: flags byte, uvarint key length, key
	// parents, made by compact, filters the keys that may match as parent
	// domains (flagParent). A name looked up is probed for each of its
	// parents, nearly always in vain; this few-megabyte filter answers
	// most of those probes instead of the much larger table. nil passes
	// every key.
	parents bloom
}

func newExactTable(seed maphash.Seed, hint int) *exactTable {
	t := &exactTable{seed: seed}
	t.resize(capFor(hint))
	return t
}

// capFor returns the slot count that holds n entries at a load factor of at
// most 5/8: low enough for short probes on misses, which dominate (about
// four slots on average with linear probing, one cache line).
func capFor(n int) int {
	c := n + n*3/5 + 1
	if c < 8 {
		c = 8
	}
	return c
}

func (t *exactTable) hash(key []byte) uint64 { return maphash.Bytes(t.seed, key) }

// fp returns the fingerprint of a hash: never zero, and taken from bits the
// slot position (the high bits of hash×cap) hardly depends on.
func fp(h uint64) uint32 { return uint32(h) | 1 }

// slot returns the home slot of a hash, a multiply-shift range reduction
// that needs no power-of-two size.
func (t *exactTable) slot(h uint64) int {
	hi, _ := bits.Mul64(h, uint64(len(t.fps)))
	return int(hi)
}

// record returns the flags and key of the record at off.
func (t *exactTable) record(off uint32) (flags byte, key []byte) {
	a := t.arena[off:]
	n, w := binary.Uvarint(a[1:])
	return a[0], a[1+w : 1+w+int(n)]
}

// find returns the offset of key's record, if the table has it.
func (t *exactTable) find(h uint64, key []byte) (uint32, bool) {
	f, c := fp(h), len(t.fps)
	for i := t.slot(h); t.fps[i] != 0; {
		if t.fps[i] == f {
			if _, k := t.record(t.offs[i]); bytes.Equal(k, key) {
				return t.offs[i], true
			}
		}
		if i++; i == c {
			i = 0
		}
	}
	return 0, false
}

// insert adds a slot for ref under key, sharing the record if the key is
// there already. It reports false if ref already has a slot for the key.
func (t *exactTable) insert(key []byte, flags byte, ref uint32) bool {
	h := t.hash(key)
	off, ok := t.find(h, key)
	if ok {
		for i := t.slot(h); t.fps[i] != 0; i = (i + 1) % len(t.fps) {
			if t.offs[i] == off && t.refs[i] == ref {
				return false
			}
		}
	} else {
		off = uint32(len(t.arena))
		t.arena = append(t.arena, flags)
		t.arena = binary.AppendUvarint(t.arena, uint64(len(key)))
		t.arena = append(t.arena, key...)
	}
	t.parents = nil // it would miss the key
	if (t.n+1)*8 > len(t.fps)*5 {
		t.resize(2 * len(t.fps))
	}
	t.place(h, ref, off)
	t.n++
	return true
}

func (t *exactTable) place(h uint64, ref, off uint32) {
	i, c := t.slot(h), len(t.fps)
	for t.fps[i] != 0 {
		if i++; i == c {
			i = 0
		}
	}
	t.fps[i], t.refs[i], t.offs[i] = fp(h), ref, off
}

// resize rehashes into c slots, recomputing hashes from the arena.
func (t *exactTable) resize(c int) {
	fps, refs, offs := t.fps, t.refs, t.offs
	t.fps, t.refs, t.offs = make([]uint32, c), make([]uint32, c), make([]uint32, c)
	for i, f := range fps {
		if f != 0 {
			_, k := t.record(offs[i])
			t.place(t.hash(k), refs[i], offs[i])
		}
	}
}

// compact shrinks the table to the size its entries need and trims the
// arena's spare capacity; for a table that will not grow any more.
func (t *exactTable) compact() {
	if c := capFor(t.n); c < len(t.fps) {
		t.resize(c)
	}
	t.arena = append([]byte(nil), t.arena...)
	n := 0
	for i, f := range t.fps {
		if f != 0 && t.arena[t.offs[i]]&flagParent != 0 {
			n++
		}
	}
	t.parents = newBloom(n)
	for i, f := range t.fps {
		if f != 0 && t.arena[t.offs[i]]&flagParent != 0 {
			_, k := t.record(t.offs[i])
			t.parents.add(t.hash(k))
		}
	}
}

// mayParent reports whether the key of hash h may be in the table with
// flagParent; false is certain.
func (t *exactTable) mayParent(h uint64) bool { return t.parents == nil || t.parents.has(h) }

// bloom is a blocked Bloom filter of key hashes: each key sets bloomK bits
// in one 64-bit word, so a test costs one memory load. At 16 bits a key it
// passes about 0.5% of absent keys.
type bloom []uint64

const bloomK = 4

func newBloom(n int) bloom { return make(bloom, n/4+1) }

// word returns the index of h's word, from the high bits of h as slot
// does; bloomMask takes the bits to set from the middle of h, apart from
// those high bits.
func (b bloom) word(h uint64) int {
	hi, _ := bits.Mul64(h, uint64(len(b)))
	return int(hi)
}

func bloomMask(h uint64) uint64 {
	var m uint64
	for i := range bloomK {
		m |= 1 << (h >> (20 + 6*i) & 63)
	}
	return m
}

func (b bloom) add(h uint64) { b[b.word(h)] |= bloomMask(h) }

func (b bloom) has(h uint64) bool {
	m := bloomMask(h)
	return b[b.word(h)]&m == m
}

// each calls f for every slot whose key equals key, with the slot's ref and
// record flags.
func (t *exactTable) each(h uint64, key []byte, f func(ref uint32, flags byte)) {
	fpv, c := fp(h), len(t.fps)
	var off uint32
	found := false
	for i := t.slot(h); t.fps[i] != 0; {
		if t.fps[i] == fpv && (!found || t.offs[i] == off) {
			if found {
				fl, _ := t.record(off)
				f(t.refs[i], fl)
			} else if fl, k := t.record(t.offs[i]); bytes.Equal(k, key) {
				found, off = true, t.offs[i]
				f(t.refs[i], fl)
			}
		}
		if i++; i == c {
			i = 0
		}
	}
}

// bytes returns the memory held by the table's arrays and arena.
func (t *exactTable) bytes() int {
	return 12*len(t.fps) + cap(t.arena) + 8*len(t.parents)
}
