package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExerciseValidate(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{
  "version": 1, "id": "drill", "name": "Drill", "duration": "1h",
  "injects": [{"id": "a", "title": "A", "trigger": {"after": "nowhere"}}]
}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file    string
		ok      bool
		outputs []string
	}{
		{"../../internal/exercise/scenarios/helsinki-summit.json", true, []string{`valid cshub scenario "Helsinki summit"`, "5 team(s), 5 inject(s), 7 task(s) worth 110 points: 5 checked automatically, 2 scored by the white team"}},
		{"../../internal/exercise/testdata/cexf-hub-checks.json", true, []string{`valid CEXF "Hub checks"`, "2 checked automatically, 1 scored by the white team", "cannot run on the hub (2):", `query_mirror`}},
		{"../../internal/exercise/testdata/cexf-sample-misp-01.json", true, []string{`valid CEXF "Phishing e-mail"`, `target tool "Suricata" is not the hub`}},
		{bad, false, []string{bad + `:3:62: injects[0].trigger.after: no inject "nowhere"`}},
		{filepath.Join(dir, "missing.json"), false, []string{"no such file"}},
	} {
		out, errOut, err := adminRun(t, "", runExercise, "validate", tc.file)
		if (err == nil) != tc.ok {
			t.Errorf("validate %s: err %v, want ok=%v", tc.file, err, tc.ok)
		}
		all := out + errOut
		if err != nil {
			all += describe(err)
		}
		for _, want := range tc.outputs {
			if !strings.Contains(all, want) {
				t.Errorf("validate %s: output\n%s\nlacks %q", tc.file, all, want)
			}
		}
	}
	if _, _, err := adminRun(t, "", runExercise, "frobnicate"); err == nil {
		t.Error("an unknown subcommand succeeds")
	}
}

// TestExerciseValidateSharedCEXF is the acceptance check's loop: every CEXF scenario of the
// shared data validates.
func TestExerciseValidateSharedCEXF(t *testing.T) {
	files, _ := filepath.Glob("/work/shared/data/cexf/*.json")
	if len(files) == 0 {
		t.Skip("/work/shared/data/cexf is not present")
	}
	for _, f := range files {
		if out, errOut, err := adminRun(t, "", runExercise, "validate", f); err != nil || !strings.Contains(out, "valid CEXF") {
			t.Errorf("validate %s: %v\n%s%s", filepath.Base(f), err, out, errOut)
		}
	}
}

// TestExerciseImportAndList imports an exercise on a data directory and lists it per
// organisation.
func TestExerciseImportAndList(t *testing.T) {
	if testing.Short() {
		t.Skip("opens the hub several times")
	}
	dir := t.TempDir()
	if code, _, errOut := run(t, "init", "--data", dir); code != 0 {
		t.Fatalf("init: %d %s", code, errOut)
	}
	for _, code := range []string{"cert-fr", "cert-uk"} {
		if _, errOut, err := adminRun(t, "", runOrg, "add", "--code", code, "--name", code, "--country", "FR", "--data", dir); err != nil {
			t.Fatalf("org add %s: %v %s", code, err, errOut)
		}
	}
	const cexf = "../../internal/exercise/testdata/cexf-hub-checks.json"
	out, errOut, err := adminRun(t, "", runExercise, "import", "--data", dir, "--director", "hub-operator", "--teams", "cert-fr,cert-uk", cexf)
	if err != nil || !strings.Contains(out, "imported exercise hub-checks") {
		t.Fatalf("import: %v\n%s%s", err, out, errOut)
	}
	if _, _, err := adminRun(t, "", runExercise, "import", "--data", dir, "--director", "hub-operator", "--teams", "cert-fr", cexf); err == nil || !strings.Contains(describe(err), "exists already") {
		t.Errorf("a second import of the same exercise: %v", err)
	}
	for org, want := range map[string]string{"cert-fr": "blue_team fr\tready", "hub-operator": "director\tready", "cert-uk": "blue_team uk"} {
		out, errOut, err := adminRun(t, "", runExercise, "list", "--data", dir, "--org", org)
		if err != nil || !strings.Contains(out, "hub-checks\tHub checks\t"+want) {
			t.Errorf("list --org %s: %v\n%s%s", org, err, out, errOut)
		}
	}
	if _, _, err := adminRun(t, "", runExercise, "list", "--data", dir); err == nil || !strings.Contains(describe(err), "org") {
		t.Errorf("list without --org: %v", err)
	}
}
