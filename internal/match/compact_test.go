package match

import (
	"slices"
	"testing"
	"time"

	"cshub/internal/stix/pattern"
)

func TestCompact(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	x := build(t, func() time.Time { return now }, testPatterns...)
	if err := x.Add(100, pattern.Entry{Type: "domain-name", Path: "value", Value: "delta.example"}); err != nil {
		t.Fatal(err)
	}
	x.Remove(0)  // 198.51.100.7 (ref 16 keeps it)
	x.Remove(1)  // 203.0.113.0/24
	x.Remove(13) // the URL prefix
	x.SetValidUntil(15, now.Add(-time.Second))
	x.SetValidUntil(5, now.Add(time.Hour))
	queries := []Query{
		{"", "198.51.100.7"}, {"", "203.0.113.5"}, {"", "192.0.2.9"}, {"", "2001:db8:aa::1"},
		{"", "login.senate.group"}, {"", "http://files.example/dl/x"}, {"", "delta.example"},
		{"", "a.dyn.example"}, {"", "d41d8cd98f00b204e9800998ecf8427e"},
	}
	before := make([][]Hit, len(queries))
	for i, q := range queries {
		before[i] = sortHits(x.Lookup(q.Type, q.Value))
	}
	entries := x.Stats().ExactEntries
	if err := x.Compact(); err != nil {
		t.Fatal(err)
	}
	for i, q := range queries {
		if got := sortHits(x.Lookup(q.Type, q.Value)); !slices.Equal(got, before[i]) {
			t.Errorf("after Compact, Lookup(%q) = %v; want %v", q.Value, got, before[i])
		}
	}
	st := x.Stats()
	if st.ExactEntries != entries {
		// ref 0's slot is gone, the delta's slot has joined the base.
		t.Logf("exact entries %d -> %d", entries, st.ExactEntries)
	}
	if st.ExactEntries >= entries+1 || st.DeltaEntries != 0 {
		t.Errorf("after Compact: %+v; want fewer base entries than %d+1 and an empty delta", st, entries)
	}
	// A removed ref may be reused after compaction.
	if err := x.Add(1, pattern.Entry{Type: "domain-name", Path: "value", Value: "reused.example"}); err != nil {
		t.Fatal(err)
	}
	if got := x.Lookup("", "reused.example"); len(got) != 1 || got[0].Ref != 1 {
		t.Errorf("reused ref: %v; want ref 1", got)
	}
}
