package ioclist

import (
	"bytes"
	"encoding/csv"
	"mime"
	"regexp"
	"strings"
)

// The formats Detect names.
const (
	FormatSTIX    = "stix"     // a STIX 2.x bundle or object
	FormatMISP    = "misp"     // MISP events in core format
	FormatCSV     = "csv"      // CSV with indicators in a column
	FormatIOCList = "ioc-list" // plain text, one indicator a line
	FormatText    = "text"     // prose, for free-text extraction
)

// Detect names the format of a submission: FormatSTIX, FormatMISP, FormatCSV, FormatIOCList or
// FormatText. The content type decides where it is specific (application/stix+json and
// application/taxii+json are STIX, text/csv is CSV); JSON is told apart by sniffing for a
// bundle or a MISP "Event"; text/plain, and anything without a telling content type, is
// sniffed: JSON, CSV, a list whose every non-comment line is one indicator, or else prose.
// head is the start of the body; 4 KiB or more gives a sound answer. Detect never fails: what
// it cannot place is FormatText.
func Detect(contentType string, head []byte) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(contentType))
	}
	switch {
	case mt == "application/stix+json" || mt == "application/taxii+json" ||
		mt == "application/vnd.oasis.stix+json" || mt == "application/vnd.oasis.taxii+json":
		return FormatSTIX
	case mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json"):
		return sniffJSON(head)
	case mt == "text/csv" || mt == "application/csv" || mt == "text/comma-separated-values" || mt == "text/tab-separated-values":
		return FormatCSV
	}
	body := bytes.TrimSpace(bytes.TrimPrefix(head, []byte("\ufeff")))
	if len(body) > 0 && (body[0] == '{' || body[0] == '[') && looksJSON(body) {
		return sniffJSON(body)
	}
	return sniffText(head)
}

var (
	bundleRE   = regexp.MustCompile(`"type"\s*:\s*"bundle"`)
	mispRE     = regexp.MustCompile(`"(Event|Attribute|Object|EventTag|publish_timestamp|threat_level_id)"\s*:`)
	stixTypeRE = regexp.MustCompile(`"(spec_version|pattern|objects)"\s*:|"type"\s*:\s*"[a-z0-9-]+"\s*,\s*"(id|spec_version)"|"id"\s*:\s*"[a-z0-9-]+--`)
)

// looksJSON tells a JSON document from text that starts with a bracket, such as "[.]".
func looksJSON(b []byte) bool {
	rest := bytes.TrimSpace(b[1:])
	return len(rest) == 0 || rest[0] == '"' || rest[0] == '{' || rest[0] == '[' || rest[0] == '}' || rest[0] == ']'
}

func sniffJSON(head []byte) string {
	switch {
	case bundleRE.Match(head):
		return FormatSTIX
	case mispRE.Match(head):
		return FormatMISP
	case stixTypeRE.Match(head):
		return FormatSTIX
	}
	return FormatSTIX
}

// sniffText decides between a CSV, an indicator list and prose.
func sniffText(head []byte) string {
	text := strings.TrimPrefix(string(head), "\ufeff")
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	if len(lines) > 1 && !strings.HasSuffix(text, "\n") {
		lines = lines[:len(lines)-1] // cut off by the head's size
	}
	var body []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "//") || strings.HasPrefix(l, ";") {
			continue
		}
		body = append(body, l)
	}
	if len(body) == 0 {
		return FormatText
	}
	if isCSV(body) {
		return FormatCSV
	}
	single, ioc := 0, 0
	for _, l := range body {
		if i := strings.Index(l, " #"); i > 0 {
			l = strings.TrimSpace(l[:i])
		}
		if strings.ContainsAny(l, " \t") {
			continue
		}
		single++
		if k, _, reason := classify(l, ""); reason == "" && k != "" {
			ioc++
		}
	}
	// Every line one token and most of them indicators: a list. A typo or two stays a list
	// (ToSTIX reports those lines); prose has spaces.
	if single == len(body) && ioc*5 >= len(body)*4 {
		return FormatIOCList
	}
	return FormatText
}

// isCSV reports whether the lines are delimited rows, quoted as CSV quotes, with the same
// number of fields, in which some column holds indicators.
func isCSV(lines []string) bool {
	if len(lines) < 2 {
		return false
	}
	text := strings.Join(lines, "\n")
	for _, d := range []rune{',', '\t', ';', '|'} {
		if !strings.ContainsRune(lines[0], d) {
			continue
		}
		r := csv.NewReader(strings.NewReader(text))
		r.Comma, r.LazyQuotes, r.FieldsPerRecord = d, true, 0
		rows, err := r.ReadAll()
		if err != nil || len(rows) < 2 || len(rows[0]) < 2 {
			continue
		}
		// Some column of the data rows (after a possible header) holds indicators.
		data := rows[1:]
		for c := range rows[0] {
			hits := 0
			for _, row := range data {
				if k, _, reason := classify(row[c], ""); reason == "" && k != "" {
					hits++
				}
			}
			if hits > 0 && hits*2 >= len(data) {
				return true
			}
		}
	}
	return false
}
