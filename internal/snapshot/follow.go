package snapshot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"cshub/internal/bus"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/seal"
)

// State is an in-memory index that follows the store and can be saved and resumed. Its
// methods are called from one goroutine at a time, except Sections, which may run beside
// Update and Remove and must then return a state at least as new as the last change that
// returned before it was called.
type State interface {
	// Load fills the empty state from the whole store and returns how many objects it holds.
	Load(ctx context.Context) (int, error)
	// Restore fills the empty state from sections made by Sections and returns how many
	// objects it holds. It changes nothing when it returns an error.
	Restore(sections map[string][]byte) (int, error)
	// Sections encodes the state, one section per workspace.
	Sections() (map[string][]byte, error)
	// Update applies a new object version; Remove an object none of whose versions remain.
	Update(o *hub.Object) error
	Remove(workspace, id string)
	// Forget drops everything of workspace, whose keys were destroyed.
	Forget(workspace string)
}

// DefaultEvery is how often a Follower saves its state when Config.Every is zero: a restart
// then replays at most a few minutes of events.
const DefaultEvery = 5 * time.Minute

// Config is what a Follower is made of. Path may be empty: the state is then neither saved
// nor resumed, as with a bus that is no bus.Positioner.
type Config struct {
	Index  string // names the index in logs and in the file
	Format int    // the version of the State's section encoding
	Path   string // the snapshot file, in the replica's own data directory
	Sealer seal.Sealer
	Bus    hub.Bus
	KB     *kb.Service
	Every  time.Duration
	Log    *slog.Logger
}

// Follower keeps a State current from the bus and saves it.
type Follower struct {
	c       Config
	st      State
	stream  string
	seq     atomic.Uint64 // Seq of the last event applied
	keys    chan struct{} // a keys event asks for a save at once
	stopped chan struct{} // closed once following ended and the last save was made

	// Resumed reports whether the state was restored from a snapshot; Why says why not.
	Resumed bool
	Why     string
	// Objects is how many objects the state held when Start returned.
	Objects int
}

// Start fills st, from the snapshot at c.Path and the events since when it can, from the
// store otherwise (logging why), and keeps it current from the bus until ctx ends; then it
// saves it once more. It saves it every c.Every too, and at once after a keyring change, so
// that a destroyed workspace leaves the file. Wait waits for the last save.
func Start(ctx context.Context, c Config, st State) (*Follower, error) {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Every <= 0 {
		c.Every = DefaultEvery
	}
	f := &Follower{c: c, st: st, keys: make(chan struct{}, 1), stopped: make(chan struct{})}
	events, err := f.resume(ctx)
	if err != nil {
		return nil, err
	}
	if events == nil {
		if events, err = f.rebuild(ctx); err != nil {
			return nil, err
		}
	}
	go f.follow(ctx, events)
	return f, nil
}

// resume restores the snapshot and subscribes after it; it returns nil events, with f.Why
// set, when it cannot.
func (f *Follower) resume(ctx context.Context) (<-chan hub.Event, error) {
	p, ok := f.c.Bus.(bus.Positioner)
	switch {
	case f.c.Path == "":
		f.Why = "the index is not saved (no snapshot file)"
		return nil, nil
	case !ok:
		f.Why = "the bus cannot tell its position"
		return nil, nil
	}
	pos, err := p.Position(ctx)
	if err != nil {
		return nil, err
	}
	f.stream = pos.Stream
	m, sections, dropped, err := Read(f.c.Path, f.c.Sealer, f.c.Index, f.c.Format)
	switch {
	case errors.Is(err, os.ErrNotExist):
		f.Why = "no snapshot yet"
		return nil, nil
	case err != nil:
		f.Why = err.Error()
		return nil, nil
	case m.Seq == 0:
		// Subscribe takes 0 to mean "from now on": the events from the first on cannot be
		// asked for, and a stream that had none when the state was saved may have some now.
		f.Why = "the snapshot was saved before the stream held any event"
		return nil, nil
	case m.Stream != pos.Stream:
		// The in-process bus of a restarted process is always another stream.
		f.Why = fmt.Sprintf("the snapshot followed event stream %q, the bus is %q", m.Stream, pos.Stream)
		return nil, nil
	}
	sub, cancel := context.WithCancel(ctx)
	events, err := f.c.Bus.Subscribe(sub, m.Seq)
	if err != nil {
		cancel()
		if errors.Is(err, bus.ErrGap) {
			f.Why = err.Error()
			return nil, nil
		}
		return nil, err
	}
	n, err := f.st.Restore(sections)
	if err != nil {
		cancel()
		f.Why = fmt.Sprintf("snapshot unreadable: %v", err)
		return nil, nil
	}
	context.AfterFunc(ctx, cancel) // the subscription lives as long as ctx; this releases sub
	f.seq.Store(m.Seq)
	f.Resumed, f.Objects = true, n
	if len(dropped) > 0 {
		f.c.Log.Warn("snapshot: left out workspaces whose keys were destroyed", "index", f.c.Index, "workspaces", dropped)
	}
	f.c.Log.Info("index resumed from its snapshot", "index", f.c.Index, "objects", n, "seq", m.Seq, "bus", pos.Seq)
	return events, nil
}

// rebuild subscribes at the bus's position and then loads the whole store, so that nothing
// stored in between is missed; the state is then current to at least that position.
func (f *Follower) rebuild(ctx context.Context) (<-chan hub.Event, error) {
	f.c.Log.Info("index rebuilt from the store", "index", f.c.Index, "why", f.Why)
	var after uint64
	if p, ok := f.c.Bus.(bus.Positioner); ok && f.c.Path != "" {
		pos, err := p.Position(ctx)
		if err != nil {
			return nil, err
		}
		f.stream, after = pos.Stream, pos.Seq
	}
	events, err := f.c.Bus.Subscribe(ctx, after)
	if err != nil {
		return nil, err
	}
	f.seq.Store(after)
	if f.Objects, err = f.st.Load(ctx); err != nil {
		return nil, err
	}
	return events, nil
}

func (f *Follower) follow(ctx context.Context, events <-chan hub.Event) {
	defer close(f.stopped)
	saving := make(chan struct{})
	go f.saveEvery(ctx, saving)
	update := func(o *hub.Object) {
		if err := f.st.Update(o); err != nil {
			f.c.Log.Warn("index: object not indexed", "index", f.c.Index, "id", o.ID, "err", err)
		}
	}
	f.c.KB.FollowEvents(ctx, events, update, f.st.Remove, func(e hub.Event) {
		f.seq.Store(e.Seq)
		if e.Kind == hub.EventKeys {
			select {
			case f.keys <- struct{}{}:
			default:
			}
		}
	})
	if err := bus.Err(f.c.Bus, events); err != nil && ctx.Err() == nil {
		f.c.Log.Warn("index: event stream ended; the index may miss changes until restart", "index", f.c.Index, "err", err)
	}
	<-saving
	// The state holds every event up to f.seq even when the stream ended early: a restart
	// resumes after it, or finds the gap and rebuilds.
	f.save()
}

// saveEvery saves the state every c.Every and after each keyring change until ctx ends.
func (f *Follower) saveEvery(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(f.c.Every)
	defer tick.Stop()
	saved := f.seq.Load()
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.keys:
		case <-tick.C:
			if f.seq.Load() == saved {
				continue
			}
		}
		saved = f.seq.Load()
		f.save()
	}
}

// save writes the snapshot, when there is a file to write. Seq is read before the state is
// encoded, so the state saved is at least as new as the Seq saved with it.
func (f *Follower) save() {
	if f.c.Path == "" || f.stream == "" {
		return
	}
	start := time.Now()
	seq := f.seq.Load()
	sections, err := f.st.Sections()
	if err != nil {
		f.c.Log.Error("snapshot: encoding the index", "index", f.c.Index, "err", err)
		return
	}
	skipped, err := Write(f.c.Path, f.c.Sealer, Meta{Index: f.c.Index, Format: f.c.Format, Stream: f.stream, Seq: seq}, sections)
	if err != nil {
		f.c.Log.Error("snapshot: writing", "index", f.c.Index, "err", err)
		return
	}
	for _, ws := range skipped {
		f.st.Forget(ws)
		f.c.Log.Info("snapshot: dropped a workspace whose keys were destroyed", "index", f.c.Index, "workspace", ws)
	}
	f.c.Log.Debug("snapshot written", "index", f.c.Index, "seq", seq, "took", time.Since(start))
}

// Wait returns once the Follower stopped following (its ctx ended) and saved its state.
func (f *Follower) Wait() { <-f.stopped }

// Seq returns the Seq of the last event the state has applied (or was restored or rebuilt to).
func (f *Follower) Seq() uint64 { return f.seq.Load() }
