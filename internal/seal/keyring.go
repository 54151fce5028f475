package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"sort"
	"sync"
	"time"

	"cshub/internal/hub"
)

// keyring is what the root key seals: the serialized form, decoded once per change. A keyring
// value is never modified after it was installed; changes work on a clone.
type keyring struct {
	Terms       []*ringTerm          `json:"terms"`       // ascending by Number; the last encrypts
	Correlation []byte               `json:"correlation"` // hub-wide blind-index key
	MAC         []byte               `json:"mac"`         // session and cookie signing key
	Destroyed   map[string]time.Time `json:"destroyed,omitempty"`
}

// ringTerm is one term: a data key per workspace slug, "" being the hub's own.
type ringTerm struct {
	Number  uint32            `json:"term"`
	Created time.Time         `json:"created"`
	Keys    map[string][]byte `json:"keys"`
}

// newest returns the term that encrypts.
func (k *keyring) newest() *ringTerm { return k.Terms[len(k.Terms)-1] }

// clone returns a copy whose maps and slices may be changed. Key bytes are shared: they are
// never written after creation.
func (k *keyring) clone() *keyring {
	c := &keyring{Correlation: k.Correlation, MAC: k.MAC, Terms: make([]*ringTerm, len(k.Terms))}
	for i, t := range k.Terms {
		keys := make(map[string][]byte, len(t.Keys))
		for ws, key := range t.Keys {
			keys[ws] = key
		}
		c.Terms[i] = &ringTerm{Number: t.Number, Created: t.Created, Keys: keys}
	}
	if len(k.Destroyed) > 0 {
		c.Destroyed = make(map[string]time.Time, len(k.Destroyed))
		for ws, at := range k.Destroyed {
			c.Destroyed[ws] = at
		}
	}
	return c
}

// validate checks a decoded keyring, so that a damaged one is refused whole rather than
// failing one value at a time.
func (k *keyring) validate() error {
	if len(k.Terms) == 0 {
		return fmt.Errorf("it has no terms")
	}
	if len(k.Correlation) != keySize || len(k.MAC) != keySize {
		return fmt.Errorf("its correlation or MAC key is not %d bytes", keySize)
	}
	var prev uint32
	for _, t := range k.Terms {
		if t == nil || t.Number <= prev {
			return fmt.Errorf("its terms are not in increasing order")
		}
		prev = t.Number
		if _, ok := t.Keys[hubKey]; !ok {
			return fmt.Errorf("term %d has no hub key", t.Number)
		}
		for ws, key := range t.Keys {
			if len(key) != keySize {
				return fmt.Errorf("term %d key of workspace %q is %d bytes, want %d", t.Number, ws, len(key), keySize)
			}
		}
	}
	return nil
}

// randomKey returns keySize bytes from crypto/rand.
func randomKey() ([]byte, error) {
	k := make([]byte, keySize)
	if _, err := rand.Read(k); err != nil {
		return nil, hub.Errorf(hub.EInternal, "reading random bytes for a key: %v", err)
	}
	return k, nil
}

// newKeyring returns a fresh keyring with term 1 holding only the hub key.
func newKeyring(now time.Time) (*keyring, error) {
	k := &keyring{}
	var err error
	if k.Correlation, err = randomKey(); err != nil {
		return nil, err
	}
	if k.MAC, err = randomKey(); err != nil {
		return nil, err
	}
	hk, err := randomKey()
	if err != nil {
		return nil, err
	}
	k.Terms = []*ringTerm{{Number: 1, Created: now.UTC(), Keys: map[string][]byte{hubKey: hk}}}
	return k, nil
}

// The keyring blob:
//
//	magic "CSKR" | format(1) | kdf(1) | [argon2id: saltLen(1) salt time(4) memoryKiB(4) threads(1)] | nonce(12) | GCM(json)
//
// The additional data is "cshub/keyring" followed by every byte before the nonce, so the KDF
// parameters are authenticated too.
const (
	blobMagic    = "CSKR"
	blobFormatV1 = 1
	kdfNone      = 0 // the root key was given as bytes
	kdfArgon2id  = 1 // the root key is derived from a passphrase with the stored parameters
	keyringAAD   = "cshub/keyring"
)

// sealKeyring serializes k and seals it with root, writing kdf into the header.
func sealKeyring(root []byte, kdf *KDFParams, k *keyring) ([]byte, error) {
	plain, err := json.Marshal(k)
	if err != nil {
		return nil, hub.Errorf(hub.EInternal, "encoding keyring: %v", err)
	}
	defer clear(plain)
	var hdr []byte
	hdr = append(hdr, blobMagic...)
	hdr = append(hdr, blobFormatV1)
	if kdf == nil {
		hdr = append(hdr, kdfNone)
	} else {
		hdr = append(hdr, kdfArgon2id, byte(len(kdf.Salt)))
		hdr = append(hdr, kdf.Salt...)
		hdr = binary.BigEndian.AppendUint32(hdr, kdf.Time)
		hdr = binary.BigEndian.AppendUint32(hdr, kdf.MemoryKiB)
		hdr = append(hdr, kdf.Threads)
	}
	aead, err := newAEAD(root)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(hdr)+nonceSize, len(hdr)+nonceSize+len(plain)+tagSize)
	copy(out, hdr)
	nonce := out[len(hdr):]
	if _, err := rand.Read(nonce); err != nil {
		return nil, hub.Errorf(hub.EInternal, "reading random bytes for a nonce: %v", err)
	}
	return aead.Seal(out, nonce, plain, append([]byte(keyringAAD), hdr...)), nil
}

// blobHeader is the parsed plain part of a keyring blob.
type blobHeader struct {
	kdf     *KDFParams // nil when the root key is given as bytes
	hdr     []byte     // the bytes before the nonce
	nonce   []byte
	payload []byte // ciphertext and tag
}

// parseBlob reads the header of a keyring blob, checking each length before slicing.
func parseBlob(blob []byte) (*blobHeader, error) {
	bad := func(why string) error {
		return hub.Errorf(hub.EIntegrity, "stored keyring blob is malformed: %s", why)
	}
	if len(blob) < len(blobMagic)+2 || string(blob[:len(blobMagic)]) != blobMagic {
		return nil, bad("no keyring header")
	}
	if blob[4] != blobFormatV1 {
		return nil, bad(fmt.Sprintf("unknown format version %d", blob[4]))
	}
	h := &blobHeader{}
	p := 6
	switch blob[5] {
	case kdfNone:
	case kdfArgon2id:
		if len(blob) < p+1 {
			return nil, bad("truncated KDF parameters")
		}
		n := int(blob[p])
		p++
		if len(blob) < p+n+9 {
			return nil, bad("truncated KDF parameters")
		}
		kdf := &KDFParams{Salt: append([]byte(nil), blob[p:p+n]...)}
		p += n
		kdf.Time = binary.BigEndian.Uint32(blob[p:])
		kdf.MemoryKiB = binary.BigEndian.Uint32(blob[p+4:])
		kdf.Threads = blob[p+8]
		p += 9
		if err := kdf.check(); err != nil {
			return nil, bad(err.Error())
		}
		h.kdf = kdf
	default:
		return nil, bad(fmt.Sprintf("unknown key derivation %d", blob[5]))
	}
	if len(blob) < p+nonceSize+tagSize {
		return nil, bad("truncated")
	}
	h.hdr = blob[:p]
	h.nonce = blob[p : p+nonceSize]
	h.payload = blob[p+nonceSize:]
	return h, nil
}

// openKeyring opens a parsed blob with root. A wrong root key and an altered blob look alike
// to GCM; both leave the barrier sealed.
func openKeyring(root []byte, h *blobHeader) (*keyring, error) {
	aead, err := newAEAD(root)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, h.nonce, h.payload, append([]byte(keyringAAD), h.hdr...))
	if err != nil {
		return nil, hub.Errorf(hub.ESealed, "the hub is sealed: the root key does not open the stored keyring (a wrong key, or the keyring was altered)")
	}
	defer clear(plain)
	k := &keyring{}
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	if err := dec.Decode(k); err != nil {
		return nil, hub.Errorf(hub.EIntegrity, "stored keyring does not decode: %v", err)
	}
	if err := k.validate(); err != nil {
		return nil, hub.Errorf(hub.EIntegrity, "stored keyring is invalid: %v", err)
	}
	return k, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != keySize {
		return nil, hub.Errorf(hub.EInvalid, "a key must be %d bytes, not %d", keySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, hub.Errorf(hub.EInternal, "AES: %v", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, hub.Errorf(hub.EInternal, "GCM: %v", err)
	}
	return aead, nil
}

// state is one immutable view of the barrier: sealed (ring nil, why set) or unsealed with a
// decoded keyring and a ready cipher per (term, workspace). Readers load it with one atomic
// read and never lock; writers build a new state and swap it in.
type state struct {
	why string // when sealed: the reason, after "the hub is sealed: "

	root    []byte     // the root key, to seal the next keyring
	kdf     *KDFParams // written back into every blob this state saves; nil for a raw root key
	version int64      // KeyStore version ring was read at or written as
	ring    *keyring

	terms  map[uint32]map[string]cipher.AEAD // cached AEADs: cheap Encrypt and Decrypt
	newest uint32
	macs   sync.Pool // of hash.Hash: HMAC-SHA256 keyed with ring.Correlation
}

func sealedState(why string) *state { return &state{why: why} }

// newState decodes ring into a ready state. Building every AEAD up front keeps the read path
// free of locks; a term costs one AES key schedule per workspace.
func newState(root []byte, kdf *KDFParams, version int64, ring *keyring) (*state, error) {
	s := &state{root: root, kdf: kdf, version: version, ring: ring, terms: make(map[uint32]map[string]cipher.AEAD, len(ring.Terms))}
	for _, t := range ring.Terms {
		m := make(map[string]cipher.AEAD, len(t.Keys))
		for ws, key := range t.Keys {
			a, err := newAEAD(key)
			if err != nil {
				return nil, err
			}
			m[ws] = a
		}
		s.terms[t.Number] = m
	}
	s.newest = ring.newest().Number
	corr := ring.Correlation
	s.macs.New = func() any { return hmac.New(sha256.New, corr) }
	return s, nil
}

func (s *state) sealed() bool { return s.ring == nil }

func (s *state) sealedErr() error {
	return hub.Errorf(hub.ESealed, "the hub is sealed: %s", s.why)
}

func (s *state) mac() hash.Hash { return s.macs.Get().(hash.Hash) }

// TermInfo describes one keyring term.
type TermInfo struct {
	Term       uint32
	Created    time.Time
	Workspaces int  // workspaces holding a key in this term, not counting the hub's own key
	Active     bool // the newest term, the one that encrypts
}

func (s *state) status() []TermInfo {
	out := make([]TermInfo, 0, len(s.ring.Terms))
	for _, t := range s.ring.Terms {
		out = append(out, TermInfo{Term: t.Number, Created: t.Created, Workspaces: len(t.Keys) - 1, Active: t.Number == s.newest})
	}
	return out
}

// workspaces returns the slugs holding a key in the newest term, sorted.
func (s *state) workspaces() []string {
	var out []string
	for ws := range s.ring.newest().Keys {
		if ws != hubKey {
			out = append(out, ws)
		}
	}
	sort.Strings(out)
	return out
}
