package gather

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchText returns about 1 MB of report text: the preview paragraph over and over, each copy
// with addresses and domains of its own so that the warninglist lookups are not all the same.
func benchText(b *testing.B) string {
	para, err := os.ReadFile(filepath.Join("testdata", "preview.txt"))
	if err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	for i := 0; sb.Len() < 1<<20; i++ {
		sb.Write(para)
		fmt.Fprintf(&sb, "Beacons went to 198.51.%d.%d and c2-%d.example[.]net.\n\n", i%256, i/256%256, i)
	}
	return sb.String()
}

// BenchmarkPreview measures the preview of 1 MB of text (extraction, warninglist lookups and
// the candidates) beside extraction alone, its baseline, on the same text and dictionary.
func BenchmarkPreview(b *testing.B) {
	s := New(nil, nil)
	d, err := s.dictionary()
	if err != nil {
		b.Fatal(err)
	}
	text := benchText(b)
	b.Run("extract", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			d.Extract(text)
		}
	})
	b.Run("preview", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			if _, err := s.Preview(context.Background(), "", text); err != nil {
				b.Fatal(err)
			}
		}
	})
}
