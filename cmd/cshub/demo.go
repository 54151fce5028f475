package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"cshub/internal/collab"
	"cshub/internal/demo"
	"cshub/internal/gather"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/members"
	"cshub/internal/policy"
)

// demoCredentials is DATA/demo-credentials.json: how a tester logs in as each demo user.
type demoCredentials struct {
	URL   string     `json:"url"`
	Users []demoUser `json:"users"`
}

type demoUser struct {
	Org        string `json:"org"`
	Username   string `json:"username"`
	Password   string `json:"password"`
	APIKey     string `json:"api_key"`
	TOTPSecret string `json:"totp_secret"`
	Role       string `json:"role"`
}

func runDemo(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "demo")
	var f serveFlags
	f.common.register(fs)
	f.register(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, e, &f.common, true)
	if err != nil {
		return err
	}
	defer a.close()
	credsFile := filepath.Join(f.data, "demo-credentials.json")
	creds, err := loadCredentials(credsFile)
	if err != nil {
		return err
	}
	if creds == nil {
		start := time.Now()
		if creds, err = seedDemo(ctx, a); err != nil {
			return err
		}
		a.log.Info("demo data created", "took", time.Since(start).Round(time.Millisecond))
	}
	return serve(ctx, e, a, &f, func(url string) {
		creds.URL = url
		if err := writeCredentials(credsFile, creds); err != nil {
			a.log.Error("writing demo credentials", "err", err)
		}
		fmt.Fprintf(e.stdout, "cshub demo serving at %s\ncredentials (API keys, passwords, TOTP secrets): %s\n", url, credsFile)
	})
}

func loadCredentials(path string) (*demoCredentials, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c demoCredentials
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

func writeCredentials(path string, c *demoCredentials) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// seedDemo fills a new hub with the demo: the operator and the 29 national CERTs, the community
// workspace and one private workspace per active member, one analyst per active member (and an
// operator), MITRE ATT&CK Enterprise and the seed scenario in community.
func seedDemo(ctx context.Context, a *app) (*demoCredentials, error) {
	m := members.New(a.store, a.barrier, a.auth, nil)
	orgs := demo.Orgs()
	var all []string
	for _, o := range orgs {
		if err := m.CreateOrg(ctx, &o); err != nil {
			return nil, fmt.Errorf("org %s: %w", o.Code, err)
		}
		all = append(all, o.Code)
	}
	community := &hub.Workspace{Slug: "community", Name: "Community (all members)", Kind: hub.WorkspaceCommunity, DefaultTLP: hub.TLPAmber, Members: all}
	if err := m.CreateWorkspace(ctx, community); err != nil {
		return nil, err
	}
	creds := &demoCredentials{}
	addUser := func(org string, role hub.Role, username string) error {
		pw, err := randomPassword()
		if err != nil {
			return err
		}
		cu, err := m.CreateUser(ctx, members.NewUser{Org: org, Username: username, Role: role, Password: pw, TOTP: true})
		if err != nil {
			return fmt.Errorf("user %s: %w", username, err)
		}
		key, _, err := m.CreateAPIKey(ctx, cu.User, scopeOf(role), time.Time{})
		if err != nil {
			return err
		}
		creds.Users = append(creds.Users, demoUser{Org: org, Username: username, Password: pw, APIKey: key, TOTPSecret: cu.TOTPSecret, Role: string(role)})
		return nil
	}
	for _, code := range demo.ActiveMembers() {
		ws := &hub.Workspace{Slug: code, Name: code + " (private)", Kind: hub.WorkspacePrivate, DefaultTLP: hub.TLPAmber, Members: []string{code}}
		if err := m.CreateWorkspace(ctx, ws); err != nil {
			return nil, err
		}
		if err := addUser(code, hub.RoleAnalyst, code+"-analyst"); err != nil {
			return nil, err
		}
	}
	if err := addUser(demo.Operator, hub.RoleOperator, "operator"); err != nil {
		return nil, err
	}

	attack, err := demo.AttackBundle()
	if err != nil {
		return nil, err
	}
	defer attack.Close()
	sum, err := a.kb.Ingest(ctx, kb.Submission{Org: demo.Operator, Workspace: "community", DefaultTLP: hub.TLPClear}, attack)
	if err != nil {
		return nil, fmt.Errorf("ATT&CK: %w", err)
	}
	a.log.Info("demo: ATT&CK ingested", "accepted", sum.Accepted, "rejected", len(sum.Rejected))
	sum, err = a.kb.Ingest(ctx, kb.Submission{Org: demo.Operator, Workspace: "community", DefaultTLP: hub.TLPClear}, bytes.NewReader(demo.SeedBundle()))
	if err != nil {
		return nil, fmt.Errorf("seed scenario: %w", err)
	}
	if len(sum.Rejected) > 0 {
		return nil, fmt.Errorf("seed scenario: %d objects rejected, first: %s", len(sum.Rejected), sum.Rejected[0].Reason)
	}
	if _, err := policy.Seed(ctx, a.kb, gather.New(a.kb, nil), kb.Submission{Org: demo.Operator, Workspace: "community", DefaultTLP: hub.TLPClear}); err != nil {
		return nil, fmt.Errorf("policy developments: %w", err)
	}
	if err := collab.SeedDemo(ctx, collab.New(collab.Config{KB: a.kb, Dir: a.store, Log: a.log})); err != nil {
		return nil, fmt.Errorf("collaboration demo: %w", err)
	}
	if err := exercises(a, m).SeedDemo(ctx, demo.Operator); err != nil {
		return nil, fmt.Errorf("demo exercise: %w", err)
	}
	return creds, nil
}

func scopeOf(r hub.Role) hub.Scope {
	if r == hub.RoleOperator {
		return hub.ScopeAdmin
	}
	return hub.ScopeWrite
}

// randomPassword returns 26 base32 characters carrying 128 random bits, to be typed by a tester
// from the credentials file.
func randomPassword() (string, error) { return rand.Text(), nil }
