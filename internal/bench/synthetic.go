package bench

import (
	"encoding/hex"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"

	"cshub/internal/stix"
)

// SyntheticIndicators returns a STIX 2.1 bundle of n indicators that validate, for measuring
// ingest at sizes no real feed at hand has. The same n and seed give the same bytes. About 60% of
// the indicators match IPv4 addresses or CIDR blocks, 25% domain names and 15% SHA-256 file
// hashes; each has a name, a pattern, valid_from and a TLP 2.0 marking (CLEAR, GREEN, AMBER or
// AMBER+STRICT, never RED, which would need recipients). A negative n counts as 0.
func SyntheticIndicators(n int, seed uint64) []byte {
	n = max(n, 0)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, 0, 64+n*560)
	b = append(b, `{"type":"bundle","id":"bundle--`...)
	b = appendUUID(b, r)
	b = append(b, `","objects":[`...)
	epoch := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n"...)
		b = appendIndicator(b, r, epoch)
	}
	return append(b, "\n]}\n"...)
}

var syntheticMarkings = []string{stix.TLP2Clear, stix.TLP2Green, stix.TLP2Green, stix.TLP2Amber, stix.TLP2AmberStrict}

var syntheticTLDs = []string{"com", "net", "org", "info", "biz", "ru", "cn", "top", "xyz", "io"}

func appendIndicator(b []byte, r *rand.Rand, epoch time.Time) []byte {
	created := epoch.Add(time.Duration(r.Int64N(int64(365*24*time.Hour/time.Millisecond))) * time.Millisecond)
	ts := created.Format("2006-01-02T15:04:05.000Z")
	b = append(b, `{"type":"indicator","spec_version":"2.1","id":"indicator--`...)
	b = appendUUID(b, r)
	b = append(b, `","created":"`...)
	b = append(b, ts...)
	b = append(b, `","modified":"`...)
	b = append(b, ts...)
	b = append(b, `","name":"`...)
	kind, typ, value := syntheticValue(r)
	pattern := "[" + typ + ":value = '" + value + "']"
	if typ == "file" {
		pattern = "[file:hashes.'SHA-256' = '" + value + "']"
	}
	b = append(b, "Synthetic malicious "...)
	b = append(b, kind...)
	b = append(b, ' ')
	b = append(b, value...)
	b = append(b, `","indicator_types":["malicious-activity"],"pattern":"`...)
	b = append(b, pattern...)
	b = append(b, `","pattern_type":"stix","valid_from":"`...)
	b = append(b, ts...)
	b = append(b, `","confidence":`...)
	b = strconv.AppendInt(b, int64(r.IntN(101)), 10)
	b = append(b, `,"object_marking_refs":["`...)
	b = append(b, syntheticMarkings[r.IntN(len(syntheticMarkings))]...)
	return append(b, `"]}`...)
}

// syntheticValue draws one indicator value from r: about 60% IPv4 addresses or CIDR blocks, 25%
// domain names, 15% SHA-256 hashes. It returns what kind of value it is (address, network,
// domain, file), its STIX type, and the value.
func syntheticValue(r *rand.Rand) (kind, typ, value string) {
	switch p := r.IntN(100); {
	case p < 60:
		addr := netip.AddrFrom4([4]byte{byte(1 + r.IntN(222)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		if r.IntN(4) == 0 {
			return "network", "ipv4-addr", netip.PrefixFrom(addr, 16+r.IntN(15)).Masked().String()
		}
		return "address", "ipv4-addr", addr.String()
	case p < 85:
		return "domain", "domain-name", randomLabel(r, 5+r.IntN(12)) + "." + syntheticTLDs[r.IntN(len(syntheticTLDs))]
	}
	var h [32]byte
	for i := 0; i < len(h); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			h[i+j] = byte(v >> (8 * j))
		}
	}
	return "file", "file", hex.EncodeToString(h[:])
}

// appendUUID appends a random (version 4) UUID drawn from r.
func appendUUID(b []byte, r *rand.Rand) []byte {
	var u [16]byte
	hi, lo := r.Uint64(), r.Uint64()
	for i := range 8 {
		u[i] = byte(hi >> (56 - 8*i))
		u[8+i] = byte(lo >> (56 - 8*i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	s := hex.EncodeToString(u[:])
	b = append(b, s[0:8]...)
	b = append(b, '-')
	b = append(b, s[8:12]...)
	b = append(b, '-')
	b = append(b, s[12:16]...)
	b = append(b, '-')
	b = append(b, s[16:20]...)
	b = append(b, '-')
	return append(b, s[20:32]...)
}

func randomLabel(r *rand.Rand, n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	s := make([]byte, n)
	for i := range s {
		s[i] = letters[r.IntN(26)] // a letter first and mostly letters: a plausible name
		if i > 0 && r.IntN(5) == 0 {
			s[i] = letters[r.IntN(len(letters))]
		}
	}
	return string(s)
}
