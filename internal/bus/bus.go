// Package bus carries hub.Events between the parts of one cshub process, and holds what every
// implementation of hub.Bus shares: the errors a subscriber branches on, the way to learn why
// a subscription ended, and Leaser, the leadership of scheduled jobs across replicas.
//
// Events carry identifiers and access metadata, never content, so a bus may keep them in
// memory or on disk. Package bus/natsbus carries them between replicas over NATS JetStream;
// both implementations pass the suite in package bus/bustest. Both also implement
// BatchPublisher; PublishBatch announces many events at once on any hub.Bus.
//
// A subscriber is written once for either bus:
//
//	for {
//		ch, err := b.Subscribe(ctx, last)
//		if errors.Is(err, bus.ErrGap) {
//			last = rebuildFromStore(ctx) // events were lost: read the store instead
//			continue
//		}
//		if err != nil {
//			return err
//		}
//		for e := range ch {
//			handle(e)
//			last = e.Seq
//		}
//		if ctx.Err() != nil {
//			return ctx.Err()
//		}
//		// The bus dropped the subscription; bus.Err(b, ch) says why. Resubscribing from
//		// last either resumes exactly where it stopped or returns ErrGap.
//	}
package bus

import (
	"context"
	"errors"
	"strings"
	"time"

	"cshub/internal/hub"
)

// ErrGap means that events after the sequence a subscriber asked to resume from are no longer
// held by the bus (they aged out of its retention window, or the bus was reset), so the
// subscriber cannot be brought up to date from the bus and must rebuild its state from the
// store. Subscribe returns it (wrapped) when after is older than the retained window, or newer
// than anything the bus ever published; a live subscription that loses events is closed and
// Err reports it.
var ErrGap = errors.New("bus: events after the requested sequence are no longer retained")

// ErrClosed is returned by the operations of a closed bus, and reported by Err for the
// subscriptions that Close ended.
var ErrClosed = errors.New("bus: closed")

// ErrReporter is implemented by buses that can tell why they closed a subscription's channel.
// Both buses of this module implement it.
type ErrReporter interface {
	// Err returns why the bus closed ch, a channel returned by its Subscribe: ErrGap (wrapped)
	// when the subscriber fell behind the retained window or events went missing, ErrClosed
	// when the bus was closed, another error when the bus failed. It returns nil while ch is
	// open and when ch was closed because the subscription's context ended. A reason is kept
	// until at least 1024 later subscriptions have been closed with one.
	Err(ch <-chan hub.Event) error
}

// Err returns why b closed ch, when b implements ErrReporter, and nil otherwise. Call it after
// ch was closed while the subscription's context was still live.
func Err(b hub.Bus, ch <-chan hub.Event) error {
	if r, ok := b.(ErrReporter); ok {
		return r.Err(ch)
	}
	return nil
}

// Leaser grants the leadership of scheduled jobs (feed polls, TAXII syncs, exercise clocks) so
// that when several replicas run, exactly one of them runs each job at a time. Bus is the
// single-process Leaser; natsbus.Bus holds leases in a JetStream key-value bucket.
type Leaser interface {
	// Lease tries once, without waiting, to take the lease on job for ttl.
	//
	// When the lease is taken, held is a context that ends when the lease ends: release was
	// called, ctx ended, the bus was closed, or the lease could not be renewed and another
	// replica may take it. The job should run under held. While held is live the lease is
	// renewed in the background; a holder that dies loses it ttl after its last renewal.
	// release, safe to call more than once, gives the lease up and returns once another
	// replica may take it.
	//
	// When another holder has the lease, held is nil, release does nothing and err is nil.
	// Every replica must use the same ttl for a job. job is 1 to 128 letters, digits and
	// "-_=./"; ttl is at least one second. Invalid arguments are hub.EInvalid errors.
	Lease(ctx context.Context, job string, ttl time.Duration) (held context.Context, release func(), err error)
}

// Position is where a bus stands: the identity of its event stream and the Seq of the newest
// event in it. Seqs of different streams are unrelated, so a subscriber that saved a Seq may
// resume from it only on the stream it saved it from.
type Position struct {
	Stream string // identifies the stream; a stream recreated under the same name gets another
	Seq    uint64 // of the newest event; 0 before the first
}

// Positioner is implemented by buses that can tell their Position; both buses of this module
// do. A subscriber that keeps state across restarts (a snapshot) saves it with the Position
// it is current to and asks Subscribe to resume after its Seq only on the same Stream.
type Positioner interface {
	Position(ctx context.Context) (Position, error)
}

// MinLeaseTTL is the shortest ttl Lease accepts: renewals every third of it must have time to
// reach the server.
const MinLeaseTTL = time.Second

// CheckEvent returns a hub.EInvalid error naming the field when e cannot be published: its
// Kind must be 1 to 64 letters, digits, '-' or '_', so that it can name a NATS subject token.
func CheckEvent(e hub.Event) error {
	if e.Kind == "" {
		return hub.FieldError("kind", "is empty")
	}
	if len(e.Kind) > 64 || !isToken(e.Kind, "-_") {
		return hub.FieldError("kind", "%q must be 1 to 64 letters, digits, '-' or '_'", e.Kind)
	}
	return nil
}

// CheckLease returns a hub.EInvalid error naming the field when job or ttl break the rules of
// Leaser.Lease.
func CheckLease(job string, ttl time.Duration) error {
	if job == "" {
		return hub.FieldError("job", "is empty")
	}
	if len(job) > 128 || !isToken(job, "-_=./") || job[0] == '.' || job[len(job)-1] == '.' {
		return hub.FieldError("job", "%q must be 1 to 128 letters, digits or \"-_=./\", not starting or ending with '.'", job)
	}
	if ttl < MinLeaseTTL {
		return hub.FieldError("ttl", "%v is shorter than %v", ttl, MinLeaseTTL)
	}
	return nil
}

// isToken reports whether s holds only ASCII letters, digits and the bytes of extra.
func isToken(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}
