package audit_test

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"

	"cshub/internal/audit"
	"cshub/internal/hub"
	"cshub/internal/seal"
)

// barrier adapts seal's barrier to audit.Sealer: the wiring the hub uses.
type barrier struct{ b *seal.Barrier }

func (s barrier) Encrypt(loc audit.Location, p []byte) ([]byte, error) {
	return s.b.Encrypt(seal.Location(loc), p)
}

func (s barrier) Decrypt(loc audit.Location, c []byte) ([]byte, error) {
	return s.b.Decrypt(seal.Location(loc), c)
}

// keys is a hub.KeyStore in memory.
type keys struct {
	mu      sync.Mutex
	blob    []byte
	version int64
}

func (k *keys) Keyring(context.Context) ([]byte, int64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.version == 0 {
		return nil, 0, hub.Errorf(hub.ENotFound, "no keyring")
	}
	return k.blob, k.version, nil
}

func (k *keys) SetKeyring(_ context.Context, blob []byte, prev int64) (int64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if prev != k.version {
		return 0, hub.Errorf(hub.EConflict, "keyring changed")
	}
	k.blob, k.version = blob, k.version+1
	return k.version, nil
}

// TestSealBarrier records and lists through the real barrier of package seal, under the hub's
// own key, and checks that details moved between entries do not open.
func TestSealBarrier(t *testing.T) {
	ctx := context.Background()
	b := seal.New(&keys{})
	root := make([]byte, 32)
	rand.Read(root)
	if err := b.Initialize(ctx, root); err != nil {
		t.Fatal(err)
	}
	st := &memStore{}
	l := audit.New(st, barrier{b}, nil)
	for i := range 3 {
		if _, err := l.Record(ctx, audit.Entry{Actor: "system", Action: "test", Details: map[string]int{"i": i}}); err != nil {
			t.Fatal(err)
		}
	}
	items, err := l.List(ctx, 0, 10)
	if err != nil || len(items) != 3 || string(items[2].Details) != `{"i":2}` {
		t.Fatalf("List = %+v, %v", items, err)
	}
	if _, err := l.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	st.entries[0].Details = st.entries[1].Details
	if _, err := l.List(ctx, 0, 10); hub.ErrorCode(err) != hub.EIntegrity {
		t.Errorf("List with moved details = %v, want EIntegrity", err)
	}
	b.Seal()
	if _, err := l.Record(ctx, audit.Entry{Actor: "system", Action: "test"}); hub.ErrorCode(err) != hub.ESealed {
		t.Errorf("Record with the barrier sealed = %v, want ESealed", err)
	}
}
