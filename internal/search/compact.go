package search

// Dead returns how many replaced or removed versions the index still carries: their
// postings cost memory and search time until Compact.
func (x *Index) Dead() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.docs) - x.live
}

// Compact drops the postings of replaced and removed versions and renumbers the documents.
// It holds the index exclusively while it runs (in the order of a second per ten million
// postings), so call it when Dead is a good part of Len, at a quiet moment; Build gives the
// same result from the store. Cursors stay valid: they hold scores and Seqs, not numbers.
func (x *Index) Compact() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.live == len(x.docs) {
		return
	}
	renum := make([]uint32, len(x.docs)) // old number -> new number + 1; 0 for dead
	docs := make([]doc, 0, x.live)
	ids := make([]string, 0, x.live)
	texts := make([]string, 0, x.live)
	rcpts := [][]uint16{nil}
	for n := range x.docs {
		d := x.docs[n]
		if d.dead {
			continue
		}
		if d.rcpt != 0 {
			rcpts = append(rcpts, x.rcpts[d.rcpt])
			d.rcpt = uint32(len(rcpts) - 1)
		}
		renum[n] = uint32(len(docs)) + 1
		docs = append(docs, d)
		ids = append(ids, x.ids[n])
		texts = append(texts, x.texts[n])
	}
	for k := range x.plists {
		p := &x.plists[k]
		var out postings
		start := uint32(0)
		for i, n := range p.docs {
			end := p.posEnd[i]
			if m := renum[n]; m != 0 {
				out.docs = append(out.docs, m-1)
				out.tfs = append(out.tfs, p.tfs[i])
				out.pos = append(out.pos, p.pos[start:end]...)
				out.posEnd = append(out.posEnd, uint32(len(out.pos)))
			}
			start = end
		}
		*p = out // terms left with no documents stay in the dictionary, empty
	}
	for key, n := range x.byKey {
		x.byKey[key] = renum[n] - 1
	}
	x.docs, x.ids, x.texts, x.rcpts = docs, ids, texts, rcpts
}
