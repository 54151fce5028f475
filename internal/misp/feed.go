package misp

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"cshub/internal/hub"
)

// Feed formats.
const (
	FeedMISP = "misp" // manifest.json and one <uuid>.json file per event
	FeedCSV  = "csv"  // one CSV or text list of values, for package ioclist
)

// Feed polls a MISP feed over HTTP and returns what changed since the previous poll. A MISP
// feed is a directory holding manifest.json (event uuid → info, date and timestamp), one
// <uuid>.json file per event and optionally hashes.csv; a CSV feed is one file. Requests are
// conditional (If-None-Match, If-Modified-Since), so an unchanged feed costs one small request.
//
// A Feed is safe for concurrent use; polls of one Feed run one at a time. Its state (what was
// returned, the validators) lives in memory; State and SetState let the caller keep it across
// restarts.
type Feed struct {
	name   string
	base   *url.URL
	format string
	client *http.Client

	mu    sync.Mutex
	state FeedState // guarded by mu
}

// FeedState is what a Feed remembers between polls. It marshals to JSON.
type FeedState struct {
	Events     map[string]int64     `json:"events"`     // event uuid → manifest timestamp returned
	Validators map[string]Validator `json:"validators"` // URL → its last ETag and Last-Modified
}

// Validator holds the HTTP validators of a fetched file.
type Validator struct {
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
}

// FeedEvent is one new or changed event of a feed.
type FeedEvent struct {
	UUID      string
	Info      string
	Timestamp time.Time // the manifest's timestamp of the event
	Body      []byte    // the event file as served: MISP core format for ToSTIX, or the list of a CSV feed
}

// FeedHash is a line of a feed's hashes.csv: the MD5 of an attribute value and its event.
type FeedHash struct {
	Hash      string
	EventUUID string
}

// NewFeed returns a feed named name (for errors and logs) at rawURL: the directory of
// manifest.json for FeedMISP, the file itself for FeedCSV. client makes every request; the
// caller sets its timeouts and transport. Only http and https URLs are accepted.
func NewFeed(name, rawURL, format string, client *http.Client) (*Feed, error) {
	if client == nil {
		return nil, hub.FieldError("client", "feed %q: an HTTP client is required", name)
	}
	switch format {
	case "":
		format = FeedMISP
	case FeedMISP, FeedCSV:
	default:
		return nil, hub.FieldError("format", "feed %q: %q is not a feed format (misp, csv)", name, format)
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, hub.FieldError("url", "feed %q: %q is not an http or https URL", name, rawURL)
	}
	if format == FeedMISP && !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return &Feed{name: name, base: u, format: format, client: client,
		state: FeedState{Events: map[string]int64{}, Validators: map[string]Validator{}}}, nil
}

// Name returns the feed's name.
func (f *Feed) Name() string { return f.name }

// State returns a copy of what the feed remembers.
func (f *Feed) State() FeedState {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := FeedState{Events: make(map[string]int64, len(f.state.Events)), Validators: make(map[string]Validator, len(f.state.Validators))}
	for k, v := range f.state.Events {
		s.Events[k] = v
	}
	for k, v := range f.state.Validators {
		s.Validators[k] = v
	}
	return s
}

// SetState replaces what the feed remembers, typically with a State saved earlier.
func (f *Feed) SetState(s FeedState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state = FeedState{Events: map[string]int64{}, Validators: map[string]Validator{}}
	for k, v := range s.Events {
		f.state.Events[k] = v
	}
	for k, v := range s.Validators {
		f.state.Validators[k] = v
	}
}

// errorf returns a hub.EInvalid error on field, prefixed with the feed's name.
func (f *Feed) errorf(field, format string, args ...any) error {
	return fmt.Errorf("misp feed %q: %w", f.name, hub.FieldError(field, format, args...))
}

// get fetches u, conditionally when asked: then it returns a nil body when the file has not
// changed since the validators saved for it. It returns the response's validators without
// saving them; the caller saves them once what depends on the file has succeeded.
func (f *Feed) get(ctx context.Context, u string, conditional bool) ([]byte, Validator, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, Validator{}, fmt.Errorf("misp feed %q: %w", f.name, err)
	}
	if conditional {
		v := f.state.Validators[u]
		if v.ETag != "" {
			req.Header.Set("If-None-Match", v.ETag)
		}
		if v.LastModified != "" {
			req.Header.Set("If-Modified-Since", v.LastModified)
		}
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, Validator{}, &hub.Error{Code: hub.EUnavailable, Message: fmt.Sprintf("misp feed %q: %v", f.name, err), Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && conditional {
		return nil, Validator{}, nil
	}
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, Validator{}, &hub.Error{Code: hub.EUnavailable, Message: fmt.Sprintf("misp feed %q: GET %s: %s", f.name, u, resp.Status)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxInput+1))
	if err != nil {
		return nil, Validator{}, &hub.Error{Code: hub.EUnavailable, Message: fmt.Sprintf("misp feed %q: reading %s: %v", f.name, u, err), Err: err}
	}
	if len(body) > MaxInput {
		return nil, Validator{}, hub.Errorf(hub.ETooLarge, "misp feed %q: %s is larger than %d bytes", f.name, u, MaxInput)
	}
	if body == nil {
		body = []byte{}
	}
	return body, Validator{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}, nil
}

func (f *Feed) resolve(name string) string {
	return f.base.ResolveReference(&url.URL{Path: name}).String()
}

// manifestEntry is one event of manifest.json.
type manifestEntry struct {
	Info      string     `json:"info"`
	Timestamp flexString `json:"timestamp"`
}

// Poll returns the events that are new or changed since the previous poll, in manifest
// timestamp order, or for a CSV feed the list itself when it changed. An unchanged feed gives
// nothing and no error. A malformed manifest is a hub.EInvalid error naming the feed and the
// problem; an unreachable feed or a failed request is hub.EUnavailable. When some event files
// cannot be fetched Poll returns the events it did fetch together with the error, and the
// next poll tries the others again.
func (f *Feed) Poll(ctx context.Context) ([]FeedEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.format == FeedCSV {
		u := f.base.String()
		body, v, err := f.get(ctx, u, true)
		if err != nil || body == nil {
			return nil, err
		}
		f.state.Validators[u] = v
		return []FeedEvent{{UUID: uuid5("feed:" + u), Info: f.name, Timestamp: time.Now().UTC(), Body: body}}, nil
	}
	mu := f.resolve("manifest.json")
	body, mv, err := f.get(ctx, mu, true)
	if err != nil || body == nil {
		return nil, err
	}
	manifest, err := f.parseManifest(body)
	if err != nil {
		return nil, err
	}
	type change struct {
		uuid string
		ts   int64
		info string
	}
	var changes []change
	for u, e := range manifest {
		ts, _ := strconv.ParseInt(strings.TrimSpace(string(e.Timestamp)), 10, 64)
		if ts > f.state.Events[u] {
			changes = append(changes, change{u, ts, e.Info})
		}
	}
	slices.SortFunc(changes, func(a, b change) int {
		if a.ts != b.ts {
			if a.ts < b.ts {
				return -1
			}
			return 1
		}
		return strings.Compare(a.uuid, b.uuid)
	})
	var out []FeedEvent
	var errs []error
	for _, c := range changes {
		eb, _, err := f.get(ctx, f.resolve(c.uuid+".json"), false)
		if err == nil {
			if _, derr := decodeEvents(eb); derr != nil {
				err = fmt.Errorf("misp feed %q: event %s: %w", f.name, c.uuid, derr)
			}
		}
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		f.state.Events[c.uuid] = c.ts
		out = append(out, FeedEvent{UUID: c.uuid, Info: c.info, Timestamp: time.Unix(c.ts, 0).UTC(), Body: eb})
	}
	if len(errs) == 0 {
		// Only now is the manifest fully served: keep its validators.
		f.state.Validators[mu] = mv
	}
	return out, errors.Join(errs...)
}

// parseManifest checks manifest.json: an object of event uuids, each with a Unix timestamp.
func (f *Feed) parseManifest(body []byte) (map[string]manifestEntry, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, f.errorf("manifest.json", "not valid JSON at byte %d: %v", se.Offset, err)
		}
		return nil, f.errorf("manifest.json", "not a JSON object of events: %v", err)
	}
	if raw == nil {
		return nil, f.errorf("manifest.json", "not a JSON object of events (null)")
	}
	m := make(map[string]manifestEntry, len(raw))
	for u, r := range raw {
		if !validUUID(u) {
			return nil, f.errorf("manifest.json", "key %q is not an event UUID", u)
		}
		var e manifestEntry
		if err := json.Unmarshal(r, &e); err != nil {
			return nil, f.errorf("manifest.json", "event %s: %v", u, err)
		}
		if ts, err := strconv.ParseInt(strings.TrimSpace(string(e.Timestamp)), 10, 64); err != nil || ts <= 0 {
			return nil, f.errorf("manifest.json", "event %s: timestamp %q is not Unix seconds", u, string(e.Timestamp))
		}
		m[strings.ToLower(u)] = e
	}
	return m, nil
}

// Hashes returns the lines of the feed's hashes.csv (MD5 of each attribute value, event uuid),
// or nil when it has not changed since the previous call. A malformed line is a hub.EInvalid
// error naming the feed and the line.
func (f *Feed) Hashes(ctx context.Context) ([]FeedHash, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.format != FeedMISP {
		return nil, f.errorf("format", "a %s feed has no hashes.csv", f.format)
	}
	u := f.resolve("hashes.csv")
	body, v, err := f.get(ctx, u, true)
	if err != nil || body == nil {
		return nil, err
	}
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1
	var out []FeedHash
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, f.errorf("hashes.csv", "%v", err)
		}
		line, _ := r.FieldPos(0)
		if len(rec) != 2 || !isHex(rec[0]) || len(rec[0]) != 32 || !validUUID(strings.TrimSpace(rec[1])) {
			return nil, f.errorf("hashes.csv", "line %d: want \"md5,event-uuid\", got %q", line, strings.Join(rec, ","))
		}
		out = append(out, FeedHash{Hash: strings.ToLower(rec[0]), EventUUID: strings.ToLower(strings.TrimSpace(rec[1]))})
	}
	f.state.Validators[u] = v
	if out == nil {
		out = []FeedHash{}
	}
	return out, nil
}
