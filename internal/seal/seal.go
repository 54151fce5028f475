// Package seal is the one layer every byte of member content passes through on its way to
// storage. It keeps a keyring of numbered terms, each holding one AES-256 data key per
// workspace; the newest term encrypts and older terms still decrypt. The keyring itself is
// sealed with a 32-byte root key that never reaches storage, and is kept through a
// hub.KeyStore as one opaque blob.
//
// A sealed value is
//
//	version(1) | term(4, big endian) | nonce(12) | AES-256-GCM ciphertext and tag(16)
//
// and the GCM additional data binds the header and the value's Location, so a value moved to
// another workspace, row or version fails to open instead of yielding the wrong content.
//
// Destroying a workspace deletes its data keys from every term (crypto-shredding): any copy of
// its sealed content, in the live database or a dump of it, stops being readable with the
// keyring as it then is. A backup that also holds an older copy of the keyring blob can still
// be opened with the root key that sealed that copy; see Barrier.Rekey.
//
// Nonces are random, so one data key should seal fewer than 2^32 values; rotating every few
// million values per workspace keeps far from that bound.
//
// Blind-index tokens (Barrier.Token) are keyed hashes with one hub-wide correlation key, so
// equal values match across workspaces without the store learning the values.
package seal

import (
	"encoding/binary"
	"sync"

	"cshub/internal/hub"
)

// Sizes of the sealed-value format.
const (
	formatV1   = 1                    // the only value format so far
	nonceSize  = 12                   // standard GCM nonce
	tagSize    = 16                   // GCM tag
	headerSize = 1 + 4 + nonceSize    // version | term | nonce
	keySize    = 32                   // AES-256 and HMAC-SHA256 keys
	minSealed  = headerSize + tagSize // the shortest well-formed sealed value
	hubKey     = ""                   // the workspace name of the hub's own data key
	sealedHint = "start it with --root-key-file or CSHUB_ROOT_KEY"
)

// Overhead is how many bytes a sealed value adds to its plaintext.
const Overhead = headerSize + tagSize

// Location names where a sealed value lives. All four fields are bound into the ciphertext:
// a value only opens at the Location it was sealed for.
//
// Workspace is the slug of the workspace whose key seals the value; "" names the hub's own key,
// for content that belongs to no workspace (users' TOTP secrets, the hub's audit details). Kind
// says what the value is ("object", "totp", "audit", "note", ...) and must not be empty. ID is
// the row's identity (a STIX id, a user id) and Version tells versions of one row apart (for
// objects the modified timestamp), so an older version cannot be replayed in place of a newer.
type Location struct {
	Workspace string
	Kind      string
	ID        string
	Version   string
}

// String returns the location in a form for error messages. It holds identifiers only.
func (l Location) String() string {
	ws := l.Workspace
	if ws == "" {
		ws = "(hub)"
	}
	return ws + "/" + l.Kind + "/" + l.ID + "@" + l.Version
}

func (l Location) check() error {
	if l.Kind == "" {
		return hub.FieldError("kind", "a sealing location needs a kind (object, totp, audit, ...)")
	}
	return nil
}

// aad returns the GCM additional data: the header, then each location field prefixed with its
// length so that no two distinct locations encode alike. It is written into a buffer of
// aadBuffers, which the caller puts back once the AEAD has read it: the AEAD is an interface,
// so a buffer of the caller's would be allocated anew for each value, a million of them for a
// cold export that opens as many records.
func (l Location) aad(header []byte) *[]byte {
	b := aadBuffers.Get().(*[]byte)
	*b = append((*b)[:0], header...)
	for _, f := range [...]string{l.Workspace, l.Kind, l.ID, l.Version} {
		*b = binary.AppendUvarint(*b, uint64(len(f)))
		*b = append(*b, f...)
	}
	return b
}

var aadBuffers = sync.Pool{New: func() any { return new([]byte) }}

// Sealer encrypts and decrypts values at a Location. *Barrier is the implementation the hub
// uses; Plain is an identity for benchmark baselines and tests.
type Sealer interface {
	Encrypt(loc Location, plaintext []byte) ([]byte, error)
	Decrypt(loc Location, ciphertext []byte) ([]byte, error)
	// DecryptAppend is Decrypt appending the plaintext to dst, so that a reader of many small
	// values (export records) opens them into one buffer rather than one allocation each.
	DecryptAppend(dst []byte, loc Location, ciphertext []byte) ([]byte, error)
}

// Plain is a Sealer that does not encrypt: Encrypt and Decrypt return a copy of their input.
// It exists only to measure the cost of sealing in benchmarks and to keep tests of other
// packages short; a hub that stores through Plain is not an encrypted workspace, so nothing
// outside tests and benchmarks may use it.
type Plain struct{}

// Encrypt returns a copy of plaintext.
func (Plain) Encrypt(_ Location, plaintext []byte) ([]byte, error) {
	return append([]byte(nil), plaintext...), nil
}

// Decrypt returns a copy of ciphertext.
func (Plain) Decrypt(_ Location, ciphertext []byte) ([]byte, error) {
	return append([]byte(nil), ciphertext...), nil
}

// DecryptAppend appends ciphertext to dst.
func (Plain) DecryptAppend(dst []byte, _ Location, ciphertext []byte) ([]byte, error) {
	return append(dst, ciphertext...), nil
}

var (
	_ Sealer = (*Barrier)(nil)
	_ Sealer = Plain{}
)

// Term returns the keyring term a sealed value was encrypted under, so that a rewrap job can
// pick the values older than the newest term. It reads only the header, needs no key and so
// works while the barrier is sealed; it does not authenticate the value.
func Term(ciphertext []byte) (uint32, error) {
	return parseHeader(ciphertext)
}

// parseHeader checks the length and version of a sealed value before any slicing and returns
// its term.
func parseHeader(c []byte) (uint32, error) {
	if len(c) < minSealed {
		return 0, hub.Errorf(hub.EIntegrity, "sealed value is truncated: %d bytes, a sealed value has at least %d", len(c), minSealed)
	}
	if c[0] != formatV1 {
		return 0, hub.Errorf(hub.EIntegrity, "sealed value has unknown format version %d", c[0])
	}
	t := binary.BigEndian.Uint32(c[1:5])
	if t == 0 {
		return 0, hub.Errorf(hub.EIntegrity, "sealed value names term 0, which never exists")
	}
	return t, nil
}
