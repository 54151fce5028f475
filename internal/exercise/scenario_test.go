package exercise

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cshub/internal/hub"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// minimal is a valid scenario that the table below breaks one way at a time.
const minimal = `{
  "version": 1,
  "id": "drill",
  "name": "Drill",
  "duration": "1h",
  "director": "hub-operator",
  "teams": [{"id": "fr", "org": "cert-fr"}],
  "injects": [
    {"id": "a", "title": "First", "trigger": {"at": "0s"},
     "tasks": [{"id": "t", "title": "Do it", "points": 5, "check": {"kind": "objects", "types": ["indicator"]}}]},
    {"id": "b", "title": "Second", "trigger": {"after": "a"}}
  ]
}`

func TestParseScenario(t *testing.T) {
	s, err := ParseScenario([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != "drill" || time.Duration(s.Duration) != time.Hour || len(s.Injects) != 2 || s.Injects[1].Trigger.After != "a" {
		t.Errorf("parsed %+v", s)
	}
	// Durations may also be numbers of seconds.
	s, err = ParseScenario([]byte(strings.Replace(minimal, `"1h"`, `5400`, 1)))
	if err != nil || time.Duration(s.Duration) != 90*time.Minute {
		t.Errorf("duration in seconds: %v, %v", s, err)
	}
}

func TestScenarioProblems(t *testing.T) {
	for _, tc := range []struct {
		name, old, new string
		want           []string // each "path (line L:C): message" fragment, in order
	}{
		{"version", `"version": 1`, `"version": 2`, []string{"version (line 2:14): is 2; this hub reads version 1"}},
		{"id", `"id": "drill"`, `"id": "_Drill"`, []string{`id (line 3:9): "_Drill" must be`}},
		{"duration", `"1h"`, `"soon"`, []string{`duration`, `"soon" is not a duration`}},
		{"no trigger", `"trigger": {"after": "a"}`, `"trigger": {}`, []string{`injects[1].trigger (line 11:47): needs one of`}},
		{"two triggers", `"trigger": {"after": "a"}`, `"trigger": {"after": "a", "manual": true}`, []string{`injects[1].trigger (line 11:47): has more than one`}},
		{"unknown after", `"trigger": {"after": "a"}`, `"trigger": {"after": "zz"}`, []string{`injects[1].trigger.after (line 11:57): no inject "zz"`}},
		{"after itself", `"trigger": {"after": "a"}`, `"trigger": {"after": "b"}`, []string{`injects[1].trigger.after (line 11:57): an inject cannot wait for itself`}},
		{"too many repeats", `"trigger": {"after": "a"}`, `"trigger": {"every": "2s"}`, []string{`injects[1].trigger.every (line 11:57): releases the inject more than 1000 times`}},
		{"offset too late", `"trigger": {"at": "0s"}`, `"trigger": {"at": "2h"}`, []string{`injects[0].trigger.at (line 9:53): 2h0m0s is outside`}},
		{"duplicate inject", `{"id": "b",`, `{"id": "a",`, []string{`injects[1].id (line 11:12): inject "a" is defined twice`}},
		{"check kind", `"kind": "objects"`, `"kind": "magic"`, []string{`injects[0].tasks[0].check.kind (line 10:77): "magic" is not one of`}},
		{"filter path", `"kind": "objects", "types": ["indicator"]`, `"kind": "misp", "filters": [{"path": "group_by(.)", "comparison": "count", "values": [1]}]`, []string{`injects[0].tasks[0].check.filters[0].path`, `group_by is not a builtin of the supported subset`}},
		{"director plays", `"org": "cert-fr"`, `"org": "hub-operator"`, []string{`teams[0].org (line 7:33): the director's organisation`}},
		{"unknown field", `"name": "Drill"`, `"name": "Drill", "colour": "red"`, []string{`unknown field "colour"`}},
		{"wrong type", `"points": 5`, `"points": "five"`, []string{`injects.tasks.points (line 10:`, `is string, want int`}},
		{"not JSON", `"injects": [`, `"injects": [,`, []string{`(line 8:`, `not JSON`}},
		{"stix not a bundle", `"title": "Second",`, `"title": "Second", "stix": {"type": "indicator"},`, []string{`injects[1].stix (line 11:44): must be a STIX bundle`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(minimal, tc.old, tc.new, 1)
			if src == minimal {
				t.Fatalf("%q is not in the scenario", tc.old)
			}
			_, err := ParseScenario([]byte(src))
			if hub.ErrorCode(err) != hub.EInvalid {
				t.Fatalf("err = %v, want EInvalid", err)
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("err %v holds no Problems", err)
			}
			got := ps.Error()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("problems:\n%s\nwant %q", got, w)
				}
			}
		})
	}
}

func TestDemoScenario(t *testing.T) {
	s := Demo()
	if s.Name != "Helsinki summit" || s.Director != "hub-operator" || len(s.Teams) != 5 {
		t.Fatalf("demo scenario: %q directed by %q with %d teams", s.Name, s.Director, len(s.Teams))
	}
	kinds := map[string]bool{}
	for _, in := range s.Injects {
		switch t := in.Trigger; {
		case t.Every != nil:
			kinds["every"] = true
		case t.After != "":
			kinds["after"] = true
		case t.Manual:
			kinds["manual"] = true
		case t.At != nil:
			kinds["at"] = true
		}
	}
	if len(kinds) != 4 {
		t.Errorf("the demo uses triggers %v; want all four kinds", kinds)
	}
	Demo().Injects[0].Title = "changed"
	if Demo().Injects[0].Title == "changed" {
		t.Error("Demo returns a shared scenario")
	}
}

// FuzzParseScenario checks that the scenario parser never panics, that every problem it
// reports has a path or a place, and that what it accepts passes its own validation again
// after a JSON round trip.
func FuzzParseScenario(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add(helsinki)
	f.Add([]byte(`{"version":1,"injects":[{"trigger":{"every":0}}]}`))
	f.Add([]byte(`{"version":1,"id":"x","name":"x","duration":1,"injects":[{"id":"a","title":"a","trigger":{"at":"-1s"}}]}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseScenario(data)
		if err != nil {
			var ps Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("error without problems: %v", err)
			}
			for _, p := range ps {
				if p.Path == "" && p.Line == 0 && p.Message == "" {
					t.Fatalf("empty problem in %v", ps)
				}
			}
			return
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseScenario(b); err != nil {
			t.Fatalf("accepted scenario fails after a round trip: %v\n%s", err, b)
		}
	})
}

// TestCEXFGolden converts the CEXF files of testdata and compares the scenarios with golden
// files (rewrite them with -update).
func TestCEXFGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/cexf-*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no CEXF test files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if !IsCEXF(data) {
				t.Fatal("not recognised as CEXF")
			}
			s, err := ParseCEXF(data)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(s, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(file, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(append(got, '\n'), want) {
				t.Errorf("%s differs from %s; run with -update if the change is meant", file, golden)
			}
		})
	}
}

func TestCEXFProblems(t *testing.T) {
	sample, err := os.ReadFile("testdata/cexf-hub-checks.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"missing key", `"inject_payloads": [`, `"payloads": [`, "inject_payloads (line 1:1): is required by CEXF"},
		{"flow to nowhere", `"inject_uuid": "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c61",`, `"inject_uuid": "7a8b9c0d-0000-4a3b-8c4d-5e6f7a8b9c61",`, `inject_flow[2].inject_uuid (line 31:22): no injects entry`},
		{"requirement to nowhere", `"requirements": {"inject_uuid": "0d7b7a4c-2f44-4d6f-9a0f-6f2a5e4b3c21"`, `"requirements": {"inject_uuid": "00000000-2f44-4d6f-9a0f-6f2a5e4b3c21"`, `inject_flow[1].requirements.inject_uuid (line 25:39): no step of inject_flow`},
		{"payload to nowhere", `"action_payload_resource_uuid": "9c1d2e3f`, `"action_payload_resource_uuid": "0c1d2e3f`, `injects[0].action_payload_resource_uuid (line 48:39): no inject_payloads entry`},
		{"score range", `"score_range": [0, 30]`, `"score_range": [30]`, `injects[0].inject_evaluation[0].score_range (line 61:26): must be [min, max]`},
		{"bad comparison", `"comparison": "regex"`, `"comparison": "resembles"`, `comparison "resembles" is not part of CEXF`},
		{"bad duration", `"total_duration": "3600"`, `"total_duration": "an hour"`, `exercise.total_duration (line 9:23)`},
		{"bad uuid", `"uuid": "8a0c6a3e-54c1-4a4e-9a53-2f1c1e0b7d11"`, `"uuid": "eight"`, `exercise.uuid (line 10:13): "eight" is not a UUID`},
		{"trigger type", `"trigger": ["startex"]`, `"trigger": [7]`, `must be a string or an array of strings`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(string(sample), tc.old, tc.new, 1)
			if src == string(sample) {
				t.Fatalf("%q is not in the file", tc.old)
			}
			_, err := ParseCEXF([]byte(src))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("err = %v, want Problems", err)
			}
			if !strings.Contains(ps.Error(), tc.want) {
				t.Errorf("problems:\n%s\nwant %q", ps.Error(), tc.want)
			}
		})
	}
}

// TestSharedCEXF converts every real CEXF scenario of the shared data (MISP/cexf and
// MISP/SkillAegis, read in place since SkillAegis is AGPL) and runs every evaluation that
// becomes a check on the MISP view of an event, proving the filters run here.
func TestSharedCEXF(t *testing.T) {
	files, _ := filepath.Glob("/work/shared/data/cexf/*.json")
	if len(files) == 0 {
		t.Skip("/work/shared/data/cexf is not present")
	}
	var doc any
	if err := json.Unmarshal([]byte(event), &doc); err != nil {
		t.Fatal(err)
	}
	runnable := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ParseCEXF(data)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(file), err)
			continue
		}
		for _, in := range s.Injects {
			for _, task := range in.Tasks {
				if task.Check == nil {
					continue
				}
				runnable++
				for _, f := range task.Check.Filters {
					e, err := ParseFilter(f.Path)
					if err != nil {
						t.Errorf("%s %s: %v", filepath.Base(file), f.Path, err)
						continue
					}
					got, err := e.Eval(map[string]any{"response": []any{doc}, "Event": doc.(map[string]any)["Event"]})
					if err == nil {
						_, err = f.holds(got)
					}
					if err != nil {
						t.Errorf("%s %s: %v", filepath.Base(file), f.Path, err)
					}
				}
			}
		}
	}
	if runnable < 40 {
		t.Errorf("only %d CEXF evaluations run on the hub; the shared scenarios have more than 40 data_filtering and query_search ones", runnable)
	}
}

// FuzzParseCEXF checks that the CEXF importer never panics and that every scenario it makes
// is valid in cshub's own format.
func FuzzParseCEXF(f *testing.F) {
	for _, name := range []string{"testdata/cexf-hub-checks.json", "testdata/cexf-sample-misp-01.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"exercise":{},"inject_flow":[],"inject_payloads":[],"injects":[]}`))
	f.Add([]byte(`{"exercise":{"name":"x","uuid":"8a0c6a3e-54c1-4a4e-9a53-2f1c1e0b7d11"},"inject_flow":[{"inject_uuid":"a","timing":{"periodic_run_every":0.5},"sequence":{"trigger":"periodic"}}],"inject_payloads":[],"injects":[{"uuid":"a","inject_evaluation":[{"parameters":{"OR":[]},"score_range":[0,1]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseCEXF(data)
		if err != nil {
			var ps Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("error without problems: %v", err)
			}
			return
		}
		if ps := s.validate(); len(ps) > 0 {
			t.Fatalf("imported scenario is invalid: %v", ps)
		}
	})
}
