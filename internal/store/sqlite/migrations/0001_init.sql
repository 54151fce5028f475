-- Timestamps are INTEGER unix nanoseconds (UTC), so they sort as numbers and keep every digit a
-- STIX timestamp can carry; the zero time.Time is stored as the smallest INTEGER.

CREATE TABLE orgs (
	code    TEXT PRIMARY KEY,
	name    TEXT NOT NULL,
	country TEXT NOT NULL,
	kind    TEXT NOT NULL,
	active  INTEGER NOT NULL,
	created INTEGER NOT NULL
);

CREATE TABLE workspaces (
	slug        TEXT PRIMARY KEY,
	name        TEXT NOT NULL,
	kind        TEXT NOT NULL,
	default_tlp INTEGER NOT NULL,
	created     INTEGER NOT NULL
);

CREATE TABLE workspace_members (
	workspace TEXT NOT NULL REFERENCES workspaces (slug) ON DELETE CASCADE,
	org       TEXT NOT NULL REFERENCES orgs (code),
	PRIMARY KEY (workspace, org)
) WITHOUT ROWID;
CREATE INDEX workspace_members_org ON workspace_members (org);

CREATE TABLE users (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	org           TEXT NOT NULL REFERENCES orgs (code),
	username      TEXT NOT NULL UNIQUE,
	role          TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	totp_secret   BLOB,
	active        INTEGER NOT NULL,
	created       INTEGER NOT NULL
);
CREATE INDEX users_org ON users (org);

CREATE TABLE api_keys (
	id      TEXT PRIMARY KEY,
	hash    BLOB NOT NULL,
	org     TEXT NOT NULL REFERENCES orgs (code),
	user_id INTEGER REFERENCES users (id),
	scope   TEXT NOT NULL,
	expires INTEGER, -- NULL: never
	revoked INTEGER NOT NULL,
	created INTEGER NOT NULL
);
CREATE INDEX api_keys_org ON api_keys (org);

-- One row at most: the sealed keyring, replaced whole.
CREATE TABLE keyring (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	blob    BLOB NOT NULL,
	version INTEGER NOT NULL
);

CREATE TABLE audit (
	seq     INTEGER PRIMARY KEY,
	time    INTEGER NOT NULL,
	org     TEXT NOT NULL,
	actor   TEXT NOT NULL,
	action  TEXT NOT NULL,
	target  TEXT NOT NULL,
	details BLOB,
	prev    BLOB,
	hash    BLOB
);

-- The last object seq handed out. Seqs come from here rather than from max(seq) so that deleting
-- the newest objects never lets a seq be handed out twice (a cursor past it would skip the new one).
CREATE TABLE object_seq (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	last INTEGER NOT NULL
);
INSERT INTO object_seq (id, last) VALUES (1, 0);

-- latest is 1 on the version of each (workspace, id) with the newest modified.
-- body is the last column so that reading the metadata never touches overflow pages.
CREATE TABLE objects (
	seq       INTEGER PRIMARY KEY,
	id        TEXT NOT NULL,
	type      TEXT NOT NULL,
	workspace TEXT NOT NULL REFERENCES workspaces (slug) ON DELETE CASCADE,
	author    TEXT NOT NULL,
	tlp       INTEGER NOT NULL,
	created   INTEGER NOT NULL,
	modified  INTEGER NOT NULL,
	added     INTEGER NOT NULL,
	revoked   INTEGER NOT NULL,
	latest    INTEGER NOT NULL,
	body      BLOB NOT NULL,
	-- The version key, (workspace, id, modified), with id first so that it is also the index
	-- GetObject and the IDs filter look objects up by.
	UNIQUE (id, workspace, modified)
);
CREATE INDEX objects_type_seq ON objects (type, seq);
CREATE INDEX objects_workspace_seq ON objects (workspace, seq);
CREATE INDEX objects_added ON objects (added);

CREATE TABLE object_recipients (
	seq INTEGER NOT NULL REFERENCES objects (seq) ON DELETE CASCADE,
	org TEXT NOT NULL,
	PRIMARY KEY (seq, org)
) WITHOUT ROWID;

CREATE TABLE object_tokens (
	token BLOB NOT NULL,
	seq   INTEGER NOT NULL REFERENCES objects (seq) ON DELETE CASCADE,
	PRIMARY KEY (token, seq)
) WITHOUT ROWID;
CREATE INDEX object_tokens_seq ON object_tokens (seq);
