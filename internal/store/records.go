package store

import (
	"cshub/internal/hub"
	"cshub/internal/prefault"
)

// arena copies the sealed values a store reads into a few large buffers: a cold export reads a
// million records, and an allocation each would cost it more than reading them.
type arena struct {
	buf []byte // the buffer the latest values were copied into
}

// arenaChunk is the size of the buffers an arena copies values into: a thousand records of a
// few hundred bytes; a larger value than it holds gets a buffer of its own.
const arenaChunk = 256 << 10

// copy returns a copy of b in the arena.
func (a *arena) copy(b []byte) []byte {
	if len(b) > cap(a.buf)-len(a.buf) {
		a.buf = make([]byte, 0, max(arenaChunk, len(b)))
		prefault.Slice(a.buf)
	}
	// The buffer never grows, so the values copied before stay where they are; the full slice
	// expression keeps a value from growing into the next one.
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.buf[start:len(a.buf):len(a.buf)]
}

// RecordPage gathers a page of export records as a store reads them, in an arena, and names
// each workspace with one string while consecutive records share it.
type RecordPage struct {
	recs  []hub.ExportRecord
	arena arena
}

// NewRecordPage returns an empty page for a query of up to limit records.
func NewRecordPage(limit int) *RecordPage {
	return &RecordPage{recs: make([]hub.ExportRecord, 0, min(limit, 1<<14))}
}

// Add appends a record; ws and sealed are copied, so they may be a driver's buffers.
func (p *RecordPage) Add(seq int64, ws, sealed []byte) {
	r := hub.ExportRecord{Seq: seq, Sealed: p.arena.copy(sealed)}
	if n := len(p.recs); n > 0 && p.recs[n-1].Workspace == string(ws) {
		r.Workspace = p.recs[n-1].Workspace
	} else {
		r.Workspace = string(ws)
	}
	p.recs = append(p.recs, r)
}

// Records returns the records added, in order.
func (p *RecordPage) Records() []hub.ExportRecord { return p.recs }
