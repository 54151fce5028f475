package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"cshub/internal/hub"
	"cshub/internal/store"
)

// restoreChunk bounds the rows of one INSERT: 12 parameters a row stays below PostgreSQL's
// limit of 65,535 parameters a statement.
const restoreChunk = 1000

// RestoreObjects stores objs exactly as a backup recorded them, keeping each version's Seq and
// Added; see the method of the same name in package sqlite for the contract.
func (db *DB) RestoreObjects(ctx context.Context, objs []*hub.Object) error {
	rows, err := prepare(objs)
	if err != nil || len(rows) == 0 {
		return err
	}
	if len(rows) != len(objs) {
		return hub.FieldError("objects", "a version appears twice in one restore batch")
	}
	return db.write(ctx, func(tx pgx.Tx) error {
		last, err := lockSeq(ctx, tx)
		if err != nil {
			return err
		}
		prev := last
		for i := range rows {
			if s := rows[i].o.Seq; s <= prev {
				return hub.FieldError("seq", "object %s has seq %d, not above %d", rows[i].o.ID, s, prev)
			}
			rows[i].seq, prev = rows[i].o.Seq, rows[i].o.Seq
		}
		inserted := make(map[int64]bool, len(rows))
		for start := 0; start < len(rows); {
			end := start + 1
			for end < len(rows) && end-start < restoreChunk && rows[end].o.Added.Equal(rows[start].o.Added) {
				end++
			}
			added := rows[start].o.Added.UTC().Truncate(time.Microsecond)
			if err := valuesInsert(ctx, tx, rows[start:end], added, inserted); err != nil {
				return err
			}
			start = end
		}
		if len(inserted) != len(rows) {
			return hub.Errorf(hub.EConflict, "%d of %d restored versions are stored already", len(rows)-len(inserted), len(rows))
		}
		if err := copyExtras(ctx, tx, rows); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, fixLatestSQL, last); err != nil {
			return mapErr(err, "update latest versions")
		}
		_, err = tx.Exec(ctx, `UPDATE object_seq SET last = $1 WHERE id = 1`, prev)
		return mapErr(err, "update object seq")
	})
}

// RestoreUser stores u keeping its ID, which sealed values (the TOTP secret) are bound to, and
// moves the identity sequence past it so that users created later get fresh IDs; EConflict if
// the ID or username is taken.
func (db *DB) RestoreUser(ctx context.Context, u *hub.User) error {
	return db.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO users (id, org, username, role, password_hash, totp_secret, recovery_codes, sessions_after, active, created)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			u.ID, u.Org, u.Username, string(u.Role), u.PasswordHash, u.TOTPSecret, store.JoinHashes(u.RecoveryCodes), nullTime(u.SessionsAfter), u.Active, created(u.Created)); err != nil {
			return mapErr(err, "restore user %s", u.Username)
		}
		_, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('users', 'id'), GREATEST((SELECT MAX(id) FROM users), 1))`)
		return mapErr(err, "advance user ids")
	})
}
