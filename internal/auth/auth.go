package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"cshub/internal/hub"
)

// Opener returns the plain base32 TOTP secret of u from its sealed form in u.TOTPSecret. The
// sealing layer supplies it; an error means the secret cannot be read now (for instance the
// keyring is sealed) and fails the login.
type Opener func(ctx context.Context, u *hub.User) (secret string, err error)

// Config is what an Authenticator is made from. Only Directory is required; each method
// reports which other fields it needs.
type Config struct {
	Directory hub.DirectoryStore

	// Password hashing. Zero Params: DefaultArgon2Params. MaxHashing bounds the argon2 hashes
	// computed at once (each takes Params.Memory); zero means 2, one per core of the target
	// server. Further logins wait for a place or for their context to end.
	Params     Argon2Params
	MaxHashing int

	// Login throttling, by lower-cased user name and by client address. Nil: a Throttle with
	// its defaults for users, and one allowing 50 failures in 15 minutes for addresses, since
	// a whole CERT may sit behind one address.
	Users Limiter
	IPs   Limiter

	// TOTP: Open reads a user's sealed secret, needed only once users enrol; Guard refuses
	// replayed codes (nil: a new in-memory TOTPGuard).
	Open  Opener
	Guard *TOTPGuard

	// Sessions, for Session: the cookie signer.
	Sessions *Sessions

	// Client certificates, for Certificate: the mapping, and optional roots with which to
	// verify a chain the TLS server did not (ClientAuth RequestClientCert).
	Certs     *MTLSMapping
	CertRoots *x509.CertPool

	Now func() time.Time // nil: time.Now
}

// Authenticator turns credentials into Principals. It is safe for concurrent use.
type Authenticator struct {
	cfg     Config
	dummy   string        // a hash no password matches (Argon2Params.Unmatchable), verified for unknown users
	hashing chan struct{} // semaphore bounding concurrent argon2 runs
}

// New returns an Authenticator for cfg.
func New(cfg Config) (*Authenticator, error) {
	if cfg.Directory == nil {
		return nil, errors.New("auth: Config.Directory is required")
	}
	if cfg.Params == (Argon2Params{}) {
		cfg.Params = DefaultArgon2Params()
	}
	if cfg.MaxHashing <= 0 {
		cfg.MaxHashing = 2
	}
	if cfg.Users == nil {
		cfg.Users = &Throttle{}
	}
	if cfg.IPs == nil {
		cfg.IPs = &Throttle{Max: 50, Window: 15 * time.Minute, Backoff: time.Minute, MaxBackoff: 15 * time.Minute}
	}
	if cfg.Guard == nil {
		cfg.Guard = &TOTPGuard{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	dummy, err := cfg.Params.Unmatchable()
	if err != nil {
		return nil, err
	}
	return &Authenticator{cfg: cfg, dummy: dummy, hashing: make(chan struct{}, cfg.MaxHashing)}, nil
}

// HashPassword hashes password with the Authenticator's parameters, within its bound on
// concurrent hashing. It does not check the password's strength: see CheckPassword.
func (a *Authenticator) HashPassword(ctx context.Context, password string) (string, error) {
	if err := a.acquire(ctx); err != nil {
		return "", err
	}
	defer a.release()
	return a.cfg.Params.Hash(password)
}

// NeedsRehash reports whether u's password hash was made with other parameters than the
// Authenticator's; after a successful Login the caller may then store HashPassword's result.
func (a *Authenticator) NeedsRehash(u *hub.User) bool {
	return a.cfg.Params.NeedsRehash(u.PasswordHash)
}

func (a *Authenticator) acquire(ctx context.Context) error {
	select {
	case a.hashing <- struct{}{}:
		return nil
	case <-ctx.Done():
		return &hub.Error{Code: hub.EUnavailable, Message: "login service busy; try again", Err: ctx.Err()}
	}
}

func (a *Authenticator) release() { <-a.hashing }

// Login checks a user's password and, if the user has enrolled, their TOTP code (or one of
// their recovery codes, which is spent: the rest are stored back), and returns
// a Principal with Via ViaSession, for the caller to Issue a session to.
//
// Attempts are refused with ERateLimited while the user name or clientIP ("" skips the
// address check; IPv6 addresses count by their /64) is locked out. Unknown users, wrong passwords, wrong or replayed codes and
// inactive users or organisations are all the same EUnauthorized error, the reason only in its
// chain, and each counts as a failure against both keys; an unknown user costs the same
// argon2 run as a known one, so timing does not tell them apart. A right password for a user
// with TOTP but no code is an EUnauthorized error naming field "totp", so that a form can ask
// for the code; it does not count as a failure. Success resets the user name's failures, not
// the address's. Other errors (a store down, a secret that cannot be opened) pass through.
func (a *Authenticator) Login(ctx context.Context, username, password, totpCode, clientIP string) (*Principal, error) {
	now := a.cfg.Now()
	userKey := "user:" + strings.ToLower(strings.TrimSpace(username))
	ipKey := addrKey(clientIP)
	if clientIP != "" {
		if err := a.cfg.IPs.Check(ctx, ipKey, now); err != nil {
			return nil, err
		}
	}
	if err := a.cfg.Users.Check(ctx, userKey, now); err != nil {
		return nil, err
	}
	fail := func(reason error) (*Principal, error) {
		if he, ok := errors.AsType[*hub.Error](reason); ok && he.Code == hub.EUnauthorized && he.Err != nil {
			reason = he.Err // already the generic error: keep only its reason
		}
		errs := []error{reason}
		errs = append(errs, a.cfg.Users.Fail(ctx, userKey, now))
		if clientIP != "" {
			errs = append(errs, a.cfg.IPs.Fail(ctx, ipKey, now))
		}
		return nil, unauthorized(errors.Join(errs...))
	}

	u, err := a.cfg.Directory.UserByName(ctx, username)
	if err != nil && hub.ErrorCode(err) != hub.ENotFound {
		return nil, fmt.Errorf("auth: looking up user: %w", err)
	}
	hash := a.dummy
	if u != nil && err == nil {
		hash = u.PasswordHash
	} else {
		u = nil
	}
	if err := a.acquire(ctx); err != nil {
		return nil, err
	}
	ok, herr := VerifyPassword(hash, password)
	a.release()
	switch {
	case u == nil:
		return fail(fmt.Errorf("no user %q", username))
	case herr != nil:
		return fail(fmt.Errorf("user %d: stored password hash unusable: %w", u.ID, herr))
	case !ok:
		return fail(fmt.Errorf("user %d: wrong password", u.ID))
	case !u.Active:
		return fail(fmt.Errorf("user %d is inactive", u.ID))
	}
	if err := a.activeOrg(ctx, u.Org); err != nil {
		if hub.ErrorCode(err) == hub.EUnauthorized {
			return fail(err)
		}
		return nil, err
	}
	if len(u.TOTPSecret) > 0 {
		if strings.TrimSpace(totpCode) == "" {
			return nil, &hub.Error{Code: hub.EUnauthorized, Field: "totp", Message: "a one-time code is required"}
		}
		if a.cfg.Open == nil {
			return nil, errors.New("auth: user has TOTP but Config.Open is not set")
		}
		secret, err := a.cfg.Open(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("auth: opening TOTP secret of user %d: %w", u.ID, err)
		}
		if !isTOTPCode(totpCode) {
			rest, ok := UseRecoveryCode(u.RecoveryCodes, totpCode)
			if !ok {
				return fail(fmt.Errorf("user %d: wrong or used recovery code", u.ID))
			}
			// Two logins racing with one code could both pass; each needs the password too,
			// and the code is gone after either.
			u.RecoveryCodes = rest
			if err := a.cfg.Directory.UpdateUser(ctx, u); err != nil {
				return nil, fmt.Errorf("auth: spending recovery code of user %d: %w", u.ID, err)
			}
		} else if !a.cfg.Guard.Verify(u.ID, secret, totpCode, now) {
			return fail(fmt.Errorf("user %d: wrong or replayed one-time code", u.ID))
		}
	}
	if err := a.cfg.Users.Reset(ctx, userKey); err != nil {
		return nil, fmt.Errorf("auth: resetting login throttle: %w", err)
	}
	return &Principal{
		Org: u.Org, UserID: u.ID, Username: u.Username, Role: u.Role,
		Scope: RoleScope(u.Role), Via: ViaSession,
	}, nil
}

// addrKey returns the throttle key of a client address: the address itself for IPv4, its /64
// for IPv6, since one host commonly holds a whole /64 and could otherwise rotate through it.
// An address that does not parse is used as given.
func addrKey(clientIP string) string {
	a, err := netip.ParseAddr(clientIP)
	if err != nil {
		return "ip:" + clientIP
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.WithZone("").Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + a.String()
}

// activeOrg returns nil if org exists and is active, an EUnauthorized error with the reason
// if not, and other errors as they come.
func (a *Authenticator) activeOrg(ctx context.Context, code string) error {
	o, err := a.cfg.Directory.Org(ctx, code)
	switch {
	case hub.ErrorCode(err) == hub.ENotFound:
		return unauthorized(fmt.Errorf("organisation %q not found", code))
	case err != nil:
		return fmt.Errorf("auth: looking up organisation: %w", err)
	case !o.Active:
		return unauthorized(fmt.Errorf("organisation %q is inactive", code))
	}
	return nil
}

// activeUser returns user id if it exists, is active and belongs to org.
func (a *Authenticator) activeUser(ctx context.Context, id int64, org string) (*hub.User, error) {
	u, err := a.cfg.Directory.User(ctx, id)
	switch {
	case hub.ErrorCode(err) == hub.ENotFound:
		return nil, unauthorized(fmt.Errorf("user %d not found", id))
	case err != nil:
		return nil, fmt.Errorf("auth: looking up user: %w", err)
	case !u.Active:
		return nil, unauthorized(fmt.Errorf("user %d is inactive", id))
	case u.Org != org:
		return nil, unauthorized(fmt.Errorf("user %d belongs to %q, not %q", id, u.Org, org))
	}
	if err := a.activeOrg(ctx, org); err != nil {
		return nil, err
	}
	return u, nil
}

// APIKey authenticates an API key secret. The key is looked up by the id in the secret and its
// stored hash compared in constant time. Malformed, unknown, mismatched, revoked and expired
// keys, and keys of inactive or moved users or of inactive organisations, are one EUnauthorized
// error with the reason in its chain. The Principal's scope is the key's, narrowed to what the
// user's role allows now.
func (a *Authenticator) APIKey(ctx context.Context, secret string) (*Principal, error) {
	id, err := ParseAPIKey(secret)
	if err != nil {
		return nil, unauthorized(err)
	}
	k, err := a.cfg.Directory.APIKey(ctx, id)
	if hub.ErrorCode(err) == hub.ENotFound {
		return nil, unauthorized(fmt.Errorf("API key %s not found", id))
	} else if err != nil {
		return nil, fmt.Errorf("auth: looking up API key: %w", err)
	}
	sum := sha256.Sum256([]byte(secret))
	now := a.cfg.Now()
	switch {
	case subtle.ConstantTimeCompare(sum[:], k.Hash) != 1:
		return nil, unauthorized(fmt.Errorf("API key %s: secret does not match", id))
	case k.Revoked:
		return nil, unauthorized(fmt.Errorf("API key %s is revoked", id))
	case !k.Expires.IsZero() && !now.Before(k.Expires):
		return nil, unauthorized(fmt.Errorf("API key %s expired at %v", id, k.Expires))
	case !ValidScope(k.Scope):
		return nil, unauthorized(fmt.Errorf("API key %s has unknown scope %q", id, k.Scope))
	}
	u, err := a.activeUser(ctx, k.UserID, k.Org)
	if err != nil {
		return nil, err
	}
	scope := minScope(k.Scope, RoleScope(u.Role))
	if !ValidScope(scope) {
		return nil, unauthorized(fmt.Errorf("API key %s: role %q allows no scope", id, u.Role))
	}
	return &Principal{
		Org: k.Org, UserID: u.ID, Username: u.Username, Role: u.Role, Scope: scope, Via: ViaKey, KeyID: k.ID,
	}, nil
}

// Session authenticates a session cookie value: Config.Sessions verifies it, the user is
// read again so that a deactivated user, organisation or changed role takes effect at once, and
// a session issued at or before the user's SessionsAfter time is refused. It returns the Principal
// and the value to send back (see Sessions.Verify). Failures are EUnauthorized.
func (a *Authenticator) Session(ctx context.Context, value string) (*Principal, string, error) {
	if a.cfg.Sessions == nil {
		return nil, "", errors.New("auth: Config.Sessions is not set")
	}
	p, refreshed, err := a.cfg.Sessions.Verify(value, a.cfg.Now())
	if err != nil {
		return nil, "", err
	}
	u, err := a.activeUser(ctx, p.UserID, p.Org)
	if err != nil {
		return nil, "", err
	}
	if !u.SessionsAfter.IsZero() && !p.Issued.After(u.SessionsAfter) {
		return nil, "", unauthorized(fmt.Errorf("session of user %d issued %v, before logout at %v", u.ID, p.Issued, u.SessionsAfter))
	}
	p.Username, p.Role, p.Scope = u.Username, u.Role, RoleScope(u.Role)
	if !ValidScope(p.Scope) {
		return nil, "", unauthorized(fmt.Errorf("user %d: role %q allows no scope", u.ID, u.Role))
	}
	return &p, refreshed, nil
}

// Certificate authenticates the client certificate of a TLS connection through Config.Certs.
// A certificate the TLS server verified (state.VerifiedChains), or one that verifies against
// Config.CertRoots for client authentication, may match by subject and issuer; any other may
// match only by fingerprint, and must be within its validity period. No certificate, an
// unmapped one and an inactive organisation are EUnauthorized.
func (a *Authenticator) Certificate(ctx context.Context, state *tls.ConnectionState) (*Principal, error) {
	if state == nil || len(state.PeerCertificates) == 0 {
		return nil, unauthorized(errors.New("no client certificate"))
	}
	leaf := state.PeerCertificates[0]
	now := a.cfg.Now()
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return nil, unauthorized(fmt.Errorf("client certificate %s outside its validity period", Fingerprint(leaf)))
	}
	verified := len(state.VerifiedChains) > 0
	if !verified && a.cfg.CertRoots != nil {
		inter := x509.NewCertPool()
		for _, c := range state.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots: a.cfg.CertRoots, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		verified = err == nil
	}
	rule, ok := a.cfg.Certs.Lookup(leaf, verified)
	if !ok {
		return nil, unauthorized(fmt.Errorf("client certificate %s (subject %q, verified %t) is not mapped", Fingerprint(leaf), leaf.Subject, verified))
	}
	if err := a.activeOrg(ctx, rule.Org); err != nil {
		return nil, err
	}
	name := rule.Name
	if name == "" {
		name = leaf.Subject.CommonName
	}
	return &Principal{Org: rule.Org, Username: name, Scope: rule.Scope, Via: ViaMTLS}, nil
}
