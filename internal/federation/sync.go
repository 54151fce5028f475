package federation

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"cshub/internal/access"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/stix"
	"cshub/internal/taxii/client"
)

// DefaultPageSize is how many objects a sync asks for per page.
const DefaultPageSize = 1000

// Syncer pulls objects from TAXII sources into this hub. It is safe for concurrent use, but two
// syncs of one source at once make the later save of the cursor EConflict.
type Syncer struct {
	reg *Registry
}

// NewSyncer returns a Syncer over the same hub parts as a Registry.
func NewSyncer(c Config) *Syncer { return &Syncer{reg: NewRegistry(c)} }

// Registry returns the registry the Syncer keeps its sources in.
func (s *Syncer) Registry() *Registry { return s.reg }

// Progress is how far a sync has come; the final one is its result.
type Progress struct {
	Pages      int            `json:"pages"`
	Received   int64          `json:"received"` // objects in the pages received
	Accepted   int            `json:"accepted"` // new versions stored
	Duplicates int            `json:"duplicates"`
	Rejected   []kb.Rejection `json:"rejected"`
	Resumed    bool           `json:"resumed"` // the run went on from an interrupted one
}

// Options tune one sync.
type Options struct {
	// Client talks to the source; nil builds one from the Peer's credentials (see ClientFor).
	Client *client.Client
	// PageSize is the limit asked per page; 0 means DefaultPageSize.
	PageSize int
	// Progress, when set, is called after each committed page.
	Progress func(Progress)
}

// Sync pulls from the source p names (URL, Collection) into p.Workspace as p.Org what was
// added since the last completed sync of that source, or resumes an interrupted one. The cursor
// is saved after every committed page, so a sync that fails (the source goes away, ctx ends)
// loses nothing: the next one goes on from the last committed page, with the source's next
// value when the source still honours it, else from the start of the interrupted run (what was
// stored already is then recognised as duplicates).
func (s *Syncer) Sync(ctx context.Context, p Peer, opt Options) (*Progress, error) {
	p.URL = normalizeURL(p.URL)
	if err := p.check(); err != nil {
		return nil, err
	}
	rec, err := s.reg.ensure(ctx, &p)
	if err != nil {
		return nil, err
	}
	c := opt.Client
	if c == nil {
		if c, err = ClientFor(&rec.peer); err != nil {
			return nil, err
		}
	}
	def, err := s.defaultTLP(ctx, p.Workspace)
	if err != nil {
		return nil, err
	}
	limit := opt.PageSize
	if limit <= 0 {
		limit = DefaultPageSize
	}
	st := rec.peer.State
	prog := Progress{Rejected: []kb.Rejection{}}
	q := client.Query{Limit: limit, AddedAfter: st.AddedAfter}
	if st.Next != "" || !st.RunFrom.IsZero() {
		q.AddedAfter, q.Next, prog.Resumed = st.RunFrom, st.Next, true
	} else {
		st.RunFrom, st.High = st.AddedAfter, time.Time{}
	}
	fail := func(err error) (*Progress, error) {
		st.LastRun, st.LastError = s.reg.now().UTC(), hub.ErrorMessage(err)
		if serr := s.reg.save(context.WithoutCancel(ctx), rec, func(q *Peer) { q.State = st }); serr != nil {
			s.reg.log.Warn("federation: saving the state of a failed sync", "source", p.URL, "err", serr)
		}
		return &prog, err
	}
	// One page is fetched while the one before is validated and the one before that committed,
	// each page one batch of one ingest: the source's work, the network's and this hub's
	// overlap. The cursor is saved as each page is committed.
	fctx, stop := context.WithCancel(ctx)
	pages := fetch(fctx, c, p, q, prog.Resumed, s.reg.log)
	defer func() {
		stop()
		for range pages { // the fetcher ends before Sync returns
		}
	}()
	var mu sync.Mutex // guards marks and red, shared by the ingest's reader and its committer
	var marks []fetched
	var red []kb.Rejection
	next := func(ictx context.Context) ([]json.RawMessage, error) {
		var pg fetched
		var ok bool
		select {
		case pg, ok = <-pages:
		case <-ictx.Done():
			return nil, ictx.Err()
		}
		switch {
		case !ok:
			return nil, io.EOF
		case pg.err != nil:
			return nil, pg.err
		}
		kept, rejected := notRed(pg.env.Objects)
		mu.Lock()
		marks = append(marks, pg)
		red = append(red, rejected...)
		mu.Unlock()
		return kept, nil
	}
	var saveErr error
	ictx, abort := context.WithCancel(ctx)
	defer abort()
	sub := kb.Submission{Org: p.Org, Actor: "federation", Workspace: p.Workspace, DefaultTLP: def, Progress: func(kp kb.Progress) {
		mu.Lock()
		pg := marks[0]
		marks = marks[1:]
		prog.Rejected = append(prog.Rejected, red...)
		red = red[:0]
		mu.Unlock()
		env := pg.env
		prog.Pages++
		prog.Received += int64(len(env.Objects))
		prog.Accepted, prog.Duplicates = kp.Accepted, kp.Duplicates
		if env.DateAddedLast.After(st.High) {
			st.High = env.DateAddedLast
		}
		st.Pulled += int64(len(env.Objects))
		if !env.More {
			return
		}
		st.RunFrom, st.Next = pg.following.AddedAfter, pg.following.Next
		if err := s.reg.save(ctx, rec, func(q *Peer) { q.State = st }); err != nil {
			saveErr = err
			abort()
			return
		}
		if opt.Progress != nil {
			opt.Progress(prog)
		}
	}}
	sum, err := s.reg.kb.IngestBatches(ictx, sub, next)
	if sum != nil {
		prog.Rejected = append(prog.Rejected, sum.Rejected...)
	}
	mu.Lock()
	prog.Rejected = append(prog.Rejected, red...) // of pages read after the last commit
	mu.Unlock()
	switch {
	case saveErr != nil:
		return &prog, saveErr
	case err != nil:
		return fail(err)
	}
	if st.High.After(st.AddedAfter) {
		st.AddedAfter = st.High
	}
	st.RunFrom, st.Next, st.High = time.Time{}, "", time.Time{}
	st.LastRun, st.LastError = s.reg.now().UTC(), ""
	if err := s.reg.save(ctx, rec, func(q *Peer) { q.State = st }); err != nil {
		return &prog, err
	}
	if opt.Progress != nil {
		opt.Progress(prog)
	}
	return &prog, nil
}

// fetched is one page of a sync, or the error that ended the fetching, and the query that asks
// for the page after it.
type fetched struct {
	env       *client.Envelope
	following client.Query
	err       error
}

// fetch reads the pages of a sync, beginning with q, on its own goroutine, one page ahead of
// the reader; the channel closes after the last page or an error, or when ctx ends. A resumed
// sync whose saved next value the source refuses starts its run over.
func fetch(ctx context.Context, c *client.Client, p Peer, q client.Query, resumed bool, log *slog.Logger) <-chan fetched {
	out := make(chan fetched, 1)
	go func() {
		defer close(out)
		for first := true; ; first = false {
			env, err := c.Objects(ctx, p.URL, p.Collection, q)
			if err != nil && first && resumed && q.Next != "" &&
				(hub.ErrorCode(err) == hub.EInvalid || hub.ErrorCode(err) == hub.ENotFound) {
				// The source no longer knows the next value (it expired, or the source
				// restarted): start the interrupted run over.
				log.Info("federation: the source refused the saved next value; restarting the run", "source", p.URL, "err", err)
				q.Next = ""
				env, err = c.Objects(ctx, p.URL, p.Collection, q)
			}
			pg := fetched{env: env, err: err}
			if err == nil && env.More {
				switch {
				case env.Next != "":
					q.Next = env.Next
				case !env.DateAddedLast.IsZero():
					// A source that pages by added_after alone: go on after the page's newest
					// object.
					q.AddedAfter, q.Next = env.DateAddedLast, ""
				default:
					pg.err = hub.Errorf(hub.EInvalid, "the source says there is more but gives neither next nor X-TAXII-Date-Added-Last")
				}
				pg.following = q
			}
			select {
			case out <- pg:
			case <-ctx.Done():
				return
			}
			if pg.err != nil || !env.More {
				return
			}
		}
	}()
	return out
}

// defaultTLP is the level given to arriving objects without a TLP marking: the receiving
// workspace's default, but never below AMBER (see the package comment).
func (s *Syncer) defaultTLP(ctx context.Context, slug string) (hub.TLP, error) {
	ws, err := s.reg.store.Workspace(ctx, slug)
	if hub.ErrorCode(err) == hub.ENotFound {
		return 0, hub.FieldError("into", "no workspace %q", slug)
	} else if err != nil {
		return 0, err
	}
	return max(access.EffectiveTLP(hub.TLPUnset, ws.DefaultTLP), hub.TLPAmber), nil
}

// notRed returns the objects of a page not marked TLP:RED, and a rejection for each one that is.
func notRed(objs []json.RawMessage) (kept []json.RawMessage, rejected []kb.Rejection) {
	kept = objs[:0:0]
	for _, raw := range objs {
		if !mayBeRed(raw) {
			kept = append(kept, raw)
			continue
		}
		var head struct {
			ID       string   `json:"id"`
			Markings []string `json:"object_marking_refs"`
		}
		if json.Unmarshal(raw, &head) == nil && stix.TLPOf(head.Markings) == hub.TLPRed {
			rejected = append(rejected, kb.Rejection{ID: head.ID, Reason: head.ID + ": object_marking_refs: TLP:RED never crosses between hubs"})
			continue
		}
		kept = append(kept, raw)
	}
	return kept, rejected
}

// mayBeRed reports whether raw may carry a TLP:RED marking: whether it names one of the red
// marking definitions or holds an escape, with which a string can spell an id without its
// bytes. Most objects need no parse to tell they are not red.
func mayBeRed(raw []byte) bool {
	return bytes.IndexByte(raw, '\\') >= 0 || bytes.Contains(raw, []byte(stix.TLP2Red)) || bytes.Contains(raw, []byte(stix.TLP1Red))
}

// SyncDue syncs, one after the other, every configured peer whose last run is at least its
// Every ago, and returns the errors of those that failed. serve runs it on a schedule
// (schedule.Every), so that one replica syncs each peer however many serve the hub.
func (s *Syncer) SyncDue(ctx context.Context) error {
	peers, err := s.reg.List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range peers {
		if p.Every <= 0 || s.reg.now().Sub(p.State.LastRun) < p.Every {
			continue
		}
		prog, err := s.Sync(ctx, *p, Options{})
		if err != nil {
			errs = append(errs, hub.Errorf(hub.ErrorCode(err), "peer %s: %s", p.Name, hub.ErrorMessage(err)))
			continue
		}
		s.reg.log.Info("federation: peer synced", "peer", p.Name, "received", prog.Received, "accepted", prog.Accepted,
			"duplicates", prog.Duplicates, "rejected", len(prog.Rejected))
	}
	return errors.Join(errs...)
}

// ClientFor returns a TAXII client with p's credentials and TLS settings.
func ClientFor(p *Peer) (*client.Client, error) {
	hc, err := HTTPClient(p.URL, []byte(p.CA), p.Insecure)
	if err != nil {
		return nil, err
	}
	return client.New(client.Config{HTTP: hc, Token: p.Token, User: p.User, Password: p.Key}), nil
}

// HTTPClient returns an HTTP client for the source at rawURL that trusts the certificates in
// caPEM (the system's roots when empty), or, with insecure, any certificate: allowed only for a
// source on a loopback address, for tests.
func HTTPClient(rawURL string, caPEM []byte, insecure bool) (*http.Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, hub.FieldError("from", "%v", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, hub.FieldError("ca", "no PEM certificate in it")
		}
		cfg.RootCAs = pool
	}
	if insecure {
		ip := net.ParseIP(u.Hostname())
		if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, hub.FieldError("insecure", "only for a source on a loopback address, not %q", u.Hostname())
		}
		cfg.InsecureSkipVerify = true
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return &http.Client{Transport: tr, Timeout: 5 * time.Minute}, nil
}
