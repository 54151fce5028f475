// Package taxii serves the hub's content over TAXII 2.1 (OASIS Standard, 10 June 2021): server
// discovery, one API root, a collection per workspace the caller reads, objects with paging and
// match filters, manifests, versions, adding objects with status resources, and TAXII error
// messages.
//
// Every read goes through the knowledge base (package kb) with a hub.Viewer built by
// access.ViewerFor, so TLP 2.0 holds exactly as on the JSON API: a TLP:RED object appears only to
// its author and its named recipients, and a collection or object the caller may not see is
// "not found", never "forbidden", so that its existence does not leak (the specification's 404
// covers "the client does not have access to the resource").
//
// Authentication is an API key, sent either as "Authorization: Bearer <key>" or with HTTP Basic
// as user name and password, where the user name is that of the key's user and the password is
// the API key itself. Reading needs a key of scope read, adding objects a key of scope write.
//
// Endpoints, under the discovery path /taxii2/ and the API root /taxii2/cshub/:
//
//	GET    /taxii2/                                              discovery (4.1)
//	GET    /taxii2/cshub/                                        API root (4.2)
//	GET    /taxii2/cshub/status/{id}/                            status of an add (4.3)
//	GET    /taxii2/cshub/collections/                            collections (5.1)
//	GET    /taxii2/cshub/collections/{id}/                       collection (5.2)
//	GET    /taxii2/cshub/collections/{id}/manifest/              manifests (5.3)
//	GET    /taxii2/cshub/collections/{id}/objects/               objects (5.4)
//	POST   /taxii2/cshub/collections/{id}/objects/               add objects (5.5)
//	GET    /taxii2/cshub/collections/{id}/objects/{object}/      one object (5.6)
//	DELETE /taxii2/cshub/collections/{id}/objects/{object}/      delete (5.7), by the author only
//	GET    /taxii2/cshub/collections/{id}/objects/{object}/versions/   versions (5.8)
//
// A second API root, /taxii2/federation/ (FederationRootPath), serves the same GET resources to
// peer hubs, read on access.PathFederate (see peer): never TLP:RED, AMBER only from workspaces
// the peer is a member of. It takes no writes.
//
// A collection is a workspace; {id} is CollectionID(slug), or the slug itself (the collection's
// alias). Exercise workspaces never appear. Status resources live in this process's memory, the
// newest Config.MaxStatuses of them, and are lost on restart.
//
// The Handler sees full request paths: mount it at "/taxii2/" on the outer mux.
package taxii

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cshub/internal/access"
	"cshub/internal/auth"
	"cshub/internal/hub"
	"cshub/internal/kb"
)

// MediaType is the TAXII 2.1 media type: every response carries it, requests must accept it,
// and bodies sent to the server must be of it.
const MediaType = "application/taxii+json;version=2.1"

// stixMediaType is the one content media type the collections hold: every stored object is STIX
// 2.1 (package stix upgrades STIX 2.0 on ingest).
const stixMediaType = "application/stix+json;version=2.1"

// Paths of the server: the discovery endpoint and the one API root.
const (
	DiscoveryPath = "/taxii2/"
	RootPath      = "/taxii2/cshub/"
	// FederationRootPath is the API root peer hubs pull from, read on access.PathFederate.
	FederationRootPath = "/taxii2/federation/"
)

// Defaults and bounds.
const (
	DefaultLimit            = 1000      // objects per page when the client sets no limit
	MaxLimit                = 10000     // the most objects per page; larger limits are cut to it
	DefaultMaxContentLength = 100 << 20 // bytes in one POST body
	DefaultMaxStatuses      = 1000      // status resources kept in memory
)

// Config holds what a Server is built from. KB, Dir and Auth are required.
type Config struct {
	KB   *kb.Service
	Dir  hub.DirectoryStore
	Auth *auth.Authenticator
	Log  *slog.Logger // nil discards
	// Objects is the store DELETE removes versions from; nil answers DELETE with 501.
	Objects hub.ObjectStore
	// Bus, when set, carries a hub.EventDelete per deleted version.
	Bus hub.Bus
	// Audit, when set, records deletions.
	Audit kb.Recorder
	// Title is the discovery resource's title; "" means "cshub TAXII 2.1".
	Title string
	// Contact is the discovery resource's contact, omitted when "".
	Contact string
	// MaxContentLength bounds a POST body and is advertised by the API root; 0 means
	// DefaultMaxContentLength.
	MaxContentLength int64
	// MaxStatuses bounds the status resources kept in memory; 0 means DefaultMaxStatuses.
	MaxStatuses int
	// Path is the access path reads are decided on. Zero means access.PathRead: a caller reads
	// through TAXII exactly what it reads on the JSON API. access.PathFeed applies the stricter
	// feed rules (no RED, AMBER+STRICT only to its author) on top.
	Path access.Path
	// Now returns the time; nil means time.Now. Status resources take their timestamp from it.
	Now func() time.Time
}

// Server is the TAXII 2.1 server. It is an http.Handler, safe for concurrent use.
type Server struct {
	kb       *kb.Service
	dir      hub.DirectoryStore
	objects  hub.ObjectStore
	bus      hub.Bus
	audit    kb.Recorder
	auth     *auth.Authenticator
	log      *slog.Logger
	title    string
	contact  string
	maxBody  int64
	path     access.Path
	now      func() time.Time
	statuses *statusStore
	mux      *http.ServeMux
}

// New returns a TAXII 2.1 server with its routes installed, to be mounted at "/taxii2/".
func New(c Config) *Server {
	s := &Server{kb: c.KB, dir: c.Dir, objects: c.Objects, bus: c.Bus, audit: c.Audit, auth: c.Auth, log: c.Log, title: c.Title, contact: c.Contact,
		maxBody: c.MaxContentLength, path: c.Path, now: c.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.title == "" {
		s.title = "cshub TAXII 2.1"
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxContentLength
	}
	if s.path == 0 {
		s.path = access.PathRead
	}
	if s.now == nil {
		s.now = time.Now
	}
	n := c.MaxStatuses
	if n <= 0 {
		n = DefaultMaxStatuses
	}
	s.statuses = newStatusStore(n)
	s.mux = http.NewServeMux()
	s.routes()
	return s
}

// methods maps an HTTP method to the handler of one resource.
type methods map[string]handler

// handler serves one request of an authenticated caller.
type handler func(w http.ResponseWriter, r *http.Request, c *caller)

func (s *Server) routes() {
	s.handle(DiscoveryPath+"{$}", s.path, methods{"GET": s.discovery})
	for _, root := range []struct {
		prefix string
		path   access.Path
	}{{RootPath, s.path}, {FederationRootPath, access.PathFederate}} {
		coll := root.prefix + "collections/{collection}/"
		// The federation root only serves reads: what a peer hub adds goes through its own hub.
		objects, object := methods{"GET": s.getObjects, "POST": s.addObjects}, methods{"GET": s.getObject, "DELETE": s.deleteObject}
		if root.path == access.PathFederate {
			objects, object = methods{"GET": s.getObjects}, methods{"GET": s.getObject}
		}
		s.handle(root.prefix+"{$}", root.path, methods{"GET": s.apiRoot})
		s.handle(root.prefix+"status/{status}/{$}", root.path, methods{"GET": s.getStatus})
		s.handle(root.prefix+"collections/{$}", root.path, methods{"GET": s.getCollections})
		s.handle(coll+"{$}", root.path, methods{"GET": s.getCollection})
		s.handle(coll+"manifest/{$}", root.path, methods{"GET": s.getManifest})
		s.handle(coll+"objects/{$}", root.path, objects)
		s.handle(coll+"objects/{object}/{$}", root.path, object)
		s.handle(coll+"objects/{object}/versions/{$}", root.path, methods{"GET": s.getVersions})
	}
	s.handle(DiscoveryPath, s.path, methods{})
}

// handle installs the resource at pattern, read on access path. Every request, to a known resource or not, is
// authenticated first, so that an anonymous client learns nothing of what exists; then the
// method and the Accept header are checked.
func (s *Server) handle(pattern string, path access.Path, ms methods) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			w.Header().Add("WWW-Authenticate", `Bearer realm="cshub TAXII"`)
			w.Header().Add("WWW-Authenticate", `Basic realm="cshub TAXII", charset="UTF-8"`)
			s.error(w, r, err)
			return
		}
		if len(ms) == 0 {
			s.error(w, r, hub.Errorf(hub.ENotFound, "no TAXII resource at %s", r.URL.Path))
			return
		}
		h, ok := ms[r.Method]
		if !ok {
			allow := make([]string, 0, len(ms))
			for m := range ms {
				allow = append(allow, m)
			}
			w.Header().Set("Allow", strings.Join(allow, ", "))
			s.error(w, r, &statusError{status: http.StatusMethodNotAllowed,
				msg: fmt.Sprintf("%s is not allowed on %s", r.Method, r.URL.Path)})
			return
		}
		if err := checkAccept(r.Header.Values("Accept")); err != nil {
			s.error(w, r, err)
			return
		}
		scope := hub.ScopeRead
		if r.Method != http.MethodGet {
			scope = hub.ScopeWrite
		}
		if !p.Allows(scope) {
			s.error(w, r, &hub.Error{Code: hub.EForbidden, Field: "Authorization",
				Message: "this key's scope is " + string(p.Scope) + "; " + r.Method + " needs " + string(scope)})
			return
		}
		c, err := s.callerFor(r.Context(), p, path)
		if err != nil {
			s.error(w, r, err)
			return
		}
		h(w, r, c)
	})
}

// caller is an authenticated client, the access path its request is read on and the Viewer it
// reads with.
type caller struct {
	*auth.Principal
	path   access.Path
	viewer hub.Viewer
	// allow is the rule of path beyond the store's (see Server.allowed); nil on PathRead, where
	// the store applies the whole rule.
	allow func(o *hub.Object) bool
}

// callerFor builds the caller of an authenticated request on access path.
func (s *Server) callerFor(ctx context.Context, p *auth.Principal, path access.Path) (*caller, error) {
	if path == access.PathFederate {
		return s.peer(ctx, p)
	}
	v, err := access.ViewerFor(ctx, s.dir, p.Org, path)
	if err != nil {
		return nil, err
	}
	c := &caller{Principal: p, path: path, viewer: v}
	if path != access.PathRead {
		c.allow = func(o *hub.Object) bool { return access.Allow(v, o, path) }
	}
	return c, nil
}

// ServeHTTP makes a Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

// authenticate reads an API key from a Bearer or a Basic Authorization header. With Basic, the
// password is the API key and the user name must be that of the key's user.
func (s *Server) authenticate(r *http.Request) (*auth.Principal, error) {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "bearer":
		return s.auth.APIKey(r.Context(), strings.TrimSpace(cred))
	case "basic":
		user, key, ok := r.BasicAuth()
		if !ok {
			return nil, &hub.Error{Code: hub.EUnauthorized, Field: "Authorization", Message: "malformed Basic credentials"}
		}
		p, err := s.auth.APIKey(r.Context(), key)
		if err != nil {
			return nil, err
		}
		if !strings.EqualFold(user, p.Username) {
			return nil, &hub.Error{Code: hub.EUnauthorized, Message: "invalid or expired credentials", // as package auth says it
				Err: errors.New("taxii: Basic user name is not the API key's user")}
		}
		return p, nil
	}
	return nil, &hub.Error{Code: hub.EUnauthorized, Field: "Authorization",
		Message: "send an API key as 'Authorization: Bearer <key>', or as the password of HTTP Basic with your user name"}
}

// checkAccept returns nil when the Accept header values admit the TAXII 2.1 media type:
// "application/taxii+json" with version 2.1 or without a version (the latest, which is 2.1), at
// a quality above zero. Anything else, a missing header included, is 406 Not Acceptable, as the
// reference server (medallion) does: TAXII clients always ask for the TAXII media type.
func checkAccept(values []string) error {
	for _, v := range values {
		for _, rng := range strings.Split(v, ",") {
			if taxiiMediaType(rng, true) {
				return nil
			}
		}
	}
	return &statusError{status: http.StatusNotAcceptable, field: "Accept",
		msg: "the Accept header must include " + MediaType}
}

// checkContentType returns nil when a request body is declared as TAXII 2.1 content.
func checkContentType(ct string) error {
	if taxiiMediaType(ct, false) {
		return nil
	}
	return &statusError{status: http.StatusUnsupportedMediaType, field: "Content-Type",
		msg: "the Content-Type must be " + MediaType}
}

// taxiiMediaType reports whether the media type (or, with q, the Accept media range) s is
// application/taxii+json with no version or version 2.1, and, with q, a non-zero quality.
func taxiiMediaType(s string, q bool) bool {
	parts := strings.Split(s, ";")
	if !strings.EqualFold(strings.TrimSpace(parts[0]), "application/taxii+json") {
		return false
	}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(p, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.Trim(strings.TrimSpace(v), `"`)
		switch {
		case k == "version" && v != "2.1":
			return false
		case k == "q" && q:
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 {
				return false
			}
		}
	}
	return true
}

// statusError is a refusal with its own HTTP status, for the TAXII answers that no hub.Error
// code stands for (406, 415, 405, 501).
type statusError struct {
	status int
	field  string
	msg    string
}

func (e *statusError) Error() string { return e.msg }

// errorMessage is the TAXII 2.1 error message resource.
type errorMessage struct {
	Title       string            `json:"title"`
	Description string            `json:"description,omitempty"`
	ErrorID     string            `json:"error_id,omitempty"`
	ErrorCode   string            `json:"error_code,omitempty"`
	HTTPStatus  string            `json:"http_status,omitempty"`
	Details     map[string]string `json:"details,omitempty"`
}

// error writes err as a TAXII error message. Internal errors are logged with their cause and
// shown only as "internal error".
func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	var m errorMessage
	var status int
	field := ""
	if se, ok := errors.AsType[*statusError](err); ok {
		status, field = se.status, se.field
		m.ErrorCode = strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_"))
		m.Description = se.msg
	} else {
		code := hub.ErrorCode(err)
		status = hub.HTTPStatus(code)
		field = hub.ErrorField(err)
		m.ErrorCode = code
		m.Description = hub.ErrorMessage(err)
		if code == hub.EInternal {
			s.log.Error("taxii request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
	m.Title = http.StatusText(status)
	m.HTTPStatus = strconv.Itoa(status)
	if field != "" {
		m.Details = map[string]string{"field": field}
	}
	s.json(w, status, m)
}

// json writes v as a TAXII response.
func (s *Server) json(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("taxii response encoding failed", "err", err)
		status, b = http.StatusInternalServerError, []byte(`{"title":"Internal Server Error","http_status":"500"}`)
	}
	s.write(w, status, b)
}

func (s *Server) write(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", MediaType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	if _, err := w.Write(b); err != nil {
		s.log.Debug("taxii response write failed", "err", err)
	}
}

// baseURL returns scheme://host of the request, for the absolute URLs of the discovery resource.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
