package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"cshub/internal/hub"
	"cshub/internal/store"
)

// created returns t, or now when t is zero, at the precision the database keeps.
func created(t time.Time) time.Time {
	if t.IsZero() {
		return now()
	}
	return t.UTC()
}

// affected maps an UPDATE or DELETE that touched no row to ENotFound.
func affected(tag pgconn.CommandTag, err error, what, key string) error {
	if err != nil {
		return mapErr(err, "update %s %s", what, key)
	}
	if tag.RowsAffected() == 0 {
		return hub.Errorf(hub.ENotFound, "no %s %s", what, key)
	}
	return nil
}

// CreateOrg stores o, setting o.Created when it is zero; EConflict if the code is taken.
func (db *DB) CreateOrg(ctx context.Context, o *hub.Org) error {
	if o.Code == "" {
		return hub.FieldError("code", "an organisation needs a code")
	}
	c := created(o.Created)
	_, err := db.pool.Exec(ctx, `INSERT INTO orgs (code, name, country, kind, active, created) VALUES ($1, $2, $3, $4, $5, $6)`,
		o.Code, o.Name, o.Country, string(o.Kind), o.Active, c)
	if err != nil {
		return mapErr(err, "create organisation %s", o.Code)
	}
	o.Created = c
	return nil
}

// UpdateOrg replaces the name, country, kind and active flag of the organisation o.Code.
func (db *DB) UpdateOrg(ctx context.Context, o *hub.Org) error {
	tag, err := db.pool.Exec(ctx, `UPDATE orgs SET name = $1, country = $2, kind = $3, active = $4 WHERE code = $5`,
		o.Name, o.Country, string(o.Kind), o.Active, o.Code)
	return affected(tag, err, "organisation", o.Code)
}

const selectOrg = `SELECT code, name, country, kind, active, created FROM orgs`

func scanOrg(s pgx.Row) (*hub.Org, error) {
	o := &hub.Org{}
	var kind string
	if err := s.Scan(&o.Code, &o.Name, &o.Country, &kind, &o.Active, &o.Created); err != nil {
		return nil, err
	}
	o.Kind, o.Created = hub.OrgKind(kind), utc(o.Created)
	return o, nil
}

// Org returns the organisation with the code, or ENotFound.
func (db *DB) Org(ctx context.Context, code string) (*hub.Org, error) {
	o, err := scanOrg(db.pool.QueryRow(ctx, selectOrg+` WHERE code = $1`, code))
	if err != nil {
		return nil, mapErr(err, "organisation %s", code)
	}
	return o, nil
}

// Orgs returns every organisation ordered by code.
func (db *DB) Orgs(ctx context.Context) ([]*hub.Org, error) {
	return list(ctx, db, "list organisations", scanOrg, selectOrg+` ORDER BY code`)
}

// list runs a query and scans each row with scan.
func list[T any](ctx context.Context, db *DB, what string, scan func(pgx.Row) (*T, error), stmt string, args ...any) ([]*T, error) {
	rows, err := db.pool.Query(ctx, stmt, args...)
	if err != nil {
		return nil, mapErr(err, "%s", what)
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, mapErr(err, "%s", what)
		}
		out = append(out, v)
	}
	return out, mapErr(rows.Err(), "%s", what)
}

// CreateWorkspace stores w and its members, setting w.Created when zero and w.DefaultTLP to
// AMBER when unset. EConflict if the slug is taken; EInvalid if a member is no organisation.
func (db *DB) CreateWorkspace(ctx context.Context, w *hub.Workspace) error {
	if w.Slug == "" {
		return hub.FieldError("slug", "a workspace needs a slug")
	}
	c := created(w.Created)
	tlp := w.DefaultTLP
	if tlp == hub.TLPUnset {
		tlp = hub.TLPAmber
	}
	err := db.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO workspaces (slug, name, kind, default_tlp, created) VALUES ($1, $2, $3, $4, $5)`,
			w.Slug, w.Name, string(w.Kind), int16(tlp), c); err != nil {
			return mapErr(err, "create workspace %s", w.Slug)
		}
		for _, m := range w.Members {
			if _, err := tx.Exec(ctx, `INSERT INTO workspace_members (workspace, org) VALUES ($1, $2) ON CONFLICT DO NOTHING`, w.Slug, m); err != nil {
				return mapErr(err, "add member %s to workspace %s", m, w.Slug)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.Created, w.DefaultTLP = c, tlp
	return nil
}

// selectWorkspace reads workspaces with their members in one statement.
const selectWorkspace = `SELECT w.slug, w.name, w.kind, w.default_tlp, w.created,
	ARRAY(SELECT m.org FROM workspace_members m WHERE m.workspace = w.slug ORDER BY m.org)
FROM workspaces w`

func scanWorkspace(s pgx.Row) (*hub.Workspace, error) {
	w := &hub.Workspace{}
	var kind string
	var tlp int16
	if err := s.Scan(&w.Slug, &w.Name, &kind, &tlp, &w.Created, &w.Members); err != nil {
		return nil, err
	}
	w.Kind, w.DefaultTLP, w.Created = hub.WorkspaceKind(kind), hub.TLP(tlp), utc(w.Created)
	if len(w.Members) == 0 {
		w.Members = nil
	}
	return w, nil
}

// Workspace returns the workspace with the slug and its members, or ENotFound.
func (db *DB) Workspace(ctx context.Context, slug string) (*hub.Workspace, error) {
	w, err := scanWorkspace(db.pool.QueryRow(ctx, selectWorkspace+` WHERE w.slug = $1`, slug))
	if err != nil {
		return nil, mapErr(err, "workspace %s", slug)
	}
	return w, nil
}

// Workspaces returns every workspace ordered by slug.
func (db *DB) Workspaces(ctx context.Context) ([]*hub.Workspace, error) {
	return list(ctx, db, "list workspaces", scanWorkspace, selectWorkspace+` ORDER BY w.slug`)
}

// WorkspacesOf returns the workspaces org is a member of, ordered by slug; none for an unknown
// org.
func (db *DB) WorkspacesOf(ctx context.Context, org string) ([]*hub.Workspace, error) {
	return list(ctx, db, "list workspaces", scanWorkspace,
		selectWorkspace+` WHERE EXISTS (SELECT 1 FROM workspace_members m WHERE m.workspace = w.slug AND m.org = $1) ORDER BY w.slug`, org)
}

// AddMember makes org a member of the workspace; adding a member again is not an error.
// ENotFound when the workspace or the organisation does not exist.
func (db *DB) AddMember(ctx context.Context, slug, org string) error {
	return db.write(ctx, func(tx pgx.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM workspaces WHERE slug = $1`, slug, "workspace"); err != nil {
			return err
		}
		if err := exists(ctx, tx, `SELECT 1 FROM orgs WHERE code = $1`, org, "organisation"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO workspace_members (workspace, org) VALUES ($1, $2) ON CONFLICT DO NOTHING`, slug, org)
		return mapErr(err, "add member %s to workspace %s", org, slug)
	})
}

func exists(ctx context.Context, tx pgx.Tx, stmt, key, what string) error {
	var one int
	err := tx.QueryRow(ctx, stmt, key).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return hub.Errorf(hub.ENotFound, "no %s %s", what, key)
	}
	return mapErr(err, "look up %s %s", what, key)
}

// RemoveMember ends org's membership of the workspace; ENotFound when it is no member.
func (db *DB) RemoveMember(ctx context.Context, slug, org string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM workspace_members WHERE workspace = $1 AND org = $2`, slug, org)
	return affected(tag, err, "member", org+" of workspace "+slug)
}

// DeleteWorkspace removes the workspace, its memberships and its objects (with their recipients
// and tokens) in one transaction; ENotFound when there is no such workspace.
func (db *DB) DeleteWorkspace(ctx context.Context, slug string) error {
	return db.write(ctx, func(tx pgx.Tx) error {
		for _, stmt := range []string{
			`DELETE FROM object_tokens WHERE seq IN (SELECT seq FROM objects WHERE workspace = $1)`,
			`DELETE FROM object_recipients WHERE seq IN (SELECT seq FROM objects WHERE workspace = $1)`,
			`DELETE FROM objects WHERE workspace = $1`,
			`DELETE FROM workspace_members WHERE workspace = $1`,
		} {
			if _, err := tx.Exec(ctx, stmt, slug); err != nil {
				return mapErr(err, "delete workspace %s", slug)
			}
		}
		tag, err := tx.Exec(ctx, `DELETE FROM workspaces WHERE slug = $1`, slug)
		return affected(tag, err, "workspace", slug)
	})
}

// CreateUser stores u and sets u.ID, and u.Created when zero. EConflict if the username is
// taken; EInvalid if the organisation does not exist.
func (db *DB) CreateUser(ctx context.Context, u *hub.User) error {
	c := created(u.Created)
	var id int64
	err := db.pool.QueryRow(ctx, `INSERT INTO users (org, username, role, password_hash, totp_secret, recovery_codes, sessions_after, active, created)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		u.Org, u.Username, string(u.Role), u.PasswordHash, u.TOTPSecret, store.JoinHashes(u.RecoveryCodes), nullTime(u.SessionsAfter), u.Active, c).Scan(&id)
	if err != nil {
		return mapErr(err, "create user %s", u.Username)
	}
	u.ID, u.Created = id, c
	return nil
}

// UpdateUser replaces everything but the ID and Created of user u.ID.
func (db *DB) UpdateUser(ctx context.Context, u *hub.User) error {
	tag, err := db.pool.Exec(ctx, `UPDATE users SET org = $1, username = $2, role = $3, password_hash = $4, totp_secret = $5, recovery_codes = $6, sessions_after = $7, active = $8 WHERE id = $9`,
		u.Org, u.Username, string(u.Role), u.PasswordHash, u.TOTPSecret, store.JoinHashes(u.RecoveryCodes), nullTime(u.SessionsAfter), u.Active, u.ID)
	return affected(tag, err, "user", u.Username)
}

const selectUser = `SELECT id, org, username, role, password_hash, totp_secret, recovery_codes, sessions_after, active, created FROM users`

func scanUser(s pgx.Row) (*hub.User, error) {
	u := &hub.User{}
	var role string
	var codes []byte
	var after *time.Time
	if err := s.Scan(&u.ID, &u.Org, &u.Username, &role, &u.PasswordHash, &u.TOTPSecret, &codes, &after, &u.Active, &u.Created); err != nil {
		return nil, err
	}
	u.Role, u.Created, u.RecoveryCodes = hub.Role(role), utc(u.Created), store.SplitHashes(codes)
	if after != nil {
		u.SessionsAfter = utc(*after)
	}
	return u, nil
}

// User returns the user with the id, or ENotFound.
func (db *DB) User(ctx context.Context, id int64) (*hub.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx, selectUser+` WHERE id = $1`, id))
	if err != nil {
		return nil, mapErr(err, "user %d", id)
	}
	return u, nil
}

// UserByName returns the user with the username, or ENotFound.
func (db *DB) UserByName(ctx context.Context, username string) (*hub.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx, selectUser+` WHERE username = $1`, username))
	if err != nil {
		return nil, mapErr(err, "user %s", username)
	}
	return u, nil
}

// Users returns the users of org, or of every organisation when org is "", ordered by id.
func (db *DB) Users(ctx context.Context, org string) ([]*hub.User, error) {
	return list(ctx, db, "list users", scanUser, selectUser+` WHERE $1 = '' OR org = $1 ORDER BY id`, org)
}

// CreateAPIKey stores k, setting k.Created when zero. EConflict if the id is taken.
func (db *DB) CreateAPIKey(ctx context.Context, k *hub.APIKey) error {
	c := created(k.Created)
	expires := nullTime(k.Expires)
	var user *int64
	if k.UserID != 0 {
		user = &k.UserID
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO api_keys (id, hash, org, user_id, scope, expires, revoked, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		k.ID, k.Hash, k.Org, user, string(k.Scope), expires, k.Revoked, c)
	if err != nil {
		return mapErr(err, "create API key %s", k.ID)
	}
	k.Created = c
	return nil
}

const selectAPIKey = `SELECT id, hash, org, user_id, scope, expires, revoked, created FROM api_keys`

func scanAPIKey(s pgx.Row) (*hub.APIKey, error) {
	k := &hub.APIKey{}
	var user *int64
	var expires *time.Time
	var scope string
	if err := s.Scan(&k.ID, &k.Hash, &k.Org, &user, &scope, &expires, &k.Revoked, &k.Created); err != nil {
		return nil, err
	}
	if user != nil {
		k.UserID = *user
	}
	if expires != nil {
		k.Expires = expires.UTC()
	}
	k.Scope, k.Created = hub.Scope(scope), utc(k.Created)
	return k, nil
}

// APIKey returns the key with the id, or ENotFound.
func (db *DB) APIKey(ctx context.Context, id string) (*hub.APIKey, error) {
	k, err := scanAPIKey(db.pool.QueryRow(ctx, selectAPIKey+` WHERE id = $1`, id))
	if err != nil {
		return nil, mapErr(err, "API key %s", id)
	}
	return k, nil
}

// APIKeys returns the keys of org ordered by id.
func (db *DB) APIKeys(ctx context.Context, org string) ([]*hub.APIKey, error) {
	return list(ctx, db, "list API keys", scanAPIKey, selectAPIKey+` WHERE org = $1 ORDER BY id`, org)
}

// RevokeAPIKey marks the key revoked; revoking it again is not an error. ENotFound for an
// unknown id.
func (db *DB) RevokeAPIKey(ctx context.Context, id string) error {
	tag, err := db.pool.Exec(ctx, `UPDATE api_keys SET revoked = true WHERE id = $1`, id)
	return affected(tag, err, "API key", id)
}

// Keyring returns the stored keyring blob and its version; ENotFound when none was stored.
func (db *DB) Keyring(ctx context.Context) ([]byte, int64, error) {
	var blob []byte
	var version int64
	err := db.pool.QueryRow(ctx, `SELECT blob, version FROM keyring WHERE id = 1`).Scan(&blob, &version)
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
		_, err := db.pool.Exec(ctx, `INSERT INTO keyring (id, blob, version) VALUES (1, $1, 1)`, blob)
		if err != nil {
			return 0, mapErr(err, "store keyring: another writer stored one first")
		}
		return 1, nil
	}
	tag, err := db.pool.Exec(ctx, `UPDATE keyring SET blob = $1, version = version + 1 WHERE id = 1 AND version = $2`, blob, prev)
	if err != nil {
		return 0, mapErr(err, "store keyring")
	}
	if tag.RowsAffected() == 0 {
		return 0, hub.Errorf(hub.EConflict, "the keyring is no longer at version %d: another writer replaced it", prev)
	}
	return prev + 1, nil
}
