package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the cost parameters of argon2id password hashes.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over the memory
	Threads uint8  // lanes
	SaltLen uint32 // bytes of random salt
	KeyLen  uint32 // bytes of derived hash
}

// DefaultArgon2Params returns the parameters sized for the hub's 2-core server: 64 MiB, three
// passes, two lanes (RFC 9106's second recommended setting with p lowered to the core count).
// One hash takes about 100 ms there (BenchmarkHashPassword), so one login costs about a tenth of
// a second of both cores, which is why Authenticator bounds how many run at once.
func DefaultArgon2Params() Argon2Params {
	return Argon2Params{Memory: 64 * 1024, Time: 3, Threads: 2, SaltLen: 16, KeyLen: 32}
}

// Bounds on parameters read back from a stored hash, so that a corrupt or hostile row cannot
// make a login allocate gigabytes or spin for minutes.
const (
	maxArgon2Memory  = 1 << 20 // 1 GiB in KiB
	maxArgon2Time    = 32
	maxArgon2KeyLen  = 128
	maxArgon2SaltLen = 64
)

// maxPasswordBytes bounds what is hashed at all; CheckPassword refuses longer passwords with a
// reason, and the login path treats them as wrong.
const maxPasswordBytes = 1024

var b64 = base64.RawStdEncoding

// Hash returns the argon2id hash of password under p in PHC string form
// "$argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash>" with unpadded standard base64.
func (p Argon2Params) Hash(password string) (string, error) {
	if err := p.valid(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: reading salt: %w", err)
	}
	return p.phc(salt, argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)), nil
}

// Unmatchable returns a hash under p that no password matches but that costs a verification
// as much as one that does: a random key under a random salt. Verified for unknown users, it
// keeps timing from telling them apart, without the argon2 run a hash of a random password
// would cost every process that starts an Authenticator (each command of the command line).
func (p Argon2Params) Unmatchable() (string, error) {
	if err := p.valid(); err != nil {
		return "", err
	}
	b := make([]byte, p.SaltLen+p.KeyLen)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: reading salt: %w", err)
	}
	return p.phc(b[:p.SaltLen], b[p.SaltLen:]), nil
}

// phc writes salt and key under p in PHC string form.
func (p Argon2Params) phc(salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// NeedsRehash reports whether encoded was made with parameters other than p (or cannot be
// parsed), so that the caller should store a fresh p.Hash of the password just verified.
func (p Argon2Params) NeedsRehash(encoded string) bool {
	h, err := ParsePHC(encoded)
	if err != nil {
		return true
	}
	return h.Params.Memory != p.Memory || h.Params.Time != p.Time || h.Params.Threads != p.Threads ||
		uint32(len(h.Salt)) != p.SaltLen || uint32(len(h.Key)) != p.KeyLen
}

func (p Argon2Params) valid() error {
	switch {
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxArgon2Memory:
		return fmt.Errorf("auth: argon2 memory %d KiB out of range", p.Memory)
	case p.Time < 1 || p.Time > maxArgon2Time:
		return fmt.Errorf("auth: argon2 time %d out of range", p.Time)
	case p.Threads < 1:
		return errors.New("auth: argon2 threads must be at least 1")
	case p.SaltLen < 8 || p.SaltLen > maxArgon2SaltLen:
		return fmt.Errorf("auth: argon2 salt length %d out of range", p.SaltLen)
	case p.KeyLen < 16 || p.KeyLen > maxArgon2KeyLen:
		return fmt.Errorf("auth: argon2 key length %d out of range", p.KeyLen)
	}
	return nil
}

// HashPassword returns the argon2id hash of password under DefaultArgon2Params.
func HashPassword(password string) (string, error) {
	return DefaultArgon2Params().Hash(password)
}

// NeedsRehash reports whether encoded was made with parameters other than
// DefaultArgon2Params.
func NeedsRehash(encoded string) bool {
	return DefaultArgon2Params().NeedsRehash(encoded)
}

// PHC is a parsed argon2id hash.
type PHC struct {
	Params Argon2Params // SaltLen and KeyLen are those of Salt and Key
	Salt   []byte
	Key    []byte
}

// ParsePHC parses an argon2id hash in PHC string form. It accepts only argon2id, version 19,
// parameters in the order m, t, p, and parameters within bounds that keep verification cheap
// enough to run on a login path.
func ParsePHC(encoded string) (*PHC, error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" {
		return nil, errors.New("auth: not a PHC string")
	}
	if parts[1] != "argon2id" {
		return nil, fmt.Errorf("auth: unsupported password hash algorithm %q", parts[1])
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, fmt.Errorf("auth: unsupported argon2 version %q", parts[2])
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return nil, errors.New("auth: argon2 parameters must be m, t and p")
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		s, ok := strings.CutPrefix(params[i], name)
		if !ok {
			return nil, fmt.Errorf("auth: argon2 parameter %d is not %s", i, name)
		}
		v, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("auth: argon2 parameter %s: %w", name, err)
		}
		vals[i] = v
	}
	if vals[2] > 255 {
		return nil, errors.New("auth: argon2 parallelism out of range")
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return nil, fmt.Errorf("auth: argon2 salt: %w", err)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil {
		return nil, fmt.Errorf("auth: argon2 hash: %w", err)
	}
	h := &PHC{
		Params: Argon2Params{Memory: uint32(vals[0]), Time: uint32(vals[1]), Threads: uint8(vals[2]),
			SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))},
		Salt: salt,
		Key:  key,
	}
	if err := h.Params.valid(); err != nil {
		return nil, err
	}
	return h, nil
}

// VerifyPassword reports whether password matches encoded, comparing in constant time. The
// error is non-nil only when encoded is not a usable argon2id hash; a wrong password is
// (false, nil).
func VerifyPassword(encoded, password string) (bool, error) {
	h, err := ParsePHC(encoded)
	if err != nil {
		return false, err
	}
	if len(password) > maxPasswordBytes {
		return false, nil
	}
	got := argon2.IDKey([]byte(password), h.Salt, h.Params.Time, h.Params.Memory, h.Params.Threads, h.Params.KeyLen)
	return subtle.ConstantTimeCompare(got, h.Key) == 1, nil
}
