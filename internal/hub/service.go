package hub

import (
	"context"
	"time"
)

// ObjectStore keeps object versions. Bodies arrive sealed and leave sealed. Every read takes a
// Viewer and applies the access rule of package access inside the query:
//
//	visible(v, o) = v.System ||
//	    (o.Workspace ∈ v.Workspaces && (o.TLP != TLPRed || o.Author == v.Org || v.Org ∈ o.Recipients))
//
// Implementations must be safe for concurrent use.
type ObjectStore interface {
	// PutObjects stores, in one transaction, each version whose (Workspace, ID, Modified) is not
	// stored yet, setting its Seq and Added; a version already stored is left as it is and its
	// Seq is set to 0 in objs. It returns how many versions were added. Either all new versions
	// are stored or, with an error, none.
	PutObjects(ctx context.Context, objs []*Object, opt PutOptions) (added int, err error)

	// GetObject returns the latest version of id that v may see, or, when modified is not zero,
	// that exact version. An object v may not see is ENotFound, exactly as a missing one.
	GetObject(ctx context.Context, v Viewer, id string, modified time.Time) (*Object, error)

	// ListObjects returns the versions selected by f that f.Viewer may see, ordered by Seq.
	ListObjects(ctx context.Context, f Filter) ([]*Object, error)

	// CountObjects returns how many objects ListObjects would return without a Limit or cursor.
	CountObjects(ctx context.Context, f Filter) (int64, error)

	// ReplaceBodies sets, in one transaction, the body of each version named by an update's Seq
	// to New, but only where the stored body still equals Old: a compare-and-swap per row, so
	// that re-sealing bodies under a new key term (package rewrap) never overwrites a body that
	// changed or a row that was deleted meanwhile. It returns how many rows were replaced; rows
	// that no longer match are left alone and are not an error. Nothing else of a row changes.
	ReplaceBodies(ctx context.Context, updates []BodyUpdate) (replaced int, err error)

	// DeleteObjects removes, in one transaction, the versions with these Seqs together with
	// their recipients and blind-index tokens, and returns how many it removed; a Seq not
	// stored (never, or deleted meanwhile) is skipped without an error. Where a removed version
	// was the latest of its (Workspace, ID), the newest remaining version becomes the latest.
	// The store takes no access decision here: the caller has decided who may delete what (see
	// package taxii) and announces the deletion with an EventDelete per version.
	DeleteObjects(ctx context.Context, seqs []int64) (deleted int, err error)

	// ExportRecords reads into page, which it empties first, up to limit export records of
	// versions with a Seq above after, in Seq order, and returns, read in the same snapshot,
	// the Seq up to which versions may lack their record: an indicator or sighting version
	// stored without Object.Export (by an older cshub, a restore, a test fixture) raises it,
	// and every version above it has its record. A record goes with its version when the
	// version is deleted. The store takes no access decision here: the records are the hub's
	// (a System viewer's).
	ExportRecords(ctx context.Context, after int64, limit int, page *RecordPage) (missing int64, err error)

	// PutExportRecords stores, in one transaction, the records of versions that lack one (a
	// record for a version that has one already, or that is no longer stored, is skipped),
	// then, when filled is above 0 and the Seq ExportRecords reports as missing still is
	// filled, sets it to 0: the caller has stored the records of every version up to filled.
	PutExportRecords(ctx context.Context, recs []ExportRecord, filled int64) error

	// ReplaceExportRecords is ReplaceBodies for export records: each update's Seq names the
	// version whose record becomes New if it still is Old.
	ReplaceExportRecords(ctx context.Context, updates []BodyUpdate) (replaced int, err error)

	// Bodies calls each, in Seq order, with the Seq and the sealed body of every version of
	// type typ with a Seq above after and at most upto, and returns the first error each
	// returns, which ends the read. sealed is the store's own buffer, valid only during the
	// call: an export that keeps bodies reads them beside the export records of the same
	// versions, rather than the whole objects, and opens each as it is read rather than
	// copying a million of them first. As with ExportRecords, the store takes no access
	// decision here.
	Bodies(ctx context.Context, typ string, after, upto int64, each func(seq int64, sealed []byte) error) error
}

// BodyUpdate is one compare-and-swap of ObjectStore.ReplaceBodies: the body of the version
// with this Seq becomes New if it still is Old.
type BodyUpdate struct {
	Seq      int64
	Old, New []byte
}

// DirectoryStore keeps organisations, workspaces, users and API keys. A missing thing is
// ENotFound; Create* of an existing key is EConflict.
type DirectoryStore interface {
	CreateOrg(ctx context.Context, o *Org) error
	UpdateOrg(ctx context.Context, o *Org) error
	Org(ctx context.Context, code string) (*Org, error)
	Orgs(ctx context.Context) ([]*Org, error)

	CreateWorkspace(ctx context.Context, w *Workspace) error
	Workspace(ctx context.Context, slug string) (*Workspace, error)
	Workspaces(ctx context.Context) ([]*Workspace, error)
	// WorkspacesOf returns the workspaces org is a member of.
	WorkspacesOf(ctx context.Context, org string) ([]*Workspace, error)
	AddMember(ctx context.Context, slug, org string) error
	RemoveMember(ctx context.Context, slug, org string) error
	// DeleteWorkspace removes the workspace, its memberships and every object stored in it.
	DeleteWorkspace(ctx context.Context, slug string) error

	CreateUser(ctx context.Context, u *User) error // sets u.ID
	UpdateUser(ctx context.Context, u *User) error
	User(ctx context.Context, id int64) (*User, error)
	UserByName(ctx context.Context, username string) (*User, error)
	Users(ctx context.Context, org string) ([]*User, error) // org "" lists all

	CreateAPIKey(ctx context.Context, k *APIKey) error
	APIKey(ctx context.Context, id string) (*APIKey, error)
	APIKeys(ctx context.Context, org string) ([]*APIKey, error)
	RevokeAPIKey(ctx context.Context, id string) error
}

// KeyStore keeps the sealed keyring: one opaque blob, replaced whole, never edited in place.
// Version guards against two replicas replacing it at once.
type KeyStore interface {
	// Keyring returns the stored blob and its version; ENotFound when none was ever stored.
	Keyring(ctx context.Context) (blob []byte, version int64, err error)
	// SetKeyring replaces the blob if the stored version is still prev (0 for none), and
	// returns the new version; EConflict when another writer came first.
	SetKeyring(ctx context.Context, blob []byte, prev int64) (int64, error)
}

// Store is everything the hub keeps. Implementations: package store/sqlite (embedded default)
// and store/postgres (scale-out); both pass the suite in package store/storetest.
type Store interface {
	ObjectStore
	DirectoryStore
	KeyStore
	AuditStore
	Close() error
}

// Bus carries Events between the parts of a hub and between replicas. Implementations: an
// in-process bus (package bus) and NATS JetStream (package bus/natsbus).
type Bus interface {
	// Publish sends e to every subscriber and returns once the bus has accepted it; the bus
	// sets e.Seq.
	Publish(ctx context.Context, e Event) (seq uint64, err error)
	// Subscribe delivers, in Seq order, every event with Seq greater than after (0: only
	// events published from now on) until ctx ends; then the channel is closed.
	Subscribe(ctx context.Context, after uint64) (<-chan Event, error)
	Close() error
}
