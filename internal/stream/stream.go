// Package stream serves live updates as Server-Sent Events: each new object version an
// organisation may see, as it is stored, on any replica.
//
// A stream follows the hub's bus. For each object event it decides, with package access on
// access.PathStream, whether the receiving organisation may see the object, and sends it only
// then:
//
//	id: 1042
//	event: object
//	data: {"kind":"object","seq":1042,"workspace":"community","tlp":"green","object":{...}}
//
// The id is the bus Seq. A client that reconnects with the Last-Event-ID header (browsers do so
// by themselves), or with ?after=SEQ, receives exactly the events it missed, as long as the bus
// still holds them; when it no longer does, the stream sends
//
//	id:
//	event: reset
//	data: {"kind":"reset","reason":"..."}
//
// and goes on with new events only: the client must re-read what it needs from the objects API.
// Heartbeats are SSE comments (": ping") so that proxies keep an idle stream open.
//
// An event about an object the receiver may not see leaves nothing on its stream: no id, no
// frame, no change in timing beyond the decision itself. Seq numbers of the events a receiver
// gets are not consecutive, since the bus numbers every event of the hub (of every kind) in
// one sequence.
package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"cshub/internal/access"
	"cshub/internal/bus"
	"cshub/internal/hub"
	"cshub/internal/kb"
)

// Defaults of Config.
const (
	DefaultHeartbeat    = 15 * time.Second
	DefaultRefresh      = 30 * time.Second
	DefaultLifetime     = time.Hour
	DefaultWriteTimeout = 30 * time.Second
)

// fetchTimeout bounds reading one object version from the store for the streams.
const fetchTimeout = 10 * time.Second

// Config holds what a Server is built from. Bus, KB and Dir are required.
type Config struct {
	Bus hub.Bus
	KB  *kb.Service
	Dir hub.DirectoryStore
	// Log receives what cannot be told to a client (store failures); nothing when nil.
	Log *slog.Logger
	// Heartbeat is how often an idle stream sends ": ping"; DefaultHeartbeat when zero.
	Heartbeat time.Duration
	// Refresh is how old the directory facts that decide who sees what may grow: memberships
	// removed and organisations deactivated stop reaching their streams within Refresh (or at
	// once after Invalidate). DefaultRefresh when zero.
	Refresh time.Duration
	// Lifetime ends a stream that has been open this long. The client reconnects with its
	// Last-Event-ID and loses nothing, and its credentials are checked again: a revoked API
	// key keeps no stream for longer than Lifetime. DefaultLifetime when zero.
	Lifetime time.Duration
	// WriteTimeout ends a stream whose client does not take a frame within it;
	// DefaultWriteTimeout when zero.
	WriteTimeout time.Duration
}

// Server serves event streams. It is safe for concurrent use; one Server serves every stream
// of a process, sharing between them the directory facts and the objects read from the store,
// so that an event read by a thousand streams costs one store read.
type Server struct {
	bus          hub.Bus
	kb           *kb.Service
	dir          hub.DirectoryStore
	log          *slog.Logger
	heartbeat    time.Duration
	refresh      time.Duration
	lifetime     time.Duration
	writeTimeout time.Duration
	frames       frameCache
	closing      context.Context // ends with Close
	closeAll     context.CancelFunc

	mu      sync.Mutex
	snap    *access.Snapshot // guarded by mu
	loaded  time.Time        // when snap was loaded; guarded by mu
	loading chan struct{}    // closed when the load under way ends; nil when none; guarded by mu
}

// New returns a Server.
func New(c Config) *Server {
	s := &Server{
		bus: c.Bus, kb: c.KB, dir: c.Dir, log: c.Log,
		heartbeat: c.Heartbeat, refresh: c.Refresh, lifetime: c.Lifetime, writeTimeout: c.WriteTimeout,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.heartbeat <= 0 {
		s.heartbeat = DefaultHeartbeat
	}
	if s.refresh <= 0 {
		s.refresh = DefaultRefresh
	}
	if s.lifetime <= 0 {
		s.lifetime = DefaultLifetime
	}
	if s.writeTimeout <= 0 {
		s.writeTimeout = DefaultWriteTimeout
	}
	s.frames.init(cacheSize)
	s.closing, s.closeAll = context.WithCancel(context.Background())
	return s
}

// Close ends every open stream and makes later Serve calls answer 503, so that an
// http.Server's Shutdown, which waits for handlers to return, is not held up by streams: pass
// it to http.Server.RegisterOnShutdown. Clients reconnect to another replica, or to this one
// when it is back, and resume. Closing twice does nothing.
func (s *Server) Close() {
	s.closeAll()
}

// Invalidate makes every stream decide with fresh directory facts from its next event on. Call
// it after a membership, workspace or organisation changes, for the change to reach open
// streams at once rather than within Config.Refresh.
func (s *Server) Invalidate() {
	s.mu.Lock()
	s.loaded = time.Time{}
	s.mu.Unlock()
}

// Serve streams to org, the authenticated caller's organisation, the object events it may see
// on access.PathStream, until the client goes away, the stream reaches Config.Lifetime or the
// bus closes. It resumes after the Seq in the Last-Event-ID header, or else in the query
// parameter "after"; without either it sends only events published from now on.
//
// Errors found before the stream starts are written as the API writes them, a JSON
// {"error":{"code","field","message"}} with the matching status: a malformed Last-Event-ID or
// after is 400, an unknown organisation 404, a store or bus that cannot be reached 503.
func (s *Server) Serve(w http.ResponseWriter, r *http.Request, org string) {
	after, err := resumeFrom(r)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.lifetime)
	defer cancel()
	stop := context.AfterFunc(s.closing, cancel)
	defer stop()
	if s.closing.Err() != nil {
		writeError(w, &hub.Error{Code: hub.EUnavailable, Message: "the server is shutting down; retry later"})
		return
	}
	if _, err := access.ViewerFor(ctx, s.dir, org, access.PathStream); err != nil {
		writeError(w, err)
		return
	}
	if _, err := s.snapshot(ctx); err != nil {
		s.log.Error("stream: loading the directory", "org", org, "err", err)
		writeError(w, &hub.Error{Code: hub.EUnavailable, Message: "the directory cannot be read; retry later", Err: err})
		return
	}
	ch, err := s.bus.Subscribe(ctx, after)
	gap := errors.Is(err, bus.ErrGap)
	if gap {
		ch, err = s.bus.Subscribe(ctx, 0)
	}
	if err != nil {
		s.log.Error("stream: subscribing", "org", org, "err", err)
		writeError(w, &hub.Error{Code: hub.EUnavailable, Message: "the event bus cannot be reached; retry later", Err: err})
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // proxies must pass each event on at once
	w.WriteHeader(http.StatusOK)
	st := &sink{w: w, rc: http.NewResponseController(w), timeout: s.writeTimeout}
	if err := st.write([]byte(": cshub event stream\n\n")); err != nil {
		return
	}
	if gap {
		if err := st.write(resetFrame()); err != nil {
			return
		}
	}

	v := viewer{org: org}
	ping := time.NewTicker(s.heartbeat)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			if err := st.write([]byte(": ping\n\n")); err != nil {
				return
			}
		case e, ok := <-ch:
			if !ok {
				if ctx.Err() != nil {
					return
				}
				err := bus.Err(s.bus, ch)
				if !errors.Is(err, bus.ErrGap) {
					// The bus closed or failed: the client reconnects and resumes.
					s.log.Warn("stream: subscription ended", "org", org, "err", err)
					return
				}
				if ch, err = s.bus.Subscribe(ctx, 0); err != nil {
					s.log.Warn("stream: resubscribing after a gap", "org", org, "err", err)
					return
				}
				if err := st.write(resetFrame()); err != nil {
					return
				}
				continue
			}
			frame, err := s.frame(ctx, &v, e)
			if err != nil {
				// A store that fails must not silently cost the client an event: end the
				// stream, and the client resumes from its last id.
				if ctx.Err() == nil {
					s.log.Error("stream: reading an event's object", "org", org, "seq", e.Seq, "err", err)
				}
				return
			}
			if frame == nil {
				continue
			}
			if err := st.write(frame); err != nil {
				return
			}
			ping.Reset(s.heartbeat)
		}
	}
}

// resumeFrom returns the Seq after which r asks to resume: the Last-Event-ID header, else the
// query parameter after, else 0.
func resumeFrom(r *http.Request) (uint64, error) {
	field, v := "Last-Event-ID", r.Header.Get("Last-Event-ID")
	if v == "" {
		field, v = "after", r.URL.Query().Get("after")
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, hub.FieldError(field, "%q is not the id of an event of this stream", v)
	}
	return n, nil
}

// viewer is what one stream knows of its receiver, recomputed when the snapshot changes.
type viewer struct {
	org  string
	snap *access.Snapshot
	v    hub.Viewer
}

// frame returns the frame that tells v's organisation about e, or nil when it may not see the
// object (or e is not about an object, or the object is gone). An error means the store could
// not be read.
func (s *Server) frame(ctx context.Context, v *viewer, e hub.Event) ([]byte, error) {
	if (e.Kind != hub.EventObject && e.Kind != hub.EventCorrelation) || e.ObjectID == "" || e.ObjectSeq <= 0 {
		return nil, nil
	}
	snap, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	if v.snap != snap {
		v.snap, v.v = snap, snap.Viewer(v.org, access.PathStream)
	}
	if e.Kind == hub.EventCorrelation {
		// A notice names only its receiver's own object ("your value is also held by …"),
		// and the receiver reads the rest at GET /api/v1/correlations under its own rights.
		if e.Author != v.org || !snap.Decide(v.org, access.EventObject(e), access.PathNotify).Allow {
			return nil, nil
		}
		return correlationFrame(e)
	}
	// The event's own metadata rules most events out without reading the store...
	if !snap.Decide(v.org, access.EventObject(e), access.PathStream).Allow {
		return nil, nil
	}
	f, err := s.frames.get(e.Seq, func() (*cached, error) { return s.load(ctx, e) })
	if err != nil || f == nil {
		return nil, err
	}
	// ...but only the stored object's metadata lets one out: an event may be stale, or be
	// forged by whoever can publish on a shared bus.
	if !snap.Decide(v.org, f.meta, access.PathStream).Allow || !access.Visible(v.v, f.meta) {
		return nil, nil
	}
	return f.frame, nil
}

// correlationFrame is the frame of a correlation notice.
func correlationFrame(e hub.Event) ([]byte, error) {
	b, err := json.Marshal(struct {
		Kind   string `json:"kind"`
		Seq    uint64 `json:"seq"`
		Object string `json:"object"`
	}{"correlation", e.Seq, e.ObjectID})
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, "id: %d\nevent: correlation\ndata: %s\n\n", e.Seq, b), nil
}

// cached is the frame of one event, shared by every stream that may receive it, with the
// stored object's access metadata (no body) that decides who may.
type cached struct {
	frame []byte
	meta  *hub.Object
}

// data is the JSON document of an object frame.
type data struct {
	Kind      string          `json:"kind"`
	Seq       uint64          `json:"seq"`
	Workspace string          `json:"workspace"`
	TLP       hub.TLP         `json:"tlp"`
	Object    json.RawMessage `json:"object"`
}

// load reads the object version e announces, as the hub itself, and builds its frame; nil when
// the version is not stored (deleted with its workspace, or never stored: a forged event).
func (s *Server) load(ctx context.Context, e hub.Event) (*cached, error) {
	// The read is shared by every stream waiting for it: the first one's client going away
	// must not fail it for the others.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	defer cancel()
	// The event names the version by its store Seq: the first version of the id from that Seq
	// on is it, if it is stored at all.
	objs, err := s.kb.List(ctx, hub.Filter{
		Viewer:      hub.Viewer{System: true},
		IDs:         []string{e.ObjectID},
		AfterSeq:    e.ObjectSeq - 1,
		AllVersions: true,
		Limit:       1,
	})
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 || objs[0].Seq != e.ObjectSeq || objs[0].ID != e.ObjectID {
		return nil, nil
	}
	o := objs[0]
	doc, err := json.Marshal(data{Kind: "object", Seq: e.Seq, Workspace: o.Workspace, TLP: o.TLP, Object: o.Body})
	if err != nil {
		return nil, fmt.Errorf("stream: encoding %s: %w", o.ID, err)
	}
	frame := make([]byte, 0, len(doc)+64)
	frame = append(frame, "id: "...)
	frame = strconv.AppendUint(frame, e.Seq, 10)
	frame = append(frame, "\nevent: object\ndata: "...)
	frame = append(frame, doc...)
	frame = append(frame, "\n\n"...)
	o.Body = nil
	return &cached{frame: frame, meta: o}, nil
}

// resetFrame tells the client that events were lost and it must re-read what it needs; the
// cause, which names internal sequence numbers, is not the client's business. Its
// empty id clears the client's Last-Event-ID, so that a reconnection does not ask again for
// what is gone.
func resetFrame() []byte {
	doc, _ := json.Marshal(map[string]string{
		"kind":   "reset",
		"reason": "events were lost (the client fell behind, or resumed from an event the hub no longer holds); re-read the objects you need, then follow this stream",
	})
	return append(append([]byte("id:\nevent: reset\ndata: "), doc...), "\n\n"...)
}

// snapshot returns the directory facts, loading them again when they are older than Refresh.
// Concurrent callers share one load.
func (s *Server) snapshot(ctx context.Context) (*access.Snapshot, error) {
	for {
		s.mu.Lock()
		if s.snap != nil && time.Since(s.loaded) < s.refresh {
			snap := s.snap
			s.mu.Unlock()
			return snap, nil
		}
		if wait := s.loading; wait != nil {
			s.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		s.loading = done
		s.mu.Unlock()

		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		snap, err := access.Load(lctx, s.dir)
		cancel()
		s.mu.Lock()
		if err == nil {
			s.snap, s.loaded = snap, time.Now()
		}
		s.loading = nil
		close(done)
		s.mu.Unlock()
		if err != nil {
			// Fail closed: a stream that cannot learn who may see what sends nothing more.
			return nil, err
		}
		return snap, nil
	}
}

// sink writes frames to one client, each flushed at once and within a deadline.
type sink struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (k *sink) write(p []byte) error {
	// Not every ResponseWriter supports deadlines (httptest's recorder does not); the
	// stream's Lifetime still bounds it then.
	if err := k.rc.SetWriteDeadline(time.Now().Add(k.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := k.w.Write(p); err != nil {
		return err
	}
	if err := k.rc.Flush(); err != nil {
		return err
	}
	// An idle stream waits longer than the timeout between frames: only writes are bounded.
	if err := k.rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// writeError writes err as the API does.
func writeError(w http.ResponseWriter, err error) {
	code := hub.ErrorCode(err)
	var b struct {
		Error struct {
			Code    string `json:"code"`
			Field   string `json:"field,omitempty"`
			Message string `json:"message"`
		} `json:"error"`
	}
	b.Error.Code, b.Error.Field, b.Error.Message = code, hub.ErrorField(err), hub.ErrorMessage(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(hub.HTTPStatus(code))
	json.NewEncoder(w).Encode(b)
}
