package web

import (
	"context"
	"net"
	"net/http"

	"cshub/internal/access"
	"cshub/internal/audit"
	"cshub/internal/auth"
	"cshub/internal/hub"
)

// authed wraps h so that it runs only for a signed-in user, with the user and their Viewer in
// the request's context. Without a valid session a GET is sent to the login page; anything
// else is refused.
func (s *Server) authed(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := s.session(w, r)
		if err != nil {
			if hub.ErrorCode(err) != hub.EUnauthorized {
				s.fail(w, r, err)
				return
			}
			if c, cerr := r.Cookie(auth.SessionCookieName); cerr == nil && c.Value != "" {
				http.SetCookie(w, s.sessions.ClearCookie()) // expired or revoked: drop it
			}
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			s.forbidden(w, r)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), viewerKey{}, v)))
	})
}

// session authenticates r's session cookie, sends a refreshed cookie when the session's
// last-seen time moved, and builds the user's Viewer. No or a bad cookie is EUnauthorized.
func (s *Server) session(w http.ResponseWriter, r *http.Request) (*viewer, error) {
	c, err := r.Cookie(auth.SessionCookieName)
	if err != nil || c.Value == "" {
		return nil, hub.Errorf(hub.EUnauthorized, "not signed in")
	}
	p, refreshed, err := s.auth.Session(r.Context(), c.Value)
	if err != nil {
		return nil, err
	}
	if refreshed != c.Value {
		http.SetCookie(w, s.sessions.Cookie(refreshed))
	}
	v := &viewer{Principal: p, OrgName: p.Org}
	if o, err := s.dir.Org(r.Context(), p.Org); err == nil && o.Name != "" {
		v.OrgName = o.Name
	}
	if v.Viewer, err = access.ViewerFor(r.Context(), s.dir, p.Org, access.PathRead); err != nil {
		return nil, err
	}
	return v, nil
}

type loginPage struct {
	Username string
	Message  string // one generic sentence; never which factor failed
}

// loginForm serves GET /login. A user who is signed in already goes to the dashboard.
func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	if _, err := s.session(w, r); err == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, loginPage{})
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, code int, lp loginPage) {
	v := ensurePreSession(w, r)
	s.render(w, r, code, "login.html", &page{Title: "Sign in", CSRF: s.preSessionToken(v), Data: lp})
}

// Messages of the login page. Failures share one text, so that the page does not tell which of
// user name, password and one-time code was wrong.
const (
	msgLoginFailed = "Sign-in failed. Check your user name, password and one-time code, and try again."
	msgLoginWait   = "Too many failed sign-in attempts. Wait a few minutes before trying again."
	msgLoginBusy   = "The hub is busy. Try again in a moment."
)

// login serves POST /login: it checks the pre-session CSRF token, then the user name,
// password and one-time code, and on success sets the session cookie and goes to the dashboard.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, hub.Errorf(hub.EInvalid, "the form could not be read"))
		return
	}
	pre := preSession(r)
	if pre == "" || !validToken(r.PostFormValue(csrfField), s.preSessionToken(pre)) {
		s.log.Info("web: login without a valid CSRF token", "remote", r.RemoteAddr)
		s.forbidden(w, r)
		return
	}
	username := r.PostFormValue("username")
	p, err := s.auth.Login(r.Context(), username, r.PostFormValue("password"), r.PostFormValue("totp"), clientIP(r))
	if err != nil {
		s.record(r, audit.Entry{Actor: username, Action: "login-failed", Target: username,
			Details: map[string]string{"remote": r.RemoteAddr, "code": hub.ErrorCode(err)}})
		lp := loginPage{Username: username}
		code := http.StatusOK
		switch hub.ErrorCode(err) {
		case hub.EUnauthorized:
			lp.Message = msgLoginFailed
			s.log.Info("web: login failed", "username", username, "remote", r.RemoteAddr, "err", err)
		case hub.ERateLimited:
			lp.Message, code = msgLoginWait, http.StatusTooManyRequests
			s.log.Warn("web: login throttled", "username", username, "remote", r.RemoteAddr, "err", err)
		case hub.EUnavailable:
			lp.Message, code = msgLoginBusy, http.StatusServiceUnavailable
		default:
			s.fail(w, r, err)
			return
		}
		s.renderLogin(w, r, code, lp)
		return
	}
	value, err := s.sessions.Issue(*p, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.SetCookie(w, s.sessions.Cookie(value))
	// The pre-session value has done its job; a fresh one is made at the next login form.
	clear := preSessionCookie("")
	clear.MaxAge = -1
	http.SetCookie(w, clear)
	s.log.Info("web: login", "user", p.Username, "org", p.Org, "remote", r.RemoteAddr)
	s.record(r, audit.Entry{Org: p.Org, Actor: p.Username, Action: "login", Target: p.Username,
		Details: map[string]string{"remote": r.RemoteAddr}})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout serves POST /logout: with the session's CSRF token it clears the session cookie. A
// request without a valid session has nothing to end and is sent to the login page.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, hub.Errorf(hub.EInvalid, "the form could not be read"))
		return
	}
	v, err := s.session(w, r)
	if err != nil {
		if hub.ErrorCode(err) != hub.EUnauthorized {
			s.fail(w, r, err)
			return
		}
		http.SetCookie(w, s.sessions.ClearCookie())
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if !validToken(r.PostFormValue(csrfField), s.sessionToken(v.Principal)) {
		s.log.Info("web: logout without a valid CSRF token", "user", v.Username, "remote", r.RemoteAddr)
		s.forbidden(w, r)
		return
	}
	// The cookie refreshed by session above must not survive: the clearing cookie replaces it.
	w.Header().Del("Set-Cookie")
	http.SetCookie(w, s.sessions.ClearCookie())
	s.log.Info("web: logout", "user", v.Username, "org", v.Org, "remote", r.RemoteAddr)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// clientIP returns the address of r's peer, for login throttling. Forwarding headers are not
// trusted: a client could set them to dodge the throttle.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// record writes an audit entry; a failure to record is logged, as the login itself stands.
func (s *Server) record(r *http.Request, e audit.Entry) {
	if s.audit == nil {
		return
	}
	if _, err := s.audit.Record(r.Context(), e); err != nil {
		s.log.Error("web: audit record failed", "action", e.Action, "err", err)
	}
}
