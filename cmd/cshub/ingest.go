package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"cshub/internal/gather"
	"cshub/internal/hub"
	"cshub/internal/kb"
)

func runIngest(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "ingest")
	var c common
	c.register(fs)
	org := fs.String("org", "", "submitting organisation `code` (required)")
	ws := fs.String("workspace", "", "workspace `slug` (required)")
	recipients := fs.String("recipients", "", "comma-separated organisation `codes` a TLP:RED object is addressed to")
	tlp := fs.String("tlp", "", "TLP `level` for objects without a marking (default: the workspace's)")
	ids := fs.Bool("ids", false, "print the ids of the accepted objects in the summary")
	format := fs.String("format", "", "input `format`: stix, misp, csv, ioc-list or text (default: detected from the content)")
	title := fs.String("title", "", "for free text: the report's `name` (default: its first line)")
	verbose := fs.Bool("v", false, "report each committed batch on stderr, also when not a terminal")
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *org == "" {
		return hub.FieldError("org", "required: the submitting organisation's code")
	}
	if *ws == "" {
		return hub.FieldError("workspace", "required: the workspace to share in")
	}
	if len(files) == 0 {
		return hub.FieldError("FILE", "name at least one bundle file, or - for standard input")
	}
	sub := gather.Request{
		Submission: kb.Submission{Org: *org, Workspace: *ws, Recipients: list([]string{*recipients})},
		Format:     *format,
		Title:      *title,
	}
	if *tlp != "" {
		if sub.DefaultTLP, err = hub.ParseTLP(*tlp); err != nil {
			return err
		}
	}
	a, err := openApp(ctx, e, &c, false)
	if err != nil {
		return err
	}
	defer a.close()

	total := kb.Summary{Rejected: []kb.Rejection{}, IDs: []string{}}
	for _, name := range files {
		sum, err := ingestFile(ctx, e, a, sub, name, *verbose)
		if sum != nil {
			total.Accepted += sum.Accepted
			total.Duplicates += sum.Duplicates
			total.Rejected = append(total.Rejected, sum.Rejected...)
			total.IDs = append(total.IDs, sum.IDs...)
		}
		if err != nil {
			printSummary(e, &total, *ids)
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	printSummary(e, &total, *ids)
	return nil
}

func printSummary(e *env, s *kb.Summary, ids bool) {
	out := *s
	if !ids {
		out.IDs = nil
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	enc.Encode(struct {
		Accepted   int            `json:"accepted"`
		Duplicates int            `json:"duplicates"`
		Rejected   []kb.Rejection `json:"rejected"`
		IDs        []string       `json:"ids,omitempty"`
	}{out.Accepted, out.Duplicates, out.Rejected, out.IDs})
}

func ingestFile(ctx context.Context, e *env, a *app, sub gather.Request, name string, verbose bool) (*kb.Summary, error) {
	var r io.Reader = e.stdin
	var size int64
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil {
			size = fi.Size()
		}
		r = f
	}
	bar := newProgressBar(e.stderr, name, size)
	sub.Progress = func(p kb.Progress) {
		bar.update(p)
		if verbose {
			fmt.Fprintf(e.stderr, "committed: %d accepted, %d duplicates, %d rejected\n", p.Accepted, p.Duplicates, p.Rejected)
		}
	}
	sum, err := gather.New(a.kb, nil).Ingest(ctx, sub, r)
	bar.done()
	return sum, err
}

// progressBar draws one line on a terminal and nothing elsewhere, so that pipelines and logs
// stay clean.
type progressBar struct {
	w     io.Writer
	on    bool
	name  string
	size  int64
	start time.Time
	last  time.Time
}

func newProgressBar(w io.Writer, name string, size int64) *progressBar {
	f, ok := w.(*os.File)
	return &progressBar{w: w, on: ok && term.IsTerminal(int(f.Fd())), name: name, size: size, start: time.Now()}
}

func (b *progressBar) update(p kb.Progress) {
	if !b.on || time.Since(b.last) < 100*time.Millisecond {
		return
	}
	b.last = time.Now()
	secs := time.Since(b.start).Seconds()
	rate := float64(p.Objects) / max(secs, 1e-9)
	line := fmt.Sprintf("%s: %d objects (%.0f/s), %s", b.name, p.Objects, rate, bytesText(p.Bytes))
	if b.size > 0 {
		frac := min(float64(p.Bytes)/float64(b.size), 1)
		const width = 30
		n := int(frac * width)
		line = fmt.Sprintf("[%-*s] %3.0f%% %s", width, repeat('#', n), frac*100, line)
	}
	fmt.Fprintf(b.w, "\r\033[K%s", line)
}

func (b *progressBar) done() {
	if b.on {
		fmt.Fprint(b.w, "\r\033[K")
	}
}

func repeat(c byte, n int) string {
	s := make([]byte, n)
	for i := range s {
		s[i] = c
	}
	return string(s)
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
