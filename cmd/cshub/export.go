package main

import (
	"context"
	"flag"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"cshub/internal/access"
	"cshub/internal/audit"
	"cshub/internal/export"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/warninglist"
)

// selectionFlags registers the filters of package export as flags of fs and returns a function
// that gives those that were set as the query parameters export.ParseSelection reads, so that
// the command line and the API parse filters in one place.
func selectionFlags(fs *flag.FlagSet) func() url.Values {
	help := map[string]string{
		export.ParamWorkspace:      "only indicators in these comma-separated `workspaces`",
		export.ParamType:           "only values of these comma-separated `types`: " + strings.Join(export.ValueTypes(), ", "),
		export.ParamTLP:            "only indicators at these comma-separated TLP `levels`",
		export.ParamMinConfidence:  "only indicators with a confidence of at least `N` (0-100)",
		export.ParamMaxAge:         "only indicators modified within this `age` (30d, 12h)",
		export.ParamMinSightings:   "only indicators sighted at least `N` times",
		export.ParamFalsePositives: "keep indicators a member reported as false positives (`true|false`)",
		export.ParamWarninglisted:  "keep values on warninglists of real services (`true|false`)",
		export.ParamLimit:          "at most `N` indicators, most relevant first (0: all)",
	}
	vals := map[string]*string{}
	for _, p := range export.SelectionParams() {
		vals[p] = fs.String(p, "", help[p])
	}
	return func() url.Values {
		q := url.Values{}
		fs.Visit(func(f *flag.Flag) {
			if v, ok := vals[f.Name]; ok {
				q.Set(f.Name, *v)
			}
		})
		return q
	}
}

func runExport(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "export")
	var c common
	c.register(fs)
	org := fs.String("org", "", "export as this organisation `code` (required): what it may take away, by the same rule as the API")
	format := fs.String("format", "text", "output `format`: "+strings.Join(export.Formats(), ", "))
	out := fs.String("out", "", "write to this `file` (replaced whole when done) instead of stdout")
	selection := selectionFlags(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return hub.FieldError(pos[0], "unexpected argument; give filters as flags")
	}
	if *org == "" {
		return hub.FieldError("org", "required: the organisation whose export to write")
	}
	f, err := export.LookupFormat(*format)
	if err != nil {
		return err
	}
	sel, err := export.ParseSelection(selection())
	if err != nil {
		return err
	}
	a, err := openApp(ctx, e, &c, false)
	if err != nil {
		return err
	}
	defer a.close()
	v, err := access.ViewerFor(ctx, a.store, *org, access.PathExport)
	if err != nil {
		return err
	}
	view := &export.View{Viewer: v, Path: access.PathExport, Selection: sel}
	cat := export.NewCatalog(export.Config{KB: a.kb, Warninglists: warninglist.Default(), KeepBodies: f.Bodies, BodiesFor: view, LatestOnly: true})
	bar := newProgressBar(e.stderr, "loading indicators", 0)
	p, err := cat.Sync(ctx, func(n int) { bar.update(kb.Progress{Objects: int64(n)}) })
	bar.done()
	if err != nil {
		return err
	}
	inds := cat.Select(view, p)
	return writeExport(*out, e.stdout, func(w io.Writer) error {
		return f.Write(w, inds, export.Meta{Org: *org, Time: p.Time})
	}, func() error {
		_, err := a.audit.Record(ctx, audit.Entry{Org: *org, Actor: operator(e), Action: "export", Target: f.Name,
			Details: map[string]any{"indicators": len(inds), "selection": sel, "file": *out}})
		return err
	})
}

// writeExport runs write on stdout, or on a temporary file beside path that then replaces
// path, so that an enforcement point reading path never sees half a file. record, which writes
// the audit entry, runs after write and before the file replaces path: no file is published
// without its entry. (It also commits before the rename sets the kernel writing the file out:
// PostgreSQL's commit after it waited 75-90 ms behind a misp export's 160 MB.)
func writeExport(path string, stdout io.Writer, write func(io.Writer) error, record func() error) error {
	if path == "" {
		if err := write(stdout); err != nil {
			return err
		}
		return record()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := record(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
