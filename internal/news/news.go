// Package news reads news and policy feeds: RSS 2.0, RSS 1.0 (RDF) and Atom 1.0 documents, in
// any character set their XML declaration names, into items of plain text that the free-text
// pipeline turns into STIX reports (see Item.Report). HTML in descriptions and contents is
// reduced to its text; nothing is fetched while parsing.
package news

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/net/html/charset"

	"cshub/internal/extract"
	"cshub/internal/hub"
)

// Feed formats Parse recognises.
const (
	FormatRSS  = "rss"  // RSS 0.9x and 2.0
	FormatRDF  = "rdf"  // RSS 1.0
	FormatAtom = "atom" // Atom 1.0
)

// MaxItems bounds the items Parse returns: a feed is a window on recent news, and a document
// with more entries than this is not one.
const MaxItems = 10000

// Feed is a parsed feed.
type Feed struct {
	Format string `json:"format"`
	Title  string `json:"title"`
	Link   string `json:"link,omitempty"`
	Items  []Item `json:"items"`
}

// Item is one entry of a feed, reduced to plain text.
type Item struct {
	// ID identifies the item within its feed: the RSS guid or Atom id, else the link, else a
	// hash of title and text. It is never empty.
	ID         string    `json:"id"`
	Title      string    `json:"title"`
	Link       string    `json:"link,omitempty"`
	Published  time.Time `json:"published,omitzero"` // zero when the feed gives no parseable date
	Text       string    `json:"text"`               // the content, or else the summary, as plain text
	Categories []string  `json:"categories,omitempty"`
}

// Report returns the STIX report description of the item for the free-text pipeline: its
// title as name and first line of the text (so that a title-only item still says something),
// its link as source and its date as published; types are the report_types to give it.
func (it Item) Report(types ...string) extract.Report {
	text := it.Title
	if it.Text != "" {
		text = strings.TrimSpace(text + "\n\n" + it.Text)
	}
	return extract.Report{Title: it.Title, Text: text, Published: it.Published, URL: it.Link, Types: types}
}

// text is an element's text, with the raw inner XML for Atom's xhtml content.
type text struct {
	Type  string `xml:"type,attr"`
	Data  string `xml:",chardata"`
	Inner string `xml:",innerxml"`
}

// plain returns the text as plain text: HTML and XHTML reduced to their text.
func (t text) plain() string {
	switch strings.ToLower(strings.TrimSpace(t.Type)) {
	case "xhtml":
		return htmlText(t.Inner)
	case "text", "text/plain":
		return collapse(t.Data)
	}
	// RSS says nothing of the type of a description and most carry escaped HTML; reducing
	// plain text "as HTML" only decodes its entities once more.
	return htmlText(t.Data)
}

type link struct {
	Href string `xml:"href,attr"`
	Rel  string `xml:"rel,attr"`
	Data string `xml:",chardata"`
}

type category struct {
	Term string `xml:"term,attr"`
	Data string `xml:",chardata"`
}

type entry struct {
	// RSS and RDF
	GUID        string     `xml:"guid"`
	About       string     `xml:"http://www.w3.org/1999/02/22-rdf-syntax-ns# about,attr"`
	PubDate     string     `xml:"pubDate"`
	DCDate      string     `xml:"http://purl.org/dc/elements/1.1/ date"`
	Description text       `xml:"description"`
	Encoded     text       `xml:"http://purl.org/rss/1.0/modules/content/ encoded"`
	Categories  []category `xml:"category"`
	Subjects    []string   `xml:"http://purl.org/dc/elements/1.1/ subject"`
	// Atom
	ID        string `xml:"id"`
	Published string `xml:"published"`
	Updated   string `xml:"updated"`
	Summary   text   `xml:"summary"`
	Content   text   `xml:"content"`
	// both
	Title text   `xml:"title"`
	Links []link `xml:"link"`
}

type document struct {
	XMLName xml.Name
	Channel *struct {
		Title text    `xml:"title"`
		Links []link  `xml:"link"`
		Items []entry `xml:"item"`
	} `xml:"channel"`
	Title   text    `xml:"title"`
	Links   []link  `xml:"link"`
	Entries []entry `xml:"entry"` // Atom
	Items   []entry `xml:"item"`  // RDF: items are siblings of the channel
}

// Parse reads a feed document. A document that is not well-formed XML, or whose root is not
// rss, rdf:RDF or an Atom feed, is EInvalid on field "feed" with the line of the problem; more
// than MaxItems entries is ETooLarge. Dates in RFC 822/1123 (RSS) and RFC 3339 (Atom, Dublin
// Core) forms are read, and an item with a date in neither keeps a zero Published.
func Parse(r io.Reader) (*Feed, error) {
	d := xml.NewDecoder(r)
	d.CharsetReader = charset.NewReaderLabel
	// Feeds written by hand or by HTML-minded software use HTML's named entities (&nbsp;).
	d.Entity = xml.HTMLEntity
	var doc document
	if err := d.Decode(&doc); err != nil {
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			return nil, hub.FieldError("feed", "not well-formed XML at line %d: %s", se.Line, se.Msg)
		}
		if errors.Is(err, io.EOF) {
			return nil, hub.FieldError("feed", "no XML element: an empty document, or not XML")
		}
		return nil, hub.FieldError("feed", "not a feed: %v", err)
	}
	f := &Feed{}
	var entries []entry
	switch root := doc.XMLName; {
	case root.Local == "rss" && doc.Channel != nil:
		f.Format, f.Title, f.Link, entries = FormatRSS, doc.Channel.Title.plain(), pickLink(doc.Channel.Links), doc.Channel.Items
	case root.Local == "RDF":
		f.Format, entries = FormatRDF, doc.Items
		if doc.Channel != nil {
			f.Title, f.Link = doc.Channel.Title.plain(), pickLink(doc.Channel.Links)
		}
	case root.Local == "feed":
		f.Format, f.Title, f.Link, entries = FormatAtom, doc.Title.plain(), pickLink(doc.Links), doc.Entries
	default:
		return nil, hub.FieldError("feed", "the document's root is <%s>, not <rss>, <rdf:RDF> or an Atom <feed>", root.Local)
	}
	if len(entries) > MaxItems {
		return nil, &hub.Error{Code: hub.ETooLarge, Field: "feed", Message: "more than 10000 items"}
	}
	f.Items = make([]Item, 0, len(entries))
	for _, e := range entries {
		f.Items = append(f.Items, e.item())
	}
	return f, nil
}

func (e entry) item() Item {
	it := Item{Title: e.Title.plain(), Link: pickLink(e.Links)}
	if it.Link == "" {
		it.Link = strings.TrimSpace(e.About)
	}
	for _, body := range []text{e.Content, e.Encoded, e.Summary, e.Description} {
		if t := body.plain(); t != "" {
			it.Text = t
			break
		}
	}
	for _, d := range []string{e.Published, e.PubDate, e.DCDate, e.Updated} {
		if t, ok := parseDate(d); ok {
			it.Published = t
			break
		}
	}
	for _, c := range e.Categories {
		if v := collapse(c.Term + c.Data); v != "" {
			it.Categories = append(it.Categories, v)
		}
	}
	for _, s := range e.Subjects {
		if v := collapse(s); v != "" {
			it.Categories = append(it.Categories, v)
		}
	}
	for _, id := range []string{e.GUID, e.ID, it.Link} {
		if id = strings.TrimSpace(id); id != "" {
			it.ID = id
			break
		}
	}
	if it.ID == "" {
		sum := sha256.Sum256([]byte(it.Title + "\x00" + it.Text))
		it.ID = "sha256:" + hex.EncodeToString(sum[:])
	}
	return it
}

// pickLink returns the alternate link of an Atom element (the one without rel, or
// rel="alternate"), or the text of an RSS link.
func pickLink(links []link) string {
	var first string
	for _, l := range links {
		href := strings.TrimSpace(l.Href)
		if href == "" {
			href = strings.TrimSpace(l.Data)
		}
		if href == "" {
			continue
		}
		if l.Rel == "" || l.Rel == "alternate" {
			return href
		}
		if first == "" {
			first = href
		}
	}
	return first
}

// dateLayouts are the forms of date feeds write: RFC 822/1123 with numeric or named zones and
// with or without the weekday and seconds (RSS), and RFC 3339 (Atom, Dublin Core).
var dateLayouts = []string{
	time.RFC3339Nano,
	time.RFC1123Z,
	time.RFC1123,
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 MST",
	"2 Jan 2006 15:04:05 -0700",
	"2 Jan 2006 15:04:05 MST",
	"Mon, 2 Jan 2006 15:04 -0700",
	"Mon, 2 Jan 2006 15:04 MST",
	"Mon, 02 Jan 06 15:04:05 -0700",
	"Mon, 02 Jan 06 15:04:05 MST",
	"2006-01-02T15:04:05",
	"2006-01-02",
}

func parseDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// blocks are the HTML elements that end a line of text.
var blocks = map[string]bool{
	"p": true, "br": true, "div": true, "li": true, "tr": true, "h1": true, "h2": true, "h3": true,
	"h4": true, "h5": true, "h6": true, "blockquote": true, "pre": true, "table": true, "ul": true,
	"ol": true, "section": true, "article": true, "hr": true,
}

// htmlText returns the text of an HTML fragment: tags dropped, entities decoded, scripts and
// styles left out, block elements on lines of their own, spaces collapsed.
func htmlText(s string) string {
	if !strings.ContainsAny(s, "<&") {
		return collapse(s)
	}
	z := html.NewTokenizer(strings.NewReader(s))
	var b bytes.Buffer
	skip := 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return collapse(b.String())
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text())
			}
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, _ := z.TagName()
			switch tag := string(name); {
			case tag == "script" || tag == "style":
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
			case blocks[tag]:
				b.WriteByte('\n')
			}
		}
	}
}

// collapse trims each line, folds runs of spaces and drops empty lines, so that a text
// indented by its feed's markup reads as paragraphs.
func collapse(s string) string {
	var out []string
	for line := range strings.Lines(s) {
		if f := strings.Fields(line); len(f) > 0 {
			out = append(out, strings.Join(f, " "))
		}
	}
	return strings.Join(out, "\n")
}
