package portal

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald"
)

// SessionCookie is the name of the cookie that holds a portal session's id over plain
// HTTP (loopback, or a development setup).
const SessionCookie = "herald_session"

// SecureSessionCookie is the session cookie's name when the portal is reached over TLS.
// Browsers accept a __Host- cookie only when it is Secure, has Path=/ and no Domain, so
// no sibling domain, nor a plain-HTTP page, can set or shadow it.
const SecureSessionCookie = "__Host-" + SessionCookie

// cookieName is the session cookie's name for r.
func cookieName(r *http.Request) string {
	if overTLS(r) {
		return SecureSessionCookie
	}
	return SessionCookie
}

// setSessionCookie sets (or, with value "", clears) the session cookie. It is HttpOnly
// so no script reads it, and Secure, with the __Host- prefix, when the portal is reached
// over TLS. sameSite is Strict for a key's sign-in, so no other site's page sends it, and
// Lax for a portal link's, which arrives by a navigation from the provider's site and
// must be sent on the redirect that follows.
func (p *portal) setSessionCookie(w http.ResponseWriter, r *http.Request, value string, expires time.Time, sameSite http.SameSite) {
	p.setCookie(w, r, cookieName(r), value, expires, sameSite)
}

// setCookie sets (or, with value "", clears) one of the portal's cookies, HttpOnly, Path=/
// and Secure over TLS.
//
// A portal that may be framed (FrameAncestors) is used inside another site's page,
// where browsers send only SameSite=None cookies, accept those only when Secure (any
// https page, or http://localhost), and keep them under third-party cookie blocking only
// when Partitioned (CHIPS): a cookie jar of its own per embedding site. A partitioned
// cookie is cleared only by a Set-Cookie that is partitioned too, so clearing sets the
// same attributes.
func (p *portal) setCookie(w http.ResponseWriter, r *http.Request, name, value string, expires time.Time, sameSite http.SameSite) {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		SameSite: sameSite,
		Secure:   overTLS(r),
	}
	if len(p.frameAncestors) > 0 {
		c.SameSite, c.Secure, c.Partitioned = http.SameSiteNoneMode, true, true
	}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
		c.MaxAge = int(expires.Sub(p.now()).Seconds())
	}
	http.SetCookie(w, c)
}

// clearSessionCookie tells the browser to drop its session cookie.
func (p *portal) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	p.setSessionCookie(w, r, "", time.Time{}, http.SameSiteStrictMode)
}

// startSession stores a new session for v, who signed in with key, and sets its cookie.
// The cookie holds only the session's random id; the store only the id's hash.
func (p *portal) startSession(w http.ResponseWriter, r *http.Request, v *viewer, key string) error {
	id := herald.NewSessionID()
	now := p.now()
	s := &herald.Session{IDHash: herald.HashSessionID(id), Admin: v.Admin, KeyHash: herald.HashKey(key),
		CreatedAt: now, ExpiresAt: now.Add(p.sessionTTL)}
	if !v.Admin {
		s.TenantID = v.Tenant.ID
	}
	if err := p.store.CreateSession(r.Context(), s); err != nil {
		return err
	}
	p.setSessionCookie(w, r, id, s.ExpiresAt, http.SameSiteStrictMode)
	return nil
}

// session returns the unexpired stored session r's cookie names, and whether there is
// one. A store failure is an error, not a missing session, so an outage does not sign
// everyone out.
func (p *portal) session(r *http.Request) (*herald.Session, bool, error) {
	c, err := r.Cookie(cookieName(r))
	if err != nil || c.Value == "" {
		return nil, false, nil
	}
	s, err := p.store.Session(r.Context(), herald.HashSessionID(c.Value), p.now())
	switch herald.ErrorCode(err) {
	case "":
		return s, true, nil
	case herald.ENOTFOUND:
		return nil, false, nil
	}
	return nil, false, err
}

// overTLS reports whether the browser reached the portal over TLS: directly, or through
// a proxy that ended TLS and says so in X-Forwarded-Proto. The header is not checked
// against a list of trusted proxies because it can only make the cookie stricter: a
// forged "https" makes a plain-HTTP browser drop the cookie, nothing worse.
func overTLS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	// A chain of proxies may list several; the first is the one the browser reached.
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// viewer is who a signed-in request acts as.
type viewer struct {
	// session is the stored session a signed-in request acts through; key is the API
	// key while it is being signed in with, which is never kept beyond that request.
	session *herald.Session
	key     string

	// Admin is true for the admin key, which sees every tenant.
	Admin bool
	// Tenant is a tenant key's own tenant; nil for the admin.
	Tenant *herald.Tenant
	// Tenants are every tenant, for the admin's tenant filter.
	Tenants []herald.Tenant

	// charged is set once this request made its first API call, which the API charged
	// to the key's rate limit; the request's later calls are marked as paid for, so a
	// page costs the key one request however many calls it makes.
	charged atomic.Bool
}

// ReadOnly reports whether the viewer's session can change nothing: a read-only portal
// link's.
func (v *viewer) ReadOnly() bool { return v.session != nil && v.session.ReadOnly }

// Link reports whether the viewer signed in through a portal link, not a key: there is
// no key to sign in with again, so the page offers the way back to the provider's app
// rather than a sign-out.
func (v *viewer) Link() bool { return v.session != nil && v.session.Link }

// SessionExpires is when the viewer's session ends.
func (v *viewer) SessionExpires() time.Time {
	if v.session == nil {
		return time.Time{}
	}
	return v.session.ExpiresAt
}

// ReturnURL is where a portal link's visitor goes back to, "" for none.
func (v *viewer) ReturnURL() string {
	if v.session == nil {
		return ""
	}
	return v.session.ReturnURL
}

// Name is who the viewer is, as the page header shows it.
func (v *viewer) Name() string {
	if v.Admin {
		return "Admin"
	}
	if v.Tenant == nil {
		return ""
	}
	return v.Tenant.Name
}

// errInvalidKey means the API refused the key or the session: unknown, or its tenant
// deleted, or (for a session) the admin key changed since it began.
var errInvalidKey = errors.New("invalid API key")

// identify finds who v is: v.key being signed in with, or v.session. The admin is the
// key whose hash is the configured admin key's, compared in constant time; any other
// key the API accepts is a tenant's.
//
// The API is asked in every case, with one call to the admin-only tenant list: it
// charges the key's rate limit once for the page, answers the admin's tenant filter,
// and refuses an unknown key through the API's limit on failed authentications, so the
// sign-in form is no faster a way to guess keys than the API. Its answer must agree
// with the hash: a key the API serves the tenant list to but that is not the admin's
// is an error, never an admin.
func (p *portal) identify(r *http.Request, v *viewer) (*viewer, error) {
	hash := herald.HashKey(v.key)
	if v.session != nil {
		hash = v.session.KeyHash
	}
	admin := len(p.adminKeyHash) > 0 && subtle.ConstantTimeCompare(hash, p.adminKeyHash) == 1
	if v.session != nil && v.session.Admin != admin {
		return nil, errInvalidKey // an admin session after the admin key changed
	}
	_, err := p.call(r, v, http.MethodGet, "/api/v1/tenants", nil, nil, &v.Tenants)
	switch {
	case err == nil && admin:
		v.Admin = true
		return v, nil
	case err == nil:
		return nil, errors.New("the API served the tenant list to a key that is not the portal's admin key: check that the portal is given the API's admin key hash")
	case herald.ErrorCode(err) == herald.EUNAUTHORIZED:
		return nil, errInvalidKey
	case herald.ErrorCode(err) == herald.EFORBIDDEN && !admin:
		var t *herald.Tenant
		if v.session != nil {
			t, err = p.store.Tenant(r.Context(), v.session.TenantID)
		} else {
			t, err = p.store.TenantByKeyHash(r.Context(), hash, p.now())
		}
		if herald.ErrorCode(err) == herald.ENOTFOUND {
			return nil, errInvalidKey // deleted between the two reads
		}
		if err != nil {
			return nil, err
		}
		v.Tenant = t
		return v, nil
	}
	return nil, err
}

// signedIn runs h for a request with a valid session, and sends any other to sign in.
func (p *portal) signedIn(h func(w http.ResponseWriter, r *http.Request, v *viewer)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		s, ok, err := p.session(r)
		if err != nil {
			p.renderAPIError(w, r, nil, err)
			return
		}
		if !ok {
			if _, err := r.Cookie(cookieName(r)); err == nil {
				p.clearSessionCookie(w, r)
			}
			p.toSignIn(w, r)
			return
		}
		v, err := p.identify(r, &viewer{session: s})
		if errors.Is(err, errInvalidKey) {
			p.endSession(w, r, s)
			p.toSignIn(w, r)
			return
		}
		if err != nil {
			p.renderAPIError(w, r, nil, err)
			return
		}
		if v.ReadOnly() && r.Method != http.MethodGet && r.Method != http.MethodHead {
			// The API refuses each write of a read-only session too; this answers
			// before the portal makes any call.
			p.renderError(w, r, v, http.StatusForbidden, "This view is read-only: you can see everything here and change nothing.")
			return
		}
		h(w, r, v)
	})
}

// endSession deletes s from the store and clears the browser's cookie.
func (p *portal) endSession(w http.ResponseWriter, r *http.Request, s *herald.Session) {
	if err := p.store.DeleteSession(r.Context(), s.IDHash); err != nil {
		// The cookie is cleared all the same; the row ends at its expiry, and a later
		// sign-out or key rotation removes it.
		p.log.ErrorContext(r.Context(), "end a portal session", "error", err)
	}
	p.clearSessionCookie(w, r)
}

// toSignIn sends a browser without a valid session where it can get one: a browser
// that came from a portal link back to the provider's app, through the page a used
// link shows, since it has no key to sign in with; any other to the sign-in page, which
// brings it back here after.
func (p *portal) toSignIn(w http.ResponseWriter, r *http.Request) {
	target := "/login"
	if _, ok := linkOrigin(r); ok {
		target = linkEndedPath
	} else if r.Method == http.MethodGet && r.URL.Path != "/" {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	if r.Header.Get("HX-Request") == "true" {
		// htmx would swap the sign-in page into a fragment: have it navigate instead.
		w.Header().Set("HX-Redirect", target)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// localPath returns next if it is a path on this server, else "/": the sign-in page must
// not send anyone to another site.
//
// Browsers are lenient with what they are sent: they drop tabs and newlines from a URL
// ("/\t/evil.example" becomes "//evil.example", another host) and read a backslash as a
// slash. So any control byte or backslash refuses next outright, before it is parsed;
// what is left must parse to a path alone, with no scheme or host, starting with one
// slash. The redirect goes to the parsed form, not the text given.
func localPath(next string) string {
	if !safeBytes(next) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") || !safeBytes(u.Path) {
		return "/"
	}
	return u.RequestURI()
}

// safeBytes reports whether s has no control byte and no backslash.
func safeBytes(s string) bool {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

type loginData struct {
	Next  string
	Error string
	// SignedInAs names who the browser's session is, when it has a valid one.
	SignedInAs string
}

// loginPage always shows the sign-in form, even with a session: a page that silently
// redirects signed-in browsers would give whoever links to it a way to move them
// around, and leaves no way to switch keys. A valid session is named above the form.
func (p *portal) loginPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	d := loginData{Next: localPath(r.URL.Query().Get("next"))}
	var v *viewer
	if s, ok, _ := p.session(r); ok {
		var err error
		v, err = p.identify(r, &viewer{session: s})
		if errors.Is(err, errInvalidKey) {
			p.endSession(w, r, s)
		}
		// Any other failure (a rate limit, the store away) only leaves the session
		// unnamed: the form is what this page is for.
		if v != nil {
			d.SignedInAs = v.Name()
		}
	}
	p.render(w, r, http.StatusOK, "login", v, "Sign in", d)
}

// maxFormBody bounds what a portal form may send.
const maxFormBody = 1 << 20

func (p *portal) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		p.renderError(w, r, nil, http.StatusBadRequest, "The form could not be read.")
		return
	}
	next := localPath(r.PostForm.Get("next"))
	key := strings.TrimSpace(r.PostForm.Get("api_key"))
	if key == "" {
		p.render(w, r, http.StatusUnprocessableEntity, "login", nil, "Sign in", loginData{Next: next, Error: "Enter an API key."})
		return
	}
	// A session already in this browser ends: whoever signs in now replaces it.
	if s, ok, _ := p.session(r); ok {
		p.endSession(w, r, s)
	}
	v, err := p.identify(r, &viewer{key: key})
	if err != nil {
		// A failed sign-in must not leave the browser acting as whoever signed in
		// before: someone switching keys would go on seeing the previous key's tenants.
		p.clearSessionCookie(w, r)
		if errors.Is(err, errInvalidKey) {
			p.render(w, r, http.StatusUnauthorized, "login", nil, "Sign in", loginData{Next: next, Error: "That API key is not valid."})
			return
		}
		p.renderAPIError(w, r, nil, err)
		return
	}
	if err := p.startSession(w, r, v, key); err != nil {
		p.log.ErrorContext(r.Context(), "store a portal session", "error", err)
		p.renderError(w, r, nil, http.StatusInternalServerError, "Signing in failed; try again.")
		return
	}
	// Signed in with a key, the browser has a sign-in form to come back to.
	if _, ok := linkOrigin(r); ok {
		p.clearLinkOrigin(w, r)
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session in the store at once, so the cookie, even a copy of it, opens
// nothing any more.
func (p *portal) logout(w http.ResponseWriter, r *http.Request) {
	s, ok, err := p.session(r)
	if err != nil {
		p.renderAPIError(w, r, nil, err)
		return
	}
	if ok {
		if err := p.store.DeleteSession(r.Context(), s.IDHash); err != nil {
			p.renderAPIError(w, r, nil, err)
			return
		}
	}
	p.clearSessionCookie(w, r)
	target := "/login"
	if _, ok := linkOrigin(r); ok {
		target = linkEndedPath
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}
