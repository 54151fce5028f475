package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"cshub/internal/access"
	"cshub/internal/hub"
)

func runObjects(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "objects")
	var c common
	c.register(fs)
	org := fs.String("org", "", "see the hub as this organisation `code` (required): its access rules apply")
	typ := fs.String("type", "", "only objects of these comma-separated STIX `types`")
	ws := fs.String("workspace", "", "only objects in these comma-separated `workspaces`")
	limit := fs.Int("limit", 0, "at most `N` objects (0: all)")
	version := fs.String("version", "", "with an ID: the version modified at this `timestamp`")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *org == "" {
		return hub.FieldError("org", "required: the organisation whose view to show")
	}
	if len(pos) > 1 {
		return hub.FieldError("ID", "give at most one object id")
	}
	a, err := openApp(ctx, e, &c, false)
	if err != nil {
		return err
	}
	defer a.close()
	v, err := access.ViewerFor(ctx, a.store, *org, access.PathRead)
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		var ver time.Time
		if *version != "" {
			if ver, err = time.Parse(time.RFC3339Nano, *version); err != nil {
				return hub.FieldError("version", "not an RFC 3339 timestamp")
			}
		}
		o, err := a.kb.Get(ctx, v, pos[0], ver)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\n", o.Body)
		return nil
	}
	f := hub.Filter{Viewer: v, Types: list([]string{*typ}), Workspaces: list([]string{*ws})}
	printed := 0
	for *limit == 0 || printed < *limit {
		f.Limit = 1000
		if *limit > 0 {
			f.Limit = min(1000, *limit-printed)
		}
		objs, err := a.kb.List(ctx, f)
		if err != nil {
			return err
		}
		for _, o := range objs {
			fmt.Fprintf(e.stdout, "%s\n", o.Body)
		}
		printed += len(objs)
		if len(objs) < f.Limit {
			break
		}
		f.AfterSeq = objs[len(objs)-1].Seq
	}
	return nil
}

// list splits comma-separated flag values into one list without empty items.
func list(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, x := range strings.Split(v, ",") {
			if x = strings.TrimSpace(x); x != "" {
				out = append(out, x)
			}
		}
	}
	return out
}
