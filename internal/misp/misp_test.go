package misp

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cshub/internal/hub"
	"cshub/internal/stix"
	"cshub/internal/stix/pattern"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// readBundle reads a bundle and validates every object, failing the test on any error.
func readBundle(t testing.TB, b []byte) (objs [][]byte, metas []*stix.Meta) {
	t.Helper()
	br := stix.NewBundleReader(bytes.NewReader(b))
	for {
		raw, err := br.Next()
		if err == io.EOF {
			return objs, metas
		}
		if err != nil {
			t.Fatalf("bundle: %v", err)
		}
		m, _, err := stix.Validate(raw)
		if err != nil {
			t.Fatalf("invalid object %s: %v", raw, err)
		}
		objs = append(objs, raw)
		metas = append(metas, m)
	}
}

// samples lists the MISP events in testdata and, when present, the larger ones in /work/shared.
func samples(t *testing.T) []string {
	files, _ := filepath.Glob("testdata/circl-*.json")
	shared, _ := filepath.Glob("/work/shared/data/misp/events/circl-*.json")
	have := map[string]bool{}
	for _, f := range files {
		have[filepath.Base(f)] = true
	}
	for _, f := range shared {
		if !have[filepath.Base(f)] {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		t.Fatal("no MISP samples in testdata")
	}
	return files
}

// attrKey is what the round trip must keep of every attribute.
type attrKey struct {
	Type, Value, Category, Comment string
	ToIDs                          bool
}

// attributesOf returns an event's attributes, top-level and in objects, by uuid.
func attributesOf(t testing.TB, data []byte) map[string]attrKey {
	t.Helper()
	evs, err := decodeEvents(data)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]attrKey{}
	add := func(a attribute) {
		out[strings.ToLower(a.UUID)] = attrKey{a.Type, a.Value, a.Category, a.Comment, bool(a.ToIDs)}
	}
	for _, ev := range evs {
		for _, a := range ev.Attribute {
			add(a)
		}
		for _, o := range ev.Object {
			for _, a := range o.Attribute {
				add(a)
			}
		}
	}
	return out
}

func TestRoundTripSamples(t *testing.T) {
	for _, f := range samples(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			bundle, err := ToSTIX(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("ToSTIX: %v", err)
			}
			objs, metas := readBundle(t, bundle)
			reports := 0
			for _, m := range metas {
				if m.Type == "report" {
					reports++
				}
			}
			if reports != 1 {
				t.Errorf("got %d reports, want 1", reports)
			}
			exported, err := FromSTIX(objs)
			if err != nil {
				t.Fatalf("FromSTIX: %v", err)
			}
			want, got := attributesOf(t, data), attributesOf(t, exported)
			if len(got) != len(want) {
				t.Errorf("got %d attributes back, want %d", len(got), len(want))
			}
			for u, w := range want {
				if g, ok := got[u]; !ok {
					t.Errorf("attribute %s (%s %q) lost", u, w.Type, w.Value)
				} else if g != w {
					t.Errorf("attribute %s:\n got %+v\nwant %+v", u, g, w)
				}
			}
			// The export imports again, to the same objects.
			again, err := ToSTIX(bytes.NewReader(exported))
			if err != nil {
				t.Fatalf("ToSTIX of the export: %v", err)
			}
			objs2, _ := readBundle(t, again)
			if len(objs2) != len(objs) {
				t.Errorf("re-import: got %d objects, want %d", len(objs2), len(objs))
			}
		})
	}
}

func TestGolden(t *testing.T) {
	for _, name := range []string{"circl-57c4445b-ransomware-xorist", "circl-5a0ac036-qakbot-emotet"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile("testdata/" + name + ".json")
			if err != nil {
				t.Fatal(err)
			}
			bundle, err := ToSTIX(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			objs, _ := readBundle(t, bundle)
			event, err := FromSTIX(objs)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range []struct {
				file string
				got  []byte
			}{{name + ".stix.json", bundle}, {name + ".misp.json", event}} {
				var pretty bytes.Buffer
				if err := json.Indent(&pretty, g.got, "", " "); err != nil {
					t.Fatal(err)
				}
				pretty.WriteByte('\n')
				path := filepath.Join("testdata", "golden", g.file)
				if *update {
					if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if !bytes.Equal(pretty.Bytes(), want) {
					t.Errorf("%s differs from the golden file (go test -update rewrites it)", g.file)
				}
			}
		})
	}
}

// oneAttr wraps an attribute in an event.
func oneAttr(typ, value string, toIDs bool, extra string) string {
	return fmt.Sprintf(`{"Event":{"uuid":"5a0ac036-0000-4000-8000-000000000001","info":"t","date":"2024-05-01","timestamp":"1714557600",
		"Attribute":[{"uuid":"5a0ac036-0000-4000-8000-0000000000a1","type":%q,"category":"Network activity","value":%q,"to_ids":%v,"timestamp":"1714557600"%s}]}}`,
		typ, value, toIDs, extra)
}

// objectOf returns the object with the id's type prefix and the attribute's uuid.
func objectOf(t *testing.T, bundle []byte, typ string, uuid ...string) map[string]any {
	t.Helper()
	u := "5a0ac036-0000-4000-8000-0000000000a1"
	if len(uuid) > 0 {
		u = uuid[0]
	}
	objs, _ := readBundle(t, bundle)
	for _, raw := range objs {
		var m map[string]any
		json.Unmarshal(raw, &m)
		if m["id"] == typ+"--"+u {
			return m
		}
	}
	t.Fatalf("no %s object in %s", typ, bundle)
	return nil
}

func TestAttributePatterns(t *testing.T) {
	for _, tc := range []struct{ typ, value, pattern string }{
		{"ip-dst", "198.51.100.7", "[ipv4-addr:value = '198.51.100.7']"},
		{"ip-src", "2001:db8::1", "[ipv6-addr:value = '2001:db8::1']"},
		{"ip-dst", "203.0.113.0/24", "[ipv4-addr:value = '203.0.113.0/24']"},
		{"domain", "evil.example", "[domain-name:value = 'evil.example']"},
		{"hostname", "a.evil.example", "[domain-name:value = 'a.evil.example']"},
		{"url", `http://x.example/a'b\c`, `[url:value = 'http://x.example/a\'b\\c']`},
		{"email-src", "bad@evil.example", "[email-addr:value = 'bad@evil.example']"},
		{"email-dst", "o'brien@example.org", `[email-addr:value = 'o\'brien@example.org']`},
		{"md5", "0749BAE92CA336A02C83D126E04EC628", "[file:hashes.MD5 = '0749bae92ca336a02c83d126e04ec628']"},
		{"sha1", "77b0c41b7d340b8a3d903f21347bbf06aa766b5b", "[file:hashes.'SHA-1' = '77b0c41b7d340b8a3d903f21347bbf06aa766b5b']"},
		{"sha256", strings.Repeat("ab", 32), "[file:hashes.'SHA-256' = '" + strings.Repeat("ab", 32) + "']"},
		{"sha512", strings.Repeat("cd", 64), "[file:hashes.'SHA-512' = '" + strings.Repeat("cd", 64) + "']"},
		{"filename|md5", "a|b.exe|0749bae92ca336a02c83d126e04ec628", "[file:name = 'a|b.exe' AND file:hashes.MD5 = '0749bae92ca336a02c83d126e04ec628']"},
		{"ip-dst|port", "198.51.100.7|8443", "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '198.51.100.7' AND network-traffic:dst_port = 8443]"},
		{"domain|ip", "evil.example|198.51.100.7", "[domain-name:value = 'evil.example' AND domain-name:resolves_to_refs[*].value = '198.51.100.7']"},
		{"regkey|value", `HKLM\Run|%TEMP%\x.exe`, `[windows-registry-key:key = 'HKLM\\Run' AND windows-registry-key:values[*].data = '%TEMP%\\x.exe']`},
		{"AS", "AS174", "[autonomous-system:number = 174]"},
		{"mutex", "Global\\x", `[mutex:name = 'Global\\x']`},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			b, err := ToSTIX(strings.NewReader(oneAttr(tc.typ, tc.value, true, "")))
			if err != nil {
				t.Fatal(err)
			}
			ind := objectOf(t, b, "indicator")
			if got := ind["pattern"]; got != tc.pattern {
				t.Errorf("pattern: got %s, want %s", got, tc.pattern)
			}
			if _, err := pattern.Parse(ind["pattern"].(string)); err != nil {
				t.Errorf("pattern does not parse: %v", err)
			}
			// to_ids false: observed-data with observables instead.
			b, err = ToSTIX(strings.NewReader(oneAttr(tc.typ, tc.value, false, "")))
			if err != nil {
				t.Fatal(err)
			}
			od := objectOf(t, b, "observed-data")
			if refs, _ := od["object_refs"].([]any); len(refs) == 0 {
				t.Errorf("observed-data without object_refs")
			}
		})
	}
}

func TestAttributeProperties(t *testing.T) {
	extra := `,"comment":"seen in phishing","distribution":"3","Tag":[{"name":"tlp:amber+strict"},{"name":"kill-chain:Delivery"}],
		"Sighting":[{"uuid":"5a0ac036-0000-4000-8000-0000000000b1","type":"0","date_sighting":"1714560000","source":"sensor-1"}]`
	b, err := ToSTIX(strings.NewReader(oneAttr("domain", "evil.example", true, extra)))
	if err != nil {
		t.Fatal(err)
	}
	ind := objectOf(t, b, "indicator")
	for k, want := range map[string]any{
		"description": "seen in phishing", "x_misp_distribution": "3", "created": "2024-05-01T10:00:00.000Z",
		"valid_from": "2024-05-01T10:00:00.000Z",
	} {
		if got := ind[k]; got != want {
			t.Errorf("%s: got %v, want %v", k, got, want)
		}
	}
	if got := fmt.Sprint(ind["object_marking_refs"]); got != "["+stix.TLP2AmberStrict+"]" {
		t.Errorf("object_marking_refs: got %s, want the TLP:AMBER+STRICT marking", got)
	}
	if got := fmt.Sprint(ind["labels"]); !strings.Contains(got, "kill-chain:Delivery") || !strings.Contains(got, `misp:type="domain"`) {
		t.Errorf("labels: got %s", got)
	}
	s := objectOf(t, b, "sighting", "5a0ac036-0000-4000-8000-0000000000b1")
	if s["sighting_of_ref"] != ind["id"] || s["first_seen"] != "2024-05-01T10:40:00.000Z" {
		t.Errorf("sighting: got %v", s)
	}
	// MISP's first_seen and last_seen bound the indicator's validity.
	b, err = ToSTIX(strings.NewReader(oneAttr("domain", "evil.example", true, `,"first_seen":"2024-04-01T00:00:00.000000+00:00","last_seen":"2024-04-30T12:00:00+02:00"`)))
	if err != nil {
		t.Fatal(err)
	}
	if ind := objectOf(t, b, "indicator"); ind["valid_from"] != "2024-04-01T00:00:00.000Z" || ind["valid_until"] != "2024-04-30T10:00:00.000Z" {
		t.Errorf("first_seen/last_seen: got valid_from %v, valid_until %v", ind["valid_from"], ind["valid_until"])
	}
	// The comment that holds no observable travels as a custom object.
	b, err = ToSTIX(strings.NewReader(oneAttr("text", "UPX packed", false, "")))
	if err != nil {
		t.Fatal(err)
	}
	if c := objectOf(t, b, "x-misp-attribute"); c["x_misp_value"] != "UPX packed" {
		t.Errorf("x-misp-attribute: got %v", c)
	}
}

func TestEventTagsAndGalaxies(t *testing.T) {
	ev := `{"Event":{"uuid":"5a0ac036-0000-4000-8000-000000000001","info":"APT28 again","date":"2024-05-01",
	"timestamp":"1714557600","publish_timestamp":"1714560000","distribution":"1",
	"Tag":[{"name":"tlp:white"},{"name":"misp-galaxy:threat-actor=\"APT28\""},{"name":"type:OSINT"},
	       {"name":"misp-galaxy:mitre-attack-pattern=\"Spearphishing Link - T1566.002\""},{"name":"misp-galaxy:sector=\"Government\""}],
	"Galaxy":[{"type":"mitre-tool","name":"Tool","GalaxyCluster":[{"type":"mitre-tool","value":"LaZagne - S0349","uuid":"b76b2d94-60e4-4107-a903-4a3a7622fb3b"}]}],
	"Attribute":[]}}`
	b, err := ToSTIX(strings.NewReader(ev))
	if err != nil {
		t.Fatal(err)
	}
	objs, metas := readBundle(t, b)
	byType := map[string]map[string]any{}
	for i, raw := range objs {
		var m map[string]any
		json.Unmarshal(raw, &m)
		byType[metas[i].Type] = m
	}
	rep := byType["report"]
	if rep["name"] != "APT28 again" || rep["published"] != "2024-05-01T10:40:00.000Z" || rep["x_misp_distribution"] != "1" {
		t.Errorf("report: got %v", rep)
	}
	if got := fmt.Sprint(rep["object_marking_refs"]); got != "["+stix.TLP2Clear+"]" {
		t.Errorf("tlp:white: got markings %s, want TLP:CLEAR", got)
	}
	if got := fmt.Sprint(rep["labels"]); got != `[type:OSINT misp-galaxy:sector="Government"]` {
		t.Errorf("labels: got %s", got)
	}
	if is := byType["intrusion-set"]; is["name"] != "APT28" {
		t.Errorf("intrusion-set: got %v", is)
	}
	ap := byType["attack-pattern"]
	if ap["name"] != "Spearphishing Link" || !strings.Contains(fmt.Sprint(ap["external_references"]), "external_id:T1566.002") {
		t.Errorf("attack-pattern: got %v", ap)
	}
	if tl := byType["tool"]; tl["name"] != "LaZagne" || !strings.Contains(fmt.Sprint(tl["external_references"]), "S0349") {
		t.Errorf("tool: got %v", tl)
	}
	// And back: the clusters are galaxy tags again.
	out, err := FromSTIX(objs)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`tlp:clear`, `misp-galaxy:threat-actor=\"APT28\"`, `misp-galaxy:mitre-tool=\"LaZagne - S0349\"`, `type:OSINT`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("export lacks tag %s: %s", want, out)
		}
	}
}

func TestInputForms(t *testing.T) {
	bare := `{"uuid":"5a0ac036-0000-4000-8000-000000000001","info":"bare","Attribute":[{"type":"domain","value":"a.example","to_ids":"1"}]}`
	for _, tc := range []struct {
		name, in string
		reports  int
		field    string // for errors
	}{
		{"wrapped", `{"Event":` + bare + `}`, 1, ""},
		{"bare", bare, 1, ""},
		{"list", `[{"Event":` + bare + `},` + strings.Replace(bare, "0001", "0002", 1) + `]`, 2, ""},
		{"response", `{"response":[{"Event":` + bare + `}]}`, 1, ""},
		{"empty", ``, 0, "event"},
		{"not json", `{"Event":`, 0, "event"},
		{"number", `42`, 0, "event"},
		{"response not list", `{"response":{}}`, 0, "response"},
		{"not an event", `{"foo":"bar"}`, 0, "Event"},
		{"bad attribute list", `{"Event":{"info":"x","Attribute":{}}}`, 0, "Event.Attribute"},
		{"bad value", `{"Event":{"info":"x","Attribute":[{"type":"domain","value":["a"]}]}}`, 0, "Event.Attribute.value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ToSTIX(strings.NewReader(tc.in))
			if tc.field != "" {
				var he *hub.Error
				if !errors.As(err, &he) || he.Code != hub.EInvalid || he.Field != tc.field {
					t.Fatalf("got error %v, want an EInvalid error on field %q", err, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, metas := readBundle(t, b)
			n := 0
			for _, m := range metas {
				if m.Type == "report" {
					n++
				}
			}
			if n != tc.reports {
				t.Errorf("got %d reports, want %d", n, tc.reports)
			}
		})
	}
}

func TestIdempotent(t *testing.T) {
	data, err := os.ReadFile("testdata/circl-5a0a9aa9-sunorcal.json")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := ToSTIX(bytes.NewReader(data))
	b, _ := ToSTIX(bytes.NewReader(data))
	if !bytes.Equal(a, b) {
		t.Error("the same event gave different bundles")
	}
	// Attribute UUIDs are kept as object UUIDs.
	if !bytes.Contains(a, []byte(`"observed-data--5a0a9ade-3b60-4fbb-87d2-4628950d210f"`)) {
		t.Error("attribute UUIDs not kept")
	}
}

func TestBadUUIDs(t *testing.T) {
	ev := `{"Event":{"uuid":"not-a-uuid","info":"x","Attribute":[
		{"uuid":"dup00000-0000-4000-8000-000000000000","type":"domain","value":"a.example","to_ids":true},
		{"uuid":"11111111-1111-4111-8111-111111111111","type":"domain","value":"b.example","to_ids":true},
		{"uuid":"11111111-1111-4111-8111-111111111111","type":"domain","value":"c.example","to_ids":true}]}}`
	b, err := ToSTIX(strings.NewReader(ev))
	if err != nil {
		t.Fatal(err)
	}
	objs, metas := readBundle(t, b)
	n := 0
	for _, m := range metas {
		if m.Type == "indicator" {
			n++
		}
	}
	if n != 3 {
		t.Errorf("got %d indicators, want 3", n)
	}
	back, err := FromSTIX(objs)
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Event struct{ Attribute []attribute }
	}
	if err := json.Unmarshal(back, &exp); err != nil {
		t.Fatal(err)
	}
	if got := len(exp.Event.Attribute); got != 3 {
		t.Errorf("got %d attributes back, want 3", got)
	}
}

func TestFromSTIXForeign(t *testing.T) {
	objs := [][]byte{
		[]byte(`{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2024-01-01T00:00:00Z","modified":"2024-01-02T00:00:00Z","pattern":"[ipv4-addr:value = '198.51.100.1']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","object_marking_refs":["` + stix.TLP2Green + `"]}`),
		[]byte(`{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd40","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","pattern":"[file:name = 'x.exe' AND file:hashes.'SHA-256' = '` + strings.Repeat("ab", 32) + `']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}`),
		[]byte(`{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd41","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","pattern":"[process:name = 'x'] FOLLOWEDBY [file:name = 'y']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}`),
		[]byte(`{"type":"intrusion-set","spec_version":"2.1","id":"intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c","created":"2017-05-31T21:31:48.664Z","modified":"2024-01-01T00:00:00Z","name":"APT28","external_references":[{"source_name":"mitre-attack","external_id":"G0007"}]}`),
	}
	out, err := FromSTIX(objs)
	if err != nil {
		t.Fatal(err)
	}
	got := attributesOf(t, out)
	want := map[string]attrKey{
		"8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f": {"ip-dst", "198.51.100.1", "Network activity", "", true},
		"8e2e2d2b-17d4-4cbf-938f-98ee46b3cd40": {"filename|sha256", "x.exe|" + strings.Repeat("ab", 32), "Payload delivery", "", true},
		"8e2e2d2b-17d4-4cbf-938f-98ee46b3cd41": {"stix2-pattern", "[process:name = 'x'] FOLLOWEDBY [file:name = 'y']", "Network activity", "", true},
	}
	for u, w := range want {
		if got[u] != w {
			t.Errorf("%s: got %+v, want %+v", u, got[u], w)
		}
	}
	for _, s := range []string{`misp-galaxy:mitre-intrusion-set=\"APT28 - G0007\"`, `"tlp:green"`} {
		if !bytes.Contains(out, []byte(s)) {
			t.Errorf("export lacks %s", s)
		}
	}
	if _, err := FromSTIX([][]byte{[]byte(`{"type":`)}); hub.ErrorField(err) != "objects[0]" {
		t.Errorf("bad JSON: got %v, want an error naming objects[0]", err)
	}
}

func FuzzMISP(f *testing.F) {
	files, _ := filepath.Glob("testdata/circl-5*.json")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil && len(data) < 5000 {
			f.Add(data)
		}
	}
	f.Add([]byte(oneAttr("ip-dst|port", "1.2.3.4|80", true, "")))
	f.Add([]byte(oneAttr("url", `'\`, true, `,"Tag":[{"name":"tlp:red"}]`)))
	f.Add([]byte(`{"response":[{"Event":{"info":"x","Object":[{"name":"file","Attribute":[{"type":"md5","value":"x","to_ids":1}]}]}}]}`))
	f.Add([]byte(`[{"uuid":"x","info":"","Galaxy":[{"type":"rat","GalaxyCluster":[{"value":""}]}]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ToSTIX(bytes.NewReader(data))
		if err != nil {
			return
		}
		objs, _ := readBundle(t, b)
		if _, err := FromSTIX(objs); err != nil {
			t.Fatalf("FromSTIX of our own bundle: %v", err)
		}
	})
}

func TestObjects(t *testing.T) {
	obj := func(toIDs bool) string {
		return fmt.Sprintf(`{"Event":{"uuid":"5a0ac036-0000-4000-8000-000000000001","info":"o","timestamp":"1714557600","Object":[
		{"uuid":"5a0ac036-0000-4000-8000-0000000000a1","name":"file","meta-category":"file","comment":"dropper","Attribute":[
			{"uuid":"5a0ac036-0000-4000-8000-0000000000c1","type":"filename","object_relation":"filename","value":"x.exe","to_ids":false},
			{"uuid":"5a0ac036-0000-4000-8000-0000000000c2","type":"md5","object_relation":"md5","value":"0749bae92ca336a02c83d126e04ec628","to_ids":%v},
			{"uuid":"5a0ac036-0000-4000-8000-0000000000c3","type":"sha1","object_relation":"sha1","value":"77b0c41b7d340b8a3d903f21347bbf06aa766b5b","to_ids":%v},
			{"uuid":"5a0ac036-0000-4000-8000-0000000000c4","type":"size-in-bytes","object_relation":"size-in-bytes","value":"1024","to_ids":false}]},
		{"uuid":"5a0ac036-0000-4000-8000-0000000000a2","name":"ip-port","meta-category":"network","Attribute":[
			{"uuid":"5a0ac036-0000-4000-8000-0000000000d1","type":"ip-dst","object_relation":"ip","value":"198.51.100.1","to_ids":%v},
			{"uuid":"5a0ac036-0000-4000-8000-0000000000d2","type":"ip-dst","object_relation":"ip","value":"198.51.100.2","to_ids":%v}]}]}}`,
			toIDs, toIDs, toIDs, toIDs)
	}
	b, err := ToSTIX(strings.NewReader(obj(false)))
	if err != nil {
		t.Fatal(err)
	}
	od := objectOf(t, b, "observed-data")
	if refs := fmt.Sprint(od["object_refs"]); refs != "[file--5a0ac036-0000-4000-8000-0000000000c1]" {
		t.Errorf("file object: got object_refs %s, want one file", refs)
	}
	f := objectOf(t, b, "file", "5a0ac036-0000-4000-8000-0000000000c1")
	if f["name"] != "x.exe" || f["size"] != 1024.0 || len(f["hashes"].(map[string]any)) != 2 {
		t.Errorf("merged file: got %v", f)
	}
	if od["description"] != "dropper" || len(od["x_misp_attributes"].([]any)) != 4 {
		t.Errorf("observed-data: got %v", od)
	}

	b, err = ToSTIX(strings.NewReader(obj(true)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := objectOf(t, b, "indicator")["pattern"], "[file:hashes.MD5 = '0749bae92ca336a02c83d126e04ec628' AND file:hashes.'SHA-1' = '77b0c41b7d340b8a3d903f21347bbf06aa766b5b']"; got != want {
		t.Errorf("file object pattern: got %s, want %s", got, want)
	}
	if got, want := objectOf(t, b, "indicator", "5a0ac036-0000-4000-8000-0000000000a2")["pattern"], "[ipv4-addr:value = '198.51.100.1'] AND [ipv4-addr:value = '198.51.100.2']"; got != want {
		t.Errorf("ip-port pattern: got %s, want %s", got, want)
	}
}

func BenchmarkToSTIX(b *testing.B) {
	data, err := os.ReadFile("testdata/circl-5a0a9aa9-sunorcal.json")
	if err != nil {
		b.Fatal(err)
	}
	attrs := float64(len(attributesOf(b, data)))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ToSTIX(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(attrs*float64(b.N)/b.Elapsed().Seconds(), "attributes/s")
}

func BenchmarkFromSTIX(b *testing.B) {
	data, err := os.ReadFile("testdata/circl-5a0a9aa9-sunorcal.json")
	if err != nil {
		b.Fatal(err)
	}
	bundle, err := ToSTIX(bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	objs, _ := readBundle(b, bundle)
	for b.Loop() {
		if _, err := FromSTIX(objs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(objs))*float64(b.N)/b.Elapsed().Seconds(), "objects/s")
}

func TestSharedClusters(t *testing.T) {
	ev := func(n int) string {
		return fmt.Sprintf(`{"Event":{"uuid":"5a0ac036-0000-4000-8000-00000000000%d","info":"e%d","Tag":[{"name":"misp-galaxy:threat-actor=\"APT28\""}],
		"Galaxy":[{"type":"threat-actor","GalaxyCluster":[{"type":"threat-actor","value":"APT28"}]}],
		"Attribute":[{"uuid":"5a0ac036-0000-4000-8000-0000000000a%d","type":"domain","value":"a.example","to_ids":true,
			"Tag":[{"name":"misp-galaxy:threat-actor=\"APT28\""},{"name":"misp-galaxy:threat-actor=\"APT28\""}],
			"Galaxy":[{"type":"threat-actor","GalaxyCluster":[{"value":"APT28"}]}]}]}}`, n, n, n)
	}
	b, err := ToSTIX(strings.NewReader("[" + ev(1) + "," + ev(2) + "]"))
	if err != nil {
		t.Fatal(err)
	}
	objs, metas := readBundle(t, b)
	var sets, rels int
	var isID string
	for i, m := range metas {
		switch m.Type {
		case "intrusion-set":
			sets++
			isID = m.ID
		case "relationship":
			rels++
		}
		_ = objs[i]
	}
	if sets != 1 || rels != 2 {
		t.Errorf("got %d intrusion sets and %d relationships, want 1 and 2", sets, rels)
	}
	for i, m := range metas {
		if m.Type == "report" && !bytes.Contains(objs[i], []byte(isID)) {
			t.Errorf("report %s does not refer to the shared intrusion set", m.ID)
		}
	}
}

func FuzzFromSTIX(f *testing.F) {
	f.Add([]byte(`{"type":"file","id":"file--1","name":"x","hashes":{"MD5":5}}`), []byte(`{"type":"observed-data","id":"observed-data--2","object_refs":["file--1"]}`))
	f.Add([]byte(`{"type":"indicator","id":"indicator--1","pattern":"[file:hashes.MD5 = 'a'] AND [ipv4-addr:value = '1.2.3.4']","pattern_type":"stix"}`), []byte(`{"type":"report","id":"report--1","object_refs":["indicator--1",7]}`))
	f.Add([]byte(`{"type":"x509-certificate","id":"x509-certificate--1","hashes":{"SHA-1":[]}}`), []byte(`{"type":"sighting","id":"sighting--1","sighting_of_ref":"x"}`))
	f.Add([]byte(`{"type":"network-traffic","id":"network-traffic--1","dst_ref":"ipv4-addr--1","dst_port":"80"}`), []byte(`{"type":"ipv4-addr","id":"ipv4-addr--1","value":1}`))
	f.Add([]byte(`{"type":"indicator","id":"indicator--1","x_misp_attributes":[1,{"value":2}],"labels":"x"}`), []byte(`{}`))
	// A report without a uuid in its id once gave an event with neither uuid nor info.
	f.Add([]byte(`{"type":"0","id":"0"}`), []byte(`{"type":"report","id":"--"}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		out, err := FromSTIX([][]byte{a, b})
		if err != nil {
			return
		}
		if _, err := decodeEvents(out); err != nil {
			t.Fatalf("FromSTIX wrote an event it cannot read: %v\n%s", err, out)
		}
	})
}
