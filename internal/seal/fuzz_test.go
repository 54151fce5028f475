package seal

import (
	"bytes"
	"testing"

	"cshub/internal/hub"
)

// FuzzDecrypt feeds arbitrary values and locations to Decrypt: it must never panic and never
// open anything but the one value sealed at the one location.
func FuzzDecrypt(f *testing.F) {
	b, _, _ := newTestBarrier(f, "ws")
	loc := Location{"ws", "object", "indicator--1", "v1"}
	c, err := b.Encrypt(loc, []byte("the only secret"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(c, loc.Workspace, loc.Kind, loc.ID, loc.Version)
	f.Add(c[:minSealed], loc.Workspace, loc.Kind, loc.ID, loc.Version)
	f.Add(c, "ws", "object", "indicator--1v", "1")
	f.Add([]byte{1, 0, 0, 0, 1}, "", "totp", "", "")
	f.Add([]byte{}, "ws", "", "", "")
	f.Fuzz(func(t *testing.T, data []byte, ws, kind, id, version string) {
		at := Location{ws, kind, id, version}
		got, err := b.Decrypt(at, data)
		if err == nil {
			if at != loc || !bytes.Equal(data, c) || string(got) != "the only secret" {
				t.Fatalf("Decrypt(%v, %x) opened %q", at, data, got)
			}
			return
		}
		if got != nil {
			t.Fatalf("Decrypt returned data with error %v", err)
		}
		switch hub.ErrorCode(err) {
		case hub.EIntegrity, hub.ENotFound, hub.EInvalid:
		default:
			t.Fatalf("Decrypt error %v has an unexpected code", err)
		}
		_, _ = Term(data)
	})
}

// FuzzKeyringBlob feeds arbitrary blobs to the keyring parser: it must never panic, never ask
// for unbounded work, and open only the real blob.
func FuzzKeyringBlob(f *testing.F) {
	_, ks, root := newTestBarrier(f, "a")
	blob, _ := ks.snapshot()
	f.Add(blob)
	f.Add(blob[:len(blob)/2])
	f.Add([]byte("CSKR\x01\x01\x10"))
	f.Add([]byte("CSKR\x01\x01\x10aaaaaaaaaaaaaaaa\xff\xff\xff\xff\xff\xff\xff\xff\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := parseBlob(data)
		if err != nil {
			if hub.ErrorCode(err) != hub.EIntegrity {
				t.Fatalf("parseBlob error %v is not EIntegrity", err)
			}
			return
		}
		if h.kdf != nil {
			if err := h.kdf.check(); err != nil {
				t.Fatalf("parseBlob accepted bad KDF parameters: %v", err)
			}
		}
		if _, err := openKeyring(root, h); err == nil && !bytes.Equal(data, blob) {
			t.Fatalf("openKeyring opened a blob that is not the stored one")
		}
	})
}
