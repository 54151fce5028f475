package main

import (
	"context"
	"encoding/json"
	"strings"

	"cshub/internal/access"
	"cshub/internal/hub"
	"cshub/internal/search"
)

func runSearch(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "search")
	var c common
	c.register(fs)
	org := fs.String("org", "", "search as this organisation `code` (required): only what it may see is found")
	limit := fs.Int("limit", search.DefaultLimit, "at most `N` results")
	words, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *org == "" {
		return hub.FieldError("org", "required: the organisation whose view to search")
	}
	q := strings.Join(words, " ")
	if _, err := search.ParseQuery(q); err != nil {
		return err
	}
	a, err := openApp(ctx, e, &c, false)
	if err != nil {
		return err
	}
	defer a.close()
	v, err := access.ViewerFor(ctx, a.store, *org, access.PathSearch)
	if err != nil {
		return err
	}
	index, _, err := search.Build(ctx, a.kb)
	if err != nil {
		return err
	}
	res, err := index.Search(ctx, v, q, *limit, "")
	if err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout)
	for _, h := range res.Hits {
		if err := enc.Encode(h); err != nil {
			return err
		}
	}
	return nil
}
