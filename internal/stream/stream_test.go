package stream_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cshub/internal/auth"
	"cshub/internal/bus"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/members"
	"cshub/internal/seal"
	"cshub/internal/store/sqlite"
	"cshub/internal/stream"
)

// fixture is a hub of three members on a real SQLite store, a real barrier and the in-process
// bus, with the stream served over HTTP for the organisation named in the X-Org header (the
// API puts it there from the caller's key).
type fixture struct {
	st  *sqlite.DB
	bar *seal.Barrier
	kb  *kb.Service
	bus *bus.Bus
	srv *stream.Server
	web *httptest.Server
}

// Members of the fixture: all three share "community"; only fr and be share "bilateral".
const (
	fr = "cert-fr"
	be = "cert-be"
	uk = "cert-uk"
)

func newFixture(t testing.TB, retain int, cfg stream.Config) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bar := seal.New(st)
	root, _ := seal.NewRootKey()
	if err := bar.Initialize(ctx, root); err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{Directory: st, Params: auth.Argon2Params{Memory: 8 << 10, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	if err != nil {
		t.Fatal(err)
	}
	m := members.New(st, bar, a, nil)
	for _, code := range []string{fr, be, uk} {
		if err := m.CreateOrg(ctx, &hub.Org{Code: code, Name: code, Country: "EU", Kind: hub.OrgMember, Active: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []*hub.Workspace{
		{Slug: "community", Kind: hub.WorkspaceCommunity, Members: []string{fr, be, uk}},
		{Slug: "bilateral", Kind: hub.WorkspaceCommunity, Members: []string{fr, be}},
	} {
		if err := m.CreateWorkspace(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	return newFixtureOn(t, st, bar, retain, cfg)
}

// newFixtureOn serves streams over st, whose directory is already filled.
func newFixtureOn(t testing.TB, st *sqlite.DB, bar *seal.Barrier, retain int, cfg stream.Config) *fixture {
	f := &fixture{st: st, bar: bar, bus: bus.New(bus.Options{Retain: retain})}
	t.Cleanup(func() { f.bus.Close() })
	f.kb = kb.New(kb.Config{Store: st, Sealer: bar, Bus: f.bus})
	cfg.Bus, cfg.KB, cfg.Dir = f.bus, f.kb, st
	f.srv = stream.New(cfg)
	f.web = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.srv.Serve(w, r, r.Header.Get("X-Org"))
	}))
	// Streams first, then the server: Close waits for the handlers, which end with the bus.
	t.Cleanup(f.web.Close)
	t.Cleanup(f.web.CloseClientConnections)
	return f
}

// indicator returns a STIX indicator numbered n.
func indicator(n int) map[string]any {
	return map[string]any{
		"type": "indicator", "spec_version": "2.1",
		"id":      fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", n),
		"created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
		"name":    fmt.Sprintf("Indicator %d", n),
		"pattern": fmt.Sprintf("[ipv4-addr:value = '198.51.100.%d']", n%250), "pattern_type": "stix",
		"valid_from": "2026-01-01T00:00:00Z",
	}
}

func id(n int) string { return indicator(n)["id"].(string) }

// ingest stores indicators from to to-1 as org in ws, marked tlp, and returns their ids.
func (f *fixture) ingest(t testing.TB, org, ws string, tlp hub.TLP, recipients []string, from, to int) []string {
	t.Helper()
	objs := make([]map[string]any, 0, to-from)
	var ids []string
	for n := from; n < to; n++ {
		objs = append(objs, indicator(n))
		ids = append(ids, id(n))
	}
	bundle, err := json.Marshal(map[string]any{"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000001", "objects": objs})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := f.kb.Ingest(context.Background(), kb.Submission{Org: org, Workspace: ws, Recipients: recipients, DefaultTLP: tlp}, bytes.NewReader(bundle))
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	if sum.Accepted != to-from {
		t.Fatalf("Ingest: accepted %d of %d: %+v", sum.Accepted, to-from, sum.Rejected)
	}
	return ids
}

// frame is one SSE message as a client parses it.
type frame struct {
	ID      string
	HasID   bool
	Event   string
	Data    string
	Comment string
}

// objectData is the data of an object frame.
type objectData struct {
	Kind      string          `json:"kind"`
	Seq       uint64          `json:"seq"`
	Workspace string          `json:"workspace"`
	TLP       hub.TLP         `json:"tlp"`
	Object    json.RawMessage `json:"object"`
}

func (fr frame) object(t testing.TB) (objectData, string) {
	t.Helper()
	var d objectData
	if err := json.Unmarshal([]byte(fr.Data), &d); err != nil {
		t.Fatalf("frame data %q: %v", fr.Data, err)
	}
	var o struct{ ID string }
	if err := json.Unmarshal(d.Object, &o); err != nil {
		t.Fatalf("frame object %s: %v", d.Object, err)
	}
	return d, o.ID
}

// client is one open stream.
type client struct {
	resp   *http.Response
	cancel context.CancelFunc
	frames chan frame

	mu  sync.Mutex
	raw bytes.Buffer // every byte received; guarded by mu
}

// open connects to the stream as org; header sets extra request headers, query is appended to
// the URL. It fails the test unless the response is a stream.
func (f *fixture) open(t testing.TB, org, query string, header map[string]string) *client {
	t.Helper()
	resp, cancel, err := f.request(org, query, header)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		cancel()
		t.Fatalf("GET stream as %s: %d %s %s", org, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	c := &client{resp: resp, cancel: cancel, frames: make(chan frame, 1024)}
	t.Cleanup(c.close)
	go c.read()
	return c
}

func (f *fixture) request(org, query string, header map[string]string) (*http.Response, context.CancelFunc, error) {
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", f.web.URL+"/api/v1/stream"+query, nil)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	req.Header.Set("X-Org", org)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := f.web.Client().Do(req)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	return resp, cancel, nil
}

func (c *client) close() {
	c.cancel()
	c.resp.Body.Close()
}

// read parses frames as a browser's EventSource does, until the stream ends.
func (c *client) read() {
	defer close(c.frames)
	br := bufio.NewReader(c.resp.Body)
	var fr frame
	var data []string
	for {
		line, err := br.ReadString('\n')
		c.mu.Lock()
		c.raw.WriteString(line)
		c.mu.Unlock()
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			fr.Data = strings.Join(data, "\n")
			c.frames <- fr
			fr, data = frame{}, nil
		case strings.HasPrefix(line, ":"):
			fr.Comment = strings.TrimPrefix(strings.TrimPrefix(line, ":"), " ")
		default:
			name, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch name {
			case "id":
				fr.ID, fr.HasID = value, true
			case "event":
				fr.Event = value
			case "data":
				data = append(data, value)
			}
		}
	}
}

// Raw returns every byte received so far.
func (c *client) Raw() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.raw.String()
}

// next returns the next frame that is not only a comment, failing the test after timeout.
func (c *client) next(t testing.TB, timeout time.Duration) frame {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				t.Fatalf("stream ended; received:\n%s", c.Raw())
			}
			if f.Event == "" && f.Data == "" && !f.HasID {
				continue // a comment: the greeting or a heartbeat
			}
			return f
		case <-deadline:
			t.Fatalf("no frame within %v; received:\n%s", timeout, c.Raw())
		}
	}
}

// objects reads n object frames and returns the ids of their objects, checking the frame.
func (c *client) objects(t testing.TB, n int) (ids []string, seqs []uint64) {
	t.Helper()
	for range n {
		f := c.next(t, 5*time.Second)
		if f.Event != "object" {
			t.Fatalf("got event %q (%q), want object", f.Event, f.Data)
		}
		d, oid := f.object(t)
		if got, want := f.ID, strconv.FormatUint(d.Seq, 10); got != want {
			t.Fatalf("frame id %q, data seq %q", got, want)
		}
		ids = append(ids, oid)
		seqs = append(seqs, d.Seq)
	}
	return ids, seqs
}

// quiet fails the test if an event frame arrives within d.
func (c *client) quiet(t testing.TB, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				return
			}
			if f.Event != "" || f.HasID || f.Data != "" {
				t.Fatalf("unexpected frame %+v", f)
			}
		case <-deadline:
			return
		}
	}
}

func TestVisibleObjectsOnlyAndNoTraceOfOthers(t *testing.T) {
	f := newFixture(t, 0, stream.Config{})
	ukc := f.open(t, uk, "", nil)
	bec := f.open(t, be, "", nil)
	ukc.quiet(t, 50*time.Millisecond) // both subscribed before anything is stored

	green := f.ingest(t, fr, "community", hub.TLPGreen, nil, 1, 2)
	redToBE := f.ingest(t, fr, "community", hub.TLPRed, []string{be}, 2, 3)
	bilateral := f.ingest(t, fr, "bilateral", hub.TLPClear, nil, 3, 4)
	strict := f.ingest(t, fr, "community", hub.TLPAmberStrict, nil, 4, 5)
	redToUK := f.ingest(t, be, "community", hub.TLPRed, []string{uk}, 5, 6)

	got, ukSeqs := ukc.objects(t, 3)
	if want := []string{green[0], strict[0], redToUK[0]}; !slices.Equal(got, want) {
		t.Errorf("cert-uk got %v, want %v", got, want)
	}
	ukc.quiet(t, 100*time.Millisecond)
	got, beSeqs := bec.objects(t, 5)
	if want := []string{green[0], redToBE[0], bilateral[0], strict[0], redToUK[0]}; !slices.Equal(got, want) {
		t.Errorf("cert-be got %v, want %v", got, want)
	}

	// Nothing of what cert-uk may not see reached it: not the object, not its event's id.
	raw := ukc.Raw()
	for _, s := range []string{redToBE[0], bilateral[0], "bilateral", "id: " + strconv.FormatUint(beSeqs[1], 10) + "\n",
		"id: " + strconv.FormatUint(beSeqs[2], 10) + "\n", "198.51.100.2'", "198.51.100.3'"} {
		if strings.Contains(raw, s) {
			t.Errorf("cert-uk's stream holds %q:\n%s", s, raw)
		}
	}
	if got, want := ukSeqs, []uint64{beSeqs[0], beSeqs[3], beSeqs[4]}; !slices.Equal(got, want) {
		t.Errorf("cert-uk's ids %v, want %v", got, want)
	}
	// Each frame is exactly id, event and one line of data.
	for _, line := range strings.Split(raw, "\n") {
		if line != "" && !strings.HasPrefix(line, "id: ") && !strings.HasPrefix(line, "event: object") &&
			!strings.HasPrefix(line, "data: {") && !strings.HasPrefix(line, ": ") {
			t.Errorf("unexpected line %q", line)
		}
	}
}

func TestFrameFormat(t *testing.T) {
	f := newFixture(t, 0, stream.Config{})
	c := f.open(t, be, "", nil)
	c.quiet(t, 50*time.Millisecond)
	f.ingest(t, fr, "community", hub.TLPRed, []string{be}, 7, 8)
	fr := c.next(t, 5*time.Second)
	d, oid := fr.object(t)
	if d.Kind != "object" || d.Workspace != "community" || d.TLP != hub.TLPRed || oid != id(7) {
		t.Errorf("got %+v, want kind object, workspace community, TLP red, object %s", d, id(7))
	}
	want := "id: " + fr.ID + "\nevent: object\ndata: {\"kind\":\"object\",\"seq\":" + fr.ID + ",\"workspace\":\"community\",\"tlp\":\"red\",\"object\":{"
	if raw := c.Raw(); !strings.Contains(raw, want) {
		t.Errorf("stream:\n%s\nwant it to hold\n%s", raw, want)
	}
	if c.resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", c.resp.Header.Get("Cache-Control"))
	}
}

func TestResume(t *testing.T) {
	f := newFixture(t, 0, stream.Config{})
	c := f.open(t, uk, "", nil)
	c.quiet(t, 50*time.Millisecond)
	f.ingest(t, fr, "community", hub.TLPAmber, nil, 1, 3)
	_, seqs := c.objects(t, 2)
	c.close()

	// Missed while away: two visible, one not.
	missed := f.ingest(t, fr, "community", hub.TLPGreen, nil, 3, 5)
	f.ingest(t, fr, "bilateral", hub.TLPGreen, nil, 5, 6)
	missed = append(missed, f.ingest(t, be, "community", hub.TLPClear, nil, 6, 7)...)

	for _, tt := range []struct {
		name   string
		query  string
		header map[string]string
	}{
		{"Last-Event-ID", "", map[string]string{"Last-Event-ID": strconv.FormatUint(seqs[1], 10)}},
		{"after", "?after=" + strconv.FormatUint(seqs[1], 10), nil},
		{"header wins", "?after=1", map[string]string{"Last-Event-ID": strconv.FormatUint(seqs[1], 10)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := f.open(t, uk, tt.query, tt.header)
			got, _ := c.objects(t, 3)
			if !slices.Equal(got, missed) {
				t.Errorf("resumed: got %v, want %v", got, missed)
			}
			c.quiet(t, 100*time.Millisecond)
		})
	}
}

func TestBadResume(t *testing.T) {
	f := newFixture(t, 0, stream.Config{})
	for _, tt := range []struct {
		query, header, field string
	}{
		{"?after=x", "", "after"},
		{"?after=-1", "", "after"},
		{"", "12a", "Last-Event-ID"},
	} {
		h := map[string]string{}
		if tt.header != "" {
			h["Last-Event-ID"] = tt.header
		}
		resp, cancel, err := f.request(uk, tt.query, h)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error struct{ Code, Field string } }
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		cancel()
		if resp.StatusCode != http.StatusBadRequest || body.Error.Field != tt.field {
			t.Errorf("query %q header %q: got %d field %q, want 400 field %q", tt.query, tt.header, resp.StatusCode, body.Error.Field, tt.field)
		}
	}
	resp, cancel, err := f.request("cert-nowhere", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if got, want := resp.StatusCode, http.StatusNotFound; got != want {
		t.Errorf("unknown organisation: got %d, want %d", got, want)
	}
}

func TestGapSendsReset(t *testing.T) {
	f := newFixture(t, 5, stream.Config{})
	f.ingest(t, fr, "community", hub.TLPGreen, nil, 1, 20) // 19 events; the bus keeps 5
	c := f.open(t, uk, "", map[string]string{"Last-Event-ID": "2"})
	reset := c.next(t, 5*time.Second)
	if reset.Event != "reset" || !reset.HasID || reset.ID != "" || !strings.Contains(reset.Data, `"kind":"reset"`) {
		t.Fatalf("got %+v, want a reset clearing the id", reset)
	}
	// Then new events only.
	ids := f.ingest(t, fr, "community", hub.TLPGreen, nil, 20, 22)
	if got, _ := c.objects(t, 2); !slices.Equal(got, ids) {
		t.Errorf("after reset: got %v, want %v", got, ids)
	}
}

func TestHeartbeat(t *testing.T) {
	f := newFixture(t, 0, stream.Config{Heartbeat: 30 * time.Millisecond})
	c := f.open(t, uk, "", nil)
	deadline := time.After(5 * time.Second)
	for pings := 0; pings < 3; {
		select {
		case fr := <-c.frames:
			if fr.Comment == "ping" {
				pings++
			}
		case <-deadline:
			t.Fatalf("fewer than 3 pings in 5s:\n%s", c.Raw())
		}
	}
}

func TestLifetimeEndsStream(t *testing.T) {
	f := newFixture(t, 0, stream.Config{Lifetime: 100 * time.Millisecond})
	c := f.open(t, uk, "", nil)
	select {
	case <-drain(c.frames):
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open 5s after its lifetime")
	}
}

// TestMembershipRemoved shows a stream stopping at once after Invalidate, when the receiver
// leaves a workspace.
func TestMembershipRemoved(t *testing.T) {
	f := newFixture(t, 0, stream.Config{Refresh: time.Hour})
	c := f.open(t, uk, "", nil)
	c.quiet(t, 50*time.Millisecond)
	f.ingest(t, fr, "community", hub.TLPGreen, nil, 1, 2)
	c.objects(t, 1)
	if err := f.st.RemoveMember(context.Background(), "community", uk); err != nil {
		t.Fatal(err)
	}
	f.srv.Invalidate()
	after := f.ingest(t, fr, "community", hub.TLPGreen, nil, 2, 3)
	c.quiet(t, 200*time.Millisecond)
	if strings.Contains(c.Raw(), after[0]) {
		t.Errorf("a former member received %s", after[0])
	}
}

// TestForgedEventShowsNothing publishes events whose metadata lies (TLP:CLEAR, addressed to
// everyone): the stream decides on the stored object, not on the event.
func TestForgedEventShowsNothing(t *testing.T) {
	f := newFixture(t, 0, stream.Config{})
	red := f.ingest(t, fr, "community", hub.TLPRed, []string{be}, 1, 2)
	objs, err := f.kb.List(context.Background(), hub.Filter{Viewer: hub.Viewer{System: true}, IDs: red})
	if err != nil || len(objs) != 1 {
		t.Fatalf("List: %v, %d objects", err, len(objs))
	}
	c := f.open(t, uk, "", nil)
	c.quiet(t, 50*time.Millisecond)
	for _, e := range []hub.Event{
		{Kind: hub.EventObject, ObjectID: red[0], ObjectSeq: objs[0].Seq, Type: "indicator", Workspace: "community", Author: uk, TLP: hub.TLPClear, Recipients: []string{uk}},
		{Kind: hub.EventObject, ObjectID: red[0], ObjectSeq: objs[0].Seq + 1000, Workspace: "community", TLP: hub.TLPClear},
		{Kind: hub.EventSighting, ObjectID: red[0], ObjectSeq: objs[0].Seq, Workspace: "community", TLP: hub.TLPClear},
	} {
		if _, err := f.bus.Publish(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	green := f.ingest(t, fr, "community", hub.TLPGreen, nil, 2, 3)
	if got, _ := c.objects(t, 1); !slices.Equal(got, green) {
		t.Errorf("got %v, want only %v", got, green)
	}
	if strings.Contains(c.Raw(), red[0]) {
		t.Errorf("the stream holds the RED object:\n%s", c.Raw())
	}
}

// TestCorrelationNoticeOnlyToItsHolder: a correlation notice reaches the organisation whose
// object it names, and nobody else, not even members who may read that object.
func TestCorrelationNoticeOnlyToItsHolder(t *testing.T) {
	f := newFixture(t, 0, stream.Config{})
	held := f.ingest(t, fr, "community", hub.TLPGreen, nil, 1, 2)
	objs, err := f.kb.List(context.Background(), hub.Filter{Viewer: hub.Viewer{System: true}, IDs: held})
	if err != nil || len(objs) != 1 {
		t.Fatalf("List: %v, %d objects", err, len(objs))
	}
	holder, other := f.open(t, fr, "", nil), f.open(t, uk, "", nil)
	holder.quiet(t, 50*time.Millisecond)
	other.quiet(t, 50*time.Millisecond)
	notice := hub.Event{Kind: hub.EventCorrelation, ObjectID: held[0], ObjectSeq: objs[0].Seq, Type: "indicator",
		Workspace: "community", Author: fr, TLP: hub.TLPRed}
	if _, err := f.bus.Publish(context.Background(), notice); err != nil {
		t.Fatal(err)
	}
	got := holder.next(t, 5*time.Second)
	var d struct{ Kind, Object string }
	if err := json.Unmarshal([]byte(got.Data), &d); got.Event != "correlation" || err != nil || d.Kind != "correlation" || d.Object != held[0] {
		t.Errorf("the holder got %+v (%v), want a correlation notice on %s", got, err, held[0])
	}
	other.quiet(t, 200*time.Millisecond)
	if strings.Contains(other.Raw(), "correlation") {
		t.Errorf("another member heard of the correlation:\n%s", other.Raw())
	}
}

// drain returns a channel closed once ch is closed.
func drain[T any](ch <-chan T) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	return done
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func TestCloseEndsStreams(t *testing.T) {
	f := newFixture(t, 0, stream.Config{})
	c := f.open(t, uk, "", nil)
	f.srv.Close()
	select {
	case <-drain(c.frames):
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open 5s after Close")
	}
	resp, cancel, err := f.request(uk, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if got, want := resp.StatusCode, http.StatusServiceUnavailable; got != want {
		t.Errorf("Serve after Close: got %d, want %d", got, want)
	}
}
