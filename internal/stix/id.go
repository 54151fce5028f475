package stix

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
)

// NewUUID returns a random (version 4) UUID in its canonical text form, as STIX identifiers
// carry it.
func NewUUID() string {
	var u [16]byte
	rand.Read(u[:]) // crypto/rand.Read never returns an error; it crashes the program instead
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return FormatUUID(u)
}

// FormatUUID writes u in the canonical 8-4-4-4-12 form of lower-case hex digits.
func FormatUUID(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// NewID returns a new STIX identifier of type typ, such as "sighting--<random UUID>".
func NewID(typ string) string { return typ + "--" + NewUUID() }

// Bundle wraps objects (each a whole STIX object in JSON) in a bundle with a new id: the form in
// which package kb ingests them.
func Bundle(objs ...json.RawMessage) []byte {
	n := 96
	for _, o := range objs {
		n += len(o) + 1
	}
	b := bytes.NewBuffer(make([]byte, 0, n))
	b.WriteString(`{"type":"bundle","id":"` + NewID("bundle") + `","objects":[`)
	for i, o := range objs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(o)
	}
	b.WriteString("]}")
	return b.Bytes()
}
