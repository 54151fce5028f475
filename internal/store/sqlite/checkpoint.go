package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"

	sqlite "modernc.org/sqlite"
)

// checkpointer copies the WAL into the database file on a connection of its own, beside the
// writer: a checkpoint after a large commit copies tens of megabytes and syncs both files, and
// done by the writer at the end of its commit (SQLite's autocheckpoint) it held up every write
// behind it. A PASSIVE checkpoint takes no lock that a writer or reader waits for; the writer
// starts the WAL over at its next commit once the checkpoint has copied all of it.
//
// The connection has the same settings as the others, synchronous among them: the checkpoint
// syncs the WAL before it copies it, so that what was committed is on disk before the
// database file changes, and the database file after.
type checkpointer struct {
	db    *sql.DB      // exactly one connection
	every int64        // how many pages written to the WAL wake the checkpointer
	pages atomic.Int64 // pages written to the WAL since the last checkpoint began
	wake  chan struct{}
	stop  sync.Once     // closes wake
	done  chan struct{} // closed when run returns

	// mu is held while a checkpoint runs, so that one asked for elsewhere in this process
	// (see lock) is not refused because this one holds SQLite's checkpoint lock.
	mu sync.Mutex
}

// newCheckpointer starts a checkpointer on db that checkpoints after every pages written.
func newCheckpointer(db *sql.DB, every int) *checkpointer {
	db.SetMaxOpenConns(1)
	c := &checkpointer{db: db, every: int64(every), wake: make(chan struct{}, 1), done: make(chan struct{})}
	go c.run()
	return c
}

// wrote counts the pages the writer conn has written to the WAL since the last call, and wakes
// the checkpointer once they add up to c.every (walCheckpointBytes). Writes outside DB.write are counted
// at the next call; until then the writer's own autocheckpoint bounds the WAL.
func (c *checkpointer) wrote(conn *sql.Conn) {
	var n int
	conn.Raw(func(dc any) error {
		st, ok := dc.(sqlite.DBStatus)
		if ok {
			n, _, _ = st.Status(sqlite.DBStatusCacheWrite, true)
		}
		return nil
	})
	if c.pages.Add(int64(n)) < c.every {
		return
	}
	select {
	case c.wake <- struct{}{}:
	default: // already awake
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	for range c.wake {
		c.pages.Store(0)
		c.mu.Lock()
		// A failed checkpoint leaves the frames in the WAL for the next one, or for the
		// writer's: no write depends on it.
		c.db.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
		c.mu.Unlock()
	}
}

// lock waits for a running checkpoint to end and keeps the next from starting until unlock.
func (c *checkpointer) lock()   { c.mu.Lock() }
func (c *checkpointer) unlock() { c.mu.Unlock() }

// close stops the checkpointer after the checkpoint under way, if any, and closes its
// connection. Calls after the first do nothing, as DB.Close may be called more than once.
func (c *checkpointer) close() error {
	c.stop.Do(func() { close(c.wake) })
	<-c.done
	return c.db.Close()
}
