package accesstest

import "fmt"

// Mismatch is a triple on which a read path disagreed with Expect.
type Mismatch struct {
	Triple
	Got bool // what the path did: true if it let the object out
}

// Leak reports whether the path let out what it should have withheld.
func (m Mismatch) Leak() bool { return m.Got }

// String describes m for a test failure message.
func (m Mismatch) String() string {
	o := m.Object
	what := "wrongly refused"
	if m.Got {
		what = "LEAKED"
	}
	return fmt.Sprintf("%s on %v to %s: %s %v in %s by %s, recipients %v", what, m.Path, m.Org,
		o.ID, o.TLP, o.Workspace, o.Author, o.Recipients)
}

// Compare asks ask about every triple of w, in order, and returns those on which the answer
// differs from Expect: leaks first if any. ask reports whether the path under test let the
// object out to the organisation (found it, listed it, counted it, sent it). The first error
// from ask stops the comparison and is returned with the mismatches found so far.
func (w *World) Compare(ask func(Triple) (bool, error)) (leaks, refusals []Mismatch, err error) {
	for _, tr := range w.Triples {
		got, err := ask(tr)
		if err != nil {
			return leaks, refusals, fmt.Errorf("accesstest: %v for %s, %s: %w", tr.Path, tr.Org, tr.Object.ID, err)
		}
		if want := w.Expect(tr.Org, tr.Object, tr.Path); got != want {
			m := Mismatch{Triple: tr, Got: got}
			if got {
				leaks = append(leaks, m)
			} else {
				refusals = append(refusals, m)
			}
		}
	}
	return leaks, refusals, nil
}
