package store

import (
	"bytes"
	"testing"
)

// TestRecordPage: records keep their own bytes when the driver reuses its buffers, and one
// record's Sealed cannot grow into the next.
func TestRecordPage(t *testing.T) {
	in := []struct {
		seq        int64
		ws, sealed string
	}{{1, "w1", "aaa"}, {2, "w1", ""}, {3, "w2", "bb"}, {4, "w1", "c"}}
	p := NewRecordPage(0)
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
