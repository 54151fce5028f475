package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPolicyCommands shows the tracker from the command line: the catalogue at once, and a
// report ingested as text citing its resolution.
func TestPolicyCommands(t *testing.T) {
	dir := cliHub(t)
	text := filepath.Join(t.TempDir(), "report.txt")
	if err := os.WriteFile(text, []byte("By a recorded vote the assembly adopted the resolution A/RES/73/266."), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "ingest", "--data", dir, "--org", "cert-fr", "--workspace", "community", "--format", "text", text); code != 0 {
		t.Fatalf("ingest: %d %s", code, errOut)
	}
	ok := func(args ...string) map[string]any {
		t.Helper()
		out, errOut, err := adminRun(t, "", runPolicy, append(args, "--data", dir)...)
		if err != nil {
			t.Fatalf("%v: %s (%s)", args, describe(err), errOut)
		}
		return decodeJSON(t, out)
	}
	docs := ok("list", "--org", "cert-uk", "--actor", "OEWG")["documents"].([]any)
	if len(docs) == 0 {
		t.Fatal("no OEWG documents listed")
	}
	for _, d := range docs {
		if d.(map[string]any)["symbol"] == "A/RES/73/266" {
			t.Errorf("actor OEWG lists the GGE resolution")
		}
	}
	d := ok("show", "--org", "cert-uk", "a/res/73/266")
	if d["symbol"] != "A/RES/73/266" || len(d["citations"].([]any)) != 1 {
		t.Errorf("show: %v", d)
	}
	if _, _, err := adminRun(t, "", runPolicy, "show", "--org", "cert-uk", "A/RES/1/1", "--data", dir); err == nil {
		t.Error("an unknown symbol was shown")
	}
	if _, _, err := adminRun(t, "", runPolicy, "list", "--data", dir); err == nil {
		t.Error("list without --org")
	}
}
