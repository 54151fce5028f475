package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
)

// adminRun runs an administration command group in-process as the user "tester" and returns
// its output and error (rendered as Run renders it).
func adminRun(t *testing.T, stdin string, group func(context.Context, *env, []string) error, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(k string) string {
		if k == "USER" {
			return "tester"
		}
		return ""
	}}
	err = group(context.Background(), e, args)
	return out.String(), errb.String(), err
}

// decodeJSON decodes a command's JSON output.
func decodeJSON(t *testing.T, out string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("output is not a JSON object: %v\n%s", err, out)
	}
	return m
}

// TestAdminCommands runs the administration commands on a fresh data directory, in the order
// an operator would when admitting a new member.
func TestAdminCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("opens the hub fifteen times, each with an argon2 hash")
	}
	dir := t.TempDir()
	if code, _, errOut := run(t, "init", "--data", dir); code != 0 {
		t.Fatalf("init: %d %s", code, errOut)
	}
	ok := func(group func(context.Context, *env, []string) error, stdin string, args ...string) map[string]any {
		t.Helper()
		out, errOut, err := adminRun(t, stdin, group, append(args, "--data", dir)...)
		if err != nil {
			t.Fatalf("%v: %s (%s)", args, describe(err), errOut)
		}
		return decodeJSON(t, out)
	}
	fails := func(want string, group func(context.Context, *env, []string) error, args ...string) {
		t.Helper()
		_, _, err := adminRun(t, "", group, append(args, "--data", dir)...)
		if err == nil || !strings.Contains(describe(err), want) {
			t.Errorf("%v: err %v, want it to mention %q", args, err, want)
		}
	}

	if o := ok(runOrg, "", "add", "--code", "cert-fr", "--name", "CERT-FR", "--country", "fr"); o["country"] != "FR" || o["kind"] != "member" || o["active"] != true {
		t.Errorf("org add: %v", o)
	}
	ok(runOrg, "", "add", "--code", "cert-uk", "--name", "NCSC", "--country", "GB")
	// Most rules are checked by package api's Admin and tested there; a few, to see that the
	// command line applies them and names the field. Each run opens the hub, which takes an
	// argon2 hash, so they are few.
	fails("code:", runOrg, "add", "--name", "x", "--country", "DE")
	fails("name:", runOrg, "add", "--code", "cert-de", "--country", "DE")
	if got := ok(runOrg, "", "list")["orgs"].([]any); len(got) != 3 {
		t.Errorf("org list: %v, want the operator and two members", got)
	}

	w := ok(runWorkspace, "", "add", "--slug", "fr-uk", "--members", "cert-fr,cert-uk", "--tlp", "green")
	if w["default_tlp"] != "green" || w["kind"] != "group" {
		t.Errorf("workspace add: %v", w)
	}
	fails("members:", runWorkspace, "add", "--slug", "nobody")
	fails("slug:", runWorkspace, "add", "--members", "cert-fr")
	if w := ok(runWorkspace, "", "member-remove", "fr-uk", "cert-uk"); len(w["members"].([]any)) != 1 {
		t.Errorf("member-remove: %v", w)
	}
	fails("org:", runWorkspace, "member-remove", "fr-uk", "cert-fr") // the last member
	fails("ORG:", runWorkspace, "member-add", "fr-uk")
	if ws := ok(runWorkspace, "", "member-add", "fr-uk", "cert-uk"); len(ws["members"].([]any)) != 2 {
		t.Errorf("member-add: %v", ws)
	}

	u := ok(runUser, "", "add", "--org", "cert-fr", "--username", "fr-admin", "--role", "admin", "--totp")
	if pw, _ := u["password"].(string); len(pw) < 20 || !strings.HasPrefix(u["totp_url"].(string), "otpauth://") {
		t.Errorf("user add shows no secrets: %v", u)
	}
	if u := ok(runUser, "tulip-orbit-canyon-7\n", "add", "--org", "cert-fr", "--username", "fr-analyst", "--role", "analyst", "--password-stdin"); u["password"] != nil {
		t.Errorf("a given password is echoed: %v", u)
	}
	fails("org:", runUser, "add", "--username", "nobody", "--role", "reader")
	fails("role:", runUser, "add", "--org", "cert-fr", "--username", "nobody")

	k := ok(runKey, "", "add", "--user", "fr-analyst", "--scope", "write", "--expires", "2099-01-01T00:00:00Z")
	if s, _ := k["secret"].(string); !strings.HasPrefix(s, "cshub_") {
		t.Errorf("key add: %v", k)
	}
	id := k["key"].(map[string]any)["id"].(string)
	keys := ok(runKey, "", "list", "--user", "fr-analyst")["keys"].([]any)
	if len(keys) != 1 || keys[0].(map[string]any)["id"] != id {
		t.Errorf("key list: %v, want %s", keys, id)
	}
	if k := ok(runKey, "", "revoke", id); k["revoked"] != true {
		t.Errorf("key revoke: %v", k)
	}
	if u := ok(runUser, "", "set", "fr-analyst", "--role", "reader", "--active=false"); u["active"] != false || u["role"] != "reader" {
		t.Errorf("user set: %v", u)
	}
	if o := ok(runOrg, "", "set", "cert-uk", "--active=false"); o["active"] != false {
		t.Errorf("org set: %v", o)
	}
	if us := ok(runUser, "", "list", "--org", "cert-fr")["users"].([]any); len(us) != 2 || us[1].(map[string]any)["active"] != false {
		t.Errorf("user list: %v", us)
	}

	// Every change is in the audit log, under the person at the terminal.
	code, out, errOut := run(t, "audit", "list", "--data", dir)
	if code != 0 {
		t.Fatalf("audit list: %d %s", code, errOut)
	}
	for _, want := range []string{"org.create", "workspace.create", "workspace.member-remove", "workspace.member-add", "user.create", "apikey.create", "apikey.revoke", "user.update", "org.update"} {
		if !strings.Contains(out, `"`+want+`"`) {
			t.Errorf("audit log has no %s", want)
		}
	}
	if !strings.Contains(out, "local:tester") {
		t.Errorf("audit log does not name the local operator:\n%s", out)
	}
	fails("role:", runUser, "invite", "--org", "cert-fr", "--username", "fr-invitee")
	if inv := ok(runUser, "", "invite", "--org", "cert-fr", "--username", "fr-invitee", "--role", "analyst"); !strings.HasPrefix(fmt.Sprint(inv["token"]), "cshub_") {
		t.Errorf("user invite: %v, want a one-time token", inv)
	}
}

// TestAdminCommandsHelp checks that every group and subcommand explains itself.
func TestAdminCommandsHelp(t *testing.T) {
	groups := map[string]struct {
		run  func(context.Context, *env, []string) error
		subs []subcommand
	}{
		"org": {runOrg, orgCommands()}, "workspace": {runWorkspace, workspaceCommands()},
		"user": {runUser, userCommands()}, "apikey": {runKey, keyCommands()},
	}
	for name, g := range groups {
		_, errOut, err := adminRun(t, "", g.run, "--help")
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(errOut, "Usage: cshub "+name+" SUBCOMMAND") {
			t.Errorf("%s --help: %v %q", name, err, errOut)
		}
		if _, _, err := adminRun(t, "", g.run, "nonsense"); !errors.Is(err, errUsage) {
			t.Errorf("%s nonsense: %v, want a usage error", name, err)
		}
		for _, sc := range g.subs {
			_, errOut, err := adminRun(t, "", g.run, sc.name, "--help")
			if !errors.Is(err, flag.ErrHelp) || !strings.Contains(errOut, "Usage: cshub "+name+" "+sc.name) || !strings.Contains(errOut, "-data") {
				t.Errorf("%s %s --help: %v %q", name, sc.name, err, errOut)
			}
		}
	}
}
