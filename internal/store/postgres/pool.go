package postgres

import (
	"context"
	"errors"
	"runtime"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pool is a small pool of pgx connections with the few methods the store uses.
//
// pgxpool needs github.com/jackc/puddle/v2, which this module does not require yet; this pool
// stands in for it with the same method names, so that moving to pgxpool changes Open only.
type pool struct {
	cfg  *pgx.ConnConfig
	sem  chan struct{}  // one token per open connection, idle or in use
	idle chan *pgx.Conn // never holds more than sem's capacity, so sends never block
	mu   sync.Mutex     // guards closed against a release racing Close
	// closed is set by Close; released connections are then closed instead of kept.
	closed bool
}

var errPoolClosed = errors.New("postgres: the store is closed")

func newPool(cfg *pgx.ConnConfig, size int) *pool {
	if size <= 0 {
		size = max(4, runtime.GOMAXPROCS(0))
	}
	return &pool{cfg: cfg, sem: make(chan struct{}, size), idle: make(chan *pgx.Conn, size)}
}

// acquire returns an idle connection, or a new one while fewer than the pool's size are open,
// or the first one released.
func (p *pool) acquire(ctx context.Context) (*pgx.Conn, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, errPoolClosed
	}
	select {
	case c := <-p.idle:
		return c, nil
	default:
	}
	select {
	case c := <-p.idle:
		return c, nil
	case p.sem <- struct{}{}:
		c, err := pgx.ConnectConfig(ctx, p.cfg)
		if err != nil {
			<-p.sem
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// release returns c to the pool, or closes it when it is broken, still inside a transaction,
// or the pool is closed.
func (p *pool) release(c *pgx.Conn) {
	p.mu.Lock()
	if !p.closed && !c.IsClosed() && c.PgConn().TxStatus() == 'I' {
		p.idle <- c
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	c.Close(context.Background())
	<-p.sem
}

// Close closes the idle connections; those in use are closed as they are released.
func (p *pool) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	for {
		select {
		case c := <-p.idle:
			c.Close(context.Background())
			<-p.sem
		default:
			return
		}
	}
}

func (p *pool) Ping(ctx context.Context) error {
	c, err := p.acquire(ctx)
	if err != nil {
		return err
	}
	defer p.release(c)
	return c.Ping(ctx)
}

func (p *pool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c, err := p.acquire(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer p.release(c)
	return c.Exec(ctx, sql, args...)
}

// Query runs sql; the connection goes back to the pool when the rows are closed.
func (p *pool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := c.Query(ctx, sql, args...)
	if err != nil {
		p.release(c)
		return nil, err
	}
	return &poolRows{Rows: rows, release: func() { p.release(c) }}, nil
}

type poolRows struct {
	pgx.Rows
	once    sync.Once
	release func()
}

func (r *poolRows) Close() {
	r.Rows.Close()
	r.once.Do(r.release)
}

// QueryRow runs sql; the connection goes back to the pool when the row is scanned.
func (p *pool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := p.Query(ctx, sql, args...)
	if err != nil {
		return errRow{err}
	}
	return poolRow{rows}
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

type poolRow struct{ rows pgx.Rows }

func (r poolRow) Scan(dest ...any) error {
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// Begin starts a transaction; the connection goes back to the pool when it commits or rolls
// back.
func (p *pool) Begin(ctx context.Context) (pgx.Tx, error) {
	c, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := c.Begin(ctx)
	if err != nil {
		p.release(c)
		return nil, err
	}
	return &poolTx{Tx: tx, release: func() { p.release(c) }}, nil
}

type poolTx struct {
	pgx.Tx
	once    sync.Once
	release func()
}

func (t *poolTx) Commit(ctx context.Context) error {
	defer t.once.Do(t.release)
	return t.Tx.Commit(ctx)
}

func (t *poolTx) Rollback(ctx context.Context) error {
	defer t.once.Do(t.release)
	return t.Tx.Rollback(ctx)
}
