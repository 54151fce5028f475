// Package parsort sorts the large slices of an export on every core. An export sorts a
// million items, and a sort on one core took a third as long as the work that produced them.
package parsort

import (
	"runtime"
	"slices"
	"sync"

	"cshub/internal/prefault"
)

// minPart is the fewest items worth a goroutine of their own.
const minPart = 4096

// Parts returns how many parts of n items to sort apart: one per core, each of at least
// minPart items, at least one.
func Parts(n int) int {
	return min(runtime.GOMAXPROCS(0), max(n/minPart, 1))
}

// Sort sorts s by cmp on every core: Parts(len(s)) consecutive parts are sorted alone, then
// merged. It returns the sorted items, in s itself or in a new slice; the order of items cmp
// finds equal is unspecified, as with slices.SortFunc.
func Sort[T any](s []T, cmp func(a, b T) int) []T {
	parts := make([][]T, Parts(len(s)))
	var wg sync.WaitGroup
	for i := range parts {
		parts[i] = s[i*len(s)/len(parts) : (i+1)*len(s)/len(parts)]
		wg.Go(func() { slices.SortFunc(parts[i], cmp) })
	}
	wg.Wait()
	return Merge(parts, cmp)
}

// Merge returns the items of parts, each sorted by cmp, as one sorted slice: parts[0] itself
// when there is one part, a new slice otherwise. Of items cmp finds equal, those of an earlier
// part come first.
func Merge[T any](parts [][]T, cmp func(a, b T) int) []T {
	if len(parts) == 0 {
		return nil
	}
	for len(parts) > 1 {
		merged := parts[:0]
		for i := 0; i < len(parts); i += 2 {
			if i+1 == len(parts) {
				merged = append(merged, parts[i])
			} else {
				merged = append(merged, merge(parts[i], parts[i+1], cmp))
			}
		}
		parts = merged
	}
	return parts[0]
}

func merge[T any](a, b []T, cmp func(a, b T) int) []T {
	out := make([]T, 0, len(a)+len(b))
	prefault.Slice(out)
	for len(a) > 0 && len(b) > 0 {
		if cmp(b[0], a[0]) < 0 {
			out, b = append(out, b[0]), b[1:]
		} else {
			out, a = append(out, a[0]), a[1:]
		}
	}
	return append(append(out, a...), b...)
}
