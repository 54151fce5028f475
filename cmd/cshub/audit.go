package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cshub/internal/audit"
	"cshub/internal/hub"
	"cshub/internal/seal"
)

// noKeys is the audit.Sealer of a command that runs without the root key: it opens nothing.
type noKeys struct{}

func (noKeys) Encrypt(audit.Location, []byte) ([]byte, error) {
	return nil, hub.Errorf(hub.ESealed, "audit: sealing needs the root key")
}

func (noKeys) Decrypt(audit.Location, []byte) ([]byte, error) {
	return nil, hub.Errorf(hub.ESealed, "audit: opening details needs the root key")
}

// auditCommands are the subcommands of `cshub audit`.
var auditCommands = []struct{ name, usage, summary string }{
	{"verify", "[--data DIR] [--head SEQ:HASH]", "check every link of the audit log's hash chain (needs no root key)"},
	{"list", "[--data DIR] [--after N] [--limit N]", "print audit entries as JSON lines, details opened"},
}

// runAudit runs `cshub audit verify|list`: the subcommand named by args[0] with the rest.
func runAudit(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		// No subcommand: only --help is understood.
		fs := flag.NewFlagSet("cshub audit", flag.ContinueOnError)
		fs.SetOutput(e.stderr)
		fs.Usage = func() { auditUsage(e) }
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return errUsage
		}
		auditUsage(e)
		return errUsage
	}
	switch args[0] {
	case "verify":
		return runAuditVerify(ctx, e, args[1:])
	case "list":
		return runAuditList(ctx, e, args[1:])
	}
	fmt.Fprintf(e.stderr, "cshub audit: unknown subcommand %q\n\n", args[0])
	auditUsage(e)
	return errUsage
}

func auditUsage(e *env) {
	fmt.Fprintf(e.stderr, "Usage: cshub audit SUBCOMMAND [flags]\n\nSubcommands:\n")
	for _, c := range auditCommands {
		fmt.Fprintf(e.stderr, "  %-7s %s\n          %s\n", c.name, c.summary, "cshub audit "+c.name+" "+c.usage)
	}
	fmt.Fprintln(e.stderr, "\nRun 'cshub audit SUBCOMMAND --help' for its flags.")
}

// auditFlags returns the FlagSet of `cshub audit name` with the flags, shared with every hub
// command, that locate the hub.
func auditFlags(e *env, name string, c *common) *flag.FlagSet {
	fs := flag.NewFlagSet("cshub audit "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		for _, sc := range auditCommands {
			if sc.name == name {
				fmt.Fprintf(e.stderr, "Usage: cshub audit %s %s\n\n%s.\n\nFlags:\n", name, sc.usage,
					strings.ToUpper(sc.summary[:1])+sc.summary[1:])
			}
		}
		fs.PrintDefaults()
	}
	// Only the flags that say where the hub is: audit commands have no use for the event bus.
	all := flag.NewFlagSet("", flag.ContinueOnError)
	c.register(all)
	for _, name := range []string{"data", "store"} {
		f := all.Lookup(name)
		fs.Var(f.Value, f.Name, f.Usage)
	}
	return fs
}

// runAuditVerify walks the hash chain. It opens the store only, not the barrier: integrity is
// checked on ciphertext, so an auditor without the root key can verify a log they cannot read.
func runAuditVerify(ctx context.Context, e *env, args []string) error {
	var c common
	fs := auditFlags(e, "verify", &c)
	headText := fs.String("head", "", "also check that the log still reaches this `SEQ:HASH`, recorded earlier outside the hub (finds truncation)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return hub.FieldError("arguments", "%q: verify takes no arguments besides its flags", pos[0])
	}
	var head audit.Head
	if *headText != "" {
		if head, err = audit.ParseHead(*headText); err != nil {
			return err
		}
	}
	st, err := openExistingStore(ctx, &c)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := audit.New(st, noKeys{}, nil).VerifyAgainst(ctx, head)
	if r.Broken != nil {
		return hub.Errorf(hub.EIntegrity, "audit log broken at entry %d (%s): %s; the %d entries before it verify, up to head %s",
			r.Broken.Seq, r.Broken.Problem, r.Broken.Detail, r.Verified, r.Head)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "verified %d entries, head %s\n", r.Verified, r.Head)
	return nil
}

// openExistingStore opens the store of the hub in c without creating one: verifying a
// directory that holds no hub must fail, not report an empty log.
func openExistingStore(ctx context.Context, c *common) (hub.Store, error) {
	noHub := hub.Errorf(hub.ENotFound, "no hub in %s: run 'cshub init --data %s' (or 'cshub demo') first", c.data, c.data)
	if c.store == "" {
		if _, err := os.Stat(filepath.Join(c.data, "cshub.db")); errors.Is(err, os.ErrNotExist) {
			return nil, noHub
		}
	}
	st, err := openStore(ctx, c)
	if err != nil {
		return nil, err
	}
	if _, _, err := st.Keyring(ctx); err != nil {
		st.Close()
		if hub.ErrorCode(err) == hub.ENotFound {
			return nil, noHub
		}
		return nil, err
	}
	return st, nil
}

// auditLine is one entry as `cshub audit list` prints it.
type auditLine struct {
	Seq     int64           `json:"seq"`
	Time    time.Time       `json:"time"`
	Org     string          `json:"org"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Target  string          `json:"target,omitempty"`
	Details json.RawMessage `json:"details"`
	Hash    string          `json:"hash"`
}

func runAuditList(ctx context.Context, e *env, args []string) error {
	var c common
	fs := auditFlags(e, "list", &c)
	after := fs.Int64("after", 0, "only entries with a sequence number greater than `N`")
	limit := fs.Int("limit", 0, "at most `N` entries (0: all)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return hub.FieldError("arguments", "%q: list takes no arguments besides its flags", pos[0])
	case *after < 0:
		return hub.FieldError("after", "must not be negative")
	case *limit < 0:
		return hub.FieldError("limit", "must not be negative (0 lists all)")
	}
	// The store and the barrier only: listing needs neither logins nor the event bus.
	st, err := openExistingStore(ctx, &c)
	if err != nil {
		return err
	}
	defer st.Close()
	root, err := rootKey(e, &c, false)
	if err != nil {
		return err
	}
	b := seal.New(st)
	if err := b.Unseal(ctx, root); err != nil {
		return err
	}
	l := audit.New(st, audit.Barrier{B: b}, nil)
	enc := json.NewEncoder(e.stdout)
	const page = 1000
	for printed, next := 0, *after; *limit == 0 || printed < *limit; {
		n := page
		if *limit > 0 {
			n = min(page, *limit-printed)
		}
		items, err := l.List(ctx, next, n)
		if err != nil {
			return err
		}
		for _, it := range items {
			line := auditLine{Seq: it.Seq, Time: it.Time, Org: it.Org, Actor: it.Actor, Action: it.Action,
				Target: it.Target, Details: it.Details, Hash: hex.EncodeToString(it.Hash)}
			if err := enc.Encode(line); err != nil {
				return err
			}
		}
		printed += len(items)
		if len(items) < n {
			break
		}
		next = items[len(items)-1].Seq
	}
	return nil
}
