package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cshub/internal/hub"
)

// testCert is a certificate with its key, as a TLS client presents it.
type testCert struct {
	cert *x509.Certificate
	tls  tls.Certificate
}

// makeCert creates a client certificate for cn, signed by parent (self-signed when parent is
// nil); isCA makes a CA certificate. Validity: from an hour ago to a day from now.
func makeCert(t *testing.T, cn string, parent *testCert, isCA bool) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"cshub test"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.ExtKeyUsage = nil
	}
	signer, signerKey := tmpl, any(key)
	if parent != nil {
		signer, signerKey = parent.cert, parent.tls.PrivateKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{cert: cert, tls: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}
}

// mtlsServer starts a TLS server on loopback with the given client-auth mode that answers each
// request with the Principal a.Certificate finds, or the error code.
func mtlsServer(t *testing.T, a *Authenticator, mode tls.ClientAuthType, cas *x509.CertPool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Certificate(r.Context(), r.TLS)
		if err != nil {
			fmt.Fprintf(w, "error %s: %s", hub.ErrorCode(err), hub.ErrorMessage(err))
			return
		}
		fmt.Fprintf(w, "%s %s %s %s", p.Org, p.Scope, p.Username, p.Via)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes are expected
	srv.TLS = &tls.Config{ClientAuth: mode, ClientCAs: cas, MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// get makes one request to srv presenting cert (none if nil) and returns the body.
func get(t *testing.T, srv *httptest.Server, cert *testCert) (string, error) {
	t.Helper()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	if cert != nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{cert.tls}
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(srv.URL)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestCertificateMTLS(t *testing.T) {
	ca := makeCert(t, "cshub test CA", nil, true)
	otherCA := makeCert(t, "rogue CA", nil, true)
	misp := makeCert(t, "misp-sync.cert-fr", ca, false)   // mapped by subject and issuer
	unmapped := makeCert(t, "nobody.cert-fr", ca, false)  // CA-issued, not mapped
	goneOrg := makeCert(t, "feed.cert-xx", ca, false)     // mapped to an inactive org
	pinned := makeCert(t, "sensor-7.cert-fr", nil, false) // self-signed, pinned by fingerprint
	forgedIssuer := &testCert{}                           // same names as misp, other CA
	*forgedIssuer = *makeCert(t, "misp-sync.cert-fr", rogueAs(t, otherCA, ca), false)
	if forgedIssuer.cert.Subject.String() != misp.cert.Subject.String() || forgedIssuer.cert.Issuer.String() != misp.cert.Issuer.String() {
		t.Fatalf("forged certificate does not copy the names: %v / %v", forgedIssuer.cert.Subject, forgedIssuer.cert.Issuer)
	}

	mapping, err := NewMTLSMapping([]CertRule{
		{Subject: misp.cert.Subject.String(), Issuer: misp.cert.Issuer.String(), Org: "cert-fr", Scope: hub.ScopeWrite},
		{Subject: goneOrg.cert.Subject.String(), Issuer: goneOrg.cert.Issuer.String(), Org: "cert-xx", Scope: hub.ScopeRead},
		{Fingerprint: strings.ToUpper(Fingerprint(pinned.cert)), Org: "cert-fr", Scope: hub.ScopeRead, Name: "sensor 7"},
	})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)

	plain := newFixture(t, func(c *Config) { c.Certs = mapping; c.Now = time.Now })
	withRoots := newFixture(t, func(c *Config) { c.Certs = mapping; c.CertRoots = pool; c.Now = time.Now })

	const denied = "error unauthorized: invalid or expired credentials"
	for _, tc := range []struct {
		name      string
		srv       *httptest.Server
		cert      *testCert
		want      string
		handshake bool // the handshake itself must fail
	}{
		// The TLS server verifies chains against the CA.
		{"verified: mapped by names", mtlsServer(t, plain.a, tls.VerifyClientCertIfGiven, pool), misp, "cert-fr write misp-sync.cert-fr mtls", false},
		{"verified: not mapped", mtlsServer(t, plain.a, tls.VerifyClientCertIfGiven, pool), unmapped, denied, false},
		{"verified: inactive org", mtlsServer(t, plain.a, tls.VerifyClientCertIfGiven, pool), goneOrg, denied, false},
		{"verified: no certificate", mtlsServer(t, plain.a, tls.VerifyClientCertIfGiven, pool), nil, denied, false},
		// Go's client withholds a certificate whose issuer the server did not list.
		{"verified: self-signed not sent", mtlsServer(t, plain.a, tls.VerifyClientCertIfGiven, pool), pinned, denied, false},
		{"verified: forged names refused in handshake", mtlsServer(t, plain.a, tls.VerifyClientCertIfGiven, pool), forgedIssuer, "", true},
		// The TLS server only requests a certificate and verifies nothing.
		{"requested: pinned by fingerprint", mtlsServer(t, plain.a, tls.RequestClientCert, nil), pinned, "cert-fr read sensor 7 mtls", false},
		{"requested: names without verification", mtlsServer(t, plain.a, tls.RequestClientCert, nil), misp, denied, false},
		{"requested: forged names", mtlsServer(t, plain.a, tls.RequestClientCert, nil), forgedIssuer, denied, false},
		// Only requested by TLS, verified by the Authenticator's CertRoots.
		{"roots: mapped by names", mtlsServer(t, withRoots.a, tls.RequestClientCert, nil), misp, "cert-fr write misp-sync.cert-fr mtls", false},
		{"roots: forged names", mtlsServer(t, withRoots.a, tls.RequestClientCert, nil), forgedIssuer, denied, false},
		{"roots: pinned still works", mtlsServer(t, withRoots.a, tls.RequestClientCert, nil), pinned, "cert-fr read sensor 7 mtls", false},
	} {
		got, err := get(t, tc.srv, tc.cert)
		if tc.handshake {
			if err == nil {
				t.Errorf("%s: request succeeded with %q, want a failed handshake", tc.name, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// rogueAs returns a CA certificate made by rogue's key but carrying ca's subject, so that the
// certificates it signs name the same issuer as ca's.
func rogueAs(t *testing.T, rogue, ca *testCert) *testCert {
	t.Helper()
	tmpl := *ca.cert
	key := rogue.tls.PrivateKey.(*ecdsa.PrivateKey)
	tmpl.PublicKey = &key.PublicKey
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{cert: cert, tls: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}
}

func TestCertificateValidity(t *testing.T) {
	pinned := makeCert(t, "sensor", nil, false)
	mapping, err := NewMTLSMapping([]CertRule{{Fingerprint: Fingerprint(pinned.cert), Org: "cert-fr", Scope: hub.ScopeRead}})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(c *Config) { c.Certs = mapping })
	state := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{pinned.cert}}
	ctx := context.Background()
	f.clock.t = time.Now()
	if p, err := f.a.Certificate(ctx, state); err != nil || p.Username != "sensor" || p.UserID != 0 || p.Role != "" {
		t.Errorf("valid pinned: %+v, %v", p, err)
	}
	f.clock.Add(48 * time.Hour)
	if _, err := f.a.Certificate(ctx, state); hub.ErrorCode(err) != hub.EUnauthorized || !strings.Contains(err.Error(), "validity") {
		t.Errorf("expired pinned: err = %v, want unauthorized (validity)", err)
	}
	if _, err := f.a.Certificate(ctx, nil); hub.ErrorCode(err) != hub.EUnauthorized {
		t.Errorf("nil state: err = %v, want unauthorized", err)
	}
}

func TestNewMTLSMappingRejects(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name  string
		rules []CertRule
		field string
	}{
		{"no org", []CertRule{{Fingerprint: fp, Scope: hub.ScopeRead}}, "certificates[0].org"},
		{"bad scope", []CertRule{{Fingerprint: fp, Org: "o", Scope: "root"}}, "certificates[0].scope"},
		{"both", []CertRule{{Fingerprint: fp, Subject: "CN=a", Issuer: "CN=b", Org: "o", Scope: hub.ScopeRead}}, "certificates[0]"},
		{"neither", []CertRule{{Subject: "CN=a", Org: "o", Scope: hub.ScopeRead}}, "certificates[0]"},
		{"short fingerprint", []CertRule{{Fingerprint: "abcd", Org: "o", Scope: hub.ScopeRead}}, "certificates[0].fingerprint"},
		{"duplicate", []CertRule{
			{Fingerprint: fp, Org: "o", Scope: hub.ScopeRead},
			{Fingerprint: strings.ToUpper(fp), Org: "p", Scope: hub.ScopeRead},
		}, "certificates[1].fingerprint"},
	} {
		_, err := NewMTLSMapping(tc.rules)
		if hub.ErrorCode(err) != hub.EInvalid || hub.ErrorField(err) != tc.field {
			t.Errorf("%s: err = %v, want invalid %s", tc.name, err, tc.field)
		}
	}
	colons := strings.TrimSuffix(strings.Repeat("AB:", 32), ":")
	if _, err := NewMTLSMapping([]CertRule{{Fingerprint: colons, Org: "o", Scope: hub.ScopeAdmin}}); err != nil {
		t.Errorf("fingerprint with colons: %v", err)
	}
}
