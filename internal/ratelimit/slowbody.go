package ratelimit

import (
	"errors"
	"io"
	"net/http"
	"time"
)

// IdleBody ends a request whose body stops arriving for longer than idle. The hub's
// http.Server has no overall read timeout, because a large bundle may take minutes to upload;
// without this, a client that sends a few bytes a minute would hold a connection and a
// handler for as long as it liked. Each Read of the body pushes the connection's read deadline
// idle ahead; the end of the body clears it, so a handler that works long after the upload is
// not cut off.
func IdleBody(idle time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &idleReader{ReadCloser: r.Body, rc: http.NewResponseController(w), idle: idle}
		}
		next.ServeHTTP(w, r)
	})
}

type idleReader struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	done bool
}

func (b *idleReader) Read(p []byte) (int, error) {
	if b.done {
		return b.ReadCloser.Read(p)
	}
	// A writer that cannot take deadlines (a test recorder) just goes without.
	b.rc.SetReadDeadline(time.Now().Add(b.idle))
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.done = true
		b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
