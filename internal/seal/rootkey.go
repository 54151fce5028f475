package seal

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"cshub/internal/hub"
)

// RootKeySource yields the 32-byte root key that opens the keyring. KeyFile, EnvKey and
// Passphrase are the built-in sources; an external KMS fits behind the same interface by
// returning the unwrapped key. Implementations must be safe for concurrent use.
type RootKeySource interface {
	RootKey(ctx context.Context) ([]byte, error)
}

// NewRootKey returns 32 random bytes for a fresh hub.
func NewRootKey() ([]byte, error) { return randomKey() }

// EncodeRootKey returns the text form of a root key that key files hold and that ParseRootKey
// and RootKeyFromEnv accept: standard base64.
func EncodeRootKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// ParseRootKey decodes a root key written as 64 hex digits or as base64 (standard or URL
// alphabet, padded or not), surrounding white space ignored. The result is always 32 bytes.
func ParseRootKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*keySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != keySize {
				return nil, fmt.Errorf("the root key decodes to %d bytes, want %d", len(k), keySize)
			}
			return k, nil
		}
	}
	return nil, fmt.Errorf("the root key is neither 64 hex digits nor base64 of %d bytes", keySize)
}

// CreateKeyFile writes a new random root key to path in the text form of EncodeRootKey, with
// mode 0600, and returns it. It refuses to replace an existing file: overwriting a root key
// would make the keyring sealed with it unreadable for good.
func CreateKeyFile(path string) ([]byte, error) {
	key, err := NewRootKey()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, &hub.Error{Code: hub.EConflict, Field: "root-key-file", Message: fmt.Sprintf("%s exists already; a root key file is never overwritten", path)}
	}
	if err != nil {
		return nil, fmt.Errorf("seal: creating root key file: %w", err)
	}
	// The umask may have narrowed the mode but never widens it; make sure anyway.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal: creating root key file: %w", err)
	}
	_, err = f.WriteString(EncodeRootKey(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path) // a half-written key file must not be mistaken for a key
		return nil, fmt.Errorf("seal: writing root key file: %w", err)
	}
	return key, nil
}

// LoadKeyFile reads the root key from path: the text form written by CreateKeyFile (hex or
// base64) or exactly 32 raw bytes. It refuses a file that group or others may read or write,
// as ssh does for private keys, because anyone who reads it reads every workspace.
func LoadKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &hub.Error{Code: hub.ESealed, Field: "root-key-file", Message: "the hub is sealed: the root key file cannot be opened", Err: err}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: root key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, &hub.Error{Code: hub.EInvalid, Field: "root-key-file", Message: fmt.Sprintf("%s is not a regular file", path)}
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, &hub.Error{Code: hub.EInvalid, Field: "root-key-file", Message: fmt.Sprintf("%s has mode %04o, which lets group or others at the root key; chmod 600 it", path, perm)}
	}
	// A text key is 45 bytes; anything large is not a key file.
	buf, err := io.ReadAll(io.LimitReader(f, 257))
	defer clear(buf)
	if err != nil {
		return nil, &hub.Error{Code: hub.EInvalid, Field: "root-key-file", Message: fmt.Sprintf("%s is unreadable", path), Err: err}
	}
	n := len(buf)
	if n > 256 {
		return nil, &hub.Error{Code: hub.EInvalid, Field: "root-key-file", Message: fmt.Sprintf("%s is too large to be a root key file", path)}
	}
	if n == keySize && !utf8.Valid(buf) {
		return append([]byte(nil), buf...), nil
	}
	key, err := ParseRootKey(string(buf))
	if err != nil {
		return nil, &hub.Error{Code: hub.EInvalid, Field: "root-key-file", Message: fmt.Sprintf("%s: %v", path, err)}
	}
	return key, nil
}

// RootKeyFromEnv reads the root key from the environment variable name, as 64 hex digits or
// base64. An unset variable is ESealed, naming the variable.
func RootKeyFromEnv(name string) ([]byte, error) {
	v, ok := os.LookupEnv(name)
	if !ok || strings.TrimSpace(v) == "" {
		return nil, &hub.Error{Code: hub.ESealed, Field: name, Message: "the hub is sealed: no root key was given; " + sealedHint}
	}
	key, err := ParseRootKey(v)
	if err != nil {
		return nil, &hub.Error{Code: hub.EInvalid, Field: name, Message: err.Error()}
	}
	return key, nil
}

// KeyFile is a RootKeySource reading a key file with LoadKeyFile.
type KeyFile string

// RootKey returns the key in the file.
func (p KeyFile) RootKey(context.Context) ([]byte, error) { return LoadKeyFile(string(p)) }

// EnvKey is a RootKeySource reading the named environment variable with RootKeyFromEnv.
type EnvKey string

// RootKey returns the key in the variable.
func (n EnvKey) RootKey(context.Context) ([]byte, error) { return RootKeyFromEnv(string(n)) }

// KDFParams are the argon2id parameters that stretch a passphrase into a root key. They are
// stored, in plain but authenticated, in the header of the keyring blob, so that the same
// passphrase derives the same key on every start.
type KDFParams struct {
	Salt      []byte // 16 to 64 random bytes; InitializePassphrase always draws a fresh one
	Time      uint32 // passes over memory
	MemoryKiB uint32 // memory in KiB
	Threads   uint8
}

// Argon2id defaults, RFC 9106's second recommended option (t=3, 64 MiB, p=4).
const (
	defaultKDFTime    = 3
	defaultKDFMemory  = 64 * 1024
	defaultKDFThreads = 4
	minPassphrase     = 12
)

// check bounds the parameters, so a doctored blob header cannot make Unseal allocate
// gigabytes or spin for hours, and a weak setting cannot be chosen by mistake.
func (p *KDFParams) check() error {
	switch {
	case len(p.Salt) < 16 || len(p.Salt) > 64:
		return fmt.Errorf("argon2id salt is %d bytes, want 16 to 64", len(p.Salt))
	case p.Time < 1 || p.Time > 64:
		return fmt.Errorf("argon2id time %d is outside 1 to 64", p.Time)
	case p.MemoryKiB < 8*1024 || p.MemoryKiB > 4*1024*1024:
		return fmt.Errorf("argon2id memory %d KiB is outside 8 MiB to 4 GiB", p.MemoryKiB)
	case p.Threads < 1:
		return fmt.Errorf("argon2id needs at least one thread")
	}
	return nil
}

// DeriveRootKey stretches passphrase into a 32-byte root key with argon2id and p.
func DeriveRootKey(passphrase []byte, p KDFParams) ([]byte, error) {
	if len(passphrase) < minPassphrase {
		return nil, hub.FieldError("passphrase", "must be at least %d bytes", minPassphrase)
	}
	if err := p.check(); err != nil {
		return nil, hub.FieldError("passphrase", "%v", err)
	}
	return argon2.IDKey(passphrase, p.Salt, p.Time, p.MemoryKiB, p.Threads, keySize), nil
}

// StoredKDF returns the argon2id parameters in the header of the keyring held by ks. It is
// ENotFound when no keyring is stored and EInvalid when the keyring is sealed with a root key
// given as bytes rather than derived from a passphrase.
func StoredKDF(ctx context.Context, ks hub.KeyStore) (KDFParams, error) {
	blob, _, err := ks.Keyring(ctx)
	if err != nil {
		return KDFParams{}, fmt.Errorf("seal: reading keyring: %w", err)
	}
	h, err := parseBlob(blob)
	if err != nil {
		return KDFParams{}, err
	}
	if h.kdf == nil {
		return KDFParams{}, hub.FieldError("passphrase", "the stored keyring is sealed with a root key, not a passphrase")
	}
	return *h.kdf, nil
}

// Passphrase is a RootKeySource that derives the root key from Secret with the argon2id
// parameters stored in the keyring header in Store. It serves hubs created with
// Barrier.InitializePassphrase.
type Passphrase struct {
	Store  hub.KeyStore
	Secret []byte
}

// RootKey reads the stored parameters and derives the key.
func (p Passphrase) RootKey(ctx context.Context) ([]byte, error) {
	kdf, err := StoredKDF(ctx, p.Store)
	if err != nil {
		return nil, err
	}
	return DeriveRootKey(p.Secret, kdf)
}
