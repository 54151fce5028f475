package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"strings"
	"time"

	"cshub/internal/hub"
)

// API key secrets read "cshub_<id>_<random>": id is 16 lower-case hex digits (64 random bits,
// public, the row's key) and random is 52 lower-case base32 letters carrying 256 random bits.
const (
	apiKeyPrefix    = "cshub_"
	apiKeyIDLen     = 16
	apiKeyRandBytes = 32
	apiKeyRandLen   = 52 // base32 of 32 bytes, unpadded
)

var keyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewAPIKey makes a new API key for userID of org with the scope and expiry (zero: never). It
// returns the secret, to be shown once and never stored, and the key to store, whose ID is the
// public id part of the secret and whose Hash is the SHA-256 of the whole secret. Created is
// left for the caller, which owns the clock. NewAPIKey panics only if the system's random
// source fails, as crypto/rand itself does.
func NewAPIKey(org string, userID int64, scope hub.Scope, expires time.Time) (secret string, key *hub.APIKey) {
	var idb [apiKeyIDLen / 2]byte
	var rnd [apiKeyRandBytes]byte
	rand.Read(idb[:]) // crypto/rand.Read never returns an error; it crashes the program instead
	rand.Read(rnd[:])
	id := hex.EncodeToString(idb[:])
	secret = apiKeyPrefix + id + "_" + keyEncoding.EncodeToString(rnd[:])
	sum := sha256.Sum256([]byte(secret))
	return secret, &hub.APIKey{
		ID:      id,
		Hash:    sum[:],
		Org:     org,
		UserID:  userID,
		Scope:   scope,
		Expires: expires,
	}
}

// ParseAPIKey checks that secret has the form of an API key secret and returns its public id.
// A malformed secret is an EUnauthorized *hub.Error.
func ParseAPIKey(secret string) (id string, err error) {
	rest, ok := strings.CutPrefix(secret, apiKeyPrefix)
	if !ok || len(rest) != apiKeyIDLen+1+apiKeyRandLen || rest[apiKeyIDLen] != '_' {
		return "", hub.Errorf(hub.EUnauthorized, "malformed API key")
	}
	id, rnd := rest[:apiKeyIDLen], rest[apiKeyIDLen+1:]
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", hub.Errorf(hub.EUnauthorized, "malformed API key")
		}
	}
	if b, err := keyEncoding.DecodeString(rnd); err != nil || len(b) != apiKeyRandBytes || keyEncoding.EncodeToString(b) != rnd {
		return "", hub.Errorf(hub.EUnauthorized, "malformed API key")
	}
	return id, nil
}
