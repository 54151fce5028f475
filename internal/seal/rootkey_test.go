package seal

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cshub/internal/hub"
)

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "root.key")
	key, err := CreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("key file mode = %04o, want 0600", got)
	}
	got, err := LoadKeyFile(path)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("LoadKeyFile = %x, %v; want %x", got, err, key)
	}
	if got, err := KeyFile(path).RootKey(context.Background()); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("KeyFile.RootKey = %x, %v", got, err)
	}

	_, err = CreateKeyFile(path)
	wantCode(t, "CreateKeyFile over an existing file", err, hub.EConflict)
	if again, _ := LoadKeyFile(path); !bytes.Equal(again, key) {
		t.Fatal("CreateKeyFile replaced an existing key")
	}

	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644, 0o602} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadKeyFile(path)
		wantCode(t, "LoadKeyFile of a file with mode "+mode.String(), err, hub.EInvalid)
		if !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("error %q does not say how to fix it", err)
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyFile(path); err != nil {
		t.Errorf("LoadKeyFile of a 0400 file: %v", err)
	}

	_, err = LoadKeyFile(filepath.Join(dir, "missing"))
	wantCode(t, "LoadKeyFile of a missing file", err, hub.ESealed)
	_, err = LoadKeyFile(dir)
	wantCode(t, "LoadKeyFile of a directory", err, hub.EInvalid)

	for name, content := range map[string][]byte{
		"raw":    key,
		"hex":    []byte(hex.EncodeToString(key) + "\r\n"),
		"base64": []byte("  " + base64.RawURLEncoding.EncodeToString(key) + "\n"),
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := LoadKeyFile(p); err != nil || !bytes.Equal(got, key) {
			t.Errorf("LoadKeyFile(%s) = %x, %v; want %x", name, got, err, key)
		}
	}
	for name, content := range map[string][]byte{
		"empty":    nil,
		"short":    []byte(base64.StdEncoding.EncodeToString(key[:16])),
		"garbage":  []byte("not a key at all"),
		"too long": bytes.Repeat([]byte("A"), 1000),
	} {
		p := filepath.Join(dir, "bad-"+strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadKeyFile(p)
		wantCode(t, "LoadKeyFile("+name+")", err, hub.EInvalid)
	}
}

func TestRootKeyFromEnv(t *testing.T) {
	key, _ := NewRootKey()
	const name = "CSHUB_TEST_ROOT_KEY"
	for _, v := range []string{
		hex.EncodeToString(key),
		strings.ToUpper(hex.EncodeToString(key)),
		base64.StdEncoding.EncodeToString(key),
		base64.RawStdEncoding.EncodeToString(key),
		base64.URLEncoding.EncodeToString(key),
		" " + EncodeRootKey(key) + "\n",
	} {
		t.Setenv(name, v)
		got, err := RootKeyFromEnv(name)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("RootKeyFromEnv with %q = %x, %v; want %x", v, got, err, key)
		}
		if got, err := EnvKey(name).RootKey(context.Background()); err != nil || !bytes.Equal(got, key) {
			t.Errorf("EnvKey.RootKey with %q = %x, %v", v, got, err)
		}
	}
	for _, v := range []string{"abc", hex.EncodeToString(key[:31]), base64.StdEncoding.EncodeToString(append(key, 1))} {
		t.Setenv(name, v)
		_, err := RootKeyFromEnv(name)
		wantCode(t, "RootKeyFromEnv("+v+")", err, hub.EInvalid)
		if f := hub.ErrorField(err); f != name {
			t.Errorf("field = %q, want %q", f, name)
		}
	}
	t.Setenv(name, "")
	_, err := RootKeyFromEnv(name)
	wantCode(t, "empty variable", err, hub.ESealed)
	_, err = RootKeyFromEnv("CSHUB_TEST_SURELY_UNSET_VARIABLE")
	wantCode(t, "unset variable", err, hub.ESealed)
	if !strings.Contains(err.Error(), "no root key was given") {
		t.Errorf("error %q does not say why", err)
	}
}
