package prefault

import (
	"runtime"
	"testing"
)

// Slice keeps what a buffer holds, whatever its element type, alignment and length.
func TestSliceKeepsContent(t *testing.T) {
	type rec struct {
		a, b int64
		s    string
	}
	recs := make([]rec, 100_000)
	for i := range recs {
		recs[i] = rec{int64(i), -int64(i), "x"}
	}
	Slice(recs)
	for i, r := range recs {
		if r != (rec{int64(i), -int64(i), "x"}) {
			t.Fatalf("recs[%d] = %+v after Slice", i, r)
		}
	}
	buf := make([]byte, 3, 1<<20+123)
	copy(buf, "abc")
	for _, s := range [][]byte{buf, buf[1:], buf[:0], nil, make([]byte, 10)} {
		Slice(s)
	}
	if string(buf) != "abc" {
		t.Errorf("buf = %q after Slice, want abc", buf)
	}
}

// BenchmarkFill writes a byte into every page of a new 256 MB buffer, with and without
// Slice first: the ratio is what a page fault costs on the machine beside mapping the page
// in bulk.
func BenchmarkFill(b *testing.B) {
	for _, bc := range []struct {
		name     string
		populate bool
	}{{"fault", false}, {"populate", true}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				buf := make([]byte, 256<<20)
				if bc.populate {
					Slice(buf)
				}
				for i := 0; i < len(buf); i += int(pageSize) {
					buf[i] = 1
				}
				runtime.KeepAlive(buf)
			}
			b.SetBytes(256 << 20)
		})
	}
}
