package hub

import "time"

// OrgKind is what an organisation is to the hub.
type OrgKind string

const (
	OrgMember   OrgKind = "member"   // a national CERT of an allied state
	OrgOperator OrgKind = "operator" // the hub operator
	OrgObserver OrgKind = "observer" // reads what it is given, never a full member
)

// Org is an organisation: a national CERT, the hub operator or an observer.
type Org struct {
	Code    string // short stable code such as "cert-fr"
	Name    string
	Country string // ISO 3166-1 alpha-2, upper case
	Kind    OrgKind
	Active  bool
	Created time.Time
}

// WorkspaceKind is what a workspace is for.
type WorkspaceKind string

const (
	WorkspaceCommunity WorkspaceKind = "community" // all members
	WorkspacePrivate   WorkspaceKind = "private"   // one organisation's own
	WorkspaceGroup     WorkspaceKind = "group"     // bilateral or ad-hoc sharing group
	WorkspaceExercise  WorkspaceKind = "exercise"  // training data: never on a real path
)

// Workspace is a sharing group: its member organisations see what is shared in it, under TLP.
type Workspace struct {
	Slug       string
	Name       string
	Kind       WorkspaceKind
	DefaultTLP TLP // given to objects that arrive without a marking; AMBER unless set
	Members    []string
	Created    time.Time
}

// Role is what a user may do within their organisation.
type Role string

const (
	RoleOperator Role = "operator" // hub operator: manages the hub and all organisations
	RoleAdmin    Role = "admin"    // organisation admin: manages their own organisation
	RoleAnalyst  Role = "analyst"  // reads and writes content
	RoleReader   Role = "reader"   // reads content
	RoleDirector Role = "director" // exercise director
)

// User is a person who logs in on behalf of an organisation.
type User struct {
	ID           int64
	Org          string
	Username     string
	Role         Role
	PasswordHash string // argon2id, PHC string form
	TOTPSecret   []byte // sealed; nil until enrolled
	// RecoveryCodes holds the SHA-256 hashes of the unused TOTP recovery codes, each spent
	// once; the codes themselves are shown once at enrolment.
	RecoveryCodes [][]byte
	// SessionsAfter voids every session issued at or before it: set on "log out everywhere",
	// a password change and deactivation. Zero: no session is void.
	SessionsAfter time.Time
	Active        bool
	Created       time.Time
}

// Scope limits what an API key may do.
type Scope string

const (
	ScopeRead  Scope = "read"
	ScopeWrite Scope = "write"
	ScopeAdmin Scope = "admin"
	// ScopeInvite marks the key of an invitation: it is accepted once, to set a password, and
	// never authenticates a request.
	ScopeInvite Scope = "invite"
)

// APIKey is a machine credential. Only a hash of the secret is stored; the secret is shown once.
type APIKey struct {
	ID      string // public prefix of the key, to find the row without the secret
	Hash    []byte // SHA-256 of the whole key
	Org     string
	UserID  int64
	Scope   Scope
	Expires time.Time // zero: never
	Revoked bool
	Created time.Time
}
