package sqlite

import (
	"context"
	"database/sql"

	"cshub/internal/hub"
	"cshub/internal/store"
)

// RestoreObjects stores objs exactly as a backup recorded them, keeping each version's Seq and
// Added, so that TAXII cursors, date_added filters and seq-based readers see the same history
// as in the hub the backup came from. It is for filling an empty store (package backup), not
// for ingest: objs must be in increasing Seq order, every Seq above any already stored, and a
// version already stored fails the whole call with EConflict. Either all of objs are stored or,
// with an error, none.
func (db *DB) RestoreObjects(ctx context.Context, objs []*hub.Object) error {
	rows, err := prepare(objs)
	if err != nil || len(rows) == 0 {
		return err
	}
	if len(rows) != len(objs) {
		return hub.FieldError("objects", "a version appears twice in one restore batch")
	}
	return db.write(ctx, func(tx *sql.Tx) error {
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT last FROM object_seq WHERE id = 1`).Scan(&last); err != nil {
			return mapErr(err, "read object seq")
		}
		prev := last
		for i := range rows {
			if s := rows[i].o.Seq; s <= prev {
				return hub.FieldError("seq", "object %s has seq %d, not above %d", rows[i].o.ID, s, prev)
			}
			rows[i].seq, prev = rows[i].o.Seq, rows[i].o.Seq
		}
		inserted := make(map[int64]bool, len(rows))
		// insertObjects writes one Added per call: one call per run of equal Added times, which
		// in a backup are whole ingest batches.
		for start := 0; start < len(rows); {
			end := start + 1
			for end < len(rows) && rows[end].o.Added.Equal(rows[start].o.Added) {
				end++
			}
			added, err := nanos("added", rows[start].o.Added)
			if err != nil {
				return err
			}
			if err := insertObjects(ctx, tx, rows[start:end], added, false, inserted); err != nil {
				return err
			}
			start = end
		}
		if err := insertExtras(ctx, tx, rows, inserted); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, fixLatestSQL, last); err != nil {
			return mapErr(err, "update latest versions")
		}
		_, err := tx.ExecContext(ctx, `UPDATE object_seq SET last = ? WHERE id = 1`, prev)
		return mapErr(err, "update object seq")
	})
}

// RestoreUser stores u keeping its ID, which sealed values (the TOTP secret) are bound to;
// EConflict if the ID or username is taken. It is for filling an empty store from a backup.
func (db *DB) RestoreUser(ctx context.Context, u *hub.User) error {
	c, err := nanos("created", u.Created)
	if err != nil {
		return err
	}
	after, err := nanos("sessions_after", u.SessionsAfter)
	if err != nil {
		return err
	}
	_, err = db.w.ExecContext(ctx, `INSERT INTO users (id, org, username, role, password_hash, totp_secret, recovery_codes, sessions_after, active, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Org, u.Username, string(u.Role), u.PasswordHash, u.TOTPSecret, store.JoinHashes(u.RecoveryCodes), after, boolInt(u.Active), c)
	return mapErr(err, "restore user %s", u.Username)
}
