package store

import "cshub/internal/hub"

// RecordPage gathers a page of export records as a store reads them into a few large buffers,
// and names each workspace with one string while consecutive records share it: a cold export
// reads a million records, and two allocations each would cost it more than reading them.
type RecordPage struct {
	recs []hub.ExportRecord
	buf  []byte // the buffer the latest records were copied into
}

// NewRecordPage returns an empty page for a query of up to limit records.
func NewRecordPage(limit int) *RecordPage {
	return &RecordPage{recs: make([]hub.ExportRecord, 0, min(limit, 1<<14))}
}

// recordChunk is the size of the buffers a RecordPage copies records into: a thousand records
// of a few hundred bytes; a larger record than it holds gets a buffer of its own.
const recordChunk = 256 << 10

// Add appends a record; ws and sealed are copied, so they may be a driver's buffers.
func (p *RecordPage) Add(seq int64, ws, sealed []byte) {
	r := hub.ExportRecord{Seq: seq}
	if n := len(p.recs); n > 0 && p.recs[n-1].Workspace == string(ws) {
		r.Workspace = p.recs[n-1].Workspace
	} else {
		r.Workspace = string(ws)
	}
	if len(sealed) > cap(p.buf)-len(p.buf) {
		p.buf = make([]byte, 0, max(recordChunk, len(sealed)))
	}
	// The buffer never grows, so the records copied before stay where they are; the full
	// slice expression keeps a record's Sealed from growing into the next one's.
	start := len(p.buf)
	p.buf = append(p.buf, sealed...)
	r.Sealed = p.buf[start:len(p.buf):len(p.buf)]
	p.recs = append(p.recs, r)
}

// Records returns the records added, in order.
func (p *RecordPage) Records() []hub.ExportRecord { return p.recs }
