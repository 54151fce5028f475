package export

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cshub/internal/export/record"
	"cshub/internal/hub"
)

// randomIndicators returns n indicators drawing their values from a pool small enough that
// values repeat across indicators and chunks, with the same value string under two types.
func randomIndicators(r *rand.Rand, n int) []*Indicator {
	pool := 1 + r.IntN(max(n, 1))
	types := []string{"ipv4-addr", "domain-name", "url"}
	inds := make([]*Indicator, n)
	for i := range inds {
		ind := &Indicator{Record: &record.Record{Object: record.Object{ID: fmt.Sprintf("indicator--%d", i)}, Name: "n"}}
		for range r.IntN(3) {
			ind.Values = append(ind.Values, Value{Type: types[r.IntN(len(types))], Value: "v" + strconv.Itoa(r.IntN(pool))})
		}
		inds[i] = ind
	}
	return inds
}

// TestWriteOrdered: the chunks, encoded concurrently, come out as one encode of everything.
func TestWriteOrdered(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 100 {
		n := r.IntN(20000)
		encode := func(b []byte, lo, hi int) []byte {
			for i := lo; i < hi; i++ {
				b = strconv.AppendInt(b, int64(i), 10)
				b = append(b, strings.Repeat("x", i%7)...)
			}
			return b
		}
		var got bytes.Buffer
		if err := writeOrdered(&got, n, encode); err != nil {
			t.Fatal(err)
		}
		if want := encode(nil, 0, n); !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("n=%d: %d bytes written; want the %d of one encode", n, got.Len(), len(want))
		}
	}
}

// TestDistinct compares distinct with one map kept in order, on values that repeat across
// indicators and chunk boundaries and share strings across types (equal hashes, unequal keys).
func TestDistinct(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 100 {
		inds := randomIndicators(r, r.IntN(5000))
		keep := func(v Value) bool { return v.Type != "url" }
		var want []ref
		seen := map[Value]bool{}
		for _, ind := range inds {
			for j, v := range ind.Values {
				if !seen[v] && keep(v) {
					seen[v] = true
					want = append(want, ref{ind, &ind.Values[j]})
				}
			}
		}
		if got := distinct(inds, keep); !slices.Equal(got, want) {
			t.Fatalf("%d indicators: %d values; want %d, the first of each in order", len(inds), len(got), len(want))
		}
	}
}

// TestFirstsCollide: keys whose strings, and so hashes, are all alike are still told apart.
func TestFirstsCollide(t *testing.T) {
	keys := []int{5, 3, 5, 1, 3, 3, 9, 1}
	got := firsts(len(keys), func(int) string { return "same" }, func(i, j int) bool { return keys[i] == keys[j] })
	if want := []bool{true, true, false, true, false, false, true, false}; !slices.Equal(got, want) {
		t.Errorf("firsts = %v; want %v", got, want)
	}
}

// TestDerivedSID: the hash taken piece by piece is FNV-1a of the whole key.
func TestDerivedSID(t *testing.T) {
	for _, ind := range randomIndicators(rand.New(rand.NewPCG(5, 6)), 200) {
		for j := range ind.Values {
			for p := range place(len(placeNames)) {
				r := rule{ind: ind, v: &ind.Values[j], place: p}
				h := fnv.New64a()
				h.Write([]byte(r.key()))
				if got, want := derivedSID(valueHash(r.ind, r.v), r.place), uint32(sidBase+h.Sum64()%sidSpan); got != want {
					t.Fatalf("derivedSID of %q = %d; want %d", r.key(), got, want)
				}
			}
		}
	}
}

// TestAssignSIDsCollide compares assignSIDs with one map of owners on rules whose derived sids
// collide often, next to each other and at the end of the range, where the next sid wraps.
func TestAssignSIDsCollide(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 100 {
		inds := randomIndicators(r, r.IntN(2000))
		var rules []rule
		for _, ind := range inds {
			for j := range ind.Values {
				sid := uint32(sidBase + r.IntN(len(inds)+1))
				if r.IntN(10) == 0 {
					sid = sidBase + sidSpan - 1 - uint32(r.IntN(3))
				}
				rules = append(rules, rule{ind: ind, v: &ind.Values[j], place: []place{placeIP, placeDNS}[r.IntN(2)], sid: sid})
			}
		}
		want := straightSIDs(rules)
		assignSIDs(rules)
		for i := range rules {
			if rules[i].sid != want[i] {
				t.Fatalf("%d rules: rule %d (%q) sid %d; want %d", len(rules), i, rules[i].key(), rules[i].sid, want[i])
			}
		}
	}
}

// straightSIDs is assignSIDs with one map, as it was written before it took shards.
func straightSIDs(rules []rule) []uint32 {
	sids := make([]uint32, len(rules))
	owner := map[uint32]int{}
	for i, r := range rules {
		sids[i] = r.sid
		if j, ok := owner[sids[i]]; !ok || r.key() < rules[j].key() {
			owner[sids[i]] = i
		}
	}
	var moved []int
	for i := range rules {
		if owner[sids[i]] != i {
			moved = append(moved, i)
		}
	}
	slices.SortFunc(moved, func(a, b int) int { return strings.Compare(rules[a].key(), rules[b].key()) })
	taken := map[uint32]bool{}
	for _, i := range moved {
		sid := sids[i]
		for {
			sid = sidBase + (sid-sidBase+1)%sidSpan
			if _, derived := owner[sid]; !derived && !taken[sid] {
				break
			}
		}
		taken[sid] = true
		sids[i] = sid
	}
	return sids
}

// csvFields are fields encoding/csv quotes, and some it does not.
var csvFields = []string{"a \"quoted\", name", "", " lead", "\u00a0nbsp", "\\.", "\\.x", "two\nlines", "cr\r", "\"", "caf\xc3", "plain"}

// TestChunkedWriters compares the writers that encode chunks concurrently with the same
// encoding written one indicator after another, as they were before they took chunks.
func TestChunkedWriters(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for range 100 {
		inds := randomIndicators(r, r.IntN(3000))
		for _, ind := range inds {
			ind.Workspace, ind.Confidence, ind.Sightings, ind.FalsePositives = "ws", r.IntN(102)-1, r.IntN(3), r.IntN(2)
			ind.TLP = hub.TLP(r.IntN(6))
			ind.Modified = time.Unix(r.Int64N(2e9)-1e9, r.Int64N(1e9))
			if r.IntN(2) == 0 {
				ind.ValidFrom, ind.Name = ind.Modified, csvFields[r.IntN(len(csvFields))]
			}
		}

		h := sha256.New()
		for _, ind := range inds {
			fmt.Fprintf(h, "%s\x00%d\x00%d\x00%d", ind.Key(), ind.Modified.UnixNano(), ind.Sightings, ind.FalsePositives)
			for _, v := range ind.Values {
				fmt.Fprintf(h, "\x00%s\x00%s\x00%s", v.Type, v.Hash, v.Value)
			}
			h.Write([]byte{'\n'})
		}
		if got, want := Fingerprint(inds), hex.EncodeToString(h.Sum(nil)); got != want {
			t.Fatalf("%d indicators: Fingerprint = %s; want %s", len(inds), got, want)
		}

		var want bytes.Buffer
		cw := csv.NewWriter(&want)
		cw.Write(csvHeader)
		for _, ind := range inds {
			for _, v := range ind.Values {
				conf := ""
				if ind.Confidence >= 0 {
					conf = strconv.Itoa(ind.Confidence)
				}
				cw.Write([]string{ind.ID, ind.Workspace, v.Type, v.Hash, v.Value, ind.TLP.String(), conf,
					stamp(ind.ValidFrom), stamp(ind.ValidUntil), strconv.Itoa(ind.Sightings), ind.Name})
			}
		}
		cw.Flush()
		var got bytes.Buffer
		w := bufio.NewWriter(&got)
		if err := writeCSV(w, inds, Meta{}); err != nil || w.Flush() != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("%d indicators: CSV of %d bytes; want the %d of one row after another", len(inds), got.Len(), want.Len())
		}
	}
}

// FuzzCSVField: a field appended in place is what encoding/csv writes for it.
func FuzzCSVField(f *testing.F) {
	for _, s := range csvFields {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want bytes.Buffer
		cw := csv.NewWriter(&want)
		cw.Write([]string{s})
		cw.Flush()
		if got := string(appendCSVField(nil, s)) + "\n"; got != want.String() {
			t.Fatalf("appendCSVField(%q) = %q; encoding/csv writes %q", s, got, want.String())
		}
	})
}
