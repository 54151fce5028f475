package federation_test

import (
	"encoding/pem"
	"errors"

	"cshub/internal/taxii/client"
)

// certPEM returns the source's TLS certificate as PEM, as an operator would give it with --ca.
func certPEM(s *source) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw}))
}

func asResponse(err error, re **client.ResponseError) bool { return errors.As(err, re) }
