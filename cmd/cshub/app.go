package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cshub/internal/api"
	"cshub/internal/audit"
	"cshub/internal/auth"
	"cshub/internal/bus"
	"cshub/internal/bus/natsbus"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/limits"
	"cshub/internal/members"
	"cshub/internal/seal"
	"cshub/internal/store/postgres"
	"cshub/internal/store/sqlite"
)

// rootKeyEnv names the environment variable that may carry the root key (base64 or hex), for
// deployments that keep it in a secret manager instead of a file.
const rootKeyEnv = "CSHUB_ROOT_KEY"

// passphraseEnv names the environment variable that may carry a passphrase from which the root
// key is derived with argon2id, instead of a key file or CSHUB_ROOT_KEY.
const passphraseEnv = "CSHUB_PASSPHRASE"

// common holds the flags every command that opens a hub shares; they mean the same everywhere.
type common struct {
	data  string
	store string
	nats  string

	natsStream, natsPrefix string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.data, "data", "./cshub-data", "data `directory` (SQLite store, root key, TLS certificate)")
	fs.StringVar(&c.store, "store", "", "store `URL`: postgres://… for PostgreSQL; default: SQLite in the data directory")
	fs.StringVar(&c.nats, "nats", "", "NATS JetStream `URL` (nats://…) for events between replicas; default: in-process")
	fs.StringVar(&c.natsStream, "nats-stream", natsbus.DefaultStream, "JetStream `stream` holding the events, with --nats; every replica of a hub names the same")
	fs.StringVar(&c.natsPrefix, "nats-prefix", natsbus.DefaultPrefix, "subject `prefix` of the events, with --nats; hubs sharing a NATS server each need their own")
}

func (c *common) rootKeyFile() string { return filepath.Join(c.data, "root.key") }

// app is an opened hub: everything wired by hand, in one place.
type app struct {
	store   hub.Store
	barrier *seal.Barrier
	bus     hub.Bus
	kb      *kb.Service
	audit   *audit.Log
	auth    *auth.Authenticator
	// authConfig is what auth was made from, for serve to add the client certificate mapping.
	authConfig auth.Config
	sessions   *auth.Sessions  // signed session cookies of the web interface
	admin      *api.Admin      // identity administration, for the API and the CLI
	limits     *limits.Limiter // login throttling shared by replicas; nil on SQLite (one process)
	log        *slog.Logger
}

// openApp opens the hub in c. With create, a hub that does not exist yet is initialised: a root
// key file is made and the keyring created; without it, a missing hub is an error that says how
// to make one.
func openApp(ctx context.Context, e *env, c *common, create bool) (*app, error) {
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := os.MkdirAll(c.data, 0o700); err != nil {
		return nil, err
	}
	st, err := openStore(ctx, c)
	if err != nil {
		return nil, err
	}
	a := &app{store: st, log: log}
	ok := false
	defer func() {
		if !ok {
			a.close()
		}
	}()

	a.barrier = seal.New(st)
	_, _, kerr := st.Keyring(ctx)
	fresh := hub.ErrorCode(kerr) == hub.ENotFound
	if kerr != nil && !fresh {
		return nil, kerr
	}
	if fresh && !create {
		return nil, hub.Errorf(hub.ENotFound, "no hub in %s: run 'cshub init --data %s' (or 'cshub demo') first", c.data, c.data)
	}
	if pass := e.getenv(passphraseEnv); pass != "" {
		// An operator who types a passphrase at start keeps no key on the machine at all.
		if fresh {
			err = a.barrier.InitializePassphrase(ctx, []byte(pass), seal.KDFParams{})
		} else {
			err = a.barrier.UnsealPassphrase(ctx, []byte(pass))
		}
	} else {
		var root []byte
		if root, err = rootKey(e, c, fresh); err != nil {
			return nil, err
		}
		if fresh {
			err = a.barrier.Initialize(ctx, root)
		} else {
			err = a.barrier.Unseal(ctx, root)
		}
	}
	if err != nil {
		return nil, err
	}

	if c.nats != "" {
		a.bus, err = natsbus.Open(ctx, c.nats, natsbus.Options{Stream: c.natsStream, Prefix: c.natsPrefix, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("nats: %w", err)
		}
	} else {
		a.bus = bus.New(bus.Options{})
	}
	a.audit = audit.New(st, audit.Barrier{B: a.barrier}, nil)
	a.kb = kb.New(kb.Config{Store: st, Sealer: a.barrier, Bus: a.bus, Audit: a.audit, Log: log})
	macKey, err := a.barrier.MACKey()
	if err != nil {
		return nil, err
	}
	a.sessions = &auth.Sessions{Key: macKey, Idle: 30 * time.Minute, Absolute: 12 * time.Hour}
	acfg := auth.Config{Directory: st, Open: members.TOTPOpener(a.barrier), Sessions: a.sessions}
	if isPostgres(c.store) {
		// Replicas share one PostgreSQL, and with it the login throttling: a guesser does not
		// get a fresh allowance on every replica.
		if a.limits, err = limits.Open(ctx, c.store, "user", limits.Policy{}); err != nil {
			return nil, err
		}
		ips, err := a.limits.WithScope("address", limits.Policy{Max: 50, Window: 15 * time.Minute, Backoff: time.Minute, MaxBackoff: 15 * time.Minute})
		if err != nil {
			return nil, err
		}
		acfg.Users, acfg.IPs = a.limits, ips
	}
	a.authConfig = acfg
	a.auth, err = auth.New(acfg)
	if err != nil {
		return nil, err
	}
	m := members.New(st, a.barrier, a.auth, nil)
	m.SetAudit(a.audit)
	a.admin, err = api.NewAdmin(api.AdminConfig{Dir: st, Members: m, Audit: a.audit, Log: log})
	if err != nil {
		return nil, err
	}
	ok = true
	return a, nil
}

func isPostgres(store string) bool {
	return strings.HasPrefix(store, "postgres://") || strings.HasPrefix(store, "postgresql://")
}

func (a *app) close() {
	if a.limits != nil {
		a.limits.Close()
	}
	if a.bus != nil {
		a.bus.Close()
	}
	if a.store != nil {
		a.store.Close()
	}
}

func openStore(ctx context.Context, c *common) (hub.Store, error) {
	switch {
	case c.store == "":
		return sqlite.Open(filepath.Join(c.data, "cshub.db"))
	case isPostgres(c.store):
		return postgres.Open(ctx, c.store)
	case strings.HasPrefix(c.store, "sqlite:"):
		return sqlite.Open(strings.TrimPrefix(c.store, "sqlite:"))
	}
	return nil, hub.FieldError("store", "%q is neither postgres://… nor sqlite:PATH", c.store)
}

// rootKey finds the root key: the environment variable first, then the key file. For a fresh
// hub without either, it makes the key file.
func rootKey(e *env, c *common, fresh bool) ([]byte, error) {
	if v := e.getenv(rootKeyEnv); v != "" {
		return seal.ParseRootKey(v)
	}
	root, err := seal.LoadKeyFile(c.rootKeyFile())
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return root, err
	}
	if !fresh {
		return nil, hub.Errorf(hub.ESealed, "the hub is sealed: no root key in %s and %s is not set", c.rootKeyFile(), rootKeyEnv)
	}
	return seal.CreateKeyFile(c.rootKeyFile())
}
