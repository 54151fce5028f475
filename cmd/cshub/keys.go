package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"cshub/internal/audit"
	"cshub/internal/hub"
	"cshub/internal/rewrap"
	"cshub/internal/seal"
)

// keysCommands are the subcommands of `cshub keys`.
var keysCommands = []struct{ name, usage, summary string }{
	{"status", "[--data DIR] [--store URL]", "list the keyring's terms and how many stored values each one seals"},
	{"rotate", "[--data DIR] [--store URL]", "add a key term: new values are sealed under it; prints its number"},
	{"rewrap", "[--data DIR] [--store URL] [--batch N]", "re-seal every stored object body and TOTP secret under the newest term (online, resumable)"},
}

// runKeys runs `cshub keys status|rotate|rewrap`: the subcommand named by args[0] with the rest.
func runKeys(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs := flag.NewFlagSet("cshub keys", flag.ContinueOnError)
		fs.SetOutput(e.stderr)
		fs.Usage = func() { keysUsage(e) }
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return errUsage
		}
		keysUsage(e)
		return errUsage
	}
	switch args[0] {
	case "status":
		return runKeysStatus(ctx, e, args[1:])
	case "rotate":
		return runKeysRotate(ctx, e, args[1:])
	case "rewrap":
		return runKeysRewrap(ctx, e, args[1:])
	}
	fmt.Fprintf(e.stderr, "cshub keys: unknown subcommand %q\n\n", args[0])
	keysUsage(e)
	return errUsage
}

func keysUsage(e *env) {
	fmt.Fprintf(e.stderr, "Usage: cshub keys SUBCOMMAND [flags]\n\nSubcommands:\n")
	for _, c := range keysCommands {
		fmt.Fprintf(e.stderr, "  %-7s %s\n          %s\n", c.name, c.summary, "cshub keys "+c.name+" "+c.usage)
	}
}

// keysFlags returns the flag set of `cshub keys NAME`.
func keysFlags(e *env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("cshub keys "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		for _, c := range keysCommands {
			if c.name == name {
				fmt.Fprintf(e.stderr, "Usage: cshub keys %s %s\n\n%s.\n\nFlags:\n", name, c.usage, strings.ToUpper(c.summary[:1])+c.summary[1:])
			}
		}
		fs.PrintDefaults()
	}
	return fs
}

// openKeys parses the flags of a keys subcommand and opens the hub.
func openKeys(ctx context.Context, e *env, fs *flag.FlagSet, c *common, args []string) (*app, error) {
	pos, err := parse(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, hub.FieldError("args", "unexpected argument %q", pos[0])
	}
	return openApp(ctx, e, c, false)
}

func runKeysStatus(ctx context.Context, e *env, args []string) error {
	fs := keysFlags(e, "status")
	var c common
	c.register(fs)
	a, err := openKeys(ctx, e, fs, &c, args)
	if err != nil {
		return err
	}
	defer a.close()
	terms, err := a.barrier.Status()
	if err != nil {
		return err
	}
	start := time.Now()
	bodies, err := rewrap.Census(ctx, a.store)
	if err != nil {
		return err
	}
	totp, err := totpCensus(ctx, a.store)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TERM\tCREATED\tWORKSPACES\tOBJECT BODIES\tTOTP SECRETS\t")
	for _, t := range terms {
		active := ""
		if t.Active {
			active = "active"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%s\n", t.Term, t.Created.UTC().Format(time.RFC3339), t.Workspaces, bodies[t.Term], totp[t.Term], active)
	}
	tw.Flush()
	// Values under a term the keyring does not hold (or with an unreadable header) are shown
	// apart: they cannot be opened.
	known := map[uint32]bool{}
	for _, t := range terms {
		known[t.Term] = true
	}
	for _, term := range slices.Sorted(maps.Keys(bodies)) {
		if !known[term] {
			fmt.Fprintf(e.stdout, "%d object bodies under unknown term %d\n", bodies[term], term)
		}
	}
	var total int64
	for _, n := range bodies {
		total += n
	}
	fmt.Fprintf(e.stdout, "%d object bodies counted in %s\n", total, time.Since(start).Round(time.Millisecond))
	return nil
}

// totpCensus counts users' sealed TOTP secrets per term.
func totpCensus(ctx context.Context, st hub.Store) (map[uint32]int64, error) {
	users, err := st.Users(ctx, "")
	if err != nil {
		return nil, err
	}
	out := map[uint32]int64{}
	for _, u := range users {
		if len(u.TOTPSecret) == 0 {
			continue
		}
		t, err := seal.Term(u.TOTPSecret)
		if err != nil {
			t = 0
		}
		out[t]++
	}
	return out, nil
}

func runKeysRotate(ctx context.Context, e *env, args []string) error {
	fs := keysFlags(e, "rotate")
	var c common
	c.register(fs)
	a, err := openKeys(ctx, e, fs, &c, args)
	if err != nil {
		return err
	}
	defer a.close()
	term, err := a.barrier.Rotate(ctx)
	if err != nil {
		return err
	}
	// Replicas on a shared bus re-read the keyring; the others find the new term on their
	// first miss.
	if _, err := a.bus.Publish(ctx, hub.Event{Kind: hub.EventKeys, Time: time.Now().UTC()}); err != nil {
		a.log.Warn("telling replicas about the new term", "err", err)
	}
	if _, err := a.audit.Record(ctx, audit.Entry{Actor: "system", Action: "keys.rotate", Target: fmt.Sprint(term)}); err != nil {
		return fmt.Errorf("term %d was added, but recording it in the audit log failed: %w", term, err)
	}
	fmt.Fprintf(e.stdout, "%d\n", term)
	return nil
}

func runKeysRewrap(ctx context.Context, e *env, args []string) error {
	fs := keysFlags(e, "rewrap")
	var c common
	c.register(fs)
	batch := fs.Int("batch", rewrap.DefaultBatch, "object versions per transaction")
	a, err := openKeys(ctx, e, fs, &c, args)
	if err != nil {
		return err
	}
	defer a.close()
	if *batch <= 0 {
		return hub.FieldError("batch", "must be positive")
	}
	bar := newProgressBar(e.stderr, "rewrap", 0)
	sum, err := rewrap.Run(ctx, a.store, a.barrier, rewrap.Options{Batch: *batch, Progress: bar.count})
	bar.done()
	if sum != nil {
		fmt.Fprintf(e.stdout, "term %d: %d object versions scanned, %d re-sealed, %d already current, %d changed meanwhile (left as they are), %d failed; %d export records re-sealed; %d of %d TOTP secrets re-sealed; took %s",
			sum.Term, sum.Scanned, sum.Rewrapped, sum.Current, sum.Changed, sum.Failed, sum.Records, sum.TOTP, sum.Users, sum.Elapsed.Round(time.Millisecond))
		if secs := sum.Elapsed.Seconds(); secs > 0 && sum.Rewrapped > 0 {
			fmt.Fprintf(e.stdout, " (%.0f bodies/s)", float64(sum.Rewrapped)/secs)
		}
		fmt.Fprintln(e.stdout)
		if sum.Changed > 0 {
			fmt.Fprintln(e.stdout, "bodies changed meanwhile were written by others; run 'cshub keys rewrap' again to check them")
		}
	}
	if err != nil {
		return err
	}
	_, err = a.audit.Record(ctx, audit.Entry{Actor: "system", Action: "keys.rewrap", Target: fmt.Sprint(sum.Term),
		Details: map[string]int64{"scanned": sum.Scanned, "rewrapped": sum.Rewrapped, "totp": int64(sum.TOTP)}})
	return err
}

// count draws a rewrap's progress: the share of the stored versions scanned so far.
func (b *progressBar) count(p rewrap.Progress) {
	if !b.on || time.Since(b.last) < 100*time.Millisecond {
		return
	}
	b.last = time.Now()
	rate := float64(p.Scanned) / max(time.Since(b.start).Seconds(), 1e-9)
	frac := 1.0
	if p.Total > 0 {
		frac = min(float64(p.Scanned)/float64(p.Total), 1)
	}
	const width = 30
	fmt.Fprintf(b.w, "\r\033[K[%-*s] %3.0f%% %s: %d of %d scanned (%.0f/s), %d re-sealed",
		width, repeat('#', int(frac*width)), frac*100, b.name, p.Scanned, p.Total, rate, p.Rewrapped)
}
