// Package client is a TAXII 2.1 client (OASIS Standard, 10 June 2021): server discovery, API
// roots, collections, pages of objects with added_after, limit, next and match filters, adding
// objects as an envelope, and status resources. It speaks to any conformant server: cshub's own
// (package taxii), the OASIS reference server (medallion), or a vendor's.
//
// Every request asks for the TAXII 2.1 media type and every answer must be of it. A server's
// refusal is a *hub.Error whose code follows the HTTP status (401 EUnauthorized, 403
// EForbidden, 404 ENotFound, 400 EInvalid, 413 ETooLarge, 429 ERateLimited, other 4xx
// EInvalid, 5xx EUnavailable) and whose message is the TAXII error message's title and
// description; the wrapped *ResponseError keeps the status.
//
// A Client is safe for concurrent use.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"cshub/internal/hub"
)

// MediaType is the TAXII 2.1 media type: the client accepts it and sends bodies as it.
const MediaType = "application/taxii+json;version=2.1"

// Bounds on what the client reads, so that a broken or hostile server cannot exhaust memory.
const (
	MaxResource = 1 << 20   // bytes of a discovery, API root, collections or status resource
	MaxEnvelope = 256 << 20 // bytes of one page of objects
)

// Config holds what a Client is built from.
type Config struct {
	// HTTP sends the requests; nil means a client with a 5-minute timeout per request.
	HTTP *http.Client
	// Token, when set, is sent as "Authorization: Bearer <token>".
	Token string
	// User and Password, when User is set, are sent with HTTP Basic (cshub takes an API key as
	// the password). Token wins when both are set.
	User, Password string
	// UserAgent names the client to servers; "" means "cshub-taxii-client".
	UserAgent string
}

// Client talks to TAXII 2.1 servers. URLs given to its methods are absolute: the discovery URL
// (https://host/taxii2/) or an API root URL (https://host/taxii2/cshub/), as discovery lists them.
type Client struct {
	http      *http.Client
	token     string
	user, pw  string
	userAgent string
}

// New returns a Client.
func New(c Config) *Client {
	cl := &Client{http: c.HTTP, token: c.Token, user: c.User, pw: c.Password, userAgent: c.UserAgent}
	if cl.http == nil {
		cl.http = &http.Client{Timeout: 5 * time.Minute}
	}
	if cl.userAgent == "" {
		cl.userAgent = "cshub-taxii-client"
	}
	return cl
}

// Discovery is the TAXII 2.1 discovery resource (section 4.1).
type Discovery struct {
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Contact     string   `json:"contact,omitempty"`
	Default     string   `json:"default,omitempty"`
	APIRoots    []string `json:"api_roots,omitempty"`
}

// APIRoot is the TAXII 2.1 API root resource (section 4.2).
type APIRoot struct {
	Title            string   `json:"title"`
	Description      string   `json:"description,omitempty"`
	Versions         []string `json:"versions"`
	MaxContentLength int64    `json:"max_content_length"`
}

// Collection is the TAXII 2.1 collection resource (section 5.2).
type Collection struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Alias       string   `json:"alias,omitempty"`
	CanRead     bool     `json:"can_read"`
	CanWrite    bool     `json:"can_write"`
	MediaTypes  []string `json:"media_types,omitempty"`
}

// Status is the TAXII 2.1 status resource (section 4.3.1).
type Status struct {
	ID               string          `json:"id"`
	Status           string          `json:"status"`
	RequestTimestamp string          `json:"request_timestamp,omitempty"`
	TotalCount       int             `json:"total_count"`
	SuccessCount     int             `json:"success_count"`
	Successes        []StatusDetails `json:"successes,omitempty"`
	FailureCount     int             `json:"failure_count"`
	Failures         []StatusDetails `json:"failures,omitempty"`
	PendingCount     int             `json:"pending_count"`
	Pendings         []StatusDetails `json:"pendings,omitempty"`
}

// StatusDetails is one object of an add-objects request (section 4.3.1, status-details).
type StatusDetails struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	Message string `json:"message,omitempty"`
}

// Query selects objects (sections 3.4 and 3.5). The zero value asks for the server's default
// page of the latest versions of all objects.
type Query struct {
	AddedAfter   time.Time // added_after; zero: not sent
	Limit        int       // limit; 0: not sent
	Next         string    // next, from the previous page of the same query
	Types        []string  // match[type]
	IDs          []string  // match[id]
	Versions     []string  // match[version]: "first", "last", "all" or STIX timestamps
	SpecVersions []string  // match[spec_version]
}

// Values encodes q as the URL parameters of a request.
func (q Query) Values() url.Values {
	v := url.Values{}
	if !q.AddedAfter.IsZero() {
		v.Set("added_after", q.AddedAfter.UTC().Format("2006-01-02T15:04:05.000000Z"))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Next != "" {
		v.Set("next", q.Next)
	}
	for k, vals := range map[string][]string{"match[type]": q.Types, "match[id]": q.IDs,
		"match[version]": q.Versions, "match[spec_version]": q.SpecVersions} {
		if len(vals) > 0 {
			v.Set(k, strings.Join(vals, ","))
		}
	}
	return v
}

// Envelope is one page of objects (section 3.7) with the date-added headers of its response
// (section 3.2): zero when the server sent none, as for an empty page.
type Envelope struct {
	More           bool
	Next           string
	Objects        []json.RawMessage
	DateAddedFirst time.Time
	DateAddedLast  time.Time
}

// ParseEnvelope reads a TAXII envelope of at most MaxEnvelope bytes. Each object must be a JSON
// object; "more" must be a boolean and "next" a string when present. Unknown properties are
// ignored, as the specification asks of clients.
func ParseEnvelope(r io.Reader) (*Envelope, error) {
	b, err := readAll(r, MaxEnvelope, "envelope")
	if err != nil {
		return nil, err
	}
	var raw struct {
		More    *bool             `json:"more"`
		Next    *string           `json:"next"`
		Objects []json.RawMessage `json:"objects"`
	}
	if err := strictJSON(b, &raw); err != nil {
		return nil, &hub.Error{Code: hub.EInvalid, Field: "envelope", Message: "not a TAXII envelope: " + err.Error(), Err: err}
	}
	e := &Envelope{Objects: raw.Objects}
	if raw.More != nil {
		e.More = *raw.More
	}
	if raw.Next != nil {
		e.Next = *raw.Next
	}
	for i, o := range e.Objects {
		if t := bytes.TrimLeft(o, " \t\r\n"); len(t) == 0 || t[0] != '{' {
			return nil, hub.FieldError(fmt.Sprintf("objects[%d]", i), "not a JSON object")
		}
	}
	return e, nil
}

// strictJSON unmarshals b, a single JSON object, into v.
func strictJSON(b []byte, v any) error {
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return errors.New("the body is not a JSON object")
	}
	return json.Unmarshal(b, v)
}

// Discover reads the discovery resource at url (section 4.1).
func (c *Client) Discover(ctx context.Context, url string) (*Discovery, error) {
	var d Discovery
	return &d, c.getJSON(ctx, url, nil, &d)
}

// APIRoot reads the API root resource at root (section 4.2).
func (c *Client) APIRoot(ctx context.Context, root string) (*APIRoot, error) {
	var a APIRoot
	return &a, c.getJSON(ctx, root, nil, &a)
}

// Collections lists the collections of the API root (section 5.1).
func (c *Client) Collections(ctx context.Context, root string) ([]Collection, error) {
	var res struct {
		Collections []Collection `json:"collections"`
	}
	err := c.getJSON(ctx, join(root, "collections/"), nil, &res)
	return res.Collections, err
}

// Collection reads one collection by id or alias (section 5.2).
func (c *Client) Collection(ctx context.Context, root, id string) (*Collection, error) {
	var col Collection
	return &col, c.getJSON(ctx, join(root, "collections/"+url.PathEscape(id)+"/"), nil, &col)
}

// Objects reads one page of the objects of collection id that q selects (section 5.4). To page
// on, ask again with the same q and Next set to the envelope's Next.
func (c *Client) Objects(ctx context.Context, root, id string, q Query) (*Envelope, error) {
	resp, err := c.do(ctx, http.MethodGet, join(root, "collections/"+url.PathEscape(id)+"/objects/"), q.Values(), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	e, err := ParseEnvelope(resp.Body)
	if err != nil {
		return nil, err
	}
	if e.DateAddedFirst, err = dateHeader(resp.Header, "X-TAXII-Date-Added-First"); err != nil {
		return nil, err
	}
	if e.DateAddedLast, err = dateHeader(resp.Header, "X-TAXII-Date-Added-Last"); err != nil {
		return nil, err
	}
	return e, nil
}

// AddObjects sends objs as one envelope to collection id (section 5.5) and returns the status
// resource the server answered with.
func (c *Client) AddObjects(ctx context.Context, root, id string, objs []json.RawMessage) (*Status, error) {
	body, err := json.Marshal(struct {
		Objects []json.RawMessage `json:"objects"`
	}{objs})
	if err != nil {
		return nil, hub.FieldError("objects", "not JSON: %v", err)
	}
	resp, err := c.do(ctx, http.MethodPost, join(root, "collections/"+url.PathEscape(id)+"/objects/"), nil, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st Status
	return &st, decode(resp.Body, &st, "status")
}

// Status reads the status resource id of the API root (section 4.3).
func (c *Client) Status(ctx context.Context, root, id string) (*Status, error) {
	var st Status
	return &st, c.getJSON(ctx, join(root, "status/"+url.PathEscape(id)+"/"), nil, &st)
}

func (c *Client) getJSON(ctx context.Context, u string, q url.Values, v any) error {
	resp, err := c.do(ctx, http.MethodGet, u, q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decode(resp.Body, v, "response")
}

func decode(r io.Reader, v any, what string) error {
	b, err := readAll(r, MaxResource, what)
	if err != nil {
		return err
	}
	if err := strictJSON(b, v); err != nil {
		return &hub.Error{Code: hub.EInvalid, Field: what, Message: "not a TAXII resource: " + err.Error(), Err: err}
	}
	return nil
}

// readAll reads at most max bytes of r; more is ETooLarge.
func readAll(r io.Reader, max int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, &hub.Error{Code: hub.EUnavailable, Field: what, Message: "reading the answer: " + err.Error(), Err: err}
	}
	if int64(len(b)) > max {
		return nil, &hub.Error{Code: hub.ETooLarge, Field: what, Message: fmt.Sprintf("the answer is larger than %d bytes", max)}
	}
	return b, nil
}

// do sends a request and returns a response of status 2xx with a TAXII body, or the server's
// refusal as a *hub.Error.
func (c *Client) do(ctx context.Context, method, u string, q url.Values, body []byte) (*http.Response, error) {
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, hub.FieldError("url", "%v", err)
	}
	req.Header.Set("Accept", MediaType)
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", MediaType)
	}
	switch {
	case c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	case c.user != "":
		req.SetBasicAuth(c.user, c.pw)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &hub.Error{Code: hub.EUnavailable, Field: "url", Message: method + " " + req.URL.Redacted() + ": " + err.Error(), Err: err}
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, responseError(req, resp)
	}
	if err := checkMediaType(resp.Header.Get("Content-Type")); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// checkMediaType accepts application/taxii+json with version 2.1 or none.
func checkMediaType(ct string) error {
	mt, params, err := mime.ParseMediaType(ct)
	if err == nil && mt == "application/taxii+json" && (params["version"] == "" || params["version"] == "2.1") {
		return nil
	}
	return hub.FieldError("Content-Type", "the server answered %q, not %s", ct, MediaType)
}

// ResponseError is a server's refusal: its HTTP status and TAXII error message (section 3.6).
type ResponseError struct {
	Method, URL string
	StatusCode  int
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	ErrorCode   string `json:"error_code,omitempty"`
}

func (e *ResponseError) Error() string {
	s := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.StatusCode, e.Title)
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

func responseError(req *http.Request, resp *http.Response) error {
	re := &ResponseError{Method: req.Method, URL: req.URL.Redacted(), StatusCode: resp.StatusCode}
	if b, err := readAll(resp.Body, MaxResource, "error"); err == nil {
		json.Unmarshal(b, re) // a body that is no TAXII error message leaves the status alone
	}
	if re.Title == "" {
		re.Title = http.StatusText(resp.StatusCode)
	}
	return &hub.Error{Code: codeOf(resp.StatusCode), Field: "url", Message: re.Error(), Err: re}
}

// codeOf maps an HTTP status of a refusal to a hub error code.
func codeOf(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return hub.EUnauthorized
	case http.StatusForbidden:
		return hub.EForbidden
	case http.StatusNotFound:
		return hub.ENotFound
	case http.StatusRequestEntityTooLarge:
		return hub.ETooLarge
	case http.StatusTooManyRequests:
		return hub.ERateLimited
	}
	if status >= 500 {
		return hub.EUnavailable
	}
	return hub.EInvalid
}

// dateHeader reads a TAXII timestamp header; absent is the zero time.
func dateHeader(h http.Header, name string) (time.Time, error) {
	v := h.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, hub.FieldError(name, "%q is not a TAXII timestamp", v)
	}
	return t.UTC(), nil
}

// join appends a relative path to an API root URL, with exactly one slash between.
func join(root, rel string) string {
	return strings.TrimRight(root, "/") + "/" + rel
}
