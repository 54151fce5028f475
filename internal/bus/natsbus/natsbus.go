// Package natsbus is the hub.Bus that carries events between cshub replicas over NATS
// JetStream, and the bus.Leaser that elects one replica per scheduled job with a JetStream
// key-value bucket.
//
// Events are kept in one stream, on the subjects "<prefix>.events.<kind>", as JSON holding
// identifiers and access metadata only; the stream sequence is the event's Seq, so every
// replica sees the same Seq for the same event and a subscriber can resume on any replica.
package natsbus

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"cshub/internal/bus"
	"cshub/internal/bus/internal/closed"
	"cshub/internal/hub"
)

// Defaults of Options.
const (
	DefaultStream      = "CSHUB_EVENTS"
	DefaultPrefix      = "cshub"
	DefaultMaxAge      = 7 * 24 * time.Hour
	DefaultMaxMsgs     = 1_000_000
	DefaultLeaseBucket = "CSHUB_LEASES"
)

// Options configure a Bus. The zero value is usable: every zero field takes its default.
type Options struct {
	// Stream names the JetStream stream holding the events; DefaultStream when empty.
	Stream string
	// Prefix is the first token(s) of the event subjects, "<Prefix>.events.<kind>"; DefaultPrefix
	// when empty. Replicas of one hub must share Stream and Prefix; hubs sharing a NATS
	// server must not.
	Prefix string
	// MaxAge and MaxMsgs bound what the stream keeps, the window from which a subscriber can
	// resume; DefaultMaxAge and DefaultMaxMsgs when zero. The oldest events go first.
	MaxAge  time.Duration
	MaxMsgs int64
	// Replicas is the stream's replica count in a NATS cluster; 1 when zero.
	Replicas int
	// LeaseBucket is the prefix of the key-value buckets holding leases, one bucket per
	// distinct ttl; DefaultLeaseBucket when empty.
	LeaseBucket string
	// Client adds options to the NATS connection (credentials, TLS, name). Open already asks
	// the client to reconnect without limit.
	Client []nats.Option
	// Logger receives what the bus cannot return to a caller, such as an undecodable message
	// on the stream; nothing is logged when nil.
	Logger *slog.Logger
}

// Bus is a hub.Bus and bus.Leaser on NATS JetStream. It is safe for concurrent use.
//
// A subscription reads the stream through an ordered consumer at its own pace, so a slow
// subscriber delays nobody else; one that falls so far behind that the stream drops events it
// has not read is closed, and Err reports bus.ErrGap. The client reconnects by itself after
// the connection to the server is lost; a subscription then resumes where it was.
type Bus struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	opts    Options
	log     *slog.Logger
	subject string // "<prefix>.events."

	ctx     context.Context // ends when Close is called
	cancel  context.CancelFunc
	running sync.WaitGroup // subscription and lease goroutines
	reasons closed.Reasons

	holder []byte // written as the value of held leases

	mu      sync.Mutex
	closed  bool                                 // guarded by mu
	buckets map[time.Duration]jetstream.KeyValue // lease buckets by ttl; guarded by mu
}

// Open connects to the NATS server at url, creates the event stream or brings its
// configuration up to date (so that every replica may call Open), and returns the bus. ctx
// bounds the setup only. A server that cannot be reached is a hub.EUnavailable error; invalid
// Options are hub.EInvalid errors.
func Open(ctx context.Context, url string, opts Options) (*Bus, error) {
	opts = withDefaults(opts)
	if err := checkOptions(opts); err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("cshub"), nats.MaxReconnects(-1)}, opts.Client...)...)
	if err != nil {
		return nil, &hub.Error{Code: hub.EUnavailable, Message: "cannot connect to NATS", Err: err}
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(asyncAckTimeout))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsbus: %w", err)
	}
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        opts.Stream,
		Description: "cshub events: identifiers and access metadata, no content",
		Subjects:    []string{opts.Prefix + ".events.>"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		MaxAge:      opts.MaxAge,
		MaxMsgs:     opts.MaxMsgs,
		Replicas:    opts.Replicas,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsbus: creating stream %s: %w", opts.Stream, err)
	}
	b := &Bus{
		nc:      nc,
		js:      js,
		opts:    opts,
		log:     opts.Logger,
		subject: opts.Prefix + ".events.",
		buckets: make(map[time.Duration]jetstream.KeyValue),
		holder:  holderID(),
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	return b, nil
}

func withDefaults(o Options) Options {
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MaxMsgs == 0 {
		o.MaxMsgs = DefaultMaxMsgs
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.LeaseBucket == "" {
		o.LeaseBucket = DefaultLeaseBucket
	}
	return o
}

func checkOptions(o Options) error {
	if !isName(o.Stream) {
		return hub.FieldError("stream", "%q must be letters, digits, '-' or '_'", o.Stream)
	}
	if !isName(o.LeaseBucket) {
		return hub.FieldError("lease_bucket", "%q must be letters, digits, '-' or '_'", o.LeaseBucket)
	}
	if !isSubject(o.Prefix) {
		return hub.FieldError("prefix", "%q must be dot-separated tokens of letters, digits, '-' or '_'", o.Prefix)
	}
	if o.MaxAge < 0 {
		return hub.FieldError("max_age", "is negative")
	}
	if o.MaxMsgs < 0 {
		return hub.FieldError("max_msgs", "is negative")
	}
	if o.Replicas < 0 || o.Replicas > 5 {
		return hub.FieldError("replicas", "%d is not between 1 and 5", o.Replicas)
	}
	return nil
}

// isName reports whether s may name a stream or bucket.
func isName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// isSubject reports whether s is a literal subject: tokens that isName accepts, joined by dots.
func isSubject(s string) bool {
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if !isName(s[start:i]) {
				return false
			}
			start = i + 1
		}
	}
	return true
}

// wireEvent is an Event as it is stored in the stream. Seq is not stored: the stream sequence
// is the Seq. The field names are part of the stored format; change them only with a migration.
type wireEvent struct {
	Kind       string    `json:"kind"`
	ObjectID   string    `json:"object_id,omitempty"`
	ObjectSeq  int64     `json:"object_seq,omitempty"`
	Type       string    `json:"type,omitempty"`
	Workspace  string    `json:"workspace,omitempty"`
	Author     string    `json:"author,omitempty"`
	TLP        hub.TLP   `json:"tlp,omitempty"`
	Recipients []string  `json:"recipients,omitempty"`
	Time       time.Time `json:"time"`
}

// Publish stores e on the subject "<prefix>.events.<kind>" and returns once JetStream has
// acknowledged it, with the stream sequence as Seq. An invalid event is a hub.EInvalid error
// (see bus.CheckEvent); a closed bus returns bus.ErrClosed.
func (b *Bus) Publish(ctx context.Context, e hub.Event) (uint64, error) {
	if err := bus.CheckEvent(e); err != nil {
		return 0, err
	}
	if b.ctx.Err() != nil {
		return 0, bus.ErrClosed
	}
	data, err := encode(e)
	if err != nil {
		return 0, err
	}
	ack, err := b.js.Publish(ctx, b.subject+e.Kind, data, jetstream.WithExpectStream(b.opts.Stream))
	if err != nil {
		if b.ctx.Err() != nil {
			return 0, bus.ErrClosed
		}
		return 0, fmt.Errorf("natsbus: publishing %s event: %w", e.Kind, err)
	}
	return ack.Sequence, nil
}

// Position implements bus.Positioner. The stream is named by its name and creation time, so
// that a stream deleted and created again, whose sequence starts over, is another stream.
func (b *Bus) Position(ctx context.Context) (bus.Position, error) {
	if b.ctx.Err() != nil {
		return bus.Position{}, bus.ErrClosed
	}
	stream, err := b.js.Stream(ctx, b.opts.Stream)
	if err != nil {
		return bus.Position{}, fmt.Errorf("natsbus: position: %w", err)
	}
	info := stream.CachedInfo()
	return bus.Position{Stream: b.opts.Stream + "@" + info.Created.UTC().Format(time.RFC3339Nano), Seq: info.State.LastSeq}, nil
}

// Subscribe returns a channel that receives, in Seq order and once each, the events of the
// stream with Seq greater than after, until ctx ends or the bus is closed; then the channel is
// closed, and Err says why when it was not ctx. after 0 means only events published from now
// on: those stored after Subscribe looked at the stream.
//
// Subscribe returns bus.ErrGap (wrapped) when the stream no longer holds the events after
// after, or when after is beyond its last sequence (the stream was recreated). A subscription
// that finds events missing later, because the stream dropped them before it read them, is
// closed and Err reports bus.ErrGap.
func (b *Bus) Subscribe(ctx context.Context, after uint64) (<-chan hub.Event, error) {
	if b.ctx.Err() != nil {
		return nil, bus.ErrClosed
	}
	stream, err := b.js.Stream(ctx, b.opts.Stream)
	if err != nil {
		return nil, fmt.Errorf("natsbus: subscribe: %w", err)
	}
	state := stream.CachedInfo().State
	start := after + 1
	switch {
	case after == 0:
		// Rather than DeliverNew, start right after the last event seen here: an event
		// published while the consumer is being created is then delivered, not skipped.
		start = state.LastSeq + 1
	case after > state.LastSeq:
		return nil, fmt.Errorf("%w: after %d, but the stream's last sequence is %d", bus.ErrGap, after, state.LastSeq)
	case start < state.FirstSeq:
		return nil, fmt.Errorf("%w: after %d, but the stream's first sequence is %d", bus.ErrGap, after, state.FirstSeq)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   start,
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: subscribe: %w", err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("natsbus: subscribe: %w", err)
	}
	// The subscription ends with ctx or with the bus.
	subCtx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(b.ctx, cancel)
	ch := make(chan hub.Event, 16)
	if !b.start() {
		it.Stop()
		stop()
		cancel()
		return nil, bus.ErrClosed
	}
	go func() {
		defer b.running.Done()
		defer close(ch)
		defer stop()
		defer cancel()
		defer it.Stop()
		if err := b.deliver(subCtx, it, ch, start); err != nil {
			b.reasons.Set(ch, err)
		}
	}()
	return ch, nil
}

// deliver sends ch the events read by it, which starts at Seq next, until ctx ends. It returns
// why it stopped: nil when ctx ended, bus.ErrClosed when the bus was closed.
func (b *Bus) deliver(ctx context.Context, it jetstream.MessagesContext, ch chan<- hub.Event, next uint64) error {
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			switch {
			case b.ctx.Err() != nil:
				return bus.ErrClosed
			case ctx.Err() != nil:
				return nil
			}
			return fmt.Errorf("natsbus: subscription: %w", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("natsbus: subscription: %w", err)
		}
		seq := meta.Sequence.Stream
		if seq < next {
			continue // already delivered; the ordered consumer should not repeat, but be sure
		}
		if seq > next {
			return fmt.Errorf("%w: the stream dropped events %d to %d before the subscriber read them", bus.ErrGap, next, seq-1)
		}
		next = seq + 1
		var w wireEvent
		if err := json.Unmarshal(msg.Data(), &w); err != nil {
			// Not an event of ours: skip it rather than stop every subscriber on it.
			b.log.Warn("natsbus: skipping undecodable message", "stream", b.opts.Stream, "seq", seq, "subject", msg.Subject(), "err", err)
			continue
		}
		e := hub.Event{
			Seq: seq, Kind: w.Kind, ObjectID: w.ObjectID, ObjectSeq: w.ObjectSeq, Type: w.Type,
			Workspace: w.Workspace, Author: w.Author, TLP: w.TLP, Recipients: w.Recipients, Time: w.Time,
		}
		select {
		case ch <- e:
		case <-ctx.Done():
			if b.ctx.Err() != nil {
				return bus.ErrClosed
			}
			return nil
		}
	}
}

// start counts one more goroutine that Close must wait for, and reports false when the bus is
// closed already and the goroutine must not start.
func (b *Bus) start() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.running.Add(1)
	return true
}

// Err implements bus.ErrReporter.
func (b *Bus) Err(ch <-chan hub.Event) error {
	return b.reasons.Get(ch)
}

// Close ends every subscription and lease (releasing the leases), then closes the connection.
// The stream and its events stay. Closing a closed bus does nothing.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.cancel()
	b.mu.Unlock()
	b.running.Wait()
	b.nc.Close()
	return nil
}

var (
	_ hub.Bus            = (*Bus)(nil)
	_ bus.Positioner     = (*Bus)(nil)
	_ bus.ErrReporter    = (*Bus)(nil)
	_ bus.Leaser         = (*Bus)(nil)
	_ bus.BatchPublisher = (*Bus)(nil)
)
