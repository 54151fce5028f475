package main

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"

	"cshub/internal/access"
	"cshub/internal/hub"
	"cshub/internal/lookup"
)

// matchBatch is how many values `cshub match` looks up at once: enough for the index's batched
// lookups to overlap memory misses, few enough that hits stream out promptly.
const matchBatch = 1000

func runMatch(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "match")
	var c common
	c.register(fs)
	org := fs.String("org", "", "look up as this organisation `code` (required): only what it may see is reported")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *org == "" {
		return hub.FieldError("org", "required: the organisation whose view to use")
	}
	a, err := openApp(ctx, e, &c, false)
	if err != nil {
		return err
	}
	defer a.close()
	v, err := access.ViewerFor(ctx, a.store, *org, access.PathMatch)
	if err != nil {
		return err
	}
	l := lookup.New(a.kb, a.log)
	if _, err := l.Start(ctx, nil); err != nil {
		return err
	}
	out := bufio.NewWriter(e.stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	sc := bufio.NewScanner(e.stdin)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var batch []string
	flush := func() error {
		for _, r := range l.Lookup(v, batch) {
			for _, m := range r.Matches {
				if err := enc.Encode(struct {
					Value string `json:"value"`
					lookup.Match
				}{r.Value, m}); err != nil {
					return err
				}
			}
		}
		batch = batch[:0]
		return out.Flush()
	}
	for sc.Scan() {
		if v := strings.TrimSpace(sc.Text()); v != "" && !strings.HasPrefix(v, "#") {
			batch = append(batch, v)
		}
		if len(batch) == matchBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return flush()
}
