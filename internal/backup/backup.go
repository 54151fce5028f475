// Package backup copies a hub's store into one file while the hub keeps serving, and restores
// such a file into an empty store.
//
// A backup is logical: it reads through hub.Store and writes through it (plus the two
// Restore* methods of Target), so it works on either store and can move a hub from SQLite to
// PostgreSQL. Nothing is decrypted on the way: object bodies, TOTP secrets and audit details
// are copied as the ciphertext the store holds and the keyring as its sealed blob, so without
// the root key a backup reveals what the store's plain columns do (organisations, user names,
// password and API-key hashes, object ids, types and times) and no content.
//
// The root key goes into the file only when Options.RootKey is set. cmd/cshub sets it when the
// hub keeps its key as a file in its data directory, because an operator restoring that hub
// expects the restored directory to start as the original did; such a backup must be guarded
// like the data directory itself.
//
// Consistency: a backup holds everything committed before Write began, and may hold some of
// what was committed while it ran. It reads organisations first and drops what refers to an
// organisation, user or workspace it did not read, so the file never breaks a reference; it
// reads objects in Seq order, then the audit chain, and the keyring last, so that every key
// term that sealed a copied body is in the copied keyring.
package backup

import (
	"context"
	"errors"
	"io"
	"time"

	"cshub/internal/hub"
)

// batch is how many objects or audit entries one store call reads or restores.
const batch = 500

// Options says what Write puts in the file besides the store.
type Options struct {
	RootKey []byte    // the 32-byte root key, or nil to leave it out
	Now     time.Time // the backup's creation time; zero means now
}

// Contents counts what a backup holds.
type Contents struct {
	Created                                          time.Time
	Orgs, Workspaces, Users, APIKeys, Objects, Audit int
	RootKey                                          []byte // nil when the file holds none
}

// Target is a store a backup can be restored into: besides hub.Store it stores objects with
// their original Seq and Added and users with their original ID, which sealed values and
// cursors depend on. Both store/sqlite and store/postgres implement it.
type Target interface {
	hub.Store
	RestoreObjects(ctx context.Context, objs []*hub.Object) error
	RestoreUser(ctx context.Context, u *hub.User) error
}

// Write copies st to w. It only reads st, so a hub may keep serving and writing meanwhile; see
// the package comment for what the copy then holds. An error leaves w without its end record,
// so the partial file is never taken for a backup.
func Write(ctx context.Context, st hub.Store, w io.Writer, opt Options) (Contents, error) {
	var c Contents
	orgs, err := st.Orgs(ctx)
	if err != nil {
		return c, err
	}
	known := make(map[string]bool, len(orgs))
	for _, o := range orgs {
		known[o.Code] = true
	}
	users, err := st.Users(ctx, "")
	if err != nil {
		return c, err
	}
	userIDs := make(map[int64]bool, len(users))
	var keys []*hub.APIKey
	for _, o := range orgs {
		ks, err := st.APIKeys(ctx, o.Code)
		if err != nil {
			return c, err
		}
		keys = append(keys, ks...)
	}
	workspaces, err := st.Workspaces(ctx)
	if err != nil {
		return c, err
	}
	wsKnown := make(map[string]bool, len(workspaces))

	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	c.Created = now.UTC()
	e, err := newEncoder(w, now)
	if err != nil {
		return c, err
	}
	for _, o := range orgs {
		c.Orgs++
		if err := e.put(record{Org: &orgRec{o.Code, o.Name, o.Country, string(o.Kind), o.Active, o.Created}}); err != nil {
			return c, err
		}
	}
	for _, ws := range workspaces {
		var members []string
		for _, m := range ws.Members {
			if known[m] {
				members = append(members, m)
			}
		}
		wsKnown[ws.Slug] = true
		c.Workspaces++
		if err := e.put(record{Workspace: &wsRec{ws.Slug, ws.Name, string(ws.Kind), ws.DefaultTLP, members, ws.Created}}); err != nil {
			return c, err
		}
	}
	for _, u := range users {
		if !known[u.Org] {
			continue // created after the organisations were read
		}
		userIDs[u.ID] = true
		c.Users++
		if err := e.put(record{User: &userRec{u.ID, u.Org, u.Username, string(u.Role), u.PasswordHash, u.TOTPSecret, u.Active, u.Created}}); err != nil {
			return c, err
		}
	}
	for _, k := range keys {
		if k.UserID != 0 && !userIDs[k.UserID] {
			continue // its user was created after the users were read
		}
		c.APIKeys++
		if err := e.put(record{APIKey: &keyRec{k.ID, k.Hash, k.Org, k.UserID, string(k.Scope), k.Expires, k.Revoked, k.Created}}); err != nil {
			return c, err
		}
	}

	system := hub.Viewer{System: true}
	for after := int64(0); ; {
		objs, err := st.ListObjects(ctx, hub.Filter{Viewer: system, AllVersions: true, AfterSeq: after, Limit: batch})
		if err != nil {
			return c, err
		}
		for _, o := range objs {
			after = o.Seq
			if !wsKnown[o.Workspace] {
				continue // its workspace was created after the workspaces were read
			}
			c.Objects++
			if err := e.put(record{Object: &objRec{o.Seq, o.ID, o.Type, o.Workspace, o.Author, o.TLP, o.Recipients,
				o.Created, o.Modified, o.Added, o.Revoked, o.Body, o.Tokens}}); err != nil {
				return c, err
			}
		}
		if len(objs) < batch {
			break
		}
	}
	for after := int64(0); ; {
		entries, err := st.AuditEntries(ctx, after, batch)
		if err != nil {
			return c, err
		}
		for _, a := range entries {
			after = a.Seq
			c.Audit++
			if err := e.put(record{Audit: &auditRec{a.Seq, a.Time, a.Org, a.Actor, a.Action, a.Target, a.Details, a.Prev, a.Hash}}); err != nil {
				return c, err
			}
		}
		if len(entries) < batch {
			break
		}
	}
	blob, _, err := st.Keyring(ctx)
	if err != nil {
		return c, err
	}
	if err := e.put(record{Keyring: &ringRec{Blob: blob}}); err != nil {
		return c, err
	}
	if opt.RootKey != nil {
		c.RootKey = opt.RootKey
		if err := e.put(record{RootKey: &rootRec{Key: opt.RootKey}}); err != nil {
			return c, err
		}
	}
	return c, e.close()
}

// Verify reads a whole backup file and checks its structure, its record count and its hash,
// without touching any store. It returns what the file holds.
func Verify(r io.Reader) (Contents, error) {
	return scan(r, nil)
}

// scan reads r record by record, counting into Contents and passing each record to apply
// when it is set.
func scan(r io.Reader, apply func(*record) error) (Contents, error) {
	var c Contents
	d, err := newDecoder(r)
	if err != nil {
		return c, err
	}
	c.Created = d.created
	for {
		rec, err := d.next()
		if errors.Is(err, io.EOF) {
			return c, nil
		}
		if err != nil {
			return c, err
		}
		switch {
		case rec.Org != nil:
			c.Orgs++
		case rec.Workspace != nil:
			c.Workspaces++
		case rec.User != nil:
			c.Users++
		case rec.APIKey != nil:
			c.APIKeys++
		case rec.Object != nil:
			c.Objects++
		case rec.Audit != nil:
			c.Audit++
		case rec.RootKey != nil:
			c.RootKey = rec.RootKey.Key
		}
		if apply != nil {
			if err := apply(rec); err != nil {
				return c, err
			}
		}
	}
}

// Restore verifies the whole file first (see Verify), then writes it into st, which must hold
// no hub yet: no keyring and no organisation. The keyring is written last, so a restore that
// fails half-way leaves a store that no command takes for a hub; empty it and try again.
func Restore(ctx context.Context, st Target, r io.ReadSeeker) (Contents, error) {
	if _, err := Verify(r); err != nil {
		return Contents{}, err
	}
	if _, _, err := st.Keyring(ctx); hub.ErrorCode(err) != hub.ENotFound {
		if err != nil {
			return Contents{}, err
		}
		return Contents{}, hub.Errorf(hub.EConflict, "the target store holds a hub already; restore only into an empty one")
	}
	if orgs, err := st.Orgs(ctx); err != nil || len(orgs) > 0 {
		if err != nil {
			return Contents{}, err
		}
		return Contents{}, hub.Errorf(hub.EConflict, "the target store holds %d organisations; restore only into an empty one", len(orgs))
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return Contents{}, err
	}
	var objs []*hub.Object
	flush := func() error {
		if len(objs) == 0 {
			return nil
		}
		err := st.RestoreObjects(ctx, objs)
		objs = objs[:0]
		return err
	}
	return scan(r, func(rec *record) error {
		if rec.Object == nil {
			if err := flush(); err != nil {
				return err
			}
		}
		switch {
		case rec.Org != nil:
			o := rec.Org
			return st.CreateOrg(ctx, &hub.Org{Code: o.Code, Name: o.Name, Country: o.Country, Kind: hub.OrgKind(o.Kind), Active: o.Active, Created: o.Created})
		case rec.Workspace != nil:
			w := rec.Workspace
			return st.CreateWorkspace(ctx, &hub.Workspace{Slug: w.Slug, Name: w.Name, Kind: hub.WorkspaceKind(w.Kind), DefaultTLP: w.DefaultTLP, Members: w.Members, Created: w.Created})
		case rec.User != nil:
			u := rec.User
			return st.RestoreUser(ctx, &hub.User{ID: u.ID, Org: u.Org, Username: u.Username, Role: hub.Role(u.Role), PasswordHash: u.PasswordHash, TOTPSecret: u.TOTPSecret, Active: u.Active, Created: u.Created})
		case rec.APIKey != nil:
			k := rec.APIKey
			return st.CreateAPIKey(ctx, &hub.APIKey{ID: k.ID, Hash: k.Hash, Org: k.Org, UserID: k.UserID, Scope: hub.Scope(k.Scope), Expires: k.Expires, Revoked: k.Revoked, Created: k.Created})
		case rec.Object != nil:
			o := rec.Object
			objs = append(objs, &hub.Object{Seq: o.Seq, ID: o.ID, Type: o.Type, Workspace: o.Workspace, Author: o.Author, TLP: o.TLP, Recipients: o.Recipients,
				Created: o.Created, Modified: o.Modified, Added: o.Added, Revoked: o.Revoked, Body: o.Body, Tokens: o.Tokens})
			if len(objs) == batch {
				return flush()
			}
		case rec.Audit != nil:
			a := rec.Audit
			return st.AppendAudit(ctx, &hub.AuditEntry{Seq: a.Seq, Time: a.Time, Org: a.Org, Actor: a.Actor, Action: a.Action, Target: a.Target, Details: a.Details, Prev: a.Prev, Hash: a.Hash})
		case rec.Keyring != nil:
			_, err := st.SetKeyring(ctx, rec.Keyring.Blob, 0)
			return err
		}
		return nil
	})
}
