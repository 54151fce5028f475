package stream

import "sync"

// cacheSize is how many events' frames a Server keeps: streams that follow the bus closely
// read each object once between them; one that resumes from far back reads its own.
const cacheSize = 4096

// frameCache holds the frames of the latest events by bus Seq. Concurrent gets of one Seq
// share one load. It is safe for concurrent use.
type frameCache struct {
	mu      sync.Mutex
	entries map[uint64]*entry // guarded by mu
	order   []uint64          // ring of the Seqs in entries, oldest at next; guarded by mu
	next    int               // guarded by mu
}

type entry struct {
	done chan struct{} // closed when the load has ended
	c    *cached       // nil: the event has no frame for anyone
	err  error
}

func (fc *frameCache) init(size int) {
	fc.entries = make(map[uint64]*entry, size)
	fc.order = make([]uint64, 0, size)
}

// get returns the frame of the event seq, calling load when no other caller has or does. A
// failed load is not kept: the next get tries again.
func (fc *frameCache) get(seq uint64, load func() (*cached, error)) (*cached, error) {
	fc.mu.Lock()
	if e, ok := fc.entries[seq]; ok {
		fc.mu.Unlock()
		<-e.done
		return e.c, e.err
	}
	e := &entry{done: make(chan struct{})}
	fc.add(seq, e)
	fc.mu.Unlock()

	e.c, e.err = load()
	close(e.done)
	if e.err != nil {
		fc.mu.Lock()
		if fc.entries[seq] == e {
			delete(fc.entries, seq)
		}
		fc.mu.Unlock()
	}
	return e.c, e.err
}

// add keeps e for seq, evicting the oldest entry when full. fc.mu must be held.
func (fc *frameCache) add(seq uint64, e *entry) {
	if len(fc.order) < cap(fc.order) {
		fc.order = append(fc.order, seq)
	} else {
		delete(fc.entries, fc.order[fc.next])
		fc.order[fc.next] = seq
		fc.next = (fc.next + 1) % len(fc.order)
	}
	fc.entries[seq] = e
}
