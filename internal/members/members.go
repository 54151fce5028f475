// Package members manages who takes part in the hub: organisations, workspaces (with their data
// keys), users (with their passwords and sealed TOTP secrets) and API keys. It is the one place
// where these are created, so that a workspace never exists without its key and a user's second
// factor never reaches the store in plain text.
package members

import (
	"context"
	"strconv"
	"time"

	"cshub/internal/auth"
	"cshub/internal/hub"
	"cshub/internal/seal"
)

// hubKey names the hub's own data key (package seal), which seals secrets that belong to no
// workspace, such as users' TOTP secrets.
const hubKey = ""

// Keys is what the service needs of the sealing layer: data keys per workspace, and sealing.
type Keys interface {
	seal.Sealer
	AddWorkspace(ctx context.Context, slug string) error
}

// Service manages members. It is safe for concurrent use.
type Service struct {
	dir  hub.DirectoryStore
	keys Keys
	auth *auth.Authenticator
	now  func() time.Time
}

// New returns a Service. now may be nil for time.Now.
func New(dir hub.DirectoryStore, keys Keys, a *auth.Authenticator, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{dir: dir, keys: keys, auth: a, now: now}
}

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
	User       *hub.User
	TOTPSecret string // base32, when enrolled
	TOTPURL    string // otpauth:// URL for authenticator apps
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
		secret, url, _, err := auth.EnrollTOTP("cshub", nu.Username)
		if err != nil {
			return nil, err
		}
		if u.TOTPSecret, err = s.keys.Encrypt(totpLocation(u.ID), []byte(secret)); err != nil {
			return nil, err
		}
		if err := s.dir.UpdateUser(ctx, u); err != nil {
			return nil, err
		}
		out.TOTPSecret, out.TOTPURL = secret, url
	}
	return out, nil
}

// TOTPOpener returns the function that opens users' sealed TOTP secrets, for auth.Config.Open.
func TOTPOpener(keys seal.Sealer) auth.Opener {
	return func(ctx context.Context, u *hub.User) (string, error) {
		p, err := keys.Decrypt(totpLocation(u.ID), u.TOTPSecret)
		return string(p), err
	}
}

func totpLocation(userID int64) seal.Location {
	return seal.Location{Workspace: hubKey, Kind: "totp", ID: strconv.FormatInt(userID, 10), Version: "1"}
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
