package sqlite

import (
	"context"
	"fmt"
	"sync"
	"unsafe"

	"cshub/internal/hub"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// A cold export reads the export record of every version in the store and, for the stix and
// misp formats, the body of every indicator: a million rows of each. Through database/sql a
// row cost several times what SQLite spends on it: the driver copies each blob into a fresh
// allocation before Scan sees it, boxes every column and locks the connection for each call
// into SQLite; and a million copies, garbage at once, made the heap grow, which the export then
// paid for in page faults. So these two scans run SQLite's C API (the library the driver
// wraps) on read-only connections of their own, and hand each blob out where SQLite holds it,
// valid until the next row. The records of a million versions read in 0.52 s instead of 1.53
// (0.67 CPU-s instead of 1.86), records and bodies in 1.51 s instead of 3.16
// (BenchmarkExportCold's record-scan, package bench).

// scanPoolSize is how many scan connections a DB opens at most: a cold export reads its
// records on one and bodies on two more (package export's bodyReaders).
const scanPoolSize = 4

// scanPool lends out read-only connections for scans, opened on first use and kept until Close.
type scanPool struct {
	path  string
	slots chan struct{} // a token per connection that may be lent out

	mu     sync.Mutex
	idle   []*scanConn // guarded by mu
	closed bool        // guarded by mu
}

func newScanPool(path string) *scanPool {
	p := &scanPool{path: path, slots: make(chan struct{}, scanPoolSize)}
	for range scanPoolSize {
		p.slots <- struct{}{}
	}
	return p
}

// scan runs f on a connection of the pool, waiting for one while all are lent out.
func (p *scanPool) scan(ctx context.Context, f func(c *scanConn) error) error {
	select {
	case <-p.slots:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { p.slots <- struct{}{} }()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return hub.Errorf(hub.EUnavailable, "the store is closed")
	}
	var c *scanConn
	if n := len(p.idle); n > 0 {
		c, p.idle = p.idle[n-1], p.idle[:n-1]
	}
	p.mu.Unlock()
	if c == nil {
		var err error
		if c, err = openScan(p.path); err != nil {
			return err
		}
	}
	err := f(c)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.close()
	} else {
		p.idle = append(p.idle, c)
	}
	return err
}

// close closes the idle connections; those lent out close when they come back.
func (p *scanPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, c := range p.idle {
		c.close()
	}
	p.idle = nil
}

// scanConn is one read-only SQLite connection, used by one goroutine at a time.
type scanConn struct {
	tls *libc.TLS
	db  uintptr // sqlite3*
}

func openScan(path string) (*scanConn, error) {
	c := &scanConn{tls: libc.NewTLS()}
	if rc, err := c.open(path); err != nil || rc != sqlite3.SQLITE_OK {
		if err == nil {
			err = c.err(rc, "open %s for a scan", path)
		}
		c.close()
		return nil, err
	}
	sqlite3.Xsqlite3_busy_timeout(c.tls, c.db, 10000)
	// Unlike the read pool (see Open), a scan copies pages into SQLite's cache rather than map
	// the file: a scan connection reuses its cache from page to page, where each page of a
	// mapping faults in on its first read. Reading a million records cost 0.5-0.6 CPU-s
	// instead of 0.7-0.8, with their bodies 0.9-1.1 instead of 1.6-1.7.
	if err := c.exec("PRAGMA mmap_size = 0"); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// open opens the database at path read-only, setting c.db even when it fails: SQLite may give
// a handle that holds the error.
func (c *scanConn) open(path string) (int32, error) {
	cpath, err := libc.CString(path)
	if err != nil {
		return 0, hub.Errorf(hub.EInternal, "open %s for a scan: %v", path, err)
	}
	defer libc.Xfree(c.tls, cpath)
	pdb := c.tls.Alloc(int(unsafe.Sizeof(uintptr(0))))
	defer c.tls.Free(int(unsafe.Sizeof(uintptr(0))))
	// NOMUTEX: a scanConn is never shared between goroutines, so SQLite need not lock it.
	rc := sqlite3.Xsqlite3_open_v2(c.tls, cpath, pdb, sqlite3.SQLITE_OPEN_READONLY|sqlite3.SQLITE_OPEN_NOMUTEX, 0)
	c.db = *(*uintptr)(cPointer(pdb))
	return rc, nil
}

func (c *scanConn) close() {
	if c.db != 0 {
		sqlite3.Xsqlite3_close_v2(c.tls, c.db)
	}
	c.tls.Close()
}

// err returns the error SQLite reports for rc, as mapErr would: EUnavailable when the file
// is locked, EInternal otherwise.
func (c *scanConn) err(rc int32, format string, args ...any) error {
	msg := libc.GoString(sqlite3.Xsqlite3_errstr(c.tls, rc))
	if c.db != 0 {
		msg = libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db))
	}
	code := hub.EInternal
	switch rc & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		code = hub.EUnavailable
	}
	return &hub.Error{Code: code, Message: fmt.Sprintf(format, args...), Err: fmt.Errorf("sqlite: %s (%d)", msg, rc)}
}

// exec runs a statement that returns no rows.
func (c *scanConn) exec(q string) error {
	return c.query(context.Background(), q, nil, func(*scanRow) error { return nil })
}

// scanCheckEvery is how many rows a scan reads between looks at its context.
const scanCheckEvery = 1024

// query runs q with args (int64 or string) bound to its parameters, in order, and calls each
// for every row, until each returns an error, ctx is done or the rows end.
func (c *scanConn) query(ctx context.Context, q string, args []any, each func(*scanRow) error) error {
	cq, err := libc.CString(q)
	if err != nil {
		return hub.Errorf(hub.EInternal, "scan: %v", err)
	}
	defer libc.Xfree(c.tls, cq)
	pstmt := c.tls.Alloc(int(unsafe.Sizeof(uintptr(0))))
	rc := sqlite3.Xsqlite3_prepare_v2(c.tls, c.db, cq, -1, pstmt, 0)
	r := scanRow{c: c, stmt: *(*uintptr)(cPointer(pstmt))}
	c.tls.Free(int(unsafe.Sizeof(uintptr(0))))
	if rc != sqlite3.SQLITE_OK {
		return c.err(rc, "prepare %q", q)
	}
	var texts []uintptr // bound in place: freed once the statement is
	defer func() {
		sqlite3.Xsqlite3_finalize(c.tls, r.stmt)
		for _, p := range texts {
			libc.Xfree(c.tls, p)
		}
	}()
	for i, a := range args {
		switch a := a.(type) {
		case int64:
			rc = sqlite3.Xsqlite3_bind_int64(c.tls, r.stmt, int32(i+1), a)
		case string:
			p, err := libc.CString(a)
			if err != nil {
				return hub.Errorf(hub.EInternal, "scan: %v", err)
			}
			texts = append(texts, p)
			rc = sqlite3.Xsqlite3_bind_text(c.tls, r.stmt, int32(i+1), p, int32(len(a)), 0)
		default:
			return hub.Errorf(hub.EInternal, "scan: cannot bind a %T", a)
		}
		if rc != sqlite3.SQLITE_OK {
			return c.err(rc, "bind %q", q)
		}
	}
	for n := 0; ; n++ {
		if n%scanCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		switch rc = sqlite3.Xsqlite3_step(c.tls, r.stmt); rc {
		case sqlite3.SQLITE_ROW:
			if err := each(&r); err != nil {
				return err
			}
		case sqlite3.SQLITE_DONE:
			return nil
		default:
			return c.err(rc, "step %q", q)
		}
	}
}

// scanRow is the current row of a query.
type scanRow struct {
	c    *scanConn
	stmt uintptr // sqlite3_stmt*
}

func (r *scanRow) int64(col int) int64 {
	return sqlite3.Xsqlite3_column_int64(r.c.tls, r.stmt, int32(col))
}

// bytes returns the value of column col as SQLite holds it: valid until the next row, and
// never to be written.
func (r *scanRow) bytes(col int) []byte {
	p := sqlite3.Xsqlite3_column_blob(r.c.tls, r.stmt, int32(col))
	n := sqlite3.Xsqlite3_column_bytes(r.c.tls, r.stmt, int32(col))
	if p == 0 || n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(cPointer(p)), n)
}

// cPointer returns the address p, which SQLite handed out, as a pointer. Such memory is the C
// library's own, outside Go's heap, which is why an address of it may live in a uintptr.
func cPointer(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }
