package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"cshub/internal/backup"
	"cshub/internal/hub"
	"cshub/internal/seal"
)

// runRestore fills an empty data directory (and, with --store, an empty store) from a file
// written by `cshub backup`. The whole file is verified before anything is written. When the
// backup holds the root key, it becomes the key file of the new data directory; otherwise the
// restored hub opens with CSHUB_ROOT_KEY or CSHUB_PASSPHRASE. When a key is at hand the command
// ends by opening the restored hub as `cshub serve` would, so a restore that succeeds gives a hub
// that starts; without one it says what the hub will need.
func runRestore(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "restore")
	var c common
	c.register(fs)
	from := fs.String("from", "", "backup `file` to restore (required)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *from == "" {
		return hub.FieldError("from", "required: the backup file to restore")
	}
	f, err := os.Open(*from)
	if err != nil {
		return hub.FieldError("from", "%v", err)
	}
	defer f.Close()
	if entries, err := os.ReadDir(c.data); err == nil && len(entries) > 0 {
		return hub.FieldError("data", "%s is not empty: restore only into a new data directory", c.data)
	}
	if err := os.MkdirAll(c.data, 0o700); err != nil {
		return err
	}
	st, err := openStore(ctx, &c)
	if err != nil {
		return err
	}
	target, ok := st.(backup.Target)
	if !ok {
		st.Close()
		return hub.FieldError("store", "this store cannot be restored into")
	}
	contents, err := backup.Restore(ctx, target, f)
	st.Close()
	if err != nil {
		return err
	}
	if contents.RootKey != nil {
		if err := writeKeyFile(c.rootKeyFile(), contents.RootKey); err != nil {
			return err
		}
	}
	if contents.RootKey == nil && e.getenv(rootKeyEnv) == "" && e.getenv(passphraseEnv) == "" {
		fmt.Fprintf(e.stderr, "cshub restore: the backup holds no root key: start the restored hub with %s or %s as the original\n", rootKeyEnv, passphraseEnv)
		return json.NewEncoder(e.stdout).Encode(backupSummary(*from, contents))
	}
	a, err := openApp(ctx, e, &c, false)
	if err != nil {
		return fmt.Errorf("restored, but the hub does not open: %w", err)
	}
	a.close()
	return json.NewEncoder(e.stdout).Encode(backupSummary(*from, contents))
}

// writeKeyFile writes key to path as `cshub init` would have (seal.EncodeRootKey, mode 0600),
// refusing to replace a file.
func writeKeyFile(path string, key []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(seal.EncodeRootKey(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}
