// Package limits keeps login rate limits in PostgreSQL, so that every `cshub serve` replica on
// one database counts the same failures and locks a key out together. Its Limiter implements
// auth.Limiter with the semantics of auth.Throttle.
//
// Each call is one statement: Fail is a single INSERT ... ON CONFLICT DO UPDATE, which
// PostgreSQL applies atomically per key even when replicas fail the same key at once, so no
// failure is lost and no lock-out is skipped. Times are stored as int8 unix nanoseconds, so the
// database keeps exactly the instants the callers pass.
package limits

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"cshub/internal/hub"
)

// Policy is when a key is locked out: Max failures within Window lock it for Backoff, doubled
// at each further lock-out that follows without a Reset, up to MaxBackoff. The failure count
// starts afresh after each lock-out and after Window passes without one. Zero fields take
// auth.Throttle's defaults: Max 5, Window 15 minutes, Backoff 1 minute, MaxBackoff 1 hour.
type Policy struct {
	Max        int
	Window     time.Duration
	Backoff    time.Duration
	MaxBackoff time.Duration
}

func (p Policy) withDefaults() Policy {
	if p.Max <= 0 {
		p.Max = 5
	}
	if p.Window <= 0 {
		p.Window = 15 * time.Minute
	}
	if p.Backoff <= 0 {
		p.Backoff = time.Minute
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = time.Hour
	}
	p.MaxBackoff = max(p.MaxBackoff, p.Backoff)
	return p
}

// Limiter is an auth.Limiter whose counts live in the table login_limits of a PostgreSQL
// database (in the connection's search_path), under a scope that keeps, say, user names apart
// from client addresses. Limiters with the same scope and policy on the same database behave
// as one. It is safe for concurrent use.
//
// Rows of keys that are not locked and have not failed for longer than both Window and
// MaxBackoff are deleted now and then by Fail, so the table holds the keys that failed
// recently; unlike auth.Throttle it has no cap on their number, the disk being the limit.
type Limiter struct {
	pool   *pgxpool.Pool
	scope  string
	policy Policy
	owned  bool         // Close closes pool
	ops    atomic.Int64 // Fail calls, to sweep every sweepEvery of them
}

// sweepEvery is how many Fail calls of one Limiter pass between sweeps of stale rows.
const sweepEvery = 1024

const createTable = `CREATE TABLE IF NOT EXISTS login_limits (
	scope    text    NOT NULL,
	key      text    NOT NULL,
	failures integer NOT NULL, -- within the window starting at first
	first    bigint  NOT NULL, -- unix ns: start of the current window
	last     bigint  NOT NULL, -- unix ns: latest failure
	locked   bigint  NOT NULL, -- unix ns: attempts are refused before this
	lockouts integer NOT NULL, -- lock-outs since the last reset
	PRIMARY KEY (scope, key)
)`

// Open connects to the PostgreSQL database at url (a postgres:// URL or key=value string that
// pgx accepts) and returns a Limiter on it, creating its table when missing. Close releases
// the connections.
func Open(ctx context.Context, url, scope string, p Policy) (*Limiter, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, &hub.Error{Code: hub.EInvalid, Field: "url", Message: "not a PostgreSQL connection string", Err: err}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, &hub.Error{Code: hub.EUnavailable, Message: "connect to PostgreSQL", Err: err}
	}
	l, err := New(ctx, pool, scope, p)
	if err != nil {
		pool.Close()
		return nil, err
	}
	l.owned = true
	return l, nil
}

// New returns a Limiter on pool, which the caller keeps and closes, creating its table when
// missing. Creating it is idempotent, so every replica may call New at start.
func New(ctx context.Context, pool *pgxpool.Pool, scope string, p Policy) (*Limiter, error) {
	if scope == "" {
		return nil, hub.FieldError("scope", "a limiter needs a scope, such as \"user\" or \"address\"")
	}
	if _, err := pool.Exec(ctx, createTable); err != nil {
		return nil, dbErr(err, "create login_limits")
	}
	return &Limiter{pool: pool, scope: scope, policy: p.withDefaults()}, nil
}

// WithScope returns a Limiter with another scope and policy on l's connections and table, such
// as one for client addresses beside one for user names. It stops working when l is closed.
func (l *Limiter) WithScope(scope string, p Policy) (*Limiter, error) {
	if scope == "" {
		return nil, hub.FieldError("scope", "a limiter needs a scope, such as \"user\" or \"address\"")
	}
	return &Limiter{pool: l.pool, scope: scope, policy: p.withDefaults()}, nil
}

// Close closes the connections when Open made them; a Limiter from New leaves its pool alone.
func (l *Limiter) Close() {
	if l.owned {
		l.pool.Close()
	}
}

// Check returns nil when an attempt on key may proceed at now, or an ERateLimited *hub.Error
// saying when to try again, as auth.Throttle does.
func (l *Limiter) Check(ctx context.Context, key string, now time.Time) error {
	var locked int64
	err := l.pool.QueryRow(ctx, `SELECT COALESCE(MAX(locked), 0) FROM login_limits WHERE scope = $1 AND key = $2`,
		l.scope, key).Scan(&locked)
	if err != nil {
		return dbErr(err, "check login limit")
	}
	at := now.UnixNano()
	if at >= locked {
		return nil
	}
	wait := time.Duration(locked - at).Round(time.Second)
	if wait < time.Second {
		wait = time.Second
	}
	return hub.Errorf(hub.ERateLimited, "too many failed attempts; try again in %v", wait)
}

// failSQL records one failure in one statement. A new key starts a window with one failure,
// locked at once when Max is 1. On a known key, the right-hand sides of SET all read the row as
// it was, so each is written out in full: the window restarts when it has passed, and when the
// count reaches Max the key is locked for Backoff·2^lockouts (computed in numeric, capped at
// MaxBackoff), the count starts afresh and lockouts goes up by one.
//
// $1 scope, $2 key, $3 now, $4 Max, $5 Window, $6 Backoff, $7 MaxBackoff; durations in ns.
const failSQL = `
INSERT INTO login_limits AS t (scope, key, failures, first, last, locked, lockouts)
VALUES ($1, $2,
	CASE WHEN $4::integer <= 1 THEN 0 ELSE 1 END,
	$3::bigint, $3::bigint,
	CASE WHEN $4::integer <= 1 THEN $3::bigint + $6::bigint ELSE 0 END,
	CASE WHEN $4::integer <= 1 THEN 1 ELSE 0 END)
ON CONFLICT (scope, key) DO UPDATE SET
	failures = CASE
		WHEN (CASE WHEN $3::bigint - t.first > $5::bigint THEN 1 ELSE t.failures + 1 END) >= $4::integer THEN 0
		ELSE (CASE WHEN $3::bigint - t.first > $5::bigint THEN 1 ELSE t.failures + 1 END) END,
	first = CASE
		WHEN $3::bigint - t.first > $5::bigint OR t.failures + 1 >= $4::integer THEN $3::bigint
		ELSE t.first END,
	last = $3::bigint,
	locked = CASE
		WHEN (CASE WHEN $3::bigint - t.first > $5::bigint THEN 1 ELSE t.failures + 1 END) >= $4::integer
		THEN $3::bigint + LEAST($7::bigint::numeric, $6::bigint::numeric * power(2::numeric, LEAST(t.lockouts, 200)))::bigint
		ELSE t.locked END,
	lockouts = CASE
		WHEN (CASE WHEN $3::bigint - t.first > $5::bigint THEN 1 ELSE t.failures + 1 END) >= $4::integer THEN t.lockouts + 1
		ELSE t.lockouts END`

// Fail records a failed attempt on key at now.
func (l *Limiter) Fail(ctx context.Context, key string, now time.Time) error {
	p := l.policy
	at := now.UnixNano()
	if l.ops.Add(1)%sweepEvery == 0 {
		if err := l.sweep(ctx, at); err != nil {
			return err
		}
	}
	_, err := l.pool.Exec(ctx, failSQL, l.scope, key, at, p.Max, int64(p.Window), int64(p.Backoff), int64(p.MaxBackoff))
	return dbErr(err, "record failed login")
}

// Reset forgets key's failures and lock-outs, after a successful login.
func (l *Limiter) Reset(ctx context.Context, key string) error {
	_, err := l.pool.Exec(ctx, `DELETE FROM login_limits WHERE scope = $1 AND key = $2`, l.scope, key)
	return dbErr(err, "reset login limit")
}

// sweep deletes the rows that are unlocked at now and whose last failure is older than both the
// window and the longest back-off, so that forgetting them changes nothing but the doubling.
func (l *Limiter) sweep(ctx context.Context, at int64) error {
	keep := int64(max(l.policy.Window, l.policy.MaxBackoff))
	_, err := l.pool.Exec(ctx, `DELETE FROM login_limits WHERE scope = $1 AND locked <= $2 AND last < $3`,
		l.scope, at, at-keep)
	return dbErr(err, "sweep login limits")
}

// Len returns how many keys of l's scope the table holds.
func (l *Limiter) Len(ctx context.Context) (int, error) {
	var n int
	err := l.pool.QueryRow(ctx, `SELECT count(*) FROM login_limits WHERE scope = $1`, l.scope).Scan(&n)
	return n, dbErr(err, "count login limits")
}

// dbErr wraps a database error as an unavailable *hub.Error: a limiter that cannot reach its
// database can decide nothing, and the caller should refuse the attempt rather than allow it.
func dbErr(err error, what string) error {
	if err == nil {
		return nil
	}
	return &hub.Error{Code: hub.EUnavailable, Message: fmt.Sprintf("limits: %s", what), Err: err}
}
