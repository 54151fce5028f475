package feed_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"cshub/internal/bench"
	"cshub/internal/export"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/kb"
)

var pollBase = flag.Int("feed.base", 10_000, "indicators stored before BenchmarkPoll's changes")

// BenchmarkPoll measures one delta poll that brings 1,000 changes (new indicators and new
// versions lowering confidence below the feed's minimum) on a hub holding -feed.base indicators
// (default 10,000): loading the new versions from the store, opening and parsing them, and
// computing the delta. The changes are stored outside the timer.
func BenchmarkPoll(b *testing.B) {
	ctx := context.Background()
	c := &clock{t: time.Now()}
	h := hubtest.New(b, "sqlite")
	if err := h.Members.CreateWorkspace(ctx, &hub.Workspace{Slug: "cert-uk", Kind: hub.WorkspacePrivate, Members: []string{"cert-uk"}}); err != nil {
		b.Fatal(err)
	}
	if _, err := h.KB.Ingest(ctx, kb.Submission{Org: "cert-fr", Workspace: hubtest.Community}, bytes.NewReader(bench.SyntheticIndicators(*pollBase, 14))); err != nil {
		b.Fatal(err)
	}
	svc := newService(h, c)
	if _, err := svc.Create(ctx, "cert-uk", "bench", "all", export.Selection{MinConfidence: 50}); err != nil {
		b.Fatal(err)
	}
	d, err := svc.Poll(ctx, "cert-uk", "all", "")
	if err != nil {
		b.Fatal(err)
	}
	cursor, round, changes := d.Cursor, 0, 0
	var cpu time.Duration // CPU time of the polls alone: the machine may be shared
	for b.Loop() {
		b.StopTimer()
		round++
		var objs []string
		for i := range 1000 {
			// Half new indicators, half new versions of the previous round's with a lower
			// confidence, which the feed must report as removals.
			id, conf := fmt.Sprintf("indicator--%08x-0000-4000-8000-%012x", round, i), 90
			if i%2 == 1 && round > 1 {
				id, conf = fmt.Sprintf("indicator--%08x-0000-4000-8000-%012x", round-1, i-1), 10
			}
			objs = append(objs, string((indicatorJSON{id: id, value: fmt.Sprintf("10.%d.%d.%d", round%250, i/250, i%250), tlp: hub.TLPGreen,
				confidence: conf, modified: c.Add(time.Millisecond)}).object()))
		}
		h.Ingest(b, "cert-fr", hubtest.Community, []byte(`{"type":"bundle","id":"bundle--`+export.NameUUID(fmt.Sprint(round))+`","objects":[`+strings.Join(objs, ",")+`]}`))
		b.StartTimer()
		var r0, r1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
		d, err := svc.Poll(ctx, "cert-uk", "all", cursor)
		syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
		cpu += time.Duration(r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
		if err != nil {
			b.Fatal(err)
		}
		if d.Full || len(d.Added)+len(d.Removed) == 0 {
			b.Fatalf("round %d: full %v, %d added, %d removed", round, d.Full, len(d.Added), len(d.Removed))
		}
		changes += len(d.Added) + len(d.Removed)
		cursor = d.Cursor
	}
	b.ReportMetric(float64(changes)/float64(b.N), "changes/poll")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/poll")
}
