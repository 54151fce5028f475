package feed

import (
	"context"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"cshub/internal/access"
	"cshub/internal/export"
	"cshub/internal/hub"
)

// Cursor is where a client's copy of a feed stands; see the package documentation.
type Cursor struct {
	Point      export.Point
	Definition time.Time // Modified of the feed definition the set was made with
	View       uint32    // digest of the workspaces the organisation could read
}

// String writes c as "1.SEQ.UNIXNANO.DEFNANO.VIEW", the form ParseCursor reads.
func (c Cursor) String() string {
	return "1." + strconv.FormatInt(c.Point.Seq, 10) + "." + strconv.FormatInt(c.Point.Time.UnixNano(), 10) + "." +
		strconv.FormatInt(c.Definition.UnixNano(), 10) + "." + strconv.FormatUint(uint64(c.View), 16)
}

// ParseCursor reads what Cursor.String writes; anything else is EInvalid on field "since".
func ParseCursor(s string) (Cursor, error) {
	bad := hub.FieldError("since", "not a cursor this hub gave out; poll without since for the full set")
	parts := strings.Split(s, ".")
	if len(parts) != 5 || parts[0] != "1" {
		return Cursor{}, bad
	}
	var n [3]int64
	for i := range n {
		v, err := strconv.ParseInt(parts[i+1], 10, 64)
		if err != nil || v < 0 {
			return Cursor{}, bad
		}
		n[i] = v
	}
	view, err := strconv.ParseUint(parts[4], 16, 32)
	if err != nil {
		return Cursor{}, bad
	}
	return Cursor{Point: export.Point{Seq: n[0], Time: time.Unix(0, n[1]).UTC()}, Definition: time.Unix(0, n[2]).UTC(), View: uint32(view)}, nil
}

func viewDigest(v hub.Viewer) uint32 {
	h := fnv.New32a()
	h.Write([]byte(v.Org + "\x00" + strings.Join(v.Workspaces, "\x00")))
	return h.Sum32()
}

// Value is one value of an Item.
type Value struct {
	Type  string `json:"type"`
	Hash  string `json:"hash,omitempty"`
	Value string `json:"value"`
}

// Item is an indicator a feed carries, as a poll sends it.
type Item struct {
	ID         string     `json:"id"`
	Workspace  string     `json:"workspace"`
	Name       string     `json:"name,omitempty"`
	Modified   time.Time  `json:"modified"` // the indicator version
	TLP        hub.TLP    `json:"tlp"`
	Confidence *int       `json:"confidence,omitempty"`
	ValidUntil *time.Time `json:"valid_until,omitempty"`
	Sightings  int        `json:"sightings"`
	Values     []Value    `json:"values"`
}

// Removal names an indicator a feed no longer carries.
type Removal struct {
	ID        string `json:"id"`
	Workspace string `json:"workspace"`
}

// Delta is the answer to a poll. With Full, Added is the whole set and the client replaces
// what it holds; otherwise it replaces or adds each of Added by (workspace, id) and deletes each
// of Removed. Either way it keeps Cursor for the next poll.
type Delta struct {
	Feed    string    `json:"feed"`
	Cursor  string    `json:"cursor"`
	Full    bool      `json:"full"`
	Added   []Item    `json:"added"`
	Removed []Removal `json:"removed"`
}

func item(ind *export.Indicator) Item {
	it := Item{ID: ind.ID, Workspace: ind.Workspace, Name: ind.Name, Modified: ind.Modified, TLP: ind.TLP, Sightings: ind.Sightings,
		Values: make([]Value, len(ind.Values))}
	if ind.Confidence >= 0 {
		c := ind.Confidence
		it.Confidence = &c
	}
	if !ind.ValidUntil.IsZero() {
		t := ind.ValidUntil
		it.ValidUntil = &t
	}
	for i, v := range ind.Values {
		it.Values[i] = Value{Type: v.Type, Hash: v.Hash, Value: v.Value}
	}
	return it
}

// view returns the definition and the viewer org polls name with, and brings the Catalog up
// to date.
func (s *Service) view(ctx context.Context, org, name string) (*Definition, *export.View, export.Point, error) {
	d, err := s.Get(ctx, org, name)
	if err != nil {
		return nil, nil, export.Point{}, err
	}
	v, err := access.ViewerFor(ctx, s.dir, org, access.PathFeed)
	if err != nil {
		return nil, nil, export.Point{}, err
	}
	p, err := s.catalog.Sync(ctx, nil)
	if err != nil {
		return nil, nil, export.Point{}, err
	}
	return d, &export.View{Viewer: v, Path: access.PathFeed, Selection: d.Selection}, p, nil
}

// Poll answers GET /api/v1/feeds/{name}?since=since for org: the full set when since is "" or
// cannot be continued, else the changes since it.
func (s *Service) Poll(ctx context.Context, org, name, since string) (*Delta, error) {
	var from Cursor
	if since != "" {
		var err error
		if from, err = ParseCursor(since); err != nil {
			return nil, err
		}
	}
	d, w, p, err := s.view(ctx, org, name)
	if err != nil {
		return nil, err
	}
	to := Cursor{Point: p, Definition: d.Modified, View: viewDigest(w.Viewer)}
	out := &Delta{Feed: name, Cursor: to.String(), Added: []Item{}, Removed: []Removal{}}
	var added []*export.Indicator
	continues := since != "" && from.Definition.Equal(to.Definition) && from.View == to.View &&
		from.Point.Seq <= p.Seq && !from.Point.Time.After(p.Time)
	if continues {
		var removed []string
		added, removed = s.catalog.Delta(w, from.Point, p)
		for _, k := range removed {
			ws, id, _ := strings.Cut(k, "/")
			out.Removed = append(out.Removed, Removal{ID: id, Workspace: ws})
		}
	} else {
		out.Full = true
		added = s.catalog.Select(w, p)
	}
	for _, ind := range added {
		out.Added = append(out.Added, item(ind))
	}
	return out, nil
}

// File returns org's feed called name whole, for writing in a format, with its weak ETag: the
// same ETag means the same indicators, values and sightings in the same order.
func (s *Service) File(ctx context.Context, org, name string, f export.Format) ([]*export.Indicator, export.Meta, string, error) {
	d, w, p, err := s.view(ctx, org, name)
	if err != nil {
		return nil, export.Meta{}, "", err
	}
	inds := s.catalog.Select(w, p)
	etag := `W/"` + export.NameUUID(f.Name+"\x00"+d.Modified.String()+"\x00"+export.Fingerprint(inds)) + `"`
	return inds, export.Meta{Org: org, Time: p.Time}, etag, nil
}
