package kb

import (
	"context"

	"cshub/internal/export/record"
	"cshub/internal/prefault"
	"cshub/internal/seal"
)

// bodyChunk is the size of the buffers ExportBodies opens bodies into: a few hundred bodies;
// a larger body than one holds gets a buffer of its own.
const bodyChunk = 256 << 10

// ExportBodies returns the bodies, opened, of the indicator versions of recs, a page that
// OpenExportRecords returned, that open accepts: bodies[i] is the STIX JSON of recs[i], nil for a
// sighting, for a version open refuses and for one deleted since recs were read. It reads the sealed bodies of the page's Seq range, a
// scan of the store's rows without their metadata, recipients or tokens, and opens each as the
// store reads it, straight from the store's buffer into a few large ones of its own: copying
// a million sealed bodies out of the store to open them on every core cost more than it saved.
// The records name the versions the bodies are sealed for.
func (s *Service) ExportBodies(ctx context.Context, recs []record.Record, open func(*record.Record) bool) ([][]byte, error) {
	bodies := make([][]byte, len(recs))
	if len(recs) == 0 {
		return bodies, nil
	}
	var buf []byte
	i := 0
	err := s.store.Bodies(ctx, "indicator", recs[0].Object.Seq-1, recs[len(recs)-1].Object.Seq, func(seq int64, sealed []byte) error {
		// SealedExportRecords saw to it that no version of the range lacks its record, but a body
		// is opened only for the version it was sealed for.
		for i < len(recs) && recs[i].Object.Seq < seq {
			i++
		}
		if i == len(recs) || recs[i].Object.Seq != seq || !open(&recs[i]) {
			return nil
		}
		if len(sealed) > cap(buf)-len(buf) { // the plaintext is shorter
			buf = make([]byte, 0, max(bodyChunk, len(sealed)))
			prefault.Slice(buf)
		}
		// The buffer never grows, so the bodies opened before stay where they are.
		start, o := len(buf), recs[i].Object.Hub()
		var err error
		if buf, err = s.sealer.DecryptAppend(buf, seal.ObjectLocation(&o), sealed); err != nil {
			return err
		}
		bodies[i] = buf[start:len(buf):len(buf)]
		return nil
	})
	if err != nil {
		return nil, err
	}
	return bodies, nil
}
