package match

// Compact rebuilds the index from its own contents, leaving out the entries
// of removed refs, and swaps the result in: the tombstones' memory is
// freed and removed refs may be reused afterwards. It is an alternative to
// rebuilding from the caller's store; lookups go on meanwhile, and changes
// made during it are replayed as for any Builder.
func (x *Index) Compact() error {
	b := x.NewBuilder(0)
	v := x.cur.Load()
	keep := func(ref uint32) bool { return v.states.get(ref) != stateRemoved }
	b.n += b.l.copyFrom(v.base, keep)
	v.delta.mu.RLock()
	b.n += b.l.copyFrom(v.delta.l, keep)
	v.delta.mu.RUnlock()
	if d := v.states.dir.Load(); d != nil {
		for c, chunk := range *d {
			if chunk == nil {
				continue
			}
			for i := range chunk {
				if st := chunk[i].Load(); st != stateValid && st != stateRemoved {
					b.states.set(uint32(c<<chunkBits|i), st)
				}
			}
		}
	}
	return x.Swap(b.Build())
}

// copyFrom adds the entries of o whose refs pass keep and returns how many.
func (l *layer) copyFrom(o *layer, keep func(ref uint32) bool) int {
	n := 0
	t := o.exact
	for i, f := range t.fps {
		if f == 0 || !keep(t.refs[i]&^refHostCIDR) {
			continue
		}
		flags, key := t.record(t.offs[i])
		l.exact.insert(key, flags, t.refs[i])
		n++
	}
	for p, v := range o.cidr.All() {
		refs := []uint32{v}
		if v&multiFlag != 0 {
			refs = o.multi[v&^multiFlag]
		}
		for _, r := range refs {
			if keep(r) {
				l.addCIDR(Ref(r), tcIP, p.String())
				n++
			}
		}
	}
	for ak, refs := range o.affix {
		for _, r := range refs {
			if keep(r) {
				l.addAffixKey(ak, r)
				n++
			}
		}
	}
	return n
}
