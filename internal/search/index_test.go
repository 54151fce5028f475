package search

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"cshub/internal/hub"
)

func TestTokenize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // parts, and compounds marked with =
	}{
		{"Fancy Bear", []string{"fancy", "bear"}},
		{"login-ministry.example", []string{"login", "ministry", "example", "=login-ministry.example"}},
		{"from 192.0.2.55, then", []string{"from", "192", "0", "2", "55", "=192.0.2.55", "then"}},
		{"Équipe ÉLYSÉE straße", []string{"equipe", "elysee", "strasse"}},
		{"(APT28's)", []string{"apt28", "s"}},
		{"T1003.001.", []string{"t1003", "001", "=t1003.001"}},
		{"a -- b", []string{"a", "b"}},
		{"ﬁle ＡＰＴ", []string{"ﬁle", "ａｐｔ"}},
	} {
		var got []string
		tokenize(tc.in, 0, func(t token) {
			if t.compound {
				got = append(got, "="+t.text)
			} else {
				got = append(got, t.text)
			}
		})
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("tokenize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseQuery(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Query
	}{
		{"Fancy Bear", Query{Clauses: []Clause{{Kind: Term, Tokens: []string{"fancy"}}, {Kind: Term, Tokens: []string{"bear"}}}}},
		{`"fancy bear" -sofacy`, Query{Clauses: []Clause{{Kind: Phrase, Tokens: []string{"fancy", "bear"}}, {Kind: Term, Tokens: []string{"sofacy"}, Not: true}}}},
		{"lazag*", Query{Clauses: []Clause{{Kind: Prefix, Tokens: []string{"lazag"}}}}},
		{"192.0.2.55", Query{Clauses: []Clause{{Kind: Term, Tokens: []string{"192", "0", "2", "55"}, Whole: "192.0.2.55"}}}},
		{"type:indicator,report TLP:Amber author:CERT-NL label:\"Phishing Kit\" phase:credential-access",
			Query{Types: []string{"indicator", "report"}, TLPs: []hub.TLP{hub.TLPAmber}, Authors: []string{"cert-nl"},
				Labels: []string{"phishing kit"}, Phases: []string{"credential-access"}}},
		{"after:2024-01-01 before:2024-02-01T00:00:00Z", Query{After: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
			Before: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)}},
		{"seedworm after:90d", Query{Clauses: []Clause{{Kind: Term, Tokens: []string{"seedworm"}}}, AfterAgo: 90 * 24 * time.Hour}},
		{"domain-name:value c:\\windows", Query{Clauses: []Clause{
			{Kind: Term, Tokens: []string{"domain", "name", "value"}, Whole: "domain-name:value"},
			{Kind: Phrase, Tokens: []string{"c", "windows"}}}}}, // two joiners in a row break a compound
		{"APT28's", Query{Clauses: []Clause{{Kind: Phrase, Tokens: []string{"apt28", "s"}}}}},
		{`"" ?!`, Query{}},
	} {
		got, err := ParseQuery(tc.in)
		if err != nil {
			t.Errorf("ParseQuery(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseQuery(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	for _, in := range []string{`"unclosed`, "a*", "*", "tlp:purple", "after:yesterday", "type:", "-type:x",
		"label:\"open", "after:1d after:2d", "ab*c*", strings.Repeat("a ", 40), strings.Repeat("x", 2000), "\xff"} {
		_, err := ParseQuery(in)
		if hub.ErrorCode(err) != hub.EInvalid || hub.ErrorField(err) != "q" || hub.ErrorMessage(err) == "" {
			t.Errorf("ParseQuery(%q) error = %v, want EInvalid on field q with a reason", in, err)
		}
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"Fancy Bear", `"fancy bear" -x`, "lazag*", "type:report lazagne", "tlp:amber+strict",
		"after:90d before:2024-01-01", `label:"a b"`, "192.0.2.55 login-ministry.example", `"`, "a*", "Équipe*", "-\"x y\""} {
		f.Add(s)
	}
	x := New()
	x.Add(&hub.Object{Seq: 1, ID: "tool--1", Workspace: "w", TLP: hub.TLPGreen, Body: []byte(`{"name":"LaZagne","description":"a b c"}`)})
	f.Fuzz(func(t *testing.T, q string) {
		parsed, err := ParseQuery(q)
		if err != nil {
			if hub.ErrorCode(err) != hub.EInvalid || hub.ErrorField(err) != "q" {
				t.Fatalf("ParseQuery(%q) = %v, want an EInvalid error on q", q, err)
			}
			return
		}
		for _, c := range parsed.Clauses {
			if len(c.Tokens) == 0 || (c.Kind == Prefix && len(c.Tokens[0]) < minPrefixLen) {
				t.Fatalf("ParseQuery(%q): bad clause %+v", q, c)
			}
		}
		if _, err := x.Search(context.Background(), hub.Viewer{Workspaces: []string{"w"}}, q, 5, ""); err != nil {
			t.Fatalf("Search(%q) after a good parse: %v", q, err)
		}
	})
}

func obj(seq int64, id, ws string, tlp hub.TLP, modified time.Time, body string) *hub.Object {
	typ, _, _ := strings.Cut(id, "--")
	return &hub.Object{Seq: seq, ID: id, Type: typ, Workspace: ws, Author: "cert-fr", TLP: tlp, Modified: modified, Body: []byte(body)}
}

func ids(res *Result) []string {
	var s []string
	for _, h := range res.Hits {
		s = append(s, h.ID)
	}
	return s
}

func TestAddReplaceRemove(t *testing.T) {
	ctx := context.Background()
	v := hub.Viewer{Org: "cert-fr", Workspaces: []string{"w"}}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	x := New()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	search := func(q string) []string {
		t.Helper()
		res, err := x.Search(ctx, v, q, 10, "")
		must(err)
		return ids(res)
	}
	must(x.Add(obj(1, "malware--1", "w", hub.TLPGreen, t0, `{"name":"OldName","description":"first"}`)))
	must(x.Add(obj(2, "malware--1", "w", hub.TLPGreen, t0.Add(time.Hour), `{"name":"NewName","description":"second"}`)))
	must(x.Add(obj(3, "malware--1", "w", hub.TLPGreen, t0.Add(-time.Hour), `{"name":"Ancient"}`))) // older: ignored
	if got := search("oldname"); len(got) != 0 {
		t.Errorf("old version still found: %v", got)
	}
	if got := search("ancient"); len(got) != 0 {
		t.Errorf("older version replaced the newer: %v", got)
	}
	if got := search("newname"); !reflect.DeepEqual(got, []string{"malware--1"}) {
		t.Errorf("search(newname) = %v", got)
	}
	if got := x.Len(); got != 1 {
		t.Errorf("Len() = %d, want 1", got)
	}
	x.Remove("w", "malware--1")
	x.Remove("w", "malware--404")
	if got := search("newname"); len(got) != 0 {
		t.Errorf("removed object found: %v", got)
	}
	must(x.Add(obj(5, "malware--3", "w", hub.TLPGreen, t0, `{"name":"Gone"}`)))
	must(x.Add(obj(6, "malware--3", "w2", hub.TLPGreen, t0, `{"name":"Gone"}`)))
	x.RemoveWorkspace("w")
	if got := search("gone"); len(got) != 0 {
		t.Errorf("object of a removed workspace found: %v", got)
	}
	if got := x.Len(); got != 1 {
		t.Errorf("Len() after RemoveWorkspace = %d, want 1 (the copy in w2)", got)
	}
	if err := x.Add(obj(4, "malware--2", "w", hub.TLPGreen, t0, `not json`)); hub.ErrorCode(err) != hub.EInvalid {
		t.Errorf("Add(not json) = %v, want EInvalid", err)
	}
}

func TestPagesAndCursor(t *testing.T) {
	ctx := context.Background()
	x := New()
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 95 {
		// Equal scores for many: the Seq breaks ties, so pages neither repeat nor skip.
		body := fmt.Sprintf(`{"name":"beacon %d","description":"%s"}`, i, strings.Repeat("beacon ", i%3+1))
		if err := x.Add(obj(int64(i+1), fmt.Sprintf("indicator--%03d", i), "w", hub.TLPAmber, t0, body)); err != nil {
			t.Fatal(err)
		}
	}
	v := hub.Viewer{Org: "cert-fr", Workspaces: []string{"w"}}
	seen := map[string]bool{}
	cursor := ""
	var last *Hit
	for page := 0; ; page++ {
		res, err := x.Search(ctx, v, "beacon", 10, cursor)
		if err != nil {
			t.Fatal(err)
		}
		if res.Total != 95 {
			t.Fatalf("Total = %d, want 95", res.Total)
		}
		for i := range res.Hits {
			h := &res.Hits[i]
			if seen[h.ID] {
				t.Fatalf("%s on two pages", h.ID)
			}
			seen[h.ID] = true
			if last != nil && (h.Score > last.Score || h.Score == last.Score && h.Seq > last.Seq) {
				t.Fatalf("page %d: %s (%v, %d) ranks after %s (%v, %d)", page, h.ID, h.Score, h.Seq, last.ID, last.Score, last.Seq)
			}
			last = h
		}
		if res.Next == "" {
			if len(res.Hits) != 5 {
				t.Errorf("last page has %d hits, want 5", len(res.Hits))
			}
			break
		}
		if len(res.Hits) != 10 {
			t.Fatalf("page %d has %d hits, want 10", page, len(res.Hits))
		}
		cursor = res.Next
	}
	if len(seen) != 95 {
		t.Errorf("paged through %d objects, want 95", len(seen))
	}
	for _, tc := range []struct {
		limit            int
		cursor, q, field string
	}{
		{-1, "", "beacon", "limit"}, {MaxLimit + 1, "", "beacon", "limit"}, {10, "garbage!", "beacon", "cursor"},
		{10, encodeCursor(rank{1, 2}, "other"), "beacon", "cursor"}, {10, "", `"open`, "q"},
	} {
		_, err := x.Search(ctx, v, tc.q, tc.limit, tc.cursor)
		if hub.ErrorCode(err) != hub.EInvalid || hub.ErrorField(err) != tc.field {
			t.Errorf("Search(%q, %d, %q) = %v, want EInvalid on %s", tc.q, tc.limit, tc.cursor, err, tc.field)
		}
	}
}

func TestHighlights(t *testing.T) {
	ctx := context.Background()
	x := New()
	long := strings.Repeat("filler words here ", 20) + "the group «quoted» known as Fancy Bear used login-ministry.example and 192.0.2.55 " + strings.Repeat("more text ", 30)
	body := fmt.Sprintf(`{"name":"APT28","aliases":["APT28","Fancy Bear","Sofacy"],"description":%q,"pattern":"[url:value = 'http://192.0.2.55/x']"}`, long)
	if err := x.Add(obj(1, "intrusion-set--1", "w", hub.TLPClear, time.Time{}, body)); err != nil {
		t.Fatal(err)
	}
	v := hub.Viewer{Workspaces: []string{"w"}}
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"fancy bear", []string{"«Fancy Bear»", "…words here filler words here the group ‹quoted› known as «Fancy Bear» used login-ministry.example and 192.0.2.55 more text more text more text more text more text more text more text more text more…"}},
		{"login-ministry.example", []string{"…words here the group ‹quoted› known as Fancy Bear used «login-ministry.example» and 192.0.2.55 more text more text more text more text more text more text more text more text more text more text more…"}},
		{"192.0.2.55", []string{"http://«192.0.2.55»/x", "…known as Fancy Bear used login-ministry.example and «192.0.2.55» more text more text more text more text more text more text more text more text more text more text more text more text more text more…"}},
		{"sofa*", []string{"«Sofacy»"}},
	} {
		res, err := x.Search(ctx, v, tc.q, 1, "")
		if err != nil || len(res.Hits) != 1 {
			t.Fatalf("Search(%q) = %v, %v", tc.q, res, err)
		}
		if got := res.Hits[0].Highlights; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Search(%q) highlights\n got %q\nwant %q", tc.q, got, tc.want)
		}
	}
}

func TestCompact(t *testing.T) {
	ctx := context.Background()
	x := New()
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	v := hub.Viewer{Org: "cert-fr", Workspaces: []string{"w"}}
	for i := range 30 {
		o := obj(int64(i+1), fmt.Sprintf("report--%02d", i%10), "w", hub.TLPRed, t0.Add(time.Duration(i)*time.Hour),
			fmt.Sprintf(`{"name":"round %d","description":"shared text","labels":["l%d"]}`, i/10, i%2))
		o.Recipients = []string{"cert-be"}
		if err := x.Add(o); err != nil {
			t.Fatal(err)
		}
	}
	x.Remove("w", "report--09")
	before := map[string][]string{}
	queries := []string{"shared", "round 2", `"round 2"`, "label:l1", "round 0", "rou*"}
	for _, q := range queries {
		res, err := x.Search(ctx, v, q, 50, "")
		if err != nil {
			t.Fatal(err)
		}
		before[q] = ids(res)
	}
	if got := x.Dead(); got != 21 {
		t.Errorf("Dead() = %d, want 21", got)
	}
	x.Compact()
	if got, n := x.Dead(), x.Len(); got != 0 || n != 9 {
		t.Errorf("after Compact: Dead() = %d, Len() = %d, want 0 and 9", got, n)
	}
	for _, q := range queries {
		res, err := x.Search(ctx, v, q, 50, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(res); !reflect.DeepEqual(got, before[q]) {
			t.Errorf("after Compact, Search(%q) = %v, want %v", q, got, before[q])
		}
	}
	// Still current: a new version replaces the compacted one.
	if err := x.Add(obj(99, "report--01", "w", hub.TLPRed, t0.Add(99*time.Hour), `{"name":"round 9"}`)); err != nil {
		t.Fatal(err)
	}
	res, _ := x.Search(ctx, v, "round", 50, "")
	if res.Total != 9 {
		t.Errorf("Total after replacing = %d, want 9", res.Total)
	}
}

// TestConcurrentUse adds, replaces and removes objects while searches run, for the race
// detector, and checks that no search ever sees a page cut short.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	x := New()
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	v := hub.Viewer{Org: "cert-fr", Workspaces: []string{"w"}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 600 {
			id := fmt.Sprintf("malware--%03d", i%200)
			if err := x.Add(obj(int64(i+1), id, "w", hub.TLPGreen, t0.Add(time.Duration(i)*time.Minute),
				fmt.Sprintf(`{"name":"family %d","description":"loader number %d"}`, i, i))); err != nil {
				t.Error(err)
				return
			}
			if i%50 == 49 {
				x.Remove("w", id)
			}
			if i == 400 {
				x.Compact()
			}
		}
	}()
	for {
		select {
		case <-done:
			return
		default:
		}
		res, err := x.Search(ctx, v, "loader fam*", 10, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Hits) != min(10, res.Total) {
			t.Fatalf("%d hits of %d", len(res.Hits), res.Total)
		}
	}
}

func TestFilters(t *testing.T) {
	ctx := context.Background()
	x := New()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	x.now = func() time.Time { return now }
	add := func(seq int64, id, author string, tlp hub.TLP, age time.Duration, body string) {
		t.Helper()
		o := obj(seq, id, "community", tlp, now.Add(-age), body)
		o.Author = author
		if err := x.Add(o); err != nil {
			t.Fatal(err)
		}
	}
	day := 24 * time.Hour
	add(1, "indicator--1", "cert-nl", hub.TLPAmber, 10*day, `{"name":"seedworm c2","labels":["c2"]}`)
	add(2, "indicator--2", "cert-nl", hub.TLPGreen, 100*day, `{"name":"seedworm old","labels":["Phishing Kit"]}`)
	add(3, "report--3", "cert-fr", hub.TLPAmber, 5*day, `{"name":"seedworm report","kill_chain_phases":[{"kill_chain_name":"x","phase_name":"Initial-Access"}]}`)
	add(4, "indicator--4", "cert-fr", hub.TLPAmber, 400*day, `{"name":"other"}`)
	v := hub.Viewer{Org: "cert-fr", Workspaces: []string{"community"}}
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"seedworm after:90d", []string{"indicator--1", "report--3"}},
		{"seedworm before:90d", []string{"indicator--2"}},
		{"after:2026-05-25", []string{"report--3"}},
		{"type:indicator author:cert-nl tlp:amber", []string{"indicator--1"}},
		{"type:indicator,report author:CERT-FR", []string{"report--3", "indicator--4"}},
		{`label:"phishing kit"`, []string{"indicator--2"}},
		{"label:c2,phishing-kit", []string{"indicator--1"}},
		{"phase:initial-access", []string{"report--3"}},
		{"workspace:community tlp:red", nil},
		{"type:nothing", nil},
	} {
		res, err := x.Search(ctx, v, tc.q, 10, "")
		if err != nil {
			t.Fatalf("Search(%q): %v", tc.q, err)
		}
		got := ids(res)
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) || res.Total != len(want) {
			t.Errorf("Search(%q) = %v (total %d), want %v", tc.q, got, res.Total, want)
		}
	}
}
