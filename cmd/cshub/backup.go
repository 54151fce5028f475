package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"cshub/internal/backup"
	"cshub/internal/hub"
	"cshub/internal/seal"
)

// runBackup writes the hub's store to one file while the hub may keep serving (see package
// backup). The content in the file stays sealed. The root key is added when the hub keeps it as
// a file in its data directory, so that restoring the file gives a data directory that starts
// like the original; such a backup is as sensitive as the data directory and the command says
// so. --without-root-key leaves it out: the restored hub then needs CSHUB_ROOT_KEY or
// CSHUB_PASSPHRASE, as a hub that keeps its key outside the data directory always does.
func runBackup(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "backup")
	var c common
	c.register(fs)
	out := fs.String("out", "", "backup `file` to write (required; must not exist)")
	noKey := fs.Bool("without-root-key", false, "leave the root key file out of the backup; restoring then needs "+rootKeyEnv+" or "+passphraseEnv)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return hub.FieldError("out", "required: the backup file to write")
	}
	if c.store == "" {
		// sqlite.Open would create an empty database: a mistyped --data must not back up nothing.
		if _, err := os.Stat(filepath.Join(c.data, "cshub.db")); err != nil {
			return hub.Errorf(hub.ENotFound, "no hub in %s: %v", c.data, err)
		}
	}
	var root []byte
	if !*noKey && e.getenv(rootKeyEnv) == "" && e.getenv(passphraseEnv) == "" {
		k, err := seal.LoadKeyFile(c.rootKeyFile())
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		root = k
	}
	st, err := openStore(ctx, &c)
	if err != nil {
		return err
	}
	defer st.Close()

	// Written beside the target and renamed once complete and synced, so that a file named
	// --out is always a whole backup.
	if _, err := os.Stat(*out); err == nil {
		return hub.FieldError("out", "%s exists already; a backup never overwrites a file", *out)
	}
	tmp := *out + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return hub.FieldError("out", "%v", err)
	}
	contents, err := backup.Write(ctx, st, f, backup.Options{RootKey: root})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, *out)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if root != nil {
		fmt.Fprintf(e.stderr, "cshub backup: %s holds the root key from %s: anyone with the file reads everything in it; guard it like the data directory, or use --without-root-key\n", *out, c.rootKeyFile())
	} else {
		fmt.Fprintf(e.stderr, "cshub backup: %s holds no root key: a hub restored from it starts only with %s or %s\n", *out, rootKeyEnv, passphraseEnv)
	}
	return json.NewEncoder(e.stdout).Encode(backupSummary(*out, contents))
}

// backupSummary is what backup and restore print about a backup file.
func backupSummary(path string, c backup.Contents) map[string]any {
	return map[string]any{
		"file": path, "created": c.Created, "orgs": c.Orgs, "workspaces": c.Workspaces, "users": c.Users,
		"api_keys": c.APIKeys, "objects": c.Objects, "audit_entries": c.Audit, "root_key": c.RootKey != nil,
	}
}
