package main

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cshub/internal/bus/natsbus"
	"cshub/internal/hub"
)

// TestServeResumesIndexes: serve saves its matching, search, back-reference and correlation indexes in the
// data directory when it stops, and the next serve on the same NATS stream resumes all four
// from there instead of rebuilding them from the store.
func TestServeResumesIndexes(t *testing.T) {
	natsURL := os.Getenv("CSHUB_TEST_NATS")
	if natsURL == "" {
		t.Skip("CSHUB_TEST_NATS is unset: set it to a NATS JetStream URL, e.g. nats://127.0.0.1:4222")
	}
	dir := t.TempDir()
	if code, _, errOut := run(t, "init", "--data", dir); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	id := strings.ToUpper(rand.Text()[:8])
	opts := natsbus.Options{Stream: "CSHUB_TEST_RESUME_" + id, Prefix: "cshubtest.resume." + id}
	t.Cleanup(func() { deleteStream(t, natsURL, opts) })
	serveOnce := func() string {
		var log lockedBuffer
		e := &env{stdout: &log, stderr: &log, getenv: func(string) string { return "" }}
		f := &serveFlags{common: common{data: dir, nats: natsURL, natsStream: opts.Stream, natsPrefix: opts.Prefix}, addr: "127.0.0.1:0", insecureHTTP: true}
		a, err := openApp(context.Background(), e, &f.common, false)
		if err != nil {
			t.Fatal(err)
		}
		defer a.close()
		ctx, cancel := context.WithCancel(context.Background())
		ready, done := make(chan string, 1), make(chan error, 1)
		go func() { done <- serve(ctx, e, a, f, func(u string) { ready <- u }) }()
		select {
		case <-ready:
		case err := <-done:
			t.Fatal(err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return log.String()
	}
	// An event before the first serve: a snapshot made before the stream held any is not
	// resumed from (Subscribe cannot ask for the events from the first on).
	b, err := natsbus.Open(context.Background(), natsURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish(context.Background(), hub.Event{Kind: hub.EventKeys, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	first := serveOnce()
	if strings.Contains(first, "index resumed") {
		t.Fatalf("the first serve resumed from a snapshot it cannot have:\n%s", first)
	}
	for _, index := range []string{"lookup", "search", "refs", "links"} {
		if _, err := os.Stat(filepath.Join(dir, "snapshots", index)); err != nil {
			t.Errorf("no %s snapshot after a graceful stop: %v", index, err)
		}
	}
	second := serveOnce()
	if got := strings.Count(second, "index resumed from its snapshot"); got != 4 || strings.Contains(second, "index rebuilt") {
		t.Fatalf("the second serve resumed %d indexes; want all 4:\n%s", got, second)
	}
}
