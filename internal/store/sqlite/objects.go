package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"

	"cshub/internal/hub"
)

// DefaultLimit is how many objects ListObjects returns when the filter sets no Limit.
const DefaultLimit = 1000

const objectCols = "seq, id, type, workspace, author, tlp, created, modified, added, revoked, latest, body"

type objKey struct {
	workspace, id string
	modified      int64
}

// row is an object as it is written.
type row struct {
	o                 *hub.Object
	seq               int64
	created, modified int64
	latest            bool
}

// prepare validates objs, drops repeats of the same version within the batch and encodes times.
func prepare(objs []*hub.Object) ([]row, error) {
	rows := make([]row, 0, len(objs))
	seen := make(map[objKey]struct{}, len(objs))
	newest := make(map[[2]string]int, len(objs)) // (workspace, id) -> index in rows
	for _, o := range objs {
		if o.ID == "" {
			return nil, hub.FieldError("id", "an object has no id")
		}
		if o.Workspace == "" {
			return nil, hub.FieldError("workspace", "object %s has no workspace", o.ID)
		}
		if o.TLP <= hub.TLPUnset || o.TLP > hub.TLPRed {
			return nil, hub.FieldError("tlp", "object %s has no valid TLP level (%d)", o.ID, o.TLP)
		}
		c, err := nanos("created", o.Created)
		if err != nil {
			return nil, err
		}
		m, err := nanos("modified", o.Modified)
		if err != nil {
			return nil, err
		}
		k := objKey{o.Workspace, o.ID, m}
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		rows = append(rows, row{o: o, created: c, modified: m})
		hk := [2]string{o.Workspace, o.ID}
		if i, ok := newest[hk]; !ok || rows[i].modified < m {
			newest[hk] = len(rows) - 1
		}
	}
	for _, i := range newest {
		rows[i].latest = true
	}
	return rows, nil
}

// PutObjects stores the versions not stored yet in one transaction; see hub.ObjectStore. Each
// new row is marked latest when it is the newest of its batch, and one UPDATE then clears the
// flag on whichever of the old latest and the new one is older, so a late-arriving older version
// never becomes latest.
//
// If the newest of a batch is a version already stored, every other version of the batch is
// older than the stored latest one, so none of them must be marked, and none is.
func (db *DB) PutObjects(ctx context.Context, objs []*hub.Object, opt hub.PutOptions) (int, error) {
	added, err := db.PutObjectBatches(ctx, [][]*hub.Object{objs}, []hub.PutOptions{opt})
	if err != nil {
		return 0, err
	}
	return added[0], nil
}

// PutObjectBatches stores each batch, with its options, exactly as PutObjects would, one after
// the other, but all in one transaction: successive batches of an ingest then write the random
// pages of the version key and token indexes once, not once per batch. It returns how many
// versions each batch added; with an error, no batch is stored.
func (db *DB) PutObjectBatches(ctx context.Context, batches [][]*hub.Object, opts []hub.PutOptions) ([]int, error) {
	puts := make([]*put, 0, len(batches))
	for i, objs := range batches {
		p, err := newPut(objs, opts[i])
		if err != nil {
			return nil, err
		}
		puts = append(puts, p)
	}
	if !slices.ContainsFunc(puts, func(p *put) bool { return len(p.rows) > 0 }) {
		return make([]int, len(puts)), nil
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		for _, p := range puts {
			if len(p.rows) == 0 {
				continue
			}
			if err := p.run(ctx, tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	added := make([]int, len(puts))
	for i, p := range puts {
		added[i] = p.done()
	}
	return added, nil
}

// put is one batch of PutObjects on its way into the store.
type put struct {
	objs     []*hub.Object
	opt      hub.PutOptions
	rows     []row
	at       time.Time
	added    int64
	inserted map[int64]bool
}

func newPut(objs []*hub.Object, opt hub.PutOptions) (*put, error) {
	for _, o := range objs {
		o.Seq = 0
	}
	rows, err := prepare(objs)
	if err != nil {
		return nil, err
	}
	at := opt.Now
	if at.IsZero() {
		at = now()
	}
	at = at.UTC()
	added, err := nanos("added", at)
	if err != nil {
		return nil, err
	}
	return &put{objs: objs, opt: opt, rows: rows, at: at, added: added, inserted: make(map[int64]bool, len(rows))}, nil
}

// run writes the batch in tx.
func (p *put) run(ctx context.Context, tx *sql.Tx) error {
	var last int64
	if err := tx.QueryRowContext(ctx, `SELECT last FROM object_seq WHERE id = 1`).Scan(&last); err != nil {
		return mapErr(err, "read object seq")
	}
	// Writers pick at before they get the write lock: without this, a batch that got it
	// second could carry an earlier Added than one already committed, which a reader
	// asking for what was added after the newest Added it has seen (TAXII added_after)
	// would never get. Under the lock, Added grows with Seq.
	var newest sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT max(added) FROM objects`).Scan(&newest); err != nil {
		return mapErr(err, "read newest added")
	}
	if newest.Valid && p.added <= newest.Int64 {
		p.added = newest.Int64 + 1
		p.at = time.Unix(0, p.added).UTC()
	}
	// fresh: no version of the batch's objects is stored, so no latest flag to move.
	rows, fresh, err := admitted(ctx, tx, p.opt, p.objs, p.rows)
	if err != nil || len(rows) == 0 {
		return err
	}
	p.rows = rows
	for i := range rows {
		rows[i].seq = last + int64(i) + 1
	}
	if err := insertObjects(ctx, tx, rows, p.added, true, p.inserted); err != nil {
		return err
	}
	if len(p.inserted) == 0 {
		return nil
	}
	if err := insertExtras(ctx, tx, rows, p.inserted); err != nil {
		return err
	}
	if !fresh {
		if _, err := tx.ExecContext(ctx, fixLatestSQL, last); err != nil {
			return mapErr(err, "update latest versions")
		}
	}
	_, err = tx.ExecContext(ctx, `UPDATE object_seq SET last = ? WHERE id = 1`, last+int64(len(rows)))
	return mapErr(err, "update object seq")
}

// done sets the Seq and Added of the committed batch's new versions and returns their number.
func (p *put) done() int {
	for _, r := range p.rows {
		if p.inserted[r.seq] {
			r.o.Seq = r.seq
			r.o.Added = p.at
		}
	}
	return len(p.inserted)
}

// admitted returns rows, or the rows of the objects opt.Admit lets in when it refuses any, and
// whether none of objs has a stored version (see PutOptions.Admitted).
func admitted(ctx context.Context, tx *sql.Tx, opt hub.PutOptions, objs []*hub.Object, rows []row) ([]row, bool, error) {
	kept, fresh, err := opt.Admitted(objs, func(ids []string) (map[[2]string]*hub.Object, error) { return latestStored(ctx, tx, ids) })
	if err != nil || len(kept) == len(objs) {
		return rows, fresh, err
	}
	rows, err = prepare(kept)
	return rows, fresh, err
}

// latestStored returns the latest stored version of each object with one of ids,
// with its metadata only, keyed as PutOptions.Admitted wants. The ids lead the version key's
// index, so each is one index probe.
func latestStored(ctx context.Context, tx *sql.Tx, ids []string) (map[[2]string]*hub.Object, error) {
	latest := map[[2]string]*hub.Object{}
	for start := 0; start < len(ids); start += deleteChunk {
		q := &query{}
		q.sql("SELECT o.id, o.workspace, o.author, o.tlp, o.created, o.modified, o.added, o.revoked FROM objects o WHERE o.latest = 1 AND o.id").
			in(ids[start:min(start+deleteChunk, len(ids))])
		rows, err := tx.QueryContext(ctx, q.b.String(), q.args...)
		if err != nil {
			return nil, mapErr(err, "read latest versions")
		}
		for rows.Next() {
			o := &hub.Object{}
			var tlp int
			var created, modified, added int64
			if err := rows.Scan(&o.ID, &o.Workspace, &o.Author, &tlp, &created, &modified, &added, &o.Revoked); err != nil {
				rows.Close()
				return nil, mapErr(err, "read latest versions")
			}
			o.TLP = hub.TLP(tlp)
			o.Created, o.Modified, o.Added = fromNanos(created), fromNanos(modified), fromNanos(added)
			latest[[2]string{o.Workspace, o.ID}] = o
		}
		if err := rows.Close(); err != nil {
			return nil, mapErr(err, "read latest versions")
		}
		if err := rows.Err(); err != nil {
			return nil, mapErr(err, "read latest versions")
		}
	}
	return latest, nil
}

// fixLatestSQL settles latest after a batch whose first seq is ?1 + 1. Before the batch each
// (workspace, id) had one latest version, its newest (seq <= ?1); the batch marked at most one
// more, its own newest (seq > ?1). Where a key has both, the older loses the flag. One index
// range scan per new latest row: (id, workspace) leads the version key. The unary + on o.seq
// keeps SQLite from choosing the (workspace, seq) index for o instead, which scans every older
// row of the workspace per new row and made large ingests quadratic.
const fixLatestSQL = `
UPDATE objects SET latest = 0 WHERE seq IN (
	SELECT CASE WHEN o.modified < n.modified THEN o.seq ELSE n.seq END
	FROM objects n
	JOIN objects o ON o.id = n.id AND o.workspace = n.workspace AND o.latest = 1 AND +o.seq <= ?1
	WHERE n.seq > ?1 AND n.latest = 1)`

// insertObjects writes rows, one INSERT each. With dedup, versions already stored are skipped
// and the seqs of the rows written are put in inserted; without, a stored version fails with
// EConflict.
//
// One row per statement rather than many, and no RETURNING (SQLite runs it as a trigger): a
// statement that may write several rows into a table with a foreign key or a NOT NULL column
// keeps a journal of every page it changes, to undo itself should a later row fail, and each
// row lands on a different page of the version key's index. That journal cost more than
// the statements it saved.
func insertObjects(ctx context.Context, tx *sql.Tx, rows []row, added int64, dedup bool, inserted map[int64]bool) error {
	q := "INSERT INTO objects (" + objectCols + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
	if dedup {
		q += " ON CONFLICT (id, workspace, modified) DO NOTHING"
	}
	st, err := tx.PrepareContext(ctx, q)
	if err != nil {
		return mapErr(err, "prepare insert")
	}
	defer st.Close()
	rowCtx := rowContext(ctx)
	for _, r := range rows {
		o := r.o
		res, err := st.ExecContext(rowCtx, r.seq, o.ID, o.Type, o.Workspace, o.Author, int(o.TLP), r.created, r.modified,
			added, boolInt(o.Revoked), boolInt(r.latest), bodyBytes(o.Body))
		if err != nil {
			return mapErr(err, "insert objects")
		}
		if n, err := res.RowsAffected(); err != nil {
			return mapErr(err, "insert objects")
		} else if n == 1 {
			inserted[r.seq] = true
		}
	}
	return nil
}

// rowContext is ctx for the statements that each write one row of a batch: without its
// cancellation, which the driver would watch with a goroutine of its own per statement. The
// transaction still ends when ctx does, and its next statement fails.
func rowContext(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

func bodyBytes(b []byte) []byte {
	if b == nil {
		return []byte{} // the column is NOT NULL; an empty body is still a body
	}
	return b
}

// insertExtras writes the recipients, tokens and export records of the inserted rows.
func insertExtras(ctx context.Context, tx *sql.Tx, rows []row, inserted map[int64]bool) error {
	var recips, toks []any
	for _, r := range rows {
		if !inserted[r.seq] {
			continue
		}
		for _, org := range r.o.Recipients {
			recips = append(recips, r.seq, org)
		}
		for _, t := range r.o.Tokens {
			toks = append(toks, t, r.seq)
		}
	}
	if err := insertPairs(ctx, tx, "INSERT OR IGNORE INTO object_recipients (seq, org) VALUES (?, ?)", recips); err != nil {
		return err
	}
	if err := insertPairs(ctx, tx, "INSERT OR IGNORE INTO object_tokens (token, seq) VALUES (?, ?)", toks); err != nil {
		return err
	}
	return insertRecords(ctx, tx, rows, inserted)
}

// insertPairs runs stmt, an INSERT of one (?, ?) row, once per pair of args. One row per
// statement rather than many: a statement that writes several rows into a table with a foreign
// key keeps a journal of every page it touches, to undo itself should a later row fail, and
// blind-index tokens land on a different page each.
func insertPairs(ctx context.Context, tx *sql.Tx, stmt string, args []any) error {
	if len(args) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, stmt)
	if err != nil {
		return mapErr(err, "prepare insert of object recipients or tokens")
	}
	defer st.Close()
	rowCtx := rowContext(ctx)
	for i := 0; i < len(args); i += 2 {
		if _, err := st.ExecContext(rowCtx, args[i], args[i+1]); err != nil {
			return mapErr(err, "insert object recipients or tokens")
		}
	}
	return nil
}

// RawInsert writes objs with the same rows and indexes as PutObjects, in the same batches, but
// without its duplicate handling or latest-version upkeep: every row is marked latest and a
// version already stored fails the call. It is the baseline the ingest benchmark compares
// PutObjects against, not a way to store objects.
func (db *DB) RawInsert(ctx context.Context, objs []*hub.Object) error {
	rows := make([]row, len(objs))
	for i, o := range objs {
		c, err := nanos("created", o.Created)
		if err != nil {
			return err
		}
		m, err := nanos("modified", o.Modified)
		if err != nil {
			return err
		}
		rows[i] = row{o: o, created: c, modified: m, latest: true}
	}
	added := time.Now().UnixNano()
	return db.write(ctx, func(tx *sql.Tx) error {
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT last FROM object_seq WHERE id = 1`).Scan(&last); err != nil {
			return mapErr(err, "read object seq")
		}
		for i := range rows {
			rows[i].seq = last + int64(i) + 1
		}
		inserted := make(map[int64]bool, len(rows))
		if err := insertObjects(ctx, tx, rows, added, false, inserted); err != nil {
			return err
		}
		if err := insertExtras(ctx, tx, rows, inserted); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE object_seq SET last = ? WHERE id = 1`, last+int64(len(rows)))
		return mapErr(err, "update object seq")
	})
}

// query builds a statement and its arguments side by side.
type query struct {
	b    strings.Builder
	args []any
	// selective is set when the filter names ids or a token: see access.
	selective bool
}

func (q *query) sql(s string) *query { q.b.WriteString(s); return q }

func (q *query) arg(v any) *query {
	q.b.WriteByte('?')
	q.args = append(q.args, v)
	return q
}

func (q *query) in(vals []string) *query {
	q.b.WriteString(" IN (")
	for i, v := range vals {
		if i > 0 {
			q.b.WriteByte(',')
		}
		q.arg(v)
	}
	q.b.WriteByte(')')
	return q
}

// visibleWorkspaces returns the workspaces v may read, narrowed to narrow when it is not empty;
// all is true when v sees every workspace (a system viewer with no narrowing).
func visibleWorkspaces(v hub.Viewer, narrow []string) (ws []string, all bool) {
	if v.System {
		return narrow, len(narrow) == 0
	}
	if len(narrow) == 0 {
		return v.Workspaces, false
	}
	mine := make(map[string]bool, len(v.Workspaces))
	for _, w := range v.Workspaces {
		mine[w] = true
	}
	for _, w := range narrow {
		if mine[w] {
			ws = append(ws, w)
		}
	}
	return ws, false
}

// access appends the access rule of hub.ObjectStore for objects aliased o, preceded by " AND ".
// It returns false when v can see nothing, so no query needs to run.
func (q *query) access(v hub.Viewer, narrow []string) bool {
	ws, all := visibleWorkspaces(v, narrow)
	if all {
		return true
	}
	if len(ws) == 0 {
		return false
	}
	// With ids or a token the rows are few and found through their own indexes; "+" keeps the
	// planner from walking the whole workspace in seq order instead (it would, to skip a sort).
	if q.selective {
		q.sql(" AND +o.workspace").in(ws)
	} else {
		q.sql(" AND o.workspace").in(ws)
	}
	if v.System {
		return true
	}
	q.sql(" AND (o.tlp < ").arg(int(hub.TLPRed)).sql(" OR o.author = ").arg(v.Org).
		sql(" OR EXISTS (SELECT 1 FROM object_recipients r WHERE r.seq = o.seq AND r.org = ").arg(v.Org).sql("))")
	return true
}

// where appends the conditions of f, cursor excepted, after "WHERE 1=1".
func (q *query) where(f hub.Filter) (bool, error) {
	q.sql(" WHERE 1=1")
	q.selective = len(f.IDs) > 0 || f.Token != nil
	if !q.access(f.Viewer, f.Workspaces) {
		return false, nil
	}
	if len(f.Types) > 0 {
		q.sql(" AND o.type").in(f.Types)
	}
	if len(f.IDs) > 0 {
		q.sql(" AND o.id").in(f.IDs)
	}
	if f.Token != nil {
		q.sql(" AND o.seq IN (SELECT t.seq FROM object_tokens t WHERE t.token = ").arg(f.Token).sql(")")
	}
	if !f.AddedAfter.IsZero() {
		n, err := nanos("added_after", f.AddedAfter)
		if err != nil {
			return false, err
		}
		q.sql(" AND o.added > ").arg(n)
	}
	if !f.AllVersions {
		q.sql(" AND o.latest = 1")
	}
	return true, nil
}

const selectObject = "SELECT o.seq, o.id, o.type, o.workspace, o.author, o.tlp, o.created, o.modified, o.added, o.revoked, o.body FROM objects o"

// GetObject returns the newest version of id that v may see across its workspaces, or the
// exact version when modified is not zero; see hub.ObjectStore.
func (db *DB) GetObject(ctx context.Context, v hub.Viewer, id string, modified time.Time) (*hub.Object, error) {
	q := &query{}
	q.sql(selectObject).sql(" WHERE o.id = ").arg(id)
	if !modified.IsZero() {
		m, err := nanos("modified", modified)
		if err != nil {
			return nil, err
		}
		q.sql(" AND o.modified = ").arg(m)
	}
	if !q.access(v, nil) {
		return nil, hub.Errorf(hub.ENotFound, "no object %s", id)
	}
	if modified.IsZero() {
		q.sql(" ORDER BY o.modified DESC, o.seq DESC LIMIT 1")
	} else {
		q.sql(" ORDER BY o.seq LIMIT 1")
	}
	objs, err := db.objects(ctx, q, true)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, hub.Errorf(hub.ENotFound, "no object %s", id)
	}
	return objs[0], nil
}

// ListObjects returns the versions f selects that f.Viewer may see, in seq order; see
// hub.ObjectStore.
func (db *DB) ListObjects(ctx context.Context, f hub.Filter) ([]*hub.Object, error) {
	q := &query{}
	q.sql(selectObject)
	ok, err := q.where(f)
	if err != nil || !ok {
		return nil, err
	}
	if f.AfterSeq > 0 {
		q.sql(" AND o.seq > ").arg(f.AfterSeq)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	q.sql(" ORDER BY o.seq LIMIT ").arg(limit)
	return db.objects(ctx, q, !f.NoTokens)
}

// CountObjects counts what ListObjects would return without a limit or cursor.
func (db *DB) CountObjects(ctx context.Context, f hub.Filter) (int64, error) {
	q := &query{}
	q.sql("SELECT COUNT(*) FROM objects o")
	ok, err := q.where(f)
	if err != nil || !ok {
		return 0, err
	}
	var n int64
	if err := db.r.QueryRowContext(ctx, q.b.String(), q.args...).Scan(&n); err != nil {
		return 0, mapErr(err, "count objects")
	}
	return n, nil
}

// objects runs q, a selectObject query, and fills in recipients and, with tokens, tokens.
func (db *DB) objects(ctx context.Context, q *query, tokens bool) ([]*hub.Object, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, mapErr(err, "begin read")
	}
	defer tx.Rollback() // one snapshot for objects and their extras
	rows, err := tx.QueryContext(ctx, q.b.String(), q.args...)
	if err != nil {
		return nil, mapErr(err, "list objects")
	}
	defer rows.Close()
	var objs []*hub.Object
	for rows.Next() {
		o := &hub.Object{}
		var tlp int
		var created, modified, added int64
		var revoked bool
		if err := rows.Scan(&o.Seq, &o.ID, &o.Type, &o.Workspace, &o.Author, &tlp, &created, &modified, &added, &revoked, &o.Body); err != nil {
			return nil, mapErr(err, "read object")
		}
		o.TLP = hub.TLP(tlp)
		o.Created, o.Modified, o.Added = fromNanos(created), fromNanos(modified), fromNanos(added)
		o.Revoked = revoked
		objs = append(objs, o)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err, "list objects")
	}
	rows.Close()
	if err := extras(ctx, tx, objs, "SELECT seq, org FROM object_recipients", func(o *hub.Object, v []byte) {
		o.Recipients = append(o.Recipients, string(v))
	}); err != nil || !tokens {
		return objs, err
	}
	return objs, extras(ctx, tx, objs, "SELECT seq, token FROM object_tokens", func(o *hub.Object, v []byte) {
		o.Tokens = append(o.Tokens, v)
	})
}

// extraChunk is how many seqs one query for the recipients or tokens of scattered versions names.
const extraChunk = 500

// extras passes fn each (object, value) pair that sel, a "SELECT seq, value FROM table" of
// recipients or tokens, finds for objs, in (seq, value) order per object. When the seqs of objs
// are dense (a page of ListObjects mostly is, every other type being rare among the versions
// it pages through), one range scan of the table's seq-led index reads them, skipping the few
// pairs of versions between that objs leaves out; otherwise the seqs are named, a chunk at a
// time. Naming 500 of them cost SQLite a temporary b-tree per query, a third of the time a
// page of objects took to read.
func extras(ctx context.Context, tx *sql.Tx, objs []*hub.Object, sel string, fn func(*hub.Object, []byte)) error {
	if len(objs) == 0 {
		return nil
	}
	bySeq := make(map[int64]*hub.Object, len(objs))
	lo, hi := objs[0].Seq, objs[0].Seq
	for _, o := range objs {
		bySeq[o.Seq] = o
		lo, hi = min(lo, o.Seq), max(hi, o.Seq)
	}
	add := func(seq int64, v []byte) {
		if o := bySeq[seq]; o != nil {
			fn(o, v)
		}
	}
	if hi-lo < 2*int64(len(objs)) {
		return scanPairs(ctx, tx, sel+" WHERE seq BETWEEN ? AND ? ORDER BY 1, 2", []any{lo, hi}, add)
	}
	for start := 0; start < len(objs); start += extraChunk {
		part := objs[start:min(start+extraChunk, len(objs))]
		q := &query{}
		q.sql(sel).sql(" WHERE seq IN (")
		for i, o := range part {
			if i > 0 {
				q.sql(",")
			}
			q.arg(o.Seq)
		}
		if err := scanPairs(ctx, tx, q.sql(") ORDER BY 1, 2").b.String(), q.args, add); err != nil {
			return err
		}
	}
	return nil
}

func scanPairs(ctx context.Context, tx *sql.Tx, stmt string, args []any, fn func(int64, []byte)) error {
	rows, err := tx.QueryContext(ctx, stmt, args...)
	if err != nil {
		return mapErr(err, "read object recipients or tokens")
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var v []byte
		if err := rows.Scan(&seq, &v); err != nil {
			return mapErr(err, "read object recipients or tokens")
		}
		fn(seq, v)
	}
	return mapErr(rows.Err(), "read object recipients or tokens")
}

// ReplaceBodies swaps bodies where they still hold the expected value, in one transaction; see
// hub.ObjectStore. The writer connection serializes it with every other write, and each UPDATE
// compares the stored body, so a row changed or deleted before the transaction is skipped.
func (db *DB) ReplaceBodies(ctx context.Context, updates []hub.BodyUpdate) (int, error) {
	return db.replace(ctx, `UPDATE objects SET body = ? WHERE seq = ? AND body = ?`, updates)
}

// replace runs update, which sets a sealed value to ?1 where the row's seq is ?2 and the value
// ?3, for each of updates in one transaction, and returns how many rows it changed.
func (db *DB) replace(ctx context.Context, update string, updates []hub.BodyUpdate) (int, error) {
	if len(updates) == 0 {
		return 0, nil
	}
	replaced := 0
	err := db.write(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, update)
		if err != nil {
			return mapErr(err, "prepare body update")
		}
		defer stmt.Close()
		replaced = 0
		for _, u := range updates {
			res, err := stmt.ExecContext(ctx, bodyBytes(u.New), u.Seq, bodyBytes(u.Old))
			if err != nil {
				return mapErr(err, "replace body of seq %d", u.Seq)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return mapErr(err, "replace body of seq %d", u.Seq)
			}
			replaced += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return replaced, nil
}

// deleteChunk is how many seqs one DELETE names.
const deleteChunk = 500

// DeleteObjects removes the versions with the given seqs in one transaction; see
// hub.ObjectStore. Recipients and tokens go with their rows (ON DELETE CASCADE). The writer
// connection serializes it with PutObjects, so the latest flag it moves cannot race a batch's.
func (db *DB) DeleteObjects(ctx context.Context, seqs []int64) (int, error) {
	if len(seqs) == 0 {
		return 0, nil
	}
	deleted := 0
	err := db.write(ctx, func(tx *sql.Tx) error {
		deleted = 0
		type key struct{ id, workspace string }
		orphaned := map[key]bool{} // versions that lost their latest row
		for start := 0; start < len(seqs); start += deleteChunk {
			part := seqs[start:min(start+deleteChunk, len(seqs))]
			q := &query{}
			q.sql("DELETE FROM objects WHERE seq IN (")
			for i, s := range part {
				if i > 0 {
					q.sql(",")
				}
				q.arg(s)
			}
			q.sql(") RETURNING id, workspace, latest")
			rows, err := tx.QueryContext(ctx, q.b.String(), q.args...)
			if err != nil {
				return mapErr(err, "delete objects")
			}
			for rows.Next() {
				var k key
				var latest bool
				if err := rows.Scan(&k.id, &k.workspace, &latest); err != nil {
					rows.Close()
					return mapErr(err, "delete objects")
				}
				deleted++
				if latest {
					orphaned[k] = true
				}
			}
			if err := rows.Close(); err != nil {
				return mapErr(err, "delete objects")
			}
			if err := rows.Err(); err != nil {
				return mapErr(err, "delete objects")
			}
		}
		for k := range orphaned {
			if _, err := tx.ExecContext(ctx, `UPDATE objects SET latest = 1 WHERE seq = (
				SELECT seq FROM objects WHERE id = ? AND workspace = ? ORDER BY modified DESC LIMIT 1)`, k.id, k.workspace); err != nil {
				return mapErr(err, "update latest version of %s", k.id)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return deleted, nil
}
