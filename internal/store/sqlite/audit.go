package sqlite

import (
	"context"
	"database/sql"

	"cshub/internal/hub"
)

// AppendAudit stores e if e.Seq is one more than the last stored entry's; EConflict when that
// seq is taken, EInvalid when e.Seq would leave a gap. The time is kept to the nanosecond, so
// the hash computed over it verifies after a round trip.
func (db *DB) AppendAudit(ctx context.Context, e *hub.AuditEntry) error {
	t, err := nanos("time", e.Time)
	if err != nil {
		return err
	}
	return db.write(ctx, func(tx *sql.Tx) error {
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit`).Scan(&last); err != nil {
			return mapErr(err, "read audit log")
		}
		switch {
		case e.Seq <= last:
			return hub.Errorf(hub.EConflict, "audit entry %d is taken: the log is at %d", e.Seq, last)
		case e.Seq != last+1:
			return hub.FieldError("seq", "audit entry %d would leave a gap after %d", e.Seq, last)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO audit (seq, time, org, actor, action, target, details, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.Seq, t, e.Org, e.Actor, e.Action, e.Target, e.Details, e.Prev, e.Hash)
		return mapErr(err, "append audit entry %d", e.Seq)
	})
}

const selectAudit = `SELECT seq, time, org, actor, action, target, details, prev, hash FROM audit`

func scanAudit(s interface{ Scan(...any) error }) (*hub.AuditEntry, error) {
	e := &hub.AuditEntry{}
	var t int64
	if err := s.Scan(&e.Seq, &t, &e.Org, &e.Actor, &e.Action, &e.Target, &e.Details, &e.Prev, &e.Hash); err != nil {
		return nil, err
	}
	e.Time = fromNanos(t)
	return e, nil
}

// LastAudit returns the newest entry, or ENotFound for an empty log.
func (db *DB) LastAudit(ctx context.Context) (*hub.AuditEntry, error) {
	e, err := scanAudit(db.r.QueryRowContext(ctx, selectAudit+` ORDER BY seq DESC LIMIT 1`))
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
	rows, err := db.r.QueryContext(ctx, selectAudit+` WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, mapErr(err, "list audit entries")
	}
	defer rows.Close()
	var out []*hub.AuditEntry
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, mapErr(err, "list audit entries")
		}
		out = append(out, e)
	}
	return out, mapErr(rows.Err(), "list audit entries")
}
