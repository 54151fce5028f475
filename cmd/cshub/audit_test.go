package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"cshub/internal/audit"
	"cshub/internal/store/sqlite"
)

// auditHub makes a hub in a fresh data directory, records n audit entries through the
// barrier's adapter, closes it and returns the directory and the head.
func auditHub(t *testing.T, n int) (string, audit.Head) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	var errb bytes.Buffer
	a, err := openApp(ctx, &env{stderr: &errb, getenv: func(string) string { return "" }}, &common{data: dir}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	l := audit.New(a.store, audit.Barrier{B: a.barrier}, nil)
	var head audit.Head
	for i := 1; i <= n; i++ {
		head, err = l.Record(ctx, audit.Entry{Org: "cert-fr", Actor: "analyst-" + fmt.Sprint(i), Action: "read-red",
			Target: fmt.Sprintf("indicator--%08d-0000-4000-8000-000000000000", i), Details: map[string]int{"n": i}})
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir, head
}

// tamper runs one SQL statement on the data directory's SQLite file, as an intruder with
// write access to the disk would.
func tamper(t *testing.T, dir, stmt string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "cshub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(stmt, args...)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%s changed %d rows, want 1", stmt, n)
	}
}

func TestAuditVerifyIntact(t *testing.T) {
	dir, head := auditHub(t, 5)
	code, out, errOut := run(t, "audit", "verify", "--data", dir)
	if want := "verified 5 entries, head " + head.String() + "\n"; code != 0 || out != want {
		t.Fatalf("verify: exit %d, stdout %q, stderr %q; want 0, %q", code, out, errOut, want)
	}
	if code, out, errOut := run(t, "audit", "verify", "--data", dir, "--head", head.String()); code != 0 {
		t.Errorf("verify --head at the head: exit %d, %q %q", code, out, errOut)
	}
	// The head of entry 3, as an operator would have written it down earlier.
	_, listed, _ := run(t, "audit", "list", "--data", dir, "--after", "2", "--limit", "1")
	var e3 struct {
		Seq  int64
		Hash string
	}
	if err := json.Unmarshal([]byte(listed), &e3); err != nil || e3.Seq != 3 {
		t.Fatalf("list --after 2 --limit 1 = %q (%v), want entry 3", listed, err)
	}
	if code, _, errOut := run(t, "audit", "verify", "--data", dir, "--head", fmt.Sprintf("3:%s", e3.Hash)); code != 0 {
		t.Errorf("verify --head at entry 3: exit %d, %q", code, errOut)
	}

	// An auditor without the root key can verify the log, but not read it.
	if err := os.Remove(filepath.Join(dir, "root.key")); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run(t, "audit", "verify", "--data", dir); code != 0 || !strings.HasPrefix(out, "verified 5 entries") {
		t.Errorf("verify without the root key: exit %d, %q %q", code, out, errOut)
	}
	if code, out, errOut := run(t, "audit", "list", "--data", dir); code != 1 || out != "" || !strings.Contains(errOut, "sealed") {
		t.Errorf("list without the root key: exit %d, stdout %q, stderr %q; want 1 saying the hub is sealed", code, out, errOut)
	}
}

func TestAuditVerifyFindsTampering(t *testing.T) {
	base, head := auditHub(t, 5)
	for _, tc := range []struct {
		name  string
		stmt  string
		args  []any
		flags func(head audit.Head) []string
		want  []string // what stderr must say
	}{
		{"actor rewritten", `UPDATE audit SET actor = 'someone-else' WHERE seq = 3`, nil, nil,
			[]string{"entry 3", "modified", "2 entries before it verify"}},
		{"target rewritten", `UPDATE audit SET target = 'indicator--0' WHERE seq = 1`, nil, nil,
			[]string{"entry 1", "modified", "0 entries before it"}},
		{"time moved", `UPDATE audit SET time = time + 1 WHERE seq = 4`, nil, nil,
			[]string{"entry 4", "modified"}},
		{"details swapped", `UPDATE audit SET details = (SELECT details FROM audit WHERE seq = 1) WHERE seq = 2`, nil, nil,
			[]string{"entry 2", "modified"}},
		{"entry rewritten with a fresh hash", `UPDATE audit SET prev = X'00', hash = X'00' WHERE seq = 2`, nil, nil,
			[]string{"entry 2", "chain"}},
		{"entry deleted", `DELETE FROM audit WHERE seq = 3`, nil, nil,
			[]string{"entry 3", "gap", "missing"}},
		{"end cut off", `DELETE FROM audit WHERE seq = 5`, nil,
			func(h audit.Head) []string { return []string{"--head", h.String()} },
			[]string{"entry 5", "truncated"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A copy of the hub for each case: verify needs only the store.
			dir := filepath.Join(t.TempDir(), "hub")
			if err := os.CopyFS(dir, os.DirFS(base)); err != nil {
				t.Fatal(err)
			}
			tamper(t, dir, tc.stmt, tc.args...)
			args := []string{"audit", "verify", "--data", dir}
			if tc.flags != nil {
				args = append(args, tc.flags(head)...)
			}
			code, out, errOut := run(t, args...)
			if code != 1 {
				t.Fatalf("verify after tampering: exit %d, stdout %q, stderr %q; want 1", code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q does not say %q", errOut, w)
				}
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing on failure", out)
			}
		})
	}
}

func TestAuditList(t *testing.T) {
	dir, head := auditHub(t, 7)
	for _, tc := range []struct {
		args     []string
		from, to int64
	}{
		{nil, 1, 7},
		{[]string{"--after", "5"}, 6, 7},
		{[]string{"--limit", "3"}, 1, 3},
		{[]string{"--after", "2", "--limit", "2"}, 3, 4},
		{[]string{"--after", "7"}, 0, -1},
	} {
		code, out, errOut := run(t, append([]string{"audit", "list", "--data", dir}, tc.args...)...)
		if code != 0 {
			t.Fatalf("list %v: exit %d, %q", tc.args, code, errOut)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if out == "" {
			lines = nil
		}
		if got, want := int64(len(lines)), tc.to-tc.from+1; got != want {
			t.Fatalf("list %v: %d lines, want %d:\n%s", tc.args, got, want, out)
		}
		for i, l := range lines {
			var e struct {
				Seq                int64
				Org, Actor, Action string
				Target, Hash       string
				Details            map[string]int
			}
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatalf("list %v: line %q: %v", tc.args, l, err)
			}
			seq := tc.from + int64(i)
			if e.Seq != seq || e.Details["n"] != int(seq) || e.Actor != fmt.Sprint("analyst-", seq) || e.Action != "read-red" || e.Org != "cert-fr" {
				t.Errorf("list %v: line %d = %q, want entry %d with details {\"n\":%d}", tc.args, i, l, seq, seq)
			}
			if seq == head.Seq && e.Hash != fmt.Sprintf("%x", head.Hash) {
				t.Errorf("list: hash of the head %s, want %x", e.Hash, head.Hash)
			}
		}
	}
}

func TestAuditUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"audit"}, 2, "verify"},
		{[]string{"audit", "shred"}, 2, `unknown subcommand "shred"`},
		{[]string{"audit", "verify", "--help"}, 0, "Usage: cshub audit verify"},
		{[]string{"audit", "list", "--help"}, 0, "--limit"},
		{[]string{"audit", "verify", "--data", dir, "--head", "x"}, 1, "head:"},
		{[]string{"audit", "verify", "--data", dir}, 1, "no hub in"},
		{[]string{"audit", "list", "--data", dir}, 1, "no hub in"},
		{[]string{"audit", "list", "--data", dir, "--limit", "-1"}, 1, "limit:"},
		{[]string{"audit", "verify", "--data", dir, "extra"}, 1, "arguments:"},
	} {
		code, _, errOut := run(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d mentioning %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

// TestAuditVerifyFindsRehashedEntries plays an intruder who knows the hash function: entry 3 is
// rewritten and its hash recomputed, which breaks the link from entry 4; then every later entry
// is rehashed too, which leaves a valid chain that only the head recorded earlier exposes.
func TestAuditVerifyFindsRehashedEntries(t *testing.T) {
	ctx := context.Background()
	dir, head := auditHub(t, 5)
	st, err := sqlite.Open(filepath.Join(dir, "cshub.db"))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := st.AuditEntries(ctx, 0, 10)
	st.Close()
	if err != nil || len(entries) != 5 {
		t.Fatalf("AuditEntries = %d entries, %v", len(entries), err)
	}
	rewrite := func(from, to int) {
		for _, a := range entries[from-1 : to] {
			if a.Seq > 1 {
				a.Prev = entries[a.Seq-2].Hash
			}
			a.Hash = audit.Sum(a)
			tamper(t, dir, `UPDATE audit SET actor = ?, prev = ?, hash = ? WHERE seq = ?`, a.Actor, a.Prev, a.Hash, a.Seq)
		}
	}

	entries[2].Actor = "someone-else"
	rewrite(3, 3)
	code, _, errOut := run(t, "audit", "verify", "--data", dir)
	if code != 1 || !strings.Contains(errOut, "entry 4 (chain)") {
		t.Errorf("entry 3 rehashed: exit %d, stderr %q; want 1 naming entry 4's link", code, errOut)
	}

	rewrite(4, 5)
	if code, out, errOut := run(t, "audit", "verify", "--data", dir); code != 0 || !strings.HasPrefix(out, "verified 5 entries") {
		t.Fatalf("whole tail rehashed, no head: exit %d, %q %q; want a valid chain", code, out, errOut)
	}
	code, _, errOut = run(t, "audit", "verify", "--data", dir, "--head", head.String())
	if code != 1 || !strings.Contains(errOut, "entry 5 (head)") {
		t.Errorf("whole tail rehashed, checked against the recorded head: exit %d, stderr %q; want 1 naming entry 5", code, errOut)
	}
}
