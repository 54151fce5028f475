// Package closed remembers why a bus closed the channels of its subscriptions, so that the
// buses of package bus and bus/natsbus can answer bus.Err the same way.
package closed

import (
	"sync"

	"cshub/internal/hub"
)

// keep bounds how many reasons are remembered: a caller that never asks must not make the
// bus grow without end, and one that asks does so right after its channel closed.
const keep = 1024

// Reasons maps closed subscription channels to the error that closed them. The zero value is
// ready to use; it is safe for concurrent use.
type Reasons struct {
	mu    sync.Mutex
	err   map[<-chan hub.Event]error // guarded by mu
	order []<-chan hub.Event         // keys of err, oldest first; guarded by mu
}

// Set records err as the reason ch was closed. Buses call it before closing ch, so that a
// receiver that sees the channel closed finds the reason already there. The oldest reasons are
// forgotten once more than 1024 are held.
func (r *Reasons) Set(ch <-chan hub.Event, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = make(map[<-chan hub.Event]error)
	}
	if _, ok := r.err[ch]; !ok {
		r.order = append(r.order, ch)
	}
	r.err[ch] = err
	if len(r.order) > keep {
		delete(r.err, r.order[0])
		r.order = r.order[1:]
	}
}

// Get returns the reason recorded for ch, or nil.
func (r *Reasons) Get(ch <-chan hub.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err[ch]
}
