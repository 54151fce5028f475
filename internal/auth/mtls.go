package auth

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"cshub/internal/hub"
)

// CertRule maps one client certificate to an organisation and scope. It names the certificate
// either by Fingerprint, or by Subject and Issuer together, not both.
//
// A fingerprint pins one certificate: the TLS handshake proves the client holds its private
// key, so no chain needs verifying. A subject and issuer name every certificate a CA issues
// with that subject, and match only when the certificate chains to a trusted root (the TLS
// server's ClientCAs with VerifyClientCertIfGiven or RequireAndVerifyClientCert, or the
// Authenticator's CertRoots), since anyone can make a certificate with any names.
type CertRule struct {
	Fingerprint string    // SHA-256 of the leaf's raw DER, hex, any case, colons allowed
	Subject     string    // the leaf's subject as x509.Certificate.Subject.String() prints it
	Issuer      string    // the leaf's issuer, likewise
	Org         string    // organisation the certificate acts for
	Scope       hub.Scope // what it may do
	Name        string    // shown as the Principal's Username; defaults to the subject's CN
}

// MTLSMapping finds the rule for a client certificate. It is read-only once made and safe for
// concurrent use.
type MTLSMapping struct {
	byFingerprint map[[sha256.Size]byte]CertRule
	byNames       map[[2]string]CertRule
}

// NewMTLSMapping checks rules and indexes them. An error names the first bad rule.
func NewMTLSMapping(rules []CertRule) (*MTLSMapping, error) {
	m := &MTLSMapping{
		byFingerprint: make(map[[sha256.Size]byte]CertRule),
		byNames:       make(map[[2]string]CertRule),
	}
	for i, r := range rules {
		field := fmt.Sprintf("certificates[%d]", i)
		if r.Org == "" {
			return nil, hub.FieldError(field+".org", "is required")
		}
		if !ValidScope(r.Scope) {
			return nil, hub.FieldError(field+".scope", "must be read, write or admin, not %q", r.Scope)
		}
		switch {
		case r.Fingerprint != "" && (r.Subject != "" || r.Issuer != ""):
			return nil, hub.FieldError(field, "names a certificate by fingerprint or by subject and issuer, not both")
		case r.Fingerprint != "":
			fp, err := ParseFingerprint(r.Fingerprint)
			if err != nil {
				return nil, hub.FieldError(field+".fingerprint", "%v", err)
			}
			if _, dup := m.byFingerprint[fp]; dup {
				return nil, hub.FieldError(field+".fingerprint", "is mapped twice")
			}
			m.byFingerprint[fp] = r
		case r.Subject != "" && r.Issuer != "":
			k := [2]string{r.Subject, r.Issuer}
			if _, dup := m.byNames[k]; dup {
				return nil, hub.FieldError(field+".subject", "is mapped twice with the same issuer")
			}
			m.byNames[k] = r
		default:
			return nil, hub.FieldError(field, "needs a fingerprint, or a subject and an issuer")
		}
	}
	return m, nil
}

// ParseFingerprint reads a SHA-256 fingerprint written in hex, in any case, with or without
// colons.
func ParseFingerprint(s string) ([sha256.Size]byte, error) {
	var fp [sha256.Size]byte
	b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	if err != nil || len(b) != sha256.Size {
		return fp, errors.New("must be a SHA-256 fingerprint: 64 hex digits")
	}
	copy(fp[:], b)
	return fp, nil
}

// Fingerprint returns the SHA-256 fingerprint of cert's raw DER in lower-case hex.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// Lookup returns the rule for leaf. verified says whether leaf chains to a trusted root; only
// then may a subject-and-issuer rule match. A fingerprint rule wins over a names rule.
func (m *MTLSMapping) Lookup(leaf *x509.Certificate, verified bool) (CertRule, bool) {
	if m == nil || leaf == nil {
		return CertRule{}, false
	}
	if r, ok := m.byFingerprint[sha256.Sum256(leaf.Raw)]; ok {
		return r, true
	}
	if verified {
		if r, ok := m.byNames[[2]string{leaf.Subject.String(), leaf.Issuer.String()}]; ok {
			return r, true
		}
	}
	return CertRule{}, false
}
