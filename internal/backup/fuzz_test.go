package backup

import (
	"bytes"
	"testing"
	"time"

	"cshub/internal/hub"
)

// sample returns a small well-formed backup file with one record of every section.
func sample(tb testing.TB) []byte {
	var b bytes.Buffer
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	e, err := newEncoder(&b, at)
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range []record{
		{Org: &orgRec{Code: "cert-fr", Name: "CERT-FR", Country: "FR", Kind: "member", Active: true, Created: at}},
		{Workspace: &wsRec{Slug: "community", Kind: "community", DefaultTLP: hub.TLPAmber, Members: []string{"cert-fr"}, Created: at}},
		{User: &userRec{ID: 1, Org: "cert-fr", Username: "a", Role: "analyst", PasswordHash: "$argon2id$x", Active: true, Created: at}},
		{APIKey: &keyRec{ID: "k1", Hash: []byte{1, 2}, Org: "cert-fr", UserID: 1, Scope: "read", Created: at}},
		{Object: &objRec{Seq: 3, ID: "indicator--1", Type: "indicator", Workspace: "community", Author: "cert-fr", TLP: hub.TLPRed,
			Recipients: []string{"cert-be"}, Created: at, Modified: at, Added: at, Body: []byte{1, 0, 0, 0, 1}, Tokens: [][]byte{{9}}}},
		{Audit: &auditRec{Seq: 1, Time: at, Action: "login", Hash: []byte{7}}},
		{Keyring: &ringRec{Blob: []byte{1, 2, 3}}},
		{RootKey: &rootRec{Key: make([]byte, 32)}},
	} {
		if err := e.put(r); err != nil {
			tb.Fatal(err)
		}
	}
	if err := e.close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// FuzzVerify feeds arbitrary bytes to the backup reader: it must refuse or accept without
// panicking, and what it accepts must count no more records than the file has lines.
func FuzzVerify(f *testing.F) {
	good := sample(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(`{"format":"cshub-backup","version":1,"created":"2026-01-01T00:00:00Z"}` + "\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Verify(bytes.NewReader(data))
		if err != nil {
			return
		}
		lines := bytes.Count(data, []byte("\n"))
		if n := c.Orgs + c.Workspaces + c.Users + c.APIKeys + c.Objects + c.Audit; n > lines-2 {
			t.Fatalf("accepted %d records from %d lines", n, lines)
		}
	})
}

func TestSampleVerifies(t *testing.T) {
	c, err := Verify(bytes.NewReader(sample(t)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := [6]int{c.Orgs, c.Workspaces, c.Users, c.APIKeys, c.Objects, c.Audit}, [6]int{1, 1, 1, 1, 1, 1}; got != want || len(c.RootKey) != 32 {
		t.Fatalf("counts %v, want %v; root key %d bytes", got, want, len(c.RootKey))
	}
}
