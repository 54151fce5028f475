// Package audit keeps the hub's append-only, hash-chained audit log over a hub.AuditStore.
//
// Each entry commits to the one before it: its Hash is SHA-256 over a canonical,
// length-prefixed encoding of the previous entry's Hash and of its own fields, Details included
// in their sealed form. Modifying, deleting or reordering any entry therefore breaks the chain at
// that point, and Verify finds it without needing the keyring: integrity is checked on
// ciphertext, so an auditor can verify a log they cannot read.
//
// What a chain cannot show on its own is that entries were cut off its end: a log truncated
// after entry k is a valid chain of k entries. Head returns the newest (Seq, Hash); an operator
// records it somewhere the hub cannot write (a ticket, a printed report, another system) and
// later checks the log with VerifyAgainst, which finds any truncation or rewrite before that
// point.
package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"cshub/internal/hub"
)

// Location names where sealed bytes belong, so that a Sealer can bind ciphertext to it (as
// additional data) and sealed details cannot be moved from one entry to another. It has the
// fields of seal.Location; the lead wires package seal in through a two-method adapter.
type Location struct {
	Workspace string
	Kind      string
	ID        string
	Version   string
}

// Sealer encrypts and decrypts entry details. Package seal's barrier provides it.
// Implementations must be safe for concurrent use.
type Sealer interface {
	Encrypt(loc Location, plaintext []byte) ([]byte, error)
	Decrypt(loc Location, ciphertext []byte) ([]byte, error)
}

// Where the details of audit entries are sealed: one location per entry, named by its Seq, so
// that details moved to another entry do not open. SealWorkspace "" is the hub's own key in
// package seal (the audit log belongs to no workspace, and the hub key, unlike a workspace key,
// can never be destroyed, so shredding a workspace cannot make the log unreadable).
const (
	SealWorkspace = ""
	SealKind      = "audit"
)

// location returns where the details of entry seq are sealed.
func location(seq int64) Location {
	return Location{Workspace: SealWorkspace, Kind: SealKind, ID: strconv.FormatInt(seq, 10)}
}

// Entry is what happened, as given to Record.
type Entry struct {
	Org     string // acting organisation, "" for the hub itself
	Actor   string // user name, API key id or "system"; required
	Action  string // e.g. "login", "export", "read-red"; required
	Target  string // what it acted on: an object id, a workspace, a user
	Details any    // the rest, marshalled to JSON and sealed; nil is stored as JSON null
}

// Item is one entry as List returns it, with its details opened.
type Item struct {
	Seq     int64
	Time    time.Time
	Org     string
	Actor   string
	Action  string
	Target  string
	Details json.RawMessage
	Hash    []byte
}

// Head names the newest entry of a log: its Seq and Hash. The zero Head is the empty log.
type Head struct {
	Seq  int64
	Hash []byte
}

// String returns h as "seq:hex-hash", the form an operator writes down and ParseHead reads.
func (h Head) String() string { return strconv.FormatInt(h.Seq, 10) + ":" + hex.EncodeToString(h.Hash) }

// ParseHead reads the form Head.String writes. Bad input is EInvalid on field "head".
func ParseHead(s string) (Head, error) {
	seqText, hashText, ok := strings.Cut(strings.TrimSpace(s), ":")
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if !ok || err != nil || seq < 0 {
		return Head{}, hub.FieldError("head", "%q is not of the form seq:sha256-hex", s)
	}
	h, err := hex.DecodeString(hashText)
	if err != nil || (seq > 0 && len(h) != sha256.Size) || (seq == 0 && len(h) != 0) {
		return Head{}, hub.FieldError("head", "%q does not hold a SHA-256 hash in hex", s)
	}
	return Head{Seq: seq, Hash: h}, nil
}

// Log is the audit log. Its methods are safe for concurrent use, also with other Logs (other
// replicas) appending to the same store.
type Log struct {
	st     hub.AuditStore
	sealer Sealer
	clock  func() time.Time

	// mu serialises this Log's own appends, so that goroutines of one replica do not race each
	// other for the next Seq; other replicas are handled by retrying on EConflict.
	mu sync.Mutex
}

// maxAttempts bounds how often Record retries when other replicas keep taking the next Seq.
const maxAttempts = 64

// New returns a Log over st whose details are sealed by sealer (required), timed by clock
// (time.Now when nil).
func New(st hub.AuditStore, sealer Sealer, clock func() time.Time) *Log {
	if clock == nil {
		clock = time.Now
	}
	return &Log{st: st, sealer: sealer, clock: clock}
}

// Record appends e to the log and returns the new head. Actor and Action are required (EInvalid
// naming the field); Details that do not marshal to JSON are EInvalid on "details". When
// another replica appends first, Record re-reads the last entry and tries again with the next
// Seq, up to a bound after which it gives up with EUnavailable.
func (l *Log) Record(ctx context.Context, e Entry) (Head, error) {
	switch {
	case e.Actor == "":
		return Head{}, hub.FieldError("actor", "an audit entry needs an actor")
	case e.Action == "":
		return Head{}, hub.FieldError("action", "an audit entry needs an action")
	}
	details, err := json.Marshal(e.Details)
	if err != nil {
		return Head{}, &hub.Error{Code: hub.EInvalid, Field: "details", Message: "details are not JSON", Err: err}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	for attempt := range maxAttempts {
		prev, err := l.last(ctx)
		if err != nil {
			return Head{}, err
		}
		a := &hub.AuditEntry{
			Seq: prev.Seq + 1,
			// Microseconds: PostgreSQL keeps no more, and the hash must survive the round trip.
			Time:   l.clock().UTC().Truncate(time.Microsecond),
			Org:    e.Org,
			Actor:  e.Actor,
			Action: e.Action,
			Target: e.Target,
			Prev:   prev.Hash,
		}
		// Sealed again on every attempt: the location, and so the ciphertext, names the Seq.
		if a.Details, err = l.sealer.Encrypt(location(a.Seq), details); err != nil {
			return Head{}, fmt.Errorf("audit: seal details of entry %d: %w", a.Seq, err)
		}
		a.Hash = Sum(a)
		err = l.st.AppendAudit(ctx, a)
		if err == nil {
			return Head{Seq: a.Seq, Hash: a.Hash}, nil
		}
		if hub.ErrorCode(err) != hub.EConflict {
			return Head{}, fmt.Errorf("audit: append entry %d: %w", a.Seq, err)
		}
		// Another replica took this Seq. Back off a little, with jitter, so that replicas that
		// keep colliding spread out.
		wait := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 5)))
		select {
		case <-ctx.Done():
			return Head{}, fmt.Errorf("audit: append: %w", ctx.Err())
		case <-time.After(wait):
		}
	}
	return Head{}, hub.Errorf(hub.EUnavailable, "audit: could not append after %d attempts: other writers kept appending first", maxAttempts)
}

// last returns the head of the stored log, the zero Head for an empty one.
func (l *Log) last(ctx context.Context) (Head, error) {
	a, err := l.st.LastAudit(ctx)
	if hub.ErrorCode(err) == hub.ENotFound {
		return Head{}, nil
	}
	if err != nil {
		return Head{}, fmt.Errorf("audit: read last entry: %w", err)
	}
	return Head{Seq: a.Seq, Hash: a.Hash}, nil
}

// Head returns the newest entry's Seq and Hash, the zero Head for an empty log. It does not
// verify the chain; record it outside the hub to detect truncation later with VerifyAgainst.
func (l *Log) Head(ctx context.Context) (Head, error) { return l.last(ctx) }

// Sum returns the hash of a: SHA-256 over a domain-separation label followed by Prev, Seq, Time
// (UTC Unix nanoseconds), Org, Actor, Action, Target and the sealed Details, each variable-length
// field preceded by its length as 8 big-endian bytes and each integer as 8 big-endian bytes. The
// length prefixes make the encoding unambiguous: no two different entries encode alike. a.Hash
// is ignored.
func Sum(a *hub.AuditEntry) []byte {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	integer := func(i int64) {
		binary.BigEndian.PutUint64(n[:], uint64(i))
		h.Write(n[:])
	}
	field([]byte("cshub audit v1"))
	field(a.Prev)
	integer(a.Seq)
	integer(a.Time.UnixNano())
	field([]byte(a.Org))
	field([]byte(a.Actor))
	field([]byte(a.Action))
	field([]byte(a.Target))
	field(a.Details)
	return h.Sum(nil)
}

// Problem kinds a Verify report names.
const (
	ProblemModified  = "modified"  // the entry's stored hash is not the hash of its fields
	ProblemChain     = "chain"     // Prev is not the hash of the entry before (rewritten or reordered)
	ProblemGap       = "gap"       // one or more entries are missing before this one
	ProblemOrder     = "order"     // an entry with a lower or equal Seq came after a higher one
	ProblemTruncated = "truncated" // the log ends before the recorded head
	ProblemHead      = "head"      // the entry at the recorded head's Seq has another hash
)

// Break is where a chain is broken: the first bad entry and what is wrong with it.
type Break struct {
	Seq     int64  // Seq of the first bad entry (for a gap, the Seq that is missing)
	Problem string // one of the Problem* kinds
	Detail  string // a sentence for the operator
}

// Report is the outcome of Verify: how far the chain holds and where it breaks, if it does.
type Report struct {
	Verified int64  // entries checked and found good, from the start
	Head     Head   // the last good entry; the zero Head if none
	Broken   *Break // nil when the chain is intact
}

// pageSize is how many entries Verify reads at a time.
const pageSize = 1000

// Verify walks the whole log from the first entry and checks every link: Seq runs 1, 2, 3, …
// without gaps or reordering, each Prev is the Hash of the entry before, and each Hash is Sum of
// its entry. It stops at the first broken entry and reports it in Report.Broken, returning
// also an error with code EIntegrity, so that a caller that only checks the error does not miss
// it. Other errors are failures to read the log. Verify needs no keys.
//
// A chain cut off at its end verifies as intact: use VerifyAgainst with a head recorded outside
// the hub to detect that.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	var r Report
	after := int64(0)
	for {
		page, err := l.st.AuditEntries(ctx, after, pageSize)
		if err != nil {
			return r, fmt.Errorf("audit: read entries after %d: %w", after, err)
		}
		for _, a := range page {
			if b := check(r.Head, a); b != nil {
				r.Broken = b
				return r, hub.Errorf(hub.EIntegrity, "audit log broken at entry %d: %s", b.Seq, b.Detail)
			}
			r.Verified++
			r.Head = Head{Seq: a.Seq, Hash: a.Hash}
		}
		if len(page) < pageSize {
			return r, nil
		}
		after = r.Head.Seq
	}
}

// check returns what is wrong with entry a following the good entry prev, or nil.
func check(prev Head, a *hub.AuditEntry) *Break {
	want := prev.Seq + 1
	switch {
	case a.Seq < want:
		return &Break{Seq: a.Seq, Problem: ProblemOrder,
			Detail: fmt.Sprintf("entry %d comes after entry %d", a.Seq, prev.Seq)}
	case a.Seq == want+1:
		return &Break{Seq: want, Problem: ProblemGap, Detail: fmt.Sprintf("entry %d is missing", want)}
	case a.Seq > want:
		return &Break{Seq: want, Problem: ProblemGap,
			Detail: fmt.Sprintf("entries %d to %d are missing", want, a.Seq-1)}
	case !equal(a.Prev, prev.Hash):
		return &Break{Seq: a.Seq, Problem: ProblemChain,
			Detail: fmt.Sprintf("entry %d does not link to entry %d: one of them was rewritten or moved", a.Seq, prev.Seq)}
	case !equal(a.Hash, Sum(a)):
		return &Break{Seq: a.Seq, Problem: ProblemModified,
			Detail: fmt.Sprintf("entry %d was modified after it was written", a.Seq)}
	}
	return nil
}

// equal compares hashes in constant time; nil and empty are equal (the first entry's Prev).
func equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 || len(a)+len(b) == 0 }

// VerifyAgainst is Verify, and also checks that the log still reaches head, recorded earlier
// outside the hub: the entry at head.Seq must exist and carry head.Hash. A log that ends before
// it was truncated (ProblemTruncated); one whose entry there has another hash was rewritten
// (ProblemHead). Both are EIntegrity, as from Verify.
func (l *Log) VerifyAgainst(ctx context.Context, head Head) (Report, error) {
	r, err := l.Verify(ctx)
	if err != nil {
		return r, err
	}
	if head.Seq <= 0 {
		return r, nil
	}
	if r.Head.Seq < head.Seq {
		r.Broken = &Break{Seq: r.Head.Seq + 1, Problem: ProblemTruncated,
			Detail: fmt.Sprintf("the log ends at entry %d, but entry %d was recorded", r.Head.Seq, head.Seq)}
		return r, hub.Errorf(hub.EIntegrity, "audit log truncated: %s", r.Broken.Detail)
	}
	got, err := l.st.AuditEntries(ctx, head.Seq-1, 1)
	if err != nil {
		return r, fmt.Errorf("audit: read entry %d: %w", head.Seq, err)
	}
	if len(got) != 1 || got[0].Seq != head.Seq || !equal(got[0].Hash, head.Hash) {
		r.Broken = &Break{Seq: head.Seq, Problem: ProblemHead,
			Detail: fmt.Sprintf("entry %d does not have the hash recorded for it: the log was rewritten", head.Seq)}
		return r, hub.Errorf(hub.EIntegrity, "audit log rewritten: %s", r.Broken.Detail)
	}
	return r, nil
}

// List returns up to limit entries with Seq greater than after, in Seq order, with their details
// opened. limit is capped at 1000; 0 or less means 100. Details that fail to open are EIntegrity
// naming the entry. List does not verify the chain.
func (l *Log) List(ctx context.Context, after int64, limit int) ([]Item, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, pageSize)
	page, err := l.st.AuditEntries(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: read entries after %d: %w", after, err)
	}
	items := make([]Item, 0, len(page))
	for _, a := range page {
		d, err := l.sealer.Decrypt(location(a.Seq), a.Details)
		if err != nil {
			if hub.ErrorCode(err) == hub.ESealed {
				return nil, fmt.Errorf("audit: open details of entry %d: %w", a.Seq, err)
			}
			return nil, &hub.Error{Code: hub.EIntegrity,
				Message: fmt.Sprintf("audit: details of entry %d do not open", a.Seq), Err: err}
		}
		if !json.Valid(d) {
			return nil, hub.Errorf(hub.EIntegrity, "audit: details of entry %d are not JSON", a.Seq)
		}
		items = append(items, Item{
			Seq: a.Seq, Time: a.Time.UTC(), Org: a.Org, Actor: a.Actor, Action: a.Action,
			Target: a.Target, Details: json.RawMessage(bytes.Clone(d)), Hash: a.Hash,
		})
	}
	return items, nil
}
