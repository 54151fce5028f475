package misp

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"cshub/internal/hub"
)

// sameAsOracle fails when FromSTIX and the map-based conversion it replaced disagree on objs:
// different bytes, or an error in one and not the other, or errors on different fields. The
// messages may differ: encoding/json names the Go type it decoded into.
func sameAsOracle(t testing.TB, objs [][]byte) {
	t.Helper()
	got, err := FromSTIX(objs)
	want, oerr := oldFromSTIX(objs)
	if (err == nil) != (oerr == nil) || hub.ErrorField(err) != hub.ErrorField(oerr) || hub.ErrorCode(err) != hub.ErrorCode(oerr) {
		t.Fatalf("error %v, the oracle's %v; objects:\n%s", err, oerr, bytes.Join(objs, []byte("\n")))
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Fatalf("differs from the oracle at byte %d:\n got …%s\nwant …%s\nobjects:\n%s", i,
			got[max(i-200, 0):min(i+200, len(got))], want[max(i-200, 0):min(i+200, len(want))], bytes.Join(objs, []byte("\n")))
	}
}

// stixObjects returns the STIX objects in a JSON file, wherever they sit (a bundle, a list, a
// test table): every JSON object with a string type and id.
func stixObjects(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		if r, err = gzip.NewReader(f); err != nil {
			t.Fatal(err)
		}
	}
	var v any
	if err := json.NewDecoder(r).Decode(&v); err != nil {
		return nil
	}
	var out [][]byte
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["type"].(string); ok {
				if _, ok := v["id"].(string); ok {
					b, _ := json.Marshal(v)
					out = append(out, b)
					return
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	return out
}

// TestWriteEventOracle compares FromSTIX with the conversion it replaced on real data: the
// MISP samples through ToSTIX, and the STIX in the repository's test data and /work/shared.
// Each file goes whole (with its report, if any), object by object (events without a report),
// and in pairs (a sighting or observed-data beside what it refers to).
func TestWriteEventOracle(t *testing.T) {
	inputs := map[string][][]byte{}
	for _, f := range samples(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		bundle, err := ToSTIX(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		inputs[f], _ = readBundle(t, bundle)
	}
	var files []string
	for _, g := range []string{"../*/testdata/*.json", "/work/shared/data/attack/*.json", "/work/shared/data/stix-schemas/examples/*.json",
		"/work/shared/data/stix-schemas/examples/*/*.json", "/work/shared/data/cexf/*.json"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	for _, f := range files {
		if objs := stixObjects(t, f); len(objs) > 0 {
			inputs[f] = objs
		}
	}
	if len(inputs) < 10 {
		t.Fatalf("only %d inputs", len(inputs))
	}
	n := 0
	for name, objs := range inputs {
		t.Run(filepath.Base(name), func(t *testing.T) {
			sameAsOracle(t, objs)
			for i, o := range objs {
				sameAsOracle(t, [][]byte{o})
				if i > 0 {
					sameAsOracle(t, [][]byte{objs[i-1], o})
				}
			}
			n += len(objs)
		})
	}
	t.Logf("%d inputs, %d objects", len(inputs), n)
}

func FuzzWriteEventOracle(f *testing.F) {
	for _, s := range [][2]string{
		{`{"type":"file","id":"file--1","name":"x","hashes":{"MD5":5}}`, `{"type":"observed-data","id":"observed-data--2","object_refs":["file--1"]}`},
		{`{"type":"indicator","id":"indicator--1","pattern":"[file:hashes.MD5 = 'a'] AND [ipv4-addr:value = '1.2.3.4']","pattern_type":"stix"}`, `{"type":"report","id":"report--1","object_refs":["indicator--1",7]}`},
		{`{"type":"x509-certificate","id":"x509-certificate--1","hashes":{"SHA-1":[]}}`, `{"type":"sighting","id":"sighting--1","sighting_of_ref":"x"}`},
		{`{"type":"network-traffic","id":"network-traffic--1","dst_ref":"ipv4-addr--1","dst_port":"80"}`, `{"type":"ipv4-addr","id":"ipv4-addr--1","value":1}`},
		{`{"type":"indicator","id":"indicator--1","x_misp_attributes":[1,{"value":2}],"labels":"x"}`, `{}`},
		{`{"type":"indicator","id":"indicator--1","pattern":"[url:value = '<a\\u2028&\u00e9\\\\']","pattern_type":"stix","labels":["x","misp:type=\"url\""],"x_misp_value":"v"}`,
			`{"type":"sighting","id":"sighting--1","sighting_of_ref":"indicator--1","first_seen":"2024-01-01T00:00:00Z","type":"sighting"}`},
		{` {"typ\u0065":"report","id":"report--1","created_by_ref":"identity--1","published":"2024-05-01T00:00:00Z","object_marking_refs":["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"]} `,
			`{"type":"identity","id":"identity--1","name":"CIRCL","number":1e400}`},
		{`null`, `{"type":"network-traffic","id":"n--1","src_ref":"ipv6-addr--1","src_port":-0.5e1}`},
		{`{"type":"indicator","id":"indicator--1","pattern":"[file:hashes.'SHA-256' = '0a1b']","pattern_type":"stix","object_marking_refs":["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"]}`,
			`{"type":"indicator","id":"indicator--2","pattern":"[ipv4-addr:value = '198.51.100.0/24']","pattern_type":"stix"}`},
		{`{"type":"indicator","id":"indicator--1","pattern":"[file:hashes.'' = 'a']","pattern_type":"stix"}`,
			`{"type":"indicator","id":"indicator--2","pattern":"[domain-name:value = 'a\\'b'] AND [url:value = 'c']","pattern_type":"stix"}`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		sameAsOracle(t, [][]byte{a, b})
	})
}

// syntheticIndicators returns n indicators of the shape and mix the export benchmarks store
// (bench.SyntheticIndicators, which this package's tests cannot import): IPv4 addresses and
// blocks, domains and SHA-256 hashes, TLP-marked, with a few labels and descriptions.
func syntheticIndicators(n int) [][]byte {
	r := rand.New(rand.NewPCG(1, 14))
	markings := []string{"marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487", "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
		"marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421", "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"}
	out := make([][]byte, n)
	for i := range out {
		var typ, value string
		switch p := r.IntN(100); {
		case p < 60:
			a := netip.AddrFrom4([4]byte{byte(1 + r.IntN(222)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
			typ, value = "ipv4-addr:value", a.String()
			if r.IntN(4) == 0 {
				value = netip.PrefixFrom(a, 16+r.IntN(15)).Masked().String()
			}
		case p < 85:
			typ, value = "domain-name:value", fmt.Sprintf("h%x.example%d.com", r.Uint32(), r.IntN(100))
		default:
			typ, value = "file:hashes.'SHA-256'", fmt.Sprintf("%016x%016x%016x%016x", r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64())
		}
		ts := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(365*24*3600)) * time.Second).Format("2006-01-02T15:04:05.000Z")
		extra := ""
		if r.IntN(10) == 0 {
			extra = `,"labels":["phishing","misp:type=\"x\""],"description":"seen <here> & there"`
		}
		out[i] = fmt.Appendf(nil, `{"type":"indicator","spec_version":"2.1","id":"indicator--%08x-0000-4000-8000-%012x","created":"%s","modified":"%s","name":"Synthetic %s","indicator_types":["malicious-activity"],"pattern":"[%s = '%s']","pattern_type":"stix","valid_from":"%s","confidence":%d,"object_marking_refs":["%s"]%s}`,
			i, r.Uint64()>>16, ts, ts, value, typ, value, ts, r.IntN(101), markings[r.IntN(len(markings))], extra)
	}
	return out
}

// TestWriteEventOracleSynthetic compares on the indicators the export benchmarks measure, the
// shape simplePattern maps without the parser.
func TestWriteEventOracleSynthetic(t *testing.T) {
	sameAsOracle(t, syntheticIndicators(20000))
}

// TestWriteEventOracleMixed compares on synthetic indicators with sightings of some of them and,
// between them, objects that are not mapped by pattern (observed-data with its observable, an
// indicator carrying MISP bookkeeping), so that attributes encoded ahead on every core meet
// the others, the sightings and the chunk boundaries in every arrangement.
func TestWriteEventOracleMixed(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 14))
	inds := syntheticIndicators(9000)
	var objs [][]byte
	for i, ind := range inds {
		objs = append(objs, ind)
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		switch r.IntN(12) {
		case 0:
			objs = append(objs, fmt.Appendf(nil, `{"type":"sighting","spec_version":"2.1","id":"sighting--%s","created":"2025-03-01T00:00:00Z","modified":"2025-03-01T00:00:00Z","sighting_of_ref":"%s","first_seen":"2025-02-01T00:00:00Z"}`,
				id, jsonID(t, ind)))
		case 1:
			objs = append(objs, fmt.Appendf(nil, `{"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--%s","value":"192.0.2.%d"}`, id, i%256),
				fmt.Appendf(nil, `{"type":"observed-data","spec_version":"2.1","id":"observed-data--%s","created":"2025-03-01T00:00:00Z","modified":"2025-03-01T00:00:00Z","first_observed":"2025-03-01T00:00:00Z","last_observed":"2025-03-01T00:00:00Z","number_observed":1,"object_refs":["ipv4-addr--%s"]}`, id, id))
		case 2:
			objs = append(objs, fmt.Appendf(nil, `{"type":"indicator","spec_version":"2.1","id":"indicator--%s","created":"2025-03-01T00:00:00Z","modified":"2025-03-01T00:00:00Z","pattern":"[domain-name:value = 'm%d.example']","pattern_type":"stix","valid_from":"2025-03-01T00:00:00Z","labels":["misp:type=\"domain\"","misp:category=\"Network activity\""],"x_misp_value":"m%d.example","x_misp_type":"domain"}`,
				strings.Replace(id, "-4000-", "-4001-", 1), i, i))
		}
	}
	sameAsOracle(t, objs)
}

// jsonID returns the id of the STIX object o.
func jsonID(t *testing.T, o []byte) string {
	var v struct{ ID string }
	if err := json.Unmarshal(o, &v); err != nil {
		t.Fatal(err)
	}
	return v.ID
}

// TestSummarizeOrder checks that sorting ids by their keys gives the strings' order: ids that
// share their key bytes, ids shorter than the shared prefix's key, a NUL byte beside an id's
// end, repeated ids; on three cores, a part each.
func TestSummarizeOrder(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
	r := rand.New(rand.NewPCG(5, 14))
	random := make([]string, 3*4096+7) // three parts of the least size package parsort sorts apart
	for i := range random {
		random[i] = fmt.Sprintf("%s--%08x-%04x", []string{"indicator", "ipv4-addr", "file"}[r.IntN(3)], r.Uint32()>>r.IntN(32), r.IntN(3))
	}
	for _, tc := range []struct {
		name string
		ids  []string
	}{
		{"none", nil},
		{"one", []string{"x--1"}},
		{"random", random},
		{"same key", []string{"indicator--00000000b", "indicator--00000000a", "indicator--00000000", "indicator--0000000"}},
		{"short", []string{"indicator--abc", "indicator--ab", "indicator--abcdefghij", "indicator--a"}},
		{"nul", []string{"a--x\x00", "a--x", "a--x\x00\x00", "a--x\x01"}},
		{"repeated", []string{"a--2", "a--1", "a--2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := make([]sobj, len(tc.ids))
			var notes noted
			for i, id := range tc.ids {
				objs[i].id = id
				notes.add(&objs[i])
			}
			sum := summarize(objs, notes)
			want := slices.Sorted(slices.Values(tc.ids))
			got := make([]string, len(sum.sorted))
			for i, k := range sum.sorted {
				got[i] = k.id
			}
			if !slices.Equal(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
			if distinct := len(slices.Compact(want)) == len(tc.ids); sum.distinct != distinct {
				t.Errorf("distinct %v, want %v", sum.distinct, distinct)
			}
		})
	}
}

// TestNotedMerge: what decodeAll notes part by part, merged, is what one pass notes, empty
// parts included.
func TestNotedMerge(t *testing.T) {
	objs := []sobj{
		{id: "indicator--b1", typ: "indicator", modified: "2025-01-02T00:00:00Z", tlp: hub.TLPGreen},
		{id: "indicator--b2", typ: "indicator", modified: "2025-03-01T00:00:00Z", tlp: hub.TLPClear},
		{id: "indicator--a", typ: "report", modified: "2025-02-01T00:00:00Z", tlp: hub.TLPAmber},
		{id: "indicator--b3", typ: "indicator", modified: "2024-12-31T00:00:00Z", tlp: hub.TLPClear},
	}
	var want noted
	for i := range objs {
		want.add(&objs[i])
	}
	for cut := range len(objs) + 1 {
		var a, b, got noted
		for i := range objs {
			if i < cut {
				a.add(&objs[i])
			} else {
				b.add(&objs[i])
			}
		}
		got.merge(&noted{}) // an empty part
		got.merge(&a)
		got.merge(&b)
		if got != want {
			t.Errorf("parts cut at %d: %+v; want %+v", cut, got, want)
		}
	}
	if want.prefix != "indicator--" || want.latest != "2025-03-01T00:00:00Z" || want.tlp != hub.TLPAmber || !want.report {
		t.Errorf("noted %+v", want)
	}
}

// TestStopIn: the eight-byte test of str finds a byte strStop holds wherever it lies, beside
// any other bytes, and finds none where there is none.
func TestStopIn(t *testing.T) {
	want := func(s string) bool {
		for i := range 8 {
			if strStop[s[i]] {
				return true
			}
		}
		return false
	}
	check := func(s string) {
		if got := stopIn(load8(s)); got != want(s) {
			t.Fatalf("stopIn(%q) = %v, want %v", s, got, want(s))
		}
	}
	for k := range 8 {
		for c := range 256 {
			for _, fill := range []byte{'a', 0x21, 0x7f, 0x5b, 0x5d, 0x23} {
				b := bytes.Repeat([]byte{fill}, 8)
				b[k] = byte(c)
				check(string(b))
			}
		}
	}
	r := rand.New(rand.NewPCG(8, 8))
	for range 200000 {
		var b [8]byte
		for i := range b {
			b[i] = byte(0x18 + r.IntN(0x70)) // around the bounds: control bytes, quote, backslash, DEL
		}
		check(string(b[:]))
	}
}

// TestSummaryName: the event an export names after its ids gets uuid5 of them sorted and
// joined, whatever the number of blocks and of cores that copy them.
func TestSummaryName(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 3} {
		runtime.GOMAXPROCS(procs)
		for _, n := range []int{0, 1, nameBlock - 1, nameBlock, nameBlock + 1, 3*nameBlock + 5} {
			objs := make([]sobj, n)
			var notes noted
			ids := make([]string, n)
			for i, k := range rand.Perm(n) {
				ids[i] = fmt.Sprintf("indicator--%08d-0000-4000-8000-000000000000", k)
				objs[i].id = ids[i]
				notes.add(&objs[i])
			}
			sum := summarize(objs, notes)
			slices.Sort(ids)
			if got, want := sum.name("export:", ","), uuid5("export:"+strings.Join(ids, ",")); got != want {
				t.Errorf("%d ids on %d cores: %s, want %s", n, procs, got, want)
			}
		}
	}
}
