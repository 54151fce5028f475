package feed_test

import (
	"testing"
	"time"

	"cshub/internal/export"
	"cshub/internal/feed"
	"cshub/internal/hub"
)

// FuzzParseCursor: ParseCursor never panics, refuses with EInvalid on "since", and what it
// accepts prints back to a cursor that parses to the same thing.
func FuzzParseCursor(f *testing.F) {
	c := feed.Cursor{Point: export.Point{Seq: 42, Time: time.Date(2026, 3, 1, 0, 0, 0, 5, time.UTC)}, Definition: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), View: 0xdeadbeef}
	for _, s := range []string{c.String(), "", "1.0.0.0.0", "2.1.1.1.1", "1.-1.0.0.0", "1.1.1.1.ffffffffff", "1.1.1.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := feed.ParseCursor(s)
		if err != nil {
			if hub.ErrorCode(err) != hub.EInvalid || hub.ErrorField(err) != "since" {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		again, err := feed.ParseCursor(c.String())
		if err != nil || again.Point.Seq != c.Point.Seq || !again.Point.Time.Equal(c.Point.Time) ||
			!again.Definition.Equal(c.Definition) || again.View != c.View {
			t.Fatalf("%q: printed as %q, read back as %+v, %v", s, c.String(), again, err)
		}
	})
}
