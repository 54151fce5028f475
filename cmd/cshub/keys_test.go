package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"cshub/internal/demo"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/members"
)

func runKeysArgs(t *testing.T, args ...string) (stdout string, err error) {
	t.Helper()
	var out bytes.Buffer
	e := &env{stdout: &out, stderr: io.Discard, getenv: func(string) string { return "" }}
	err = runKeys(context.Background(), e, args)
	return out.String(), err
}

// TestKeysRotateRewrap makes a small hub (the seed scenario and one user with TOTP), then runs
// keys status, rotate, rewrap and status again, and reads everything back.
func TestKeysRotateRewrap(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e := &env{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	a, err := openApp(ctx, e, &common{data: dir}, true)
	if err != nil {
		t.Fatal(err)
	}
	m := members.New(a.store, a.barrier, a.auth, nil)
	if err := m.CreateOrg(ctx, &hub.Org{Code: demo.Operator, Name: "Operator", Country: "BE", Kind: hub.OrgOperator, Active: true}); err != nil {
		t.Fatal(err)
	}
	if err := m.CreateWorkspace(ctx, &hub.Workspace{Slug: "community", Name: "Community", Kind: hub.WorkspaceCommunity, Members: []string{demo.Operator}}); err != nil {
		t.Fatal(err)
	}
	cu, err := m.CreateUser(ctx, members.NewUser{Org: demo.Operator, Username: "operator", Role: hub.RoleOperator, Password: "a long and random enough passphrase 7", TOTP: true})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := a.kb.Ingest(ctx, kb.Submission{Org: demo.Operator, Workspace: "community", DefaultTLP: hub.TLPClear}, bytes.NewReader(demo.SeedBundle()))
	if err != nil || sum.Accepted == 0 {
		t.Fatalf("seed: %+v, %v", sum, err)
	}
	a.close()
	n := sum.Accepted
	flags := []string{"--data", dir}

	out, err := runKeysArgs(t, append([]string{"status"}, flags...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^1 +\S+ +1 +` + itoa(n) + ` +1 +active`).MatchString(out) {
		t.Errorf("status before rotation:\n%s\nwant term 1 active with 1 workspace, %d bodies, 1 TOTP secret", out, n)
	}

	out, err = runKeysArgs(t, append([]string{"rotate"}, flags...)...)
	if err != nil || out != "2\n" {
		t.Fatalf("rotate = %q, %v; want 2", out, err)
	}

	out, err = runKeysArgs(t, append([]string{"rewrap", "--batch", "7"}, flags...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "term 2: "+itoa(n)+" object versions scanned, "+itoa(n)+" re-sealed") || !strings.Contains(out, "1 of 1 TOTP secrets re-sealed") {
		t.Errorf("rewrap summary = %q", out)
	}

	out, err = runKeysArgs(t, append([]string{"status"}, flags...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^1 +\S+ +1 +0 +0 +$`).MatchString(out) || !regexp.MustCompile(`(?m)^2 +\S+ +1 +`+itoa(n)+` +1 +active`).MatchString(out) {
		t.Errorf("status after rewrap:\n%s\nwant everything under term 2", out)
	}

	// A second rewrap has nothing left to do.
	out, err = runKeysArgs(t, append([]string{"rewrap"}, flags...)...)
	if err != nil || !strings.Contains(out, " 0 re-sealed, "+itoa(n)+" already current") {
		t.Errorf("second rewrap = %q, %v", out, err)
	}

	// Everything still opens: the bodies through kb, the TOTP secret through members' opener.
	a, err = openApp(ctx, e, &common{data: dir}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	objs, err := a.kb.List(ctx, hub.Filter{Viewer: hub.Viewer{System: true}, AllVersions: true, Limit: 1 << 20})
	if err != nil || len(objs) != n {
		t.Fatalf("read back %d objects, %v; want %d", len(objs), err, n)
	}
	u, err := a.store.User(ctx, cu.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	if secret, err := members.TOTPOpener(a.barrier)(ctx, u); err != nil || secret != cu.TOTPSecret {
		t.Errorf("TOTP secret after rewrap = %q, %v", secret, err)
	}
	// Rotation and rewrap are audited.
	items, err := a.audit.List(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, it := range items {
		if strings.HasPrefix(it.Action, "keys.") {
			actions = append(actions, it.Action+" "+it.Target)
		}
	}
	if got, want := strings.Join(actions, ","), "keys.rotate 2,keys.rewrap 2,keys.rewrap 2"; got != want {
		t.Errorf("audit actions = %q, want %q", got, want)
	}
}

func TestKeysUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"nonsense"}, {"rotate", "extra"}} {
		if _, err := runKeysArgs(t, args...); err == nil {
			t.Errorf("keys %v: no error", args)
		}
	}
	if _, err := runKeysArgs(t, "status", "--data", t.TempDir()); err == nil || !strings.Contains(err.Error(), "cshub init") {
		t.Errorf("status of a missing hub: %v, want it to say how to make one", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
