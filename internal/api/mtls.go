package api

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"cshub/internal/auth"
	"cshub/internal/hub"
)

// viaCertificate authenticates a machine-to-machine client by the certificate it presented in
// the TLS handshake, through the Authenticator's auth.MTLSMapping (auth.Config.Certs). It
// applies (ok) only to a request without an Authorization header whose connection carries a
// client certificate: a credential in the header always wins, so that a person's key is never
// silently replaced by the certificate of the machine they work from. When it applies, p is
// the certificate's organisation with the mapped scope (Via auth.ViaMTLS, no user), or err is
// EUnauthorized for an unmapped certificate, one outside its validity period, or an inactive
// organisation.
//
// The one line that makes authenticate use it, first in its body:
//
//	if p, ok, err := s.viaCertificate(r); ok { return p, err }
func (s *Server) viaCertificate(r *http.Request) (p *auth.Principal, ok bool, err error) {
	if r.Header.Get("Authorization") != "" || r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	p, err = s.auth.Certificate(r.Context(), r.TLS)
	return p, true, err
}

// ClientCertTLS returns a copy of base that asks clients for a certificate without requiring
// one, so that people with API keys and machines with certificates share one listener. With
// cas, a certificate that is given must chain to one of them (tls.VerifyClientCertIfGiven) and
// may then be mapped by subject and issuer; without, any certificate is accepted by the
// handshake (tls.RequestClientCert) and can only be mapped by its fingerprint, which the
// handshake proves the client holds the key of.
func ClientCertTLS(base *tls.Config, cas *x509.CertPool) *tls.Config {
	c := base.Clone()
	if c == nil {
		c = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cas != nil {
		c.ClientAuth, c.ClientCAs = tls.VerifyClientCertIfGiven, cas
	} else {
		c.ClientAuth = tls.RequestClientCert
	}
	return c
}

// certRuleJSON is one rule of a client certificate mapping file.
type certRuleJSON struct {
	Fingerprint string    `json:"fingerprint"`
	Subject     string    `json:"subject"`
	Issuer      string    `json:"issuer"`
	Org         string    `json:"org"`
	Scope       hub.Scope `json:"scope"`
	Name        string    `json:"name"`
}

// ReadCertRules reads a client certificate mapping: a JSON array of rules such as
//
//	[{"fingerprint": "ab:cd:…", "org": "cert-fr", "scope": "write", "name": "FR sensor"},
//	 {"subject": "CN=uk-feed,O=NCSC", "issuer": "CN=NCSC CA", "org": "cert-uk", "scope": "read"}]
//
// and returns the mapping for auth.Config.Certs. Errors name the offending rule and field.
func ReadCertRules(r io.Reader) (*auth.MTLSMapping, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var rules []certRuleJSON
	if err := dec.Decode(&rules); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return nil, hub.FieldError("certificates."+ute.Field, "must be a JSON %s", jsonKind(ute.Type.Kind()))
		}
		return nil, hub.FieldError("certificates", "not a JSON array of rules: %v", err)
	}
	out := make([]auth.CertRule, len(rules))
	for i, r := range rules {
		out[i] = auth.CertRule{Fingerprint: r.Fingerprint, Subject: r.Subject, Issuer: r.Issuer, Org: r.Org, Scope: r.Scope, Name: r.Name}
	}
	m, err := auth.NewMTLSMapping(out)
	if err != nil {
		return nil, fmt.Errorf("client certificate mapping: %w", err)
	}
	return m, nil
}
