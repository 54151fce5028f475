package export

import "cshub/internal/prefault"

// histories finds the histories of indicators by the hash of their id (Catalog.idHash): an
// array of chains, linked through history.next, that doubles as it fills. A cold export adds a
// million histories on the one goroutine that loads the catalog; a Go map keyed by the hash
// copied its tables into new memory as it grew, and that goroutine spent 0.4 CPU-s on it and on
// the pages of the new tables faulting in, one by one. Growing this one re-links the histories
// it holds, and allocates only the new array, mapped at once (package prefault).
type histories struct {
	heads []*history // len 0 or a power of two; heads[hash&(len-1)] starts a chain
	n     int        // how many histories the chains hold
}

// minHeads is the length of the first array.
const minHeads = 1024

// chain returns the first history of the chain that holds those whose id hashes to hash, if
// any; the chain also holds histories of other hashes, which history.hash tells apart.
func (t *histories) chain(hash uint64) *history {
	if len(t.heads) == 0 {
		return nil
	}
	return t.heads[hash&uint64(len(t.heads)-1)]
}

// add adds h, whose hash is set.
func (t *histories) add(h *history) {
	if t.n >= len(t.heads) {
		t.grow()
	}
	i := h.hash & uint64(len(t.heads)-1)
	h.next, t.heads[i] = t.heads[i], h
	t.n++
}

// grow doubles the array, keeping a chain at most as long, on average, as one history.
func (t *histories) grow() {
	heads := make([]*history, max(minHeads, 2*len(t.heads)))
	prefault.Slice(heads)
	mask := uint64(len(heads) - 1)
	for _, h := range t.heads {
		for h != nil {
			next := h.next
			h.next, heads[h.hash&mask] = heads[h.hash&mask], h
			h = next
		}
	}
	t.heads = heads
}
