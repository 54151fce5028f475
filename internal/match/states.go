package match

import (
	"sync/atomic"
	"time"
)

// Ref state values. Any other value is a deadline in Unix seconds: the ref
// is valid while the clock reads before it.
const (
	stateValid   = 0          // no deadline
	stateRemoved = ^uint32(0) // removed (revoked)
	maxDeadline  = stateRemoved - 1
)

const chunkBits = 16

type stateChunk [1 << chunkBits]atomic.Uint32

// refStates holds one 32-bit state per ref: valid, removed or valid until a
// deadline. Readers load it without locks; writers must be serialised by
// the caller. It grows in chunks of 65,536 refs that never move, allocated
// on the first state set in them, so refs without a state cost nothing.
type refStates struct {
	dir atomic.Pointer[[]*stateChunk]
}

func (s *refStates) get(ref uint32) uint32 {
	d := s.dir.Load()
	if d == nil {
		return stateValid
	}
	c := int(ref >> chunkBits)
	if c >= len(*d) || (*d)[c] == nil {
		return stateValid
	}
	return (*d)[c][ref&(1<<chunkBits-1)].Load()
}

// set stores a state; callers serialise calls.
func (s *refStates) set(ref, v uint32) {
	var dir []*stateChunk
	if d := s.dir.Load(); d != nil {
		dir = *d
	}
	c := int(ref >> chunkBits)
	if c >= len(dir) || dir[c] == nil {
		if v == stateValid {
			return
		}
		nd := make([]*stateChunk, max(len(dir), c+1))
		copy(nd, dir)
		nd[c] = new(stateChunk)
		s.dir.Store(&nd)
		dir = nd
	}
	dir[c][ref&(1<<chunkBits-1)].Store(v)
}

// deadline converts a validity end to a state: the zero time means no end;
// times are truncated to whole seconds.
func deadline(t time.Time) uint32 {
	if t.IsZero() {
		return stateValid
	}
	u := t.Unix()
	switch {
	case u < 1:
		return 1 // long past: expired
	case u > int64(maxDeadline):
		return maxDeadline
	}
	return uint32(u)
}

// bytes returns the memory the states hold.
func (s *refStates) bytes() int {
	d := s.dir.Load()
	if d == nil {
		return 0
	}
	n := 8 * len(*d)
	for _, c := range *d {
		if c != nil {
			n += 4 << chunkBits
		}
	}
	return n
}

// checker filters refs by state at one moment, reading the clock at most
// once and only when a ref has a deadline.
type checker struct {
	states *refStates
	clock  func() time.Time
	now    int64
	read   bool
}

func (c *checker) ok(ref uint32) bool {
	st := c.states.get(ref)
	switch st {
	case stateValid:
		return true
	case stateRemoved:
		return false
	}
	if !c.read {
		c.now, c.read = c.clock().Unix(), true
	}
	return c.now < int64(st)
}
