package hub

import (
	"bytes"
	"encoding/json"
	"slices"
	"time"
)

// Object is one version of a STIX object as the hub holds it: the plain metadata that access
// control and ordering need, and the body. Everywhere but in a Store the Body is the STIX JSON
// in plain text; a Store only ever receives and returns it sealed (see package seal), so the
// store code never sees content.
type Object struct {
	Seq        int64     // store-assigned; increases in the order versions were added; 0 before
	ID         string    // STIX id, "type--uuid"
	Type       string    // STIX type, the part of ID before "--"
	Created    time.Time // STIX created
	Modified   time.Time // STIX modified; with Workspace and ID it names the version
	Added      time.Time // when the hub stored this version (TAXII date_added); set by the store
	Workspace  string    // slug of the workspace the object was shared in
	Author     string    // code of the organisation that submitted it
	TLP        TLP       // effective TLP 2.0 level, never TLPUnset once stored
	Recipients []string  // organisation codes a TLP:RED object is addressed to, besides Author
	Revoked    bool      // STIX revoked
	Body       []byte    // STIX JSON (plain in memory, sealed in a Store)
	Tokens     [][]byte  // blind-index tokens (keyed hashes of values) for exact lookups
	// Export is the sealed export record of an indicator or sighting (package export/record),
	// written beside the version so that an export need not read the whole object; nil for
	// other types, and on every version a Store returns.
	Export []byte
}

// Exported reports whether versions of objects of type typ carry an export record
// (Object.Export): indicators, which exports carry, and sightings, which select them.
func Exported(typ string) bool { return slices.Contains(ExportedTypes(), typ) }

// ExportedTypes returns the types Exported names.
func ExportedTypes() []string { return []string{"indicator", "sighting"} }

// ExportRecord is the sealed export record of one stored indicator or sighting version, as
// ObjectStore.ExportRecords returns it and PutExportRecords stores it.
type ExportRecord struct {
	Seq       int64  // the version's Seq
	Workspace string // the version's workspace, whose key sealed the record
	Sealed    []byte
}

// Viewer is who is asking. Every read path takes one and filters by it, in the query itself, so
// that pages are never cut short and counts never leak. A Viewer is built by package access.
type Viewer struct {
	Org        string   // organisation code of the caller
	Workspaces []string // workspaces the caller may read on this path
	System     bool     // the hub itself (index rebuilds, backups): sees everything
}

// Filter selects objects for a listing. The zero value, apart from the Viewer, lists the latest
// version of every visible object.
type Filter struct {
	Viewer      Viewer
	Types       []string  // STIX types; empty means all
	Workspaces  []string  // narrows the viewer's workspaces; empty means all of them
	IDs         []string  // STIX ids; empty means all
	Token       []byte    // only objects carrying this blind-index token
	AfterSeq    int64     // cursor: only objects with Seq greater than this
	AddedAfter  time.Time // only versions added strictly after this instant
	AllVersions bool      // every version instead of the latest per (workspace, id)
	NoTokens    bool      // leave Object.Tokens nil: the caller does not match on them, and reading them costs
	Limit       int       // at most this many; 0 means the store's default
}

// PutOptions says how PutObjects treats what it is given.
type PutOptions struct {
	// Now is the Added time of the batch: one timestamp per transaction, replaceable in tests.
	Now time.Time
	// Admit, when set, is asked inside the write transaction about each object of the batch
	// whose (Workspace, ID) is stored already, with the latest stored version (its metadata:
	// no Body, Recipients or Tokens). An object it refuses is not stored, its Seq stays 0 and it
	// is not counted. Deciding under the write lock means no other writer can store a version
	// between the decision and the insert; it also reads through the writer's warm cache.
	Admit func(o, latest *Object) bool
}

// Admitted returns the objects of objs that opt.Admit lets in. latest returns the latest stored
// version of each (Workspace, ID) with one of the given ids, keyed by [2]string{Workspace, ID};
// it is called once, and only when Admit is set. fresh reports that it was called and found
// none: no object of objs has a stored version, so none of theirs is the latest to replace.
func (opt PutOptions) Admitted(objs []*Object, latest func(ids []string) (map[[2]string]*Object, error)) (kept []*Object, fresh bool, err error) {
	if opt.Admit == nil {
		return objs, false, nil
	}
	ids := make([]string, 0, len(objs))
	for _, o := range objs {
		ids = append(ids, o.ID)
	}
	slices.Sort(ids)
	stored, err := latest(slices.Compact(ids))
	if err != nil || len(stored) == 0 {
		return objs, err == nil, err
	}
	kept = make([]*Object, 0, len(objs))
	for _, o := range objs {
		if old, ok := stored[[2]string{o.Workspace, o.ID}]; ok && !opt.Admit(o, old) {
			continue
		}
		kept = append(kept, o)
	}
	return kept, false, nil
}

// anonymousMark is the custom property with which a member contributes an object (a sighting,
// so far) without its name on it.
const anonymousMark = `"x_cshub_anonymous"`

// AuthorFor returns the organisation to show viewers of org as o's author: o.Author, except
// for an anonymous contribution, whose author only the author itself sees; others get "".
// The store keeps the real author, which the version rules and the TLP rules need.
func (o *Object) AuthorFor(org string) string {
	if org == o.Author || !bytes.Contains(o.Body, []byte(anonymousMark)) {
		return o.Author
	}
	var b struct {
		Anonymous bool `json:"x_cshub_anonymous"`
	}
	if json.Unmarshal(o.Body, &b) == nil && b.Anonymous {
		return ""
	}
	return o.Author
}
