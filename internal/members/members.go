// Package members manages who takes part in the hub: organisations, workspaces (with their data
// keys), users (with their passwords and sealed TOTP secrets) and API keys. It is the one place
// where these are created, so that a workspace never exists without its key and a user's second
// factor never reaches the store in plain text.
package members

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"time"

	"cshub/internal/audit"
	"cshub/internal/auth"
	"cshub/internal/hub"
	"cshub/internal/seal"
)

// Keys is what the service needs of the sealing layer: data keys per workspace, and sealing.
type Keys interface {
	seal.Sealer
	AddWorkspace(ctx context.Context, slug string) error
	DestroyWorkspace(ctx context.Context, slug string) error
}

// Recorder appends to the audit log; *audit.Log is the implementation.
type Recorder interface {
	Record(ctx context.Context, e audit.Entry) (audit.Head, error)
}

// Service manages members. It is safe for concurrent use once set up.
type Service struct {
	dir   hub.DirectoryStore
	keys  Keys
	auth  *auth.Authenticator
	now   func() time.Time
	audit Recorder // nil until SetAudit; required by the operations that must be audited
}

// New returns a Service. now may be nil for time.Now.
func New(dir hub.DirectoryStore, keys Keys, a *auth.Authenticator, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{dir: dir, keys: keys, auth: a, now: now}
}

// SetAudit gives the service the audit log that records destructive operations, such as
// DeleteWorkspace, which refuses to run without one. Call it before the service is shared.
func (s *Service) SetAudit(r Recorder) { s.audit = r }

// CreateOrg adds an organisation.
func (s *Service) CreateOrg(ctx context.Context, o *hub.Org) error {
	if o.Code == "" {
		return hub.FieldError("code", "required")
	}
	if len(o.Country) != 2 {
		return hub.FieldError("country", "%q is not an ISO 3166-1 alpha-2 code", o.Country)
	}
	if o.Created.IsZero() {
		o.Created = s.now().UTC()
	}
	return s.dir.CreateOrg(ctx, o)
}

// CreateWorkspace adds a workspace and its data key. The key is made first: a workspace whose
// row exists always has a key, while a key without a row (a crash in between) is harmless.
func (s *Service) CreateWorkspace(ctx context.Context, w *hub.Workspace) error {
	if w.Slug == "" || w.Slug[0] == '_' {
		return hub.FieldError("slug", "%q: a workspace slug is required and may not start with '_'", w.Slug)
	}
	if w.DefaultTLP == hub.TLPUnset {
		w.DefaultTLP = hub.TLPAmber
	}
	if w.Created.IsZero() {
		w.Created = s.now().UTC()
	}
	if err := s.keys.AddWorkspace(ctx, w.Slug); err != nil {
		return err
	}
	return s.dir.CreateWorkspace(ctx, w)
}

// DeleteWorkspace crypto-shreds the workspace slug: it destroys the workspace's data keys in
// every term of the keyring first, then deletes the workspace, its memberships and its objects
// from the store, and records the deletion in the audit log as "workspace.delete" by actor.
//
// The order matters. Once the keys are gone, no copy of the workspace's content (the rows until
// they are deleted, free pages, database dumps and backups taken earlier) can be opened with the
// keyring as it now is; deleting the rows only tidies up. A failure after the keys were
// destroyed leaves rows nobody can read; calling DeleteWorkspace again finishes the job.
// Backups that also hold an older keyring blob remain readable with the root key that sealed
// it (see seal.Barrier.Rekey), and other replicas keep the keys in memory until they reload the
// keyring (seal.Barrier.Reload).
//
// The caller decides whether actor may delete the workspace; DeleteWorkspace only refuses to
// run without an audit log (SetAudit). The workspace must exist (ENotFound otherwise).
func (s *Service) DeleteWorkspace(ctx context.Context, slug string, actor auth.Principal) error {
	if s.audit == nil {
		return hub.Errorf(hub.EInternal, "deleting workspace %q: the members service has no audit log to record it in", slug)
	}
	w, err := s.dir.Workspace(ctx, slug)
	if err != nil {
		return err
	}
	shredded := true
	if err := s.keys.DestroyWorkspace(ctx, slug); err != nil {
		if hub.ErrorCode(err) != hub.ENotFound {
			return err
		}
		shredded = false // a workspace without keys has nothing sealed to shred
	}
	if err := s.dir.DeleteWorkspace(ctx, slug); err != nil {
		return err
	}
	name := actor.Username
	if name == "" {
		name = "system"
	}
	_, err = s.audit.Record(ctx, audit.Entry{
		Org:    actor.Org,
		Actor:  name,
		Action: "workspace.delete",
		Target: slug,
		Details: map[string]any{
			"name":           w.Name,
			"kind":           w.Kind,
			"members":        w.Members,
			"keys_destroyed": shredded,
		},
	})
	if err != nil {
		return fmt.Errorf("workspace %q was deleted and its keys destroyed, but recording it in the audit log failed: %w", slug, err)
	}
	return nil
}

// NewUser describes a user to create.
type NewUser struct {
	Org      string
	Username string
	Role     hub.Role
	Password string
	// TOTP enrols a second factor at creation (the demo does, so that testers can log in).
	TOTP bool
}

// CreatedUser is what creating a user returns: the secrets that are shown once.
type CreatedUser struct {
	User          *hub.User
	TOTPSecret    string   // base32, when enrolled
	TOTPURL       string   // otpauth:// URL for authenticator apps
	RecoveryCodes []string // when enrolled: each logs in once in place of a one-time code
}

// CreateUser adds a user with an argon2id password hash, after the weak-password check.
func (s *Service) CreateUser(ctx context.Context, nu NewUser) (*CreatedUser, error) {
	if err := auth.CheckPassword(nu.Password, nu.Username, nu.Org); err != nil {
		return nil, err
	}
	hash, err := s.auth.HashPassword(ctx, nu.Password)
	if err != nil {
		return nil, err
	}
	u := &hub.User{Org: nu.Org, Username: nu.Username, Role: nu.Role, PasswordHash: hash, Active: true, Created: s.now().UTC()}
	if err := s.dir.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	out := &CreatedUser{User: u}
	if nu.TOTP {
		if err := s.enrol(ctx, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// enrol gives cu.User a TOTP second factor and ten recovery codes, stores them (the secret
// sealed, the codes hashed) and puts the secrets to show once in cu.
func (s *Service) enrol(ctx context.Context, cu *CreatedUser) error {
	u := cu.User
	secret, url, _, err := auth.EnrollTOTP("cshub", u.Username)
	if err != nil {
		return err
	}
	if u.TOTPSecret, err = s.keys.Encrypt(seal.TOTPLocation(u.ID), []byte(secret)); err != nil {
		return err
	}
	codes, hashes := auth.NewRecoveryCodes()
	u.RecoveryCodes = hashes
	if err := s.dir.UpdateUser(ctx, u); err != nil {
		return err
	}
	cu.TOTPSecret, cu.TOTPURL, cu.RecoveryCodes = secret, url, codes
	return nil
}

// InvitationTTL is how long an invitation may be accepted.
const InvitationTTL = 7 * 24 * time.Hour

// Invite creates the user nu names (its Password is ignored) as inactive, without a usable
// password, and an invitation for it: a one-time token, stored hashed like an API key, that
// AcceptInvitation takes within InvitationTTL. The token is returned to be handed to the
// invitee once; the hub never shows it again.
func (s *Service) Invite(ctx context.Context, nu NewUser) (token string, u *hub.User, expires time.Time, err error) {
	u = &hub.User{Org: nu.Org, Username: nu.Username, Role: nu.Role, PasswordHash: uninvited, Created: s.now().UTC()}
	if err := s.dir.CreateUser(ctx, u); err != nil {
		return "", nil, time.Time{}, err
	}
	expires = s.now().Add(InvitationTTL).UTC()
	token, k := auth.NewAPIKey(u.Org, u.ID, hub.ScopeInvite, expires)
	k.Created = s.now().UTC()
	if err := s.dir.CreateAPIKey(ctx, k); err != nil {
		return "", nil, time.Time{}, err
	}
	return token, u, expires, nil
}

// uninvited is the password hash of an invited user until they accept: not a PHC string, so
// no password verifies against it.
const uninvited = "!invited"

// AcceptInvitation spends an invitation token: the user gets password (after the weak-password
// check) and a TOTP second factor, and becomes active. Everything wrong with the token (unknown,
// used, expired, not an invitation) is one EUnauthorized error on field "token".
func (s *Service) AcceptInvitation(ctx context.Context, token, password string) (*CreatedUser, error) {
	bad := func(reason string) error {
		return &hub.Error{Code: hub.EUnauthorized, Field: "token", Message: "not a valid invitation", Err: fmt.Errorf("%s", reason)}
	}
	id, err := auth.ParseAPIKey(token)
	if err != nil {
		return nil, bad("malformed")
	}
	k, err := s.dir.APIKey(ctx, id)
	if hub.ErrorCode(err) == hub.ENotFound {
		return nil, bad("unknown")
	} else if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(token))
	switch {
	case subtle.ConstantTimeCompare(sum[:], k.Hash) != 1:
		return nil, bad("secret does not match")
	case k.Scope != hub.ScopeInvite:
		return nil, bad("an API key, not an invitation")
	case k.Revoked:
		return nil, bad("already used or withdrawn")
	case !s.now().Before(k.Expires):
		return nil, bad("expired")
	}
	u, err := s.dir.User(ctx, k.UserID)
	if err != nil {
		return nil, err
	}
	if err := auth.CheckPassword(password, u.Username, u.Org); err != nil {
		return nil, err
	}
	if u.PasswordHash, err = s.auth.HashPassword(ctx, password); err != nil {
		return nil, err
	}
	// Spend the token first: a failure after this leaves an inactive user to invite again,
	// never a token that works twice.
	if err := s.dir.RevokeAPIKey(ctx, k.ID); err != nil {
		return nil, err
	}
	u.Active = true
	cu := &CreatedUser{User: u}
	if err := s.enrol(ctx, cu); err != nil {
		return nil, err
	}
	return cu, nil
}

// LogOutEverywhere voids every session u holds now, on every replica: sessions are stateless
// cookies, so the user records the time before which none counts.
func (s *Service) LogOutEverywhere(ctx context.Context, u *hub.User) error {
	u.SessionsAfter = s.now().UTC()
	return s.dir.UpdateUser(ctx, u)
}

// TOTPOpener returns the function that opens users' sealed TOTP secrets, for auth.Config.Open.
func TOTPOpener(keys seal.Sealer) auth.Opener {
	return func(ctx context.Context, u *hub.User) (string, error) {
		p, err := keys.Decrypt(seal.TOTPLocation(u.ID), u.TOTPSecret)
		return string(p), err
	}
}

// CreateAPIKey makes an API key for a user and returns its secret, which is shown once.
func (s *Service) CreateAPIKey(ctx context.Context, u *hub.User, scope hub.Scope, expires time.Time) (string, *hub.APIKey, error) {
	if !auth.ValidScope(scope) {
		return "", nil, hub.FieldError("scope", "%q is not read, write or admin", scope)
	}
	if !(auth.Principal{Scope: auth.RoleScope(u.Role)}).Allows(scope) {
		return "", nil, hub.FieldError("scope", "a %s may not hold a %s key", u.Role, scope)
	}
	secret, k := auth.NewAPIKey(u.Org, u.ID, scope, expires)
	k.Created = s.now().UTC()
	if err := s.dir.CreateAPIKey(ctx, k); err != nil {
		return "", nil, err
	}
	return secret, k, nil
}
