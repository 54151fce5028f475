package backup

import (
	"bytes"
	"context"
	"io"
	"testing"

	"cshub/internal/hubtest"
)

// BenchmarkWriteRestore measures a backup of 2,000 indicator versions and its restore into an
// empty store of the same backend; it reports objects per second of each.
func BenchmarkWriteRestore(b *testing.B) {
	for _, backend := range hubtest.Backends() {
		b.Run(backend, func(b *testing.B) {
			ctx := context.Background()
			h := hubtest.New(b, backend)
			for i := range 4 {
				h.Ingest(b, "cert-fr", hubtest.Community, bundle(i*500, 500, false))
			}
			var file bytes.Buffer
			c, err := Write(ctx, h.Store, &file, Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Run("write", func(b *testing.B) {
				for b.Loop() {
					if _, err := Write(ctx, h.Store, io.Discard, Options{}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(c.Objects*b.N)/b.Elapsed().Seconds(), "objects/s")
			})
			b.Run("restore", func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					dst := target(b, backend)
					b.StartTimer()
					if _, err := Restore(ctx, dst, bytes.NewReader(file.Bytes())); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(c.Objects*b.N)/b.Elapsed().Seconds(), "objects/s")
			})
		})
	}
}
