package main

import (
	"context"
	"encoding/json"
	"time"

	"cshub/internal/hub"
	"cshub/internal/members"
)

func runInit(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "init")
	var c common
	c.register(fs)
	org := fs.String("org", "hub-operator", "`code` of the operator organisation")
	name := fs.String("name", "Hub operator", "`name` of the operator organisation")
	country := fs.String("country", "BE", "ISO 3166-1 alpha-2 `country` of the operator organisation")
	user := fs.String("user", "operator", "`username` of the first operator")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, e, &c, true)
	if err != nil {
		return err
	}
	defer a.close()
	if orgs, err := a.store.Orgs(ctx); err != nil {
		return err
	} else if len(orgs) > 0 {
		return hub.Errorf(hub.EConflict, "%s already holds a hub with %d organisations", c.data, len(orgs))
	}
	m := members.New(a.store, a.barrier, a.auth, nil)
	if err := m.CreateOrg(ctx, &hub.Org{Code: *org, Name: *name, Country: *country, Kind: hub.OrgOperator, Active: true}); err != nil {
		return err
	}
	pw, _ := randomPassword()
	cu, err := m.CreateUser(ctx, members.NewUser{Org: *org, Username: *user, Role: hub.RoleOperator, Password: pw, TOTP: true})
	if err != nil {
		return err
	}
	key, _, err := m.CreateAPIKey(ctx, cu.User, hub.ScopeAdmin, time.Time{})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]string{
		"data": c.data, "root_key_file": c.rootKeyFile(), "org": *org, "username": *user,
		"password": pw, "totp_secret": cu.TOTPSecret, "totp_url": cu.TOTPURL, "api_key": key,
		"note": "shown once: keep the password, TOTP secret and API key now; keep the root key file apart from backups",
	})
}
