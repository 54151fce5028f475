package sqlite

import (
	"context"
	"database/sql"

	"cshub/internal/hub"
	"cshub/internal/store"
)

// CreateOrg stores o, setting o.Created when it is zero; EConflict if the code is taken.
func (db *DB) CreateOrg(ctx context.Context, o *hub.Org) error {
	if o.Code == "" {
		return hub.FieldError("code", "an organisation needs a code")
	}
	created := o.Created
	if created.IsZero() {
		created = now()
	}
	c, err := nanos("created", created)
	if err != nil {
		return err
	}
	_, err = db.w.ExecContext(ctx, `INSERT INTO orgs (code, name, country, kind, active, created) VALUES (?, ?, ?, ?, ?, ?)`,
		o.Code, o.Name, o.Country, string(o.Kind), boolInt(o.Active), c)
	if err != nil {
		return mapErr(err, "create organisation %s", o.Code)
	}
	o.Created = created.UTC()
	return nil
}

// UpdateOrg replaces the name, country, kind and active flag of the organisation o.Code.
func (db *DB) UpdateOrg(ctx context.Context, o *hub.Org) error {
	res, err := db.w.ExecContext(ctx, `UPDATE orgs SET name = ?, country = ?, kind = ?, active = ? WHERE code = ?`,
		o.Name, o.Country, string(o.Kind), boolInt(o.Active), o.Code)
	return affected(res, err, "organisation", o.Code)
}

// affected maps an UPDATE or DELETE that touched no row to ENotFound.
func affected(res sql.Result, err error, what, key string) error {
	if err != nil {
		return mapErr(err, "update %s %s", what, key)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr(err, "update %s %s", what, key)
	}
	if n == 0 {
		return hub.Errorf(hub.ENotFound, "no %s %s", what, key)
	}
	return nil
}

const selectOrg = `SELECT code, name, country, kind, active, created FROM orgs`

func scanOrg(s interface{ Scan(...any) error }) (*hub.Org, error) {
	o := &hub.Org{}
	var kind string
	var created int64
	if err := s.Scan(&o.Code, &o.Name, &o.Country, &kind, &o.Active, &created); err != nil {
		return nil, err
	}
	o.Kind, o.Created = hub.OrgKind(kind), fromNanos(created)
	return o, nil
}

// Org returns the organisation with the code, or ENotFound.
func (db *DB) Org(ctx context.Context, code string) (*hub.Org, error) {
	o, err := scanOrg(db.r.QueryRowContext(ctx, selectOrg+` WHERE code = ?`, code))
	if err != nil {
		return nil, mapErr(err, "organisation %s", code)
	}
	return o, nil
}

// Orgs returns every organisation ordered by code.
func (db *DB) Orgs(ctx context.Context) ([]*hub.Org, error) {
	rows, err := db.r.QueryContext(ctx, selectOrg+` ORDER BY code`)
	if err != nil {
		return nil, mapErr(err, "list organisations")
	}
	defer rows.Close()
	var out []*hub.Org
	for rows.Next() {
		o, err := scanOrg(rows)
		if err != nil {
			return nil, mapErr(err, "list organisations")
		}
		out = append(out, o)
	}
	return out, mapErr(rows.Err(), "list organisations")
}

// CreateWorkspace stores w and its members, setting w.Created when zero and w.DefaultTLP to
// AMBER when unset. EConflict if the slug is taken; EInvalid if a member is no organisation.
func (db *DB) CreateWorkspace(ctx context.Context, w *hub.Workspace) error {
	if w.Slug == "" {
		return hub.FieldError("slug", "a workspace needs a slug")
	}
	created := w.Created
	if created.IsZero() {
		created = now()
	}
	c, err := nanos("created", created)
	if err != nil {
		return err
	}
	tlp := w.DefaultTLP
	if tlp == hub.TLPUnset {
		tlp = hub.TLPAmber
	}
	err = db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO workspaces (slug, name, kind, default_tlp, created) VALUES (?, ?, ?, ?, ?)`,
			w.Slug, w.Name, string(w.Kind), int(tlp), c); err != nil {
			return mapErr(err, "create workspace %s", w.Slug)
		}
		for _, m := range w.Members {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO workspace_members (workspace, org) VALUES (?, ?)`, w.Slug, m); err != nil {
				return mapErr(err, "add member %s to workspace %s", m, w.Slug)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.Created, w.DefaultTLP = created.UTC(), tlp
	return nil
}

const selectWorkspace = `SELECT slug, name, kind, default_tlp, created FROM workspaces w`

// workspaces runs a selectWorkspace query and fills in the members of each workspace.
func (db *DB) workspaces(ctx context.Context, stmt string, args ...any) ([]*hub.Workspace, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, mapErr(err, "begin read")
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, mapErr(err, "list workspaces")
	}
	defer rows.Close()
	var out []*hub.Workspace
	bySlug := map[string]*hub.Workspace{}
	for rows.Next() {
		w := &hub.Workspace{}
		var kind string
		var tlp int
		var created int64
		if err := rows.Scan(&w.Slug, &w.Name, &kind, &tlp, &created); err != nil {
			return nil, mapErr(err, "list workspaces")
		}
		w.Kind, w.DefaultTLP, w.Created = hub.WorkspaceKind(kind), hub.TLP(tlp), fromNanos(created)
		out = append(out, w)
		bySlug[w.Slug] = w
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err, "list workspaces")
	}
	rows.Close()
	if len(out) == 0 {
		return out, nil
	}
	// Few workspaces exist, so reading every membership is cheaper than building an IN list.
	mrows, err := tx.QueryContext(ctx, `SELECT workspace, org FROM workspace_members ORDER BY workspace, org`)
	if err != nil {
		return nil, mapErr(err, "list workspace members")
	}
	defer mrows.Close()
	for mrows.Next() {
		var slug, org string
		if err := mrows.Scan(&slug, &org); err != nil {
			return nil, mapErr(err, "list workspace members")
		}
		if w := bySlug[slug]; w != nil {
			w.Members = append(w.Members, org)
		}
	}
	return out, mapErr(mrows.Err(), "list workspace members")
}

// Workspace returns the workspace with the slug and its members, or ENotFound.
func (db *DB) Workspace(ctx context.Context, slug string) (*hub.Workspace, error) {
	ws, err := db.workspaces(ctx, selectWorkspace+` WHERE slug = ?`, slug)
	if err != nil {
		return nil, err
	}
	if len(ws) == 0 {
		return nil, hub.Errorf(hub.ENotFound, "no workspace %s", slug)
	}
	return ws[0], nil
}

// Workspaces returns every workspace ordered by slug.
func (db *DB) Workspaces(ctx context.Context) ([]*hub.Workspace, error) {
	return db.workspaces(ctx, selectWorkspace+` ORDER BY slug`)
}

// WorkspacesOf returns the workspaces org is a member of, ordered by slug; none for an unknown
// org.
func (db *DB) WorkspacesOf(ctx context.Context, org string) ([]*hub.Workspace, error) {
	return db.workspaces(ctx, selectWorkspace+` WHERE EXISTS (SELECT 1 FROM workspace_members m WHERE m.workspace = w.slug AND m.org = ?) ORDER BY slug`, org)
}

// AddMember makes org a member of the workspace; adding a member again is not an error.
// ENotFound when the workspace or the organisation does not exist.
func (db *DB) AddMember(ctx context.Context, slug, org string) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM workspaces WHERE slug = ?`, slug, "workspace"); err != nil {
			return err
		}
		if err := exists(ctx, tx, `SELECT 1 FROM orgs WHERE code = ?`, org, "organisation"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO workspace_members (workspace, org) VALUES (?, ?)`, slug, org)
		return mapErr(err, "add member %s to workspace %s", org, slug)
	})
}

func exists(ctx context.Context, tx *sql.Tx, stmt, key, what string) error {
	var one int
	err := tx.QueryRowContext(ctx, stmt, key).Scan(&one)
	if err == sql.ErrNoRows {
		return hub.Errorf(hub.ENotFound, "no %s %s", what, key)
	}
	return mapErr(err, "look up %s %s", what, key)
}

// RemoveMember ends org's membership of the workspace; ENotFound when it is no member.
func (db *DB) RemoveMember(ctx context.Context, slug, org string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM workspace_members WHERE workspace = ? AND org = ?`, slug, org)
	return affected(res, err, "member", org+" of workspace "+slug)
}

// DeleteWorkspace removes the workspace, its memberships and its objects (with their recipients
// and tokens) in one transaction; ENotFound when there is no such workspace.
func (db *DB) DeleteWorkspace(ctx context.Context, slug string) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		// Explicit deletes, children first, keep the work in set operations instead of
		// per-row cascades.
		for _, stmt := range []string{
			`DELETE FROM object_tokens WHERE seq IN (SELECT seq FROM objects WHERE workspace = ?)`,
			`DELETE FROM object_recipients WHERE seq IN (SELECT seq FROM objects WHERE workspace = ?)`,
			`DELETE FROM objects WHERE workspace = ?`,
			`DELETE FROM workspace_members WHERE workspace = ?`,
		} {
			if _, err := tx.ExecContext(ctx, stmt, slug); err != nil {
				return mapErr(err, "delete workspace %s", slug)
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM workspaces WHERE slug = ?`, slug)
		return affected(res, err, "workspace", slug)
	})
}

// CreateUser stores u and sets u.ID, and u.Created when zero. EConflict if the username is
// taken; EInvalid if the organisation does not exist.
func (db *DB) CreateUser(ctx context.Context, u *hub.User) error {
	created := u.Created
	if created.IsZero() {
		created = now()
	}
	c, err := nanos("created", created)
	if err != nil {
		return err
	}
	after, err := nanos("sessions_after", u.SessionsAfter)
	if err != nil {
		return err
	}
	var id int64
	err = db.w.QueryRowContext(ctx, `INSERT INTO users (org, username, role, password_hash, totp_secret, recovery_codes, sessions_after, active, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		u.Org, u.Username, string(u.Role), u.PasswordHash, u.TOTPSecret, store.JoinHashes(u.RecoveryCodes), after, boolInt(u.Active), c).Scan(&id)
	if err != nil {
		return mapErr(err, "create user %s", u.Username)
	}
	u.ID, u.Created = id, created.UTC()
	return nil
}

// UpdateUser replaces everything but the ID and Created of user u.ID.
func (db *DB) UpdateUser(ctx context.Context, u *hub.User) error {
	after, err := nanos("sessions_after", u.SessionsAfter)
	if err != nil {
		return err
	}
	res, err := db.w.ExecContext(ctx, `UPDATE users SET org = ?, username = ?, role = ?, password_hash = ?, totp_secret = ?, recovery_codes = ?, sessions_after = ?, active = ? WHERE id = ?`,
		u.Org, u.Username, string(u.Role), u.PasswordHash, u.TOTPSecret, store.JoinHashes(u.RecoveryCodes), after, boolInt(u.Active), u.ID)
	return affected(res, err, "user", u.Username)
}

const selectUser = `SELECT id, org, username, role, password_hash, totp_secret, recovery_codes, sessions_after, active, created FROM users`

func scanUser(s interface{ Scan(...any) error }) (*hub.User, error) {
	u := &hub.User{}
	var role string
	var created, after int64
	var codes []byte
	if err := s.Scan(&u.ID, &u.Org, &u.Username, &role, &u.PasswordHash, &u.TOTPSecret, &codes, &after, &u.Active, &created); err != nil {
		return nil, err
	}
	u.Role, u.Created, u.SessionsAfter, u.RecoveryCodes = hub.Role(role), fromNanos(created), fromNanos(after), store.SplitHashes(codes)
	return u, nil
}

// User returns the user with the id, or ENotFound.
func (db *DB) User(ctx context.Context, id int64) (*hub.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, selectUser+` WHERE id = ?`, id))
	if err != nil {
		return nil, mapErr(err, "user %d", id)
	}
	return u, nil
}

// UserByName returns the user with the username, or ENotFound.
func (db *DB) UserByName(ctx context.Context, username string) (*hub.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, selectUser+` WHERE username = ?`, username))
	if err != nil {
		return nil, mapErr(err, "user %s", username)
	}
	return u, nil
}

// Users returns the users of org, or of every organisation when org is "", ordered by id.
func (db *DB) Users(ctx context.Context, org string) ([]*hub.User, error) {
	rows, err := db.r.QueryContext(ctx, selectUser+` WHERE ? = '' OR org = ? ORDER BY id`, org, org)
	if err != nil {
		return nil, mapErr(err, "list users")
	}
	defer rows.Close()
	var out []*hub.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, mapErr(err, "list users")
		}
		out = append(out, u)
	}
	return out, mapErr(rows.Err(), "list users")
}

// CreateAPIKey stores k, setting k.Created when zero. EConflict if the id is taken.
func (db *DB) CreateAPIKey(ctx context.Context, k *hub.APIKey) error {
	created := k.Created
	if created.IsZero() {
		created = now()
	}
	c, err := nanos("created", created)
	if err != nil {
		return err
	}
	var expires sql.NullInt64
	if !k.Expires.IsZero() {
		n, err := nanos("expires", k.Expires)
		if err != nil {
			return err
		}
		expires = sql.NullInt64{Int64: n, Valid: true}
	}
	var user sql.NullInt64
	if k.UserID != 0 {
		user = sql.NullInt64{Int64: k.UserID, Valid: true}
	}
	_, err = db.w.ExecContext(ctx, `INSERT INTO api_keys (id, hash, org, user_id, scope, expires, revoked, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Hash, k.Org, user, string(k.Scope), expires, boolInt(k.Revoked), c)
	if err != nil {
		return mapErr(err, "create API key %s", k.ID)
	}
	k.Created = created.UTC()
	return nil
}

const selectAPIKey = `SELECT id, hash, org, user_id, scope, expires, revoked, created FROM api_keys`

func scanAPIKey(s interface{ Scan(...any) error }) (*hub.APIKey, error) {
	k := &hub.APIKey{}
	var user, expires sql.NullInt64
	var scope string
	var created int64
	if err := s.Scan(&k.ID, &k.Hash, &k.Org, &user, &scope, &expires, &k.Revoked, &created); err != nil {
		return nil, err
	}
	k.UserID, k.Scope, k.Expires, k.Created = user.Int64, hub.Scope(scope), nullNanos(expires), fromNanos(created)
	return k, nil
}

// APIKey returns the key with the id, or ENotFound.
func (db *DB) APIKey(ctx context.Context, id string) (*hub.APIKey, error) {
	k, err := scanAPIKey(db.r.QueryRowContext(ctx, selectAPIKey+` WHERE id = ?`, id))
	if err != nil {
		return nil, mapErr(err, "API key %s", id)
	}
	return k, nil
}

// APIKeys returns the keys of org ordered by id.
func (db *DB) APIKeys(ctx context.Context, org string) ([]*hub.APIKey, error) {
	rows, err := db.r.QueryContext(ctx, selectAPIKey+` WHERE org = ? ORDER BY id`, org)
	if err != nil {
		return nil, mapErr(err, "list API keys")
	}
	defer rows.Close()
	var out []*hub.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, mapErr(err, "list API keys")
		}
		out = append(out, k)
	}
	return out, mapErr(rows.Err(), "list API keys")
}

// RevokeAPIKey marks the key revoked; revoking it again is not an error. ENotFound for an
// unknown id.
func (db *DB) RevokeAPIKey(ctx context.Context, id string) error {
	res, err := db.w.ExecContext(ctx, `UPDATE api_keys SET revoked = 1 WHERE id = ?`, id)
	return affected(res, err, "API key", id)
}

// Keyring returns the stored keyring blob and its version; ENotFound when none was stored.
func (db *DB) Keyring(ctx context.Context) ([]byte, int64, error) {
	var blob []byte
	var version int64
	err := db.r.QueryRowContext(ctx, `SELECT blob, version FROM keyring WHERE id = 1`).Scan(&blob, &version)
	if err != nil {
		return nil, 0, mapErr(err, "keyring")
	}
	return blob, version, nil
}

// SetKeyring replaces the keyring if its version is still prev (0: none stored) and returns
// the new version, prev+1; EConflict when another writer replaced it first.
func (db *DB) SetKeyring(ctx context.Context, blob []byte, prev int64) (int64, error) {
	if blob == nil {
		blob = []byte{}
	}
	if prev == 0 {
		_, err := db.w.ExecContext(ctx, `INSERT INTO keyring (id, blob, version) VALUES (1, ?, 1)`, blob)
		if err != nil {
			return 0, mapErr(err, "store keyring: another writer stored one first")
		}
		return 1, nil
	}
	res, err := db.w.ExecContext(ctx, `UPDATE keyring SET blob = ?, version = version + 1 WHERE id = 1 AND version = ?`, blob, prev)
	if err != nil {
		return 0, mapErr(err, "store keyring")
	}
	if n, err := res.RowsAffected(); err != nil {
		return 0, mapErr(err, "store keyring")
	} else if n == 0 {
		return 0, hub.Errorf(hub.EConflict, "the keyring is no longer at version %d: another writer replaced it", prev)
	}
	// secure_delete zeroes the old blob in the database file, but the WAL still holds the pages
	// that carried it (a long WAL: see walCheckpointBytes) until they are overwritten. Copying
	// the WAL into the database and truncating it drops them, so that destroyed keys are gone
	// from both files. It waits for readers as any write does; should one outlast the busy
	// timeout, the frames go at a later checkpoint: the keyring is stored either way, so the
	// outcome of the checkpoint is not the caller's error. Only one checkpoint runs at a time:
	// the background one must not make this one fail.
	db.ckpt.lock()
	db.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	db.ckpt.unlock()
	return prev + 1, nil
}
