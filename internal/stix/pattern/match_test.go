package pattern

import (
	"encoding/json"
	"testing"
	"time"
)

// obs builds an observation from SCOs written as JSON, observed once at
// minute min past 2024-01-01T00:00:00Z.
func obs(t *testing.T, min int, scos ...string) Observation {
	t.Helper()
	var list []map[string]any
	for _, s := range scos {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("bad SCO %s: %v", s, err)
		}
		list = append(list, m)
	}
	at := time.Date(2024, 1, 1, 0, min, 0, 0, time.UTC)
	return NewObservation(list, at, at, 1)
}

func TestMatch(t *testing.T) {
	file := `{"type":"file","id":"file--1","name":"foo.dll","size":371712,
		"hashes":{"SHA-256":"aec0","MD5":"cead"},"parent_directory_ref":"directory--1",
		"created":"2014-01-13T07:03:17Z","magic_number_hex":"ffd8",
		"extensions":{"windows-pebinary-ext":{"sections":[{"entropy":3.5},{"entropy":7.2}]}}}`
	dir := `{"type":"directory","id":"directory--1","path":"C:\\Windows\\System32"}`
	ip := func(id, v string) string { return `{"type":"ipv4-addr","id":"` + id + `","value":"` + v + `"}` }
	ip6 := `{"type":"ipv6-addr","id":"ipv6-addr--1","value":"2001:db8:dead:beef::1"}`
	traffic := `{"type":"network-traffic","id":"network-traffic--1","dst_ref":"ipv4-addr--1","protocols":["tcp","http"]}`
	traffic6 := `{"type":"network-traffic","id":"network-traffic--2","dst_ref":"ipv6-addr--1"}`
	domain := `{"type":"domain-name","id":"domain-name--1","value":"www.5z8.info","resolves_to_refs":["ipv4-addr--2","ipv4-addr--1"]}`
	email := `{"type":"email-message","id":"email-message--1","from_ref":"email-addr--1","subject":"Conference Info",
		"body_multipart":[{"body":"hi"},{"body_raw_ref":"file--2"}]}`
	from := `{"type":"email-addr","id":"email-addr--1","value":"mallory@example.com"}`
	attach := `{"type":"file","id":"file--2","name":"Final Report 2024.exe"}`
	artifact := `{"type":"artifact","id":"artifact--1","mime_type":"application/vnd.tcpdump.pcap","payload_bin":"1MOyoQIABAA="}`
	proc := func(cmd string) string { return `{"type":"process","id":"process--1","command_line":"` + cmd + `"}` }

	one := func(min int, scos ...string) []Observation { return []Observation{obs(t, min, scos...)} }
	for _, tc := range []struct {
		name    string
		pattern string
		obs     []Observation
		want    bool
	}{
		{"hash equal", "[file:hashes.'SHA-256' = 'aec0']", one(0, file), true},
		{"hash differs", "[file:hashes.'SHA-256' = 'ffff']", one(0, file), false},
		{"wrong type", "[process:name = 'foo.dll']", one(0, file), false},
		{"AND on one object", "[file:name = 'foo.dll' AND file:size = 371712]", one(0, file), true},
		{"AND needs the same object", "[file:name = 'foo.dll' AND file:name = 'Final Report 2024.exe']", one(0, file, attach), false},
		{"OR across types", "[process:name = 'x' OR file:name = 'foo.dll']", one(0, file), true},
		{"string number as in spec", "[(file:name = 'pdf.exe' OR file:size = '371712') AND file:created = t'2014-01-13T07:03:17Z']", one(0, file), true},
		{"follow _ref", "[file:name = 'foo.dll' AND file:parent_directory_ref.path = 'C:\\\\Windows\\\\System32']", one(0, file, dir), true},
		{"_ref target absent", "[file:parent_directory_ref.path = 'C:\\\\Windows\\\\System32']", one(0, file), false},
		{"list any element", "[file:extensions.'windows-pebinary-ext'.sections[*].entropy > 7.0]", one(0, file), true},
		{"list index", "[file:extensions.'windows-pebinary-ext'.sections[0].entropy > 7.0]", one(0, file), false},
		{"_refs with [*]", "[domain-name:value = 'www.5z8.info' AND domain-name:resolves_to_refs[*].value = '198.51.100.1/32']",
			one(0, domain, ip("ipv4-addr--1", "198.51.100.1"), ip("ipv4-addr--2", "10.0.0.1")), true},
		{"ref and CIDR equality", "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '203.0.113.33/32']",
			one(0, traffic, ip("ipv4-addr--1", "203.0.113.33")), true},
		{"ISSUBSET v6 through ref", "[network-traffic:dst_ref.value ISSUBSET '2001:0db8:dead:beef:0000:0000:0000:0000/64']", one(0, traffic6, ip6), true},
		{"ISSUBSET outside", "[ipv4-addr:value ISSUBSET '10.0.0.0/8']", one(0, ip("ipv4-addr--1", "11.0.0.1")), false},
		{"ISSUBSET block inside", "[ipv4-addr:value ISSUBSET '10.0.0.0/8']", one(0, ip("ipv4-addr--1", "10.1.0.0/16")), true},
		{"ISSUPERSET", "[ipv4-addr:value ISSUPERSET '10.1.2.3']", one(0, ip("ipv4-addr--1", "10.1.0.0/16")), true},
		{"ISSUPERSET family mismatch", "[ipv4-addr:value ISSUPERSET '2001:db8::1']", one(0, ip("ipv4-addr--1", "10.1.0.0/16")), false},
		{"MATCHES through refs", "[email-message:from_ref.value MATCHES '.+\\\\@example\\\\.com$' AND email-message:body_multipart[*].body_raw_ref.name MATCHES '^Final Report.+\\\\.exe$']",
			one(0, email, from, attach), true},
		{"MATCHES on binary bytes", "[artifact:mime_type = 'application/vnd.tcpdump.pcap' AND artifact:payload_bin MATCHES '\\\\xd4\\\\xc3\\\\xb2\\\\xa1\\\\x02\\\\x00\\\\x04\\\\x00']",
			one(0, artifact), true},
		{"hex equality", "[file:magic_number_hex = h'ffd8']", one(0, file), true},
		{"LIKE %", "[email-addr:value LIKE '%@example.com']", one(0, from), true},
		{"LIKE _", "[email-addr:value LIKE 'mallor_@example.co_']", one(0, from), true},
		{"LIKE no match", "[email-addr:value LIKE 'mallory@%.org']", one(0, from), false},
		{"IN", "[network-traffic:protocols[*] IN ('udp', 'http')]", one(0, traffic), true},
		{"NOT IN", "[email-addr:value NOT IN ('a@b.c', 'mallory@example.com')]", one(0, from), false},
		{"!= true", "[file:name != 'bar.dll']", one(0, file), true},
		{"NOT = absent property stays false", "[file:mime_type NOT = 'x']", one(0, file), false},
		{"type mismatch is false both ways", "[file:size NOT = 'abc']", one(0, file), false},
		{"EXISTS", "[EXISTS file:hashes.MD5]", one(0, file), true},
		{"EXISTS absent", "[EXISTS file:hashes.'SHA-1']", one(0, file), false},
		{"observation AND needs two observations", "[file:name = 'foo.dll'] AND [email-addr:value = 'mallory@example.com']",
			[]Observation{obs(t, 0, file), obs(t, 1, from)}, true},
		{"observation AND same observation not reused", "[file:name = 'foo.dll'] AND [file:size = 371712]", one(0, file), false},
		{"observation OR", "[file:name = 'nope'] OR [email-addr:value = 'mallory@example.com']", one(0, from), true},
		{"FOLLOWEDBY in order", "[file:name = 'foo.dll'] FOLLOWEDBY [process:command_line = 'x']",
			[]Observation{obs(t, 0, file), obs(t, 3, proc("x"))}, true},
		{"FOLLOWEDBY out of order", "[file:name = 'foo.dll'] FOLLOWEDBY [process:command_line = 'x']",
			[]Observation{obs(t, 5, file), obs(t, 3, proc("x"))}, false},
		{"WITHIN met", "([file:name = 'foo.dll'] FOLLOWEDBY [process:command_line = 'x']) WITHIN 300 SECONDS",
			[]Observation{obs(t, 0, file), obs(t, 5, proc("x"))}, true},
		{"WITHIN missed", "([file:name = 'foo.dll'] FOLLOWEDBY [process:command_line = 'x']) WITHIN 300 SECONDS",
			[]Observation{obs(t, 0, file), obs(t, 6, proc("x"))}, false},
		{"REPEATS met", "[domain-name:value = 'www.5z8.info'] REPEATS 3 TIMES",
			[]Observation{obs(t, 0, domain), obs(t, 1, domain), obs(t, 2, domain)}, true},
		{"REPEATS short", "[domain-name:value = 'www.5z8.info'] REPEATS 3 TIMES",
			[]Observation{obs(t, 0, domain), obs(t, 1, domain)}, false},
		{"REPEATS WITHIN picks the tight group", "[domain-name:value = 'www.5z8.info'] REPEATS 2 TIMES WITHIN 120 SECONDS",
			[]Observation{obs(t, 0, domain), obs(t, 10, domain), obs(t, 11, domain)}, true},
		{"REPEATS WITHIN too spread", "[domain-name:value = 'www.5z8.info'] REPEATS 2 TIMES WITHIN 120 SECONDS",
			[]Observation{obs(t, 0, domain), obs(t, 10, domain), obs(t, 20, domain)}, false},
		{"REPEATS counts number_observed", "[domain-name:value = 'www.5z8.info'] REPEATS 5 TIMES",
			func() []Observation { o := obs(t, 0, domain); o.NumberObserved = 5; return []Observation{o} }(), true},
		{"START/STOP inside", "[file:name = 'foo.dll'] START t'2024-01-01T00:00:00Z' STOP t'2024-01-01T01:00:00Z'", one(30, file), true},
		{"START/STOP stop exclusive", "[file:name = 'foo.dll'] START t'2023-12-31T23:00:00Z' STOP t'2024-01-01T00:00:00Z'", one(0, file), false},
		{"spec example 22", "([file:name = 'foo.dll'] AND [win-registry-key:key = 'HKEY_LOCAL_MACHINE\\\\foo\\\\bar']) OR [process:name = 'fooproc' OR process:name = 'procfoo']",
			[]Observation{obs(t, 0, file), obs(t, 1, `{"type":"win-registry-key","key":"HKEY_LOCAL_MACHINE\\foo\\bar"}`)}, true},
		{"no observations", "[file:name = 'foo.dll']", nil, false},
	} {
		p, err := Parse(tc.pattern)
		if err != nil {
			t.Errorf("%s: Parse: %v", tc.name, err)
			continue
		}
		if got := p.Match(tc.obs); got != tc.want {
			t.Errorf("%s: Match(%s): got %v, want %v", tc.name, tc.pattern, got, tc.want)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	p, err := Parse("([file:hashes.MD5 = 'cead'] FOLLOWEDBY [domain-name:value LIKE '%.example.com']) WITHIN 300 SECONDS")
	if err != nil {
		b.Fatal(err)
	}
	var list []Observation
	for i := range 100 {
		at := time.Date(2024, 1, 1, 0, 0, i, 0, time.UTC)
		list = append(list, NewObservation([]map[string]any{
			{"type": "file", "id": "file--1", "hashes": map[string]any{"MD5": "cead"}},
			{"type": "domain-name", "id": "domain-name--1", "value": "www.example.com"},
		}, at, at, 1))
	}
	b.ReportAllocs()
	for b.Loop() {
		if !p.Match(list) {
			b.Fatal("no match")
		}
	}
}

// A Pattern built by hand has no precompiled expressions; Match must
// compile them itself, and treat one that does not compile as false.
func TestMatchHandBuilt(t *testing.T) {
	cmp := func(op CompareOp, s string) *Pattern {
		return &Pattern{Expr: &ObservationBracket{Comparison: &Comparison{
			Path: ObjectPath{Type: "url", Steps: []PathStep{{Name: "value"}}},
			Op:   op, Value: &Literal{Kind: LitString, Str: s},
		}}}
	}
	o := []Observation{obs(t, 0, `{"type":"url","value":"http://x.example/a"}`)}
	for _, tc := range []struct {
		p    *Pattern
		want bool
	}{
		{cmp(OpLike, "http://x.example/%"), true},
		{cmp(OpMatches, "^http://x"), true},
		{cmp(OpMatches, "(?=x)"), false},
		{&Pattern{}, false},
		{&Pattern{Expr: &ObservationCompound{Op: ObsAnd}}, false},
	} {
		if got := tc.p.Match(o); got != tc.want {
			t.Errorf("Match(%s): got %v, want %v", tc.p, got, tc.want)
		}
	}
}

// The only pair within the window comes last among 22,500 candidate pairs,
// beyond maxBindings: WITHIN must prune while combining, not afterwards.
func TestMatchWithinPrunesEarly(t *testing.T) {
	p, err := Parse("([file:name = 'a'] FOLLOWEDBY [domain-name:value = 'b.example']) WITHIN 60 SECONDS")
	if err != nil {
		t.Fatal(err)
	}
	var list []Observation
	for i := range 150 {
		list = append(list, obs(t, i, `{"type":"file","name":"a"}`))
	}
	for i := range 150 {
		list = append(list, obs(t, 150+i, `{"type":"domain-name","value":"b.example"}`))
	}
	if !p.Match(list) {
		t.Errorf("got no match, want file at minute 149 followed by domain at minute 150")
	}
	list[149] = obs(t, 148, `{"type":"file","name":"a"}`) // now every pair is 2 minutes apart or more
	if p.Match(list) {
		t.Errorf("got a match, want none")
	}
}
