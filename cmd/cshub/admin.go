package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"cshub/internal/api"
	"cshub/internal/auth"
	"cshub/internal/hub"
	"cshub/internal/members"
)

// The identity administration commands (org, workspace, user, key) work on the data directory
// directly. Whoever holds the root key is the hub operator, so they act as the operator, under
// the same rules as the operator acting through the API (package api's Admin), and every change
// is recorded in the audit log with actor "local:$USER".

// subcommand is one subcommand of a command group such as `cshub org add`.
type subcommand struct {
	name, usage, summary string
	run                  func(ctx context.Context, e *env, args []string) error
}

func orgCommands() []subcommand {
	return []subcommand{
		{"add", "--code CODE --name NAME --country CC [--kind member|operator|observer] [--inactive]", "add an organisation", runOrgAdd},
		{"list", "", "list the organisations as JSON", runOrgList},
		{"set", "CODE [--active=true|false] [--name NAME]", "activate, deactivate or rename an organisation", runOrgSet},
	}
}

func workspaceCommands() []subcommand {
	return []subcommand{
		{"add", "--slug SLUG --members ORG,... [--name NAME] [--kind group|community|private|exercise] [--tlp LEVEL]", "add a workspace with its data key", runWorkspaceAdd},
		{"list", "", "list the workspaces and their members as JSON", runWorkspaceList},
		{"member-add", "WORKSPACE ORG", "make an organisation a member of a workspace", runMemberAdd},
		{"member-remove", "WORKSPACE ORG", "end an organisation's membership of a workspace (never the last member's)", runMemberRemove},
	}
}

func userCommands() []subcommand {
	return []subcommand{
		{"add", "--org ORG --username NAME --role ROLE [--totp] [--password-stdin]", "add a user; the password (generated unless given on stdin) and TOTP secret are shown once", runUserAdd},
		{"invite", "--org ORG --username NAME --role ROLE", "invite a user: the one-time token (shown once) lets them set a password and a second factor", runUserInvite},
		{"list", "[--org ORG]", "list users as JSON (never their secrets)", runUserList},
		{"set", "USERNAME [--role ROLE] [--active=true|false]", "change a user's role or deactivate them", runUserSet},
	}
}

func keyCommands() []subcommand {
	return []subcommand{
		{"add", "--user USERNAME --scope read|write|admin [--expires RFC3339]", "make an API key for a user; the secret is shown once", runKeyAdd},
		{"list", "[--org ORG] [--user USERNAME]", "list API keys as JSON (never their secrets)", runKeyList},
		{"revoke", "ID", "revoke an API key", runKeyRevoke},
	}
}

func runOrg(ctx context.Context, e *env, args []string) error {
	return runGroup(ctx, e, "org", orgCommands(), args)
}

func runWorkspace(ctx context.Context, e *env, args []string) error {
	return runGroup(ctx, e, "workspace", workspaceCommands(), args)
}

func runUser(ctx context.Context, e *env, args []string) error {
	return runGroup(ctx, e, "user", userCommands(), args)
}

func runKey(ctx context.Context, e *env, args []string) error {
	return runGroup(ctx, e, "apikey", keyCommands(), args)
}

// runGroup runs the subcommand of group named by args[0] with the rest of args.
func runGroup(ctx context.Context, e *env, group string, subs []subcommand, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs := flag.NewFlagSet("cshub "+group, flag.ContinueOnError)
		fs.SetOutput(e.stderr)
		fs.Usage = func() { groupUsage(e, group, subs) }
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return errUsage
		}
		groupUsage(e, group, subs)
		return errUsage
	}
	for _, sc := range subs {
		if sc.name == args[0] {
			return sc.run(ctx, e, args[1:])
		}
	}
	fmt.Fprintf(e.stderr, "cshub %s: unknown subcommand %q\n\n", group, args[0])
	groupUsage(e, group, subs)
	return errUsage
}

func groupUsage(e *env, group string, subs []subcommand) {
	fmt.Fprintf(e.stderr, "Usage: cshub %s SUBCOMMAND [flags]\n\nSubcommands (on the data directory, as the hub operator):\n", group)
	for _, sc := range subs {
		fmt.Fprintf(e.stderr, "  %-13s %s\n                cshub %s %s %s\n", sc.name, sc.summary, group, sc.name, sc.usage)
	}
	fmt.Fprintf(e.stderr, "\nRun 'cshub %s SUBCOMMAND --help' for its flags.\n", group)
}

// subFlags returns the FlagSet of `cshub group name`, with the flags that say where the hub is.
func subFlags(e *env, group, name string, c *common) *flag.FlagSet {
	fs := flag.NewFlagSet("cshub "+group+" "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var subs []subcommand
	switch group {
	case "org":
		subs = orgCommands()
	case "workspace":
		subs = workspaceCommands()
	case "user":
		subs = userCommands()
	case "apikey":
		subs = keyCommands()
	case "source":
		subs = sourceCommands()
	case "policy":
		subs = policyCommands()
	case "exercise":
		subs = exerciseCommands()
	}
	fs.Usage = func() {
		for _, sc := range subs {
			if sc.name == name {
				fmt.Fprintf(e.stderr, "Usage: cshub %s %s %s\n\n%s.\n\nFlags:\n", group, name, sc.usage,
					strings.ToUpper(sc.summary[:1])+sc.summary[1:])
			}
		}
		fs.PrintDefaults()
	}
	all := flag.NewFlagSet("", flag.ContinueOnError)
	c.register(all)
	for _, n := range []string{"data", "store"} {
		f := all.Lookup(n)
		fs.Var(f.Value, f.Name, f.Usage)
	}
	return fs
}

// adminSession is an opened hub with its administration, acting as the local operator.
type adminSession struct {
	app   *app
	admin *api.Admin
}

func openAdmin(ctx context.Context, e *env, c *common) (*adminSession, error) {
	a, err := openApp(ctx, e, c, false)
	if err != nil {
		return nil, err
	}
	adm, err := api.NewAdmin(api.AdminConfig{
		Dir: a.store, Members: members.New(a.store, a.barrier, a.auth, nil), Audit: a.audit, Log: a.log,
	})
	if err != nil {
		a.close()
		return nil, err
	}
	return &adminSession{app: a, admin: adm}, nil
}

func (s *adminSession) close() { s.app.close() }

// operator returns the Principal of the person at the terminal.
func operator(e *env) string {
	if u := e.getenv("USER"); u != "" {
		return "local:" + u
	}
	return "local"
}

func printJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// noArgs refuses positional arguments to a subcommand that takes none.
func noArgs(pos []string) error {
	if len(pos) > 0 {
		return hub.FieldError("arguments", "%q: this subcommand takes only flags", pos[0])
	}
	return nil
}

// exactArgs returns the n positional arguments named by names, or an error naming the first
// missing one.
func exactArgs(pos []string, names ...string) error {
	if len(pos) < len(names) {
		return hub.FieldError(names[len(pos)], "required")
	}
	if len(pos) > len(names) {
		return hub.FieldError("arguments", "%q: too many arguments", pos[len(names)])
	}
	return nil
}

// optionalBool is a boolean flag that remembers whether it was given.
type optionalBool struct{ v *bool }

func (b *optionalBool) String() string {
	if b == nil || b.v == nil {
		return ""
	}
	return fmt.Sprint(*b.v)
}

func (b *optionalBool) Set(s string) error {
	var v bool
	switch s {
	case "true", "1", "yes":
		v = true
	case "false", "0", "no":
	default:
		return errors.New("must be true or false")
	}
	b.v = &v
	return nil
}

func (b *optionalBool) IsBoolFlag() bool { return true }

func runOrgAdd(ctx context.Context, e *env, args []string) error {
	var c common
	fs := subFlags(e, "org", "add", &c)
	var n api.NewOrg
	fs.StringVar(&n.Code, "code", "", "short stable `code`, such as cert-fr (required)")
	fs.StringVar(&n.Name, "name", "", "the organisation's `name` (required)")
	fs.StringVar(&n.Country, "country", "", "ISO 3166-1 alpha-2 `code` (required)")
	kind := fs.String("kind", "member", "`kind`: member, operator or observer")
	inactive := fs.Bool("inactive", false, "create it deactivated")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	for _, req := range []struct{ flag, value string }{{"code", n.Code}, {"name", n.Name}, {"country", n.Country}} {
		if req.value == "" {
			return hub.FieldError(req.flag, "required")
		}
	}
	n.Kind = hub.OrgKind(*kind)
	active := !*inactive
	n.Active = &active
	s, err := openAdmin(ctx, e, &c)
	if err != nil {
		return err
	}
	defer s.close()
	o, err := s.admin.CreateOrg(ctx, api.LocalOperator(operator(e)), n)
	if err != nil {
		return err
	}
	return printJSON(e, o)
}

func runOrgList(ctx context.Context, e *env, args []string) error {
	return runList(ctx, e, args, "org", "orgs", func(a *api.Admin, p *auth.Principal) (any, error) { return a.Orgs(ctx, p) })
}

// runList runs a list subcommand without flags of its own: it prints what list returns under
// key, as the local hub operator sees it.
func runList(ctx context.Context, e *env, args []string, group, key string, list func(*api.Admin, *auth.Principal) (any, error)) error {
	var c common
	fs := subFlags(e, group, "list", &c)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	s, err := openAdmin(ctx, e, &c)
	if err != nil {
		return err
	}
	defer s.close()
	v, err := list(s.admin, api.LocalOperator(operator(e)))
	if err != nil {
		return err
	}
	return printJSON(e, map[string]any{key: v})
}

func runOrgSet(ctx context.Context, e *env, args []string) error {
	var c common
	fs := subFlags(e, "org", "set", &c)
	var active optionalBool
	fs.Var(&active, "active", "`true` to activate, false to deactivate (its credentials are refused at once)")
	name := fs.String("name", "", "new `name`")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, "CODE"); err != nil {
		return err
	}
	ch := api.OrgChange{Active: active.v}
	if *name != "" {
		ch.Name = name
	}
	s, err := openAdmin(ctx, e, &c)
	if err != nil {
		return err
	}
	defer s.close()
	o, err := s.admin.UpdateOrg(ctx, api.LocalOperator(operator(e)), pos[0], ch)
	if err != nil {
		return err
	}
	return printJSON(e, o)
}

func runWorkspaceAdd(ctx context.Context, e *env, args []string) error {
	var c common
	fs := subFlags(e, "workspace", "add", &c)
	var n api.NewWorkspace
	fs.StringVar(&n.Slug, "slug", "", "the workspace's `slug` (required)")
	fs.StringVar(&n.Name, "name", "", "display `name` (default: the slug)")
	kind := fs.String("kind", "group", "`kind`: group (bilateral or ad-hoc), community, private or exercise")
	fs.StringVar(&n.DefaultTLP, "tlp", "amber", "default TLP 2.0 `level` of objects that arrive unmarked")
	mem := fs.String("members", "", "comma-separated member organisation `codes` (required)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	n.Kind, n.Members = hub.WorkspaceKind(*kind), list([]string{*mem})
	if n.Slug == "" {
		return hub.FieldError("slug", "required")
	}
	if len(n.Members) == 0 {
		return hub.FieldError("members", "required: at least one member organisation")
	}
	s, err := openAdmin(ctx, e, &c)
	if err != nil {
		return err
	}
	defer s.close()
	w, err := s.admin.CreateWorkspace(ctx, api.LocalOperator(operator(e)), n)
	if err != nil {
		return err
	}
	return printJSON(e, w)
}

func runWorkspaceList(ctx context.Context, e *env, args []string) error {
	return runList(ctx, e, args, "workspace", "workspaces", func(a *api.Admin, p *auth.Principal) (any, error) { return a.Workspaces(ctx, p) })
}

func runMemberAdd(ctx context.Context, e *env, args []string) error {
	return runMember(ctx, e, "member-add", args)
}

func runMemberRemove(ctx context.Context, e *env, args []string) error {
	return runMember(ctx, e, "member-remove", args)
}

func runMember(ctx context.Context, e *env, name string, args []string) error {
	var c common
	fs := subFlags(e, "workspace", name, &c)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, "WORKSPACE", "ORG"); err != nil {
		return err
	}
	s, err := openAdmin(ctx, e, &c)
	if err != nil {
		return err
	}
	defer s.close()
	p := api.LocalOperator(operator(e))
	var w api.WorkspaceInfo
	if name == "member-add" {
		w, err = s.admin.AddMember(ctx, p, pos[0], pos[1])
	} else {
		w, err = s.admin.RemoveMember(ctx, p, pos[0], pos[1])
	}
	if err != nil {
		return err
	}
	return printJSON(e, w)
}

// newUserFlags registers the flags that name a new user (organisation, user name, role) and
// returns a function that checks them once parsed.
func newUserFlags(fs *flag.FlagSet, org, username *string, role *hub.Role, roles string) func() error {
	fs.StringVar(org, "org", "", "the user's organisation `code` (required)")
	fs.StringVar(username, "username", "", "the user's login `name` (required)")
	r := fs.String("role", "", "`role`: "+roles+" (required)")
	return func() error {
		switch {
		case *org == "":
			return hub.FieldError("org", "required: the organisation the user belongs to")
		case *username == "":
			return hub.FieldError("username", "required")
		case *r == "":
			return hub.FieldError("role", "required: %s", roles)
		}
		*role = hub.Role(*r)
		return nil
	}
}

func runUserAdd(ctx context.Context, e *env, args []string) error {
	var c common
	fs := subFlags(e, "user", "add", &c)
	var n api.NewUser
	check := newUserFlags(fs, &n.Org, &n.Username, &n.Role, "admin, analyst, reader, director, or operator in an operator organisation")
	fs.BoolVar(&n.TOTP, "totp", false, "enrol a TOTP second factor now and show its secret once")
	stdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input instead of generating one")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	if err := check(); err != nil {
		return err
	}
	if *stdin {
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && line == "" {
			return hub.FieldError("password-stdin", "no password on standard input")
		}
		n.Password = strings.TrimRight(line, "\r\n")
	}
	s, err := openAdmin(ctx, e, &c)
	if err != nil {
		return err
	}
	defer s.close()
	cu, err := s.admin.CreateUser(ctx, api.LocalOperator(operator(e)), n)
	if err != nil {
		return err
	}
	return printJSON(e, cu)
}

func runUserInvite(ctx context.Context, e *env, args []string) error {
	var c common
	fs := subFlags(e, "user", "invite", &c)
	var n api.NewInvitation
	check := newUserFlags(fs, &n.Org, &n.Username, &n.Role, "admin, analyst, reader or director")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	if err := check(); err != nil {
		return err
	}
	s, err := openAdmin(ctx, e, &c)
	if err != nil {
		return err
	}
	defer s.close()
	inv, err := s.admin.Invite(ctx, api.LocalOperator(operator(e)), n)
	if err != nil {
		return err
	}
	return printJSON(e, inv)
}

func runUserList(ctx context.Context, e *env, args []string) error {
	var c common
	fs := subFlags(e, "user", "list", &c)
	org := fs.String("org", "", "only the users of this organisation `code`")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	s, err := openAdmin(ctx, e, &c)
	if err != nil {
		return err
	}
	defer s.close()
	us, err := s.admin.Users(ctx, api.LocalOperator(operator(e)), *org)
	if err != nil {
		return err
	}
	return printJSON(e, map[string]any{"users": us})
}

func runUserSet(ctx context.Context, e *env, args []string) error {
	var c common
	fs := subFlags(e, "user", "set", &c)
	var active optionalBool
	fs.Var(&active, "active", "`false` to deactivate (their keys and sessions are refused at once), true to reactivate")
	role := fs.String("role", "", "new `role`")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, "USERNAME"); err != nil {
		return err
	}
	ch := api.UserChange{Active: active.v}
	if *role != "" {
		r := hub.Role(*role)
		ch.Role = &r
	}
	s, err := openAdmin(ctx, e, &c)
	if err != nil {
		return err
	}
	defer s.close()
	u, err := userNamed(ctx, s, "USERNAME", pos[0])
	if err != nil {
		return err
	}
	ui, err := s.admin.UpdateUser(ctx, api.LocalOperator(operator(e)), u.ID, ch)
	if err != nil {
		return err
	}
	return printJSON(e, ui)
}

// userNamed looks a user up by name, naming field when there is none.
func userNamed(ctx context.Context, s *adminSession, field, name string) (*hub.User, error) {
	u, err := s.app.store.UserByName(ctx, name)
	if hub.ErrorCode(err) == hub.ENotFound {
		return nil, hub.FieldError(field, "no user %q", name)
	}
	return u, err
}

func runKeyAdd(ctx context.Context, e *env, args []string) error {
	var c common
	fs := subFlags(e, "apikey", "add", &c)
	user := fs.String("user", "", "user `name` the key acts for (required)")
	var n api.NewKey
	scope := fs.String("scope", "read", "`scope`: read, write or admin, within what the user's role allows")
	fs.StringVar(&n.Expires, "expires", "", "expiry `time` in RFC 3339, such as 2027-01-31T00:00:00Z (default: never)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	if *user == "" {
		return hub.FieldError("user", "required: the user the key acts for")
	}
	n.Scope = hub.Scope(*scope)
	s, err := openAdmin(ctx, e, &c)
	if err != nil {
		return err
	}
	defer s.close()
	u, err := userNamed(ctx, s, "user", *user)
	if err != nil {
		return err
	}
	n.UserID = u.ID
	k, err := s.admin.CreateAPIKey(ctx, api.LocalOperator(operator(e)), n, time.Time{})
	if err != nil {
		return err
	}
	return printJSON(e, k)
}

func runKeyList(ctx context.Context, e *env, args []string) error {
	var c common
	fs := subFlags(e, "apikey", "list", &c)
	org := fs.String("org", "", "only the keys of this organisation `code`")
	user := fs.String("user", "", "only the keys of this user `name`")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	s, err := openAdmin(ctx, e, &c)
	if err != nil {
		return err
	}
	defer s.close()
	var id int64
	if *user != "" {
		u, err := userNamed(ctx, s, "user", *user)
		if err != nil {
			return err
		}
		id = u.ID
		if *org == "" {
			*org = u.Org
		}
	}
	ks, err := s.admin.APIKeys(ctx, api.LocalOperator(operator(e)), *org, id)
	if err != nil {
		return err
	}
	return printJSON(e, map[string]any{"keys": ks})
}

func runKeyRevoke(ctx context.Context, e *env, args []string) error {
	var c common
	fs := subFlags(e, "apikey", "revoke", &c)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, "ID"); err != nil {
		return err
	}
	s, err := openAdmin(ctx, e, &c)
	if err != nil {
		return err
	}
	defer s.close()
	k, err := s.admin.RevokeAPIKey(ctx, api.LocalOperator(operator(e)), pos[0])
	if err != nil {
		return err
	}
	return printJSON(e, k)
}
