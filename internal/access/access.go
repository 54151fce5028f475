// Package access makes the one access decision of the hub: who may see, export, forward or count
// an object. Every read path (objects API, search, matching, correlation notices, exports, TAXII,
// live stream, statistics, web UI) asks this package and nothing else, so that the TLP 2.0 rules
// are written once.
//
// The rules follow TLP 2.0 (FIRST):
//
//   - CLEAR and GREEN: visible to the members of the object's workspace; may go onward (feeds,
//     federation to any peer).
//   - AMBER and AMBER+STRICT: visible to the members of the workspace; federated only to peers
//     that are members of the workspace. AMBER+STRICT is exported and fed only by its author.
//   - RED: visible only to the author and the recipients named at submission, who must also be
//     members of the workspace; never fed or federated; exported only by its author and its
//     named recipients; counted in statistics only for those who may see it.
//   - Objects of exercise workspaces appear only on PathExercise; PathExercise shows nothing else.
//   - An inactive or unknown organisation sees nothing.
//
// A refusal never says why to the caller: a RED object not addressed to the caller must be
// indistinguishable from one that does not exist, so read paths turn every refusal into
// hub.ENotFound (or silently leave the object out of a listing).
//
// Two forms of the rule exist. Visible is the store rule (see hub.ObjectStore), which stores
// apply inside their queries with a hub.Viewer built by ViewerFor. Decide is the complete rule
// for one object on one path; on PathExport, PathFeed and PathFederate it is stricter than
// Visible, so those paths filter what the store returns with Allow (or Decide).
package access

import (
	"context"
	"fmt"
	"slices"

	"cshub/internal/hub"
)

// Path is the way an object would leave the hub: the read path asking for a decision. Rules
// differ by path; every path but PathExercise is a real path, which never shows exercise data.
type Path int

const (
	PathRead     Path = iota + 1 // objects API and web UI: reading one object or a listing
	PathSearch                   // full-text and blind-index search
	PathMatch                    // indicator matching against submitted observables
	PathNotify                   // correlation notices ("your value is also held by …")
	PathExport                   // a file an organisation takes away (STIX bundle, MISP, CSV)
	PathFeed                     // shared feeds (TAXII collections, MISP feeds) consumed by tools
	PathFederate                 // forwarding to a peer hub or organisation
	PathStream                   // live event stream
	PathStats                    // counts and statistics shown to an organisation
	PathExercise                 // the exercise UI and API: exercise workspaces only
)

var pathNames = [...]string{"", "read", "search", "match", "notify", "export", "feed", "federate",
	"stream", "stats", "exercise"}

// Paths returns every path, in order.
func Paths() []Path {
	return []Path{PathRead, PathSearch, PathMatch, PathNotify, PathExport, PathFeed, PathFederate,
		PathStream, PathStats, PathExercise}
}

// String returns the lower-case name of p, such as "export".
func (p Path) String() string {
	if p <= 0 || int(p) >= len(pathNames) {
		return fmt.Sprintf("Path(%d)", int(p))
	}
	return pathNames[p]
}

// valid reports whether p is one of the declared paths.
func (p Path) valid() bool { return p > 0 && int(p) < len(pathNames) }

// showsWorkspace reports whether a workspace of kind k may appear on path p at all: exercise
// data only on the exercise path, and the exercise path only exercise data, so that training
// injects can never be taken for real intelligence and real intelligence never leaks into a
// training audience.
func (p Path) showsWorkspace(k hub.WorkspaceKind) bool {
	return (k == hub.WorkspaceExercise) == (p == PathExercise)
}

// Visible reports whether v may see o under the store rule, exactly as hub.ObjectStore states
// it and as stores implement it in SQL:
//
//	v.System || (o.Workspace ∈ v.Workspaces && (o.TLP != RED || o.Author == v.Org || v.Org ∈ o.Recipients))
//
// Path rules (exercise separation, inactive organisations) are already in v.Workspaces when v
// was built by ViewerFor; the rules of PathExport, PathFeed and PathFederate are not (see Allow).
func Visible(v hub.Viewer, o *hub.Object) bool {
	if v.System {
		return true
	}
	if o == nil || !slices.Contains(v.Workspaces, o.Workspace) {
		return false
	}
	return o.TLP != hub.TLPRed || addressed(v.Org, o)
}

// Allow reports whether o, returned by a store for viewer v (built by ViewerFor for path p),
// may go out on p: Visible plus the rules of p that a store query does not apply. It never
// allows what Decide refuses. On PathFederate it is conservative: a CLEAR or GREEN object of a
// workspace the peer is not a member of is not in v.Workspaces and so is refused here although
// Decide allows it; a federation path that forwards such objects lists them as the hub
// (a System viewer) and asks Decide.
func Allow(v hub.Viewer, o *hub.Object, p Path) bool {
	if !Visible(v, o) {
		return false
	}
	if v.System {
		return true
	}
	return onward(v.Org, o, p)
}

// onward applies the rules that depend on the path beyond visibility to the members of the
// workspace. The caller has established that org may see o.
func onward(org string, o *hub.Object, p Path) bool {
	switch p {
	case PathExport:
		// AMBER+STRICT stays in its author's exports; RED goes into the exports of its author
		// and of the recipients it was addressed to, who may act on it themselves.
		return o.TLP < hub.TLPAmberStrict || o.Author == org || (o.TLP == hub.TLPRed && addressed(org, o))
	case PathFeed:
		if o.TLP == hub.TLPRed {
			return false
		}
		return o.TLP < hub.TLPAmberStrict || o.Author == org
	case PathFederate:
		return o.TLP != hub.TLPRed
	}
	return p.valid()
}

// addressed reports whether org is the author of o or one of its named recipients.
func addressed(org string, o *hub.Object) bool {
	return org != "" && (o.Author == org || slices.Contains(o.Recipients, org))
}

// Facts are what the directory says about one organisation and the workspace of one object:
// all that Decide needs besides the object. Snapshot.Facts fills them in.
type Facts struct {
	Active bool              // the organisation exists and is active
	Member bool              // the organisation is a member of the object's workspace
	Kind   hub.WorkspaceKind // the kind of the object's workspace; "" if it does not exist
}

// Decision is the outcome of Decide. Reason is for logs and the audit trail only: it must never
// reach a caller who was refused, because it would tell a RED object exists.
type Decision struct {
	Allow  bool
	Reason string
}

// Reasons given by Decide.
const (
	ReasonAllowed       = "allowed"
	ReasonBadPath       = "unknown path"
	ReasonBadTLP        = "object has no valid TLP level"
	ReasonInactive      = "organisation unknown or inactive"
	ReasonNoWorkspace   = "workspace does not exist"
	ReasonExercise      = "exercise and real data are kept apart"
	ReasonNotMember     = "not a member of the workspace"
	ReasonRed           = "TLP:RED not addressed to the organisation"
	ReasonRedOnward     = "TLP:RED never goes onward"
	ReasonStrictOnward  = "TLP:AMBER+STRICT goes onward only from its author"
	ReasonAmberFederate = "TLP:AMBER is federated only to members of the workspace"
)

// Decide is the complete access rule: whether org, described by f, may receive o on path p.
// For PathFederate, org is the peer and f.Member whether the peer is a member of o's workspace.
// Unknown paths and objects without a valid TLP level are refused (fail closed).
func Decide(org string, f Facts, o *hub.Object, p Path) Decision {
	switch {
	case !p.valid():
		return deny(ReasonBadPath)
	case o == nil || o.TLP < hub.TLPClear || o.TLP > hub.TLPRed:
		return deny(ReasonBadTLP)
	case !f.Active || org == "":
		return deny(ReasonInactive)
	case f.Kind == "":
		return deny(ReasonNoWorkspace)
	case !p.showsWorkspace(f.Kind):
		return deny(ReasonExercise)
	}
	if p == PathFederate {
		switch {
		case o.TLP == hub.TLPRed:
			return deny(ReasonRedOnward)
		case o.TLP >= hub.TLPAmber && !f.Member:
			return deny(ReasonAmberFederate)
		}
		return Decision{Allow: true, Reason: ReasonAllowed}
	}
	switch {
	case !f.Member:
		return deny(ReasonNotMember)
	case o.TLP == hub.TLPRed && !addressed(org, o):
		return deny(ReasonRed)
	case !onward(org, o, p):
		if o.TLP == hub.TLPRed {
			return deny(ReasonRedOnward)
		}
		return deny(ReasonStrictOnward)
	}
	return Decision{Allow: true, Reason: ReasonAllowed}
}

func deny(reason string) Decision { return Decision{Reason: reason} }

// ViewerFor builds the Viewer org reads with on path p: its Workspaces are the workspaces org is
// a member of that p may show (exercise workspaces on PathExercise only, every other kind on the
// other paths). An inactive organisation gets a Viewer with no workspaces, which sees nothing;
// an unknown one is hub.ENotFound, as from dir. The result never has System set.
func ViewerFor(ctx context.Context, dir hub.DirectoryStore, org string, p Path) (hub.Viewer, error) {
	v := hub.Viewer{Org: org}
	if !p.valid() {
		return v, hub.Errorf(hub.EInternal, "access: unknown path %d", int(p))
	}
	o, err := dir.Org(ctx, org)
	if err != nil {
		return v, fmt.Errorf("access: viewer for %q: %w", org, err)
	}
	if !o.Active {
		return v, nil
	}
	wss, err := dir.WorkspacesOf(ctx, org)
	if err != nil {
		return v, fmt.Errorf("access: workspaces of %q: %w", org, err)
	}
	for _, w := range wss {
		if p.showsWorkspace(w.Kind) {
			v.Workspaces = append(v.Workspaces, w.Slug)
		}
	}
	slices.Sort(v.Workspaces)
	return v, nil
}

// EffectiveTLP returns the TLP level an object is stored with: its own marking if it has one,
// otherwise the default of its workspace, and AMBER when neither is set (TLP 2.0 advises
// treating unlabelled information as confidential, and AMBER is the least level that keeps it
// inside the workspace).
func EffectiveTLP(marking, workspaceDefault hub.TLP) hub.TLP {
	switch {
	case marking != hub.TLPUnset:
		return marking
	case workspaceDefault != hub.TLPUnset:
		return workspaceDefault
	}
	return hub.TLPAmber
}

// CheckRaise returns nil if an object marked old may be marked next instead: the same level or
// a more restrictive one. Lowering is a *hub.Error with code EForbidden naming field "tlp", since
// a lower level would release to others what the author shared under the higher one; it takes
// a new submission by the author, not an edit. A next that is not a TLP level is EInvalid.
func CheckRaise(old, next hub.TLP) error {
	if next < hub.TLPClear || next > hub.TLPRed {
		return hub.FieldError("tlp", "%v is not a TLP 2.0 level", next)
	}
	if next < old {
		return &hub.Error{Code: hub.EForbidden, Field: "tlp",
			Message: fmt.Sprintf("TLP may be raised, never lowered: %v is below %v", next, old)}
	}
	return nil
}

// CheckChange returns nil if org may change the TLP level of o to next: only the author may
// change a marking, and only upwards (CheckRaise). Anyone else is EForbidden on field "tlp".
func CheckChange(org string, o *hub.Object, next hub.TLP) error {
	if o == nil || org == "" || o.Author != org {
		return &hub.Error{Code: hub.EForbidden, Field: "tlp",
			Message: "only the author organisation may change an object's TLP"}
	}
	return CheckRaise(o.TLP, next)
}
