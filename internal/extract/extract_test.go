package extract

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cshub/internal/demo"
	"cshub/internal/hub"
	"cshub/internal/stix"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// The ids the acceptance criteria name.
const (
	idAPT28        = "intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c"
	idMuddyWater   = "intrusion-set--269e8108-68c6-4f99-b911-14b2e765dec2"
	idLaZagne      = "tool--b76b2d94-60e4-4107-a903-4a3a7622fb3b"
	idCrackMapExec = "tool--c4810609-7da6-48ec-8057-1b70a7814db0"
)

// testDict is the dictionary of the embedded ATT&CK bundle and MISP galaxy, built once: it
// takes about a second.
var testDict = sync.OnceValues(func() (*Dictionary, error) {
	ab, err := demo.AttackBundle()
	if err != nil {
		return nil, err
	}
	defer ab.Close()
	return NewDictionary(ab, ThreatActorGalaxy())
})

func dict(t testing.TB) *Dictionary {
	t.Helper()
	d, err := testDict()
	if err != nil {
		t.Fatalf("NewDictionary: %v", err)
	}
	return d
}

// summary lists entities as kind:value, in order.
func summary(ents []Entity) []string {
	var s []string
	for _, e := range ents {
		s = append(s, string(e.Kind)+":"+e.Value)
	}
	return s
}

// find returns the entity of kind and value, if extracted.
func find(ents []Entity, k Kind, value string) (Entity, bool) {
	for _, e := range ents {
		if e.Kind == k && e.Value == value {
			return e, true
		}
	}
	return Entity{}, false
}

func TestKnownNames(t *testing.T) {
	d := dict(t)
	for _, tc := range []struct {
		text string
		kind Kind
		ref  string
		name string
	}{
		{"Attribution to Fancy Bear is likely.", KindThreatActor, idAPT28, "APT28"},
		{"Sofacy again.", KindThreatActor, idAPT28, "APT28"},
		{"Reports on FANCY BEAR.", KindThreatActor, idAPT28, "APT28"},
		{"fancy bear", KindThreatActor, idAPT28, "APT28"},
		{"Fancy\n  Bear's domains", KindThreatActor, idAPT28, "APT28"},
		{"by Fancy Bear or APT 28, a group", KindThreatActor, idAPT28, "APT28"},
		{"APT-28", KindThreatActor, idAPT28, "APT28"},
		{"G0007", KindThreatActor, idAPT28, "APT28"},
		{"the group named Seedworm", KindThreatActor, idMuddyWater, "MuddyWater"},
		{"MuddyWater operators", KindThreatActor, idMuddyWater, "MuddyWater"},
		{"MERCURY", KindThreatActor, idMuddyWater, "MuddyWater"},
		{"tools like LaZagne and", KindTool, idLaZagne, "LaZagne"},
		{"and Crackmapexec which", KindTool, idCrackMapExec, "CrackMapExec"},
		{"CrackMapExec", KindTool, idCrackMapExec, "CrackMapExec"},
		{"Sandworm hit the grid", KindThreatActor, "intrusion-set--381fcf73-60f6-4ab2-9991-6af3cbc35192", "Sandworm Team"},
		{"T1059.001 via PowerShell", KindTechnique, "attack-pattern--970a3432-3237-47ad-bcca-7d8cbb217736", "PowerShell"},
	} {
		ents := d.Extract(tc.text)
		var got *Entity
		for i := range ents {
			if ents[i].Kind == tc.kind {
				got = &ents[i]
			}
		}
		if got == nil {
			t.Errorf("Extract(%q) = %v, want a %s", tc.text, summary(ents), tc.kind)
			continue
		}
		if got.Ref != tc.ref || got.Name != tc.name {
			t.Errorf("Extract(%q): %s ref %q name %q, want %q %q", tc.text, tc.kind, got.Ref, got.Name, tc.ref, tc.name)
		}
	}
}

// TestTricky pins the false-positive rules: every entity of each text is listed.
func TestTricky(t *testing.T) {
	d := dict(t)
	for _, tc := range []struct {
		text string
		want []string
	}{
		// File names are not domains; TLDs that are also file extensions need defanging.
		{"Dropped report.pdf and LaZagne.exe.", []string{"tool:LaZagne"}},
		{"see setup.py, README.md and archive.zip", nil},
		{"evil[.]zip and hxxp://payload.zip/a", []string{"domain:evil.zip", "url:http://payload.zip/a", "domain:payload.zip"}},
		{"ASP.NET and international law.The participants", nil},
		{"e.g. this, i.e. that, Ph.D.", nil},
		{"WWW.EXAMPLE.COM and mailto:a@b.example", []string{"domain:www.example.com", "email:a@b.example"}},
		// Version numbers and lookalikes are not addresses.
		{"version 1.2.3.4 and v1.2.3.4 and build 10.0.1.2", nil},
		{"beacon to 10.1.2.3 and 010.1.2.3 and 1.2.3 and 3.14", []string{"ipv4:10.1.2.3"}},
		{"range 192.0.2.0/24, host 192.0.2.7:443", []string{"cidr:192.0.2.0/24", "ipv4:192.0.2.7"}},
		{"at 12:30:45 in std::vector, then 2001:db8::1", []string{"ipv6:2001:db8::1"}},
		// "US" is the country only in capitals and away from shouted words.
		{"Let us know, LET US KNOW, TELL US", nil},
		{"CERTs from US, UK, France", []string{"country:US", "country:GB", "country:FR"}},
		{"the U.S. government", []string{"country:US", "sector:government"}},
		// Month names and common nouns are not countries.
		{"In May 2019 we ate turkey in china cups", nil},
		{"Turkey's and Türkiye's networks", []string{"country:TR"}},
		{"the Netherlands and North Korea", []string{"country:NL", "country:KP"}},
		// Stop-listed aliases and generic ones.
		{"mercury levels and the group 5 of working group 5", nil},
		{"Strider. Patchwork is quiet; silence fell", nil},
		{"Group5 and Silence", []string{"threat-actor:Group5", "threat-actor:Silence"}},
		{"at the net, route and ping", nil},
		// Ambiguous aliases resolve to nobody.
		{"Grizzly Steppe", nil},
		// Sectors after a hyphen are modifiers.
		{"cyber-defence and self-defence", nil},
		{"telecom and IT services, oil and gas", []string{"sector:telecommunications", "sector:technology", "sector:energy"}},
		// Hashes need exact lengths and both digits and letters.
		{"00000000000000000000000000000000 and abcdefabcdefabcdefabcdefabcdefab", nil},
		{"d41d8cd98f00b204e9800998ecf8427eX and D41D8CD98F00B204E9800998ECF8427E", []string{"md5:d41d8cd98f00b204e9800998ecf8427e"}},
		// Identifiers.
		{"CVE-2017-11882, cve-2018-0802 and CVE-17-1", []string{"cve:CVE-2017-11882", "cve:CVE-2018-0802"}},
		{"T1059 and T1059.001 but not T10590 or t1059", []string{"attack-technique:T1059", "attack-technique:T1059.001"}},
		{"A/RES/73/266, A/C.1/73/L.37, A/73/678 and S/RES/2341 (2017).", []string{"un-document:A/RES/73/266", "un-document:A/C.1/73/L.37", "un-document:A/73/678", "un-document:S/RES/2341 (2017)"}},
		{"A/C units and/or S/MIME, A/B", nil},
		// Defanging.
		{"mail dot example dot com, but not the dot com bubble", []string{"domain:mail.example.com"}},
		{"user [at] example [dot] org and x(at)y(dot)com", []string{"email:user@example.org", "email:x@y.com"}},
		{"hXXp://203.0.113.5[:]8080/x and fxp://files.example[.]net", []string{"url:http://203.0.113.5:8080/x", "ipv4:203.0.113.5", "url:ftp://files.example.net", "domain:files.example.net"}},
		{"(see https://example.com/a_(b))", []string{"url:https://example.com/a_(b)", "domain:example.com"}},
		{"http://[2001:db8::1]:8080/x and fe80::1%eth0", []string{"url:http://[2001:db8::1]:8080/x", "ipv6:2001:db8::1"}},
		// A country inside an indicator is not reported.
		{"visit-jordan.example and jordan[.]example", []string{"domain:visit-jordan.example", "domain:jordan.example"}},
	} {
		got := summary(d.Extract(tc.text))
		if !slices.Equal(got, tc.want) {
			t.Errorf("Extract(%q)\n got %q\nwant %q", tc.text, got, tc.want)
		}
	}
}

func TestAmbiguousAliases(t *testing.T) {
	d := dict(t)
	refs := d.ambiguous["grizzly steppe"]
	if !slices.Contains(refs, idAPT28) || len(refs) < 2 {
		t.Errorf("ambiguous[grizzly steppe] = %v, want APT28 and another", refs)
	}
}

func TestConcurrentExtract(t *testing.T) {
	d := dict(t)
	text := benchText(t)[:64<<10]
	want := summary(d.Extract(text))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if got := summary(d.Extract(text)); !slices.Equal(got, want) {
				t.Errorf("concurrent Extract differs: %d entities, want %d", len(got), len(want))
			}
		})
	}
	wg.Wait()
}

func TestSpans(t *testing.T) {
	d := dict(t)
	text := "Sofacy, also tracked as Fancy Bear, and again sofacy: login-ministry[.]example"
	ents := d.Extract(text)
	apt, ok := find(ents, KindThreatActor, "APT28")
	if !ok {
		t.Fatalf("no APT28 in %v", summary(ents))
	}
	want := []Span{{0, 6}, {24, 34}, {46, 52}}
	if !slices.Equal(apt.Spans, want) {
		t.Errorf("APT28 spans = %v, want %v", apt.Spans, want)
	}
	if apt.Text != "Sofacy" || apt.Start != 0 || apt.End != 6 {
		t.Errorf("APT28 first occurrence = %q [%d,%d), want \"Sofacy\" [0,6)", apt.Text, apt.Start, apt.End)
	}
	dom, ok := find(ents, KindDomain, "login-ministry.example")
	if !ok || text[dom.Start:dom.End] != "login-ministry[.]example" {
		t.Errorf("domain = %+v, want the defanged text's span", dom)
	}
	checkEntities(t, text, ents)
}

// checkEntities checks the invariants of Extract's result.
func checkEntities(t testing.TB, text string, ents []Entity) {
	t.Helper()
	seen := map[string]bool{}
	for i, e := range ents {
		if e.Start < 0 || e.End > len(text) || e.Start >= e.End || text[e.Start:e.End] != e.Text {
			t.Fatalf("entity %d %+v: bad span for text of %d bytes", i, e, len(text))
		}
		if i > 0 && ents[i-1].Start > e.Start {
			t.Fatalf("entity %d starts before entity %d", i, i-1)
		}
		k := string(e.Kind) + "\x00" + e.Value
		if seen[k] {
			t.Fatalf("entity %s %q reported twice", e.Kind, e.Value)
		}
		seen[k] = true
		if len(e.Spans) == 0 || e.Spans[0] != (Span{e.Start, e.End}) {
			t.Fatalf("entity %+v: spans do not start with the first occurrence", e)
		}
		for _, s := range e.Spans {
			if s.Start < 0 || s.End > len(text) || s.Start >= s.End {
				t.Fatalf("entity %+v: bad span %v", e, s)
			}
		}
	}
}

// validBundle validates every object of a ToSTIX bundle and returns them by id.
func validBundle(t testing.TB, raw []byte) map[string]map[string]any {
	t.Helper()
	objs := map[string]map[string]any{}
	br := stix.NewBundleReader(bytes.NewReader(raw))
	for {
		o, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("bundle: %v\n%s", err, raw)
		}
		m, _, err := stix.Validate(o)
		if err != nil {
			t.Fatalf("invalid object: %v\n%s", err, o)
		}
		var v map[string]any
		if err := json.Unmarshal(o, &v); err != nil {
			t.Fatal(err)
		}
		if objs[m.ID] != nil {
			t.Fatalf("object %s twice", m.ID)
		}
		objs[m.ID] = v
	}
	return objs
}

// reportOf returns the report of a ToSTIX bundle and the set of its object_refs and UN
// document references.
func reportOf(t testing.TB, objs map[string]map[string]any) (map[string]any, map[string]bool) {
	t.Helper()
	var rep map[string]any
	for _, o := range objs {
		if o["type"] == "report" {
			rep = o
		}
	}
	if rep == nil {
		t.Fatal("no report in bundle")
	}
	links := map[string]bool{}
	for _, r := range rep["object_refs"].([]any) {
		links[r.(string)] = true
	}
	if ext, ok := rep["external_references"].([]any); ok {
		for _, e := range ext {
			links["un:"+e.(map[string]any)["external_id"].(string)] = true
		}
	}
	return rep, links
}

var testNow = time.Date(2019, 1, 25, 12, 0, 0, 0, time.UTC)

func TestAcceptanceReport(t *testing.T) {
	d := dict(t)
	text, err := os.ReadFile("testdata/acceptance-report.txt")
	if err != nil {
		t.Fatal(err)
	}
	ents := d.Extract(string(text))
	checkEntities(t, string(text), ents)
	raw := ToSTIX("Acceptance report", string(text), ents, testNow)
	objs := validBundle(t, raw)
	_, links := reportOf(t, objs)
	loc := func(code string) string { return ObjectID(Entity{Kind: KindCountry, Value: code}) }
	ind := func(k Kind, v string) string { return ObjectID(Entity{Kind: k, Value: v}) }
	for _, want := range []string{
		idAPT28, idMuddyWater, idLaZagne, loc("TR"), loc("JO"),
		ind(KindDomain, "login-ministry.example"), ind(KindDomain, "secure-mail.example.net"),
		ind(KindURL, "https://secure-mail.example.net/owa"), "un:A/RES/73/27",
	} {
		if !links[want] {
			t.Errorf("report does not link %s; links %v", want, links)
		}
	}
	if apt, _ := find(ents, KindThreatActor, "APT28"); len(apt.Spans) != 2 {
		t.Errorf("APT28 spans = %v, want Sofacy and Fancy Bear", apt.Spans)
	}
	if o := objs[ind(KindDomain, "secure-mail.example.net")]; o == nil || o["pattern"] != "[domain-name:value = 'secure-mail.example.net']" {
		t.Errorf("indicator for secure-mail.example.net = %v", o)
	}
	for id := range links {
		if strings.HasPrefix(id, "intrusion-set--") || strings.HasPrefix(id, "tool--") {
			if objs[id] != nil {
				t.Errorf("bundle repeats the ATT&CK object %s", id)
			}
		}
	}
	golden(t, "acceptance.json", raw)
}

func TestSeedTexts(t *testing.T) {
	d := dict(t)
	all := map[string]bool{}
	via := map[string]bool{} // kind:value <- text
	for i, s := range demo.SeedTexts() {
		ents := d.Extract(s.Text)
		checkEntities(t, s.Text, ents)
		for _, e := range ents {
			for _, sp := range e.Spans {
				via[e.Value+"<-"+s.Text[sp.Start:sp.End]] = true
			}
		}
		raw := ToSTIX(s.Title, s.Text, ents, testNow)
		_, links := reportOf(t, validBundle(t, raw))
		for l := range links {
			all[l] = true
		}
		golden(t, fmt.Sprintf("seed-%02d.json", i), raw)
	}
	loc := func(code string) string { return ObjectID(Entity{Kind: KindCountry, Value: code}) }
	for _, want := range []string{idAPT28, idMuddyWater, idLaZagne, idCrackMapExec, loc("FI"), loc("PK"), loc("TR"), "un:A/RES/73/266"} {
		if !all[want] {
			t.Errorf("no seed report links %s", want)
		}
	}
	for _, want := range []string{"APT28<-Fancy Bear", "MuddyWater<-Seedworm", "CrackMapExec<-Crackmapexec"} {
		if !via[want] {
			t.Errorf("no seed text resolves %s", want)
		}
	}
}

// golden compares got, indented, with testdata/golden/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s differs from the golden file; run with -update and review the diff", name)
	}
}

func TestToSTIXDeterministic(t *testing.T) {
	d := dict(t)
	text := "Seedworm used 198.51.100.7 and CVE-2017-11882 against Turkey's telecom sector."
	ents := d.Extract(text)
	a := validBundle(t, ToSTIX("one", text, ents, testNow))
	b := validBundle(t, ToSTIX("two", text, ents, testNow.Add(time.Hour)))
	if len(a) != len(b) {
		t.Fatalf("bundles have %d and %d objects", len(a), len(b))
	}
	for id := range a {
		if b[id] == nil {
			t.Errorf("id %s not stable across ingests", id)
		}
	}
	if _, ok := a[ReportID(text)]; !ok {
		t.Errorf("report id is not ReportID(text)")
	}
	if len(a) != 5 { // report, indicator, vulnerability, location, sector identity
		t.Errorf("bundle has %d objects, want 5", len(a))
	}
}

func TestToSTIXEdgeCases(t *testing.T) {
	for _, tc := range []struct{ title, text string }{
		{"", ""},
		{"   ", "nothing here"},
		{"bad \xff utf-8", "text \xfe\xff with A/RES/73/27 and \x00 controls"},
		{"quote", "hxxp://evil.example/it's\\here"},
	} {
		d := dict(t)
		ents := d.Extract(tc.text)
		objs := validBundle(t, ToSTIX(tc.title, tc.text, ents, testNow))
		if rep, links := reportOf(t, objs); len(links) == 0 || rep["name"] == "" {
			t.Errorf("ToSTIX(%q, %q): report %v", tc.title, tc.text, rep)
		}
	}
}

func TestGalaxyOnlyActor(t *testing.T) {
	galaxy := `{"type":"threat-actor","values":[
		{"value":"Quiet Heron","uuid":"7b3c1e2a-9d4f-4a8b-8c6d-5e4f3a2b1c0d","meta":{"synonyms":["HERON-7","the"]}},
		{"value":"Loud Heron","uuid":"not-a-uuid"}]}`
	d, err := NewDictionary(nil, strings.NewReader(galaxy))
	if err != nil {
		t.Fatal(err)
	}
	text := "Quiet Heron, also HERON-7 and HERON 7, met Loud Heron in the park."
	ents := d.Extract(text)
	qh, ok := find(ents, KindThreatActor, "Quiet Heron")
	if !ok || qh.Ref != "threat-actor--7b3c1e2a-9d4f-4a8b-8c6d-5e4f3a2b1c0d" || len(qh.Spans) != 3 {
		t.Errorf("Quiet Heron = %+v", qh)
	}
	lh, ok := find(ents, KindThreatActor, "Loud Heron")
	if !ok || !strings.HasPrefix(lh.Ref, "threat-actor--") || !validUUID(strings.TrimPrefix(lh.Ref, "threat-actor--")) {
		t.Errorf("Loud Heron = %+v", lh)
	}
	objs := validBundle(t, ToSTIX("herons", text, ents, testNow))
	if o := objs[qh.Ref]; o == nil || o["name"] != "Quiet Heron" {
		t.Errorf("bundle lacks the threat-actor for Quiet Heron: %v", objs)
	}
}

func TestNewDictionaryErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		attack  io.Reader
		galaxy  string
		invalid bool // a hub.EInvalid error
	}{
		{"galaxy not JSON", nil, "{", true},
		{"galaxy of another type", nil, `{"type":"sector","values":[]}`, true},
		{"bundle not JSON", strings.NewReader(`{"type":"bundle","objects":[{`), `{"type":"threat-actor"}`, false},
	} {
		_, err := NewDictionary(tc.attack, strings.NewReader(tc.galaxy))
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if tc.invalid && hub.ErrorCode(err) != hub.EInvalid {
			t.Errorf("%s: error %v has code %q, want %q", tc.name, err, hub.ErrorCode(err), hub.EInvalid)
		}
	}
}

func TestNilDictionary(t *testing.T) {
	var d *Dictionary
	got := summary(d.Extract("Fancy Bear at 192.0.2.1 and CVE-2017-11882 in Turkey"))
	want := []string{"ipv4:192.0.2.1", "cve:CVE-2017-11882"}
	if !slices.Equal(got, want) {
		t.Errorf("nil dictionary: got %q, want %q", got, want)
	}
}

func TestUUIDv5(t *testing.T) {
	// The RFC 4122 appendix example, as corrected in the errata: "www.example.com" in the DNS
	// namespace.
	got := uuidV5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com")
	if want := "2ed6657d-e927-568b-95e1-2665a8aea6a2"; got != want {
		t.Errorf("uuidV5 = %s, want %s", got, want)
	}
}

func FuzzExtract(f *testing.F) {
	for _, s := range demo.SeedTexts() {
		f.Add(s.Text)
	}
	for _, s := range []string{
		"", "hxxps://secure-mail.example[.]net/owa", "a [at] b [dot] c", "x dot y dot com",
		"S/RES/2341 (2017)", "[::1]", "http://[", "http://a@", "hxxp[:]//", "1.2.3.4/33",
		"A/", "US", "Türkiye\xff", "CVE-2017-11882", "fe80::1%eth0", "http://:80/",
	} {
		f.Add(s)
	}
	d := dict(f)
	f.Fuzz(func(t *testing.T, text string) {
		ents := d.Extract(text)
		checkEntities(t, text, ents)
		validBundle(t, ToSTIX("fuzz", text, ents, testNow))
	})
}

// benchText is about 1 MB of real reporting: the seed texts and the acceptance report, repeated.
func benchText(tb testing.TB) string {
	var b strings.Builder
	acc, err := os.ReadFile("testdata/acceptance-report.txt")
	if err != nil {
		tb.Fatal(err)
	}
	for b.Len() < 1<<20 {
		for _, s := range demo.SeedTexts() {
			b.WriteString(s.Text)
			b.WriteString("\n\n")
		}
		b.Write(acc)
		b.WriteString("\n\n")
	}
	return b.String()[:1<<20]
}

func BenchmarkExtract1MB(b *testing.B) {
	d := dict(b)
	text := benchText(b)
	b.SetBytes(int64(len(text)))
	start := time.Now()
	n := 0
	for b.Loop() {
		n++
		if len(d.Extract(text)) == 0 {
			b.Fatal("nothing extracted")
		}
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/1e6/float64(n), "ms/MB")
}
