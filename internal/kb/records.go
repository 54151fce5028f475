package kb

import (
	"context"
	"runtime"
	"sync"
	"unsafe"

	"cshub/internal/export/record"
	"cshub/internal/hub"
	"cshub/internal/prefault"
	"cshub/internal/seal"
)

// SealedExportRecords reads into page the export records (package export/record) of up to
// limit indicator and sighting versions stored after Seq after, as stored, in Seq order, as
// the hub sees them: the caller opens them with OpenExportRecords and filters them by package
// access. Versions stored without their record (before records existed, restored from a
// backup, stored around the Service) get it first, from their objects, once. Reading and
// opening are apart so that a caller reading many pages reads the next while it opens the
// last: reading is one core's work, opening every core's.
func (s *Service) SealedExportRecords(ctx context.Context, after int64, limit int, page *hub.RecordPage) error {
	for {
		missing, err := s.store.ExportRecords(ctx, after, limit, page)
		if err != nil {
			return err
		}
		if missing <= after {
			return nil
		}
		if err := s.backfill(ctx, missing); err != nil {
			return err
		}
	}
}

// OpenExportRecords opens and decodes recs, which SealedExportRecords returned, on every core.
// Each core opens its share into one buffer and decodes from one string of it: allocating per
// record, a million records cost more in allocation and collection than in decryption.
// The string shares the buffer's memory, which nothing writes once it is full: copying it
// doubled the memory a cold export allocated for records, and on a busy machine fresh memory
// costs more than decoding into it.
func (s *Service) OpenExportRecords(recs []hub.ExportRecord) ([]record.Record, error) {
	out := make([]record.Record, len(recs))
	prefault.Slice(out)
	if err := shareOut(len(recs), func(w, step int) error { return s.openShare(recs, out, w, step) }); err != nil {
		return nil, err
	}
	return out, nil
}

// shareOut calls share(w, step) on every core, w = 0, 1, …, step-1, for n items that worker w
// takes as w, w+step, …, and returns the first error: opening sealed values is a core's work
// each, and a few dozen are not worth a goroutine.
func shareOut(n int, share func(w, step int) error) error {
	workers := min(runtime.GOMAXPROCS(0), max(n/64, 1))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { errs[w] = share(w, workers) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// openShare opens recs[w], recs[w+step], … into the same places of out.
func (s *Service) openShare(recs []hub.ExportRecord, out []record.Record, w, step int) error {
	size := 0
	for i := w; i < len(recs); i += step {
		// The plaintexts' length exactly: the buffer is touched whole before it is filled,
		// and a sealed value's overhead is a seventh of an export record.
		size += max(len(recs[i].Sealed)-seal.Overhead, 0)
	}
	buf := make([]byte, 0, size)
	prefault.Slice(buf)
	ends := make([]int, 0, len(recs)/step+1)
	for i := w; i < len(recs); i += step {
		var err error
		if buf, err = s.sealer.DecryptAppend(buf, seal.ExportLocation(recs[i].Workspace), recs[i].Sealed); err != nil {
			return err
		}
		ends = append(ends, len(buf))
	}
	plain, start := unsafe.String(unsafe.SliceData(buf), len(buf)), 0
	for k, i := 0, w; i < len(recs); k, i = k+1, i+step {
		r := &recs[i]
		if err := out[i].Unmarshal(r.Seq, r.Workspace, plain[start:ends[k]]); err != nil {
			return err
		}
		start = ends[k]
	}
	return nil
}

// backfillPage is how many versions a backfill reads and writes at once.
const backfillPage = 1000

// backfill writes the export records of the versions stored up to Seq upto that lack one, from
// their objects, and then clears the mark that said they might.
func (s *Service) backfill(ctx context.Context, upto int64) error {
	f := hub.Filter{Viewer: hub.Viewer{System: true}, Types: hub.ExportedTypes(), AllVersions: true, NoTokens: true, Limit: backfillPage}
	for {
		objs, err := s.List(ctx, f)
		if err != nil {
			return err
		}
		recs := make([]hub.ExportRecord, 0, len(objs))
		done := len(objs) < f.Limit
		for _, o := range objs {
			if o.Seq > upto {
				done = true
				break
			}
			sealed, err := s.sealer.Encrypt(seal.ExportLocation(o.Workspace), record.Of(o, nil).Marshal())
			if err != nil {
				return err
			}
			recs = append(recs, hub.ExportRecord{Seq: o.Seq, Workspace: o.Workspace, Sealed: sealed})
		}
		filled := int64(0)
		if done {
			filled = upto
		}
		if err := s.store.PutExportRecords(ctx, recs, filled); err != nil || done {
			return err
		}
		f.AfterSeq = objs[len(objs)-1].Seq
	}
}
