package postgres

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"cshub/internal/hub"
)

// DefaultLimit is how many objects ListObjects returns when the filter sets no Limit.
const DefaultLimit = 1000

var objectCols = []string{"seq", "id", "type", "workspace", "author", "tlp", "created", "modified", "added", "revoked", "latest", "body"}

type objKey struct {
	workspace, id string
	modified      time.Time
}

// row is an object as it is written, its times cut to the microseconds PostgreSQL keeps.
type row struct {
	o                 *hub.Object
	seq               int64
	created, modified time.Time
	latest            bool
}

func (r *row) values(added time.Time) []any {
	o := r.o
	body := o.Body
	if body == nil {
		body = []byte{} // the column is NOT NULL; an empty body is still a body
	}
	return []any{r.seq, o.ID, o.Type, o.Workspace, o.Author, int16(o.TLP), r.created, r.modified, added, o.Revoked, r.latest, body}
}

// prepare validates objs, drops repeats of the same version within the batch and marks the
// newest version of each (workspace, id) in the batch as latest.
func prepare(objs []*hub.Object) ([]row, error) {
	rows := make([]row, 0, len(objs))
	seen := make(map[objKey]struct{}, len(objs))
	newest := make(map[[2]string]int, len(objs))
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
		m := o.Modified.UTC().Truncate(time.Microsecond)
		k := objKey{o.Workspace, o.ID, m}
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		rows = append(rows, row{o: o, created: o.Created.UTC().Truncate(time.Microsecond), modified: m})
		hk := [2]string{o.Workspace, o.ID}
		if i, ok := newest[hk]; !ok || rows[i].modified.Before(m) {
			newest[hk] = len(rows) - 1
		}
	}
	for _, i := range newest {
		rows[i].latest = true
	}
	return rows, nil
}

// lockSeq locks the object_seq row until tx ends and returns the last seq handed out. Holding
// it serializes object writers, so seqs become visible in increasing order.
func lockSeq(ctx context.Context, tx pgx.Tx) (int64, error) {
	var last int64
	err := tx.QueryRow(ctx, lockSeqSQL).Scan(&last)
	return last, mapErr(err, "lock object seq")
}

const lockSeqSQL = `SELECT last FROM object_seq WHERE id = 1 FOR UPDATE`

// stored is what the store holds of the objects of a batch, read under the seq lock: every
// stored version's key, and the latest version of each (workspace, id) with its metadata, as
// PutOptions.Admit sees it, and its seq.
type stored struct {
	versions  map[objKey]struct{}
	latest    map[[2]string]*hub.Object
	latestSeq map[[2]string]int64
}

// begin takes the seq lock and reads, in the same round trip, the newest Added and what is
// stored of rows' objects. It returns the last seq handed out and at, or the microsecond after
// the newest Added stored when at is not later: writers pick at before they wait for the lock,
// so without this a batch that got the lock second could carry an earlier Added than one
// already committed, and a reader asking for what was added after the newest Added it has seen
// (TAXII added_after) would never get it. tx holds the seq lock, so Added grows with Seq.
func begin(ctx context.Context, tx pgx.Tx, rows []row, at time.Time) (int64, time.Time, *stored, error) {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.o.ID
	}
	slices.Sort(ids)
	b := &pgx.Batch{}
	b.Queue(lockSeqSQL)
	b.Queue(`SELECT max(added) FROM objects`)
	b.Queue(`SELECT seq, id, workspace, modified, latest, author, tlp, created, added, revoked FROM objects WHERE id = ANY($1)`, slices.Compact(ids))
	res := tx.SendBatch(ctx, b)
	defer res.Close()
	var last int64
	if err := res.QueryRow().Scan(&last); err != nil {
		return 0, at, nil, mapErr(err, "lock object seq")
	}
	var newest *time.Time
	if err := res.QueryRow().Scan(&newest); err != nil {
		return 0, at, nil, mapErr(err, "read newest added")
	}
	if newest != nil && !at.After(*newest) {
		at = newest.UTC().Add(time.Microsecond)
	}
	rs, err := res.Query()
	if err != nil {
		return 0, at, nil, mapErr(err, "read stored versions")
	}
	defer rs.Close()
	s := &stored{versions: map[objKey]struct{}{}, latest: map[[2]string]*hub.Object{}, latestSeq: map[[2]string]int64{}}
	for rs.Next() {
		o := &hub.Object{}
		var seq int64
		var latest bool
		var tlp int16
		if err := rs.Scan(&seq, &o.ID, &o.Workspace, &o.Modified, &latest, &o.Author, &tlp, &o.Created, &o.Added, &o.Revoked); err != nil {
			return 0, at, nil, mapErr(err, "read stored versions")
		}
		o.Modified = o.Modified.UTC()
		s.versions[objKey{o.Workspace, o.ID, o.Modified}] = struct{}{}
		if latest {
			o.TLP = hub.TLP(tlp)
			o.Created, o.Added = o.Created.UTC(), o.Added.UTC()
			k := [2]string{o.Workspace, o.ID}
			s.latest[k], s.latestSeq[k] = o, seq
		}
	}
	return last, at, s, mapErr(rs.Err(), "read stored versions")
}

// settle drops the rows whose version is stored and clears latest on each row that its
// object's stored latest version is newer than. It returns the rows left, all of them new, and
// the seqs of the stored latest versions that a row replaces.
func (s *stored) settle(rows []row) ([]row, []int64) {
	kept := rows[:0]
	var replaced []int64
	for _, r := range rows {
		if _, ok := s.versions[objKey{r.o.Workspace, r.o.ID, r.modified}]; ok {
			continue
		}
		k := [2]string{r.o.Workspace, r.o.ID}
		if old, ok := s.latest[k]; ok && r.latest {
			if old.Modified.Before(r.modified) {
				replaced = append(replaced, s.latestSeq[k])
			} else {
				r.latest = false
			}
		}
		kept = append(kept, r)
	}
	return kept, replaced
}

// PutObjects stores the versions not stored yet in one transaction; see hub.ObjectStore. Under
// the seq lock it reads what is stored of the batch's objects, so it knows before writing which
// versions are new and which latest flags move: the new rows go in with one COPY, without the
// per-row conflict check of INSERT ... ON CONFLICT, and only the replaced latest versions are
// updated.
func (db *DB) PutObjects(ctx context.Context, objs []*hub.Object, opt hub.PutOptions) (int, error) {
	for _, o := range objs {
		o.Seq = 0
	}
	rows, err := prepare(objs)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	at := opt.Now
	if at.IsZero() {
		at = now()
	}
	at = at.UTC().Truncate(time.Microsecond)
	err = db.write(ctx, func(tx pgx.Tx) error {
		last, added, have, err := begin(ctx, tx, rows, at)
		if err != nil {
			return err
		}
		at = added
		if rows, err = admitted(opt, objs, rows, have); err != nil {
			return err
		}
		var replaced []int64
		if rows, replaced = have.settle(rows); len(rows) == 0 {
			return nil
		}
		for i := range rows {
			rows[i].seq = last + int64(i) + 1
		}
		if err := copyObjects(ctx, tx, rows, at); err != nil {
			return err
		}
		if len(replaced) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE objects SET latest = false WHERE seq = ANY($1)`, replaced); err != nil {
				return mapErr(err, "update latest versions")
			}
		}
		_, err = tx.Exec(ctx, `UPDATE object_seq SET last = $1 WHERE id = 1`, last+int64(len(rows)))
		return mapErr(err, "update object seq")
	})
	if err != nil {
		return 0, err
	}
	for _, r := range rows {
		r.o.Seq = r.seq
		r.o.Added = at
	}
	db.analyzeAfterLoad(ctx, len(rows))
	return len(rows), nil
}

// admitted returns rows, or the rows of the objects opt.Admit lets in when it refuses any.
func admitted(opt hub.PutOptions, objs []*hub.Object, rows []row, have *stored) ([]row, error) {
	kept, _, err := opt.Admitted(objs, func([]string) (map[[2]string]*hub.Object, error) { return have.latest, nil })
	if err != nil || len(kept) == len(objs) {
		return rows, err
	}
	return prepare(kept)
}

// fixLatestSQL settles latest after a restore whose first seq is $1 + 1; see package sqlite.
const fixLatestSQL = `
UPDATE objects SET latest = false WHERE seq IN (
	SELECT CASE WHEN o.modified < n.modified THEN o.seq ELSE n.seq END
	FROM objects n
	JOIN objects o ON o.id = n.id AND o.workspace = n.workspace AND o.latest AND o.seq <= $1
	WHERE n.seq > $1 AND n.latest)`

func collectSeqs(rs pgx.Rows, inserted map[int64]bool) error {
	defer rs.Close()
	for rs.Next() {
		var seq int64
		if err := rs.Scan(&seq); err != nil {
			return mapErr(err, "insert objects")
		}
		inserted[seq] = true
	}
	return mapErr(rs.Err(), "insert objects")
}

func valuesInsert(ctx context.Context, tx pgx.Tx, rows []row, added time.Time, inserted map[int64]bool) error {
	var b strings.Builder
	b.WriteString("INSERT INTO objects (" + strings.Join(objectCols, ", ") + ") VALUES ")
	args := make([]any, 0, len(rows)*len(objectCols))
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j := range objectCols {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString("$" + strconv.Itoa(len(args)+j+1))
		}
		b.WriteByte(')')
		args = append(args, rows[i].values(added)...)
	}
	b.WriteString(" ON CONFLICT (id, workspace, modified) DO NOTHING RETURNING seq")
	rs, err := tx.Query(ctx, b.String(), args...)
	if err != nil {
		return mapErr(err, "insert objects")
	}
	return collectSeqs(rs, inserted)
}

// copyObjects copies rows, none of them stored, into objects with their recipients, tokens
// and export records.
func copyObjects(ctx context.Context, tx pgx.Tx, rows []row, added time.Time) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"objects"}, objectCols, pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		return rows[i].values(added), nil
	}))
	if err != nil {
		return mapErr(err, "copy objects")
	}
	return copyExtras(ctx, tx, rows)
}

// copyExtras copies the recipients and tokens of rows, each once per object, and their export
// records.
func copyExtras(ctx context.Context, tx pgx.Tx, rows []row) error {
	var recips, toks [][]any
	for _, r := range rows {
		seen := map[string]bool{}
		for _, org := range r.o.Recipients {
			if !seen[org] {
				seen[org] = true
				recips = append(recips, []any{r.seq, org})
			}
		}
		seenTok := map[string]bool{}
		for _, t := range r.o.Tokens {
			if !seenTok[string(t)] {
				seenTok[string(t)] = true
				toks = append(toks, []any{t, r.seq})
			}
		}
	}
	if len(recips) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"object_recipients"}, []string{"seq", "org"}, pgx.CopyFromRows(recips)); err != nil {
			return mapErr(err, "copy object recipients")
		}
	}
	if len(toks) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"object_tokens"}, []string{"token", "seq"}, pgx.CopyFromRows(toks)); err != nil {
			return mapErr(err, "copy object tokens")
		}
	}
	return copyRecords(ctx, tx, rows)
}

// RawCopy copies objs into the same tables with one plain COPY, without PutObjects' duplicate
// handling or latest-version upkeep: every row is marked latest and a version already stored
// fails the call. It is the baseline the ingest benchmark compares PutObjects against, not a
// way to store objects.
func (db *DB) RawCopy(ctx context.Context, objs []*hub.Object) error {
	rows := make([]row, len(objs))
	for i, o := range objs {
		rows[i] = row{o: o, created: o.Created.UTC().Truncate(time.Microsecond), modified: o.Modified.UTC().Truncate(time.Microsecond), latest: true}
	}
	added := now()
	return db.write(ctx, func(tx pgx.Tx) error {
		last, err := lockSeq(ctx, tx)
		if err != nil {
			return err
		}
		for i := range rows {
			rows[i].seq = last + int64(i) + 1
		}
		if err := copyObjects(ctx, tx, rows, added); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE object_seq SET last = $1 WHERE id = 1`, last+int64(len(rows)))
		return mapErr(err, "update object seq")
	})
}

// query builds a statement and its arguments side by side.
type query struct {
	b    strings.Builder
	args []any
}

func (q *query) sql(s string) *query { q.b.WriteString(s); return q }

func (q *query) arg(v any) *query {
	q.args = append(q.args, v)
	q.b.WriteString("$" + strconv.Itoa(len(q.args)))
	return q
}

// in appends " = ANY($n)" with vals as one array parameter.
func (q *query) in(vals []string) *query {
	q.sql(" = ANY(")
	q.arg(vals)
	return q.sql(")")
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
	for _, w := range narrow {
		if slices.Contains(v.Workspaces, w) {
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
	q.sql(" AND o.workspace").in(ws)
	if v.System {
		return true
	}
	q.sql(" AND (o.tlp < ").arg(int16(hub.TLPRed)).sql(" OR o.author = ").arg(v.Org).
		sql(" OR EXISTS (SELECT 1 FROM object_recipients r WHERE r.seq = o.seq AND r.org = ").arg(v.Org).sql("))")
	return true
}

// where appends the conditions of f, cursor excepted, after "WHERE true".
func (q *query) where(f hub.Filter) bool {
	q.sql(" WHERE true")
	if !q.access(f.Viewer, f.Workspaces) {
		return false
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
		q.sql(" AND o.added > ").arg(f.AddedAfter)
	}
	if !f.AllVersions {
		q.sql(" AND o.latest")
	}
	return true
}

// selectObject reads objects with their recipients and tokens in one statement, so one
// snapshot serves them all; selectObjectNoTokens leaves the tokens out (hub.Filter.NoTokens).
const (
	selectObjectHead = `SELECT o.seq, o.id, o.type, o.workspace, o.author, o.tlp, o.created, o.modified, o.added, o.revoked, o.body,
	ARRAY(SELECT r.org FROM object_recipients r WHERE r.seq = o.seq ORDER BY r.org), `
	selectObject         = selectObjectHead + `ARRAY(SELECT t.token FROM object_tokens t WHERE t.seq = o.seq ORDER BY t.token) FROM objects o`
	selectObjectNoTokens = selectObjectHead + `NULL::bytea[] FROM objects o`
)

// GetObject returns the newest version of id that v may see across its workspaces, or the
// exact version when modified is not zero; see hub.ObjectStore.
func (db *DB) GetObject(ctx context.Context, v hub.Viewer, id string, modified time.Time) (*hub.Object, error) {
	q := &query{}
	q.sql(selectObject).sql(" WHERE o.id = ").arg(id)
	if !modified.IsZero() {
		q.sql(" AND o.modified = ").arg(modified.UTC().Truncate(time.Microsecond))
	}
	if !q.access(v, nil) {
		return nil, hub.Errorf(hub.ENotFound, "no object %s", id)
	}
	if modified.IsZero() {
		q.sql(" ORDER BY o.modified DESC, o.seq DESC LIMIT 1")
	} else {
		q.sql(" ORDER BY o.seq LIMIT 1")
	}
	objs, err := db.objects(ctx, q)
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
	if f.NoTokens {
		q.sql(selectObjectNoTokens)
	} else {
		q.sql(selectObject)
	}
	if !q.where(f) {
		return nil, nil
	}
	if f.AfterSeq > 0 {
		q.sql(" AND o.seq > ").arg(f.AfterSeq)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	q.sql(" ORDER BY o.seq LIMIT ").arg(int64(limit))
	return db.objects(ctx, q)
}

// CountObjects counts what ListObjects would return without a limit or cursor.
func (db *DB) CountObjects(ctx context.Context, f hub.Filter) (int64, error) {
	q := &query{}
	q.sql("SELECT COUNT(*) FROM objects o")
	if !q.where(f) {
		return 0, nil
	}
	var n int64
	if err := db.pool.QueryRow(ctx, q.b.String(), q.args...).Scan(&n); err != nil {
		return 0, mapErr(err, "count objects")
	}
	return n, nil
}

func (db *DB) objects(ctx context.Context, q *query) ([]*hub.Object, error) {
	rows, err := db.pool.Query(ctx, q.b.String(), q.args...)
	if err != nil {
		return nil, mapErr(err, "list objects")
	}
	defer rows.Close()
	var objs []*hub.Object
	for rows.Next() {
		o := &hub.Object{}
		var tlp int16
		if err := rows.Scan(&o.Seq, &o.ID, &o.Type, &o.Workspace, &o.Author, &tlp, &o.Created, &o.Modified, &o.Added, &o.Revoked, &o.Body, &o.Recipients, &o.Tokens); err != nil {
			return nil, mapErr(err, "read object")
		}
		o.TLP = hub.TLP(tlp)
		o.Created, o.Modified, o.Added = utc(o.Created), utc(o.Modified), utc(o.Added)
		if len(o.Recipients) == 0 {
			o.Recipients = nil
		}
		if len(o.Tokens) == 0 {
			o.Tokens = nil
		}
		objs = append(objs, o)
	}
	return objs, mapErr(rows.Err(), "list objects")
}

// ReplaceBodies swaps bodies where they still hold the expected value, in one statement; see
// hub.ObjectStore. Under READ COMMITTED, PostgreSQL re-checks the WHERE clause against a row
// that another transaction changed while this one waited for it, so the comparison holds
// against the newest committed body.
func (db *DB) ReplaceBodies(ctx context.Context, updates []hub.BodyUpdate) (int, error) {
	return db.replace(ctx, `
		UPDATE objects o SET body = u.new
		FROM unnest($1::bigint[], $2::bytea[], $3::bytea[]) AS u(seq, old, new)
		WHERE o.seq = u.seq AND o.body = u.old`, updates)
}

// replace runs update, which sets a sealed value to u.new where the row's seq is u.seq and the
// value u.old for the rows u of unnest($1 seqs, $2 olds, $3 news), and returns how many rows it
// changed.
func (db *DB) replace(ctx context.Context, update string, updates []hub.BodyUpdate) (int, error) {
	if len(updates) == 0 {
		return 0, nil
	}
	seqs := make([]int64, len(updates))
	olds := make([][]byte, len(updates))
	news := make([][]byte, len(updates))
	for i, u := range updates {
		seqs[i], olds[i], news[i] = u.Seq, nonNil(u.Old), nonNil(u.New)
	}
	tag, err := db.pool.Exec(ctx, update, seqs, olds, news)
	if err != nil {
		return 0, mapErr(err, "replace bodies")
	}
	return int(tag.RowsAffected()), nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{} // a nil element would be SQL NULL, which equals nothing
	}
	return b
}

// DeleteObjects removes the versions with the given seqs in one transaction; see
// hub.ObjectStore. Recipients and tokens go with their rows (ON DELETE CASCADE). It holds the
// object_seq lock as PutObjects does, so the latest flag it moves cannot race a batch's.
func (db *DB) DeleteObjects(ctx context.Context, seqs []int64) (int, error) {
	if len(seqs) == 0 {
		return 0, nil
	}
	deleted := 0
	err := db.write(ctx, func(tx pgx.Tx) error {
		deleted = 0
		if _, err := lockSeq(ctx, tx); err != nil {
			return err
		}
		rs, err := tx.Query(ctx, `DELETE FROM objects WHERE seq = ANY($1) RETURNING id, workspace, latest`, seqs)
		if err != nil {
			return mapErr(err, "delete objects")
		}
		var ids, wss []string // (id, workspace) of the versions that lost their latest row
		for rs.Next() {
			var id, ws string
			var latest bool
			if err := rs.Scan(&id, &ws, &latest); err != nil {
				rs.Close()
				return mapErr(err, "delete objects")
			}
			deleted++
			if latest {
				ids, wss = append(ids, id), append(wss, ws)
			}
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return mapErr(err, "delete objects")
		}
		if len(ids) == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE objects SET latest = true WHERE seq IN (
			SELECT DISTINCT ON (o.id, o.workspace) o.seq
			FROM objects o JOIN unnest($1::text[], $2::text[]) AS k(id, workspace) ON o.id = k.id AND o.workspace = k.workspace
			ORDER BY o.id, o.workspace, o.modified DESC)`, ids, wss)
		return mapErr(err, "update latest versions")
	})
	if err != nil {
		return 0, err
	}
	return deleted, nil
}
