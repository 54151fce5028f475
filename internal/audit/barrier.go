package audit

import "cshub/internal/seal"

// Barrier adapts a seal.Barrier to Sealer. The two Location types have the same fields, so the
// audit log's details are sealed exactly where this package names them, under the hub's own key.
type Barrier struct{ B *seal.Barrier }

// Encrypt seals plaintext at loc.
func (s Barrier) Encrypt(loc Location, plaintext []byte) ([]byte, error) {
	return s.B.Encrypt(seal.Location(loc), plaintext)
}

// Decrypt opens ciphertext sealed at loc.
func (s Barrier) Decrypt(loc Location, ciphertext []byte) ([]byte, error) {
	return s.B.Decrypt(seal.Location(loc), ciphertext)
}
