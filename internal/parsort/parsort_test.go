package parsort

import (
	"cmp"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// TestSort: on one core to five, with parts carried to the next round of merging, Sort gives
// the order slices.SortFunc gives, equal keys included.
func TestSort(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 7))
	type item struct{ key, n int }
	byKey := func(a, b item) int { return cmp.Compare(a.key, b.key) }
	for _, procs := range []int{1, 2, 3, 5} {
		for _, n := range []int{0, 1, minPart - 1, 3*minPart + 7, 5*minPart + 1} {
			prev := runtime.GOMAXPROCS(procs)
			s := make([]item, n)
			for i := range s {
				s[i] = item{r.IntN(n/2 + 1), i}
			}
			want := slices.Clone(s)
			slices.SortStableFunc(want, byKey)
			got := Sort(slices.Clone(s), byKey)
			runtime.GOMAXPROCS(prev)
			if !slices.EqualFunc(got, want, func(a, b item) bool { return a.key == b.key }) {
				t.Errorf("%d cores, %d items: not sorted", procs, n)
			}
			slices.SortFunc(got, func(a, b item) int { return cmp.Compare(a.n, b.n) })
			if !slices.Equal(got, s) {
				t.Errorf("%d cores, %d items: items lost or repeated", procs, n)
			}
		}
	}
}

// TestMergeKeepsPartOrder: of equal items, those of the earlier part come first.
func TestMergeKeepsPartOrder(t *testing.T) {
	type item struct{ key, part int }
	parts := [][]item{{{1, 0}, {2, 0}}, {{1, 1}, {3, 1}}, {{1, 2}, {2, 2}}}
	got := Merge(parts, func(a, b item) int { return cmp.Compare(a.key, b.key) })
	want := []item{{1, 0}, {1, 1}, {1, 2}, {2, 0}, {2, 2}, {3, 1}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
