package webhook

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"cshub/internal/access"
	"cshub/internal/bus"
	"cshub/internal/collab"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/stix"
)

// Tokenizer derives secrets; *seal.Barrier is one.
type Tokenizer interface {
	Token(kind, value string) ([]byte, error)
}

// Service registers webhooks and delivers to them. It is safe for concurrent use.
type Service struct {
	kb     *kb.Service
	dir    hub.DirectoryStore
	collab *collab.Service
	tk     Tokenizer
	client *http.Client
	log    *slog.Logger
	now    func() time.Time
	cfg    Config

	mu     sync.Mutex
	logs   map[string][]Attempt     // webhook id -> recent attempts, oldest first; guarded by mu
	queues map[string]chan delivery // webhook id -> its worker's queue; guarded by mu
}

// New returns a Service that reads and stores through k, decides with dir, derives secrets
// with tk and reads correlation notices from c. client sends the deliveries; nil means a
// client that follows no redirects (a redirect could lead a signed delivery anywhere).
func New(k *kb.Service, dir hub.DirectoryStore, c *collab.Service, tk Tokenizer, client *http.Client, cfg Config) *Service {
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	s := &Service{kb: k, dir: dir, collab: c, tk: tk, client: client, log: cfg.Log, now: cfg.Now, cfg: cfg,
		logs: map[string][]Attempt{}, queues: map[string]chan delivery{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.cfg.Backoff <= 0 {
		s.cfg.Backoff = time.Second
	}
	if s.cfg.MaxBackoff <= 0 {
		s.cfg.MaxBackoff = 5 * time.Minute
	}
	if s.cfg.MaxAttempts <= 0 {
		s.cfg.MaxAttempts = 8
	}
	if s.cfg.Timeout <= 0 {
		s.cfg.Timeout = 10 * time.Second
	}
	if s.cfg.Queue <= 0 {
		s.cfg.Queue = 1000
	}
	if s.cfg.LogSize <= 0 {
		s.cfg.LogSize = 100
	}
	return s
}

// Input registers a webhook: its URL (see CheckURL), the kinds of delivery wanted (all when
// empty) and the workspace its registration is kept in (the organisation's private workspace
// when empty).
type Input struct {
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	Workspace string   `json:"workspace"`
}

type body struct {
	URL    string   `json:"x_cshub_url"`
	Events []string `json:"x_cshub_events"`
}

// Register registers a webhook for org and returns it with its secret.
func (s *Service) Register(ctx context.Context, org, actor string, in Input) (*Registered, error) {
	if err := CheckURL(in.URL); err != nil {
		return nil, err
	}
	for _, k := range in.Events {
		if !slices.Contains(Kinds, k) {
			return nil, hub.FieldError("events", "%q is not one of object, sighting, note, mention, case, correlation", k)
		}
	}
	ws, err := s.workspace(ctx, org, in.Workspace)
	if err != nil {
		return nil, err
	}
	events := in.Events
	if events == nil {
		events = []string{}
	}
	now := s.now().UTC()
	id := stix.NewID(Type)
	obj := map[string]any{"type": Type, "spec_version": "2.1", "id": id, "created": stamp(now), "modified": stamp(now),
		"x_cshub_url": in.URL, "x_cshub_events": events}
	if err := s.store(ctx, org, actor, ws, obj); err != nil {
		return nil, err
	}
	secret, err := s.secret(id, org)
	if err != nil {
		return nil, err
	}
	h := Hook{ID: id, Org: org, URL: in.URL, Workspace: ws, Events: events, Created: now.Truncate(time.Millisecond)}
	return &Registered{Hook: h, Secret: hex.EncodeToString(secret)}, nil
}

// Delete ends webhook id of org: its registration gets a revoked version, and deliveries stop.
func (s *Service) Delete(ctx context.Context, org, actor, id string) error {
	o, err := s.object(ctx, org, id)
	if err != nil {
		return err
	}
	var b body
	if err := json.Unmarshal(o.Body, &b); err != nil {
		return err
	}
	now := s.now().UTC()
	if !now.After(o.Modified) {
		now = o.Modified.Add(time.Millisecond)
	}
	obj := map[string]any{"type": Type, "spec_version": "2.1", "id": id, "created": stamp(o.Created), "modified": stamp(now),
		"x_cshub_url": b.URL, "x_cshub_events": b.Events, "revoked": true}
	return s.store(ctx, org, actor, o.Workspace, obj)
}

// Hooks returns org's webhooks.
func (s *Service) Hooks(ctx context.Context, org string) ([]*Hook, error) {
	v, err := access.ViewerFor(ctx, s.dir, org, access.PathRead)
	if err != nil {
		return nil, err
	}
	objs, err := s.kb.List(ctx, hub.Filter{Viewer: v, Types: []string{Type}, Limit: 10000})
	if err != nil {
		return nil, err
	}
	out := []*Hook{}
	for _, o := range objs {
		if o.Author != org || o.Revoked {
			continue
		}
		h, err := hookOf(o)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// Deliveries returns the recent attempts of org's webhook id, oldest first.
func (s *Service) Deliveries(ctx context.Context, org, id string) ([]Attempt, error) {
	if _, err := s.object(ctx, org, id); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Attempt{}, s.logs[id]...), nil
}

// object returns the registration id of org; ENotFound for anyone else's, or a revoked one.
func (s *Service) object(ctx context.Context, org, id string) (*hub.Object, error) {
	v, err := access.ViewerFor(ctx, s.dir, org, access.PathRead)
	if err != nil {
		return nil, err
	}
	o, err := s.kb.Get(ctx, v, id, time.Time{})
	if err == nil && (o.Type != Type || o.Author != org || o.Revoked) {
		err = hub.Errorf(hub.ENotFound, "")
	}
	if hub.ErrorCode(err) == hub.ENotFound {
		return nil, &hub.Error{Code: hub.ENotFound, Field: "id", Message: "no webhook " + id}
	}
	return o, err
}

func hookOf(o *hub.Object) (*Hook, error) {
	var b body
	if err := json.Unmarshal(o.Body, &b); err != nil {
		return nil, &hub.Error{Code: hub.EIntegrity, Message: "stored " + o.ID + " is not the JSON it was", Err: err}
	}
	if b.Events == nil {
		b.Events = []string{}
	}
	return &Hook{ID: o.ID, Org: o.Author, URL: b.URL, Workspace: o.Workspace, Events: b.Events, Created: o.Created}, nil
}

// workspace returns where org's registration is kept: ws if org is a member of it, else org's
// first private workspace.
func (s *Service) workspace(ctx context.Context, org, ws string) (string, error) {
	wss, err := s.dir.WorkspacesOf(ctx, org)
	if err != nil {
		return "", err
	}
	for _, w := range wss {
		if w.Kind == hub.WorkspaceExercise {
			continue // never on a real path: deliveries are real
		}
		if ws == w.Slug || ws == "" && w.Kind == hub.WorkspacePrivate {
			return w.Slug, nil
		}
	}
	if ws == "" {
		return "", hub.FieldError("workspace", "required: the organisation has no private workspace to keep the registration in")
	}
	return "", hub.FieldError("workspace", "no workspace %q", ws)
}

// store ingests a registration, TLP:RED without recipients: only org sees it.
func (s *Service) store(ctx context.Context, org, actor, ws string, obj map[string]any) error {
	b, err := json.Marshal(map[string]any{"type": "bundle", "id": stix.NewID("bundle"), "objects": []any{obj}})
	if err != nil {
		return err
	}
	sum, err := s.kb.Ingest(ctx, kb.Submission{Org: org, Actor: actor, Workspace: ws, DefaultTLP: hub.TLPRed}, bytes.NewReader(b))
	if err != nil {
		return err
	}
	if len(sum.Rejected) > 0 {
		return hub.FieldError("body", "%s", sum.Rejected[0].Reason)
	}
	return nil
}

// secret derives the signing secret of webhook id of org.
func (s *Service) secret(id, org string) ([]byte, error) {
	return s.tk.Token(secretKind, org+"\x00"+id)
}

// delivery is one queued delivery.
type delivery struct {
	hook *Hook
	kind string
	seq  uint64
	body []byte
	id   string
}

// refresh is how old the registrations and directory facts deliveries are decided with may
// grow: a membership removed stops deliveries within it. A registration changed through this
// hub's bus is read at once.
const refresh = 30 * time.Second

// Run follows the bus from after (0: from now on) and delivers each event to the webhooks
// that may receive it, until ctx ends or the subscription does. Run it on one replica only,
// under a bus.Leaser, or receivers get each delivery once per replica.
func (s *Service) Run(ctx context.Context, events hub.Bus, after uint64) error {
	ch, err := events.Subscribe(ctx, after)
	if err != nil {
		return err
	}
	var hooks []*Hook
	var snap *access.Snapshot
	loaded := time.Time{}
	for e := range ch {
		if snap == nil || time.Since(loaded) > refresh || e.Kind == hub.EventObject && e.Type == Type {
			if hooks, snap, err = s.load(ctx); err != nil {
				s.log.Error("webhooks: loading registrations", "err", err)
				continue
			}
			loaded = time.Now()
		}
		if err := s.dispatch(ctx, snap, hooks, e); err != nil && ctx.Err() == nil {
			s.log.Error("webhooks: dispatching", "seq", e.Seq, "err", err)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return bus.Err(events, ch)
}

// load reads every live registration and the directory facts.
func (s *Service) load(ctx context.Context) ([]*Hook, *access.Snapshot, error) {
	snap, err := access.Load(ctx, s.dir)
	if err != nil {
		return nil, nil, err
	}
	objs, err := s.kb.List(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, Types: []string{Type}, Limit: 100000})
	if err != nil {
		return nil, nil, err
	}
	var hooks []*Hook
	for _, o := range objs {
		if o.Revoked {
			continue
		}
		h, err := hookOf(o)
		if err != nil {
			return nil, nil, err
		}
		hooks = append(hooks, h)
	}
	return hooks, snap, nil
}

// dispatch queues the deliveries of e.
func (s *Service) dispatch(ctx context.Context, snap *access.Snapshot, hooks []*Hook, e hub.Event) error {
	switch e.Kind {
	case hub.EventObject:
		if e.Type == Type {
			return nil // registrations go to nobody, not even their owner
		}
		o, err := s.load1(ctx, e)
		if err != nil || o == nil {
			return err
		}
		var mentions struct {
			Mentions []string `json:"x_cshub_mentions"`
		}
		if o.Type == "note" {
			_ = json.Unmarshal(o.Body, &mentions)
		}
		for _, h := range hooks {
			// The stored object's metadata decides, not the event's: an event may be stale.
			if !snap.Decide(h.Org, o, access.PathStream).Allow {
				continue
			}
			kind := kindOf(o.Type)
			if kind == "note" && slices.Contains(mentions.Mentions, h.Org) {
				kind = "mention"
			}
			s.enqueue(ctx, h, e, Delivery{Kind: kind, Seq: e.Seq, Time: o.Added, Workspace: o.Workspace, TLP: o.TLP, Object: o.Body})
		}
	case hub.EventCorrelation:
		if s.collab == nil {
			return nil
		}
		for _, h := range hooks {
			if h.Org != e.Author || !snap.Decide(h.Org, access.EventObject(e), access.PathNotify).Allow {
				continue
			}
			cs, err := s.collab.Correlations(ctx, h.Org, e.ObjectID)
			if err != nil {
				if hub.ErrorCode(err) == hub.ENotFound {
					continue
				}
				return err
			}
			s.enqueue(ctx, h, e, Delivery{Kind: "correlation", Seq: e.Seq, Time: e.Time, Workspace: e.Workspace, ObjectID: e.ObjectID, Correlations: cs})
		}
	}
	return nil
}

// kindOf is the delivery kind of an object of STIX type t.
func kindOf(t string) string {
	switch t {
	case "sighting", "note":
		return t
	case collab.TypeCase, collab.TypeCaseAction:
		return "case"
	}
	return "object"
}

// load1 reads the object version e announces, as the hub; nil when it is not stored.
func (s *Service) load1(ctx context.Context, e hub.Event) (*hub.Object, error) {
	objs, err := s.kb.List(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, IDs: []string{e.ObjectID}, AfterSeq: e.ObjectSeq - 1, AllVersions: true, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 || objs[0].Seq != e.ObjectSeq {
		return nil, nil
	}
	return objs[0], nil
}

// enqueue hands d to h's worker, starting it when needed; a full queue drops d and logs it.
func (s *Service) enqueue(ctx context.Context, h *Hook, e hub.Event, d Delivery) {
	if len(h.Events) > 0 && !slices.Contains(h.Events, d.Kind) {
		return
	}
	d.ID = newDeliveryID()
	b, err := json.Marshal(d)
	if err != nil {
		s.log.Error("webhooks: encoding a delivery", "seq", e.Seq, "err", err)
		return
	}
	s.mu.Lock()
	q, ok := s.queues[h.ID]
	if !ok {
		q = make(chan delivery, s.cfg.Queue)
		s.queues[h.ID] = q
		go s.work(ctx, q)
	}
	s.mu.Unlock()
	select {
	case q <- delivery{hook: h, kind: d.Kind, seq: e.Seq, body: b, id: d.ID}:
	default:
		s.record(h.ID, Attempt{Delivery: d.ID, Kind: d.Kind, Seq: e.Seq, Time: s.now(), Error: "queue full: the receiver is too slow", Failed: true})
	}
}

// work delivers one webhook's queue in order until ctx ends.
func (s *Service) work(ctx context.Context, q chan delivery) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-q:
			s.deliver(ctx, d)
		}
	}
}

// deliver tries d until it is taken, the attempts run out or ctx ends.
func (s *Service) deliver(ctx context.Context, d delivery) {
	secret, err := s.secret(d.hook.ID, d.hook.Org)
	if err != nil {
		s.record(d.hook.ID, Attempt{Delivery: d.id, Kind: d.kind, Seq: d.seq, Time: s.now(), Error: "no secret: " + hub.ErrorMessage(err), Failed: true})
		return
	}
	wait := s.cfg.Backoff
	for attempt := 1; ; attempt++ {
		status, err := s.post(ctx, d, secret)
		a := Attempt{Delivery: d.id, Kind: d.kind, Seq: d.seq, Attempt: attempt, Time: s.now(), Status: status}
		if err != nil {
			a.Error = err.Error()
		}
		a.Done = err == nil && status >= 200 && status < 300
		a.Failed = !a.Done && attempt == s.cfg.MaxAttempts
		s.record(d.hook.ID, a)
		if a.Done || a.Failed || ctx.Err() != nil {
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, s.cfg.MaxBackoff)
	}
}

// post sends d once.
func (s *Service) post(ctx context.Context, d delivery, secret []byte) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.hook.URL, bytes.NewReader(d.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cshub-webhook/1")
	req.Header.Set("X-Cshub-Event", d.kind)
	req.Header.Set("X-Cshub-Delivery", d.id)
	req.Header.Set("X-Cshub-Signature", Sign(secret, s.now(), d.body))
	resp, err := s.client.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap()
		}
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// record appends a to the log of webhook id, keeping the newest LogSize.
func (s *Service) record(id string, a Attempt) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := append(s.logs[id], a)
	if len(l) > s.cfg.LogSize {
		l = l[len(l)-s.cfg.LogSize:]
	}
	s.logs[id] = l
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
