package export

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"cshub/internal/hub"
	"cshub/internal/misp"
)

// Meta is what a file says about itself besides the indicators: for whom and when it was made.
// Formats use Time for serial numbers and headers, so that the same export at the same Time is
// the same bytes (ETags, golden files).
type Meta struct {
	Org  string
	Time time.Time
}

// Format is one export format.
type Format struct {
	Name        string // as `cshub export --format` and `?format=` take it
	ContentType string
	Ext         string // file name extension, with the dot
	// Bodies says whether the format needs the indicators' STIX JSON (Config.KeepBodies).
	Bodies bool
	write  func(w *bufio.Writer, inds []*Indicator, m Meta) error
}

var formats = []Format{
	{Name: "text", ContentType: "text/plain; charset=utf-8", Ext: ".txt", write: writeText},
	{Name: "csv", ContentType: "text/csv; charset=utf-8", Ext: ".csv", write: writeCSV},
	{Name: "stix", ContentType: "application/stix+json;version=2.1", Ext: ".json", Bodies: true, write: writeSTIX},
	{Name: "misp", ContentType: "application/json", Ext: ".json", Bodies: true, write: writeMISP},
	{Name: "suricata", ContentType: "text/plain; charset=utf-8", Ext: ".rules", write: suricata.write},
	{Name: "snort", ContentType: "text/plain; charset=utf-8", Ext: ".rules", write: snort.write},
	{Name: "zeek", ContentType: "text/plain; charset=utf-8", Ext: ".intel", write: writeZeek},
	{Name: "rpz", ContentType: "text/dns; charset=utf-8", Ext: ".rpz", write: writeRPZ},
	{Name: "nftables", ContentType: "text/plain; charset=utf-8", Ext: ".nft", write: writeNftables},
	{Name: "ipset", ContentType: "text/plain; charset=utf-8", Ext: ".ipset", write: writeIPSet},
}

// Formats returns the names of the formats, in the order the issue lists them.
func Formats() []string {
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = f.Name
	}
	return names
}

// LookupFormat returns the format called name, or an EInvalid error on field "format".
func LookupFormat(name string) (Format, error) {
	for _, f := range formats {
		if f.Name == name {
			return f, nil
		}
	}
	return Format{}, hub.FieldError("format", "%q is not one of %s", name, strings.Join(Formats(), ", "))
}

// Write writes inds, in their order, to w in format f.
func (f Format) Write(w io.Writer, inds []*Indicator, m Meta) error {
	if f.Bodies {
		for _, ind := range inds {
			if ind.Body == nil {
				return hub.Errorf(hub.EInternal, "export: format %s needs bodies; the catalog did not keep them", f.Name)
			}
		}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := f.write(bw, inds, m); err != nil {
		return err
	}
	return bw.Flush()
}

// group is the name a value's list goes under: its type, or file:ALGORITHM for hashes.
func group(v Value) string {
	if v.Type == "file" {
		return "file:" + v.Hash
	}
	return v.Type
}

// ref is one value of an indicator.
type ref struct {
	ind *Indicator
	v   *Value // one of ind.Values
}

// distinct returns the values of inds that keep accepts, each once, in the order of inds, with
// the indicator each first appears in.
func distinct(inds []*Indicator, keep func(Value) bool) []ref {
	refs := collect(len(inds), func(refs []ref, lo, hi int) []ref {
		for _, ind := range inds[lo:hi] {
			for j := range ind.Values {
				if keep(ind.Values[j]) {
					refs = append(refs, ref{ind, &ind.Values[j]})
				}
			}
		}
		return refs
	})
	first := firsts(len(refs), func(i int) string { return refs[i].v.Value }, func(i, j int) bool { return *refs[i].v == *refs[j].v })
	n := 0
	for i, r := range refs {
		if first[i] {
			refs[n] = r
			n++
		}
	}
	return refs[:n]
}

// writeText writes one value per line, grouped by type; a "# type" line heads each group when
// there is more than one, so that a single-type export is a plain list any tool reads.
func writeText(w *bufio.Writer, inds []*Indicator, _ Meta) error {
	vals := distinct(inds, func(Value) bool { return true })
	// A group is a type, and for files a hash algorithm: few, so one pass over the values each.
	// Each value's group is found once, trying the previous value's first (neighbours mostly
	// share one): comparing every value with every group, and again in every pass, was a third
	// of writing a million values.
	var groups []Value
	of := make([]int, len(vals)) // vals[i] is of groups[of[i]]
	last := -1
	for i, r := range vals {
		if g := (Value{Type: r.v.Type, Hash: r.v.Hash}); last < 0 || groups[last] != g {
			if last = slices.Index(groups, g); last < 0 {
				last = len(groups)
				groups = append(groups, g)
			}
		}
		of[i] = last
	}
	order := make([]int, len(groups))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return strings.Compare(groupOrder(group(groups[a])), groupOrder(group(groups[b])))
	})
	for k, g := range order {
		if len(groups) > 1 {
			if k > 0 {
				w.WriteByte('\n')
			}
			w.WriteString("# " + group(groups[g]) + "\n")
		}
		for i, r := range vals {
			if of[i] == g {
				w.WriteString(r.v.Value)
				w.WriteByte('\n')
			}
		}
	}
	return nil
}

// groupOrder sorts groups in the order of valueTypes, then by name.
func groupOrder(g string) string {
	t, _, _ := strings.Cut(g, ":")
	return strconv.Itoa(slices.Index(valueTypes, t)) + g
}

func stamp(t time.Time) string { return string(appendStamp(nil, t)) }

// appendStamp appends t in RFC 3339, UTC; nothing for the zero time.
func appendStamp(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	return t.UTC().AppendFormat(b, time.RFC3339)
}

// csvHeader names the columns of writeCSV.
var csvHeader = []string{"indicator_id", "workspace", "type", "hash", "value", "tlp", "confidence",
	"valid_from", "valid_until", "sightings", "name"}

// writeCSV writes one row per value, with the indicator's id and what a SIEM filters on. Rows
// are appended in place as encoding/csv writes them: its Writer takes strings, which made a
// timestamp string per row.
func writeCSV(w *bufio.Writer, inds []*Indicator, _ Meta) error {
	w.WriteString(strings.Join(csvHeader, ",") + "\n")
	return writeOrdered(w, len(inds), func(b []byte, lo, hi int) []byte {
		for _, ind := range inds[lo:hi] {
			for _, v := range ind.Values {
				for _, f := range [...]string{ind.ID, ind.Workspace, v.Type, v.Hash, v.Value, ind.TLP.String()} {
					b = append(appendCSVField(b, f), ',')
				}
				if ind.Confidence >= 0 {
					b = strconv.AppendInt(b, int64(ind.Confidence), 10)
				}
				b = appendStamp(append(b, ','), ind.ValidFrom)
				b = appendStamp(append(b, ','), ind.ValidUntil)
				b = strconv.AppendInt(append(b, ','), int64(ind.Sightings), 10)
				b = append(appendCSVField(append(b, ','), ind.Name), '\n')
			}
		}
		return b
	})
}

// csvSpecial are the bytes that put a CSV field in quotes.
var csvSpecial = [256]bool{',': true, '"': true, '\r': true, '\n': true}

// appendCSVField appends s as encoding/csv's Writer writes a field: in quotes, its quotes
// doubled, when it holds a comma, quote or line break, starts with a space, or is `\.`.
func appendCSVField(b []byte, s string) []byte {
	quote := s == `\.`
	for i := 0; i < len(s) && !quote; i++ { // strings.ContainsAny made a set on every call
		quote = csvSpecial[s[i]]
	}
	if r, _ := utf8.DecodeRuneInString(s); s != "" && unicode.IsSpace(r) {
		quote = true
	}
	if !quote {
		return append(b, s...)
	}
	b = append(b, '"')
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		b = append(append(b, s[:i+1]...), '"')
		s = s[i+1:]
	}
	return append(append(b, s...), '"')
}

// Fingerprint returns a digest of what an export of inds says (indicator versions, their
// values and sightings, in order), apart from its Meta: two exports with the same Fingerprint
// in one format differ at most in the time they give, which makes it a weak ETag.
func Fingerprint(inds []*Indicator) string {
	h := sha256.New()
	// The text hashed is encoded on every core; the hash takes it in order.
	writeOrdered(h, len(inds), func(b []byte, lo, hi int) []byte {
		for _, ind := range inds[lo:hi] {
			b = append(append(append(b, ind.Workspace...), '/'), ind.ID...) // ind.Key()
			b = strconv.AppendInt(append(b, 0), ind.Modified.UnixNano(), 10)
			b = strconv.AppendInt(append(b, 0), int64(ind.Sightings), 10)
			b = strconv.AppendInt(append(b, 0), int64(ind.FalsePositives), 10)
			for _, v := range ind.Values {
				b = append(append(b, 0), v.Type...)
				b = append(append(b, 0), v.Hash...)
				b = append(append(b, 0), v.Value...)
			}
			b = append(b, '\n')
		}
		return b
	})
	return hex.EncodeToString(h.Sum(nil))
}

// NameUUID returns a UUID-shaped identifier (version 5 layout) derived from name by SHA-256:
// the same name always gives the same identifier, as STIX ids of derived objects should.
func NameUUID(name string) string {
	b := sha256.Sum256([]byte(name))
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// writeSTIX writes a STIX 2.1 bundle of the indicators as they are stored. The bundle's id
// comes last, after the objects: it is named after their text, so the same objects give the
// same id and the same bytes, and naming it first took a pass over a million indicators'
// records before the first object could be written. JSON leaves the order of an object's
// properties free, and STIX readers, the hub's streaming one included, take it in any order.
func writeSTIX(w *bufio.Writer, inds []*Indicator, _ Meta) error {
	w.WriteString(`{"type":"bundle","objects":[`)
	// The bodies lie all over the heap, in the order they were read rather than that of inds:
	// copying them out waits on memory more than it computes, so the cores share it. Each
	// chunk is hashed as it is copied, while it is in the core's cache; the id hashes the
	// chunks' digests in order.
	size := chunkLen(len(inds))
	digests := make([][sha256.Size]byte, (len(inds)+size-1)/size)
	err := writeOrdered(w, len(inds), func(b []byte, lo, hi int) []byte {
		n := 0
		for _, ind := range inds[lo:hi] {
			n += len(ind.Body) + 2
		}
		b = slices.Grow(b, n)
		for i, ind := range inds[lo:hi] {
			if lo+i > 0 {
				b = append(b, ',')
			}
			b = append(append(b, '\n'), ind.Body...)
		}
		digests[lo/size] = sha256.Sum256(b) // writeOrdered encodes chunk lo/size into b[:0]
		return b
	})
	if err != nil {
		return err
	}
	h := sha256.New()
	for _, d := range digests {
		h.Write(d[:])
	}
	w.WriteString("\n],\"id\":\"bundle--" + NameUUID(hex.EncodeToString(h.Sum(nil))) + "\"}\n")
	return nil
}

// writeMISP writes one MISP event holding the indicators, mapped by package misp.
func writeMISP(w *bufio.Writer, inds []*Indicator, _ Meta) error {
	bodies := make([][]byte, len(inds))
	for i, ind := range inds {
		bodies[i] = ind.Body
	}
	if err := misp.WriteEvent(w, bodies); err != nil {
		return err
	}
	return w.WriteByte('\n')
}
