package stix

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const attackBundle = "../demo/data/enterprise-attack-18.1.stix21.json.gz"

// readGzip returns the decompressed content of a gzip file, skipping the test when it is absent.
func readGzip(tb testing.TB, path string) []byte {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Skipf("ATT&CK bundle not available: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestAttackBundleValid(t *testing.T) {
	data := readGzip(t, attackBundle)
	br := NewBundleReader(bytes.NewReader(data))
	n, upgraded := 0, 0
	types := map[string]int{}
	for {
		raw, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d objects: %v", n, err)
		}
		m, body, err := Validate(raw)
		if err != nil {
			t.Errorf("object %d: %v", n, err)
			continue
		}
		if m.Upgraded || !bytes.Equal(body, raw) {
			upgraded++
		}
		types[m.Type]++
		n++
	}
	if got, want := n, 24771; got != want {
		t.Errorf("objects: got %d, want %d", got, want)
	}
	if upgraded != 0 {
		t.Errorf("%d objects of a 2.1 bundle were upgraded", upgraded)
	}
	if got, want := types["relationship"], 20048; got != want {
		t.Errorf("relationships: got %d, want %d", got, want)
	}
}

func BenchmarkValidateAttack(b *testing.B) {
	data := readGzip(b, attackBundle)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	objects := 0
	cpu0 := cpuTime()
	for b.Loop() {
		br := NewBundleReader(bytes.NewReader(data))
		for {
			raw, err := br.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := Validate(raw); err != nil {
				b.Fatal(err)
			}
			objects++
		}
	}
	b.ReportMetric(float64(objects)/b.Elapsed().Seconds(), "objects/s")
	// The machine may be shared: objects per second of this process's CPU time (all threads,
	// GC included) shows the cost independently of the load.
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(objects)/cpu.Seconds(), "objects/cpu-s")
	}
}
