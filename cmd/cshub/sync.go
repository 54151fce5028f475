package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"cshub/internal/federation"
	"cshub/internal/hub"
)

// syncFlags are the flags that say where a TAXII source is and how to reach it, shared by
// `cshub sync` and `cshub peer add`.
type syncFlags struct {
	from, collection, into, org string
	user, key, token            string
	ca                          string
	insecure                    bool
}

func (f *syncFlags) register(fs interface {
	StringVar(*string, string, string, string)
	BoolVar(*bool, string, bool, string)
}) {
	fs.StringVar(&f.from, "from", "", "TAXII 2.1 API root `URL` of the source, e.g. https://hub.example/taxii2/federation/ (required)")
	fs.StringVar(&f.collection, "collection", "", "collection `id` or alias at the source (required)")
	fs.StringVar(&f.into, "into", "", "receiving workspace `slug` (required)")
	fs.StringVar(&f.org, "org", "hub-operator", "receiving organisation `code`, a member of the workspace: the submitter of what arrives")
	fs.StringVar(&f.user, "user", "", "user `name` at the source, for HTTP Basic with --key")
	fs.StringVar(&f.key, "key", "", "API `key` at the source: the Basic password with --user, else sent as Bearer")
	fs.StringVar(&f.token, "token", "", "bearer `token` at the source")
	fs.StringVar(&f.ca, "ca", "", "PEM `file` of the certificates the source's TLS certificate is checked against (default: the system's)")
	fs.BoolVar(&f.insecure, "insecure", false, "skip TLS verification: only for a source on a loopback address")
}

// peer returns the Peer the flags describe, its CA read from its file.
func (f *syncFlags) peer() (federation.Peer, error) {
	p := federation.Peer{URL: f.from, Collection: f.collection, Workspace: f.into, Org: f.org, Insecure: f.insecure,
		User: f.user, Key: f.key, Token: f.token}
	if f.user == "" && f.token == "" {
		p.Token, p.Key = f.key, "" // a key without a user name goes as a bearer token
	}
	if f.ca != "" {
		b, err := os.ReadFile(f.ca)
		if err != nil {
			return p, hub.FieldError("ca", "%v", err)
		}
		p.CA = string(b)
	}
	if f.from == "" {
		return p, hub.FieldError("from", "required: the TAXII API root to pull from")
	}
	return p, nil
}

func runSync(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "sync")
	var c common
	c.register(fs)
	var sf syncFlags
	sf.register(fs)
	name := fs.String("peer", "", "sync the configured peer `name` now instead of a source given by flags")
	limit := fs.Int("limit", federation.DefaultPageSize, "objects per `page`")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return hub.FieldError(rest[0], "unexpected argument: the source is given with --from and --collection")
	}
	var p federation.Peer
	if *name == "" {
		if p, err = sf.peer(); err != nil {
			return err
		}
	}
	a, err := openApp(ctx, e, &c, false)
	if err != nil {
		return err
	}
	defer a.close()
	syncer := federation.NewSyncer(federation.Config{KB: a.kb, Store: a.store, Sealer: a.barrier, Log: a.log})
	if *name != "" {
		named, err := syncer.Registry().Named(ctx, *name)
		if err != nil {
			return err
		}
		p = *named
	}
	cl, err := federation.ClientFor(&p)
	if err != nil {
		return err
	}
	start := time.Now()
	prog, err := syncer.Sync(ctx, p, federation.Options{Client: cl, PageSize: *limit, Progress: func(pr federation.Progress) {
		fmt.Fprintf(e.stderr, "sync: %d pages, %d objects received (%.0f/s): %d new, %d duplicates, %d rejected\n",
			pr.Pages, pr.Received, float64(pr.Received)/max(time.Since(start).Seconds(), 1e-9), pr.Accepted, pr.Duplicates, len(pr.Rejected))
	}})
	if prog != nil {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(prog)
	}
	if err != nil && prog != nil && prog.Pages > 0 {
		fmt.Fprintln(e.stderr, "sync: what was received is kept; run the same sync again to resume")
	}
	return err
}
