// Package correlation holds the hub's correlation links: which stored objects share an
// indicator or observable value with which others, in both directions, as first-class data
// that a read returns without searching the store.
//
// The links live in memory, rebuilt at start from the store and kept current from the bus (as
// package lookup keeps its matching index), rather than in a table of each store. Why: a link
// is a pure function of the objects' values, and the store already holds those values as
// blind-index tokens; a links table on SQLite and PostgreSQL would be a second copy that every
// write, deletion and revocation has to keep consistent in the same transaction, and one that a
// change of the common-value threshold would have to rewrite. Rebuilding from scratch is the
// recorrelation `cshub bench` measures (10M values well under a minute), so holding the links
// in memory costs a start-up pass and no consistency problem.
//
// The index keys values by their blind-index token (seal.Barrier.Token, kb.TokenValue), never
// by the value: not even memory holds a readable value here. A link A–B through a value is
// recorded once, as A and B both being holders of the value's node, so that it reads the same
// from either side and cannot exist in one direction only. A value held by more than the
// common-value threshold of objects stops producing pairwise links: it becomes a common-value
// node that its holders link to, so that the work and the storage of a correlation stay linear
// in the number of values however popular one value is (8.8.8.8, the hash of an empty file).
//
// The index knows nothing of who may see what: it keeps what the access rule needs (workspace,
// author, TLP, recipients) and the reader filters every link through package access.
package correlation

import (
	"sync"

	"cshub/internal/hub"
	"cshub/internal/seal"
)

// DefaultCommonAfter is the common-value threshold New uses for a value of zero: a value
// held by more objects than this becomes a common-value node.
const DefaultCommonAfter = 100

// Token is a value's blind-index token, as seal.Barrier.Token makes it.
type Token [seal.TokenSize]byte

// Object is what the index keeps of a holder: what a link shows and what the access rule
// needs, never the object's content.
type Object struct {
	Workspace  string
	ID         string
	Author     string
	TLP        hub.TLP
	Recipients []string
	Seq        int64
}

// Access returns o as a hub.Object without a body, for package access to decide on.
func (o *Object) Access() *hub.Object {
	return &hub.Object{ID: o.ID, Workspace: o.Workspace, Author: o.Author, TLP: o.TLP, Recipients: o.Recipients, Seq: o.Seq}
}

// Ref names an object in the index. Refs of removed objects are reused.
type Ref uint32

// node is one value: the objects holding it.
type node struct {
	token Token
	// one is the first holder, inline because most values are held once and a slice each
	// would be ten million small allocations for the garbage collector to walk.
	one  Ref
	more []Ref
	n    int32 // holders, one included
}

// holder returns the i-th holder of n.
func (n *node) holder(i int) Ref {
	if i == 0 {
		return n.one
	}
	return n.more[i-1]
}

// entry is one indexed object.
type entry struct {
	obj   Object
	nodes []uint32 // the object's values, as indexes into Index.nodes, without duplicates
	live  bool
}

// objectKey names an object as the store does: by workspace and id.
type objectKey struct{ workspace, id string }

// Index is the correlation index. The zero value is not usable; call New. It is safe for
// concurrent use: one writer or many readers at a time.
type Index struct {
	commonAfter int

	mu        sync.RWMutex
	entries   []entry           // by Ref; guarded by mu
	freeRefs  []Ref             // refs of removed entries, for reuse; guarded by mu
	byKey     map[objectKey]Ref // guarded by mu
	byToken   map[Token]uint32  // token → index into nodes; guarded by mu
	nodes     []node            // guarded by mu
	freeNodes []uint32          // nodes no object holds any more, for reuse; guarded by mu
}

// New returns an empty Index whose values held by more than commonAfter objects become
// common-value nodes (DefaultCommonAfter when commonAfter is 0 or less).
func New(commonAfter int) *Index {
	if commonAfter <= 0 {
		commonAfter = DefaultCommonAfter
	}
	return &Index{commonAfter: commonAfter, byKey: map[objectKey]Ref{}, byToken: map[Token]uint32{}}
}

// Grow makes room for about objects more objects holding values more values, so that a
// rebuild does not rehash as it goes.
func (x *Index) Grow(objects, values int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.byToken) == 0 {
		x.byToken = make(map[Token]uint32, values)
	}
	if len(x.byKey) == 0 {
		x.byKey = make(map[objectKey]Ref, objects)
	}
	x.nodes = growCap(x.nodes, values)
	x.entries = growCap(x.entries, objects)
}

func growCap[T any](s []T, n int) []T {
	if cap(s)-len(s) >= n {
		return s
	}
	out := make([]T, len(s), len(s)+n)
	copy(out, s)
	return out
}

// Change is what Put did to one value of the object it stored.
type Change struct {
	Token Token
	// Others are the objects the new object is now linked to through Token (each link
	// exists in both directions from now on); empty for a common value.
	Others []Ref
	// Common is set when the value is a common-value node; Became when this Put made it
	// one, so that its earlier holders' pairwise links gave way to the node.
	Common, Became bool
}

// Put indexes o as holding tokens, replacing what the index held for the same (workspace,
// id), and returns the links it made: per value also held by other objects, the other
// holders, or the common-value node. A nil or empty tokens removes o (a revoked object, or
// one whose new version holds no value). Duplicated tokens count once.
func (x *Index) Put(o Object, tokens []Token) []Change {
	x.mu.Lock()
	defer x.mu.Unlock()
	key := objectKey{o.Workspace, o.ID}
	if old, ok := x.byKey[key]; ok {
		x.removeLocked(old)
		delete(x.byKey, key)
	}
	if len(tokens) == 0 {
		return nil
	}
	ref := x.newRef(o)
	x.byKey[key] = ref
	e := &x.entries[ref]
	var out []Change
	for _, t := range tokens {
		i, found := x.byToken[t]
		if !found {
			i = x.newNode(t)
			x.byToken[t] = i
		}
		n := &x.nodes[i]
		if found && n.n > 0 && n.holder(int(n.n)-1) == ref {
			continue // a duplicate token of this object: holders are appended in order
		}
		if n.n == 0 {
			n.one = ref
		} else {
			n.more = append(n.more, ref)
		}
		n.n++
		e.nodes = append(e.nodes, i)
		if n.n == 1 {
			continue
		}
		c := Change{Token: t}
		switch {
		case x.common(n):
			c.Common, c.Became = true, int(n.n) == x.commonAfter+1
		default:
			c.Others = make([]Ref, 0, n.n-1)
			for h := range int(n.n) - 1 {
				c.Others = append(c.Others, n.holder(h))
			}
		}
		out = append(out, c)
	}
	return out
}

// common reports whether n is a common-value node: held by more objects than the threshold,
// its holders link to it rather than to each other. Links are read from the holders, not
// stored pairwise, so a value that crosses the threshold either way changes form at once and
// nothing has to be rewritten.
func (x *Index) common(n *node) bool { return int(n.n) > x.commonAfter }

func (x *Index) newRef(o Object) Ref {
	if k := len(x.freeRefs); k > 0 {
		ref := x.freeRefs[k-1]
		x.freeRefs = x.freeRefs[:k-1]
		x.entries[ref] = entry{obj: o, nodes: x.entries[ref].nodes[:0], live: true}
		return ref
	}
	x.entries = append(x.entries, entry{obj: o, live: true})
	return Ref(len(x.entries) - 1)
}

func (x *Index) newNode(t Token) uint32 {
	if k := len(x.freeNodes); k > 0 {
		i := x.freeNodes[k-1]
		x.freeNodes = x.freeNodes[:k-1]
		x.nodes[i] = node{token: t, more: x.nodes[i].more[:0]}
		return i
	}
	x.nodes = append(x.nodes, node{token: t})
	return uint32(len(x.nodes) - 1)
}

// Remove drops (workspace, id) from the index and with it every link it had, in both
// directions: a deleted or revoked object correlates with nothing.
func (x *Index) Remove(workspace, id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	key := objectKey{workspace, id}
	if ref, ok := x.byKey[key]; ok {
		x.removeLocked(ref)
		delete(x.byKey, key)
	}
}

// Forget removes every object of workspace, whose keys were destroyed.
func (x *Index) Forget(workspace string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for key, ref := range x.byKey {
		if key.workspace == workspace {
			x.removeLocked(ref)
			delete(x.byKey, key)
		}
	}
}

// Each calls fn with every object the index holds and the tokens of its values, under the
// read lock: readers go on, writers wait, and fn must not call the index.
func (x *Index) Each(fn func(o Object, tokens []Token)) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var tokens []Token
	for _, ref := range x.byKey {
		e := &x.entries[ref]
		tokens = tokens[:0]
		for _, n := range e.nodes {
			tokens = append(tokens, x.nodes[n].token)
		}
		fn(e.obj, tokens)
	}
}

// removeLocked takes ref out of every node it holds and frees it. x.mu is held.
func (x *Index) removeLocked(ref Ref) {
	e := &x.entries[ref]
	for _, i := range e.nodes {
		n := &x.nodes[i]
		for h := range int(n.n) {
			if n.holder(h) != ref {
				continue
			}
			// Keep the holders in order: Put's duplicate check reads the last one.
			if h == 0 {
				if len(n.more) > 0 {
					n.one = n.more[0]
					n.more = append(n.more[:0], n.more[1:]...)
				}
			} else {
				n.more = append(n.more[:h-1], n.more[h:]...)
			}
			n.n--
			break
		}
		if n.n == 0 {
			delete(x.byToken, n.token)
			x.freeNodes = append(x.freeNodes, i)
		}
	}
	e.live, e.obj = false, Object{}
	e.nodes = e.nodes[:0]
	x.freeRefs = append(x.freeRefs, ref)
}

// Link is one correlation as seen from an object: through the value whose token is Token, it
// is linked to Other, or, when Common, to the common-value node of Holders objects.
type Link struct {
	Token   Token
	Other   Object
	Common  bool
	Holders []Object // a common value's other holders; set only when Common
}

// Links returns the links of (workspace, id), in the order of its values; nothing when the
// index does not hold it. The objects are copies: the caller may keep them.
func (x *Index) Links(workspace, id string) []Link {
	x.mu.RLock()
	defer x.mu.RUnlock()
	ref, ok := x.byKey[objectKey{workspace, id}]
	if !ok {
		return nil
	}
	var out []Link
	for _, i := range x.entries[ref].nodes {
		n := &x.nodes[i]
		if n.n < 2 {
			continue
		}
		if x.common(n) {
			l := Link{Token: n.token, Common: true, Holders: make([]Object, 0, n.n-1)}
			for h := range int(n.n) {
				if r := n.holder(h); r != ref {
					l.Holders = append(l.Holders, x.entries[r].obj)
				}
			}
			out = append(out, l)
			continue
		}
		for h := range int(n.n) {
			if r := n.holder(h); r != ref {
				out = append(out, Link{Token: n.token, Other: x.entries[r].obj})
			}
		}
	}
	return out
}

// Object returns the object ref names and whether the index holds it.
func (x *Index) Object(ref Ref) (Object, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if int(ref) >= len(x.entries) || !x.entries[ref].live {
		return Object{}, false
	}
	return x.entries[ref].obj, true
}

// Stats counts what the index holds: objects, distinct values, common-value nodes, and
// pairwise links (each counted once, though it reads from both sides).
type Stats struct {
	Objects, Values, Common, Links int
}

// Stats returns the index's counts. It walks every value: for reports and tests, not for a
// request path.
func (x *Index) Stats() Stats {
	x.mu.RLock()
	defer x.mu.RUnlock()
	s := Stats{Objects: len(x.byKey), Values: len(x.byToken)}
	for i := range x.nodes {
		n := &x.nodes[i]
		switch {
		case n.n == 0:
		case x.common(n):
			s.Common++
		default:
			s.Links += int(n.n) * int(n.n-1) / 2
		}
	}
	return s
}
