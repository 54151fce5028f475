package taxii

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"cshub/internal/audit"
	"cshub/internal/bus"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/stix"
)

// page is one page of a listing: the objects to show and how to go on.
type page struct {
	objs []*hub.Object
	more bool
	next string
}

// list returns one page of the versions in workspace slug that f (Types, IDs, AllVersions) and q
// select, as c may see them. The store is asked for one object more than the limit, which tells
// whether there is more without a count; the cursor is the store sequence of the last object
// used, so that a page costs one indexed range scan however deep into the collection it is.
//
// Filters the store cannot apply (match[version] other than last or all, the rules of a feed
// path) thin a batch out after the query; then further batches are read to fill the page, up to
// maxRounds of them, after which a short page with more set is returned.
func (s *Server) list(ctx context.Context, c *caller, slug string, q query, f hub.Filter) (page, error) {
	if !q.specOK || q.addedAfter.After(latestTime) {
		return page{}, nil
	}
	if q.addedAfter.Before(earliestTime) {
		q.addedAfter = time.Time{}
	}
	f.Viewer = c.viewer
	f.Workspaces = []string{slug}
	f.AddedAfter = q.addedAfter
	f.AllVersions = f.AllVersions || !q.versions.onlyLast()
	f.Limit = q.limit + 1
	f.NoTokens = true // TAXII serves bodies and matches nothing
	thin := f.AllVersions && q.versions.set && !q.versions.all
	var p page
	cursor := q.afterSeq
	for round := 1; ; round++ {
		f.AfterSeq = cursor
		objs, err := s.kb.List(ctx, f)
		if err != nil {
			return page{}, err
		}
		batchMore := len(objs) > q.limit
		if batchMore {
			objs = objs[:q.limit]
		}
		if len(objs) > 0 {
			cursor = objs[len(objs)-1].Seq
		}
		kept := s.allowed(c, objs)
		if thin {
			if kept, err = s.keepVersions(ctx, c, slug, q.versions, kept); err != nil {
				return page{}, err
			}
		}
		if need := q.limit - len(p.objs); len(kept) > need {
			// The page fills up inside this batch: go on after the last object shown.
			kept = kept[:need]
			cursor = kept[need-1].Seq
			batchMore = true
		}
		p.objs = append(p.objs, kept...)
		if !batchMore {
			break
		}
		if len(p.objs) == q.limit || round == maxRounds {
			p.more, p.next = true, encodeCursor(cursor)
			break
		}
	}
	return p, nil
}

// maxRounds bounds the batches one page may read when filters thin them out.
const maxRounds = 8

// The instants the stores can compare: added_after beyond them selects everything or nothing.
var (
	earliestTime = time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC)
	latestTime   = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// allowed drops what c's access path forbids beyond the store rule; on PathRead that is nothing,
// since the store applied the whole rule.
func (s *Server) allowed(c *caller, objs []*hub.Object) []*hub.Object {
	if c.allow == nil {
		return objs
	}
	out := objs[:0]
	for _, o := range objs {
		if c.allow(o) {
			out = append(out, o)
		}
	}
	return out
}

// keepVersions keeps the versions of objs that m selects. "first" and "last" are relative to all
// versions c may see of each object, which one more query over the objects' ids finds.
func (s *Server) keepVersions(ctx context.Context, c *caller, slug string, m versionMatch, objs []*hub.Object) ([]*hub.Object, error) {
	type bounds struct{ first, last int64 } // UnixNano of the versions
	var b map[string]bounds
	if (m.first || m.last) && len(objs) > 0 {
		seen := map[string]bool{}
		var ids []string
		for _, o := range objs {
			if !seen[o.ID] {
				seen[o.ID] = true
				ids = append(ids, o.ID)
			}
		}
		b = make(map[string]bounds, len(ids))
		f := hub.Filter{Viewer: c.viewer, Workspaces: []string{slug}, IDs: ids, AllVersions: true, Limit: MaxLimit, NoTokens: true}
		for {
			all, err := s.kb.List(ctx, f)
			if err != nil {
				return nil, err
			}
			for _, o := range s.allowed(c, all) {
				t := version(o).UnixNano()
				x, ok := b[o.ID]
				if !ok {
					x = bounds{t, t}
				}
				x.first, x.last = min(x.first, t), max(x.last, t)
				b[o.ID] = x
			}
			if len(all) < f.Limit {
				break
			}
			f.AfterSeq = all[len(all)-1].Seq
		}
	}
	out := objs[:0]
	for _, o := range objs {
		t := version(o)
		keep := false
		if x, ok := b[o.ID]; ok {
			keep = m.first && t.UnixNano() == x.first || m.last && t.UnixNano() == x.last
		}
		for _, at := range m.at {
			keep = keep || t.Equal(at)
		}
		if keep {
			out = append(out, o)
		}
	}
	return out, nil
}

// setDateAdded sets the X-TAXII-Date-Added-First and -Last headers from the objects of a page.
func setDateAdded(w http.ResponseWriter, objs []*hub.Object) {
	if len(objs) == 0 {
		return
	}
	w.Header().Set("X-TAXII-Date-Added-First", taxiiTime(objs[0].Added))
	w.Header().Set("X-TAXII-Date-Added-Last", taxiiTime(objs[len(objs)-1].Added))
}

// writeEnvelope writes the TAXII envelope (section 3.7) of p. It is put together by hand and
// written piece by piece: the bodies are already JSON, and a page of thousands of objects should
// go out as it is, neither re-encoded nor copied into one more buffer.
func (s *Server) writeEnvelope(w http.ResponseWriter, p page) {
	head := `{"more":` + strconv.FormatBool(p.more)
	if p.next != "" {
		head += `,"next":"` + p.next + `"` // base64url: nothing to escape
	}
	bodies := make([][]byte, len(p.objs))
	n := len(head) + 1
	if len(p.objs) > 0 {
		head += `,"objects":[`
		n += len(`,"objects":[]`)
		for i, o := range p.objs {
			bodies[i] = bytes.TrimSpace(o.Body)
			n += len(bodies[i]) + 1
		}
		n-- // no comma before the first
	}
	setDateAdded(w, p.objs)
	w.Header().Set("Content-Type", MediaType)
	w.Header().Set("Content-Length", strconv.Itoa(n))
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, head); err != nil {
		return // the client went away
	}
	comma := []byte{','}
	for i, b := range bodies {
		if i > 0 {
			w.Write(comma)
		}
		if _, err := w.Write(b); err != nil {
			return
		}
	}
	if len(bodies) > 0 {
		io.WriteString(w, "]}")
	} else {
		io.WriteString(w, "}")
	}
}

// getObjects serves GET {root}/collections/{id}/objects/ (section 5.4) with added_after, limit,
// next, match[id], match[type], match[version] and match[spec_version].
func (s *Server) getObjects(w http.ResponseWriter, r *http.Request, c *caller) {
	slug, q, ok := s.collectionQuery(w, r, c)
	if !ok {
		return
	}
	p, err := s.list(r.Context(), c, slug, q, hub.Filter{Types: q.types, IDs: q.ids})
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.writeEnvelope(w, p)
}

// getObject serves GET {root}/collections/{id}/objects/{object-id}/ (section 5.6): the versions
// of one object that match[version] selects (the latest by default), paged like objects.
func (s *Server) getObject(w http.ResponseWriter, r *http.Request, c *caller) {
	slug, q, ok := s.collectionQuery(w, r, c)
	if !ok {
		return
	}
	id := r.PathValue("object")
	p, err := s.list(r.Context(), c, slug, q, hub.Filter{IDs: []string{id}})
	if err == nil && len(p.objs) == 0 && !q.hasCursor {
		err = s.exists(r.Context(), c, slug, id)
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.writeEnvelope(w, p)
}

// exists returns nil if c may see some version of id in workspace slug, and ENotFound if not,
// so that a filter matching nothing is an empty page while a missing object is 404.
func (s *Server) exists(ctx context.Context, c *caller, slug, id string) error {
	objs, err := s.kb.List(ctx, hub.Filter{Viewer: c.viewer, Workspaces: []string{slug}, IDs: []string{id}, AllVersions: true, Limit: 100, NoTokens: true})
	if err != nil {
		return err
	}
	if len(s.allowed(c, objs)) == 0 {
		return hub.Errorf(hub.ENotFound, "no object %s in this collection", id)
	}
	return nil
}

// versionsResource is the TAXII 2.1 versions resource (section 5.8.1).
type versionsResource struct {
	More     bool     `json:"more"`
	Next     string   `json:"next,omitempty"`
	Versions []string `json:"versions,omitempty"`
}

// getVersions serves GET {root}/collections/{id}/objects/{object-id}/versions/ (section 5.8):
// every version of the object c may see, in the order they were added, with added_after, limit,
// next and match[spec_version].
func (s *Server) getVersions(w http.ResponseWriter, r *http.Request, c *caller) {
	slug, q, ok := s.collectionQuery(w, r, c)
	if !ok {
		return
	}
	id := r.PathValue("object")
	q.versions = versionMatch{all: true}
	p, err := s.list(r.Context(), c, slug, q, hub.Filter{IDs: []string{id}, AllVersions: true})
	if err == nil && len(p.objs) == 0 && !q.hasCursor {
		err = s.exists(r.Context(), c, slug, id)
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	res := versionsResource{More: p.more, Next: p.next}
	for _, o := range p.objs {
		res.Versions = append(res.Versions, stixTime(version(o)))
	}
	setDateAdded(w, p.objs)
	s.json(w, http.StatusOK, res)
}

// manifestRecord is the TAXII 2.1 manifest-record type (section 5.3.2).
type manifestRecord struct {
	ID        string `json:"id"`
	DateAdded string `json:"date_added"`
	Version   string `json:"version"`
	MediaType string `json:"media_type,omitempty"`
}

// manifestResource is the TAXII 2.1 manifest resource (section 5.3.1).
type manifestResource struct {
	More    bool             `json:"more"`
	Next    string           `json:"next,omitempty"`
	Objects []manifestRecord `json:"objects,omitempty"`
}

// getManifest serves GET {root}/collections/{id}/manifest/ (section 5.3), with the filters of
// Get Objects.
func (s *Server) getManifest(w http.ResponseWriter, r *http.Request, c *caller) {
	slug, q, ok := s.collectionQuery(w, r, c)
	if !ok {
		return
	}
	p, err := s.list(r.Context(), c, slug, q, hub.Filter{Types: q.types, IDs: q.ids})
	if err != nil {
		s.error(w, r, err)
		return
	}
	res := manifestResource{More: p.more, Next: p.next, Objects: make([]manifestRecord, len(p.objs))}
	for i, o := range p.objs {
		res.Objects[i] = manifestRecord{ID: o.ID, DateAdded: taxiiTime(o.Added),
			Version: stixTime(version(o)), MediaType: stixMediaType}
	}
	setDateAdded(w, p.objs)
	s.json(w, http.StatusOK, res)
}

// collectionQuery resolves the collection of the URL and parses the query; on failure it has
// written the error.
func (s *Server) collectionQuery(w http.ResponseWriter, r *http.Request, c *caller) (string, query, bool) {
	slug, err := collectionSlug(c.viewer, r.PathValue("collection"))
	if err != nil {
		s.error(w, r, err)
		return "", query{}, false
	}
	q, err := parseQuery(r.URL.Query())
	if err != nil {
		s.error(w, r, err)
		return "", query{}, false
	}
	return slug, q, true
}

// deleteObject serves DELETE {root}/collections/{id}/objects/{object-id}/ (section 5.7), with
// match[version] (all versions by default) and match[spec_version]. An object c may not see is
// 404, exactly as a missing one; one c sees but did not add every selected version of is 403,
// since its existence is no secret to c. A match that selects no version is 404 too. The
// selected versions are removed in one store transaction, announced on the bus with one
// hub.EventDelete each, so that in-memory indexes drop them, and recorded in the audit log.
// Without Config.Objects the server cannot delete and answers 501.
func (s *Server) deleteObject(w http.ResponseWriter, r *http.Request, c *caller) {
	slug, q, ok := s.collectionQuery(w, r, c)
	if !ok {
		return
	}
	id := r.PathValue("object")
	if err := s.exists(r.Context(), c, slug, id); err != nil {
		s.error(w, r, err)
		return
	}
	if !q.versions.set {
		q.versions = versionMatch{set: true, all: true}
	}
	q.afterSeq, q.limit = 0, MaxLimit
	var selected []*hub.Object
	for {
		p, err := s.list(r.Context(), c, slug, q, hub.Filter{IDs: []string{id}})
		if err != nil {
			s.error(w, r, err)
			return
		}
		selected = append(selected, p.objs...)
		if !p.more {
			break
		}
		if q.afterSeq, err = decodeCursor(p.next); err != nil {
			s.error(w, r, err)
			return
		}
	}
	if len(selected) == 0 {
		s.error(w, r, hub.Errorf(hub.ENotFound, "no version of %s matches the request", id))
		return
	}
	for _, o := range selected {
		if o.Author != c.Org {
			s.error(w, r, &hub.Error{Code: hub.EForbidden, Field: "object",
				Message: "only the organisation that added every version of an object may delete it"})
			return
		}
	}
	if s.objects == nil {
		s.error(w, r, &statusError{status: http.StatusNotImplemented, msg: "this server cannot delete objects"})
		return
	}
	seqs := make([]int64, len(selected))
	for i, o := range selected {
		seqs[i] = o.Seq
	}
	n, err := s.objects.DeleteObjects(r.Context(), seqs)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.announceDeleted(r.Context(), c, selected, n)
	w.Header().Set("Content-Type", MediaType)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// announceDeleted records a deletion of n versions in the audit log and publishes an
// EventDelete per version. The rows are gone when it is called, so a failure is logged rather
// than returned: listeners that miss an event still hold a version the store no longer serves,
// and drop it on their next rebuild.
func (s *Server) announceDeleted(ctx context.Context, c *caller, objs []*hub.Object, n int) {
	ctx = context.WithoutCancel(ctx)
	if s.audit != nil {
		versions := make([]string, len(objs))
		for i, o := range objs {
			versions[i] = stixTime(version(o))
		}
		if _, err := s.audit.Record(ctx, audit.Entry{Org: c.Org, Actor: c.Username, Action: "object.delete",
			Target: objs[0].ID, Details: map[string]any{"workspace": objs[0].Workspace, "versions": versions, "deleted": n}}); err != nil {
			s.log.Error("audit record failed", "action", "object.delete", "target", objs[0].ID, "err", err)
		}
	}
	if s.bus == nil {
		return
	}
	events := make([]hub.Event, len(objs))
	now := s.now()
	for i, o := range objs {
		events[i] = hub.Event{Kind: hub.EventDelete, ObjectID: o.ID, ObjectSeq: o.Seq, Type: o.Type,
			Workspace: o.Workspace, Author: o.Author, TLP: o.TLP, Recipients: o.Recipients, Time: now}
	}
	if _, err := bus.PublishBatch(ctx, s.bus, events); err != nil {
		s.log.Warn("bus publish of deletions failed", "events", len(events), "err", err)
	}
}

// addObjects serves POST {root}/collections/{id}/objects/ (section 5.5): an envelope (or a
// bundle, which has the same objects list) is ingested as the caller's organisation into the
// collection's workspace, synchronously, and answered 202 with a complete status resource.
//
// Two cshub extensions in the query: recipients=org,org names who besides the caller may read
// the TLP:RED objects of the request, and tlp=LEVEL marks the objects that carry no TLP marking
// (default: the workspace's default).
func (s *Server) addObjects(w http.ResponseWriter, r *http.Request, c *caller) {
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		s.error(w, r, err)
		return
	}
	slug, err := collectionSlug(c.viewer, r.PathValue("collection"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	if r.ContentLength > s.maxBody {
		s.error(w, r, tooLarge(s.maxBody))
		return
	}
	body, err := readBody(w, r, s.maxBody)
	if err != nil {
		s.error(w, r, err)
		return
	}
	var env struct {
		Objects []json.RawMessage `json:"objects"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		s.error(w, r, hub.FieldError("body", "not a TAXII envelope: %v", err))
		return
	}
	if env.Objects == nil {
		s.error(w, r, hub.FieldError("objects", "an envelope with an objects list is required"))
		return
	}
	sub := kb.Submission{Org: c.Org, Workspace: slug, Recipients: list(r.URL.Query()["recipients"])}
	if t := r.URL.Query().Get("tlp"); t != "" {
		if sub.DefaultTLP, err = hub.ParseTLP(t); err != nil {
			s.error(w, r, err)
			return
		}
	}
	requested := s.now()
	body = nil // the bundle below replaces it
	sum, err := s.kb.Ingest(r.Context(), sub, bytes.NewReader(stix.Bundle(env.Objects...)))
	if err != nil && sum == nil {
		s.error(w, r, err)
		return
	}
	if err != nil {
		// Part of the request was committed before the failure: the status says which part.
		s.log.Error("taxii add objects failed part way", "collection", slug, "org", c.Org, "err", err)
	}
	res := buildStatus(env.Objects, sum, err, requested)
	s.statuses.put(c.Org, res)
	s.json(w, http.StatusAccepted, res)
}

// buildStatus makes the status resource of an ingest of objs that ended with sum and ingestErr.
// An object is a success when it is in the collection afterwards (newly added or already there),
// a failure when it was rejected, with the reason, or, after an ingest that broke off, when it
// was not committed.
func buildStatus(objs []json.RawMessage, sum *kb.Summary, ingestErr error, requested time.Time) *statusResource {
	res := &statusResource{ID: stix.NewUUID(), Status: "complete", RequestTimestamp: taxiiTime(requested),
		TotalCount: len(objs)}
	rejected := map[string][]string{} // id -> reasons, taken in order
	for _, rj := range sum.Rejected {
		rejected[rj.ID] = append(rejected[rj.ID], rj.Reason)
	}
	added := map[string]int{} // id -> versions newly stored
	for _, id := range sum.IDs {
		added[id]++
	}
	for _, raw := range objs {
		var head struct {
			ID       string `json:"id"`
			Created  string `json:"created"`
			Modified string `json:"modified"`
		}
		json.Unmarshal(raw, &head) // a malformed object is among the rejections
		d := statusDetail{ID: head.ID, Version: head.Modified}
		if d.Version == "" {
			d.Version = head.Created
		}
		if d.Version == "" {
			d.Version = stixTime(requested) // an object with neither: its version is its date_added
		}
		switch {
		case len(rejected[head.ID]) > 0:
			d.Message = rejected[head.ID][0]
			rejected[head.ID] = rejected[head.ID][1:]
			res.Failures = append(res.Failures, d)
		case added[head.ID] > 0:
			added[head.ID]--
			res.Successes = append(res.Successes, d)
		case ingestErr != nil:
			d.Message = "not stored: " + hub.ErrorMessage(ingestErr)
			res.Failures = append(res.Failures, d)
		default:
			d.Message = "already in the collection"
			res.Successes = append(res.Successes, d)
		}
	}
	res.SuccessCount, res.FailureCount = len(res.Successes), len(res.Failures)
	return res
}

// readBody reads a request body of at most max bytes; a longer one is ETooLarge.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge(max)
		}
		return nil, hub.FieldError("body", "reading the request body: %v", err)
	}
	return b, nil
}

func tooLarge(max int64) error {
	return &hub.Error{Code: hub.ETooLarge, Field: "body",
		Message: "the body is larger than max_content_length, " + strconv.FormatInt(max, 10) + " bytes"}
}
