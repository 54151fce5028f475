package main

import (
	"context"
	"encoding/json"
	"flag"
	"time"

	"cshub/internal/bus"
	"cshub/internal/federation"
	"cshub/internal/hub"
	"cshub/internal/schedule"
)

func peerCommands() []subcommand {
	return []subcommand{
		{"add", "--name NAME --from URL --collection ID --into WS [--org ORG] [--user U --key K | --token T] [--ca FILE | --insecure] [--every DURATION]",
			"configure a TAXII source that serve pulls from on a schedule (or replace its settings)", runPeerAdd},
		{"list", "", "list the configured peers as JSON (never their credentials)", runPeerList},
		{"remove", "NAME", "stop pulling from a peer; its cursor is kept for a later add", runPeerRemove},
	}
}

func runPeer(ctx context.Context, e *env, args []string) error {
	return runGroup(ctx, e, "peer", peerCommands(), args)
}

// peerFlags returns the FlagSet of `cshub peer NAME`, with the flags that say where the hub is.
func peerFlags(e *env, name string, c *common) *flag.FlagSet {
	fs := flags(e, "peer "+name)
	fs.StringVar(&c.data, "data", "./cshub-data", "data `directory` (SQLite store, root key, TLS certificate)")
	fs.StringVar(&c.store, "store", "", "store `URL`: postgres://… for PostgreSQL; default: SQLite in the data directory")
	return fs
}

// registry opens the hub of c and returns its peer registry.
func registry(ctx context.Context, e *env, c *common) (*app, *federation.Registry, error) {
	a, err := openApp(ctx, e, c, false)
	if err != nil {
		return nil, nil, err
	}
	return a, federation.NewRegistry(federation.Config{KB: a.kb, Store: a.store, Sealer: a.barrier, Log: a.log}), nil
}

func runPeerAdd(ctx context.Context, e *env, args []string) error {
	var c common
	fs := peerFlags(e, "add", &c)
	var sf syncFlags
	sf.register(fs)
	name := fs.String("name", "", "peer `name`, unique on this hub (required)")
	every := fs.Duration("every", 15*time.Minute, "how often serve pulls from the peer")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *name == "" {
		return hub.FieldError("name", "required: the peer's name")
	}
	if *every <= 0 {
		return hub.FieldError("every", "must be positive, e.g. 15m")
	}
	p, err := sf.peer()
	if err != nil {
		return err
	}
	p.Name, p.Every = *name, *every
	a, reg, err := registry(ctx, e, &c)
	if err != nil {
		return err
	}
	defer a.close()
	stored, err := reg.Put(ctx, p)
	if err != nil {
		return err
	}
	return printPeers(e, []*federation.Peer{stored})
}

func runPeerList(ctx context.Context, e *env, args []string) error {
	var c common
	fs := peerFlags(e, "list", &c)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	a, reg, err := registry(ctx, e, &c)
	if err != nil {
		return err
	}
	defer a.close()
	peers, err := reg.List(ctx)
	if err != nil {
		return err
	}
	return printPeers(e, peers)
}

func runPeerRemove(ctx context.Context, e *env, args []string) error {
	var c common
	fs := peerFlags(e, "remove", &c)
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return hub.FieldError("NAME", "name the one peer to remove")
	}
	a, reg, err := registry(ctx, e, &c)
	if err != nil {
		return err
	}
	defer a.close()
	return reg.Remove(ctx, rest[0])
}

// printPeers writes peers as JSON, their credentials replaced by whether they are set.
func printPeers(e *env, peers []*federation.Peer) error {
	type shown struct {
		federation.Peer
		Every string `json:"every"`
		Auth  string `json:"auth"` // none, bearer or basic
		CA    bool   `json:"ca"`   // whether a CA certificate is set
	}
	out := make([]shown, 0, len(peers))
	for _, p := range peers {
		s := shown{Peer: *p, Every: p.Every.String(), Auth: "none", CA: p.CA != ""}
		switch {
		case p.Token != "":
			s.Auth = "bearer"
		case p.User != "":
			s.Auth = "basic"
		}
		s.Peer.Token, s.Peer.Key, s.Peer.CA = "", "", "" // the user name stays: it is no secret
		out = append(out, s)
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// peerCheck is how often a serving hub looks for configured peers that are due: each is
// pulled within this long of its own interval (peer add --every) running out.
const peerCheck = time.Minute

// startPeerSync syncs the configured peers that are due, every peerCheck until ctx ends, on
// whichever replica holds the job's lease.
func startPeerSync(ctx context.Context, a *app) {
	syncer := federation.NewSyncer(federation.Config{KB: a.kb, Store: a.store, Sealer: a.barrier, Log: a.log})
	if l, ok := a.bus.(bus.Leaser); ok {
		schedule.Every(ctx, l, "federation", peerCheck, syncer.SyncDue, a.log)
	} else {
		a.log.Warn("peers are not synced: the bus grants no leases")
	}
}
