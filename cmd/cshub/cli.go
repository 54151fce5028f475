package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"cshub/internal/hub"
)

// command is one subcommand: its name, a one-line summary for `cshub help`, and how it runs.
type command struct {
	name    string
	summary string
	usage   string // the argument synopsis after the name
	run     func(ctx context.Context, env *env, args []string) error
}

// env is what a subcommand talks to: its streams, so that tests can drive the CLI in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

func commands() []command {
	return []command{
		{"serve", "serve the hub's API over HTTPS", "[flags]", runServe},
		{"demo", "create (if empty) and serve a data directory with demo members and data", "[flags]", runDemo},
		{"init", "create a new data directory with its root key", "[flags]", runInit},
		{"ingest", "store STIX bundles (files, gzip, or - for stdin) in a workspace", "[flags] FILE...", runIngest},
		{"search", "full-text search over what an organisation may see", "[flags] QUERY", runSearch},
		{"export", "write what an organisation may take away as blocklists, IDS rules, an RPZ zone, nftables/ipset sets or a STIX/MISP file", "[flags]", runExport},
		{"feed", "create, list or delete an organisation's delta feeds", "create|list|delete [flags]", runFeed},
		{"match", "look up values from stdin against the indicators, one JSON line per hit", "[flags] < values", runMatch},
		{"objects", "list objects, or print one by id", "[flags] [ID]", runObjects},
		{"audit", "verify or list the hash-chained audit log", "verify|list [flags]", runAudit},
		{"org", "add, list or change organisations (on the data directory, as the hub operator)", "add|list|set [flags]", runOrg},
		{"workspace", "add or list workspaces and change their members (as the hub operator)", "add|list|member-add|member-remove [flags]", runWorkspace},
		{"user", "add, list or change users (as the hub operator)", "add|list|set [flags]", runUser},
		{"apikey", "add, list or revoke API keys (as the hub operator)", "add|list|revoke [flags]", runKey},
		{"keys", "show, rotate and re-seal the keyring's key terms", "status|rotate|rewrap [flags]", runKeys},
		{"source", "subscribe organisations to news, policy, MISP and IOC-list sources, and poll them", "add|list|remove|poll [flags]", runSource},
		{"policy", "the policy tracker: UN, NATO and national instruments and what cites them", "list|show [flags]", runPolicy},
		{"exercise", "validate, import and list training exercises", "validate|import|list [flags]", runExercise},
		{"sync", "pull a TAXII 2.1 collection into a workspace, incrementally", "[flags]", runSync},
		{"peer", "add, list or remove TAXII peers that serve pulls from on a schedule", "add|list|remove [flags]", runPeer},
		{"backup", "copy the hub's store (sealed) to one file while it serves", "--out FILE [flags]", runBackup},
		{"restore", "fill an empty data directory from a backup file", "--from FILE [flags]", runRestore},
		{"check", "check the store, keyring, every object body and the audit chain", "[flags]", runCheck},
		{"loadtest", "drive a hub on loopback with concurrent API clients and report latencies", "--url URL --credentials FILE [flags]", runLoadtest},
		{"bench", "measure ingest and print figures beside their baselines", "[flags]", runBench},
		{"version", "print the version", "", runVersion},
	}
}

// Run runs the cshub command line with args (without the program name) and returns the exit
// code: 0 on success, 1 on failure, 2 on a usage error.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	if len(args) == 0 {
		help(stderr)
		return 2
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		if len(args) > 1 {
			return Run(ctx, []string{args[1], "--help"}, stdin, stdout, stderr)
		}
		help(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, e, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		}
		fmt.Fprintf(stderr, "cshub %s: %s\n", name, describe(err))
		return 1
	}
	fmt.Fprintf(stderr, "cshub: unknown command %q; run 'cshub help'\n", name)
	return 2
}

// describe renders an error for a person at a terminal: a hub.Error by its field and message.
func describe(err error) string {
	var he *hub.Error
	if errors.As(err, &he) && he.Code != hub.EInternal {
		if he.Field != "" {
			return he.Field + ": " + he.Message
		}
		return he.Message
	}
	return err.Error()
}

func help(w io.Writer) {
	fmt.Fprintln(w, "cshub — the Cyber Security Collaboration Hub")
	fmt.Fprintln(w, "\nUsage: cshub COMMAND [flags]\n\nCommands:")
	cmds := commands()
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'cshub COMMAND --help' for a command's flags.")
}

// errUsage tells Run that the flag set has already printed what was wrong.
var errUsage = errors.New("usage")

// flags returns a FlagSet for the named command whose usage text lists its flags.
func flags(e *env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("cshub "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		for _, c := range commands() {
			if c.name == name {
				fmt.Fprintf(e.stderr, "Usage: cshub %s %s\n\n%s.\n\nFlags:\n", name, c.usage, strings.ToUpper(c.summary[:1])+c.summary[1:])
			}
		}
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags wherever they stand among the positional arguments (as people type them:
// `cshub ingest bundle.json --org cert-fr`) and returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
