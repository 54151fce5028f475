package sqlite

import (
	"context"
	"database/sql"

	"cshub/internal/hub"
	"cshub/internal/store"
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

// ExportRecords returns the export records stored after seq after; see hub.ObjectStore.
func (db *DB) ExportRecords(ctx context.Context, after int64, limit int) ([]hub.ExportRecord, int64, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, mapErr(err, "begin read")
	}
	defer tx.Rollback() // one snapshot for the mark and the records
	var missing int64
	if err := tx.QueryRowContext(ctx, `SELECT upto FROM export_backfill WHERE id = 1`).Scan(&missing); err != nil {
		return nil, 0, mapErr(err, "read export backfill mark")
	}
	rows, err := tx.QueryContext(ctx, `SELECT seq, workspace, record FROM export_records WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, 0, mapErr(err, "list export records")
	}
	defer rows.Close()
	page := store.NewRecordPage(limit)
	var seq int64
	var ws, sealed sql.RawBytes // reused: Scan copies into them
	for rows.Next() {
		if err := rows.Scan(&seq, &ws, &sealed); err != nil {
			return nil, 0, mapErr(err, "read export record")
		}
		page.Add(seq, ws, sealed)
	}
	return page.Records(), missing, mapErr(rows.Err(), "list export records")
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
	rows, err := db.r.QueryContext(ctx, `SELECT seq, body FROM objects WHERE +type = ? AND seq > ? AND seq <= ? ORDER BY seq`, typ, after, upto)
	if err != nil {
		return mapErr(err, "list bodies")
	}
	defer rows.Close()
	var seq int64
	var sealed sql.RawBytes // the driver's buffer, valid until the next row
	for rows.Next() {
		if err := rows.Scan(&seq, &sealed); err != nil {
			return mapErr(err, "read body")
		}
		if err := each(seq, sealed); err != nil {
			return err
		}
	}
	return mapErr(rows.Err(), "list bodies")
}
