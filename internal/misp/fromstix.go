package misp

import (
	"bytes"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"cshub/internal/hub"
	"cshub/internal/jsonstr"
	"cshub/internal/parsort"
	"cshub/internal/prefault"
	"cshub/internal/stix/pattern"
)

// outAttr is one attribute of the MISP event FromSTIX writes.
type outAttr struct {
	UUID, Type, Category, Value, Comment string
	ToIDs                                bool
	Timestamp, Distribution              string
	ObjectRelation, Data                 string
	Tag                                  []string
	Sighting                             []outSighting
}

type outObject struct {
	UUID, Name, MetaCategory, TemplateUUID, Comment, Timestamp, Distribution string
	Attribute                                                                []*outAttr
}

type outSighting struct {
	UUID, Type, DateSighting, Source string
}

func (o *sobj) uuid() string {
	if i := strings.Index(o.id, "--"); i >= 0 {
		return o.id[i+2:]
	}
	return o.id
}

// unix writes a STIX timestamp as MISP's Unix seconds, or "".
func unix(ts string) string {
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return ""
	}
	return strconv.FormatInt(t.Unix(), 10)
}

// label returns the value of a misp-stix label such as misp:type="ip-dst".
func (o *sobj) label(name string) string {
	for _, l := range o.labels {
		if v, ok := strings.CutPrefix(l, "misp:"+name+"="); ok {
			if u, err := strconv.Unquote(v); err == nil {
				return u
			}
		}
	}
	return ""
}

// tagLabels appends to tags the labels that are not misp-stix bookkeeping, as MISP tags.
func (o *sobj) tagLabels(tags []string) []string {
	for _, l := range o.labels {
		if !strings.HasPrefix(l, "misp:") {
			tags = append(tags, l)
		}
	}
	return tags
}

// FromSTIX exports STIX objects, each one JSON object as the hub stores it, as one MISP event
// in core format, {"Event":{...}}. A report among them (the first one) gives the event its
// uuid, info and dates; without one the event's uuid is derived from the objects' ids.
// Objects that came from ToSTIX give back their attributes exactly (type, value, to_ids,
// category, comment, uuid); other indicators and observables are mapped by their patterns and
// properties, patterns that do not map to attributes travel as stix2-pattern attributes, and
// intrusion sets, malware, tools and attack patterns become misp-galaxy tags. An object that is
// not JSON is a hub.EInvalid error naming its position.
func FromSTIX(objects [][]byte) ([]byte, error) {
	var b bytes.Buffer
	if err := WriteEvent(&b, objects); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WriteEvent writes to w the event FromSTIX returns. It writes each attribute as it maps it:
// an export of a million indicators never holds the event in memory. Nothing is written when
// an object is not JSON. The objects must not change during the call: their text is read in
// place.
func WriteEvent(w io.Writer, objects [][]byte) error {
	objs, notes, err := decodeAll(objects)
	if err != nil {
		return err
	}
	var sum summary
	if !notes.report {
		sum = summarize(objs, notes)
	}
	x := &exporter{w: w, consumed: map[string]bool{}, sightings: map[string][]outSighting{}}
	// An export's indicators need no object by id: the index of a million of them is made only
	// when an object is looked up.
	x.byID = sync.OnceValue(func() map[string]*sobj {
		byID := make(map[string]*sobj, len(objs))
		for i := range objs {
			byID[objs[i].id] = &objs[i]
		}
		return byID
	})
	x.run(objs, &sum)
	return x.flush()
}

// decodeAll decodes every object, the cores sharing the work: an export of a million
// indicators spends most of its time here, and each object decodes alone. It notes what the
// event is named and dated after as it goes, while each object's text is in the core's cache:
// read afterwards, the million texts came from memory again. Its error is that of the first
// object that is not a STIX object.
func decodeAll(objects [][]byte) ([]sobj, noted, error) {
	objs := make([]sobj, len(objects))
	// An export's million objects fill it at once.
	prefault.Slice(objs)
	parts := make([]noted, min(runtime.GOMAXPROCS(0), max(len(objects)/1024, 1)))
	errs := make([]error, len(parts)) // the first of each part
	var wg sync.WaitGroup
	for p := range errs {
		wg.Go(func() {
			for i := p * len(objects) / len(errs); i < (p+1)*len(objects)/len(errs); i++ {
				if err := decodeObject(objects[i], &objs[i]); err != nil {
					errs[p] = hub.FieldError(fmt.Sprintf("objects[%d]", i), "not a JSON object: %v", err)
					return
				}
				if objs[i].typ == "" || objs[i].id == "" {
					errs[p] = hub.FieldError(fmt.Sprintf("objects[%d]", i), "not a STIX object: no type or id")
					return
				}
				parts[p].add(&objs[i])
			}
		})
	}
	wg.Wait()
	var all noted
	for p, err := range errs {
		if err != nil {
			return nil, noted{}, err
		}
		all.merge(&parts[p])
	}
	return objs, all, nil
}

// noted is what decodeAll notes of the objects: whether a report is among them, and what
// summarize needs besides their ids' order.
type noted struct {
	n      int
	report bool
	prefix string // the longest prefix of every id
	latest string // the latest modified time
	tlp    hub.TLP
}

func (s *noted) add(o *sobj) {
	if s.n == 0 {
		s.prefix = o.id
	}
	s.n++
	s.report = s.report || o.typ == "report"
	s.prefix = commonPrefix(s.prefix, o.id)
	s.latest = max(s.latest, o.modified)
	s.tlp = max(s.tlp, o.tlp)
}

// merge adds what t noted.
func (s *noted) merge(t *noted) {
	switch {
	case t.n == 0:
		return
	case s.n == 0:
		s.prefix = t.prefix
	default:
		s.prefix = commonPrefix(s.prefix, t.prefix)
	}
	s.n += t.n
	s.report = s.report || t.report
	s.latest = max(s.latest, t.latest)
	s.tlp = max(s.tlp, t.tlp)
}

// mapsPattern says whether object maps o by its pattern: an indicator without MISP bookkeeping.
func (o *sobj) mapsPattern() bool {
	return o.typ == "indicator" && o.mispAttrs == "" && !(o.hasMispValue && cmp(o.mispType, o.label("type")) != "")
}

type exporter struct {
	w         io.Writer
	buf       []byte // the event so far, written to w in pieces
	err       error
	objects   []byte // the Object list, which follows the attributes
	nattrs    int
	byID      func() map[string]*sobj
	consumed  map[string]bool          // SCOs already exported through an observed-data or a parent
	sightings map[string][]outSighting // by the STIX id they are of
	pending   []outSighting            // the sightings of the object being mapped, for its first attribute
	evTLP     hub.TLP
	tags      []string
}

// flush writes out what buf holds; it keeps the first write error.
func (x *exporter) flush() error {
	if x.err == nil {
		_, x.err = x.w.Write(x.buf)
	}
	x.buf = x.buf[:0]
	return x.err
}

// run writes the event of objs; sum is their summary when no report is among them.
func (x *exporter) run(objs []sobj, sum *summary) {
	var rep *sobj
	for i := range objs {
		if objs[i].typ == "report" {
			rep = &objs[i]
			break
		}
	}
	// Order: the report's object_refs first, then the rest as given, each id once.
	order := make([]*sobj, 0, len(objs))
	if rep == nil && sum.distinct {
		// An export's indicators have distinct ids: no need for a set of a million of them.
		for i := range objs {
			order = append(order, &objs[i])
		}
	} else {
		order = x.order(rep, objs, order)
	}

	var ev struct {
		uuid, info, date, timestamp, publishTimestamp string
		published                                     bool
		threatLevelID, analysis, distribution         string
		orgc                                          *sobj
		orgcName                                      string
	}
	if rep != nil {
		// A report whose id has no uuid part would give an event MISP cannot take: name it
		// after the report's id instead, as other objects without one are.
		ev.uuid = cmp(cmp(rep.mispUUID, rep.uuid()), uuid5("report:"+rep.id))
		ev.info = rep.more().name
		ev.date = rep.mispDate
		if ev.date == "" && len(rep.published) >= 10 {
			ev.date = rep.published[:10]
		}
		ev.timestamp = unix(rep.modified)
		ev.publishTimestamp = unix(rep.published)
		ev.published = rep.mispPublished
		ev.threatLevelID = rep.mispThreatLevel
		ev.analysis = rep.mispAnalysis
		ev.distribution = rep.mispDistribution
		x.evTLP = rep.tlp
		for _, t := range rep.tagLabels(nil) {
			x.addTag(t)
		}
		if id, ok := x.byID()[rep.more().createdByRef]; ok {
			ev.orgc, ev.orgcName = id, id.more().name
		}
	} else {
		ev.uuid = sum.name("export:", ",")
		ev.info = fmt.Sprintf("cshub export of %d STIX objects", len(objs))
		x.evTLP = sum.tlp
		if t, err := time.Parse(time.RFC3339Nano, sum.latest); err == nil {
			ev.date, ev.timestamp = t.UTC().Format("2006-01-02"), strconv.FormatInt(t.Unix(), 10)
		} else {
			ev.date, ev.timestamp = "1970-01-01", "0"
		}
	}
	if ev.threatLevelID == "" {
		ev.threatLevelID = "4" // undefined
	}
	if ev.analysis == "" {
		ev.analysis = "0" // initial
	}
	if x.evTLP != hub.TLPUnset {
		x.addTagFirst(tlpTags[x.evTLP])
	}
	// Observed-data first claims its observables, so that they are not exported twice; the
	// sightings are known before the attributes they go with are written.
	for _, o := range order {
		switch o.typ {
		case "observed-data":
			for _, r := range o.refs {
				x.consumed[r] = true
			}
		case "sighting":
			x.sightings[o.sightingOfRef] = append(x.sightings[o.sightingOfRef], outSighting{
				UUID: o.uuid(), Type: cmp(o.mispSightingType, "0"),
				DateSighting: cmp(unix(o.firstSeen), unix(o.more().created)), Source: o.mispSource,
			})
		}
	}

	b := append(x.buf, `{"Event":{"uuid":`...)
	b = jsonstr.Append(b, ev.uuid)
	b = append(b, `,"info":`...)
	b = jsonstr.Append(b, ev.info)
	b = append(b, `,"date":`...)
	b = jsonstr.Append(b, ev.date)
	b = append(b, `,"timestamp":`...)
	b = jsonstr.Append(b, ev.timestamp)
	if ev.publishTimestamp != "" {
		b = append(b, `,"publish_timestamp":`...)
		b = jsonstr.Append(b, ev.publishTimestamp)
	}
	b = append(b, `,"published":`...)
	b = strconv.AppendBool(b, ev.published)
	b = append(b, `,"threat_level_id":`...)
	b = jsonstr.Append(b, ev.threatLevelID)
	b = append(b, `,"analysis":`...)
	b = jsonstr.Append(b, ev.analysis)
	if ev.distribution != "" {
		b = append(b, `,"distribution":`...)
		b = jsonstr.Append(b, ev.distribution)
	}
	if ev.orgcName != "" {
		b = append(b, `,"Orgc":{"uuid":`...)
		b = jsonstr.Append(b, ev.orgc.uuid())
		b = append(b, `,"name":`...)
		b = jsonstr.Append(b, ev.orgcName)
		b = append(b, '}')
	}
	x.buf = append(b, `,"Attribute":[`...)
	var pre preEncoded
	for lo := 0; lo < len(order); lo += 4096 {
		part := order[lo:min(lo+4096, len(order))]
		pre.encode(x, part)
		for i, o := range part {
			if e := pre.of[i]; e.n > 0 {
				out := pre.bufs[e.w][e.from:e.to]
				if x.nattrs == 0 {
					out = out[1:] // the first attribute has no comma before it
				}
				x.buf = append(x.buf, out...)
				x.nattrs += e.n
				if len(x.buf) >= 64<<10 {
					x.flush()
				}
			} else if !e.done {
				x.pending = x.sightings[o.id]
				x.object(o)
			}
		}
	}
	b = append(x.buf, `],"Object":[`...)
	b = append(b, x.objects...)
	b = append(b, `],"Tag":[`...)
	for i, t := range x.tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendTag(b, t)
	}
	x.buf = append(b, "]}}"...)
}

// summary is what an event without a report is named and dated after: the objects' ids
// sorted, the latest modified time and the highest TLP among them.
type summary struct {
	sorted   []idKey
	distinct bool // no two objects have the same id
	latest   string
	tlp      hub.TLP
}

// idKey stands for an id in a sort: key is the eight bytes of the id after the prefix all ids
// share, big-endian, zeros past its end. Ids with lower keys sort lower as strings, so only ids
// with the same key are compared whole.
type idKey struct {
	key uint64
	id  string
}

func byIDKey(a, b idKey) int {
	switch {
	case a.key < b.key:
		return -1
	case a.key > b.key:
		return 1
	}
	return strings.Compare(a.id, b.id)
}

// summarize returns the summary of objs, given what decodeAll noted of them. Sorting a million
// ids is most of it: sorting their keys keeps the comparisons within one array instead of in a
// million object texts. The keys are made on every core and sorted on every core (package
// parsort).
func summarize(objs []sobj, notes noted) summary {
	sum := summary{distinct: true, latest: notes.latest, tlp: notes.tlp, sorted: make([]idKey, len(objs))}
	prefault.Slice(sum.sorted)
	prefix := notes.prefix
	var wg sync.WaitGroup
	for p, parts := 0, parsort.Parts(len(objs)); p < parts; p++ {
		wg.Go(func() {
			for i := p * len(objs) / parts; i < (p+1)*len(objs)/parts; i++ {
				id := objs[i].id
				var key uint64
				for j := len(prefix); j < len(prefix)+8; j++ {
					key <<= 8
					if j < len(id) {
						key |= uint64(id[j])
					}
				}
				sum.sorted[i] = idKey{key, id}
			}
		})
	}
	wg.Wait()
	sum.sorted = parsort.Sort(sum.sorted, byIDKey)
	for i := 1; i < len(sum.sorted); i++ {
		if a, b := sum.sorted[i-1], sum.sorted[i]; a.key == b.key && a.id == b.id {
			sum.distinct = false
		}
	}
	return sum
}

// commonPrefix returns the longest prefix of a that b shares.
func commonPrefix(a, b string) string {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return a[:n]
}

// nameBlock is how many ids name copies out at a time.
const nameBlock = 8192

// name returns uuid5(prefix + strings.Join(ids, sep)) of the sorted ids without building that
// string, which for a million ids is tens of megabytes written once and read once. The ids lie
// scattered over the objects' texts, and reading them in sorted order waits on memory for each
// (100-170 ms for 800 thousand, of which hashing takes 22): the cores copy blocks of them in
// turn into a few buffers, which this goroutine hashes in order as they fill.
func (s *summary) name(prefix, sep string) string {
	h := sha1.New()
	h.Write(namespace[:])
	h.Write([]byte(prefix))
	blocks := (len(s.sorted) + nameBlock - 1) / nameBlock
	workers := min(runtime.GOMAXPROCS(0), blocks)
	// A worker takes a buffer before it takes the next block, so the block the hash waits for
	// is always being copied: the buffers it has not yet hashed are all of later blocks.
	free := make(chan []byte, 2*workers)
	for range cap(free) {
		free <- nil
	}
	filled := make([]chan []byte, blocks)
	for i := range filled {
		filled[i] = make(chan []byte, 1)
	}
	var next atomic.Int64
	for range workers {
		go func() {
			for b := range free {
				i := int(next.Add(1)) - 1
				if i >= blocks {
					return
				}
				b = b[:0]
				for j := i * nameBlock; j < min((i+1)*nameBlock, len(s.sorted)); j++ {
					if j > 0 {
						b = append(b, sep...)
					}
					b = append(b, s.sorted[j].id...)
				}
				filled[i] <- b
			}
		}()
	}
	for i := range filled {
		b := <-filled[i]
		h.Write(b)
		free <- b
	}
	close(free) // the workers still waiting for a buffer find no block left
	return uuidSum(h)
}

// order appends to order the report's object_refs, then the other objects as given, each id once.
func (x *exporter) order(rep *sobj, objs []sobj, order []*sobj) []*sobj {
	seen := make(map[string]bool, len(objs))
	if rep != nil {
		for _, r := range rep.refs {
			if o, ok := x.byID()[r]; ok && !seen[r] {
				order = append(order, o)
				seen[r] = true
			}
		}
	}
	for i := range objs {
		if o := &objs[i]; !seen[o.id] {
			order = append(order, o)
			seen[o.id] = true
		}
	}
	return order
}

// appendTag appends a MISP tag, {"name":t}.
func appendTag(b []byte, t string) []byte {
	b = append(b, `{"name":`...)
	b = jsonstr.Append(b, t)
	return append(b, '}')
}

// appendAttr appends a as MISP writes an attribute: empty lists and optional strings left out.
func appendAttr(b []byte, a *outAttr) []byte {
	b = append(b, `{"uuid":`...)
	b = jsonstr.Append(b, a.UUID)
	b = append(b, `,"type":`...)
	b = jsonstr.Append(b, a.Type)
	b = append(b, `,"category":`...)
	b = jsonstr.Append(b, a.Category)
	b = append(b, `,"value":`...)
	b = jsonstr.Append(b, a.Value)
	b = append(b, `,"to_ids":`...)
	b = strconv.AppendBool(b, a.ToIDs)
	b = append(b, `,"comment":`...)
	b = jsonstr.Append(b, a.Comment)
	b = appendOpt(b, `,"timestamp":`, a.Timestamp)
	b = appendOpt(b, `,"distribution":`, a.Distribution)
	b = appendOpt(b, `,"object_relation":`, a.ObjectRelation)
	b = appendOpt(b, `,"data":`, a.Data)
	if len(a.Tag) > 0 {
		b = append(b, `,"Tag":[`...)
		for i, t := range a.Tag {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendTag(b, t)
		}
		b = append(b, ']')
	}
	if len(a.Sighting) > 0 {
		b = append(b, `,"Sighting":[`...)
		for i, s := range a.Sighting {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"uuid":`...)
			b = jsonstr.Append(b, s.UUID)
			b = append(b, `,"type":`...)
			b = jsonstr.Append(b, s.Type)
			b = append(b, `,"date_sighting":`...)
			b = jsonstr.Append(b, s.DateSighting)
			b = appendOpt(b, `,"source":`, s.Source)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendOpt appends a property that MISP leaves out when empty.
func appendOpt(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	return jsonstr.Append(append(b, name...), v)
}

func (x *exporter) addTag(t string) {
	if !slices.Contains(x.tags, t) {
		x.tags = append(x.tags, t)
	}
}

func (x *exporter) addTagFirst(t string) {
	if !slices.Contains(x.tags, t) {
		x.tags = append([]string{t}, x.tags...)
	}
}

// attrTags appends to tags an object's tags for its attribute: its TLP when that differs from
// the event's, and its labels.
func (x *exporter) attrTags(o *sobj, tags []string) []string {
	if o.tlp != hub.TLPUnset && o.tlp != x.evTLP {
		tags = append(tags, tlpTags[o.tlp])
	}
	return o.tagLabels(tags)
}

// tlpTags are the MISP tags of the TLP levels.
var tlpTags = func() (t [hub.TLPRed + 1]string) {
	for l := range t {
		t[l] = "tlp:" + strings.ToLower(hub.TLP(l).String())
	}
	return t
}()

// encoded is where preEncoded.encode put the attributes of one object: bufs[w][from:to], each
// attribute after a comma, n of them; done says the object needs nothing more written.
type encoded struct {
	w, from, to, n int
	done           bool
}

// preEncoded is what encode found of a part of the objects. Its buffers are kept from one part
// to the next: garbage of that size would have the collector scan the million decoded objects
// again and again.
type preEncoded struct {
	bufs [][]byte
	of   []encoded // by position in the part
}

// encode encodes the attributes of the indicators among part that their patterns map, on every
// core: those depend only on what is fixed while x writes attributes (the event's TLP, the
// sightings, the objects by id), and they are nearly all of an export. The others are left to
// x.object, in order.
func (pre *preEncoded) encode(x *exporter, part []*sobj) {
	pre.bufs = slices.Grow(pre.bufs[:0], runtime.GOMAXPROCS(0))[:min(runtime.GOMAXPROCS(0), max(len(part)/256, 1))]
	pre.of = slices.Grow(pre.of[:0], len(part))[:len(part)]
	clear(pre.of)
	var wg sync.WaitGroup
	for w := range pre.bufs {
		wg.Go(func() {
			b := pre.bufs[w][:0]
			var attrs []outAttr // the attributes of one object, the array kept for the next
			var tags []string
			// Consecutive objects may share their modified time: its Unix time is worked out
			// once for a run of them, not allocated for each.
			var stamp struct{ modified, unix string }
			for i := w * len(part) / len(pre.bufs); i < (w+1)*len(part)/len(pre.bufs); i++ {
				o := part[i]
				if !o.mapsPattern() {
					continue
				}
				e := encoded{w: w, from: len(b), done: true}
				sightings := x.sightings[o.id]
				attrs = indicatorAttrs(o, attrs[:0])
				if o.modified != stamp.modified {
					stamp.modified, stamp.unix = o.modified, unix(o.modified)
				}
				for j := range attrs {
					a := &attrs[j]
					tags = x.attrTags(o, tags[:0])
					a.Comment, a.Tag, a.Timestamp = o.description, tags, stamp.unix
					x.complete(o, a, sightings)
					sightings = nil
					b = appendAttr(append(b, ','), a)
					e.n++
				}
				e.to = len(b)
				pre.of[i] = e
			}
			pre.bufs[w] = b
		})
	}
	wg.Wait()
}

// complete fills in what a mapped from o leaves out, and gives it sightings.
func (x *exporter) complete(o *sobj, a *outAttr, sightings []outSighting) {
	if a.UUID == "" {
		a.UUID = o.uuid()
	}
	if a.Timestamp == "" {
		a.Timestamp = unix(o.modified)
	}
	if a.Category == "" {
		a.Category = defaultCategory(a.Type)
	}
	x.restoreData(o, a)
	a.Sighting = sightings
}

// add writes an attribute mapped from o.
func (x *exporter) add(o *sobj, a *outAttr) {
	x.complete(o, a, x.pending)
	x.pending = nil
	if x.nattrs > 0 {
		x.buf = append(x.buf, ',')
	}
	x.nattrs++
	x.buf = appendAttr(x.buf, a)
	if len(x.buf) >= 64<<10 {
		x.flush()
	}
}

// restoreData gives attachments and malware samples back their content, which ToSTIX put in
// an artifact named by the attribute's uuid.
func (x *exporter) restoreData(o *sobj, a *outAttr) {
	if a.Type != "attachment" && a.Type != "malware-sample" {
		return
	}
	if art, ok := x.byID()["artifact--"+strings.ToLower(a.UUID)]; ok {
		a.Data = art.payloadBin
		return
	}
	for _, r := range o.refs {
		if strings.HasPrefix(r, "artifact--") {
			if art, ok := x.byID()[r]; ok {
				a.Data = art.payloadBin
			} else {
				a.Data = ""
			}
		}
	}
}

// object exports one STIX object.
func (x *exporter) object(o *sobj) {
	if o.mispAttrs != "" {
		x.mispObject(o)
		return
	}
	if o.hasMispValue && o.typ != "report" {
		a := &outAttr{
			UUID: cmp(o.mispUUID, o.uuid()), Type: cmp(o.mispType, o.label("type")),
			Category: cmp(o.mispCategory, o.label("category")), Value: o.mispValue,
			Comment: o.description, Distribution: o.mispDistribution, Tag: x.attrTags(o, nil),
		}
		a.ToIDs = o.mispToIDs || o.typ == "indicator"
		if a.Type != "" {
			x.add(o, a)
			return
		}
	}
	// An indicator mapped by its pattern is written by preEncoded.encode.
	switch o.typ {
	case "observed-data":
		for _, r := range o.refs {
			for _, a := range x.scoAttrs(r) {
				a.Comment, a.Tag = o.description, x.attrTags(o, nil)
				x.add(o, a)
			}
		}
	case "vulnerability", "campaign", "threat-actor":
		t := map[string]string{"vulnerability": "vulnerability", "campaign": "campaign-name", "threat-actor": "threat-actor"}[o.typ]
		if name := o.more().name; name != "" {
			x.add(o, &outAttr{Type: t, Value: name, Comment: o.description, Tag: x.attrTags(o, nil)})
		}
	case "intrusion-set", "malware", "tool", "attack-pattern", "course-of-action":
		if t := galaxyTag(o); t != "" {
			x.addTag(t)
		}
	default:
		if !o.more().hasCreated && o.typ != "marking-definition" && !x.consumed[o.id] {
			for _, a := range x.scoAttrs(o.id) {
				x.add(o, a)
			}
		}
	}
}

// galaxyTag writes a cluster object as a misp-galaxy tag.
func galaxyTag(o *sobj) string {
	gt, val := o.mispGalaxyType, o.mispCluster
	if gt == "" || val == "" {
		val = o.more().name
		if val == "" {
			return ""
		}
		ext := ""
		var refs []any
		if o.extRefs != "" {
			json.Unmarshal([]byte(o.extRefs), &refs)
		}
		for _, r := range refs {
			if m, ok := r.(map[string]any); ok && m["source_name"] == "mitre-attack" {
				ext, _ = m["external_id"].(string)
			}
		}
		gt = map[string]string{"intrusion-set": "threat-actor", "malware": "malpedia", "tool": "tool",
			"attack-pattern": "mitre-attack-pattern", "course-of-action": "mitre-course-of-action"}[o.typ]
		if ext != "" {
			gt = map[string]string{"intrusion-set": "mitre-intrusion-set", "malware": "mitre-malware", "tool": "mitre-tool",
				"attack-pattern": "mitre-attack-pattern", "course-of-action": "mitre-course-of-action"}[o.typ]
			val += " - " + ext
		}
	}
	return fmt.Sprintf("misp-galaxy:%s=%q", gt, val)
}

// mispObject buffers a MISP object, which the event lists after its attributes.
func (x *exporter) mispObject(o *sobj) {
	var recs []any
	json.Unmarshal([]byte(o.mispAttrs), &recs)
	mo := &outObject{
		UUID: o.uuid(), Name: cmp(o.mispName, o.label("name")),
		MetaCategory: cmp(o.mispMetaCategory, o.label("meta-category")),
		TemplateUUID: o.mispTemplate, Comment: o.description,
		Timestamp: unix(o.modified), Distribution: o.mispDistribution,
	}
	for _, r := range recs {
		m, ok := r.(map[string]any)
		if !ok {
			continue
		}
		s := func(k string) string { v, _ := m[k].(string); return v }
		a := &outAttr{
			UUID: s("uuid"), Type: s("type"), Category: s("category"), Value: s("value"), Comment: s("comment"),
			Timestamp: mo.Timestamp, Distribution: s("distribution"), ObjectRelation: s("object_relation"),
		}
		a.ToIDs, _ = m["to_ids"].(bool)
		x.restoreData(o, a)
		if tl, ok := m["tags"].([]any); ok {
			for _, t := range tl {
				if ts, ok := t.(string); ok {
					a.Tag = append(a.Tag, ts)
				}
			}
		}
		a.Sighting, x.pending = x.pending, nil
		mo.Attribute = append(mo.Attribute, a)
	}
	b := x.objects
	if len(b) > 0 {
		b = append(b, ',')
	}
	b = append(b, `{"uuid":`...)
	b = jsonstr.Append(b, mo.UUID)
	b = append(b, `,"name":`...)
	b = jsonstr.Append(b, mo.Name)
	b = append(b, `,"meta-category":`...)
	b = jsonstr.Append(b, mo.MetaCategory)
	b = appendOpt(b, `,"template_uuid":`, mo.TemplateUUID)
	b = append(b, `,"comment":`...)
	b = jsonstr.Append(b, mo.Comment)
	b = appendOpt(b, `,"timestamp":`, mo.Timestamp)
	b = appendOpt(b, `,"distribution":`, mo.Distribution)
	b = append(b, `,"Attribute":[`...)
	for i, a := range mo.Attribute {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendAttr(b, a)
	}
	x.objects = append(b, "]}"...)
}

// defaultCategory gives a category MISP accepts for the type, for objects without one.
func defaultCategory(typ string) string {
	switch typ {
	case "ip-src", "ip-dst", "domain", "hostname", "url", "AS", "ip-dst|port", "ip-src|port", "domain|ip",
		"mac-address", "stix2-pattern", "hostname|port", "x509-fingerprint-sha1", "x509-fingerprint-md5",
		"x509-fingerprint-sha256", "snort":
		return "Network activity"
	case "regkey", "regkey|value", "mutex":
		return "Persistence mechanism"
	case "vulnerability", "link":
		return "External analysis"
	case "campaign-name", "threat-actor":
		return "Attribution"
	case "yara", "sigma", "attachment", "malware-sample", "filename", "email", "email-src",
		"email-subject", "md5", "sha1", "sha256", "sha512", "ssdeep", "imphash", "tlsh":
		return "Payload delivery"
	}
	if strings.HasPrefix(typ, "filename|") || hashAlgorithms[typ].key != "" {
		return "Payload delivery"
	}
	return "Other"
}

// mispHashType maps a STIX hashes key back to the MISP attribute type.
func mispHashType(key string) string {
	return hashTypes[strings.ToUpper(strings.ReplaceAll(key, "_", "-"))]
}

// hashTypes maps the hashes keys of hashAlgorithms, with and without their dashes, to the MISP
// types: no two of those keys are the same.
var hashTypes = func() map[string]string {
	m := map[string]string{}
	for typ, h := range hashAlgorithms {
		m[h.key], m[strings.ReplaceAll(h.key, "-", "")] = typ, typ
	}
	return m
}()

// scoAttrs maps the observable with the given id (and what it refers to) to attributes.
func (x *exporter) scoAttrs(id string) []*outAttr {
	o, ok := x.byID()[id]
	if !ok {
		return nil
	}
	x.consumed[id] = true
	one := func(t, v string) []*outAttr {
		if v == "" {
			return nil
		}
		return []*outAttr{{Type: t, Value: v, UUID: o.uuid()}}
	}
	switch o.typ {
	case "ipv4-addr", "ipv6-addr":
		return one("ip-dst", o.value)
	case "domain-name":
		return one("domain", o.value)
	case "url":
		return one("url", o.value)
	case "email-addr":
		return one("email", o.value)
	case "mutex":
		return one("mutex", o.more().name)
	case "mac-addr":
		return one("mac-address", o.value)
	case "windows-registry-key":
		return one("regkey", o.key)
	case "email-message":
		return one("email-subject", o.subject)
	case "autonomous-system":
		if o.hasNumber {
			return one("AS", "AS"+strconv.FormatFloat(o.number, 'f', 0, 64))
		}
	case "network-traffic":
		sides := []struct {
			name, ref string
			port      float64
			hasPort   bool
		}{{"dst", o.dstRef, o.dstPort, o.hasDstPort}, {"src", o.srcRef, o.srcPort, o.hasSrcPort}}
		for _, side := range sides {
			ip, ok := x.byID()[side.ref]
			if ok && side.hasPort && (ip.typ == "ipv4-addr" || ip.typ == "ipv6-addr") {
				x.consumed[ip.id] = true
				return one("ip-"+side.name+"|port", ip.value+"|"+strconv.FormatFloat(side.port, 'f', 0, 64))
			}
		}
	case "file", "x509-certificate":
		var hashes map[string]any
		if o.hashes != "" {
			json.Unmarshal([]byte(o.hashes), &hashes)
		}
		keys := make([]string, 0, len(hashes))
		for k := range hashes {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		name := o.more().name
		var out []*outAttr
		if o.typ == "x509-certificate" {
			for _, k := range keys {
				h, _ := hashes[k].(string)
				if t := mispHashType(k); h != "" && (t == "md5" || t == "sha1" || t == "sha256") {
					out = append(out, &outAttr{Type: "x509-fingerprint-" + t, Value: h})
				}
			}
		} else if h, ok := hashes[keys0(keys)].(string); ok && len(keys) == 1 && name != "" && mispHashType(keys[0]) != "" {
			return one("filename|"+mispHashType(keys[0]), name+"|"+h)
		} else {
			if name != "" {
				out = append(out, &outAttr{Type: "filename", Value: name})
			}
			for _, k := range keys {
				if t, ok := hashes[k].(string); ok && mispHashType(k) != "" {
					out = append(out, &outAttr{Type: mispHashType(k), Value: t})
				}
			}
		}
		for i, a := range out {
			a.UUID = o.uuid()
			if i > 0 {
				a.UUID = uuid5(o.id + "/" + a.Type)
			}
		}
		return out
	}
	return nil
}

func keys0(keys []string) string {
	if len(keys) == 0 {
		return ""
	}
	return keys[0]
}

// indicatorAttrs appends to out the attributes of an indicator without MISP bookkeeping.
func indicatorAttrs(o *sobj, out []outAttr) []outAttr {
	p := o.pattern
	switch o.patternType {
	case yaraPattern, snortPattern, sigmaPattern:
		return append(out, outAttr{Type: patternTypes[o.patternType], Value: p, ToIDs: true})
	case stixPattern:
	default:
		return out
	}
	if t, v, ok := simplePattern(p); ok {
		return append(out, outAttr{Type: t, Value: v, ToIDs: true})
	}
	return patternAttrs(o.id, p, out)
}

// patternAttrs maps the STIX pattern p of indicator id through the pattern parser: one attribute
// per comparison MISP has a type for, or the whole pattern as one stix2-pattern attribute,
// appended to dst.
func patternAttrs(id, p string, dst []outAttr) []outAttr {
	whole := outAttr{Type: "stix2-pattern", Value: p, ToIDs: true}
	pat, err := pattern.Parse(p)
	if err != nil {
		return append(dst, whole)
	}
	out := dst
	var ntValue, ntPort string
	ok := true
	walkComparisons(pat.Expr, func(c *pattern.Comparison) {
		if c.Negated || c.Op != pattern.OpEQ || c.Value == nil {
			ok = false
			return
		}
		var v string
		switch c.Value.Kind {
		case pattern.LitString:
			v = c.Value.Str
		case pattern.LitInt:
			v = strconv.FormatInt(c.Value.Int, 10)
		default:
			ok = false
			return
		}
		prop := c.Path.Property()
		t := ""
		switch c.Path.Type + ":" + prop {
		case "ipv4-addr:value", "ipv6-addr:value":
			t = "ip-dst"
		case "domain-name:value":
			t = "domain"
		case "url:value":
			t = "url"
		case "email-addr:value":
			t = "email"
		case "file:name":
			t = "filename"
		case "mutex:name":
			t = "mutex"
		case "mac-addr:value":
			t = "mac-address"
		case "windows-registry-key:key":
			t = "regkey"
		case "email-message:subject":
			t = "email-subject"
		case "autonomous-system:number":
			t, v = "AS", "AS"+v
		case "network-traffic:dst_ref.value":
			ntValue = v
			return
		case "network-traffic:dst_port":
			ntPort = v
			return
		case "network-traffic:dst_ref.type":
			return
		}
		if t == "" && c.Path.Type == "file" && len(c.Path.Steps) == 2 && c.Path.Steps[0].Name == "hashes" {
			t = mispHashType(c.Path.Steps[1].Name)
		}
		if t == "" {
			ok = false
			return
		}
		out = append(out, outAttr{Type: t, Value: v, ToIDs: true})
	})
	switch {
	case ntValue != "" && ntPort != "":
		out = append(out, outAttr{Type: "ip-dst|port", Value: ntValue + "|" + ntPort, ToIDs: true})
	case ntValue != "":
		out = append(out, outAttr{Type: "ip-dst", Value: ntValue, ToIDs: true})
	case ntPort != "":
		ok = false
	}
	mine := out[len(dst):]
	if !ok || len(mine) == 0 {
		return append(dst, whole)
	}
	if len(mine) == 2 && mine[0].Type == "filename" && hashAlgorithms[mine[1].Type].key != "" {
		return append(dst, outAttr{Type: "filename|" + mine[1].Type, Value: mine[0].Value + "|" + mine[1].Value, ToIDs: true})
	}
	for i := 1; i < len(mine); i++ {
		mine[i].UUID = uuid5(id + "/" + strconv.Itoa(i))
	}
	return out
}

// simpleProps are the object paths of one-value patterns, with the attribute types they map to.
var simpleProps = map[string]string{
	"ipv4-addr:value": "ip-dst", "ipv6-addr:value": "ip-dst", "domain-name:value": "domain", "url:value": "url",
	"email-addr:value": "email", "file:name": "filename", "mutex:name": "mutex", "mac-addr:value": "mac-address",
	"windows-registry-key:key": "regkey", "email-message:subject": "email-subject",
}

// simplePattern maps the pattern nearly every stored indicator has, [type:path = 'value'] with
// a path above or a file hash, without parsing it: the parser builds a tree for it, which an
// export of a million indicators paid for a million times. It gives what the parser's path in
// indicatorAttrs gives, or ok false.
func simplePattern(p string) (typ, value string, ok bool) {
	head, rest, found := strings.Cut(p, " = '")
	if !found || len(p) > 1<<20 /* the parser's limit */ || !strings.HasPrefix(head, "[") || !strings.HasSuffix(rest, "']") {
		return "", "", false
	}
	head, value = head[1:], rest[:len(rest)-2]
	if strings.ContainsAny(value, `'\`) || !utf8.ValidString(value) {
		return "", "", false
	}
	if typ = simpleProps[head]; typ != "" {
		return typ, value, true
	}
	if k, found := strings.CutPrefix(head, "file:hashes.'"); found && strings.HasSuffix(k, "'") {
		k = k[:len(k)-1]
		if k != "" && !strings.ContainsAny(k, `'\`) && utf8.ValidString(k) {
			typ = mispHashType(k)
			return typ, value, typ != ""
		}
	}
	return "", "", false
}

// walkComparisons calls f for every comparison of the pattern.
func walkComparisons(e pattern.ObservationExpr, f func(*pattern.Comparison)) {
	switch e := e.(type) {
	case *pattern.ObservationBracket:
		walkComp(e.Comparison, f)
	case *pattern.ObservationCompound:
		for _, s := range e.Operands {
			walkComparisons(s, f)
		}
	case *pattern.ObservationQualified:
		walkComparisons(e.Expr, f)
	}
}

func walkComp(e pattern.ComparisonExpr, f func(*pattern.Comparison)) {
	switch e := e.(type) {
	case *pattern.Comparison:
		f(e)
	case *pattern.ComparisonCompound:
		for _, s := range e.Operands {
			walkComp(s, f)
		}
	}
}
