package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"cshub/internal/access"
	"cshub/internal/hub"
	"cshub/internal/lookup"
)

// maxMatchValues bounds one match request; a SIEM with more values sends more requests.
const maxMatchValues = 100_000

// maxMatchBody bounds the body of one match request.
const maxMatchBody = 64 << 20

// matchBuffers holds the buffers match reads requests and writes answers in: a SIEM sends
// request after request of the same size.
var matchBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// match serves POST /api/v1/match {"values":[...]}: per value, the indicators the caller may
// see that it hits, and how.
func (s *Server) match(w http.ResponseWriter, r *http.Request) {
	buf := matchBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 4<<20 { // a rare huge request's buffer is not worth keeping
			buf.Reset()
			matchBuffers.Put(buf)
		}
	}()
	buf.Reset()
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxMatchBody)); err != nil {
		s.error(w, r, hub.FieldError("body", "not a JSON object {\"values\":[...]}: %v", err))
		return
	}
	body := buf.String() // the values are slices of it
	values, ok := plainValues(body)
	if !ok {
		var req struct {
			Values []string `json:"values"`
		}
		if err := json.NewDecoder(strings.NewReader(body)).Decode(&req); err != nil {
			s.error(w, r, hub.FieldError("body", "not a JSON object {\"values\":[...]}: %v", err))
			return
		}
		values = req.Values
	}
	if len(values) == 0 {
		s.error(w, r, hub.FieldError("values", "give at least one value"))
		return
	}
	if len(values) > maxMatchValues {
		s.error(w, r, hub.FieldError("values", "at most %d values per request, not %d", maxMatchValues, len(values)))
		return
	}
	v, err := access.ViewerFor(r.Context(), s.dir, principal(r).Org, access.PathMatch)
	if err != nil {
		s.error(w, r, err)
		return
	}
	// The answer is what s.json would write for {"results": results}, without reflection.
	results := s.lookup.Lookup(v, values)
	buf.Reset()
	buf.WriteString(`{"results":[`)
	for i := range results {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(results[i].AppendJSON(buf.AvailableBuffer()))
	}
	buf.WriteString("]}\n")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(buf.Bytes()); err != nil {
		s.log.Debug("response write failed", "err", err)
	}
}

// plainValues returns the values of a match request body of the plain form a client writes,
// {"values":["...",...]} with white space anywhere between tokens, and whose strings hold no
// escapes, control characters or invalid UTF-8: for such a body, exactly what encoding/json
// decodes, in one pass and with no copies. ok is false for any other body (another key, a
// string with escapes, a syntax error), which encoding/json decodes or refuses as before.
func plainValues(body string) (values []string, ok bool) {
	i := 0
	space := func() {
		for i < len(body) && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r') {
			i++
		}
	}
	// token consumes white space and then t; it reports whether t was there.
	token := func(t string) bool {
		space()
		if !strings.HasPrefix(body[i:], t) {
			return false
		}
		i += len(t)
		return true
	}
	if !token("{") || !token(`"values"`) || !token(":") || !token("[") {
		return nil, false
	}
	// Commas inside strings or after the list may make this more than the values: not more
	// than the most a request may hold.
	values = make([]string, 0, min(strings.Count(body, ",")+1, maxMatchValues+1))
	if !token("]") {
		for {
			if !token(`"`) {
				return nil, false
			}
			start := i
			ascii := true
			for ; i < len(body) && body[i] != '"'; i++ {
				if c := body[i]; c < 0x20 || c == '\\' {
					return nil, false
				} else if c >= utf8.RuneSelf {
					ascii = false
				}
			}
			if i == len(body) || !ascii && !utf8.ValidString(body[start:i]) {
				return nil, false
			}
			values = append(values, body[start:i])
			i++
			if token("]") {
				break
			}
			if !token(",") {
				return nil, false
			}
		}
	}
	if !token("}") {
		return nil, false
	}
	space()
	return values, i == len(body)
}

// maxObservedBody bounds a bundle of observations to evaluate: a sensor's batch, not an archive.
const maxObservedBody = 16 << 20

// matchObserved serves POST /api/v1/match/observed: a STIX bundle of observed-data with their
// SCOs in, per observed-data the indicators the caller may see whose patterns it satisfies out.
func (s *Server) matchObserved(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxObservedBody))
	if err != nil {
		s.error(w, r, hub.FieldError("body", "unreadable or larger than %d bytes: %v", maxObservedBody, err))
		return
	}
	obs, err := lookup.ReadObserved(body)
	if err != nil {
		s.error(w, r, err)
		return
	}
	v, err := access.ViewerFor(r.Context(), s.dir, principal(r).Org, access.PathMatch)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.json(w, http.StatusOK, map[string]any{"results": s.lookup.MatchObserved(v, obs)})
}
