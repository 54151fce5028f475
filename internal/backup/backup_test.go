package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"cshub/internal/audit"
	"cshub/internal/hub"
	"cshub/internal/hubtest"
	"cshub/internal/kb"
	"cshub/internal/seal"
	"cshub/internal/store/postgres"
	"cshub/internal/store/postgres/pgtest"
	"cshub/internal/store/sqlite"
)

// bundle returns a STIX bundle of n indicators on distinct IPv4 addresses starting at first;
// with red set, they are marked TLP:RED.
func bundle(first, n int, red bool) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"type":"bundle","id":"bundle--%s","objects":[`, uuid())
	marking := ""
	if red {
		marking = `,"object_marking_refs":["marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"]`
	}
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		v := first + i
		fmt.Fprintf(&b, `{"type":"indicator","spec_version":"2.1","id":"indicator--%s","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","name":"backup test %d","pattern":"[ipv4-addr:value = '10.%d.%d.%d']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"%s}`,
			uuid(), v, v>>16&255, v>>8&255, v&255, marking)
	}
	b.WriteString("]}")
	return b.Bytes()
}

func uuid() string {
	u := make([]byte, 16)
	rand.Read(u)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}

// target opens an empty store of backend for a restore.
func target(t testing.TB, backend string) Target {
	t.Helper()
	var st Target
	var err error
	switch backend {
	case "sqlite":
		st, err = sqlite.Open(filepath.Join(t.TempDir(), "restored.db"))
	case "postgres":
		st, err = postgres.Open(context.Background(), pgtest.Schema(t))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestBackupWhileWritingRestores backs up a hub while a writer keeps ingesting, restores the
// file into an empty store of each backend, and checks that the restored hub holds every
// object acknowledged before the backup began, byte for byte with the same Seq and Added, that
// the bodies open with the root key in the backup, that blind-index lookups still find them,
// and that the audit chain verifies.
func TestBackupWhileWritingRestores(t *testing.T) {
	for _, backend := range hubtest.Backends() {
		for _, into := range hubtest.Backends() {
			t.Run(backend+"→"+into, func(t *testing.T) {
				ctx := context.Background()
				h := hubtest.New(t, backend)
				root, err := seal.NewRootKey()
				if err != nil {
					t.Fatal(err)
				}
				if err := h.Barrier.Rekey(ctx, root); err != nil {
					t.Fatal(err)
				}
				h.Ingest(t, "cert-fr", hubtest.Community, bundle(1, 50, false))
				h.Ingest(t, "cert-be", hubtest.Community, bundle(100, 5, true), "cert-fr")

				// The writer ingests until told to stop; acked holds the ids of every ingest
				// that returned before the backup started.
				var (
					mu      sync.Mutex
					started bool
					acked   []string
					after   int
				)
				stop := make(chan struct{})
				var wg sync.WaitGroup
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						sum, err := h.KB.Ingest(ctx, kb.Submission{Org: "cert-uk", Workspace: hubtest.Community}, bytes.NewReader(bundle(1000+10*i, 10, false)))
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						if started {
							after++
						} else {
							acked = append(acked, sum.IDs...)
						}
						mu.Unlock()
					}
				}()
				time.Sleep(50 * time.Millisecond) // let the writer get going
				mu.Lock()
				started = true
				before := slices.Clone(acked)
				mu.Unlock()
				var file bytes.Buffer
				c, err := Write(ctx, h.Store, &file, Options{RootKey: root})
				mu.Lock()
				during := after
				mu.Unlock()
				close(stop)
				wg.Wait()
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("backup: %d objects, %d audit entries, %d bytes; writer acknowledged %d ingests during it", c.Objects, c.Audit, file.Len(), during)

				dst := target(t, into)
				got, err := Restore(ctx, dst, bytes.NewReader(file.Bytes()))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.RootKey, root) || got.Objects != c.Objects || got.Users != c.Users || got.APIKeys != c.APIKeys {
					t.Fatalf("restored %+v, backed up %+v", got, c)
				}

				// Every version the backup holds is in the restored store as it was in the
				// source, Seq and Added included.
				system := hub.Viewer{System: true}
				all := hub.Filter{Viewer: system, AllVersions: true, Limit: 100000}
				restored, err := dst.ListObjects(ctx, all)
				if err != nil {
					t.Fatal(err)
				}
				source, err := h.Store.ListObjects(ctx, all)
				if err != nil {
					t.Fatal(err)
				}
				if len(restored) != c.Objects || len(source) < len(restored) {
					t.Fatalf("restored %d objects, backup holds %d, source %d", len(restored), c.Objects, len(source))
				}
				bySeq := map[int64]*hub.Object{}
				for _, o := range source {
					bySeq[o.Seq] = o
				}
				b := seal.New(dst)
				if err := b.Unseal(ctx, got.RootKey); err != nil {
					t.Fatalf("restored keyring does not open with the backed-up root key: %v", err)
				}
				ids := map[string]bool{}
				for _, o := range restored {
					s := bySeq[o.Seq]
					if s == nil || s.ID != o.ID || !s.Added.Truncate(time.Microsecond).Equal(o.Added.Truncate(time.Microsecond)) /* PostgreSQL keeps microseconds */ || !bytes.Equal(s.Body, o.Body) ||
						!slices.Equal(s.Recipients, o.Recipients) || len(s.Tokens) != len(o.Tokens) || s.TLP != o.TLP {
						t.Fatalf("seq %d: restored %s %v %d %v, source %+v", o.Seq, o.ID, o.Added, len(o.Tokens), o.Recipients, s)
					}
					if _, err := b.Decrypt(seal.ObjectLocation(o), o.Body); err != nil {
						t.Fatalf("seq %d does not open after restore: %v", o.Seq, err)
					}
					ids[o.ID] = true
				}
				for _, id := range before {
					if !ids[id] {
						t.Fatalf("object %s was acknowledged before the backup began but is not in it", id)
					}
				}
				// Latest flags were rebuilt: the latest listing has one row per object.
				latest, err := dst.CountObjects(ctx, hub.Filter{Viewer: system})
				if err != nil {
					t.Fatal(err)
				}
				if latest != int64(len(ids)) {
					t.Fatalf("restored store lists %d latest versions for %d objects", latest, len(ids))
				}
				k := kb.New(kb.Config{Store: dst, Sealer: b, Bus: h.Bus})

				found, err := k.Find(ctx, system, kb.TokenValue, "ipv4-addr:10.0.0.100", 10)
				if err != nil || len(found) != 1 || found[0].TLP != hub.TLPRed || !slices.Equal(found[0].Recipients, []string{"cert-fr"}) {
					t.Fatalf("blind-index lookup after restore: %d objects, %v", len(found), err)
				}
				rep, err := audit.New(dst, audit.Barrier{B: b}, nil).Verify(ctx)
				if err != nil || rep.Verified != int64(c.Audit) {
					t.Fatalf("restored audit chain: %d of %d verified, %v", rep.Verified, c.Audit, err)
				}
				u, err := dst.UserByName(ctx, "cert-fr-analyst")
				if err != nil || u.ID != h.Users["cert-fr"].ID {
					t.Fatalf("restored user: %+v, %v (want id %d)", u, err, h.Users["cert-fr"].ID)
				}
				srcKeys, _ := h.Store.APIKeys(ctx, "cert-fr")
				dstKeys, err := dst.APIKeys(ctx, "cert-fr")
				if err != nil || len(dstKeys) != len(srcKeys) || !bytes.Equal(dstKeys[0].Hash, srcKeys[0].Hash) {
					t.Fatalf("restored API keys of cert-fr: %d (want %d), %v", len(dstKeys), len(srcKeys), err)
				}

				// A second restore into the now full store is refused.
				if _, err := Restore(ctx, dst, bytes.NewReader(file.Bytes())); hub.ErrorCode(err) != hub.EConflict {
					t.Fatalf("restore into a full store: %v, want EConflict", err)
				}
			})
		}
	}
}

// TestVerifyRefusesDamagedFiles damages a real backup in the ways a disk, a copy or a person
// might, and checks that each is refused before a restore writes anything.
func TestVerifyRefusesDamagedFiles(t *testing.T) {
	h := hubtest.New(t, "sqlite")
	h.Ingest(t, "cert-fr", hubtest.Community, bundle(1, 20, false))
	var file bytes.Buffer
	if _, err := Write(context.Background(), h.Store, &file, Options{}); err != nil {
		t.Fatal(err)
	}
	good := file.Bytes()
	lines := bytes.SplitAfter(good, []byte("\n"))
	lines = lines[:len(lines)-1] // SplitAfter leaves an empty tail
	join := func(ls [][]byte) []byte { return bytes.Join(ls, nil) }
	flip := bytes.Clone(good)
	flip[len(flip)/2] ^= 1
	for _, tc := range []struct {
		name string
		file []byte
	}{
		{"empty", nil},
		{"not a backup", []byte(`{"type":"bundle"}` + "\n")},
		{"truncated", good[:len(good)-len(lines[len(lines)-1])]},
		{"cut mid-line", good[:len(good)-10]},
		{"a byte flipped", flip},
		{"a line dropped", join(append(slices.Clone(lines[:3]), lines[4:]...))},
		{"lines swapped", join(append(append(slices.Clone(lines[:2]), lines[3], lines[2]), lines[4:]...))},
		{"data after the end", append(bytes.Clone(good), []byte(`{"org":{"code":"x"}}`+"\n")...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(bytes.NewReader(tc.file))
			if err == nil {
				t.Fatal("accepted")
			}
			var he *hub.Error
			if !errors.As(err, &he) || he.Field != "backup" {
				t.Fatalf("error %v does not name the backup", err)
			}
		})
	}
	if c, err := Verify(bytes.NewReader(good)); err != nil || c.Objects != 20 || c.RootKey != nil {
		t.Fatalf("the undamaged file: %+v, %v", c, err)
	}
}
