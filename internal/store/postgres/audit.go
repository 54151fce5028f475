package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"cshub/internal/hub"
)

// AppendAudit stores e if e.Seq is one more than the last stored entry's; EConflict when that
// seq is taken (by a writer that committed first, or that commits first), EInvalid when e.Seq
// would leave a gap. The time is kept to the nanosecond.
func (db *DB) AppendAudit(ctx context.Context, e *hub.AuditEntry) error {
	return db.write(ctx, func(tx pgx.Tx) error {
		var last int64
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit`).Scan(&last); err != nil {
			return mapErr(err, "read audit log")
		}
		switch {
		case e.Seq <= last:
			return hub.Errorf(hub.EConflict, "audit entry %d is taken: the log is at %d", e.Seq, last)
		case e.Seq != last+1:
			return hub.FieldError("seq", "audit entry %d would leave a gap after %d", e.Seq, last)
		}
		_, err := tx.Exec(ctx, `INSERT INTO audit (seq, time, org, actor, action, target, details, prev, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			e.Seq, timeNanos(e.Time), e.Org, e.Actor, e.Action, e.Target, e.Details, e.Prev, e.Hash)
		return mapErr(err, "append audit entry %d", e.Seq)
	})
}

// timeNanos encodes an audit time; the zero time, which has no unix nanoseconds, is 0.
func timeNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

const selectAudit = `SELECT seq, time, org, actor, action, target, details, prev, hash FROM audit`

func scanAudit(s pgx.Row) (*hub.AuditEntry, error) {
	e := &hub.AuditEntry{}
	var t int64
	if err := s.Scan(&e.Seq, &t, &e.Org, &e.Actor, &e.Action, &e.Target, &e.Details, &e.Prev, &e.Hash); err != nil {
		return nil, err
	}
	if t != 0 {
		e.Time = time.Unix(0, t).UTC()
	}
	return e, nil
}

// LastAudit returns the newest entry, or ENotFound for an empty log.
func (db *DB) LastAudit(ctx context.Context) (*hub.AuditEntry, error) {
	e, err := scanAudit(db.pool.QueryRow(ctx, selectAudit+` ORDER BY seq DESC LIMIT 1`))
	if err != nil {
		return nil, mapErr(err, "last audit entry")
	}
	return e, nil
}

// AuditEntries returns up to limit entries (DefaultLimit when limit <= 0) after seq after.
func (db *DB) AuditEntries(ctx context.Context, after int64, limit int) ([]*hub.AuditEntry, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	return list(ctx, db, "list audit entries", scanAudit, selectAudit+` WHERE seq > $1 ORDER BY seq LIMIT $2`, after, int64(limit))
}
