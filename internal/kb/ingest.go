package kb

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"cshub/internal/access"
	"cshub/internal/audit"
	"cshub/internal/bus"
	"cshub/internal/export/record"
	"cshub/internal/hub"
	"cshub/internal/seal"
	"cshub/internal/stix"
)

// batchSize is how many objects are validated as one unit of work and committed as one batch:
// large enough that a batch's fixed cost disappears, small enough that memory stays bounded.
const batchSize = 1000

// Submission describes one ingest: who submits, into which workspace, with which marking rules.
type Submission struct {
	Org        string   // submitting organisation; it must be a member of Workspace
	Actor      string   // who submits, for the audit log: a user name or "system"
	Workspace  string   // slug
	Recipients []string // organisations a TLP:RED object is addressed to, besides Org
	DefaultTLP hub.TLP  // for objects without a TLP marking; TLPUnset means the workspace's default
	// Progress, when set, is called from the ingesting goroutine after each committed batch.
	Progress func(Progress)
}

// Progress reports how far an ingest has come. Everything counted in Accepted and Duplicates
// is committed.
type Progress struct {
	Batches    int   // batches committed so far
	Objects    int64 // objects read so far
	Bytes      int64 // input bytes read so far (compressed size for gzip input)
	Accepted   int
	Duplicates int
	Rejected   int
}

// Summary is the result of an ingest, in the JSON form the API and CLI print.
type Summary struct {
	Accepted   int         `json:"accepted"`
	Duplicates int         `json:"duplicates"`
	Rejected   []Rejection `json:"rejected"`
	IDs        []string    `json:"ids"`
}

// Rejection names an object that was not stored and why.
type Rejection struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// Ingest reads a STIX bundle (plain or gzip'd) from r and stores its valid objects in batches,
// each batch committed whole or not at all, with the outcome it would have alone (a committer
// that falls behind commits the batches ready by then in one transaction; see groupBatches).
// Invalid objects are rejected one by one with a reason; a version already stored counts as a
// duplicate, so the same bundle twice stores nothing new. When the input breaks off (malformed
// JSON, a read error, ctx cancelled) Ingest returns the Summary of what was committed until then
// together with the error: nothing committed is lost.
func (s *Service) Ingest(ctx context.Context, sub Submission, r io.Reader) (*Summary, error) {
	plan, err := s.plan(ctx, sub)
	if err != nil {
		return nil, err
	}
	cr := &countingReader{r: r}
	in, err := decompress(cr)
	if err != nil {
		return nil, err
	}
	br := stix.NewBundleReader(in)
	var readErr error // the error that ended the last batch, for the call after it
	next := func(context.Context) ([]json.RawMessage, error) {
		if readErr != nil {
			return nil, readErr
		}
		var raws []json.RawMessage
		for len(raws) < batchSize {
			raw, err := br.Next()
			if err == io.EOF {
				readErr = io.EOF
				break
			}
			if err != nil {
				readErr = &hub.Error{Code: hub.EInvalid, Field: "body", Message: err.Error(), Err: err}
				break
			}
			raws = append(raws, raw)
		}
		if len(raws) == 0 {
			return nil, readErr
		}
		return raws, nil
	}
	return s.ingest(ctx, sub, plan, next, &cr.n)
}

// IngestBatches stores the objects next returns as Ingest stores a bundle's, each call's
// objects as one batch committed whole or not at all, in the order next returned them. next is
// called from one goroutine of its own, with a context that ends when the ingest does, ahead of
// the commits, so that reading the next batch
// and validating it overlap the commit of the one before; it returns io.EOF after the last
// batch, and any other error ends the ingest and is returned, with the Summary of what was
// committed. sub.Progress, when set, is called after each committed batch (an empty one too),
// so that its Batches tells a caller which of its batches are stored.
func (s *Service) IngestBatches(ctx context.Context, sub Submission, next func(context.Context) ([]json.RawMessage, error)) (*Summary, error) {
	plan, err := s.plan(ctx, sub)
	if err != nil {
		return nil, err
	}
	return s.ingest(ctx, sub, plan, next, nil)
}

// job is a batch read, numbered in input order.
type job struct {
	n    int
	raws []json.RawMessage
}

// result is a batch validated: the objects to store and the ones rejected, with how many
// objects had been read when its validation began.
type result struct {
	n       int
	objs    []*hub.Object
	rejects []Rejection
	read    int64
}

// ingest is Ingest and IngestBatches after the plan: bytes, when not nil, counts the input read.
func (s *Service) ingest(ctx context.Context, sub Submission, plan *plan, next func(context.Context) ([]json.RawMessage, error), bytes *atomic.Int64) (sum *Summary, err error) {
	defer func() {
		details := map[string]any{"accepted": sum.Accepted, "duplicates": sum.Duplicates, "rejected": len(sum.Rejected)}
		if err != nil {
			details["error"] = err.Error()
		}
		actor := sub.Actor
		if actor == "" {
			actor = "system"
		}
		s.record(context.WithoutCancel(ctx), audit.Entry{Org: sub.Org, Actor: actor, Action: "ingest", Target: sub.Workspace, Details: details})
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	jobs := make(chan job, 2)
	// Room for a whole group (see groupBatches) of validated batches to wait for the committer.
	results := make(chan result, groupBatches)
	var readErr error // set by the reader before it closes jobs
	var read atomic.Int64

	go func() {
		defer close(jobs)
		for n := 0; ; n++ {
			raws, err := next(ctx)
			if err != nil {
				if err != io.EOF {
					readErr = err
				}
				return
			}
			read.Add(int64(len(raws)))
			select {
			case jobs <- job{n, raws}:
			case <-ctx.Done():
				return
			}
		}
	}()

	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				res := result{n: j.n, read: read.Load()}
				for _, raw := range j.raws {
					o, rej := plan.object(s, raw)
					if o != nil {
						res.objs = append(res.objs, o)
					} else {
						res.rejects = append(res.rejects, rej)
					}
				}
				select {
				case results <- res:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()

	// Commit in input order, so that store order (Seq) follows the bundle and the summary's ids
	// are in the order the submitter sent them. When the committer falls behind, the batches
	// ready by then are committed together (see groupBatches).
	sum = &Summary{Rejected: []Rejection{}, IDs: []string{}}
	pending := map[int]result{}
	committed := 0
	var commitErr error
	var group []result
	for res := range results {
		if commitErr != nil {
			continue // drain so the workers can finish
		}
		pending[res.n] = res
	drain:
		for len(pending) < groupBatches {
			select {
			case r, ok := <-results:
				if !ok {
					break drain
				}
				pending[r.n] = r
			default:
				break drain
			}
		}
		for {
			group = group[:0]
			objects := 0
			for len(group) < s.groupBatches() {
				r, ok := pending[committed+len(group)]
				if !ok || len(group) > 0 && objects+len(r.objs) > groupObjects {
					break
				}
				group = append(group, r)
				objects += len(r.objs)
			}
			if len(group) == 0 {
				break
			}
			for i := range group {
				delete(pending, committed+i)
			}
			err := s.commit(ctx, group, sum, func(r result) {
				sum.Rejected = append(sum.Rejected, r.rejects...)
				committed++
				if sub.Progress != nil {
					p := Progress{Batches: committed, Objects: r.read, Accepted: sum.Accepted, Duplicates: sum.Duplicates, Rejected: len(sum.Rejected)}
					if bytes != nil {
						p.Bytes = bytes.Load()
					}
					sub.Progress(p)
				}
			})
			if err != nil {
				commitErr = err
				cancel()
				break
			}
		}
	}
	if commitErr != nil {
		return sum, commitErr
	}
	if readErr != nil {
		return sum, readErr
	}
	return sum, ctx.Err()
}

// groupBatches and groupObjects bound how many validated batches, and how many objects, one
// transaction commits when the committer has fallen behind: enough that the random pages of a
// store's indexes are written once for many batches, few enough that a crash loses little
// unacknowledged work and memory stays bounded. A commit writes every index page it touches to
// SQLite's WAL, and under random keys (ids, blind-index tokens) a commit of 16k objects into a
// store of a million already touches most of them: in a 1M-object sync, commits of up to 64k
// objects wrote about 1.1 WAL pages per object where commits of up to 16k wrote 2.1 (estimated
// from the WAL's size and the CPU spent writing it), and writing them was a sixth of the CPU
// of the committer, the goroutine the ingest waits for.
const (
	groupBatches = 64
	groupObjects = groupBatches * batchSize
)

// batchPutter is a store that commits several batches in one transaction, each with its own
// PutOptions and the outcome it would have alone: *sqlite.DB is one.
type batchPutter interface {
	PutObjectBatches(ctx context.Context, batches [][]*hub.Object, opts []hub.PutOptions) ([]int, error)
}

// groupBatches is how many batches one commit may take: one unless the store can commit
// several at once.
func (s *Service) groupBatches() int {
	if _, ok := s.store.(batchPutter); ok {
		return groupBatches
	}
	return 1
}

// commit stores group, batches in order, in one transaction, announces what was new and adds
// each batch in turn to sum, calling done after each. The store applies the version rules (see
// admit) inside its write transaction. With an error, no batch of group is stored.
func (s *Service) commit(ctx context.Context, group []result, sum *Summary, done func(result)) error {
	rejects := make([][]Rejection, len(group))
	batches := make([][]*hub.Object, len(group))
	opts := make([]hub.PutOptions, len(group))
	for i, r := range group {
		keep := func(o, latest *hub.Object) bool {
			rej, ok := admit(o, latest)
			if !ok {
				rejects[i] = append(rejects[i], rej)
			}
			return ok
		}
		batches[i], opts[i] = r.objs, hub.PutOptions{Now: s.now(), Admit: keep}
	}
	added := make([]int, len(group))
	var err error
	if bp, ok := s.store.(batchPutter); ok {
		added, err = bp.PutObjectBatches(ctx, batches, opts)
	} else if len(batches[0]) > 0 { // s.groupBatches keeps the group to one batch
		added[0], err = s.store.PutObjects(ctx, batches[0], opts[0])
	}
	if err != nil {
		return err
	}
	s.announce(ctx, batches)
	for i, objs := range batches {
		sum.Rejected = append(sum.Rejected, rejects[i]...)
		sum.Accepted += added[i]
		sum.Duplicates += len(objs) - len(rejects[i]) - added[i]
		for _, o := range objs {
			if o.Seq != 0 {
				sum.IDs = append(sum.IDs, o.ID)
			}
		}
		done(group[i])
	}
	return nil
}

// announce publishes the committed new versions of batches on the bus.
func (s *Service) announce(ctx context.Context, batches [][]*hub.Object) {
	if s.bus == nil {
		return
	}
	var events []hub.Event
	for _, objs := range batches {
		for _, o := range objs {
			if o.Seq != 0 {
				events = append(events, hub.Event{Kind: hub.EventObject, ObjectID: o.ID, ObjectSeq: o.Seq, Type: o.Type,
					Workspace: o.Workspace, Author: o.Author, TLP: o.TLP, Recipients: o.Recipients, Time: o.Added})
			}
		}
	}
	if len(events) == 0 {
		return
	}
	// The objects are committed: announce them even if the submitter has gone away.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	if seqs, err := bus.PublishBatch(pctx, s.bus, events); err != nil {
		// A lost notification only delays listeners, which catch up from the store. Say so
		// rather than fail the ingest.
		unannounced := 0
		for _, seq := range seqs {
			if seq == 0 {
				unannounced++
			}
		}
		s.log.Warn("bus publish failed", "events", len(events), "unannounced", unannounced, "err", err)
	}
}

// publishTimeout bounds announcing one committed batch on the bus.
const publishTimeout = 30 * time.Second

// admit keeps the rules for a new version of an object already in the workspace, given its
// latest stored version: only the author's organisation adds versions, and a version may raise
// the TLP but never lower it. A version equal to the stored one passes: the store recognises
// it as a duplicate.
func admit(o, latest *hub.Object) (Rejection, bool) {
	switch {
	case o.Modified.Equal(latest.Modified):
		return Rejection{}, true
	case latest.Author != o.Author:
		return Rejection{ID: o.ID, Reason: o.ID + ": modified: versions of this object are added by its author's organisation (" + latest.Author + ")"}, false
	case o.TLP < latest.TLP && o.Modified.After(latest.Modified):
		return Rejection{ID: o.ID, Reason: o.ID + ": object_marking_refs: TLP may be raised, never lowered: the stored version is TLP:" + latest.TLP.String() + ", this one TLP:" + o.TLP.String()}, false
	}
	return Rejection{}, true
}

// plan is what an ingest decided before reading: where objects go and how they are marked.
type plan struct {
	org        string
	workspace  string
	recipients []string
	defaultTLP hub.TLP
}

func (s *Service) plan(ctx context.Context, sub Submission) (*plan, error) {
	ws, err := s.store.Workspace(ctx, sub.Workspace)
	if hub.ErrorCode(err) == hub.ENotFound {
		return nil, hub.FieldError("workspace", "no workspace %q", sub.Workspace)
	} else if err != nil {
		return nil, err
	}
	if !slices.Contains(ws.Members, sub.Org) {
		// Not a member: the workspace is none of the caller's business, so it is "not found".
		return nil, hub.FieldError("workspace", "no workspace %q", sub.Workspace)
	}
	recipients := slices.Clone(sub.Recipients)
	slices.Sort(recipients)
	recipients = slices.Compact(recipients)
	for _, code := range recipients {
		if _, err := s.store.Org(ctx, code); hub.ErrorCode(err) == hub.ENotFound {
			return nil, hub.FieldError("recipients", "no organisation %q", code)
		} else if err != nil {
			return nil, err
		}
	}
	return &plan{
		org:        sub.Org,
		workspace:  ws.Slug,
		recipients: recipients,
		defaultTLP: access.EffectiveTLP(sub.DefaultTLP, ws.DefaultTLP),
	}, nil
}

// object validates one raw STIX object and returns it sealed and ready to store, or the reason
// it was rejected.
func (p *plan) object(s *Service, raw json.RawMessage) (*hub.Object, Rejection) {
	meta, body, err := stix.Validate(raw)
	if err != nil {
		id := ""
		var ve *stix.ValidationError
		if errors.As(err, &ve) {
			id = ve.ID
		}
		return nil, Rejection{ID: id, Reason: err.Error()}
	}
	o := &hub.Object{
		ID:        meta.ID,
		Type:      meta.Type,
		Created:   meta.Created,
		Modified:  meta.Modified,
		Workspace: p.workspace,
		Author:    p.org,
		TLP:       access.EffectiveTLP(stix.TLPOf(meta.MarkingRefs), p.defaultTLP),
		Revoked:   meta.Revoked,
	}
	if o.TLP == hub.TLPRed {
		o.Recipients = p.recipients
	}
	if tk, ok := s.sealer.(Tokenizer); ok {
		toks, err := tokens(tk, meta, body)
		if err != nil {
			return nil, Rejection{ID: meta.ID, Reason: "blind index failed: " + hub.ErrorMessage(err)}
		}
		o.Tokens = toks
	}
	if hub.Exported(o.Type) {
		o.Body = body
		if o.Export, err = s.sealer.Encrypt(seal.ExportLocation(o.Workspace), record.Of(o, meta.Parsed).Marshal()); err != nil {
			return nil, Rejection{ID: meta.ID, Reason: "sealing failed: " + hub.ErrorMessage(err)}
		}
	}
	sealed, err := s.sealer.Encrypt(seal.ObjectLocation(o), body)
	if err != nil {
		return nil, Rejection{ID: meta.ID, Reason: "sealing failed: " + hub.ErrorMessage(err)}
	}
	o.Body = sealed
	return o, Rejection{}
}

// decompress returns r itself, or a gzip reader when r starts with the gzip magic bytes.
func decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(2)
	if err != nil && err != io.EOF {
		return nil, err
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, hub.FieldError("body", "gzip: %v", err)
		}
		return zr, nil
	}
	return br, nil
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
