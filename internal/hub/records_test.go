package hub

import (
	"bytes"
	"fmt"
	"testing"
)

// TestRecordPage: records keep their own bytes when the driver reuses its buffers, and one
// record's Sealed cannot grow into the next.
func TestRecordPage(t *testing.T) {
	in := []struct {
		seq        int64
		ws, sealed string
	}{{1, "w1", "aaa"}, {2, "w1", ""}, {3, "w2", "bb"}, {4, "w1", "c"}}
	var p RecordPage
	p.Reset(0)
	ws, sealed := make([]byte, 0, 8), make([]byte, 0, 8)
	for _, r := range in {
		ws, sealed = append(ws[:0], r.ws...), append(sealed[:0], r.sealed...)
		p.Add(r.seq, ws, sealed)
		copy(ws, "xx") // the driver's next row
		copy(sealed, "xxx")
	}
	recs := p.Records()
	if len(recs) != len(in) {
		t.Fatalf("%d records, want %d", len(recs), len(in))
	}
	_ = append(recs[0].Sealed, 'z')
	for i, r := range in {
		if g := recs[i]; g.Seq != r.seq || g.Workspace != r.ws || !bytes.Equal(g.Sealed, []byte(r.sealed)) {
			t.Errorf("record %d = %d %q %q, want %d %q %q", i, g.Seq, g.Workspace, g.Sealed, r.seq, r.ws, r.sealed)
		}
	}
}

// TestRecordPageReused: a page read into again holds the new records whole, in the buffers it
// had, across buffer boundaries and beside a value larger than a buffer.
func TestRecordPageReused(t *testing.T) {
	var p RecordPage
	fill := func(round int) [][]byte {
		p.Reset(100)
		var want [][]byte
		for i := range 3000 { // about 1.5 MB: several buffers
			v := []byte(fmt.Sprintf("%d:%d:%0*d", round, i, 400+i%200, i))
			if i == 1500 {
				v = bytes.Repeat([]byte{byte(round)}, recordBuf+1)
			}
			p.Add(int64(i), []byte("w"), v)
			want = append(want, v)
		}
		return want
	}
	fill(1)
	bufs := len(p.bufs)
	want := fill(2)
	if len(p.bufs) != bufs {
		t.Errorf("the second read used %d buffers, the first %d: want the same ones", len(p.bufs), bufs)
	}
	recs := p.Records()
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	for i, r := range recs {
		if r.Seq != int64(i) || !bytes.Equal(r.Sealed, want[i]) || cap(r.Sealed) != len(r.Sealed) {
			t.Fatalf("record %d = %d %.20q (cap %d); want %d %.20q", i, r.Seq, r.Sealed, cap(r.Sealed), i, want[i])
		}
	}
}
