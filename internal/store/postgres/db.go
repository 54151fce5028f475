// Package postgres is the hub.Store for replicas that scale out: PostgreSQL through pgx/v5 and
// pgxpool. The SQL sticks to standard types and statements so that it also runs on
// CockroachDB, except the temporary table PutObjects copies large batches into.
//
// The schema lives in the connection's search_path, so a URL carrying
// "search_path=myschema" keeps a store (or a test) in a schema of its own.
//
// Timestamps are timestamptz, which keeps microseconds: finer digits of a time given to the
// store are dropped (the conformance suite uses milliseconds, as STIX timestamps usually do).
// Audit times are the exception: int8 unix nanoseconds, so hashes over them verify after a
// round trip.
package postgres

import (
	"bufio"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"

	"cshub/internal/hub"
	"cshub/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a hub.Store in a PostgreSQL database. It is safe for concurrent use.
type DB struct {
	pool *pgxpool.Pool
	// added counts the object rows this store has added, and analysed what added was when it
	// last had PostgreSQL refresh its statistics (see analyzeAfterLoad).
	added, analysed atomic.Int64
}

var _ hub.Store = (*DB)(nil)

// Open connects to the database at url (a postgres:// URL or key=value string that pgx
// accepts; unknown parameters such as search_path are sent as run-time settings, and
// pool_max_conns sets the pool's size) and brings the schema up to date. It refuses a database
// whose schema is newer than this program knows.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, &hub.Error{Code: hub.EInvalid, Field: "url", Message: "not a PostgreSQL connection string", Err: err}
	}
	cfg.ConnConfig.BuildFrontend = bufferedFrontend
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, mapErr(err, "connect to PostgreSQL")
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, mapErr(err, "connect to PostgreSQL")
	}
	db := &DB{pool: pool}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// readBuffer is how much a connection reads from its socket at once.
const readBuffer = 256 << 10

// bufferedFrontend is pgx's protocol reader over a buffer of readBuffer bytes. pgx reads at
// most 8 KB at a time, the size of the server's send buffer, which is enough while the client
// keeps up with the server; a reader busy with what it reads (a cold export opens each row as
// it arrives) lets the socket fill, and then each 8 KB costs a system call. A cold misp export
// of a million indicators on the 2-core VM made 102 thousand reads without this buffer and 4.6
// thousand with it (counted under strace), and took a median 5.9 s without it and 5.5 s with it
// (eight runs each).
func bufferedFrontend(r io.Reader, w io.Writer) *pgproto3.Frontend {
	return pgproto3.NewFrontend(bufio.NewReaderSize(r, readBuffer), w)
}

// Close closes the pool, waiting for connections in use to be returned.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// migrate applies, each in its own transaction, the migrations newer than the recorded version.
// Two replicas migrating at once cannot both succeed: the second fails on the schema_version
// key and applies nothing, and opening again finds the schema current.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version integer PRIMARY KEY,
		applied timestamptz NOT NULL
	)`); err != nil {
		return mapErr(err, "create schema_version")
	}
	var cur int
	if err := db.pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&cur); err != nil {
		return mapErr(err, "read schema_version")
	}
	pending, err := store.Pending(migrations, "migrations", cur)
	if err != nil {
		return err
	}
	for _, m := range pending {
		err := db.write(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return mapErr(err, "migration %s", m.Name)
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_version (version, applied) VALUES ($1, now())`, m.Version)
			return mapErr(err, "record migration %s", m.Name)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// write runs fn in a transaction and commits it if fn returns nil.
func (db *DB) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return mapErr(err, "begin")
	}
	if err := fn(tx); err != nil {
		tx.Rollback(context.Background())
		return err
	}
	return mapErr(tx.Commit(ctx), "commit")
}

// mapErr turns a driver error into a *hub.Error: the one place where PostgreSQL's error codes
// meet the hub's. It keeps *hub.Error values as they are and wraps every other error with %w,
// so nothing is lost. A nil err gives nil.
func mapErr(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var he *hub.Error
	if errors.As(err, &he) {
		return err
	}
	msg := fmt.Sprintf(format, args...)
	code := hub.EInternal
	var pe *pgconn.PgError
	var ne net.Error
	var ce *pgconn.ConnectError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		code = hub.ENotFound
	case errors.As(err, &pe):
		switch {
		case pe.Code == "23505": // unique_violation
			code = hub.EConflict
		case pe.Code == "23503": // foreign_key_violation
			code = hub.EInvalid
			msg += ": it refers to an organisation, user or workspace that does not exist"
		case pe.Code == "40001" || pe.Code == "40P01": // serialization failure, deadlock: retry
			code = hub.EUnavailable
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "53"), strings.HasPrefix(pe.Code, "57P"):
			// connection exceptions, insufficient resources, operator intervention
			code = hub.EUnavailable
		}
	case errors.As(err, &ce), errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded):
		code = hub.EUnavailable
	}
	return &hub.Error{Code: code, Message: msg, Err: err}
}

// utc normalises a time read from PostgreSQL, which pgx gives in the local zone.
func utc(t time.Time) time.Time { return t.UTC() }

// analyzeEvery is how many added object rows make the store refresh the planner's statistics
// the first time.
const analyzeEvery = 50_000

// analyzeAfterLoad refreshes the planner's statistics of the object tables once analyzeEvery
// rows have been added, and again each time the rows added have doubled since. Autovacuum does
// this on its own schedule, or not at all where it is switched off; until it runs, statements
// are planned for an empty table (a plan that sorted the whole table per batch once made ingest
// fall from 6,300 objects/s to 700 at 350,000 rows). Later refreshes matter less: the planner
// scales stale row counts to the table's current size and reads the ends of an indexed range
// from the index. Doubling keeps their cost, each one sampling every table, to a share of the
// load that shrinks as it grows, where a fixed interval had a 1,000,000-object load analyse 20
// times. A failure is not the caller's: the load succeeded, and the next one tries again.
func (db *DB) analyzeAfterLoad(ctx context.Context, added int) {
	total := db.added.Add(int64(added))
	last := db.analysed.Load()
	if total < max(analyzeEvery, 2*last) || !db.analysed.CompareAndSwap(last, total) {
		return
	}
	if _, err := db.pool.Exec(ctx, `ANALYZE objects, object_tokens, object_recipients`); err != nil {
		db.analysed.CompareAndSwap(total, last)
	}
}

// nullTime stores the zero time, "none", as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// now is the one timestamp of a transaction that is not given by the caller, at the precision
// the database keeps.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
