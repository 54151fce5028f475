package lookup

import (
	"strconv"

	"cshub/internal/jsonstr"
)

// The match endpoint answers up to 100,000 values a request, and encoding/json's reflection
// over the results cost it a quarter of its time: the results have a fixed shape, so they are
// written by hand here, byte for byte as encoding/json writes them (tested against it).

// AppendJSON appends the JSON encoding of r to b, exactly as encoding/json's Marshal writes it,
// and returns the extended buffer.
func (r *Result) AppendJSON(b []byte) []byte {
	b = append(b, `{"value":`...)
	b = jsonstr.Append(b, r.Value)
	b = append(b, `,"matches":`...)
	if r.Matches == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range r.Matches {
			if i > 0 {
				b = append(b, ',')
			}
			b = r.Matches[i].AppendJSON(b)
		}
		b = append(b, ']')
	}
	if len(r.Warninglists) > 0 {
		b = append(b, `,"warninglists":[`...)
		for i, name := range r.Warninglists {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonstr.Append(b, name)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// AppendJSON appends the JSON encoding of m to b, exactly as encoding/json's Marshal writes it,
// and returns the extended buffer.
func (m *Match) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = jsonstr.Append(b, m.ID)
	if m.Name != "" {
		b = append(b, `,"name":`...)
		b = jsonstr.Append(b, m.Name)
	}
	b = append(b, `,"workspace":`...)
	b = jsonstr.Append(b, m.Workspace)
	b = append(b, `,"tlp":`...)
	b = jsonstr.Append(b, m.TLP)
	b = append(b, `,"author":`...)
	b = jsonstr.Append(b, m.Author)
	if m.Confidence != 0 {
		b = append(b, `,"confidence":`...)
		b = strconv.AppendInt(b, int64(m.Confidence), 10)
	}
	b = append(b, `,"how":`...)
	b = jsonstr.Append(b, m.How)
	b = append(b, `,"matched":`...)
	b = jsonstr.Append(b, m.Matched)
	return append(b, '}')
}
