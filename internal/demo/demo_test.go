package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/language"

	"cshub/internal/hub"
	"cshub/internal/stix"
	"cshub/internal/stix/pattern"
)

// allies maps the ISO 3166-1 alpha-2 codes of the 29 allied states of 2019 to their names.
var allies = map[string]string{
	"AL": "Albania", "BE": "Belgium", "BG": "Bulgaria", "CA": "Canada", "HR": "Croatia",
	"CZ": "Czech Republic", "DK": "Denmark", "EE": "Estonia", "FR": "France", "DE": "Germany",
	"GR": "Greece", "HU": "Hungary", "IS": "Iceland", "IT": "Italy", "LV": "Latvia",
	"LT": "Lithuania", "LU": "Luxembourg", "ME": "Montenegro", "NL": "Netherlands", "NO": "Norway",
	"PL": "Poland", "PT": "Portugal", "RO": "Romania", "SK": "Slovakia", "SI": "Slovenia",
	"ES": "Spain", "TR": "Turkey", "GB": "United Kingdom", "US": "United States",
}

func isCountry(code string) bool {
	if len(code) != 2 || strings.ToUpper(code) != code {
		return false
	}
	r, err := language.ParseRegion(code)
	return err == nil && r.IsCountry() && !r.IsPrivateUse()
}

func TestOrgs(t *testing.T) {
	orgs := Orgs()
	if got, want := len(orgs), 30; got != want {
		t.Fatalf("len(Orgs()) = %d, want %d", got, want)
	}
	op := orgs[0]
	if op.Code != Operator || op.Kind != hub.OrgOperator || op.Country != "BE" || op.Name != "Hub operator" || !op.Active {
		t.Errorf("Orgs()[0] = %+v, want the active hub operator %q in BE", op, Operator)
	}

	active := ActiveMembers()
	if got, want := active, []string{"cert-us", "cert-uk", "cert-fr", "cert-nl", "cert-be"}; !slices.Equal(got, want) {
		t.Errorf("ActiveMembers() = %q, want %q", got, want)
	}

	codes := map[string]bool{Operator: true}
	countries := map[string]bool{}
	var gotActive []string
	for _, o := range orgs[1:] {
		if o.Kind != hub.OrgMember {
			t.Errorf("%s: Kind = %q, want %q", o.Code, o.Kind, hub.OrgMember)
		}
		if codes[o.Code] {
			t.Errorf("%s: duplicate code", o.Code)
		}
		codes[o.Code] = true
		if !isCountry(o.Country) {
			t.Errorf("%s: Country %q is not an ISO 3166-1 alpha-2 code", o.Code, o.Country)
		}
		if countries[o.Country] {
			t.Errorf("%s: second CERT for country %s", o.Code, o.Country)
		}
		countries[o.Country] = true
		name, ok := allies[o.Country]
		if !ok {
			t.Errorf("%s: country %s is not one of the 29 allies", o.Code, o.Country)
		}
		want := "cert-" + strings.ToLower(o.Country)
		if o.Country == "GB" {
			want = "cert-uk"
		}
		if o.Code != want {
			t.Errorf("country %s: Code = %q, want %q", o.Country, o.Code, want)
		}
		if !strings.Contains(o.Name, name) {
			t.Errorf("%s: Name %q does not name the country %q", o.Code, o.Name, name)
		}
		if o.Active {
			gotActive = append(gotActive, o.Code)
		}
	}
	if got, want := len(countries), len(allies); got != want {
		t.Errorf("members cover %d countries, want %d", got, want)
	}
	slices.Sort(gotActive)
	if want := slices.Sorted(slices.Values(active)); !slices.Equal(gotActive, want) {
		t.Errorf("active members = %q, want %q", gotActive, want)
	}

	// Each call returns fresh data.
	orgs[1].Name = "changed"
	if Orgs()[1].Name == "changed" {
		t.Error("Orgs returns shared data")
	}
}

// tlp2 holds the ids of the five TLP 2.0 marking-definitions (FIRST, via OASIS).
var tlp2 = map[string]string{
	"marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": "clear",
	"marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": "green",
	"marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": "amber",
	"marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": "amber+strict",
	"marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": "red",
}

var (
	idPattern       = regexp.MustCompile(`^([a-z0-9][a-z0-9-]*[a-z0-9])--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	relTypePattern  = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	timestampFields = []string{"created", "modified", "published", "valid_from", "valid_until", "first_seen", "last_seen", "first_observed", "last_observed", "start", "end"}
)

// scoTypes are the cyber-observable types the seed bundle uses: they have no created/modified.
var scoTypes = map[string]bool{"autonomous-system": true, "ipv4-addr": true, "network-traffic": true, "domain-name": true}

// required lists, per type, the properties the STIX 2.1 specification makes mandatory beyond
// the common ones (type, id, spec_version, created, modified), which are checked for all.
var required = map[string][]string{
	"report":             {"name", "published", "object_refs"},
	"indicator":          {"pattern", "pattern_type", "valid_from"},
	"relationship":       {"relationship_type", "source_ref", "target_ref"},
	"observed-data":      {"first_observed", "last_observed", "number_observed", "object_refs"},
	"incident":           {"name"},
	"campaign":           {"name"},
	"identity":           {"name"},
	"infrastructure":     {"name"},
	"note":               {"content", "object_refs"},
	"intrusion-set":      {"name"},
	"marking-definition": {},
	"location":           {},
	"autonomous-system":  {"number"},
	"ipv4-addr":          {"value"},
	"domain-name":        {"value"},
	"network-traffic":    {"protocols"},
}

func parseTime(s string) (time.Time, error) {
	if !strings.HasSuffix(s, "Z") {
		return time.Time{}, errors.New("not in UTC (no trailing Z)")
	}
	return time.Parse(time.RFC3339Nano, s)
}

// refs calls fn for every identifier in a *_ref or *_refs property of v, at any depth.
func refs(v any, fn func(prop, id string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			switch {
			case strings.HasSuffix(k, "_ref"):
				s, _ := x.(string)
				fn(k, s)
			case strings.HasSuffix(k, "_refs"):
				list, _ := x.([]any)
				if len(list) == 0 {
					fn(k, "") // an empty list is not allowed either
				}
				for _, e := range list {
					s, _ := e.(string)
					fn(k, s)
				}
			default:
				refs(x, fn)
			}
		}
	case []any:
		for _, x := range v {
			refs(x, fn)
		}
	}
}

// checkObject reports what is wrong with one object of the seed bundle under the STIX 2.1 rules
// listed in required and the common rules for SDOs, SROs, SCOs and marking-definitions.
func checkObject(o map[string]any) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	typ, _ := o["type"].(string)
	id, _ := o["id"].(string)
	m := idPattern.FindStringSubmatch(id)
	if m == nil || m[1] != typ {
		bad("id %q is not %s--<uuid>", id, typ)
	}
	if o["spec_version"] != "2.1" {
		bad("spec_version = %v, want 2.1", o["spec_version"])
	}
	req, known := required[typ]
	if !known {
		bad("type %q is not one the test knows", typ)
	}
	for _, p := range req {
		if v, ok := o[p]; !ok || v == "" || v == nil {
			bad("missing required property %s", p)
		}
	}
	times := map[string]time.Time{}
	for _, p := range timestampFields {
		v, ok := o[p]
		if !ok {
			continue
		}
		s, _ := v.(string)
		tm, err := parseTime(s)
		if err != nil {
			bad("%s %q: %v", p, s, err)
		}
		times[p] = tm
	}
	order := func(early, late string, strict bool) {
		a, okA := times[early]
		b, okB := times[late]
		if okA && okB && (b.Before(a) || strict && b.Equal(a)) {
			bad("%s %v is before %s %v", late, b, early, a)
		}
	}
	switch {
	case scoTypes[typ]:
		if _, ok := o["created"]; ok {
			bad("a cyber-observable has no created")
		}
	case typ == "marking-definition":
		if _, ok := tlp2[id]; !ok {
			bad("marking-definition is not one of the TLP 2.0 ones")
		}
		if _, ok := times["created"]; !ok {
			bad("missing created")
		}
	default:
		for _, p := range []string{"created", "modified", "created_by_ref"} {
			if _, ok := o[p]; !ok {
				bad("missing %s", p)
			}
		}
		order("created", "modified", false)
	}
	if typ != "marking-definition" {
		marks, _ := o["object_marking_refs"].([]any)
		if len(marks) != 1 {
			bad("object_marking_refs = %v, want one TLP 2.0 marking", o["object_marking_refs"])
		}
		for _, mk := range marks {
			if s, _ := mk.(string); tlp2[s] == "" {
				bad("object_marking_refs holds %v, not a TLP 2.0 marking", mk)
			}
		}
	}
	order("first_seen", "last_seen", false)
	order("first_observed", "last_observed", false)
	order("valid_from", "valid_until", true)
	order("start", "end", false)

	switch typ {
	case "location":
		_, region := o["region"]
		country, hasCountry := o["country"].(string)
		_, lat := o["latitude"]
		_, long := o["longitude"]
		if !region && !hasCountry && !(lat && long) {
			bad("location needs region, country or latitude and longitude")
		}
		if hasCountry && !isCountry(country) {
			bad("country %q is not an ISO 3166-1 alpha-2 code", country)
		}
	case "relationship":
		if rt, _ := o["relationship_type"].(string); !relTypePattern.MatchString(rt) {
			bad("relationship_type %q is not lower-case words joined by hyphens", rt)
		}
	case "indicator":
		if o["pattern_type"] != "stix" {
			bad("pattern_type = %v, want stix", o["pattern_type"])
			break
		}
		p, _ := o["pattern"].(string)
		if _, err := pattern.Parse(p); err != nil {
			bad("pattern %q: %v", p, err)
		}
	case "observed-data":
		n, _ := o["number_observed"].(float64)
		if n < 1 || n > 999999999 || n != float64(int64(n)) {
			bad("number_observed = %v, want an integer in 1..999999999", o["number_observed"])
		}
	case "network-traffic":
		_, src := o["src_ref"]
		_, dst := o["dst_ref"]
		if !src && !dst {
			bad("network-traffic needs src_ref or dst_ref")
		}
	case "report":
		types, _ := o["report_types"].([]any)
		if len(types) == 0 {
			bad("report_types is empty")
		}
		for _, t := range types {
			if s, _ := t.(string); !relTypePattern.MatchString(s) {
				bad("report_types value %q is not lower-case words joined by hyphens", t)
			}
		}
	}
	return errs
}

// seedObjects decodes the seed bundle into its objects, failing the test if it is not a bundle.
func seedObjects(t *testing.T) []map[string]any {
	t.Helper()
	var b struct {
		Type    string           `json:"type"`
		ID      string           `json:"id"`
		Objects []map[string]any `json:"objects"`
	}
	if err := json.Unmarshal(SeedBundle(), &b); err != nil {
		t.Fatalf("seed bundle is not valid JSON: %v", err)
	}
	if m := idPattern.FindStringSubmatch(b.ID); b.Type != "bundle" || m == nil || m[1] != "bundle" {
		t.Fatalf("seed bundle: type %q id %q, want a bundle", b.Type, b.ID)
	}
	return b.Objects
}

func TestSeedBundle(t *testing.T) {
	objs := seedObjects(t)
	if n := len(objs); n < 40 || n > 80 {
		t.Errorf("seed bundle has %d objects, want 40 to 80", n)
	}

	ids := map[string]bool{}
	byType := map[string]int{}
	for _, o := range objs {
		id, _ := o["id"].(string)
		if ids[id] {
			t.Errorf("%s: duplicate id", id)
		}
		ids[id] = true
		typ, _ := o["type"].(string)
		byType[typ]++
		for _, e := range checkObject(o) {
			t.Errorf("%s: %s", id, e)
		}
	}

	external := map[string]bool{}
	for _, id := range ExternalRefs() {
		external[id] = false
	}
	for _, o := range objs {
		refs(o, func(prop, ref string) {
			if ids[ref] {
				return
			}
			if _, ok := external[ref]; ok {
				external[ref] = true
				return
			}
			t.Errorf("%s: %s %q is neither in the bundle nor in ExternalRefs", o["id"], prop, ref)
		})
	}
	for id, used := range external {
		if !used {
			t.Errorf("ExternalRefs lists %s, which the seed bundle does not refer to", id)
		}
		if ids[id] {
			t.Errorf("ExternalRefs lists %s, which the seed bundle holds itself", id)
		}
	}

	// Every object but the markings and the operator's own identity says who made it: the
	// hub operator's demo identity.
	var operator string
	for _, o := range objs {
		if o["type"] == "identity" && o["name"] == "Hub operator" {
			operator = o["id"].(string)
		}
	}
	if operator == "" {
		t.Fatal("no identity named \"Hub operator\"")
	}
	for _, o := range objs {
		if by, ok := o["created_by_ref"]; ok && by != operator {
			t.Errorf("%s: created_by_ref = %v, want the hub operator %s", o["id"], by, operator)
		}
	}

	// The scenario carries what the demo relies on.
	for _, typ := range []string{"report", "indicator", "location", "identity", "relationship", "infrastructure", "incident", "campaign", "observed-data"} {
		if byType[typ] == 0 {
			t.Errorf("no %s in the seed bundle", typ)
		}
	}
	var policy int
	for _, o := range objs {
		types, _ := o["report_types"].([]any)
		if o["type"] == "report" && slices.Contains(types, any("policy-development")) {
			policy++
		}
	}
	if policy != 3 {
		t.Errorf("%d policy-development reports, want 3", policy)
	}
	for _, k := range slices.Sorted(maps.Keys(byType)) {
		t.Logf("%-20s %d", k, byType[k])
	}
	t.Logf("%-20s %d", "total", len(objs))
}

// TestSeedBundleStixValidate runs every object of the seed bundle through the hub's own STIX
// validator, which is what ingest will do.
func TestSeedBundleStixValidate(t *testing.T) {
	var b struct {
		Objects []json.RawMessage `json:"objects"`
	}
	if err := json.Unmarshal(SeedBundle(), &b); err != nil {
		t.Fatal(err)
	}
	for i, raw := range b.Objects {
		m, _, err := stix.Validate(raw)
		if err != nil {
			t.Errorf("object %d: %v", i, err)
			continue
		}
		if m.Upgraded {
			t.Errorf("%s: validator upgraded it from STIX 2.0", m.ID)
		}
		for _, w := range m.Warnings {
			t.Errorf("%s: warning: %s", m.ID, w)
		}
	}
}

// TestSeedBundleIndicatorsSafe keeps real third-party networks out of the demo: address
// indicators may only name the documentation ranges of RFC 5737 and RFC 3849.
func TestSeedBundleIndicatorsSafe(t *testing.T) {
	docRanges := []string{"192.0.2.", "198.51.100.", "203.0.113.", "2001:db8:", "2001:DB8:"}
	for _, o := range seedObjects(t) {
		var vals []string
		switch o["type"] {
		case "indicator":
			p, _ := o["pattern"].(string)
			if !strings.Contains(p, "ipv4-addr") && !strings.Contains(p, "ipv6-addr") {
				continue
			}
			vals = regexp.MustCompile(`'([^']*)'`).FindAllString(p, -1)
		case "ipv4-addr", "ipv6-addr":
			vals = []string{o["value"].(string)}
		default:
			continue
		}
		for _, v := range vals {
			v = strings.Trim(v, "'")
			if !slices.ContainsFunc(docRanges, func(r string) bool { return strings.HasPrefix(v, r) }) {
				t.Errorf("%s: address %q is not in a documentation range", o["id"], v)
			}
		}
	}
}

func TestAttackBundle(t *testing.T) {
	rc, err := AttackBundle()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()

	want := map[string]bool{}
	for _, id := range ExternalRefs() {
		want[id] = false
	}
	dec := json.NewDecoder(rc)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("bundle does not start with an object: %v %v", tok, err)
	}
	var n int
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		if tok != "objects" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
			t.Fatalf("objects is not an array: %v %v", tok, err)
		}
		for dec.More() {
			var o struct {
				ID      string `json:"id"`
				Revoked bool   `json:"revoked"`
			}
			if err := dec.Decode(&o); err != nil {
				t.Fatalf("object %d: %v", n, err)
			}
			n++
			if _, ok := want[o.ID]; ok {
				want[o.ID] = true
				if o.Revoked {
					t.Errorf("%s is revoked in ATT&CK", o.ID)
				}
			}
		}
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := io.Copy(io.Discard, rc); err != nil {
		t.Fatalf("reading to the end (gzip checksum): %v", err)
	}
	if err := rc.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if n != AttackObjects {
		t.Errorf("ATT&CK bundle has %d objects, want %d", n, AttackObjects)
	}
	for id, found := range want {
		if !found {
			t.Errorf("ExternalRefs lists %s, which is not in the ATT&CK bundle", id)
		}
	}
	if !strings.Contains(string(AttackLicence()), "MITRE") {
		t.Error("AttackLicence does not hold MITRE's notice")
	}
}

// seedSources is where the source documents of the seed texts live on the development machine;
// the check against them is skipped elsewhere.
const seedSources = "/work/shared/seeds"

func TestSeedTexts(t *testing.T) {
	texts := SeedTexts()
	titles := map[string]bool{}
	var all strings.Builder
	for _, s := range texts {
		if s.Title == "" || s.Text == "" {
			t.Errorf("empty title or text: %+v", s)
		}
		if titles[s.Title] {
			t.Errorf("duplicate title %q", s.Title)
		}
		titles[s.Title] = true
		all.WriteString(s.Text)
	}
	for _, want := range []string{"Seedworm", "LaZagne", "APT 28", "brute force attacks against SSH", "ChinaNet", "A/RES/73/266", "A/RES/73/27", "A/C.1/73/L.37", "Locked Shields"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("no seed text mentions %q", want)
		}
	}

	files, _ := filepath.Glob(filepath.Join(seedSources, "0*.txt"))
	if len(files) == 0 {
		t.Skipf("source documents not found in %s; verbatim check skipped", seedSources)
	}
	var src strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	for _, s := range texts {
		for para := range strings.SplitSeq(s.Text, "\n\n") {
			if !strings.Contains(src.String(), para) {
				t.Errorf("%q: paragraph not verbatim in the sources: %.60q…", s.Title, para)
			}
		}
	}
}

// TestCheckObject makes sure the checks of TestSeedBundle catch what they claim to.
func TestCheckObject(t *testing.T) {
	const (
		op    = "identity--00000000-0000-4000-8000-000000000001"
		clear = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
	)
	base := func(typ string, props map[string]any) map[string]any {
		o := map[string]any{
			"type": typ, "spec_version": "2.1", "id": typ + "--00000000-0000-4000-8000-000000000002",
			"created": "2018-12-10T00:00:00.000Z", "modified": "2018-12-10T00:00:00.000Z",
			"created_by_ref": op, "object_marking_refs": []any{clear},
		}
		maps.Copy(o, props)
		return o
	}
	for _, tt := range []struct {
		name  string
		obj   map[string]any
		valid bool
	}{
		{"good location", base("location", map[string]any{"country": "FI"}), true},
		{"location without place", base("location", map[string]any{"name": "Nowhere"}), false},
		{"bad country", base("location", map[string]any{"country": "XX"}), false},
		{"good indicator", base("indicator", map[string]any{"pattern": "[domain-name:value = 'example.com']", "pattern_type": "stix", "valid_from": "2018-08-20T00:00:00Z"}), true},
		{"bad pattern", base("indicator", map[string]any{"pattern": "[domain-name:value = ]", "pattern_type": "stix", "valid_from": "2018-08-20T00:00:00Z"}), false},
		{"indicator without valid_from", base("indicator", map[string]any{"pattern": "[domain-name:value = 'example.com']", "pattern_type": "stix"}), false},
		{"modified before created", base("incident", map[string]any{"name": "x", "modified": "2018-01-01T00:00:00Z"}), false},
		{"timestamp without Z", base("incident", map[string]any{"name": "x", "created": "2018-12-10T00:00:00+01:00"}), false},
		{"id of another type", base("incident", map[string]any{"name": "x", "id": "campaign--00000000-0000-4000-8000-000000000002"}), false},
		{"no spec_version", base("incident", map[string]any{"name": "x", "spec_version": "2.0"}), false},
		{"report without object_refs", base("report", map[string]any{"name": "x", "published": "2018-12-10T00:00:00Z", "report_types": []any{"threat-report"}}), false},
		{"relationship type with capitals", base("relationship", map[string]any{"relationship_type": "Uses", "source_ref": op, "target_ref": op}), false},
		{"TLP 1.0 marking", base("incident", map[string]any{"name": "x", "object_marking_refs": []any{"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"}}), false},
		{"observed-data count zero", base("observed-data", map[string]any{"first_observed": "2018-07-12T00:00:00Z", "last_observed": "2018-07-16T00:00:00Z", "number_observed": 0.0, "object_refs": []any{op}}), false},
	} {
		errs := checkObject(tt.obj)
		if got := len(errs) == 0; got != tt.valid {
			t.Errorf("%s: valid = %v, want %v (errors: %q)", tt.name, got, tt.valid, errs)
		}
	}
}

func TestSeedBundleIsCopy(t *testing.T) {
	b := SeedBundle()
	b[0] = 'x'
	if SeedBundle()[0] == 'x' {
		t.Error("SeedBundle returns shared bytes")
	}
}

// BenchmarkAttackBundle measures decompressing the embedded ATT&CK bundle, which the demo does
// on every start.
func BenchmarkAttackBundle(b *testing.B) {
	var size int64
	for b.Loop() {
		rc, err := AttackBundle()
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	b.SetBytes(size)
}
