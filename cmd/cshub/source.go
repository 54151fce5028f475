package main

import (
	"context"
	"time"

	"cshub/internal/access"
	"cshub/internal/api"
	"cshub/internal/bus"
	"cshub/internal/gather"
	"cshub/internal/gather/review"
	"cshub/internal/hub"
	"cshub/internal/policy"
	"cshub/internal/schedule"
	"cshub/internal/sources"
)

// The source commands manage organisations' subscriptions to news, policy, MISP and IOC-list
// sources on the data directory, under the same rules as the API: an organisation sees and
// changes only its own subscriptions.

func sourceCommands() []subcommand {
	return []subcommand{
		{"add", "--org ORG --workspace WS --kind news|policy|misp|list --url URL [--name NAME] [--tlp LEVEL]", "subscribe an organisation to a source", runSourceAdd},
		{"list", "--org ORG", "list an organisation's sources and their status as JSON", runSourceList},
		{"remove", "--org ORG ID", "end a subscription (what it brought stays)", runSourceRemove},
		{"poll", "[--org ORG ID]", "poll one source now, or every source of the hub", runSourcePoll},
	}
}

func runSource(ctx context.Context, e *env, args []string) error {
	return runGroup(ctx, e, "source", sourceCommands(), args)
}

// guardFlags are the flags that bound source fetching, for the commands that poll.
type guardFlags struct {
	hosts        string
	allowPrivate bool
}

func (g *guardFlags) register(fs interface {
	StringVar(*string, string, string, string)
	BoolVar(*bool, string, bool, string)
}) {
	fs.StringVar(&g.hosts, "source-hosts", "", "comma-separated `hosts` sources may be fetched from (.example.org: and its subdomains); default: any public host")
	fs.BoolVar(&g.allowPrivate, "source-allow-private", false, "let sources be fetched from loopback and private addresses (tests, closed networks)")
}

func (g *guardFlags) guard() sources.Guard {
	return sources.Guard{AllowedHosts: list([]string{g.hosts}), AllowPrivate: g.allowPrivate}
}

// newSources returns the source service of an opened hub.
func newSources(a *app, g sources.Guard) *sources.Service {
	return sources.New(sources.Config{KB: a.kb, Gather: gather.New(a.kb, nil), Guard: g, Log: a.log})
}

// sourcePoll is how often a serving hub polls its sources: news and advisories move by the
// hour, and a poll of an unchanged source costs one conditional request.
const sourcePoll = 15 * time.Minute

// startGathering returns the API features of gathering (the review of pasted texts, the
// subscriptions to sources, the policy tracker) and starts polling the sources every
// sourcePoll, on one replica at a time.
func startGathering(ctx context.Context, a *app, g *gather.Service, guard sources.Guard) []api.Routes {
	srcs := sources.New(sources.Config{KB: a.kb, Gather: g, Guard: guard, Log: a.log})
	if l, ok := a.bus.(bus.Leaser); ok {
		schedule.Every(ctx, l, "sources", sourcePoll, srcs.PollAll, a.log)
	} else {
		a.log.Warn("sources are not polled: the bus grants no leases")
	}
	return []api.Routes{
		review.Routes{Gather: g, Dir: a.store},
		sources.Routes{Sources: srcs, Dir: a.store},
		policy.Routes{Tracker: policy.New(a.kb), Dir: a.store},
	}
}

// sourceSession opens the hub for a source subcommand and, when org is given, org's viewer.
func sourceSession(ctx context.Context, e *env, c *common, org string) (*app, hub.Viewer, error) {
	a, err := openApp(ctx, e, c, false)
	if err != nil {
		return nil, hub.Viewer{}, err
	}
	if org == "" {
		return a, hub.Viewer{}, nil
	}
	v, err := access.ViewerFor(ctx, a.store, org, access.PathRead)
	if err != nil {
		a.close()
		return nil, hub.Viewer{}, err
	}
	return a, v, nil
}

func runSourceAdd(ctx context.Context, e *env, args []string) error {
	var c common
	fs := subFlags(e, "source", "add", &c)
	var n sources.NewSource
	fs.StringVar(&n.Org, "org", "", "subscribing organisation `code` (required)")
	fs.StringVar(&n.Workspace, "workspace", "", "workspace `slug` the source feeds (required)")
	fs.StringVar(&n.Kind, "kind", "", "`kind` of source: news, policy (RSS or Atom), misp (MISP feed), list (CSV or IOC list)")
	fs.StringVar(&n.URL, "url", "", "the source's `URL`")
	fs.StringVar(&n.Name, "name", "", "a `name` for the source (default: the URL's host)")
	tlp := fs.String("tlp", "", "TLP `level` of what the source brings (default: the workspace's)")
	var g guardFlags
	g.register(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	if n.Org == "" {
		return hub.FieldError("org", "required: the subscribing organisation's code")
	}
	if *tlp != "" {
		if n.TLP, err = hub.ParseTLP(*tlp); err != nil {
			return err
		}
	}
	a, _, err := sourceSession(ctx, e, &c, "")
	if err != nil {
		return err
	}
	defer a.close()
	n.Actor = operator(e)
	src, err := newSources(a, g.guard()).Add(ctx, n)
	if err != nil {
		return err
	}
	return printJSON(e, src)
}

func runSourceList(ctx context.Context, e *env, args []string) error {
	var c common
	fs := subFlags(e, "source", "list", &c)
	org := fs.String("org", "", "organisation `code` whose sources to list (required)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	if *org == "" {
		return hub.FieldError("org", "required: the organisation whose sources to list")
	}
	a, v, err := sourceSession(ctx, e, &c, *org)
	if err != nil {
		return err
	}
	defer a.close()
	srcs, err := newSources(a, sources.Guard{}).List(ctx, v)
	if err != nil {
		return err
	}
	return printJSON(e, map[string]any{"sources": srcs})
}

func runSourceRemove(ctx context.Context, e *env, args []string) error {
	var c common
	fs := subFlags(e, "source", "remove", &c)
	org := fs.String("org", "", "organisation `code` whose subscription it is (required)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, "ID"); err != nil {
		return err
	}
	if *org == "" {
		return hub.FieldError("org", "required: the organisation whose subscription it is")
	}
	a, v, err := sourceSession(ctx, e, &c, *org)
	if err != nil {
		return err
	}
	defer a.close()
	if err := newSources(a, sources.Guard{}).Remove(ctx, v, *org, operator(e), pos[0]); err != nil {
		return err
	}
	return printJSON(e, map[string]string{"removed": pos[0]})
}

func runSourcePoll(ctx context.Context, e *env, args []string) error {
	var c common
	fs := subFlags(e, "source", "poll", &c)
	org := fs.String("org", "", "with an ID: the organisation whose subscription it is")
	var g guardFlags
	g.register(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return hub.FieldError("arguments", "%q: give at most one source id", pos[1])
	}
	if len(pos) == 1 && *org == "" {
		return hub.FieldError("org", "required with an ID: the organisation whose subscription it is")
	}
	a, v, err := sourceSession(ctx, e, &c, *org)
	if err != nil {
		return err
	}
	defer a.close()
	svc := newSources(a, g.guard())
	if len(pos) == 0 {
		if err := svc.PollAll(ctx); err != nil {
			return err
		}
		// Every source's outcome, the operator's view: each organisation's own is in its list.
		all, err := svc.List(ctx, hub.Viewer{System: true})
		if err != nil {
			return err
		}
		return printJSON(e, map[string]any{"sources": all})
	}
	src, err := svc.Poll(ctx, v, *org, pos[0])
	if src == nil {
		return err
	}
	if perr := printJSON(e, src); perr != nil {
		return perr
	}
	return err
}
