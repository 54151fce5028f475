package extract

import (
	"strings"
	"testing"
	"time"
)

// TestLinearTime guards against quadratic corners of the scanners: each text is 64 KB of one
// repeated unit, which takes milliseconds when scanning is linear and minutes when it is not.
func TestLinearTime(t *testing.T) {
	d := dict(t)
	for _, unit := range []string{
		"http://", "http://a.com/((((", "http://a.com/)))", "[.]", "a.", "1.", ":", "a:", "a/",
		"A/1/", "x@", "a [.] ", "dot ", "a dot ", "hxxp://", "://", "Fancy Bear ", "ab.com",
		"x(at)", "a@a.", "1.1.1.1/", "S/RES/1 (2017) ", "x [at] ", "a.com:", "::1:", "-", "T1059.",
	} {
		text := strings.Repeat(unit, (64<<10)/len(unit))
		start := time.Now()
		ents := d.Extract(text)
		if el := time.Since(start); el > 3*time.Second && !raceEnabled {
			t.Errorf("%q repeated %d times: %v", unit, len(text)/len(unit), el)
		}
		checkEntities(t, text, ents)
	}
}
