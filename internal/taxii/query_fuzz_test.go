package taxii

import (
	"strings"
	"testing"
	"time"

	"cshub/internal/taxii/client"
)

// FuzzClientQuery: whatever selection the client sends (match[type], match[id], match[version],
// added_after, limit, next), the server reads back as sent: the two ends of the protocol agree
// on the parameters.
func FuzzClientQuery(f *testing.F) {
	f.Add(int64(0), 0, int64(0), "indicator,malware", "first")
	f.Add(int64(1700000000123456789), 50, int64(42), "x-custom", "2024-01-01T00:00:00.5Z")
	f.Fuzz(func(t *testing.T, nanos int64, limit int, seq int64, types, version string) {
		q := client.Query{Limit: limit, Types: list([]string{types}), Versions: list([]string{version})}
		if nanos > 0 {
			q.AddedAfter = time.Unix(0, nanos)
		}
		if seq >= 0 {
			q.Next = encodeCursor(seq)
		}
		got, err := parseQuery(q.Values())
		if err != nil {
			if len(q.Versions) > 0 && strings.Contains(err.Error(), "match[version]") {
				return // an arbitrary string is not a version; the server must say so
			}
			t.Fatalf("%v: %v", q.Values(), err)
		}
		wantLimit := DefaultLimit
		if limit > 0 {
			wantLimit = min(limit, MaxLimit)
		}
		if got.limit != wantLimit || (seq >= 0 && got.afterSeq != seq) || strings.Join(got.types, ",") != strings.Join(q.Types, ",") {
			t.Fatalf("%v read as limit %d after %d types %v", q.Values(), got.limit, got.afterSeq, got.types)
		}
		if nanos > 0 && !got.addedAfter.After(q.AddedAfter.Truncate(time.Microsecond)) {
			t.Fatalf("added_after %v read as %v", q.AddedAfter, got.addedAfter)
		}
	})
}
