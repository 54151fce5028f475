package sources

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"cshub/internal/gather"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/misp"
	"cshub/internal/news"
	"cshub/internal/policy"
)

// fetch GETs rec's URL conditionally on its stored validators. It returns nil without error
// when the source has not changed, and the body with the response's validators otherwise.
func (s *Service) fetch(ctx context.Context, rec *record) ([]byte, string, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rec.URL, nil)
	if err != nil {
		return nil, "", "", hub.FieldError("url", "%v", err)
	}
	if rec.State.ETag != "" {
		req.Header.Set("If-None-Match", rec.State.ETag)
	}
	if rec.State.LastModified != "" {
		req.Header.Set("If-Modified-Since", rec.State.LastModified)
	}
	req.Header.Set("Accept", "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, "", "", fetchError(err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return nil, "", "", nil
	case http.StatusOK:
	default:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, "", "", hub.Errorf(hub.EUnavailable, "GET %s: %s", rec.URL, resp.Status)
	}
	max := s.guard.maxBytes()
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, "", "", fetchError(err)
	}
	if int64(len(body)) > max {
		return nil, "", "", hub.Errorf(hub.ETooLarge, "the source's answer is larger than %d bytes", max)
	}
	return body, resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"), nil
}

// seen reports whether rec has ingested the item with this hash.
func (r *record) seen(hash string) bool { return slices.Contains(r.State.Seen, hash) }

// remember adds hash to what rec has seen, forgetting the oldest beyond maxSeen.
func (r *record) remember(hash string) {
	r.State.Seen = append(r.State.Seen, hash)
	if over := len(r.State.Seen) - maxSeen; over > 0 {
		r.State.Seen = slices.Delete(r.State.Seen, 0, over)
	}
}

// contentHash names an item by its content: an item edited by its feed is new, the same text
// under another guid is not.
func contentHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// pollNews reads an RSS or Atom feed and ingests each item not seen yet as a report. Items
// that fail to ingest are not remembered, so the next run tries them again; the validators
// are kept only when every item went in.
func (s *Service) pollNews(ctx context.Context, rec *record, sub kb.Submission) (int, error) {
	body, etag, lastModified, err := s.fetch(ctx, rec)
	if err != nil || body == nil {
		return 0, err
	}
	feed, err := news.Parse(bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	var types []string
	if rec.Kind == KindPolicy {
		types = []string{policy.ReportType}
	}
	n := 0
	var errs []error
	for _, it := range feed.Items {
		r := it.Report(types...)
		h := contentHash([]byte(r.Title + "\x00" + r.URL + "\x00" + r.Text))
		if rec.seen(h) {
			continue
		}
		if _, err := s.gather.IngestReport(ctx, sub, r); err != nil {
			errs = append(errs, fmt.Errorf("item %q: %w", it.ID, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		rec.remember(h)
		n++
	}
	if len(errs) == 0 {
		rec.State.ETag, rec.State.LastModified = etag, lastModified
	}
	return n, errors.Join(errs...)
}

// pollMISP polls a MISP feed and ingests each new or changed event.
func (s *Service) pollMISP(ctx context.Context, rec *record, sub kb.Submission) (int, error) {
	feed, err := misp.NewFeed(rec.Name, rec.URL, misp.FeedMISP, s.client)
	if err != nil {
		return 0, err
	}
	if rec.State.MISP != nil {
		feed.SetState(*rec.State.MISP)
	}
	events, err := feed.Poll(ctx)
	if err != nil {
		err = fetchError(err)
	}
	st := feed.State()
	n := 0
	errs := []error{err}
	for _, ev := range events {
		if _, ierr := s.gather.Ingest(ctx, gather.Request{Submission: sub, Format: gather.FormatMISP}, bytes.NewReader(ev.Body)); ierr != nil {
			// Forget the event so that the next run fetches it again.
			delete(st.Events, ev.UUID)
			errs = append(errs, fmt.Errorf("event %s: %w", ev.UUID, ierr))
			continue
		}
		n++
	}
	rec.State.MISP = &st
	return n, errors.Join(errs...)
}

// pollList fetches an IOC list and ingests it when its content is new.
func (s *Service) pollList(ctx context.Context, rec *record, sub kb.Submission) (int, error) {
	body, etag, lastModified, err := s.fetch(ctx, rec)
	if err != nil || body == nil {
		return 0, err
	}
	h := contentHash(body)
	if rec.seen(h) {
		rec.State.ETag, rec.State.LastModified = etag, lastModified
		return 0, nil
	}
	format := gather.Detect("text/plain", body[:min(len(body), 4096)])
	if format != gather.FormatCSV {
		// A list source is a list: what looks like prose is read line by line all the same.
		format = gather.FormatIOCList
	}
	if _, err := s.gather.Ingest(ctx, gather.Request{Submission: sub, Format: format, Title: rec.Name}, bytes.NewReader(body)); err != nil {
		return 0, err
	}
	rec.remember(h)
	rec.State.ETag, rec.State.LastModified = etag, lastModified
	return 1, nil
}
