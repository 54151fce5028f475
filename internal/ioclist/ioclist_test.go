package ioclist

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"cshub/internal/hub"
	"cshub/internal/stix"
	"cshub/internal/stix/pattern"
)

// objects reads a bundle, validating every object, and returns them decoded.
func objects(t testing.TB, b []byte) []map[string]any {
	t.Helper()
	br := stix.NewBundleReader(bytes.NewReader(b))
	var out []map[string]any
	for {
		raw, err := br.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("bundle: %v\n%s", err, b)
		}
		if _, _, err := stix.Validate(raw); err != nil {
			t.Fatalf("invalid object: %v\n%s", err, raw)
		}
		if m, ok := raw2map(raw); ok {
			if m["type"] == "indicator" {
				if _, err := pattern.Parse(m["pattern"].(string)); err != nil {
					t.Fatalf("pattern %s: %v", m["pattern"], err)
				}
			}
			out = append(out, m)
		}
	}
}

func raw2map(raw []byte) (map[string]any, bool) {
	var m map[string]any
	return m, json.Unmarshal(raw, &m) == nil
}

func TestText(t *testing.T) {
	in := "# C2 list, 2024-05\n" +
		"198.51.100.7\n" +
		"  2001:DB8::1  \n" +
		"203.0.113.9/24\n" +
		"Evil.Example.\n" +
		"hxxps://evil[.]example/login?a='b'\n" +
		"bad[@]evil.example\n" +
		"0749BAE92CA336A02C83D126E04EC628\n" +
		"77b0c41b7d340b8a3d903f21347bbf06aa766b5b\n" +
		strings.Repeat("ab", 32) + "\n" +
		strings.Repeat("cd", 64) + "\n" +
		"\n" +
		"evil.example/path/x.php # dropper\n" +
		"not a value\n" +
		"localhost\n" +
		"198.51.100.7\n" +
		"999.1.1.1\n"
	b, rej, err := ToSTIX(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"[ipv4-addr:value = '198.51.100.7']",
		"[ipv6-addr:value = '2001:db8::1']",
		"[ipv4-addr:value = '203.0.113.0/24']",
		"[domain-name:value = 'evil.example']",
		`[url:value = 'https://evil.example/login?a=\'b\'']`,
		"[email-addr:value = 'bad@evil.example']",
		"[file:hashes.MD5 = '0749bae92ca336a02c83d126e04ec628']",
		"[file:hashes.'SHA-1' = '77b0c41b7d340b8a3d903f21347bbf06aa766b5b']",
		"[file:hashes.'SHA-256' = '" + strings.Repeat("ab", 32) + "']",
		"[file:hashes.'SHA-512' = '" + strings.Repeat("cd", 64) + "']",
		"[url:value = 'evil.example/path/x.php']",
	}
	objs := objects(t, b)
	if len(objs) != len(want) {
		t.Fatalf("got %d objects, want %d", len(objs), len(want))
	}
	for i, o := range objs {
		if o["pattern"] != want[i] {
			t.Errorf("object %d: got %s, want %s", i, o["pattern"], want[i])
		}
	}
	if objs[10]["description"] != "dropper" {
		t.Errorf("inline comment: got description %v", objs[10]["description"])
	}
	wantRej := []Rejected{
		{14, "not a value", "more than one value on the line (a text list has one value a line)"},
		{15, "localhost", ""},
		{16, "198.51.100.7", "duplicate of line 2"},
		{17, "999.1.1.1", ""},
	}
	if len(rej) != len(wantRej) {
		t.Fatalf("got rejected %+v, want %d lines", rej, len(wantRej))
	}
	for i, w := range wantRej {
		g := rej[i]
		if g.Line != w.Line || g.Value != w.Value || (w.Reason != "" && g.Reason != w.Reason) || g.Reason == "" {
			t.Errorf("rejected %d: got %+v, want %+v", i, g, w)
		}
	}
}

func TestIdempotentIDs(t *testing.T) {
	in := "198.51.100.7\nevil.example\n"
	a, _, _ := ToSTIX(strings.NewReader(in), Options{})
	b, _, _ := ToSTIX(strings.NewReader("evil.example\n198.51.100.7\n"), Options{})
	ida, idb := map[any]bool{}, map[any]bool{}
	for _, o := range objects(t, a) {
		ida[o["id"]] = true
	}
	for _, o := range objects(t, b) {
		idb[o["id"]] = true
	}
	if fmt.Sprint(ida) != fmt.Sprint(idb) {
		t.Errorf("ids differ: %v vs %v", ida, idb)
	}
	a2, _, _ := ToSTIX(strings.NewReader(in), Options{})
	if !bytes.Equal(a, a2) {
		t.Error("the same list gave different bundles")
	}
	if got, want := IndicatorID(IPv4, "198.51.100.7"), objects(t, a)[0]["id"]; got != want {
		t.Errorf("IndicatorID: got %s, want %s", got, want)
	}
}

func TestForcedType(t *testing.T) {
	in := "198.51.100.7\nevil.example\n"
	b, rej, err := ToSTIX(strings.NewReader(in), Options{Type: "domain"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(objects(t, b)); n != 1 {
		t.Errorf("got %d objects, want 1", n)
	}
	if len(rej) != 1 || rej[0].Line != 1 || !strings.Contains(rej[0].Reason, "domain") {
		t.Errorf("got rejected %+v", rej)
	}
	_, _, err = ToSTIX(strings.NewReader(in), Options{Type: "registry"})
	if hub.ErrorField(err) != "type" {
		t.Errorf("unknown type: got %v, want an error on field type", err)
	}
}

func TestCSV(t *testing.T) {
	in := "Indicator,Type,Comment,First Seen,Confidence,TLP\n" +
		"198.51.100.7,ip-dst,C2 server,2024-05-01,80,amber\n" +
		"evil.example,domain,\"phishing, round 2\",2024-05-02T10:00:00Z,,\n" +
		"x.example,registry,,,,\n" +
		"y.example,domain,,yesterday,,\n" +
		"z.example,domain,,,101,\n" +
		"w.example,domain,,,,purple\n" +
		"198.51.100.8,md5,,,,\n" +
		"\"bad\"quote,domain,,,,\n"
	b, rej, err := ToSTIX(strings.NewReader(in), Options{Format: "csv", Name: "May list", TLP: hub.TLPGreen, Time: time.Date(2024, 5, 3, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	objs := objects(t, b)
	if len(objs) != 3 {
		t.Fatalf("got %d objects, want 2 indicators and a report: %s", len(objs), b)
	}
	ip, dom, rep := objs[0], objs[1], objs[2]
	if ip["description"] != "C2 server" || ip["confidence"] != 80.0 || ip["valid_from"] != "2024-05-01T00:00:00.000Z" ||
		fmt.Sprint(ip["object_marking_refs"]) != "["+stix.TLP2Amber+"]" {
		t.Errorf("ip indicator: got %v", ip)
	}
	if dom["description"] != "phishing, round 2" || fmt.Sprint(dom["object_marking_refs"]) != "["+stix.TLP2Green+"]" || dom["created"] != "2024-05-03T00:00:00.000Z" {
		t.Errorf("domain indicator: got %v", dom)
	}
	if rep["type"] != "report" || rep["name"] != "May list" || len(rep["object_refs"].([]any)) != 2 {
		t.Errorf("report: got %v", rep)
	}
	wantLines := []int{4, 5, 6, 7, 8, 9}
	if len(rej) != len(wantLines) {
		t.Fatalf("got rejected %+v, want lines %v", rej, wantLines)
	}
	for i, l := range wantLines {
		if rej[i].Line != l || rej[i].Reason == "" {
			t.Errorf("rejected %d: got %+v, want line %d", i, rej[i], l)
		}
	}
}

func TestCSVColumns(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		opts Options
		want []string // patterns
	}{
		{"no header", "198.51.100.7;x\nevil.example;y\n", Options{Format: "csv", Delimiter: ';'}, []string{"[ipv4-addr:value = '198.51.100.7']", "[domain-name:value = 'evil.example']"}},
		{"columns", "first;198.51.100.7\nsecond;evil.example\n", Options{Format: "csv", Delimiter: ';', Columns: map[string]int{"value": 1, "description": 0}}, []string{"[ipv4-addr:value = '198.51.100.7']", "[domain-name:value = 'evil.example']"}},
		{"header names", "when,what\n2024-01-01,198.51.100.7\n", Options{Format: "csv", ColumnNames: map[string]string{"value": "What", "first_seen": "when"}}, []string{"[ipv4-addr:value = '198.51.100.7']"}},
		{"urlhaus", "# id,dateadded,url\n\"1\",\"2024-07-03 07:55:07\",\"http://198.51.100.7:44391/Mozi.m\",\"elf,Mozi\"\n",
			Options{Format: "csv", Columns: map[string]int{"value": 2, "first_seen": 1, "description": 3}}, []string{"[url:value = 'http://198.51.100.7:44391/Mozi.m']"}},
		{"tabs and comments", "# list\nioc\tnote\n198.51.100.7\tx\n", Options{Format: "csv", Delimiter: '\t'}, []string{"[ipv4-addr:value = '198.51.100.7']"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, rej, err := ToSTIX(strings.NewReader(tc.in), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(rej) != 0 {
				t.Errorf("rejected %+v", rej)
			}
			objs := objects(t, b)
			if len(objs) != len(tc.want) {
				t.Fatalf("got %d objects, want %d", len(objs), len(tc.want))
			}
			for i, o := range objs {
				if o["pattern"] != tc.want[i] {
					t.Errorf("got %s, want %s", o["pattern"], tc.want[i])
				}
			}
		})
	}
}

func TestBadOptions(t *testing.T) {
	for _, tc := range []struct {
		opts  Options
		field string
	}{
		{Options{Format: "xml"}, "format"},
		{Options{Format: "csv", Columns: map[string]int{"description": 1}}, "columns"},
		{Options{Format: "csv", Columns: map[string]int{"value": -1}}, "columns"},
		{Options{Format: "csv", Columns: map[string]int{"value": 0, "colour": 1}}, "columns"},
		{Options{Format: "csv", Delimiter: '"'}, "delimiter"},
	} {
		_, _, err := ToSTIX(strings.NewReader("x"), tc.opts)
		var he *hub.Error
		if !errors.As(err, &he) || he.Code != hub.EInvalid || he.Field != tc.field {
			t.Errorf("%+v: got %v, want an EInvalid error on %q", tc.opts, err, tc.field)
		}
	}
}

func TestEmptyList(t *testing.T) {
	b, rej, err := ToSTIX(strings.NewReader("# nothing\n\n"), Options{Name: "empty"})
	if err != nil || len(rej) != 0 {
		t.Fatalf("got %v %v", rej, err)
	}
	if n := len(objects(t, b)); n != 0 {
		t.Errorf("got %d objects, want 0", n)
	}
}

func TestDetect(t *testing.T) {
	bundle := `{"type": "bundle", "id": "bundle--x", "objects": []}`
	event := `{"Event": {"info": "x", "Attribute": []}}`
	list := "# feed\n198.51.100.7\nevil.example\nhxxp://evil[.]example/a\n"
	prose := "APT28 used 198.51.100.7 to deliver the dropper.\nThe domain evil.example hosted it.\n"
	csvIn := "indicator,type\n198.51.100.7,ip\nevil.example,domain\n"
	urlhaus := "################\n# abuse.ch URLhaus Database Dump (CSV - recent URLs)\n# id,dateadded,url,url_status,threat,tags\n" +
		`"3120785","2024-07-03 07:55:07","http://198.51.100.7:44391/Mozi.m","online","malware_download","elf,Mozi"` + "\n" +
		`"3120784","2024-07-03 07:55:06","http://evil.example/x.sh","offline","malware_download","32-bit,elf"` + "\n"
	for _, tc := range []struct {
		ct, head, want string
	}{
		{"application/stix+json;version=2.1", event, "stix"},
		{"application/taxii+json", "{}", "stix"},
		{"application/json", bundle, "stix"},
		{"application/json; charset=utf-8", event, "misp"},
		{"application/json", `[{"Event":{}}]`, "misp"},
		{"application/json", `{"response":[{"Event":{}}]}`, "misp"},
		{"application/json", `{"uuid":"x","info":"bare event","threat_level_id":"1"}`, "misp"},
		{"application/json", `{"type":"indicator","spec_version":"2.1"}`, "stix"},
		{"text/csv", list, "csv"},
		{"text/plain", list, "ioc-list"},
		{"text/plain", prose, "text"},
		{"text/plain", csvIn, "csv"},
		{"", bundle, "stix"},
		{"application/octet-stream", event, "misp"},
		{"", list, "ioc-list"},
		{"", prose, "text"},
		{"", "", "text"},
		{"", "[.]\n", "text"},
		{"", "198.51.100.7", "ioc-list"},
		{"", "\ufeff198.51.100.7\r\n198.51.100.8\r\n", "ioc-list"},
		{"bogus/;;", "evil.example\n", "ioc-list"},
		{"text/plain", urlhaus, "csv"},
		{"", "a, b and c met.\nThen d, e and f left.\n", "text"},
	} {
		if got := Detect(tc.ct, []byte(tc.head)); got != tc.want {
			t.Errorf("Detect(%q, %.30q): got %s, want %s", tc.ct, tc.head, got, tc.want)
		}
	}
}

func FuzzCSV(f *testing.F) {
	f.Add("indicator,type,comment\n198.51.100.7,ip,c2\nevil.example,domain,\n", ',', true)
	f.Add("198.51.100.7\nhxxp://a[.]example/x\n#c\nbad value\n", ',', false)
	f.Add("a;b;c\n\"x\"\"y\";z\n", ';', true)
	f.Add("value\tfirst_seen\tconfidence\ttlp\n"+strings.Repeat("ab", 32)+"\t2024-01-01\t50\tred\n", '\t', true)
	f.Add("\ufeffioc\n'\\\n", ',', true)
	f.Fuzz(func(t *testing.T, in string, delim rune, isCSV bool) {
		opts := Options{Delimiter: delim, Name: "fuzz"}
		if isCSV {
			opts.Format = "csv"
		}
		b, rej, err := ToSTIX(strings.NewReader(in), opts)
		if err != nil {
			return
		}
		objs := objects(t, b)
		for _, r := range rej {
			if r.Line < 1 || r.Reason == "" {
				t.Fatalf("rejected line without number or reason: %+v", r)
			}
		}
		_ = objs
		Detect("", []byte(in))
	})
}

func BenchmarkText(b *testing.B) {
	var in strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&in, "10.%d.%d.%d\nhost%d.evil.example\n", i>>16&255, i>>8&255, i&255, i)
	}
	data := in.String()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, rej, err := ToSTIX(strings.NewReader(data), Options{}); err != nil || len(rej) != 0 {
			b.Fatal(err, rej)
		}
	}
	b.ReportMetric(20000*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
