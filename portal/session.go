package portal

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald"
)

// SessionCookie is the name of the cookie that holds a portal session.
const SessionCookie = "herald_session"

// sessionPurpose starts every sealed session, so that nothing else the cipher seals
// (a webhook secret) can ever be taken for a session, nor a session for anything else.
const sessionPurpose = "herald-portal-session-v1\n"

// session is what the cookie holds, sealed: the API key signed in with and when the
// sign-in ends.
type session struct {
	Key     string `json:"k"`
	Expires int64  `json:"e"` // Unix seconds
}

// sealSession returns the cookie value for key, valid until expires.
func (p *portal) sealSession(key string, expires time.Time) (string, error) {
	plain, err := json.Marshal(session{Key: key, Expires: expires.Unix()})
	if err != nil {
		return "", err
	}
	sealed, err := p.cipher.Seal(append([]byte(sessionPurpose), plain...))
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// openSession returns the key of a cookie value the server sealed and that has not
// expired. A cookie sealed under another key, altered, or past its expiry is no session.
func (p *portal) openSession(value string) (string, bool) {
	sealed, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		return "", false
	}
	plain, err := p.cipher.Open(sealed)
	if err != nil {
		return "", false
	}
	body, ok := bytes.CutPrefix(plain, []byte(sessionPurpose))
	if !ok {
		return "", false
	}
	var s session
	if err := json.Unmarshal(body, &s); err != nil || s.Key == "" {
		return "", false
	}
	if !p.now().Before(time.Unix(s.Expires, 0)) {
		return "", false
	}
	return s.Key, true
}

// setSessionCookie sets (or, with value "", clears) the session cookie. It is HttpOnly
// so no script reads it, SameSite=Strict so no other site's page sends it, and Secure
// when the portal is reached over TLS.
func (p *portal) setSessionCookie(w http.ResponseWriter, r *http.Request, value string, expires time.Time) {
	c := &http.Cookie{
		Name:     SessionCookie,
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
		Secure:   overTLS(r),
	}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
		c.MaxAge = int(expires.Sub(p.now()).Seconds())
	}
	http.SetCookie(w, c)
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
	key string // never rendered

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

// errInvalidKey means the API refused the key: unknown, or its tenant deleted.
var errInvalidKey = errors.New("invalid API key")

// identify finds who key is. The admin is the key whose hash is the configured admin
// key's, compared in constant time; any other key the API accepts is a tenant's.
//
// The API is asked in every case, with one call to the admin-only tenant list: it
// charges the key's rate limit once for the page, answers the admin's tenant filter,
// and refuses an unknown key through the API's limit on failed authentications, so the
// sign-in form is no faster a way to guess keys than the API. Its answer must agree
// with the hash: a key the API serves the tenant list to but that is not the admin's
// is an error, never an admin.
func (p *portal) identify(r *http.Request, key string) (*viewer, error) {
	v := &viewer{key: key}
	admin := len(p.adminKeyHash) > 0 && subtle.ConstantTimeCompare(herald.HashKey(key), p.adminKeyHash) == 1
	_, err := p.call(r, v, http.MethodGet, "/api/v1/tenants", nil, nil, &v.Tenants)
	var ae *apiError
	switch {
	case err == nil && admin:
		v.Admin = true
		return v, nil
	case err == nil:
		return nil, errors.New("the API served the tenant list to a key that is not the portal's admin key: check that the portal is given the API's admin key hash")
	case errors.As(err, &ae) && ae.Status == http.StatusUnauthorized:
		return nil, errInvalidKey
	case errors.As(err, &ae) && ae.Status == http.StatusForbidden && !admin:
		t, err := p.store.TenantByKeyHash(r.Context(), herald.HashKey(key))
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
		c, err := r.Cookie(SessionCookie)
		if err != nil {
			p.toLogin(w, r)
			return
		}
		key, ok := p.openSession(c.Value)
		if !ok {
			p.setSessionCookie(w, r, "", time.Time{})
			p.toLogin(w, r)
			return
		}
		v, err := p.identify(r, key)
		if errors.Is(err, errInvalidKey) {
			p.setSessionCookie(w, r, "", time.Time{})
			p.toLogin(w, r)
			return
		}
		if err != nil {
			p.renderAPIError(w, r, nil, err)
			return
		}
		h(w, r, v)
	})
}

// toLogin sends the browser to the sign-in page, which brings it back here after.
func (p *portal) toLogin(w http.ResponseWriter, r *http.Request) {
	target := "/login"
	if r.Method == http.MethodGet && r.URL.Path != "/" {
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
	if c, err := r.Cookie(SessionCookie); err == nil {
		if key, ok := p.openSession(c.Value); ok {
			var err error
			v, err = p.identify(r, key)
			if errors.Is(err, errInvalidKey) {
				p.setSessionCookie(w, r, "", time.Time{})
			}
			// Any other failure (a rate limit, the store away) only leaves the
			// session unnamed: the form is what this page is for.
			if v != nil {
				d.SignedInAs = v.Name()
			}
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
	if _, err := p.identify(r, key); err != nil {
		// A failed sign-in must not leave the browser acting as whoever signed in
		// before: someone switching keys would go on seeing the previous key's tenants.
		p.setSessionCookie(w, r, "", time.Time{})
		if errors.Is(err, errInvalidKey) {
			p.render(w, r, http.StatusUnauthorized, "login", nil, "Sign in", loginData{Next: next, Error: "That API key is not valid."})
			return
		}
		p.renderAPIError(w, r, nil, err)
		return
	}
	expires := p.now().Add(p.sessionTTL)
	value, err := p.sealSession(key, expires)
	if err != nil {
		p.log.ErrorContext(r.Context(), "seal a portal session", "error", err)
		p.renderError(w, r, nil, http.StatusInternalServerError, "Signing in failed; try again.")
		return
	}
	p.setSessionCookie(w, r, value, expires)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (p *portal) logout(w http.ResponseWriter, r *http.Request) {
	p.setSessionCookie(w, r, "", time.Time{})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
