package sqlite

import (
	"context"
	"database/sql"

	"cshub/internal/hub"
)

// insertRecords writes the export records of the inserted rows and raises the backfill mark
// past those that should have one and came without.
func insertRecords(ctx context.Context, tx *sql.Tx, rows []row, inserted map[int64]bool) error {
	var args []any
	var missing int64
	for _, r := range rows {
		switch {
		case !inserted[r.seq] || !hub.Exported(r.o.Type):
		case len(r.o.Export) > 0:
			args = append(args, r.seq, r.o.Workspace, r.o.Export)
		default:
			missing = max(missing, r.seq)
		}
	}
	if err := insertTriples(ctx, tx, "INSERT INTO export_records (seq, workspace, record) VALUES ", "", args); err != nil {
		return err
	}
	return raiseBackfill(ctx, tx, missing)
}

func raiseBackfill(ctx context.Context, tx *sql.Tx, missing int64) error {
	if missing == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE export_backfill SET upto = max(upto, ?) WHERE id = 1`, missing)
	return mapErr(err, "raise export backfill mark")
}

// insertTriples runs prefix followed by as many (?, ?, ?) as args holds triples, then suffix,
// in chunks.
func insertTriples(ctx context.Context, tx *sql.Tx, prefix, suffix string, args []any) error {
	const chunk = 500 // triples
	for start := 0; start < len(args); start += 3 * chunk {
		part := args[start:min(start+3*chunk, len(args))]
		b := []byte(prefix)
		for i := 0; i < len(part); i += 3 {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, "(?,?,?)"...)
		}
		if _, err := tx.ExecContext(ctx, string(b)+suffix, part...); err != nil {
			return mapErr(err, "insert export records")
		}
	}
	return nil
}

// ExportRecords reads into page the export records stored after seq after; see
// hub.ObjectStore. It reads on a scan connection (see scanPool), the mark and the records in
// one transaction.
func (db *DB) ExportRecords(ctx context.Context, after int64, limit int, page *hub.RecordPage) (int64, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	page.Reset(limit)
	missing := int64(-1)
	err := db.scans.scan(ctx, func(c *scanConn) error {
		if err := c.exec("BEGIN"); err != nil {
			return err
		}
		defer c.exec("ROLLBACK") // one snapshot for the mark and the records
		if err := c.query(ctx, `SELECT upto FROM export_backfill WHERE id = 1`, nil, func(r *scanRow) error {
			missing = r.int64(0)
			return nil
		}); err != nil {
			return mapErr(err, "read export backfill mark")
		}
		if missing < 0 {
			return hub.Errorf(hub.EIntegrity, "read export backfill mark: the database has none")
		}
		return mapErr(c.query(ctx, `SELECT seq, workspace, record FROM export_records WHERE seq > ? ORDER BY seq LIMIT ?`,
			[]any{after, int64(limit)}, func(r *scanRow) error {
				page.Add(r.int64(0), r.bytes(1), r.bytes(2)) // copies them
				return nil
			}), "list export records")
	})
	if err != nil {
		return 0, err
	}
	return missing, nil
}

// PutExportRecords stores the records of versions that lack one; see hub.ObjectStore.
func (db *DB) PutExportRecords(ctx context.Context, recs []hub.ExportRecord, filled int64) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		args := make([]any, 0, 3*len(recs))
		for _, r := range recs {
			args = append(args, r.Seq, r.Workspace, r.Sealed)
		}
		// Only versions still stored: a deleted one would fail the foreign key.
		if err := insertTriples(ctx, tx, "INSERT INTO export_records (seq, workspace, record) SELECT v.column1, v.column2, v.column3 FROM (VALUES ",
			") v WHERE v.column1 IN (SELECT seq FROM objects) ON CONFLICT (seq) DO NOTHING", args); err != nil {
			return err
		}
		if filled <= 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, `UPDATE export_backfill SET upto = 0 WHERE id = 1 AND upto = ?`, filled)
		return mapErr(err, "clear export backfill mark")
	})
}

// ReplaceExportRecords swaps records where they still hold the expected value; see
// hub.ObjectStore and ReplaceBodies.
func (db *DB) ReplaceExportRecords(ctx context.Context, updates []hub.BodyUpdate) (int, error) {
	return db.replace(ctx, `UPDATE export_records SET record = ? WHERE seq = ? AND record = ?`, updates)
}

// Bodies calls each with the sealed bodies of the versions of type typ in a Seq range; see
// hub.ObjectStore. It walks the table itself through the range rather than the (type, seq)
// index, which would cost a lookup of the table per row: the export that reads bodies pages
// through the range of its indicators, and the rows of other types between them are skipped
// without reading their bodies.
func (db *DB) Bodies(ctx context.Context, typ string, after, upto int64, each func(seq int64, sealed []byte) error) error {
	return db.scans.scan(ctx, func(c *scanConn) error {
		var eachErr error
		err := c.query(ctx, `SELECT seq, body FROM objects WHERE +type = ? AND seq > ? AND seq <= ? ORDER BY seq`,
			[]any{typ, after, upto}, func(r *scanRow) error {
				eachErr = each(r.int64(0), r.bytes(1)) // SQLite's buffer, valid until the next row
				return eachErr
			})
		if eachErr != nil {
			return eachErr
		}
		return mapErr(err, "list bodies")
	})
}
