package seal

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cshub/internal/hub"
)

// Barrier encrypts everything the hub stores. It starts sealed; Initialize (a fresh hub) or
// Unseal (an existing one) opens it with the root key, Seal closes it again. While sealed,
// every method that needs a key returns a *hub.Error with code hub.ESealed saying why.
//
// A Barrier is safe for concurrent use. Encrypt, Decrypt, Token and the other readers take one
// atomic load of an immutable keyring snapshot and never block; AddWorkspace, DestroyWorkspace,
// Rotate, Rekey and Reload are serialized, write the whole keyring through the KeyStore with
// its optimistic version, and then swap in a new snapshot.
//
// Several replicas may share one KeyStore. A replica that finds a term or workspace key it does
// not know re-reads the keyring once before failing, and a writer that loses the version race
// re-reads and re-applies its change; Reload, on the keys bus event, keeps replicas current.
type Barrier struct {
	ks  hub.KeyStore
	now func() time.Time // replaceable in tests

	mu    sync.Mutex // serializes every change of state; readers never take it
	state atomic.Pointer[state]
}

// New returns a sealed Barrier keeping its keyring in ks.
func New(ks hub.KeyStore) *Barrier {
	b := &Barrier{ks: ks, now: time.Now}
	b.state.Store(sealedState("no root key was given; " + sealedHint))
	return b
}

// Sealed reports whether the barrier is sealed.
func (b *Barrier) Sealed() bool { return b.state.Load().sealed() }

// Seal forgets the keys: from now on every call is ESealed until Unseal. It does not wipe
// memory (Go gives no such guarantee for the cipher states); it drops every reference so that
// no further value can be opened.
func (b *Barrier) Seal() {
	b.state.Store(sealedState("it was sealed by an operator; unseal it with the root key"))
}

// Initialize creates the keyring of a fresh hub (term 1 with the hub's own key, a correlation
// key and a MAC key), seals it with root (32 bytes), stores it, and leaves the barrier
// unsealed. It is EConflict when the KeyStore already holds a keyring.
func (b *Barrier) Initialize(ctx context.Context, root []byte) error {
	return b.initialize(ctx, root, nil)
}

// InitializePassphrase is Initialize with a root key derived from passphrase by argon2id. The
// salt is drawn fresh; zero Time, MemoryKiB or Threads in p take the defaults (3 passes,
// 64 MiB, 4 threads). The parameters are kept in the keyring header, so Unseal with the key
// from the Passphrase source (or UnsealPassphrase) opens it again.
func (b *Barrier) InitializePassphrase(ctx context.Context, passphrase []byte, p KDFParams) error {
	kdf, root, err := newPassphraseKey(passphrase, p)
	if err != nil {
		return err
	}
	return b.initialize(ctx, root, kdf)
}

// newPassphraseKey draws a salt, fills in the default parameters and derives the root key.
func newPassphraseKey(passphrase []byte, p KDFParams) (*KDFParams, []byte, error) {
	kdf := &KDFParams{Time: p.Time, MemoryKiB: p.MemoryKiB, Threads: p.Threads}
	if kdf.Time == 0 {
		kdf.Time = defaultKDFTime
	}
	if kdf.MemoryKiB == 0 {
		kdf.MemoryKiB = defaultKDFMemory
	}
	if kdf.Threads == 0 {
		kdf.Threads = defaultKDFThreads
	}
	salt, err := randomKey()
	if err != nil {
		return nil, nil, err
	}
	kdf.Salt = salt
	root, err := DeriveRootKey(passphrase, *kdf)
	if err != nil {
		return nil, nil, err
	}
	return kdf, root, nil
}

func (b *Barrier) initialize(ctx context.Context, root []byte, kdf *KDFParams) error {
	if len(root) != keySize {
		return hub.FieldError("root-key", "must be %d bytes, not %d", keySize, len(root))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.Sealed() {
		return hub.Errorf(hub.EConflict, "the barrier is already unsealed")
	}
	_, _, err := b.ks.Keyring(ctx)
	switch hub.ErrorCode(err) {
	case "":
		return hub.Errorf(hub.EConflict, "the hub already has a keyring; unseal it instead of initializing")
	case hub.ENotFound:
	default:
		return fmt.Errorf("seal: reading keyring: %w", err)
	}
	ring, err := newKeyring(b.now())
	if err != nil {
		return err
	}
	root = append([]byte(nil), root...)
	blob, err := sealKeyring(root, kdf, ring)
	if err != nil {
		return err
	}
	v, err := b.ks.SetKeyring(ctx, blob, 0)
	if err != nil {
		return fmt.Errorf("seal: storing new keyring: %w", err)
	}
	s, err := newState(root, kdf, v, ring)
	if err != nil {
		return err
	}
	b.state.Store(s)
	return nil
}

// Unseal reads the stored keyring and opens it with root. It is ENotFound when no keyring is
// stored (initialize the hub first) and ESealed when root does not open it; the barrier then
// stays sealed. Unsealing an unsealed barrier re-reads the keyring.
func (b *Barrier) Unseal(ctx context.Context, root []byte) error {
	if len(root) != keySize {
		return hub.FieldError("root-key", "must be %d bytes, not %d", keySize, len(root))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	blob, v, err := b.ks.Keyring(ctx)
	if hub.ErrorCode(err) == hub.ENotFound {
		return hub.Errorf(hub.ENotFound, "no keyring is stored: initialize the hub first")
	}
	if err != nil {
		return fmt.Errorf("seal: reading keyring: %w", err)
	}
	root = append([]byte(nil), root...)
	s, err := openState(root, blob, v)
	if err != nil {
		return err
	}
	b.state.Store(s)
	return nil
}

// UnsealPassphrase derives the root key from passphrase with the parameters stored in the
// keyring header and unseals with it.
func (b *Barrier) UnsealPassphrase(ctx context.Context, passphrase []byte) error {
	root, err := Passphrase{Store: b.ks, Secret: passphrase}.RootKey(ctx)
	if err != nil {
		return err
	}
	return b.Unseal(ctx, root)
}

// UnsealFrom unseals with the key src yields.
func (b *Barrier) UnsealFrom(ctx context.Context, src RootKeySource) error {
	root, err := src.RootKey(ctx)
	if err != nil {
		return err
	}
	return b.Unseal(ctx, root)
}

func openState(root, blob []byte, version int64) (*state, error) {
	h, err := parseBlob(blob)
	if err != nil {
		return nil, err
	}
	ring, err := openKeyring(root, h)
	if err != nil {
		return nil, err
	}
	return newState(root, h.kdf, version, ring)
}

// Reload re-reads the keyring from the KeyStore, for when another replica changed it. It does
// nothing when the stored version is the one in use. On error the keys in use stay in use.
func (b *Barrier) Reload(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.state.Load()
	if s.sealed() {
		return s.sealedErr()
	}
	return b.reloadLocked(ctx, s)
}

// reloadLocked replaces s with the stored keyring; b.mu is held.
func (b *Barrier) reloadLocked(ctx context.Context, s *state) error {
	blob, v, err := b.ks.Keyring(ctx)
	if err != nil {
		return fmt.Errorf("seal: reloading keyring: %w", err)
	}
	if v == s.version {
		return nil
	}
	ns, err := openState(s.root, blob, v)
	if err != nil {
		return err
	}
	if !b.state.CompareAndSwap(s, ns) {
		return b.state.Load().sealedErr()
	}
	return nil
}

// refresh re-reads the keyring after a reader met a key it does not know, in case another
// replica added it. Concurrent misses coalesce on b.mu: whoever comes second may find a
// snapshot that has the key already. It returns the snapshot to retry with.
func (b *Barrier) refresh(old *state, has func(*state) bool) *state {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.state.Load()
	if cur.sealed() || (cur != old && has(cur)) {
		return cur
	}
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	_ = b.reloadLocked(ctx, cur) // on failure the caller reports its own miss
	return b.state.Load()
}

const (
	refreshTimeout = 5 * time.Second
	maxWriteTries  = 5
)

// errNoChange tells update that the keyring already is as asked and nothing is written.
var errNoChange = errors.New("no change")

// update applies change to a clone of the keyring, seals and stores it with the version it was
// read at, and installs it. When another replica stored first, it re-reads and re-applies.
func (b *Barrier) update(ctx context.Context, what string, change func(k *keyring, now time.Time) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for try := 1; ; try++ {
		s := b.state.Load()
		if s.sealed() {
			return s.sealedErr()
		}
		next := s.ring.clone()
		err := change(next, b.now().UTC())
		if err == errNoChange {
			return nil
		}
		if err != nil {
			return err
		}
		blob, err := sealKeyring(s.root, s.kdf, next)
		if err != nil {
			return err
		}
		v, err := b.ks.SetKeyring(ctx, blob, s.version)
		if hub.ErrorCode(err) == hub.EConflict && try < maxWriteTries {
			if err := b.reloadLocked(ctx, s); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("seal: %s: storing keyring: %w", what, err)
		}
		ns, err := newState(s.root, s.kdf, v, next)
		if err != nil {
			return err
		}
		if !b.state.CompareAndSwap(s, ns) {
			return b.state.Load().sealedErr()
		}
		return nil
	}
}

func checkSlug(slug string) error {
	if slug == "" {
		return hub.FieldError("workspace", "must not be empty")
	}
	return nil
}

// AddWorkspace gives the workspace slug a fresh data key in the newest term; every later term
// gets one too. Adding a workspace that has a key is a no-op; adding one that was destroyed
// gives it new keys, which do not open its old content.
func (b *Barrier) AddWorkspace(ctx context.Context, slug string) error {
	if err := checkSlug(slug); err != nil {
		return err
	}
	return b.update(ctx, "adding workspace "+slug, func(k *keyring, _ time.Time) error {
		t := k.newest()
		if _, ok := t.Keys[slug]; ok {
			return errNoChange
		}
		key, err := randomKey()
		if err != nil {
			return err
		}
		t.Keys[slug] = key
		delete(k.Destroyed, slug)
		return nil
	})
}

// DestroyWorkspace deletes every data key of workspace slug, in all terms, and stores the
// keyring: from then on no copy of the workspace's sealed content opens with this keyring, and
// Decrypt says the keys were destroyed (ENotFound). Destroying a destroyed workspace is a
// no-op; an unknown one is ENotFound. The hub's own key cannot be destroyed.
//
// Old copies of the keyring blob (in backups, or in free pages of the database file until it
// is vacuumed) still hold the keys; Rekey to a new root key and discard the old one to make
// those copies useless too.
func (b *Barrier) DestroyWorkspace(ctx context.Context, slug string) error {
	if err := checkSlug(slug); err != nil {
		return err
	}
	return b.update(ctx, "destroying workspace "+slug, func(k *keyring, now time.Time) error {
		found := false
		for _, t := range k.Terms {
			if _, ok := t.Keys[slug]; ok {
				delete(t.Keys, slug)
				found = true
			}
		}
		if !found {
			if _, ok := k.Destroyed[slug]; ok {
				return errNoChange
			}
			return hub.Errorf(hub.ENotFound, "workspace %q has no keys", slug)
		}
		if k.Destroyed == nil {
			k.Destroyed = make(map[string]time.Time)
		}
		k.Destroyed[slug] = now
		return nil
	})
}

// Rotate adds a term with fresh keys for the hub and every workspace and returns its number.
// New values are sealed under it; values under older terms still open, and Rewrap moves them.
func (b *Barrier) Rotate(ctx context.Context) (uint32, error) {
	var term uint32
	err := b.update(ctx, "rotating keys", func(k *keyring, now time.Time) error {
		cur := k.newest()
		if cur.Number == math.MaxUint32 {
			return hub.Errorf(hub.EInternal, "the keyring has used every term number")
		}
		t := &ringTerm{Number: cur.Number + 1, Created: now, Keys: make(map[string][]byte, len(cur.Keys))}
		for ws := range cur.Keys {
			key, err := randomKey()
			if err != nil {
				return err
			}
			t.Keys[ws] = key
		}
		k.Terms = append(k.Terms, t)
		term = t.Number
		return nil
	})
	return term, err
}

// Rekey seals the keyring with a new root key (32 bytes) and stores it; the keys inside do not
// change. Afterwards, copies of the keyring blob sealed with the old root key (in backups) can
// be made unreadable by destroying the old root key. Other replicas keep working with the keys
// they hold but cannot load or write a newer keyring until unsealed with the new root key. It
// is EConflict when another replica changed the keyring since it was read; Reload and retry.
func (b *Barrier) Rekey(ctx context.Context, root []byte) error {
	if len(root) != keySize {
		return hub.FieldError("root-key", "must be %d bytes, not %d", keySize, len(root))
	}
	return b.rekey(ctx, append([]byte(nil), root...), nil)
}

// RekeyPassphrase is Rekey to a root key derived from passphrase, with a fresh salt and p as in
// InitializePassphrase: it changes a hub's passphrase, or moves a hub to one.
func (b *Barrier) RekeyPassphrase(ctx context.Context, passphrase []byte, p KDFParams) error {
	kdf, root, err := newPassphraseKey(passphrase, p)
	if err != nil {
		return err
	}
	return b.rekey(ctx, root, kdf)
}

func (b *Barrier) rekey(ctx context.Context, root []byte, kdf *KDFParams) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.state.Load()
	if s.sealed() {
		return s.sealedErr()
	}
	blob, err := sealKeyring(root, kdf, s.ring)
	if err != nil {
		return err
	}
	v, err := b.ks.SetKeyring(ctx, blob, s.version)
	if err != nil {
		return fmt.Errorf("seal: rekeying: storing keyring: %w", err)
	}
	ns, err := newState(root, kdf, v, s.ring)
	if err != nil {
		return err
	}
	if !b.state.CompareAndSwap(s, ns) {
		return b.state.Load().sealedErr()
	}
	return nil
}

// Status lists the keyring's terms, oldest first.
func (b *Barrier) Status() ([]TermInfo, error) {
	s := b.state.Load()
	if s.sealed() {
		return nil, s.sealedErr()
	}
	return s.status(), nil
}

// Workspaces returns the slugs of the workspaces holding a key in the newest term, sorted.
func (b *Barrier) Workspaces() ([]string, error) {
	s := b.state.Load()
	if s.sealed() {
		return nil, s.sealedErr()
	}
	return s.workspaces(), nil
}

// missingKey is the error for a workspace without a key in a term.
func missingKey(s *state, ws string, term uint32) error {
	if at, ok := s.ring.Destroyed[ws]; ok {
		return hub.Errorf(hub.ENotFound, "workspace key destroyed: the keys of workspace %q were destroyed at %s, so its content cannot be read", ws, at.Format(time.RFC3339))
	}
	if term == s.newest {
		return hub.Errorf(hub.ENotFound, "workspace %q has no data key; it must be added to the keyring first", ws)
	}
	return hub.Errorf(hub.ENotFound, "workspace %q has no data key in term %d", ws, term)
}

// aead returns the cipher for (term, ws), re-reading the keyring once on a miss. It returns the
// snapshot it found the cipher in.
func (b *Barrier) aead(s *state, term uint32, ws string) (*state, cipher.AEAD, error) {
	find := func(s *state) cipher.AEAD {
		t := term
		if t == 0 {
			t = s.newest
		}
		return s.terms[t][ws]
	}
	if a := find(s); a != nil {
		return s, a, nil
	}
	s = b.refresh(s, func(s *state) bool { return find(s) != nil })
	if s.sealed() {
		return nil, nil, s.sealedErr()
	}
	if a := find(s); a != nil {
		return s, a, nil
	}
	if term == 0 {
		term = s.newest
	}
	if _, ok := s.terms[term]; !ok {
		return nil, nil, hub.Errorf(hub.EIntegrity, "sealed value names term %d, which is not in the keyring (newest is %d)", term, s.newest)
	}
	return nil, nil, missingKey(s, ws, term)
}

// Encrypt seals plaintext for loc under the newest term with the key of loc.Workspace. It is
// ENotFound when the workspace has no key (never added, or destroyed).
func (b *Barrier) Encrypt(loc Location, plaintext []byte) ([]byte, error) {
	s := b.state.Load()
	if s.sealed() {
		return nil, s.sealedErr()
	}
	if err := loc.check(); err != nil {
		return nil, err
	}
	return b.encrypt(s, loc, plaintext)
}

func (b *Barrier) encrypt(s *state, loc Location, plaintext []byte) ([]byte, error) {
	// Term 0 asks for the newest term of whatever snapshot holds the key.
	s, a, err := b.aead(s, 0, loc.Workspace)
	if err != nil {
		return nil, err
	}
	term := s.newest
	out := make([]byte, headerSize, headerSize+len(plaintext)+tagSize)
	out[0] = formatV1
	binary.BigEndian.PutUint32(out[1:5], term)
	nonce := out[5:headerSize]
	if _, err := rand.Read(nonce); err != nil {
		return nil, hub.Errorf(hub.EInternal, "reading random bytes for a nonce: %v", err)
	}
	aad := loc.aad(out[:headerSize])
	defer aadBuffers.Put(aad)
	return a.Seal(out, nonce, plaintext, *aad), nil
}

// Decrypt opens a value sealed for loc. A value altered in any bit, truncated, sealed for
// another Location or under a term the keyring lacks is EIntegrity; a value whose workspace
// keys were destroyed is ENotFound ("workspace key destroyed"). It never returns wrong data.
func (b *Barrier) Decrypt(loc Location, ciphertext []byte) ([]byte, error) {
	s := b.state.Load()
	if s.sealed() {
		return nil, s.sealedErr()
	}
	plain, _, _, err := b.decrypt(nil, s, loc, ciphertext)
	return plain, err
}

// DecryptAppend is Decrypt appending the plaintext to dst; on an error dst is returned as it was.
func (b *Barrier) DecryptAppend(dst []byte, loc Location, ciphertext []byte) ([]byte, error) {
	s := b.state.Load()
	if s.sealed() {
		return dst, s.sealedErr()
	}
	out, _, _, err := b.decrypt(dst, s, loc, ciphertext)
	if err != nil {
		return dst, err
	}
	return out, nil
}

func (b *Barrier) decrypt(dst []byte, s *state, loc Location, c []byte) ([]byte, *state, uint32, error) {
	if err := loc.check(); err != nil {
		return nil, nil, 0, err
	}
	term, err := parseHeader(c)
	if err != nil {
		return nil, nil, 0, err
	}
	s, a, err := b.aead(s, term, loc.Workspace)
	if err != nil {
		return nil, nil, 0, err
	}
	aad := loc.aad(c[:headerSize])
	plain, err := a.Open(dst, c[5:headerSize], c[headerSize:], *aad)
	aadBuffers.Put(aad)
	if err != nil {
		return nil, nil, 0, hub.Errorf(hub.EIntegrity, "sealed value at %s does not authenticate: it was altered, moved from another place, or sealed under since-replaced workspace keys", loc)
	}
	return plain, s, term, nil
}

// Rewrap returns ciphertext re-sealed for loc under the newest term, and whether it changed. A
// value already under the newest term is returned as it is, after it was authenticated.
func (b *Barrier) Rewrap(loc Location, ciphertext []byte) ([]byte, bool, error) {
	s := b.state.Load()
	if s.sealed() {
		return nil, false, s.sealedErr()
	}
	plain, s, term, err := b.decrypt(nil, s, loc, ciphertext)
	if err != nil {
		return nil, false, err
	}
	defer clear(plain)
	if term == s.newest {
		return ciphertext, false, nil
	}
	out, err := b.encrypt(s, loc, plain)
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// TokenSize is the length of a blind-index token.
const TokenSize = 16

// Token returns the blind-index token of value: HMAC-SHA256 with the hub-wide correlation key
// over kind, a zero byte and value, cut to TokenSize bytes. Equal (kind, value) pairs give
// equal tokens in every workspace, so the hub can correlate across workspaces; without the key
// a token says nothing about the value. value must already be in the canonical form of its kind
// (lower-case domain, normalized IP, ...): Token hashes bytes, it does not normalize. kind must
// be non-empty and hold no zero byte. Unlike a nil token, which a Filter reads as "any", an
// error cannot be mistaken for a match, so a sealed barrier returns ESealed.
func (b *Barrier) Token(kind, value string) ([]byte, error) {
	s := b.state.Load()
	if s.sealed() {
		return nil, s.sealedErr()
	}
	if kind == "" || strings.IndexByte(kind, 0) >= 0 {
		return nil, hub.FieldError("kind", "a token kind must be non-empty and hold no zero byte")
	}
	buf := make([]byte, 0, len(kind)+1+len(value))
	buf = append(append(append(buf, kind...), 0), value...)
	h := s.mac()
	h.Reset()
	h.Write(buf)
	var sum [32]byte
	out := h.Sum(sum[:0])
	s.macs.Put(h)
	return append([]byte(nil), out[:TokenSize]...), nil
}

// MACKey returns a copy of the hub's 32-byte key for signing sessions and cookies. A sealed
// barrier returns ESealed, never an empty key that would let anyone forge a signature.
func (b *Barrier) MACKey() ([]byte, error) {
	s := b.state.Load()
	if s.sealed() {
		return nil, s.sealedErr()
	}
	return append([]byte(nil), s.ring.MAC...), nil
}
