package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestSourceCommands subscribes an organisation to a feed served on loopback, polls it twice
// (the second poll brings nothing) and ends the subscription, all from the command line.
func TestSourceCommands(t *testing.T) {
	feed := `<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>` +
		`<item><guid>1</guid><title>Seedworm in Turkey</title><description>Seedworm used LaZagne in Turkey.</description></item></channel></rss>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprint(w, feed)
	}))
	defer srv.Close()
	dir := cliHub(t)
	ok := func(args ...string) map[string]any {
		t.Helper()
		out, errOut, err := adminRun(t, "", runSource, append(args, "--data", dir)...)
		if err != nil {
			t.Fatalf("%v: %s (%s)", args, describe(err), errOut)
		}
		return decodeJSON(t, out)
	}
	src := ok("add", "--org", "cert-fr", "--workspace", "community", "--kind", "news", "--url", srv.URL+"/rss", "--name", "advisories", "--tlp", "green", "--source-allow-private")
	id, _ := src["id"].(string)
	if !strings.HasPrefix(id, "x-cshub-source--") || src["tlp"] != "green" {
		t.Fatalf("source add: %v", src)
	}
	// The default guard refuses loopback: the poll records why.
	if _, _, err := adminRun(t, "", runSource, "poll", "--org", "cert-fr", id, "--data", dir); err == nil || !strings.Contains(describe(err), "not a public address") {
		t.Errorf("poll of a loopback source under the default guard: %v", err)
	}
	status := func(s map[string]any) map[string]any { return s["status"].(map[string]any) }
	if st := status(ok("poll", "--org", "cert-fr", id, "--source-allow-private")); st["last_new"] != 1.0 || st["last_error"] != nil {
		t.Errorf("first poll: %v", st)
	}
	all := ok("poll", "--source-allow-private")["sources"].([]any)
	if len(all) != 1 || status(all[0].(map[string]any))["last_new"] != 0.0 || status(all[0].(map[string]any))["items"] != 1.0 {
		t.Errorf("second poll of every source: %v", all)
	}
	if l := ok("list", "--org", "cert-uk")["sources"].([]any); len(l) != 0 {
		t.Errorf("cert-uk lists cert-fr's sources: %v", l)
	}
	if l := ok("list", "--org", "cert-fr")["sources"].([]any); len(l) != 1 {
		t.Errorf("cert-fr lists %v", l)
	}
	if _, _, err := adminRun(t, "", runSource, "remove", "--org", "cert-uk", id, "--data", dir); err == nil {
		t.Error("cert-uk removed cert-fr's source")
	}
	ok("remove", "--org", "cert-fr", id)
	if l := ok("list", "--org", "cert-fr")["sources"].([]any); len(l) != 0 {
		t.Errorf("removed source still listed: %v", l)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"add", "--workspace", "community", "--kind", "news", "--url", srv.URL}, "org:"},
		{[]string{"add", "--org", "cert-fr", "--workspace", "community", "--kind", "gossip", "--url", "https://feeds.example.org/rss"}, "kind:"},
		{[]string{"list"}, "org:"},
		{[]string{"poll", "x-cshub-source--1"}, "org:"},
		{[]string{"remove", "--org", "cert-fr"}, "ID:"},
	} {
		if _, _, err := adminRun(t, "", runSource, append(tc.args, "--data", dir)...); err == nil || !strings.Contains(describe(err), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// cliHub makes a data directory with members cert-fr and cert-uk sharing workspace community.
func cliHub(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if code, _, errOut := run(t, "init", "--data", dir); code != 0 {
		t.Fatalf("init: %d %s", code, errOut)
	}
	for _, args := range [][]string{
		{"add", "--code", "cert-fr", "--name", "CERT-FR", "--country", "FR"},
		{"add", "--code", "cert-uk", "--name", "NCSC", "--country", "GB"},
	} {
		if _, errOut, err := adminRun(t, "", runOrg, append(args, "--data", dir)...); err != nil {
			t.Fatalf("%v: %v %s", args, err, errOut)
		}
	}
	if _, errOut, err := adminRun(t, "", runWorkspace, "add", "--slug", "community", "--kind", "community", "--members", "cert-fr,cert-uk", "--data", dir); err != nil {
		t.Fatalf("workspace: %v %s", err, errOut)
	}
	return dir
}
