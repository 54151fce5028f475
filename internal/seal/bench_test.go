package seal

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"testing"
	"time"
)

func BenchmarkEncrypt(b *testing.B) {
	br, _, _ := newTestBarrier(b, "ws")
	body := make([]byte, 2048)
	loc := Location{"ws", "object", "indicator--0b4d1f6e-0b4d-4b4d-8b4d-0b4d1f6e0b4d", "2026-01-01T00:00:00.000Z"}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.Encrypt(loc, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	br, _, _ := newTestBarrier(b, "ws")
	loc := Location{"ws", "object", "indicator--0b4d1f6e-0b4d-4b4d-8b4d-0b4d1f6e0b4d", "2026-01-01T00:00:00.000Z"}
	c, err := br.Encrypt(loc, make([]byte, 2048))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(2048)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.Decrypt(loc, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlainEncrypt is the baseline: what storing a copy costs without sealing.
func BenchmarkPlainEncrypt(b *testing.B) {
	body := make([]byte, 2048)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Plain{}).Encrypt(Location{}, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkToken(b *testing.B) {
	br, _, _ := newTestBarrier(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.Token("domain-name", "update.evil-cdn.example"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealATTACK seals every object of the ATT&CK Enterprise bundle, as an ingest does,
// and reports the time per ingest against the time merely to decode the bundle's JSON, a floor
// under the ingest's own cost.
func BenchmarkSealATTACK(b *testing.B) {
	f, err := os.Open("../demo/data/enterprise-attack-18.1.stix21.json.gz")
	if err != nil {
		b.Skipf("ATT&CK bundle not available: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var bundle struct {
		Objects []json.RawMessage `json:"objects"`
	}
	if err := json.NewDecoder(zr).Decode(&bundle); err != nil {
		b.Fatal(err)
	}
	type head struct {
		ID       string `json:"id"`
		Modified string `json:"modified"`
	}
	heads := make([]head, len(bundle.Objects))
	var total int64
	for i, o := range bundle.Objects {
		if err := json.Unmarshal(o, &heads[i]); err != nil {
			b.Fatal(err)
		}
		total += int64(len(o))
	}
	decode := time.Since(start)

	br, _, _ := newTestBarrier(b, "attack")
	b.SetBytes(total)
	b.ResetTimer()
	for b.Loop() {
		for i, o := range bundle.Objects {
			if _, err := br.Encrypt(Location{"attack", "object", heads[i].ID, heads[i].Modified}, o); err != nil {
				b.Fatal(err)
			}
		}
	}
	perIngest := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(len(bundle.Objects)), "objects/op")
	b.ReportMetric(float64(perIngest.Microseconds())/1000, "ms/ingest")
	b.ReportMetric(100*float64(perIngest)/float64(decode), "%-of-json-decode")
}
