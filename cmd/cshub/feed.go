package main

import (
	"context"
	"fmt"
	"net/url"

	"cshub/internal/export"
	"cshub/internal/feed"
	"cshub/internal/hub"
	"cshub/internal/warninglist"
)

// The feed commands define an organisation's delta feeds on the data directory; enforcement
// points then poll GET /api/v1/feeds/NAME with an API key of that organisation.

func feedCommands() []subcommand {
	return []subcommand{
		{"create", "--org ORG --name NAME [filters]", "define a feed of an organisation (kept sealed in its private workspace)", runFeedCreate},
		{"list", "--org ORG", "list an organisation's feeds as JSON", runFeedList},
		{"delete", "--org ORG --name NAME", "delete a feed", runFeedDelete},
	}
}

func runFeed(ctx context.Context, e *env, args []string) error {
	return runGroup(ctx, e, "feed", feedCommands(), args)
}

// feedSession opens the hub for a feed subcommand after parsing its flags: --org always,
// --name unless list, and the selection filters for create.
func feedSession(ctx context.Context, e *env, name string, args []string, withName, withFilters bool) (*app, *feed.Service, string, string, export.Selection, error) {
	fs := flags(e, "feed")
	var c common
	c.register(fs)
	org := fs.String("org", "", "the organisation `code` the feed belongs to (required)")
	var feedName *string
	if withName {
		feedName = fs.String("name", "", "the feed's `name` (required): a-z 0-9 . _ -")
	}
	var selection func() url.Values
	if withFilters {
		selection = selectionFlags(fs)
	}
	var sel export.Selection
	pos, err := parse(fs, args)
	if err != nil {
		return nil, nil, "", "", sel, err
	}
	if len(pos) > 0 {
		return nil, nil, "", "", sel, hub.FieldError(pos[0], "unexpected argument to 'cshub feed %s'", name)
	}
	if *org == "" {
		return nil, nil, "", "", sel, hub.FieldError("org", "required: the organisation the feed belongs to")
	}
	n := ""
	if withName {
		if n = *feedName; n == "" {
			return nil, nil, "", "", sel, hub.FieldError("name", "required: the feed's name")
		}
	}
	if withFilters {
		if sel, err = export.ParseSelection(selection()); err != nil {
			return nil, nil, "", "", sel, err
		}
	}
	a, err := openApp(ctx, e, &c, false)
	if err != nil {
		return nil, nil, "", "", sel, err
	}
	svc := feed.New(feed.Config{KB: a.kb, Dir: a.store, Warninglists: warninglist.Default(), Log: a.log})
	return a, svc, *org, n, sel, nil
}

func runFeedCreate(ctx context.Context, e *env, args []string) error {
	a, svc, org, name, sel, err := feedSession(ctx, e, "create", args, true, true)
	if err != nil {
		return err
	}
	defer a.close()
	d, err := svc.Create(ctx, org, operator(e), name, sel)
	if err != nil {
		return err
	}
	return printJSON(e, d)
}

func runFeedList(ctx context.Context, e *env, args []string) error {
	a, svc, org, _, _, err := feedSession(ctx, e, "list", args, false, false)
	if err != nil {
		return err
	}
	defer a.close()
	ds, err := svc.List(ctx, org)
	if err != nil {
		return err
	}
	return printJSON(e, ds)
}

func runFeedDelete(ctx context.Context, e *env, args []string) error {
	a, svc, org, name, _, err := feedSession(ctx, e, "delete", args, true, false)
	if err != nil {
		return err
	}
	defer a.close()
	if err := svc.Delete(ctx, org, operator(e), name); err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stderr, "deleted feed %s of %s\n", name, org)
	return err
}
