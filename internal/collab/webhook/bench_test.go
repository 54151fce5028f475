package webhook_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"cshub/internal/collab/webhook"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/stix"
)

// BenchmarkDeliveries measures the delivery of announced objects to one webhook on a loopback
// receiver: the access decision, reading and opening the object, signing and the POST. The
// figure is reported as deliveries/s.
func BenchmarkDeliveries(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := hubtest.New(b, "sqlite")
	svc := webhook.New(h.KB, h.Store, nil, h.Barrier, nil, webhook.Config{Queue: 1 << 20})
	var got atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	if _, err := svc.Register(ctx, "cert-fr", "bench", webhook.Input{URL: recv.URL, Workspace: hubtest.Community}); err != nil {
		b.Fatal(err)
	}
	h.Ingest(b, "cert-be", hubtest.Community, bundle(b, indicator(1, "bench.example", stix.TLP2Green)))
	objs, err := h.KB.List(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, Types: []string{"indicator"}})
	if err != nil || len(objs) != 1 {
		b.Fatalf("%v, %d objects", err, len(objs))
	}
	o := objs[0]
	e := hub.Event{Kind: hub.EventObject, ObjectID: o.ID, ObjectSeq: o.Seq, Type: o.Type, Workspace: o.Workspace, Author: o.Author, TLP: o.TLP}
	first, err := h.Bus.Publish(ctx, hub.Event{Kind: hub.EventCase})
	if err != nil {
		b.Fatal(err)
	}
	go svc.Run(ctx, h.Bus, first)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := h.Bus.Publish(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	for got.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
}
