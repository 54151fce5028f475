package hub

import (
	"slices"

	"cshub/internal/prefault"
)

// RecordPage is a page of export records as a store reads them (ObjectStore.ExportRecords),
// their sealed bytes copied into a few large buffers, so that the records keep them when the
// driver reuses its own. A page read into again keeps its buffers: a cold export reads a
// million records a page at a time, and buffers of their own for each page were a seventh of
// the memory it filled, garbage as soon as the page was opened. A store empties a page before
// it reads into it, so a caller reads into a page only once it is done with its records.
type RecordPage struct {
	recs []ExportRecord
	bufs [][]byte // buffers, filled in turn; bufs[cur] the one being filled
	cur  int
}

// recordBuf is the size of a page's buffers: a thousand records of a few hundred bytes.
const recordBuf = 256 << 10

// Reset empties p, keeping its memory, for up to limit records.
func (p *RecordPage) Reset(limit int) {
	p.recs = slices.Grow(p.recs[:0], min(limit, 1<<14))
	for i := range p.bufs {
		p.bufs[i] = p.bufs[i][:0]
	}
	p.cur = 0
}

// Add appends a record; ws and sealed are copied, so they may be a driver's buffers.
// Consecutive records of one workspace share its name.
func (p *RecordPage) Add(seq int64, ws, sealed []byte) {
	r := ExportRecord{Seq: seq, Sealed: p.copy(sealed)}
	if n := len(p.recs); n > 0 && p.recs[n-1].Workspace == string(ws) {
		r.Workspace = p.recs[n-1].Workspace
	} else {
		r.Workspace = string(ws)
	}
	p.recs = append(p.recs, r)
}

// copy returns a copy of b in p's buffers.
func (p *RecordPage) copy(b []byte) []byte {
	if len(b) > recordBuf {
		return slices.Clip(slices.Clone(b)) // a buffer of its own, which p does not keep
	}
	if p.cur < len(p.bufs) && len(b) > cap(p.bufs[p.cur])-len(p.bufs[p.cur]) {
		p.cur++
	}
	if p.cur == len(p.bufs) {
		buf := make([]byte, 0, recordBuf)
		prefault.Slice(buf)
		p.bufs = append(p.bufs, buf)
	}
	// A buffer never grows, so the values copied before stay where they are; the full slice
	// expression keeps a value from growing into the next one.
	buf := append(p.bufs[p.cur], b...)
	p.bufs[p.cur] = buf
	start := len(buf) - len(b)
	return buf[start:len(buf):len(buf)]
}

// Records returns the records added since the last Reset, in order.
func (p *RecordPage) Records() []ExportRecord { return p.recs }
