package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cshub/internal/auth"
	"cshub/internal/hub"
)

// clientCert makes a self-signed client certificate for cn.
func clientCert(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// TestServeMapsClientCertificates: `serve --client-certs` lets a sensor with a pinned
// certificate in as its organisation, with the mapped scope, and nobody else.
func TestServeMapsClientCertificates(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := run(t, "init", "--data", dir); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	sensor, stranger := clientCert(t, "be-sensor"), clientCert(t, "stranger")
	rules := fmt.Sprintf(`[{"fingerprint": %q, "org": "hub-operator", "scope": "read", "name": "BE sensor"}]`, auth.Fingerprint(sensor.Leaf))
	rulesFile := filepath.Join(dir, "client-certs.json")
	if err := os.WriteFile(rulesFile, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}

	e := &env{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	f := &serveFlags{common: common{data: dir}, addr: "127.0.0.1:0", clientCerts: rulesFile}
	a, err := openApp(context.Background(), e, &f.common, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	ctx, cancel := context.WithCancel(context.Background())
	urls, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- serve(ctx, e, a, f, func(u string) { urls <- u }) }()
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatal(err)
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	get := func(cert *tls.Certificate, method, path string) (int, string) {
		cfg := &tls.Config{InsecureSkipVerify: true} // the hub's own self-signed certificate
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		defer client.CloseIdleConnections()
		req, _ := http.NewRequest(method, url+path, strings.NewReader("{}"))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	status, body := get(&sensor, "GET", "/api/v1/whoami")
	var who struct{ Org, User, Via string }
	if json.Unmarshal([]byte(body), &who); status != 200 || who.Org != "hub-operator" || who.User != "BE sensor" || who.Via != auth.ViaMTLS {
		t.Errorf("sensor: %d %s", status, body)
	}
	if status, body := get(&sensor, "POST", "/api/v1/workspaces/community/bundles"); status != http.StatusForbidden {
		t.Errorf("a read-scoped certificate wrote: %d %s", status, body)
	}
	if status, body := get(&stranger, "GET", "/api/v1/whoami"); status != http.StatusUnauthorized {
		t.Errorf("an unmapped certificate: %d %s", status, body)
	}
	if status, body := get(nil, "GET", "/api/v1/whoami"); status != http.StatusUnauthorized {
		t.Errorf("no credential at all: %d %s", status, body)
	}
}

func TestServeRefusesClientCertificateFlagsThatCannotWork(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := run(t, "init", "--data", dir); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	for _, c := range []struct {
		flags []string
		field string
	}{
		{[]string{"--client-ca", "ca.pem"}, "client-ca"},
		{[]string{"--client-certs", "rules.json", "--insecure-http"}, "client-certs"},
		{[]string{"--client-certs", filepath.Join(dir, "missing.json")}, "client-certs"},
	} {
		e := &env{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
		err := runServe(context.Background(), e, append([]string{"--data", dir, "--addr", "127.0.0.1:0"}, c.flags...))
		if hub.ErrorField(err) != c.field {
			t.Errorf("%q: %v, want an error on %s", c.flags, err, c.field)
		}
	}
}
