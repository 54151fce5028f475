// Package auth authenticates people and machines to the hub: argon2id passwords with a
// weak-password check, TOTP second factors with recovery codes, API keys, stateless signed
// session cookies, login throttling and mutual-TLS client certificates. Every path ends in a
// Principal, the one thing the rest of the hub asks about a caller.
//
// Users, organisations and API keys are read through a hub.DirectoryStore; nothing here knows
// which store is behind it.
package auth

import (
	"time"

	"cshub/internal/hub"
)

// How a Principal authenticated.
const (
	ViaKey     = "key"
	ViaSession = "session"
	ViaMTLS    = "mtls"
)

// Principal is an authenticated caller.
type Principal struct {
	Org      string
	UserID   int64 // 0 for a client certificate
	Username string
	Role     hub.Role  // "" for a client certificate
	Scope    hub.Scope // the most the caller may do; see Allows
	Via      string    // ViaKey, ViaSession or ViaMTLS
	KeyID    string    // the API key's public id, when Via == ViaKey

	// Issued is when the session was issued (Via == ViaSession), to compare with the user's
	// "sessions valid after" time; zero otherwise.
	Issued time.Time
}

// scopeRank orders scopes; an unknown scope ranks 0 and allows nothing.
func scopeRank(s hub.Scope) int {
	switch s {
	case hub.ScopeRead:
		return 1
	case hub.ScopeWrite:
		return 2
	case hub.ScopeAdmin:
		return 3
	}
	return 0
}

// Allows reports whether p may act with scope s: admin includes write, which includes read. An
// unknown scope, on either side, is never allowed.
func (p Principal) Allows(s hub.Scope) bool {
	need := scopeRank(s)
	return need > 0 && scopeRank(p.Scope) >= need
}

// RoleScope returns the widest scope a user with role r may have: operators and organisation
// admins admin, analysts and exercise directors write, readers read, anything else nothing ("").
func RoleScope(r hub.Role) hub.Scope {
	switch r {
	case hub.RoleOperator, hub.RoleAdmin:
		return hub.ScopeAdmin
	case hub.RoleAnalyst, hub.RoleDirector:
		return hub.ScopeWrite
	case hub.RoleReader:
		return hub.ScopeRead
	}
	return ""
}

// minScope returns the narrower of a and b.
func minScope(a, b hub.Scope) hub.Scope {
	if scopeRank(a) <= scopeRank(b) {
		return a
	}
	return b
}

// ValidScope reports whether s is one of the three scopes.
func ValidScope(s hub.Scope) bool { return scopeRank(s) > 0 }
