package seal

import (
	"context"
	"sync"

	"cshub/internal/hub"
)

// memKeyStore is a test double for hub.KeyStore: a blob holder with the optimistic version of
// the real stores. The real SQLite and PostgreSQL KeyStores pass the store conformance suite.
type memKeyStore struct {
	mu      sync.Mutex
	blob    []byte
	version int64
	reads   int
}

func (m *memKeyStore) Keyring(ctx context.Context) ([]byte, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	if m.version == 0 {
		return nil, 0, hub.Errorf(hub.ENotFound, "no keyring")
	}
	return append([]byte(nil), m.blob...), m.version, nil
}

func (m *memKeyStore) SetKeyring(ctx context.Context, blob []byte, prev int64) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if prev != m.version {
		return 0, hub.Errorf(hub.EConflict, "keyring version is %d, not %d", m.version, prev)
	}
	m.blob = append([]byte(nil), blob...)
	m.version++
	return m.version, nil
}

// snapshot returns a copy of the stored blob, as a backup would hold it.
func (m *memKeyStore) snapshot() ([]byte, int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.blob...), m.version
}

// restore puts back a blob, as restoring a backup would.
func (m *memKeyStore) restore(blob []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blob = append([]byte(nil), blob...)
	m.version++
}

func (m *memKeyStore) readCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reads
}
