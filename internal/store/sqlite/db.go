// Package sqlite is the embedded hub.Store: one SQLite file through modernc.org/sqlite (pure Go,
// no cgo).
//
// Every pooled connection gets its settings from the connection string: WAL journal, foreign
// keys, a busy timeout, synchronous=NORMAL and secure_delete. Writes go through a pool of
// exactly one connection, so writers queue in Go rather than spin on SQLITE_BUSY; reads go
// through a separate pool of read-only connections, which WAL lets run beside the writer, and
// a connection of its own copies the WAL into the database file (see checkpointer). The scans
// of a cold export run on read-only connections of their own, outside database/sql (see
// scanPool).
//
// Timestamps are stored as INTEGER unix nanoseconds in UTC: they sort as numbers and round-trip
// exactly. That limits them to the years 1678 to 2262; the zero time.Time is stored as the
// smallest INTEGER and read back as the zero time.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"cshub/internal/hub"
	"cshub/internal/store"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// writerCacheKiB is the page cache of the write connection: enough for the indexes of a few
// million objects; pages are only allocated as they are read.
const writerCacheKiB = 512 << 10

// walCheckpointBytes is how long the WAL grows before it is copied into the database: a page
// that successive commits change (index pages under random keys, the last page of each
// append-only index) is copied once per checkpoint, not once per commit, and the file is
// synced less often.
const walCheckpointBytes = 64 << 20

// writerCheckpointBytes is how long the WAL grows before the writer copies it itself, in its
// own commit: a backstop for a checkpointer that has fallen far behind, or for writes that do
// not tell it (see checkpointer.wrote). A large ingest commit alone may write some 250 MB
// (see kb's groupObjects), and the WAL holds two of them when the checkpoint of one has not
// ended before the next is written.
const writerCheckpointBytes = 8 * walCheckpointBytes

// pageSize is the page size of a new database. A commit writes each page it changed to the WAL
// as a frame of its own, two writes each, and an ingest commit changes pages of the version key
// and token indexes all over them: with pages four times the default, the committer of a
// 1M-object sync between two hubs spent 42 CPU-s instead of 50, its commits 3.5 instead of 7.6,
// and the checkpoints took half as long, for a little more in the inserts. A database keeps the
// page size it was created with: in WAL mode it cannot change.
const pageSize = 16 << 10

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a hub.Store kept in one SQLite file. It is safe for concurrent use.
type DB struct {
	w     *sql.DB // exactly one connection: all writes, serialized
	r     *sql.DB // read-only connections
	scans *scanPool
	ckpt  *checkpointer
}

var _ hub.Store = (*DB)(nil)

// Open opens the SQLite database at path, creating it if needed, and brings its schema up to
// date. It refuses a database whose schema is newer than this program knows.
func Open(path string) (*DB, error) {
	if path == "" {
		return nil, hub.FieldError("path", "the SQLite database path is empty")
	}
	page, err := create(path)
	if err != nil {
		return nil, err
	}
	pragmas := []string{
		"busy_timeout(10000)",
		"journal_mode(WAL)",
		"foreign_keys(1)",
		"synchronous(NORMAL)",
		"temp_store(MEMORY)",
		"cache_size(-32000)", // 32 MB: bulk inserts touch many index pages
		// Deleted content is overwritten with zeros, not left in free pages: above all the old
		// keyring blob after a workspace's keys were destroyed (crypto-shredding).
		"secure_delete(1)",
	}
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	wq := url.Values{}
	for k, v := range q {
		wq[k] = v
	}
	// IMMEDIATE takes the write lock at BEGIN, so a transaction never fails half-way when it
	// upgrades from reading to writing.
	wq.Set("_txlock", "immediate")
	// The writer's cache is the only one that survives commits (readers drop theirs when the
	// file changes), and every ingested object lands on random pages of the version key and
	// blind-index token indexes: kept cached, those pages are not read back from disk batch
	// after batch once the indexes outgrow a small cache.
	wq["_pragma"] = append(slices.DeleteFunc(slices.Clone(wq["_pragma"]), func(p string) bool {
		return strings.HasPrefix(p, "cache_size")
	}), fmt.Sprintf("cache_size(%d)", -writerCacheKiB), fmt.Sprintf("wal_autocheckpoint(%d)", writerCheckpointBytes/page))
	w, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return nil, mapErr(err, "open %s", path)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)

	c, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		w.Close()
		return nil, mapErr(err, "open %s", path)
	}
	db := &DB{w: w, ckpt: newCheckpointer(c, walCheckpointBytes/page)}
	if err := db.migrate(context.Background()); err != nil {
		db.ckpt.close()
		w.Close()
		return nil, err
	}

	rq := url.Values{}
	for k, v := range q {
		rq[k] = v
	}
	rq.Set("_query_only", "1")
	// Readers map the file rather than copy each page into a cache of their own: a scan of a
	// large table through database/sql (TAXII paging, an index build) cost a third as much CPU,
	// most of which modernc's page cache spent allocating pages and, on Close, giving them back
	// (measured on the export records, which a cold export now reads on scan connections, whose
	// cache lives as long as the store: see openScan).
	rq.Add("_pragma", "mmap_size(2147418112)")
	r, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, mapErr(err, "open %s", path)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	db.r = r
	db.scans = newScanPool(path)
	if err := r.PingContext(context.Background()); err != nil {
		db.Close()
		return nil, mapErr(err, "open %s", path)
	}
	return db, nil
}

// create makes the database at path with pageSize pages, unless it exists, and returns the
// page size of the database there. A page_size pragma among Open's does not take: by then the
// driver has put the file in WAL mode.
func create(path string) (int, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			return 0, mapErr(err, "create %s", path)
		}
		_, err = db.Exec(fmt.Sprintf("PRAGMA page_size = %d", pageSize))
		if err == nil {
			_, err = db.Exec("PRAGMA journal_mode = WAL") // writes the header, and the page size with it
		}
		db.Close()
		if err != nil {
			return 0, mapErr(err, "create %s", path)
		}
	} else if err != nil {
		return 0, mapErr(err, "open %s", path)
	}
	return filePageSize(path)
}

// filePageSize reads the page size from the header of the database file at path; an empty
// file is a database still to be written, which SQLite gives its default size.
func filePageSize(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, mapErr(err, "open %s", path)
	}
	defer f.Close()
	h := make([]byte, 18)
	if _, err := f.ReadAt(h, 0); errors.Is(err, io.EOF) {
		return 4096, nil
	} else if err != nil {
		return 0, mapErr(err, "read header of %s", path)
	}
	switch n := int(h[16])<<8 | int(h[17]); {
	case n == 1:
		return 65536, nil // stored as 1: it does not fit in two bytes
	case n >= 512 && n&(n-1) == 0:
		return n, nil
	}
	return 4096, nil // not a database: opening it fails with SQLite's own error
}

// Close stops the checkpointer and closes the pools; the last connection to close copies what
// is left of the WAL into the database.
func (db *DB) Close() error {
	var errs []error
	if db.scans != nil {
		db.scans.close()
	}
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	errs = append(errs, db.ckpt.close(), db.w.Close())
	return errors.Join(errs...)
}

// Check runs PRAGMA integrity_check and returns an EIntegrity error listing what it found, or
// nil for a sound file.
func (db *DB) Check(ctx context.Context) error {
	rows, err := db.r.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return mapErr(err, "integrity check")
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return mapErr(err, "integrity check")
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return mapErr(err, "integrity check")
	}
	if len(problems) > 0 {
		return hub.Errorf(hub.EIntegrity, "SQLite integrity check failed: %s", strings.Join(problems, "; "))
	}
	return nil
}

// migrate applies, each in its own transaction, the migrations newer than the recorded version.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version INTEGER PRIMARY KEY,
		applied INTEGER NOT NULL
	)`); err != nil {
		return mapErr(err, "create schema_version")
	}
	var cur int
	if err := db.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&cur); err != nil {
		return mapErr(err, "read schema_version")
	}
	pending, err := store.Pending(migrations, "migrations", cur)
	if err != nil {
		return err
	}
	for _, m := range pending {
		err := db.write(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return mapErr(err, "migration %s", m.Name)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, applied) VALUES (?, ?)`, m.Version, time.Now().UnixNano())
			return mapErr(err, "record migration %s", m.Name)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// write runs fn in a write transaction and commits it if fn returns nil.
func (db *DB) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return mapErr(err, "begin")
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err, "begin")
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return mapErr(err, "commit")
	}
	db.ckpt.wrote(conn)
	return nil
}

// mapErr turns a driver error into a *hub.Error: the one place where SQLite's codes meet the
// hub's. It keeps *hub.Error values as they are and wraps every other error with %w, so nothing
// is lost. A nil err gives nil.
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
	var se *sqlite.Error
	switch {
	case errors.Is(err, sql.ErrNoRows):
		code = hub.ENotFound
	case errors.Is(err, context.DeadlineExceeded):
		code = hub.EUnavailable
	case errors.As(err, &se):
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			code = hub.EConflict
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			code = hub.EInvalid
			msg += ": it refers to an organisation, user or workspace that does not exist"
		default:
			switch se.Code() & 0xff {
			case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
				code = hub.EUnavailable
			}
		}
	}
	return &hub.Error{Code: code, Message: msg, Err: err}
}

// Time encoding: see the package comment.

const zeroNanos = math.MinInt64

var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

// nanos encodes t, or fails with an EInvalid error naming field when t cannot be stored.
func nanos(field string, t time.Time) (int64, error) {
	if t.IsZero() {
		return zeroNanos, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return 0, hub.FieldError(field, "%s is outside the years 1678 to 2262 that the store can keep", t.Format(time.RFC3339))
	}
	return t.UnixNano(), nil
}

func fromNanos(n int64) time.Time {
	if n == zeroNanos {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func nullNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromNanos(n.Int64)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// now is the one timestamp of a transaction that is not given by the caller.
func now() time.Time { return time.Now().UTC() }
