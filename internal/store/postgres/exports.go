package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"cshub/internal/hub"
)

// copyRecords copies the export records of rows and raises the backfill mark past
// those that should have one and came without.
func copyRecords(ctx context.Context, tx pgx.Tx, rows []row) error {
	var recs [][]any
	var missing int64
	for _, r := range rows {
		switch {
		case !hub.Exported(r.o.Type):
		case len(r.o.Export) > 0:
			recs = append(recs, []any{r.seq, r.o.Workspace, r.o.Export})
		default:
			missing = max(missing, r.seq)
		}
	}
	if len(recs) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"export_records"}, []string{"seq", "workspace", "record"}, pgx.CopyFromRows(recs)); err != nil {
			return mapErr(err, "copy export records")
		}
	}
	if missing == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE export_backfill SET upto = GREATEST(upto, $1) WHERE id = 1`, missing)
	return mapErr(err, "raise export backfill mark")
}

// ExportRecords reads into page the export records stored after seq after; see
// hub.ObjectStore.
func (db *DB) ExportRecords(ctx context.Context, after int64, limit int, page *hub.RecordPage) (int64, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	page.Reset(limit)
	// One snapshot for the mark and the records.
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, mapErr(err, "begin read")
	}
	defer tx.Rollback(context.Background())
	var missing int64
	if err := tx.QueryRow(ctx, `SELECT upto FROM export_backfill WHERE id = 1`).Scan(&missing); err != nil {
		return 0, mapErr(err, "read export backfill mark")
	}
	rows, err := tx.Query(ctx, `SELECT seq, workspace, record FROM export_records WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	if err != nil {
		return 0, mapErr(err, "list export records")
	}
	defer rows.Close()
	var seq int64
	for rows.Next() {
		if err := rows.Scan(&seq, nil, nil); err != nil {
			return 0, mapErr(err, "read export record")
		}
		raw := rows.RawValues() // workspace is text and record bytea: their wire bytes are their values
		page.Add(seq, raw[1], raw[2])
	}
	return missing, mapErr(rows.Err(), "list export records")
}

// PutExportRecords stores the records of versions that lack one; see hub.ObjectStore.
func (db *DB) PutExportRecords(ctx context.Context, recs []hub.ExportRecord, filled int64) error {
	seqs := make([]int64, len(recs))
	workspaces := make([]string, len(recs))
	sealed := make([][]byte, len(recs))
	for i, r := range recs {
		seqs[i], workspaces[i], sealed[i] = r.Seq, r.Workspace, r.Sealed
	}
	return db.write(ctx, func(tx pgx.Tx) error {
		// Only versions still stored: a deleted one would fail the foreign key.
		if _, err := tx.Exec(ctx, `INSERT INTO export_records (seq, workspace, record)
			SELECT v.seq, v.workspace, v.record FROM unnest($1::bigint[], $2::text[], $3::bytea[]) AS v (seq, workspace, record)
			WHERE v.seq IN (SELECT seq FROM objects) ON CONFLICT (seq) DO NOTHING`, seqs, workspaces, sealed); err != nil {
			return mapErr(err, "insert export records")
		}
		if filled <= 0 {
			return nil
		}
		_, err := tx.Exec(ctx, `UPDATE export_backfill SET upto = 0 WHERE id = 1 AND upto = $1`, filled)
		return mapErr(err, "clear export backfill mark")
	})
}

// ReplaceExportRecords swaps records where they still hold the expected value; see
// hub.ObjectStore and ReplaceBodies.
func (db *DB) ReplaceExportRecords(ctx context.Context, updates []hub.BodyUpdate) (int, error) {
	return db.replace(ctx, `
		UPDATE export_records r SET record = u.new
		FROM unnest($1::bigint[], $2::bytea[], $3::bytea[]) AS u(seq, old, new)
		WHERE r.seq = u.seq AND r.record = u.old`, updates)
}

// Bodies calls each with the sealed bodies of the versions of type typ in a Seq range; see
// hub.ObjectStore.
func (db *DB) Bodies(ctx context.Context, typ string, after, upto int64, each func(seq int64, sealed []byte) error) error {
	rows, err := db.pool.Query(ctx, `SELECT seq, body FROM objects WHERE type = $1 AND seq > $2 AND seq <= $3 ORDER BY seq`, typ, after, upto)
	if err != nil {
		return mapErr(err, "list bodies")
	}
	defer rows.Close()
	var seq int64
	for rows.Next() {
		if err := rows.Scan(&seq, nil); err != nil {
			return mapErr(err, "read body")
		}
		// body is bytea: its wire bytes are its value, valid until the next row.
		if err := each(seq, rows.RawValues()[1]); err != nil {
			return err
		}
	}
	return mapErr(rows.Err(), "list bodies")
}
