package api

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"cshub/internal/audit"
	"cshub/internal/auth"
	"cshub/internal/hub"
	"cshub/internal/members"
)

// Identity administration: organisations, workspaces and their members, users and API keys.
//
// The rule: an organisation admin manages only their own organisation; the hub operator (a user
// with role operator) manages all. In detail:
//
//   - Organisations: everybody authenticated may list them (they name the recipients of
//     TLP:RED content); only the operator creates, renames, activates or deactivates one, and
//     never deactivates their own.
//   - Workspaces: a caller lists those their organisation is a member of (the operator: all).
//     An org admin creates group workspaces (bilateral or ad-hoc), of which their organisation
//     is always a member; the operator may also create community, private and exercise ones.
//   - Workspace members: the operator adds and removes members of any workspace; an admin of an
//     organisation that is a member adds and removes members of a group workspace (community,
//     private and exercise workspaces are the operator's alone). A workspace the caller's
//     organisation is not a member of does not exist for them (404). The last member is never
//     removed (409): delete the workspace instead.
//   - Users: an admin lists and creates users of their own organisation only, in the roles
//     admin, analyst, reader and director; only the operator creates operators, and only in an
//     operator organisation. Nobody changes their own role or deactivates themselves, and only
//     the operator changes or deactivates an operator. Users of other organisations do not
//     exist for an admin (404).
//   - API keys: anybody creates keys for themselves, never wider than their current scope (a
//     read key mints only read keys) nor outliving the key they call with; an admin creates
//     keys for users of their own organisation; the scope never exceeds what the key owner's
//     role allows. A key is revoked by its owner, an admin of its organisation or the operator.
//
// Every change is recorded in the audit log; a change whose entry cannot be written is still
// made (it cannot be undone atomically), and the failure is logged as an error.

// Recorder is where administration records what it changed; *audit.Log is one.
type Recorder interface {
	Record(ctx context.Context, e audit.Entry) (audit.Head, error)
}

// AdminConfig is what an Admin is made from. Members, Dir and Audit are required.
type AdminConfig struct {
	Dir     hub.DirectoryStore
	Members *members.Service
	Audit   Recorder
	Log     *slog.Logger     // nil: discard
	Now     func() time.Time // nil: time.Now
}

// Admin applies the identity administration rules for a Principal. The HTTP endpoints and the
// command line (as the local hub operator) both go through it, so that the rules live in one
// place. It is safe for concurrent use.
type Admin struct {
	dir     hub.DirectoryStore
	members *members.Service
	audit   Recorder
	log     *slog.Logger
	now     func() time.Time
}

// NewAdmin returns an Admin for c, or an error naming the missing part: administration without
// an audit log is refused rather than left unrecorded.
func NewAdmin(c AdminConfig) (*Admin, error) {
	switch {
	case c.Dir == nil:
		return nil, errors.New("api: AdminConfig.Dir is required")
	case c.Members == nil:
		return nil, errors.New("api: AdminConfig.Members is required")
	case c.Audit == nil:
		return nil, errors.New("api: AdminConfig.Audit is required: every administrative change is audited")
	}
	a := &Admin{dir: c.Dir, members: c.Members, audit: c.Audit, log: c.Log, now: c.Now}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a, nil
}

// ViaLocal is the Principal.Via of someone acting on the data directory directly (the command
// line), who is the hub operator by virtue of holding the root key.
const ViaLocal = "local"

// LocalOperator returns the Principal of the command line acting as the hub operator on the
// data directory. Its Org is "", the hub itself, so what it creates is not joined to any
// organisation of its own.
func LocalOperator(name string) *auth.Principal {
	return &auth.Principal{Username: name, Role: hub.RoleOperator, Scope: hub.ScopeAdmin, Via: ViaLocal}
}

// EnableAdmin installs the identity administration endpoints on s. Call it once, before s
// serves; a second call panics, as registering a route twice on a ServeMux does.
func (s *Server) EnableAdmin(a *Admin) {
	s.mux.Handle("GET /api/v1/orgs", s.authed(hub.ScopeRead, s.adminListOrgs(a)))
	s.mux.Handle("POST /api/v1/orgs", s.authed(hub.ScopeAdmin, s.adminCreateOrg(a)))
	s.mux.Handle("PATCH /api/v1/orgs/{code}", s.authed(hub.ScopeAdmin, s.adminUpdateOrg(a)))
	s.mux.Handle("GET /api/v1/workspaces", s.authed(hub.ScopeRead, s.adminListWorkspaces(a)))
	s.mux.Handle("POST /api/v1/workspaces", s.authed(hub.ScopeAdmin, s.adminCreateWorkspace(a)))
	s.mux.Handle("POST /api/v1/workspaces/{ws}/members", s.authed(hub.ScopeAdmin, s.adminAddMember(a)))
	s.mux.Handle("DELETE /api/v1/workspaces/{ws}/members/{org}", s.authed(hub.ScopeAdmin, s.adminRemoveMember(a)))
	s.mux.Handle("DELETE /api/v1/workspaces/{ws}", s.authed(hub.ScopeAdmin, s.adminDeleteWorkspace(a)))
	s.mux.Handle("GET /api/v1/users", s.authed(hub.ScopeAdmin, s.adminListUsers(a)))
	s.mux.Handle("POST /api/v1/users", s.authed(hub.ScopeAdmin, s.adminCreateUser(a)))
	s.mux.Handle("PATCH /api/v1/users/{id}", s.authed(hub.ScopeAdmin, s.adminUpdateUser(a)))
	s.mux.Handle("POST /api/v1/users/{id}/logout", s.authed(hub.ScopeRead, s.adminLogOut(a)))
	s.mux.Handle("POST /api/v1/invitations", s.authed(hub.ScopeAdmin, s.adminInvite(a)))
	s.mux.HandleFunc("POST /api/v1/invitations/accept", s.acceptInvitation(a))
	// Keys need only read: anybody manages their own keys, within their own scope; the admin
	// rules for other users' keys are applied by Admin.
	s.mux.Handle("GET /api/v1/keys", s.authed(hub.ScopeRead, s.adminListKeys(a)))
	s.mux.Handle("POST /api/v1/keys", s.authed(hub.ScopeRead, s.adminCreateKey(a)))
	s.mux.Handle("DELETE /api/v1/keys/{id}", s.authed(hub.ScopeRead, s.adminRevokeKey(a)))
}

// --- JSON shapes -------------------------------------------------------------------------

// OrgInfo is an organisation as the API shows it.
type OrgInfo struct {
	Code    string      `json:"code"`
	Name    string      `json:"name"`
	Country string      `json:"country"`
	Kind    hub.OrgKind `json:"kind"`
	Active  bool        `json:"active"`
	Created time.Time   `json:"created"`
}

func orgInfo(o *hub.Org) OrgInfo {
	return OrgInfo{Code: o.Code, Name: o.Name, Country: o.Country, Kind: o.Kind, Active: o.Active, Created: o.Created}
}

// WorkspaceInfo is a workspace as the API shows it.
type WorkspaceInfo struct {
	Slug       string            `json:"slug"`
	Name       string            `json:"name"`
	Kind       hub.WorkspaceKind `json:"kind"`
	DefaultTLP hub.TLP           `json:"default_tlp"`
	Members    []string          `json:"members"`
	Created    time.Time         `json:"created"`
}

func workspaceInfo(w *hub.Workspace) WorkspaceInfo {
	m := w.Members
	if m == nil {
		m = []string{}
	}
	return WorkspaceInfo{Slug: w.Slug, Name: w.Name, Kind: w.Kind, DefaultTLP: w.DefaultTLP, Members: m, Created: w.Created}
}

// UserInfo is a user as the API shows it: never the password hash or the TOTP secret.
type UserInfo struct {
	ID       int64     `json:"id"`
	Org      string    `json:"org"`
	Username string    `json:"username"`
	Role     hub.Role  `json:"role"`
	Active   bool      `json:"active"`
	TOTP     bool      `json:"totp"` // enrolled in a second factor
	Created  time.Time `json:"created"`
}

func userInfo(u *hub.User) UserInfo {
	return UserInfo{ID: u.ID, Org: u.Org, Username: u.Username, Role: u.Role, Active: u.Active, TOTP: len(u.TOTPSecret) > 0, Created: u.Created}
}

// KeyInfo is an API key as the API shows it: never its hash or secret.
type KeyInfo struct {
	ID      string     `json:"id"`
	Org     string     `json:"org"`
	UserID  int64      `json:"user_id"`
	Scope   hub.Scope  `json:"scope"`
	Expires *time.Time `json:"expires,omitempty"`
	Revoked bool       `json:"revoked"`
	Created time.Time  `json:"created"`
}

func keyInfo(k *hub.APIKey) KeyInfo {
	ki := KeyInfo{ID: k.ID, Org: k.Org, UserID: k.UserID, Scope: k.Scope, Revoked: k.Revoked, Created: k.Created}
	if !k.Expires.IsZero() {
		e := k.Expires
		ki.Expires = &e
	}
	return ki
}

// NewOrg is the body of POST /api/v1/orgs.
type NewOrg struct {
	Code    string      `json:"code"`
	Name    string      `json:"name"`
	Country string      `json:"country"` // ISO 3166-1 alpha-2
	Kind    hub.OrgKind `json:"kind"`    // member (default), operator or observer
	Active  *bool       `json:"active"`  // default true
}

// OrgChange is the body of PATCH /api/v1/orgs/{code}: the fields to change.
type OrgChange struct {
	Name   *string `json:"name"`
	Active *bool   `json:"active"`
}

// NewWorkspace is the body of POST /api/v1/workspaces.
type NewWorkspace struct {
	Slug       string            `json:"slug"`
	Name       string            `json:"name"`
	Kind       hub.WorkspaceKind `json:"kind"`        // group (default); others for the operator
	DefaultTLP string            `json:"default_tlp"` // TLP 2.0 label; default amber
	Members    []string          `json:"members"`     // the creator's organisation is added
}

// NewUser is the body of POST /api/v1/users.
type NewUser struct {
	Org      string   `json:"org"` // default: the caller's
	Username string   `json:"username"`
	Role     hub.Role `json:"role"`
	Password string   `json:"password"` // default: generated and shown once
	TOTP     bool     `json:"totp"`     // enrol a second factor now; its secret is shown once
}

// CreatedUser is the answer to creating a user or accepting an invitation: the secrets are
// shown this once.
type CreatedUser struct {
	User          UserInfo `json:"user"`
	Password      string   `json:"password,omitempty"` // only when generated
	TOTPSecret    string   `json:"totp_secret,omitempty"`
	TOTPURL       string   `json:"totp_url,omitempty"`
	RecoveryCodes []string `json:"recovery_codes,omitempty"`
	Note          string   `json:"note"`
}

// NewInvitation is the body of POST /api/v1/invitations: the user to invite.
type NewInvitation struct {
	Org      string   `json:"org"` // default: the caller's
	Username string   `json:"username"`
	Role     hub.Role `json:"role"`
}

// Invitation is the answer to inviting a user: the token is shown this once, to be handed to
// the invitee, who accepts it with POST /api/v1/invitations/accept.
type Invitation struct {
	User    UserInfo  `json:"user"`
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
	Note    string    `json:"note"`
}

// Acceptance is the body of POST /api/v1/invitations/accept.
type Acceptance struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

// UserChange is the body of PATCH /api/v1/users/{id}: the fields to change.
type UserChange struct {
	Role   *hub.Role `json:"role"`
	Active *bool     `json:"active"`
}

// NewKey is the body of POST /api/v1/keys.
type NewKey struct {
	UserID  int64     `json:"user_id"` // 0: the caller
	Scope   hub.Scope `json:"scope"`
	Expires string    `json:"expires"` // RFC 3339; "" for never (unless the calling key expires)
}

// CreatedKey is the answer to creating an API key: the secret is shown this once.
type CreatedKey struct {
	Key    KeyInfo `json:"key"`
	Secret string  `json:"secret"`
	Note   string  `json:"note"`
}

// --- rules ---------------------------------------------------------------------------------

func isOperator(p *auth.Principal) bool {
	return p.Role == hub.RoleOperator && p.Allows(hub.ScopeAdmin)
}

func isAdmin(p *auth.Principal) bool {
	return (p.Role == hub.RoleAdmin || p.Role == hub.RoleOperator) && p.Allows(hub.ScopeAdmin)
}

// needAdmin refuses callers that are no organisation admin or operator, such as a client
// certificate with the admin scope: identity administration is done by people.
func needAdmin(p *auth.Principal) error {
	if !isAdmin(p) {
		return &hub.Error{Code: hub.EForbidden, Field: "Authorization", Message: "identity administration needs an organisation admin or the hub operator"}
	}
	return nil
}

func needOperator(p *auth.Principal, what string) error {
	if !isOperator(p) {
		return &hub.Error{Code: hub.EForbidden, Field: "Authorization", Message: "only the hub operator " + what}
	}
	return nil
}

func forbidden(field, format string, args ...any) *hub.Error {
	return &hub.Error{Code: hub.EForbidden, Field: field, Message: fmt.Sprintf(format, args...)}
}

func notFound(field, format string, args ...any) *hub.Error {
	return &hub.Error{Code: hub.ENotFound, Field: field, Message: fmt.Sprintf(format, args...)}
}

// validName reports whether s is a code, slug or user name: 2 to max characters of lower-case
// letters, digits and the punctuation in extra, starting with a letter or digit.
func validName(s string, max int, extra string) bool {
	if len(s) < 2 || len(s) > max {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case i > 0 && strings.IndexByte(extra, c) >= 0:
		default:
			return false
		}
	}
	return true
}

func validLabel(field, s string, required bool) error {
	switch {
	case required && strings.TrimSpace(s) == "":
		return hub.FieldError(field, "is required")
	case len(s) > 200:
		return hub.FieldError(field, "is longer than 200 bytes")
	case strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return hub.FieldError(field, "may not contain control characters")
	}
	return nil
}

// record writes the audit entry of a change that has been made. A failure cannot undo the
// change, so it is logged as an error for the operator to see.
func (a *Admin) record(ctx context.Context, p *auth.Principal, action, target string, details map[string]any) {
	if details == nil {
		details = map[string]any{}
	}
	details["via"] = p.Via
	actor := p.Username
	if actor == "" {
		actor = "unknown"
	}
	if _, err := a.audit.Record(ctx, audit.Entry{Org: p.Org, Actor: actor, Action: action, Target: target, Details: details}); err != nil {
		a.log.Error("audit record failed", "action", action, "target", target, "err", err)
	}
}

// activeOrg returns org code if it exists and is active, an EInvalid error on field if not.
func (a *Admin) activeOrg(ctx context.Context, field, code string) (*hub.Org, error) {
	o, err := a.dir.Org(ctx, code)
	switch {
	case hub.ErrorCode(err) == hub.ENotFound:
		return nil, hub.FieldError(field, "no organisation %q", code)
	case err != nil:
		return nil, err
	case !o.Active:
		return nil, hub.FieldError(field, "organisation %q is inactive", code)
	}
	return o, nil
}

// Orgs returns every organisation. Any authenticated caller may list them.
func (a *Admin) Orgs(ctx context.Context, p *auth.Principal) ([]OrgInfo, error) {
	orgs, err := a.dir.Orgs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]OrgInfo, len(orgs))
	for i, o := range orgs {
		out[i] = orgInfo(o)
	}
	return out, nil
}

// CreateOrg adds an organisation; only the operator may.
func (a *Admin) CreateOrg(ctx context.Context, p *auth.Principal, n NewOrg) (OrgInfo, error) {
	if err := needOperator(p, "creates organisations"); err != nil {
		return OrgInfo{}, err
	}
	o := &hub.Org{Code: n.Code, Name: n.Name, Country: strings.ToUpper(n.Country), Kind: n.Kind, Active: n.Active == nil || *n.Active}
	if o.Kind == "" {
		o.Kind = hub.OrgMember
	}
	if !validName(o.Code, 32, "-") {
		return OrgInfo{}, hub.FieldError("code", "%q: 2 to 32 lower-case letters, digits and '-', starting with a letter or digit", n.Code)
	}
	if err := validLabel("name", o.Name, true); err != nil {
		return OrgInfo{}, err
	}
	if len(o.Country) != 2 || !isUpperAlpha(o.Country) {
		return OrgInfo{}, hub.FieldError("country", "%q is not an ISO 3166-1 alpha-2 code (two letters)", n.Country)
	}
	switch o.Kind {
	case hub.OrgMember, hub.OrgOperator, hub.OrgObserver:
	default:
		return OrgInfo{}, hub.FieldError("kind", "%q is not member, operator or observer", n.Kind)
	}
	if err := a.members.CreateOrg(ctx, o); err != nil {
		if hub.ErrorCode(err) == hub.EConflict {
			return OrgInfo{}, &hub.Error{Code: hub.EConflict, Field: "code", Message: fmt.Sprintf("organisation %q exists already", o.Code), Err: err}
		}
		return OrgInfo{}, err
	}
	a.record(ctx, p, "org.create", o.Code, map[string]any{"name": o.Name, "country": o.Country, "kind": o.Kind, "active": o.Active})
	return orgInfo(o), nil
}

func isUpperAlpha(s string) bool {
	for i := range len(s) {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// UpdateOrg renames, activates or deactivates an organisation; only the operator may, and
// never deactivates their own. Deactivation takes effect at once: every credential of the
// organisation is refused from the next request on, since authentication reads the
// organisation each time.
func (a *Admin) UpdateOrg(ctx context.Context, p *auth.Principal, code string, c OrgChange) (OrgInfo, error) {
	if err := needOperator(p, "changes organisations"); err != nil {
		return OrgInfo{}, err
	}
	o, err := a.dir.Org(ctx, code)
	if hub.ErrorCode(err) == hub.ENotFound {
		return OrgInfo{}, notFound("code", "no organisation %q", code)
	} else if err != nil {
		return OrgInfo{}, err
	}
	details := map[string]any{}
	if c.Name != nil {
		if err := validLabel("name", *c.Name, true); err != nil {
			return OrgInfo{}, err
		}
		details["name"] = map[string]string{"from": o.Name, "to": *c.Name}
		o.Name = *c.Name
	}
	if c.Active != nil {
		if !*c.Active && code == p.Org {
			return OrgInfo{}, hub.FieldError("active", "the operator may not deactivate their own organisation")
		}
		details["active"] = map[string]bool{"from": o.Active, "to": *c.Active}
		o.Active = *c.Active
	}
	if len(details) == 0 {
		return OrgInfo{}, hub.FieldError("body", "nothing to change: give name or active")
	}
	if err := a.dir.UpdateOrg(ctx, o); err != nil {
		return OrgInfo{}, err
	}
	a.record(ctx, p, "org.update", o.Code, details)
	return orgInfo(o), nil
}

// Workspaces returns the workspaces of the caller's organisation; the operator's: all.
func (a *Admin) Workspaces(ctx context.Context, p *auth.Principal) ([]WorkspaceInfo, error) {
	var ws []*hub.Workspace
	var err error
	if isOperator(p) {
		ws, err = a.dir.Workspaces(ctx)
	} else {
		ws, err = a.dir.WorkspacesOf(ctx, p.Org)
	}
	if err != nil {
		return nil, err
	}
	out := make([]WorkspaceInfo, len(ws))
	for i, w := range ws {
		out[i] = workspaceInfo(w)
	}
	return out, nil
}

// maxMembers bounds a workspace created in one request; 29 states, an operator and observers.
const maxMembers = 64

// CreateWorkspace creates a workspace with its data key. An org admin creates group workspaces
// only; the operator any kind. The caller's organisation is always a member.
func (a *Admin) CreateWorkspace(ctx context.Context, p *auth.Principal, n NewWorkspace) (WorkspaceInfo, error) {
	if err := needAdmin(p); err != nil {
		return WorkspaceInfo{}, err
	}
	if !validName(n.Slug, 63, "-") {
		return WorkspaceInfo{}, hub.FieldError("slug", "%q: 2 to 63 lower-case letters, digits and '-', starting with a letter or digit", n.Slug)
	}
	w := &hub.Workspace{Slug: n.Slug, Name: n.Name, Kind: n.Kind}
	if w.Name == "" {
		w.Name = w.Slug
	}
	if err := validLabel("name", w.Name, true); err != nil {
		return WorkspaceInfo{}, err
	}
	switch w.Kind {
	case "":
		w.Kind = hub.WorkspaceGroup
	case hub.WorkspaceGroup:
	case hub.WorkspaceCommunity, hub.WorkspacePrivate, hub.WorkspaceExercise:
		if !isOperator(p) {
			return WorkspaceInfo{}, forbidden("kind", "only the hub operator creates %s workspaces; an organisation admin creates group workspaces", w.Kind)
		}
	default:
		return WorkspaceInfo{}, hub.FieldError("kind", "%q is not group, community, private or exercise", n.Kind)
	}
	w.DefaultTLP = hub.TLPAmber
	if n.DefaultTLP != "" {
		t, err := hub.ParseTLP(n.DefaultTLP)
		if err != nil {
			return WorkspaceInfo{}, hub.FieldError("default_tlp", "%s", hub.ErrorMessage(err))
		}
		w.DefaultTLP = t
	}
	if len(n.Members) > maxMembers {
		return WorkspaceInfo{}, hub.FieldError("members", "at most %d members at creation", maxMembers)
	}
	if p.Org != "" {
		w.Members = append(w.Members, p.Org)
	}
	for i, m := range n.Members {
		field := fmt.Sprintf("members[%d]", i)
		if slices.Contains(w.Members, m) {
			continue // the creator's own organisation, or a repeat
		}
		if _, err := a.activeOrg(ctx, field, m); err != nil {
			return WorkspaceInfo{}, err
		}
		w.Members = append(w.Members, m)
	}
	if len(w.Members) == 0 {
		return WorkspaceInfo{}, hub.FieldError("members", "a workspace needs at least one member")
	}
	if w.Kind == hub.WorkspacePrivate && len(w.Members) != 1 {
		return WorkspaceInfo{}, hub.FieldError("members", "a private workspace has exactly one member")
	}
	if _, err := a.dir.Workspace(ctx, w.Slug); err == nil {
		return WorkspaceInfo{}, &hub.Error{Code: hub.EConflict, Field: "slug", Message: fmt.Sprintf("workspace %q exists already", w.Slug)}
	} else if hub.ErrorCode(err) != hub.ENotFound {
		return WorkspaceInfo{}, err
	}
	if err := a.members.CreateWorkspace(ctx, w); err != nil {
		if hub.ErrorCode(err) == hub.EConflict {
			return WorkspaceInfo{}, &hub.Error{Code: hub.EConflict, Field: "slug", Message: fmt.Sprintf("workspace %q exists already", w.Slug), Err: err}
		}
		return WorkspaceInfo{}, err
	}
	a.record(ctx, p, "workspace.create", w.Slug, map[string]any{"kind": w.Kind, "default_tlp": w.DefaultTLP, "members": w.Members})
	return workspaceInfo(w), nil
}

// membership returns the workspace slug if p may manage its members: the operator any, an
// admin of a member organisation a group workspace. A workspace p's organisation is not a
// member of is ENotFound, as if it did not exist.
func (a *Admin) membership(ctx context.Context, p *auth.Principal, slug string) (*hub.Workspace, error) {
	if err := needAdmin(p); err != nil {
		return nil, err
	}
	w, err := a.dir.Workspace(ctx, slug)
	if hub.ErrorCode(err) == hub.ENotFound || (err == nil && !isOperator(p) && !slices.Contains(w.Members, p.Org)) {
		return nil, notFound("workspace", "no workspace %q", slug)
	} else if err != nil {
		return nil, err
	}
	if !isOperator(p) && w.Kind != hub.WorkspaceGroup {
		return nil, forbidden("workspace", "the members of %s workspace %q are managed by the hub operator", w.Kind, slug)
	}
	return w, nil
}

// AddMember makes org a member of workspace slug (see membership for who may).
func (a *Admin) AddMember(ctx context.Context, p *auth.Principal, slug, org string) (WorkspaceInfo, error) {
	w, err := a.membership(ctx, p, slug)
	if err != nil {
		return WorkspaceInfo{}, err
	}
	if _, err := a.activeOrg(ctx, "org", org); err != nil {
		return WorkspaceInfo{}, err
	}
	if w.Kind == hub.WorkspacePrivate {
		return WorkspaceInfo{}, hub.FieldError("workspace", "a private workspace has exactly one member")
	}
	if slices.Contains(w.Members, org) {
		return workspaceInfo(w), nil
	}
	if err := a.dir.AddMember(ctx, slug, org); err != nil {
		return WorkspaceInfo{}, err
	}
	a.record(ctx, p, "workspace.member-add", slug, map[string]any{"org": org})
	return a.workspaceNow(ctx, slug)
}

// RemoveMember ends org's membership of workspace slug (see membership for who may). The last
// member is never removed: EConflict on field "org".
//
// The store has no conditional removal, so the rule is checked before and again after: if
// concurrent removals (on this or another replica) left the workspace empty, this one is put
// back and refused.
func (a *Admin) RemoveMember(ctx context.Context, p *auth.Principal, slug, org string) (WorkspaceInfo, error) {
	w, err := a.membership(ctx, p, slug)
	if err != nil {
		return WorkspaceInfo{}, err
	}
	if !slices.Contains(w.Members, org) {
		return WorkspaceInfo{}, notFound("org", "%q is not a member of workspace %q", org, slug)
	}
	last := &hub.Error{Code: hub.EConflict, Field: "org", Message: fmt.Sprintf("%q is the last member of workspace %q; delete the workspace instead", org, slug)}
	if len(w.Members) <= 1 {
		return WorkspaceInfo{}, last
	}
	if err := a.dir.RemoveMember(ctx, slug, org); err != nil {
		return WorkspaceInfo{}, err
	}
	after, err := a.dir.Workspace(ctx, slug)
	if err != nil {
		return WorkspaceInfo{}, err
	}
	if len(after.Members) == 0 {
		if err := a.dir.AddMember(ctx, slug, org); err != nil {
			return WorkspaceInfo{}, fmt.Errorf("api: restoring the last member %s of workspace %s: %w", org, slug, err)
		}
		return WorkspaceInfo{}, last
	}
	a.record(ctx, p, "workspace.member-remove", slug, map[string]any{"org": org})
	return workspaceInfo(after), nil
}

// DeleteWorkspace crypto-shreds a workspace: its data key is destroyed, then its rows; copies
// taken before (backups) can no longer be opened with the keyring as it is afterwards. Only the
// hub operator may do it, since every member organisation loses what it shared there.
func (a *Admin) DeleteWorkspace(ctx context.Context, p *auth.Principal, slug string) error {
	if !isOperator(p) {
		if _, err := a.membership(ctx, p, slug); err != nil {
			return err // not a member: as if it did not exist
		}
		return &hub.Error{Code: hub.EForbidden, Field: "workspace", Message: "only the hub operator deletes a workspace"}
	}
	if _, err := a.dir.Workspace(ctx, slug); err != nil {
		return err
	}
	return a.members.DeleteWorkspace(ctx, slug, *p)
}

func (a *Admin) workspaceNow(ctx context.Context, slug string) (WorkspaceInfo, error) {
	w, err := a.dir.Workspace(ctx, slug)
	if err != nil {
		return WorkspaceInfo{}, err
	}
	return workspaceInfo(w), nil
}

// Users lists users: an admin those of their own organisation, the operator those of org, or
// of all when org is "".
func (a *Admin) Users(ctx context.Context, p *auth.Principal, org string) ([]UserInfo, error) {
	if err := needAdmin(p); err != nil {
		return nil, err
	}
	if !isOperator(p) {
		if org != "" && org != p.Org {
			return nil, forbidden("org", "an organisation admin lists only the users of %q", p.Org)
		}
		org = p.Org
	}
	us, err := a.dir.Users(ctx, org)
	if err != nil {
		return nil, err
	}
	out := make([]UserInfo, len(us))
	for i, u := range us {
		out[i] = userInfo(u)
	}
	return out, nil
}

// CreateUser adds a user (see the rules at the top of this file). Without a password one is
// generated; both it and a TOTP enrolment's secret are returned this once.
func (a *Admin) CreateUser(ctx context.Context, p *auth.Principal, n NewUser) (CreatedUser, error) {
	if err := a.checkNewUser(ctx, p, &n.Org, n.Username, n.Role); err != nil {
		return CreatedUser{}, err
	}
	generated := n.Password == ""
	if generated {
		n.Password = rand.Text() // 26 base32 letters: 130 random bits
	}
	cu, err := a.members.CreateUser(ctx, members.NewUser{Org: n.Org, Username: n.Username, Role: n.Role, Password: n.Password, TOTP: n.TOTP})
	if err != nil {
		if hub.ErrorCode(err) == hub.EConflict {
			return CreatedUser{}, &hub.Error{Code: hub.EConflict, Field: "username", Message: fmt.Sprintf("user name %q is taken", n.Username), Err: err}
		}
		return CreatedUser{}, err
	}
	a.record(ctx, p, "user.create", strconv.FormatInt(cu.User.ID, 10), map[string]any{
		"org": n.Org, "username": n.Username, "role": n.Role, "totp": n.TOTP, "password_generated": generated})
	out := CreatedUser{User: userInfo(cu.User), TOTPSecret: cu.TOTPSecret, TOTPURL: cu.TOTPURL,
		RecoveryCodes: cu.RecoveryCodes, Note: "shown once: keep the password, TOTP secret and recovery codes now"}
	if generated {
		out.Password = n.Password
	}
	return out, nil
}

// checkNewUser applies the rules for creating or inviting a user of *org (default: p's
// organisation, filled in) with username and role.
func (a *Admin) checkNewUser(ctx context.Context, p *auth.Principal, org *string, username string, role hub.Role) error {
	if err := needAdmin(p); err != nil {
		return err
	}
	if *org == "" {
		*org = p.Org
	}
	if !isOperator(p) && *org != p.Org {
		return forbidden("org", "an admin of %q creates users of %q only, not of %q", p.Org, p.Org, *org)
	}
	if *org == "" {
		return hub.FieldError("org", "is required")
	}
	o, err := a.activeOrg(ctx, "org", *org)
	if err != nil {
		return err
	}
	if !validName(username, 64, "-._@") {
		return hub.FieldError("username", "%q: 2 to 64 lower-case letters, digits and '-', '.', '_', '@', starting with a letter or digit", username)
	}
	return a.checkRole(p, o, role)
}

// Invite creates an inactive user under the same rules as CreateUser and returns the one-time
// token with which the invitee sets their password and enrols a second factor. Revoking the
// invitation's key (it is listed among the organisation's keys, scope "invite") withdraws it.
func (a *Admin) Invite(ctx context.Context, p *auth.Principal, n NewInvitation) (Invitation, error) {
	if err := a.checkNewUser(ctx, p, &n.Org, n.Username, n.Role); err != nil {
		return Invitation{}, err
	}
	token, u, expires, err := a.members.Invite(ctx, members.NewUser{Org: n.Org, Username: n.Username, Role: n.Role})
	if err != nil {
		if hub.ErrorCode(err) == hub.EConflict {
			return Invitation{}, &hub.Error{Code: hub.EConflict, Field: "username", Message: fmt.Sprintf("user name %q is taken", n.Username), Err: err}
		}
		return Invitation{}, err
	}
	a.record(ctx, p, "user.invite", strconv.FormatInt(u.ID, 10), map[string]any{"org": n.Org, "username": n.Username, "role": n.Role, "expires": expires})
	return Invitation{User: userInfo(u), Token: token, Expires: expires,
		Note: "shown once: hand the token to the invitee, who accepts it with a password of their own"}, nil
}

// AcceptInvitation spends an invitation token; it needs no other credential.
func (a *Admin) AcceptInvitation(ctx context.Context, c Acceptance) (CreatedUser, error) {
	cu, err := a.members.AcceptInvitation(ctx, c.Token, c.Password)
	if err != nil {
		return CreatedUser{}, err
	}
	u := cu.User
	a.record(ctx, &auth.Principal{Org: u.Org, UserID: u.ID, Username: u.Username, Via: "invitation"}, "user.invite.accept", strconv.FormatInt(u.ID, 10), nil)
	return CreatedUser{User: userInfo(u), TOTPSecret: cu.TOTPSecret, TOTPURL: cu.TOTPURL, RecoveryCodes: cu.RecoveryCodes,
		Note: "shown once: add the TOTP secret to an authenticator app and keep the recovery codes now"}, nil
}

// LogOutEverywhere voids every session of user id: the user themselves, an admin of their
// organisation, or the operator.
func (a *Admin) LogOutEverywhere(ctx context.Context, p *auth.Principal, id int64) error {
	var u *hub.User
	var err error
	if id == p.UserID && p.UserID != 0 {
		u, err = a.dir.User(ctx, id)
	} else {
		if err := needAdmin(p); err != nil {
			return err
		}
		u, err = a.visibleUser(ctx, p, "id", id)
	}
	if err != nil {
		return err
	}
	if err := a.members.LogOutEverywhere(ctx, u); err != nil {
		return err
	}
	a.record(ctx, p, "user.logout", strconv.FormatInt(u.ID, 10), map[string]any{"username": u.Username})
	return nil
}

// checkRole reports whether p may give role r to a user of organisation o.
func (a *Admin) checkRole(p *auth.Principal, o *hub.Org, r hub.Role) error {
	switch r {
	case hub.RoleAdmin, hub.RoleAnalyst, hub.RoleReader, hub.RoleDirector:
		return nil
	case hub.RoleOperator:
		if !isOperator(p) {
			return forbidden("role", "only the hub operator makes operators")
		}
		if o.Kind != hub.OrgOperator {
			return hub.FieldError("role", "operators belong to an operator organisation, and %q is a %s", o.Code, o.Kind)
		}
		return nil
	}
	return hub.FieldError("role", "%q is not admin, analyst, reader, director or operator", r)
}

// visibleUser returns user id if p may manage them: the operator any, an admin those of their
// organisation. Others are ENotFound on field.
func (a *Admin) visibleUser(ctx context.Context, p *auth.Principal, field string, id int64) (*hub.User, error) {
	u, err := a.dir.User(ctx, id)
	if hub.ErrorCode(err) == hub.ENotFound || (err == nil && !isOperator(p) && u.Org != p.Org) {
		return nil, notFound(field, "no user %d in your organisation", id)
	}
	return u, err
}

// UpdateUser changes a user's role or active flag (see the rules at the top of this file).
// Deactivation and a narrower role take effect at once for their keys and sessions, since
// authentication reads the user each time.
func (a *Admin) UpdateUser(ctx context.Context, p *auth.Principal, id int64, c UserChange) (UserInfo, error) {
	if err := needAdmin(p); err != nil {
		return UserInfo{}, err
	}
	u, err := a.visibleUser(ctx, p, "id", id)
	if err != nil {
		return UserInfo{}, err
	}
	if c.Role == nil && c.Active == nil {
		return UserInfo{}, hub.FieldError("body", "nothing to change: give role or active")
	}
	self := u.ID == p.UserID && u.Org == p.Org && p.UserID != 0
	details := map[string]any{"username": u.Username}
	if c.Role != nil && *c.Role != u.Role {
		switch {
		case self:
			return UserInfo{}, hub.FieldError("role", "nobody changes their own role")
		case u.Role == hub.RoleOperator && !isOperator(p):
			return UserInfo{}, forbidden("role", "only the hub operator changes an operator")
		}
		o, err := a.dir.Org(ctx, u.Org)
		if err != nil {
			return UserInfo{}, err
		}
		if err := a.checkRole(p, o, *c.Role); err != nil {
			return UserInfo{}, err
		}
		details["role"] = map[string]hub.Role{"from": u.Role, "to": *c.Role}
		u.Role = *c.Role
	}
	if c.Active != nil && *c.Active != u.Active {
		switch {
		case self:
			return UserInfo{}, hub.FieldError("active", "nobody deactivates themselves")
		case u.Role == hub.RoleOperator && !isOperator(p):
			return UserInfo{}, forbidden("active", "only the hub operator changes an operator")
		}
		details["active"] = map[string]bool{"from": u.Active, "to": *c.Active}
		u.Active = *c.Active
		if !u.Active {
			// Reactivating someone later must not revive the sessions they held.
			u.SessionsAfter = a.now().UTC()
		}
	}
	if len(details) == 1 {
		return userInfo(u), nil // nothing changes
	}
	if err := a.dir.UpdateUser(ctx, u); err != nil {
		return UserInfo{}, err
	}
	a.record(ctx, p, "user.update", strconv.FormatInt(u.ID, 10), details)
	return userInfo(u), nil
}

// APIKeys lists keys: a non-admin their own; an admin those of their organisation (of one
// user when userID is not 0); the operator those of org, or of all organisations when org is
// "".
func (a *Admin) APIKeys(ctx context.Context, p *auth.Principal, org string, userID int64) ([]KeyInfo, error) {
	switch {
	case isOperator(p):
	case org != "" && org != p.Org:
		return nil, forbidden("org", "you list only the keys of %q", p.Org)
	default:
		org = p.Org
		if !isAdmin(p) {
			if userID != 0 && userID != p.UserID {
				return nil, forbidden("user_id", "only an organisation admin lists other users' keys")
			}
			userID = p.UserID
		}
	}
	var orgs []string
	if org != "" {
		orgs = []string{org}
	} else {
		all, err := a.dir.Orgs(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range all {
			orgs = append(orgs, o.Code)
		}
	}
	out := []KeyInfo{}
	for _, o := range orgs {
		ks, err := a.dir.APIKeys(ctx, o)
		if err != nil {
			return nil, err
		}
		for _, k := range ks {
			if userID == 0 || k.UserID == userID {
				out = append(out, keyInfo(k))
			}
		}
	}
	return out, nil
}

// CreateAPIKey makes a key for the caller (n.UserID 0) or, as admin, for a user of the
// caller's organisation (the operator: of any). The scope may not be wider than the caller's
// own, nor than the key owner's role allows. notAfter, when not zero, is the latest expiry the
// new key may have: the expiry of the key the caller authenticated with, so that a key cannot
// mint a longer-lived one.
func (a *Admin) CreateAPIKey(ctx context.Context, p *auth.Principal, n NewKey, notAfter time.Time) (CreatedKey, error) {
	now := a.now()
	var owner *hub.User
	var err error
	switch {
	case n.UserID == 0 || (n.UserID == p.UserID && p.UserID != 0):
		if p.UserID == 0 {
			return CreatedKey{}, hub.FieldError("user_id", "is required: API keys belong to users, and you are none")
		}
		owner, err = a.dir.User(ctx, p.UserID)
		if err != nil {
			return CreatedKey{}, err
		}
	case !isAdmin(p):
		return CreatedKey{}, forbidden("user_id", "only an organisation admin creates keys for other users")
	default:
		if owner, err = a.visibleUser(ctx, p, "user_id", n.UserID); err != nil {
			return CreatedKey{}, err
		}
	}
	if !owner.Active {
		return CreatedKey{}, hub.FieldError("user_id", "user %d is inactive", owner.ID)
	}
	if !auth.ValidScope(n.Scope) {
		return CreatedKey{}, hub.FieldError("scope", "%q is not read, write or admin", n.Scope)
	}
	if !p.Allows(n.Scope) {
		return CreatedKey{}, forbidden("scope", "a %s key is wider than your own scope, %s", n.Scope, p.Scope)
	}
	var expires time.Time
	if n.Expires != "" {
		if expires, err = time.Parse(time.RFC3339, n.Expires); err != nil {
			return CreatedKey{}, hub.FieldError("expires", "%q is not an RFC 3339 time such as 2027-01-31T00:00:00Z", n.Expires)
		}
		if !expires.After(now) {
			return CreatedKey{}, hub.FieldError("expires", "%s is not in the future", n.Expires)
		}
	}
	if !notAfter.IsZero() && (expires.IsZero() || expires.After(notAfter)) {
		return CreatedKey{}, forbidden("expires", "the key you call with expires at %s; a key it creates must expire by then", notAfter.UTC().Format(time.RFC3339))
	}
	secret, k, err := a.members.CreateAPIKey(ctx, owner, n.Scope, expires)
	if err != nil {
		return CreatedKey{}, err
	}
	a.record(ctx, p, "apikey.create", k.ID, map[string]any{"org": k.Org, "user_id": k.UserID, "scope": k.Scope, "expires": keyInfo(k).Expires})
	return CreatedKey{Key: keyInfo(k), Secret: secret, Note: "shown once: keep the secret now"}, nil
}

// RevokeAPIKey revokes key id: its owner, an admin of its organisation or the operator may.
// A key the caller may not revoke is ENotFound, as if it did not exist; revoking a revoked key
// again succeeds.
func (a *Admin) RevokeAPIKey(ctx context.Context, p *auth.Principal, id string) (KeyInfo, error) {
	k, err := a.dir.APIKey(ctx, id)
	if hub.ErrorCode(err) == hub.ENotFound {
		return KeyInfo{}, notFound("id", "no API key %q", id)
	} else if err != nil {
		return KeyInfo{}, err
	}
	own := k.Org == p.Org && k.UserID == p.UserID && p.UserID != 0
	if !own && !isOperator(p) && !(isAdmin(p) && k.Org == p.Org) {
		return KeyInfo{}, notFound("id", "no API key %q", id)
	}
	if k.Revoked {
		return keyInfo(k), nil
	}
	if err := a.dir.RevokeAPIKey(ctx, id); err != nil {
		return KeyInfo{}, err
	}
	k.Revoked = true
	a.record(ctx, p, "apikey.revoke", k.ID, map[string]any{"org": k.Org, "user_id": k.UserID})
	return keyInfo(k), nil
}

// --- HTTP ----------------------------------------------------------------------------------

// maxAdminBody bounds the body of an administration request: a few small fields.
const maxAdminBody = 64 << 10

// decode reads one JSON object from r's body into v, as DecodeJSON does, bounded by
// maxAdminBody.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	return DecodeJSON(http.MaxBytesReader(w, r.Body, maxAdminBody), v)
}

// reply writes v, or err through s.error.
func reply[T any](s *Server, w http.ResponseWriter, r *http.Request, status int, v T, err error) {
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.json(w, status, v)
}

func (s *Server) adminListOrgs(a *Admin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := a.Orgs(r.Context(), principal(r))
		reply(s, w, r, http.StatusOK, map[string]any{"orgs": v}, err)
	}
}

func (s *Server) adminCreateOrg(a *Admin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var n NewOrg
		if err := decode(w, r, &n); err != nil {
			s.error(w, r, err)
			return
		}
		v, err := a.CreateOrg(r.Context(), principal(r), n)
		reply(s, w, r, http.StatusCreated, v, err)
	}
}

func (s *Server) adminUpdateOrg(a *Admin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var c OrgChange
		if err := decode(w, r, &c); err != nil {
			s.error(w, r, err)
			return
		}
		v, err := a.UpdateOrg(r.Context(), principal(r), r.PathValue("code"), c)
		reply(s, w, r, http.StatusOK, v, err)
	}
}

func (s *Server) adminListWorkspaces(a *Admin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := a.Workspaces(r.Context(), principal(r))
		reply(s, w, r, http.StatusOK, map[string]any{"workspaces": v}, err)
	}
}

func (s *Server) adminCreateWorkspace(a *Admin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var n NewWorkspace
		if err := decode(w, r, &n); err != nil {
			s.error(w, r, err)
			return
		}
		v, err := a.CreateWorkspace(r.Context(), principal(r), n)
		reply(s, w, r, http.StatusCreated, v, err)
	}
}

func (s *Server) adminAddMember(a *Admin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var n struct {
			Org string `json:"org"`
		}
		if err := decode(w, r, &n); err != nil {
			s.error(w, r, err)
			return
		}
		v, err := a.AddMember(r.Context(), principal(r), r.PathValue("ws"), n.Org)
		reply(s, w, r, http.StatusOK, v, err)
	}
}

func (s *Server) adminRemoveMember(a *Admin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := a.RemoveMember(r.Context(), principal(r), r.PathValue("ws"), r.PathValue("org"))
		reply(s, w, r, http.StatusOK, v, err)
	}
}

func (s *Server) adminDeleteWorkspace(a *Admin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := a.DeleteWorkspace(r.Context(), principal(r), r.PathValue("ws"))
		reply(s, w, r, http.StatusOK, map[string]string{"deleted": r.PathValue("ws")}, err)
	}
}

func (s *Server) adminListUsers(a *Admin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := a.Users(r.Context(), principal(r), r.URL.Query().Get("org"))
		reply(s, w, r, http.StatusOK, map[string]any{"users": v}, err)
	}
}

func (s *Server) adminCreateUser(a *Admin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var n NewUser
		if err := decode(w, r, &n); err != nil {
			s.error(w, r, err)
			return
		}
		v, err := a.CreateUser(r.Context(), principal(r), n)
		reply(s, w, r, http.StatusCreated, v, err)
	}
}

func (s *Server) adminInvite(a *Admin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var n NewInvitation
		if err := decode(w, r, &n); err != nil {
			s.error(w, r, err)
			return
		}
		v, err := a.Invite(r.Context(), principal(r), n)
		reply(s, w, r, http.StatusCreated, v, err)
	}
}

// acceptInvitation serves the one endpoint that takes no credential but the invitation token
// in its body.
func (s *Server) acceptInvitation(a *Admin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var c Acceptance
		if err := decode(w, r, &c); err != nil {
			s.error(w, r, err)
			return
		}
		v, err := a.AcceptInvitation(r.Context(), c)
		reply(s, w, r, http.StatusOK, v, err)
	}
}

func (s *Server) adminLogOut(a *Admin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id <= 0 {
			s.error(w, r, hub.FieldError("id", "%q is not a user id", r.PathValue("id")))
			return
		}
		err = a.LogOutEverywhere(r.Context(), principal(r), id)
		reply(s, w, r, http.StatusOK, map[string]string{"status": "every session of the user has ended"}, err)
	}
}

func (s *Server) adminUpdateUser(a *Admin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id <= 0 {
			s.error(w, r, hub.FieldError("id", "%q is not a user id", r.PathValue("id")))
			return
		}
		var c UserChange
		if err := decode(w, r, &c); err != nil {
			s.error(w, r, err)
			return
		}
		v, err := a.UpdateUser(r.Context(), principal(r), id, c)
		reply(s, w, r, http.StatusOK, v, err)
	}
}

func (s *Server) adminListKeys(a *Admin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var user int64
		if u := q.Get("user_id"); u != "" {
			var err error
			if user, err = strconv.ParseInt(u, 10, 64); err != nil || user <= 0 {
				s.error(w, r, hub.FieldError("user_id", "%q is not a user id", u))
				return
			}
		}
		v, err := a.APIKeys(r.Context(), principal(r), q.Get("org"), user)
		reply(s, w, r, http.StatusOK, map[string]any{"keys": v}, err)
	}
}

func (s *Server) adminCreateKey(a *Admin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var n NewKey
		if err := decode(w, r, &n); err != nil {
			s.error(w, r, err)
			return
		}
		notAfter, err := s.callerKeyExpiry(r)
		if err != nil {
			s.error(w, r, err)
			return
		}
		v, err := a.CreateAPIKey(r.Context(), principal(r), n, notAfter)
		reply(s, w, r, http.StatusCreated, v, err)
	}
}

// callerKeyExpiry returns when the API key r was authenticated with expires (zero: never, or
// not authenticated by a key).
func (s *Server) callerKeyExpiry(r *http.Request) (time.Time, error) {
	if principal(r).Via != auth.ViaKey {
		return time.Time{}, nil
	}
	h := r.Header.Get("Authorization")
	id, err := auth.ParseAPIKey(strings.TrimSpace(h[min(len(h), len("Bearer ")):]))
	if err != nil {
		return time.Time{}, err
	}
	k, err := s.dir.APIKey(r.Context(), id)
	if err != nil {
		return time.Time{}, err
	}
	return k.Expires, nil
}

func (s *Server) adminRevokeKey(a *Admin) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := a.RevokeAPIKey(r.Context(), principal(r), r.PathValue("id"))
		reply(s, w, r, http.StatusOK, v, err)
	}
}
