package kb

import (
	"context"

	"cshub/internal/export/record"
	"cshub/internal/seal"
)

// ExportBodies returns the bodies, opened, of the indicator versions of recs, a page that
// ExportRecords returned: bodies[i] is the STIX JSON of recs[i], nil for a sighting and for a
// version deleted since recs were read. It reads the sealed bodies of the page's Seq range, a
// scan of the store's rows without their metadata, recipients or tokens, and opens them on
// every core, each core into one buffer: the records name the versions the bodies are sealed
// for.
func (s *Service) ExportBodies(ctx context.Context, recs []record.Record) ([][]byte, error) {
	bodies := make([][]byte, len(recs))
	if len(recs) == 0 {
		return bodies, nil
	}
	sealed, err := s.store.Bodies(ctx, "indicator", recs[0].Object.Seq-1, recs[len(recs)-1].Object.Seq)
	if err != nil {
		return nil, err
	}
	// of[k] is the index in recs of the version sealed[k] is the body of, -1 for none:
	// ExportRecords saw to it that no version of the range lacks its record, but a body is
	// opened only for the version it was sealed for.
	of := make([]int, len(sealed))
	i := 0
	for k, b := range sealed {
		for i < len(recs) && recs[i].Object.Seq < b.Seq {
			i++
		}
		of[k] = -1
		if i < len(recs) && recs[i].Object.Seq == b.Seq {
			of[k] = i
		}
	}
	err = shareOut(len(sealed), func(w, step int) error {
		size := 0
		for k := w; k < len(sealed); k += step {
			size += len(sealed[k].Sealed) // the plaintext is shorter
		}
		buf := make([]byte, 0, size)
		for k := w; k < len(sealed); k += step {
			if of[k] < 0 {
				continue
			}
			var err error
			start, o := len(buf), recs[of[k]].Object.Hub()
			if buf, err = s.sealer.DecryptAppend(buf, seal.ObjectLocation(&o), sealed[k].Sealed); err != nil {
				return err
			}
			bodies[of[k]] = buf[start:len(buf):len(buf)]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return bodies, nil
}
