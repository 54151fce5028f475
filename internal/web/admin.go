package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cshub/internal/api"
	"cshub/internal/audit"
	"cshub/internal/auth"
	"cshub/internal/hub"
	"cshub/internal/seal"
)

// The administration pages are forms over api.Admin, which applies the identity administration
// rules (who may manage which organisation, workspace, user and key) and audits every change for
// the JSON API and the command line alike; the pages add no rule of their own. What a page
// lists is what api.Admin lets the user list: an analyst sees the organisations and their own
// API keys, an organisation admin also their users and workspaces, the hub operator everything,
// the keyring's status and the audit log with its verification.

// adminSections are the pages, in the order of their navigation.
var adminSections = []struct{ Path, Label string }{
	{"/admin/orgs", "Organisations"}, {"/admin/workspaces", "Workspaces"}, {"/admin/users", "Users"},
	{"/admin/keys", "API keys"}, {"/admin/audit", "Audit log"},
}

func (s *Server) adminRoutes(mux *http.ServeMux) {
	mux.Handle("GET /admin", s.authed(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/orgs", http.StatusSeeOther)
	}))
	for _, sec := range adminSections {
		mux.Handle("GET "+sec.Path, s.authed(s.adminPage))
	}
	mux.Handle("POST /admin/orgs", s.adminPost(s.adminCreateOrg))
	mux.Handle("POST /admin/orgs/{code}/active", s.adminPost(s.adminOrgActive))
	mux.Handle("POST /admin/workspaces", s.adminPost(s.adminCreateWorkspace))
	mux.Handle("POST /admin/workspaces/{ws}/members", s.adminPost(s.adminAddMember))
	mux.Handle("POST /admin/workspaces/{ws}/members/{org}/remove", s.adminPost(s.adminRemoveMember))
	mux.Handle("POST /admin/users", s.adminPost(s.adminCreateUser))
	mux.Handle("POST /admin/users/{id}", s.adminPost(s.adminUpdateUser))
	mux.Handle("POST /admin/keys", s.adminPost(s.adminCreateKey))
	mux.Handle("POST /admin/keys/{id}/revoke", s.adminPost(s.adminRevokeKey))
	mux.Handle("POST /admin/audit/verify", s.adminPost(s.adminVerify))
}

// adminPage is what every administration page receives; a section fills in its own part.
type adminPage struct {
	Section  string // the path of the section shown
	Sections []struct{ Path, Label string }
	Operator bool
	Admin    bool // an organisation admin or the operator
	Error    string
	Flash    string // what the last change did
	Secret   *secretShown

	Orgs       []api.OrgInfo
	Workspaces []api.WorkspaceInfo
	Users      []api.UserInfo
	Keys       []api.KeyInfo
	Terms      []seal.TermInfo
	TermsError string
	Audit      []audit.Item
	Verified   *audit.Report
	Roles      []hub.Role
	Kinds      []hub.WorkspaceKind
}

// secretShown is a secret made by a change (a password, a TOTP secret, an API key), shown on
// the page that answers the change and never again.
type secretShown struct {
	What, Secret, Extra, Note string
}

// auditShown is how many of the newest audit entries the audit page lists.
const auditShown = 200

func isAdminRole(p *auth.Principal) bool {
	return p.Role == hub.RoleAdmin || p.Role == hub.RoleOperator
}

// adminPage serves GET /admin/…: one section of the administration.
func (s *Server) adminPage(w http.ResponseWriter, r *http.Request) {
	s.renderAdmin(w, r, http.StatusOK, r.URL.Path, &adminPage{})
}

// renderAdmin fills ap with the data of section and renders it with status code.
func (s *Server) renderAdmin(w http.ResponseWriter, r *http.Request, code int, section string, ap *adminPage) {
	ctx := r.Context()
	p := principal(ctx).Principal
	ap.Section, ap.Sections = section, adminSections
	ap.Operator, ap.Admin = p.Role == hub.RoleOperator, isAdminRole(p)
	ap.Roles = []hub.Role{hub.RoleAnalyst, hub.RoleReader, hub.RoleAdmin, hub.RoleDirector}
	ap.Kinds = []hub.WorkspaceKind{hub.WorkspaceGroup}
	if ap.Operator {
		ap.Roles = append(ap.Roles, hub.RoleOperator)
		ap.Kinds = append(ap.Kinds, hub.WorkspaceCommunity, hub.WorkspacePrivate, hub.WorkspaceExercise)
	}
	var err error
	switch section {
	case "/admin/orgs":
		ap.Orgs, err = s.admin.Orgs(ctx, p)
	case "/admin/workspaces":
		if ap.Orgs, err = s.admin.Orgs(ctx, p); err == nil {
			ap.Workspaces, err = s.admin.Workspaces(ctx, p)
		}
	case "/admin/users":
		if ap.Admin {
			ap.Users, err = s.admin.Users(ctx, p, "")
		}
	case "/admin/keys":
		if ap.Keys, err = s.admin.APIKeys(ctx, p, "", 0); err == nil && ap.Admin {
			ap.Users, err = s.admin.Users(ctx, p, "")
		}
		if ap.Operator && s.keys != nil {
			if ap.Terms, err = s.keys.Status(); err != nil {
				ap.TermsError, err = hub.ErrorMessage(err), nil
			}
		}
	case "/admin/audit":
		ap.Audit, err = s.auditPage(ctx, p)
	default:
		s.notFound(w, r)
		return
	}
	if err != nil && hub.ErrorCode(err) != hub.EForbidden {
		s.fail(w, r, err)
		return
	}
	if err != nil {
		ap.Error = hub.ErrorMessage(err)
	}
	s.render(w, r, code, "admin.html", &page{Title: "Administration", Nav: "admin", Data: ap})
}

// auditWindows bounds how far back, in windows of 1,000 entries, the audit page looks for an
// organisation admin's entries, so that a long log does not make every view read all of it.
const auditWindows = 20

// auditPage returns the newest audit entries p may read, newest first: all for the operator,
// those of their own organisation for an organisation admin (from the newest auditWindows
// thousand entries), none for others (EForbidden). It reads backwards from the head of the log.
func (s *Server) auditPage(ctx context.Context, p *auth.Principal) ([]audit.Item, error) {
	if !isAdminRole(p) || s.audit == nil {
		return nil, hub.Errorf(hub.EForbidden, "the audit log is for organisation admins and the hub operator")
	}
	head, err := s.audit.Head(ctx)
	if err != nil {
		return nil, err
	}
	var items []audit.Item
	window := int64(auditShown)
	if p.Role != hub.RoleOperator {
		window = 1000
	}
	for end, n := head.Seq, 0; end > 0 && len(items) < auditShown && n < auditWindows; end, n = end-window, n+1 {
		page, err := s.audit.List(ctx, max(0, end-window), int(window))
		if err != nil {
			return nil, err
		}
		for i := len(page) - 1; i >= 0 && len(items) < auditShown; i-- {
			if it := page[i]; p.Role == hub.RoleOperator || it.Org == p.Org {
				items = append(items, it)
			}
		}
	}
	return items, nil
}

// adminChange is one administrative change: it returns the section to show afterwards, a
// sentence saying what was done, and a secret to show once, if any.
type adminChange func(r *http.Request, p *auth.Principal) (section, flash string, secret *secretShown, err error)

// adminPost wraps a change into a form handler: CSRF first, then the change through api.Admin;
// a refused change shows the section again with the reason.
func (s *Server) adminPost(change adminChange) http.Handler {
	return s.authed(func(w http.ResponseWriter, r *http.Request) {
		if !s.checkForm(w, r, maxFormBody) {
			return
		}
		section, flash, secret, err := change(r, principal(r.Context()).Principal)
		ap := &adminPage{Flash: flash, Secret: secret}
		code := http.StatusOK
		if err != nil {
			switch hub.ErrorCode(err) {
			case hub.EInternal, hub.EUnavailable, hub.ESealed, hub.EIntegrity:
				s.fail(w, r, err)
				return
			}
			ap.Flash, ap.Error, code = "", formError(err), hub.HTTPStatus(hub.ErrorCode(err))
		}
		s.renderAdmin(w, r, code, section, ap)
	})
}

// formError is the message of a refused change, naming the field when there is one.
func formError(err error) string {
	var he *hub.Error
	msg := hub.ErrorMessage(err)
	if errors.As(err, &he) && he.Field != "" && he.Field != "Authorization" {
		return he.Field + ": " + msg
	}
	return msg
}

func (s *Server) adminCreateOrg(r *http.Request, p *auth.Principal) (string, string, *secretShown, error) {
	o, err := s.admin.CreateOrg(r.Context(), p, api.NewOrg{Code: r.PostFormValue("code"), Name: r.PostFormValue("name"),
		Country: r.PostFormValue("country"), Kind: hub.OrgKind(r.PostFormValue("kind"))})
	return "/admin/orgs", "Organisation " + o.Name + " created.", nil, err
}

func (s *Server) adminOrgActive(r *http.Request, p *auth.Principal) (string, string, *secretShown, error) {
	active := r.PostFormValue("active") == "true"
	o, err := s.admin.UpdateOrg(r.Context(), p, r.PathValue("code"), api.OrgChange{Active: &active})
	state := "deactivated"
	if active {
		state = "activated"
	}
	return "/admin/orgs", "Organisation " + o.Name + " " + state + ".", nil, err
}

func (s *Server) adminCreateWorkspace(r *http.Request, p *auth.Principal) (string, string, *secretShown, error) {
	w, err := s.admin.CreateWorkspace(r.Context(), p, api.NewWorkspace{Slug: r.PostFormValue("slug"), Name: r.PostFormValue("name"),
		Kind: hub.WorkspaceKind(r.PostFormValue("kind")), DefaultTLP: r.PostFormValue("default_tlp"), Members: r.PostForm["members"]})
	return "/admin/workspaces", "Workspace " + w.Slug + " created.", nil, err
}

func (s *Server) adminAddMember(r *http.Request, p *auth.Principal) (string, string, *secretShown, error) {
	org := r.PostFormValue("org")
	_, err := s.admin.AddMember(r.Context(), p, r.PathValue("ws"), org)
	return "/admin/workspaces", org + " added to " + r.PathValue("ws") + ".", nil, err
}

func (s *Server) adminRemoveMember(r *http.Request, p *auth.Principal) (string, string, *secretShown, error) {
	_, err := s.admin.RemoveMember(r.Context(), p, r.PathValue("ws"), r.PathValue("org"))
	return "/admin/workspaces", r.PathValue("org") + " removed from " + r.PathValue("ws") + ".", nil, err
}

func (s *Server) adminCreateUser(r *http.Request, p *auth.Principal) (string, string, *secretShown, error) {
	c, err := s.admin.CreateUser(r.Context(), p, api.NewUser{Org: r.PostFormValue("org"), Username: r.PostFormValue("username"),
		Role: hub.Role(r.PostFormValue("role")), TOTP: true})
	if err != nil {
		return "/admin/users", "", nil, err
	}
	return "/admin/users", "User " + c.User.Username + " created.",
		&secretShown{What: "Password of " + c.User.Username, Secret: c.Password, Extra: c.TOTPURL, Note: c.Note}, nil
}

func (s *Server) adminUpdateUser(r *http.Request, p *auth.Principal) (string, string, *secretShown, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return "/admin/users", "", nil, hub.FieldError("id", "not a user id")
	}
	var c api.UserChange
	if role := r.PostFormValue("role"); role != "" {
		rl := hub.Role(role)
		c.Role = &rl
	}
	if a := r.PostFormValue("active"); a != "" {
		active := a == "true"
		c.Active = &active
	}
	u, err := s.admin.UpdateUser(r.Context(), p, id, c)
	return "/admin/users", "User " + u.Username + " changed.", nil, err
}

func (s *Server) adminCreateKey(r *http.Request, p *auth.Principal) (string, string, *secretShown, error) {
	var userID int64
	if v := r.PostFormValue("user_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return "/admin/keys", "", nil, hub.FieldError("user_id", "not a user id")
		}
		userID = id
	}
	expires := ""
	if d := strings.TrimSpace(r.PostFormValue("expires")); d != "" {
		t, err := time.Parse("2006-01-02", d)
		if err != nil {
			return "/admin/keys", "", nil, hub.FieldError("expires", "%q is not a date", d)
		}
		expires = t.UTC().Format(time.RFC3339)
	}
	// A session has no key expiry of its own to bound the new key by.
	k, err := s.admin.CreateAPIKey(r.Context(), p, api.NewKey{UserID: userID, Scope: hub.Scope(r.PostFormValue("scope")), Expires: expires}, time.Time{})
	if err != nil {
		return "/admin/keys", "", nil, err
	}
	return "/admin/keys", "API key " + k.Key.ID + " created.", &secretShown{What: "API key " + k.Key.ID, Secret: k.Secret, Note: k.Note}, nil
}

func (s *Server) adminRevokeKey(r *http.Request, p *auth.Principal) (string, string, *secretShown, error) {
	k, err := s.admin.RevokeAPIKey(r.Context(), p, r.PathValue("id"))
	return "/admin/keys", "API key " + k.ID + " revoked.", nil, err
}

// adminVerify checks the whole audit chain; only the operator may, as it spans every
// organisation.
func (s *Server) adminVerify(r *http.Request, p *auth.Principal) (string, string, *secretShown, error) {
	if p.Role != hub.RoleOperator || s.audit == nil {
		return "/admin/audit", "", nil, hub.Errorf(hub.EForbidden, "only the hub operator verifies the audit log")
	}
	rep, err := s.audit.Verify(r.Context())
	if err != nil && hub.ErrorCode(err) != hub.EIntegrity {
		return "/admin/audit", "", nil, err
	}
	if rep.Broken != nil {
		return "/admin/audit", "", nil, hub.Errorf(hub.EConflict, "the audit log is broken at entry %d: %s", rep.Broken.Seq, rep.Broken.Detail)
	}
	return "/admin/audit", "The audit log is intact: " + strconv.FormatInt(rep.Verified, 10) + " entries verified, head " + rep.Head.String() + ".", nil, nil
}
