package certs

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
)

func TestSelfSignedCreatesOnceAndCoversLoopback(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	c1, err := SelfSigned(dir, "hub.example")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := SelfSigned(dir)
	if err != nil {
		t.Fatal(err)
	}
	if string(c1.Certificate[0]) != string(c2.Certificate[0]) {
		t.Fatal("second call made a new certificate instead of loading the first")
	}
	leaf, err := x509.ParseCertificate(c1.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"localhost", "127.0.0.1", "::1", "hub.example"} {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("certificate does not cover %s: %v", h, err)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("key.pem mode = %v, want 0600", got)
	}
}
