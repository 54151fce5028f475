// Package gather turns what members submit in any supported form into STIX and hands it to the
// knowledge base: STIX bundles as they are, MISP events and IOC lists through their converters,
// free-text reports through entity extraction. It is the one entry point of
// `POST /api/v1/workspaces/{ws}/ingest` and `cshub ingest --format`.
package gather

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"cshub/internal/demo"
	"cshub/internal/extract"
	"cshub/internal/hub"
	"cshub/internal/ioclist"
	"cshub/internal/kb"
	"cshub/internal/misp"
	"cshub/internal/warninglist"
)

// Formats the gatherer accepts.
const (
	FormatAuto    = ""
	FormatSTIX    = ioclist.FormatSTIX
	FormatMISP    = ioclist.FormatMISP
	FormatCSV     = ioclist.FormatCSV
	FormatIOCList = ioclist.FormatIOCList
	FormatText    = ioclist.FormatText
)

// MaxText bounds a free-text report in bytes: extraction holds the whole text in memory.
const MaxText = 16 << 20

// Service gathers submissions into the knowledge base. It is safe for concurrent use.
type Service struct {
	kb  *kb.Service
	now func() time.Time

	dictOnce sync.Once
	dict     *extract.Dictionary
	dictErr  error
}

// New returns a Service. now may be nil for time.Now.
func New(k *kb.Service, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{kb: k, now: now}
}

// dictionary builds the entity dictionary (ATT&CK names and aliases, the MISP threat-actor
// galaxy) on first use: it takes about a second, which a hub that never sees free text should
// not pay at start.
func (s *Service) dictionary() (*extract.Dictionary, error) {
	s.dictOnce.Do(func() {
		attack, err := demo.AttackBundle()
		if err != nil {
			s.dictErr = err
			return
		}
		defer attack.Close()
		s.dict, s.dictErr = extract.NewDictionary(attack, extract.ThreatActorGalaxy())
	})
	return s.dict, s.dictErr
}

// Request is one submission in any format.
type Request struct {
	kb.Submission
	Format      string // FormatAuto or one of the Format constants
	ContentType string // the request's media type, used by FormatAuto
	Title       string // for free text: the report's name; default: its first line
}

// Ingest detects the format when asked to, converts the submission to STIX and ingests it.
func (s *Service) Ingest(ctx context.Context, req Request, r io.Reader) (*kb.Summary, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	format := req.Format
	if format == FormatAuto {
		head, _ := br.Peek(4096)
		format = Detect(req.ContentType, head)
	}
	switch format {
	case FormatSTIX:
		return s.kb.Ingest(ctx, req.Submission, br)
	case FormatMISP:
		bundle, err := misp.ToSTIXWith(br, misp.Options{Warninglists: warninglist.Default().Lookup})
		if err != nil {
			return nil, err
		}
		return s.kb.Ingest(ctx, req.Submission, bytes.NewReader(bundle))
	case FormatCSV, FormatIOCList:
		listFormat := "text"
		if format == FormatCSV {
			listFormat = "csv"
		}
		bundle, rejected, err := ioclist.ToSTIX(br, ioclist.Options{Format: listFormat, Name: req.Title, Time: s.now().UTC(),
			Warninglists: warninglist.Default().Lookup})
		if err != nil {
			return nil, err
		}
		sum, err := s.kb.Ingest(ctx, req.Submission, bytes.NewReader(bundle))
		if sum != nil {
			for _, r := range rejected {
				sum.Rejected = append(sum.Rejected, kb.Rejection{ID: "line " + strconv.Itoa(r.Line), Reason: r.Value + ": " + r.Reason})
			}
		}
		return sum, err
	case FormatText:
		return s.text(ctx, req, br)
	}
	return nil, hub.FieldError("format", "%q is not a format the hub reads (stix, misp, csv, ioc-list, text)", format)
}

func (s *Service) text(ctx context.Context, req Request, r io.Reader) (*kb.Summary, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxText+1))
	if err != nil {
		return nil, &hub.Error{Code: hub.EInvalid, Field: "body", Message: err.Error(), Err: err}
	}
	if len(b) > MaxText {
		return nil, &hub.Error{Code: hub.ETooLarge, Field: "body", Message: "a text report may be at most 16 MiB"}
	}
	text, err := checkText("body", string(b))
	if err != nil {
		return nil, err
	}
	ents, err := s.entities(text)
	if err != nil {
		return nil, err
	}
	return s.ingestReport(ctx, req.Submission, extract.Report{Title: reportTitle(req.Title, text), Text: text}, ents)
}

// IngestReport saves a text described by r (a news item with its link and date, a policy
// development) as a report linked to every entity extracted from it, indicators on a
// warninglist flagged: the free-text pipeline for texts that arrive from a feed rather than
// an analyst. The report's id derives from r.Text, so the same text twice stores nothing new.
func (s *Service) IngestReport(ctx context.Context, sub kb.Submission, r extract.Report) (*kb.Summary, error) {
	text, err := checkText("text", r.Text)
	if err != nil {
		return nil, err
	}
	ents, err := s.entities(text)
	if err != nil {
		return nil, err
	}
	r.Text, r.Title = text, reportTitle(r.Title, text)
	return s.ingestReport(ctx, sub, r, ents)
}

func (s *Service) ingestReport(ctx context.Context, sub kb.Submission, r extract.Report, ents []extract.Entity) (*kb.Summary, error) {
	bundle := extract.ToSTIXReport(r, ents, s.now().UTC())
	return s.kb.Ingest(ctx, sub, bytes.NewReader(bundle))
}

// Detect tells the format of a submission from its media type and, failing that, its first
// bytes. A gzip'd submission is a STIX bundle: the other formats are read as text.
func Detect(contentType string, head []byte) string {
	mt, _, _ := strings.Cut(strings.ToLower(contentType), ";")
	if mt = strings.TrimSpace(mt); mt == "application/gzip" || mt == "application/x-gzip" || bytes.HasPrefix(head, []byte{0x1f, 0x8b}) {
		return FormatSTIX
	}
	return ioclist.Detect(contentType, head)
}

func firstLine(text string, max int) string {
	line, _, _ := strings.Cut(text, "\n")
	line = strings.TrimSpace(line)
	if utf8.RuneCountInString(line) <= max {
		return line
	}
	r := []rune(line)
	return strings.TrimSpace(string(r[:max])) + "…"
}
