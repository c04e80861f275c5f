package portal_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// mintLink mints a portal link for tenant as key with body, and returns its path.
func (e *env) mintLink(key, tenant string, body map[string]any) string {
	e.t.Helper()
	var out struct {
		URL string `json:"url"`
	}
	var req any // no body at all when body is nil
	if body != nil {
		req = body
	}
	e.api(key, http.MethodPost, "/api/v1/tenants/"+tenant+"/portal-links", req, &out, http.StatusCreated)
	u, err := url.Parse(out.URL)
	if err != nil || u.Host != strings.TrimPrefix(e.srv.URL, "http://") || !strings.HasPrefix(u.Path, herald.PortalLinkPath) {
		e.t.Fatalf("minted link %q is not on the portal's own host (%s)", out.URL, e.srv.URL)
	}
	return u.Path
}

// setCookie returns the Set-Cookie header of p that sets the session cookie.
func setCookie(t *testing.T, p page) string {
	t.Helper()
	for _, c := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "herald_session=") {
			return c
		}
	}
	t.Fatalf("no session cookie set; headers %v", p.header)
	return ""
}

func TestPortalLinkSignsInOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant, key := e.addTenant("Team Link")
	other, otherKey := e.addTenant("Team Other")
	mine := e.addWebhook(key, "", "Link hook")
	theirs := e.addWebhook(otherKey, "", "Other hook")
	e.api(e.adminKey, http.MethodPatch, "/api/v1/tenants/"+tenant, map[string]any{"branding": map[string]string{"name": "Acme Cloud"}}, nil, http.StatusOK)

	link := e.mintLink(e.adminKey, tenant, map[string]any{"return_url": "https://app.example.com/settings"})
	b := e.browser()
	p := b.get(link)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/" {
		t.Fatalf("following the link: %d to %q, want 303 to /\n%s", p.status, p.header.Get("Location"), p.body)
	}
	c := setCookie(t, p)
	for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(c, want) {
			t.Errorf("the link's session cookie %q lacks %s", c, want)
		}
	}
	wantPage(t, "the dashboard after the link", b.get("/"), http.StatusOK, "Team Link", "Acme Cloud",
		`href="https://app.example.com/settings"`, "← Back to Acme Cloud",
		"Signed in from Acme Cloud until", "This view reaches only the webhooks and deliveries of Team Link")
	if page := b.get("/"); strings.Contains(page.body, `action="/logout"`) {
		t.Error("a link's session is offered to sign out, into a sign-in form that wants a key it never had")
	}
	wantPage(t, "its own webhook", b.get("/webhooks/"+mine), http.StatusOK, "Link hook")
	wantPage(t, "another tenant's webhook", b.get("/webhooks/"+theirs), http.StatusNotFound)
	if p := b.get("/webhooks"); strings.Contains(p.body, "Other hook") || strings.Contains(p.body, other) {
		t.Errorf("a link's session lists another tenant's webhook:\n%s", p.body)
	}

	// A second use, in this browser or another, is refused with the way back.
	for _, br := range []*browser{b, e.browser()} {
		p := br.get(link)
		wantPage(t, "the link followed again", p, http.StatusGone,
			"This link has been used or has expired; open Webhooks again from Acme Cloud",
			`href="https://app.example.com/settings"`)
		if len(p.header.Values("Set-Cookie")) != 0 {
			t.Errorf("a used link set a cookie: %v", p.header.Values("Set-Cookie"))
		}
	}
	wantPage(t, "the first session after the link's reuse", b.get("/"), http.StatusOK, "Team Link")

	// An unknown token, and a link followed after its ttl.
	wantPage(t, "an unknown link", e.browser().get(herald.PortalLinkPath+herald.NewSessionID()), http.StatusNotFound,
		"This link has been used or has expired")
	late := e.mintLink(key, tenant, map[string]any{"ttl": "1m"})
	e.clock.advance(time.Minute)
	wantPage(t, "a link after its ttl", e.browser().get(late), http.StatusGone, "This link has been used or has expired")
}

func TestReadOnlyLinkSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant, key := e.addTenant("Team RO")
	hook := e.addWebhook(key, "", "Read only hook")
	b := e.browser()
	if p := b.get(e.mintLink(key, tenant, map[string]any{"read_only": true})); p.status != http.StatusSeeOther {
		t.Fatalf("following a read-only link: %d", p.status)
	}
	wantPage(t, "a read-only webhook page", b.get("/webhooks/"+hook), http.StatusOK, "Read only hook",
		`class="read-only"`, "Read-only: you can see everything here and change nothing.")
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/webhooks", url.Values{"name": {"new"}, "url": {e.receiver.URL}}},
		{"/webhooks/" + hook, url.Values{"name": {"renamed"}, "url": {e.receiver.URL}}},
		{"/webhooks/" + hook + "/test", url.Values{}},
		{"/webhooks/" + hook + "/rotate-secret", url.Values{"grace_hours": {"0"}}},
		{"/webhooks/" + hook + "/disable", url.Values{}},
		{"/webhooks/" + hook + "/delete", url.Values{}},
		{"/webhooks/" + hook + "/recover", url.Values{"since": {"2000-01-01T00:00"}}},
	} {
		wantPage(t, "POST "+c.path+" read-only", b.do(http.MethodPost, c.path, c.form), http.StatusForbidden, "read-only")
	}
	var got struct {
		Name    string `json:"name"`
		Enabled bool   `json:"enabled"`
	}
	e.api(key, http.MethodGet, "/api/v1/webhooks/"+hook, nil, &got, http.StatusOK)
	if got.Name != "Read only hook" || !got.Enabled {
		t.Errorf("a read-only session changed the webhook: %+v", got)
	}
	var list []struct{}
	e.api(key, http.MethodGet, "/api/v1/webhooks", nil, &list, http.StatusOK)
	if len(list) != 1 {
		t.Errorf("a read-only session created a webhook: %d webhooks", len(list))
	}
}

func TestEmbeddedPortal(t *testing.T) {
	t.Parallel()
	ancestors := []string{"https://app.example.com", "https://admin.example.com:8443"}
	e := newEnv(t, func(c *envConfig) { c.portal.FrameAncestors = ancestors })
	tenant, key := e.addTenant("Team Embed")
	hook := e.addWebhook(key, "", "Embedded hook")
	b := e.browser()
	p := b.get(e.mintLink(key, tenant, nil))
	c := setCookie(t, p)
	for _, want := range []string{"HttpOnly", "SameSite=None", "Secure", "Partitioned", "Path=/"} {
		if !strings.Contains(c, want) {
			t.Errorf("an embedded portal's session cookie %q lacks %s", c, want)
		}
	}
	p = b.get("/login")
	csp := p.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors https://app.example.com https://admin.example.com:8443;") {
		t.Errorf("CSP %q does not let exactly the configured origins frame the portal", csp)
	}
	if xfo := p.header.Get("X-Frame-Options"); xfo != "" {
		t.Errorf("X-Frame-Options %q would forbid the framing the CSP allows", xfo)
	}

	// The frame's own forms work; another site's POST is refused, cookie or not. Go's
	// cookie jar keeps Secure cookies from https only, so the cookie is sent by hand.
	cookie := strings.SplitN(c, ";", 2)[0]
	for _, site := range []struct {
		name   string
		hdr    []string
		status int
	}{
		{"the frame itself", []string{"Sec-Fetch-Site", "same-origin"}, http.StatusOK},
		{"the embedding site", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://app.example.com"}, http.StatusForbidden},
		{"another site", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, http.StatusForbidden},
	} {
		p := b.do(http.MethodPost, "/webhooks/"+hook+"/test", url.Values{}, append([]string{"Cookie", cookie, "HX-Request", "true"}, site.hdr...)...)
		if p.status != site.status {
			t.Errorf("a test sent from %s: %d, want %d\n%s", site.name, p.status, site.status, p.body)
		}
	}

	// Without the setting nothing may frame the portal.
	plain := newEnv(t)
	p = plain.browser().get("/login")
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || p.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("a portal with no frame ancestors: CSP %q, X-Frame-Options %q", csp, p.header.Get("X-Frame-Options"))
	}
}

func TestBranding(t *testing.T) {
	t.Parallel()
	install := herald.Branding{Name: "Provider Inc", Color: "#112233"}
	e := newEnv(t, func(c *envConfig) { c.portal.Branding = install })
	tenant, key := e.addTenant("Team Brand")
	_, plainKey := e.addTenant("Team Plain")

	// The installation's branding shows before sign-in, and to a tenant with none.
	wantPage(t, "the sign-in page", e.browser().get("/login"), http.StatusOK, "Provider Inc", `href="/brand.css?accent=112233"`)
	pb := e.browser()
	pb.signIn(plainKey)
	wantPage(t, "an unbranded tenant", pb.get("/"), http.StatusOK, "Provider Inc", "/brand.css?accent=112233")

	// A tenant's own branding overrides it field by field; an https logo's origin is
	// added to the CSP's img-src, and nothing else is.
	e.api(e.adminKey, http.MethodPatch, "/api/v1/tenants/"+tenant, map[string]any{"branding": map[string]string{
		"color": "#0A7", "logo_url": "https://cdn.example.com/acme.png"}}, nil, http.StatusOK)
	b := e.browser()
	b.signIn(key)
	p := b.get("/")
	wantPage(t, "a branded tenant", p, http.StatusOK, "Provider Inc", `href="/brand.css?accent=0a7"`,
		`<img src="https://cdn.example.com/acme.png"`)
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data: https://cdn.example.com;") ||
		!strings.Contains(csp, "style-src 'self';") || !strings.Contains(csp, "script-src 'self';") {
		t.Errorf("CSP with a logo: %q", csp)
	}

	// A data: logo is shown as it is (html/template would otherwise blank it).
	const dataLogo = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
	e.api(e.adminKey, http.MethodPatch, "/api/v1/tenants/"+tenant, map[string]any{"branding": map[string]string{"logo_url": dataLogo}}, nil, http.StatusOK)
	wantPage(t, "a data: logo", b.get("/"), http.StatusOK, `<img src="`+dataLogo+`"`)

	// The accent stylesheet holds a colour and nothing else.
	css := b.get("/brand.css?accent=0a7")
	wantPage(t, "the accent stylesheet", css, http.StatusOK, ":root { --accent: #0a7; --accent-text: #1b1f24; }")
	wantPage(t, "a dark accent", b.get("/brand.css?accent=0b5cad"), http.StatusOK, ":root { --accent: #0b5cad; --accent-text: #ffffff; }")
	wantPage(t, "a light accent", b.get("/brand.css?accent=ffd400"), http.StatusOK, ":root { --accent: #ffd400; --accent-text: #1b1f24; }")
	if ct := css.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("brand.css Content-Type %q", ct)
	}
	for _, bad := range []string{"", "red", "0a7;}body{display:none", "12345", "GGGGGG"} {
		if p := b.get("/brand.css?accent=" + url.QueryEscape(bad)); p.status != http.StatusNotFound {
			t.Errorf("brand.css?accent=%q: %d, want 404", bad, p.status)
		}
	}
}

// lockedBuffer is a log destination that tests read while the server writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestPortalLinkTokenStaysOutOfTheLog: a link whose redemption fails (the store is
// gone) is still unused, so its token, which signs anyone in, must not reach the log
// that records the failure.
func TestPortalLinkTokenStaysOutOfTheLog(t *testing.T) {
	t.Parallel()
	var logged lockedBuffer
	e := newEnv(t, func(c *envConfig) { c.portal.Logger = slog.New(slog.NewTextHandler(&logged, nil)) })
	tenant, key := e.addTenant("Team Logged")
	link := e.mintLink(key, tenant, nil)
	token := strings.TrimPrefix(link, herald.PortalLinkPath)
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	p := e.browser().get(link)
	if p.status < 500 {
		t.Fatalf("following a link with the store closed: %d, want a server error\n%s", p.status, p.body)
	}
	out := logged.String()
	if !strings.Contains(out, herald.PortalLinkPath) {
		t.Fatalf("the failure was not logged with its route; the log:\n%s", out)
	}
	if strings.Contains(out, token) {
		t.Errorf("the log holds the unused link's token %q:\n%s", token, out)
	}
}

// TestLinkSessionEndsOnTheLinkPage checks that a browser whose link session expired or
// was ended is sent to the page a used link shows, with the way back to the provider,
// never to a sign-in form that wants a key it never had.
func TestLinkSessionEndsOnTheLinkPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant, key := e.addTenant("Team Ends")
	hook := e.addWebhook(key, "", "Ending hook")
	e.api(e.adminKey, http.MethodPatch, "/api/v1/tenants/"+tenant, map[string]any{"branding": map[string]string{"name": "Acme Cloud"}}, nil, http.StatusOK)
	follow := func(b *browser) {
		t.Helper()
		p := b.get(e.mintLink(key, tenant, map[string]any{"return_url": "https://app.example.com/settings"}))
		if p.status != http.StatusSeeOther {
			t.Fatalf("following the link: %d\n%s", p.status, p.body)
		}
	}
	ended := func(what string, b *browser) {
		t.Helper()
		wantPage(t, what, b.get("/link-ended"), http.StatusGone,
			"This link has been used or has expired; open Webhooks again from Acme Cloud",
			`href="https://app.example.com/settings"`, "← Back to Acme Cloud", "Your session from that link has ended")
	}

	// The links are minted before the clock moves: the API keeps the real time.
	b, out, keyed := e.browser(), e.browser(), e.browser()
	for _, br := range []*browser{b, out, keyed} {
		follow(br)
	}
	wantPage(t, "the webhook while the session lasts", b.get("/webhooks/"+hook), http.StatusOK, "Ending hook")
	if p := b.get("/link-ended"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/" {
		t.Errorf("the ended page while the session lasts: %d to %q, want 303 to /", p.status, p.header.Get("Location"))
	}

	// Ended, not expired: the session's own sign-out.
	if p := out.do(http.MethodPost, "/logout", url.Values{}); p.status != http.StatusSeeOther || p.header.Get("Location") != "/link-ended" {
		t.Errorf("a link session's sign-out: %d to %q, want 303 to /link-ended", p.status, p.header.Get("Location"))
	}
	ended("the ended page after sign-out", out)

	// A browser that then signs in with a key is sent back to sign in, as any key's is.
	keyed.signIn(key)

	e.clock.advance(12*time.Hour + time.Second)
	if p := b.get("/webhooks/" + hook); p.status != http.StatusSeeOther || p.header.Get("Location") != "/link-ended" {
		t.Fatalf("a page after the link's session expired: %d to %q, want 303 to /link-ended", p.status, p.header.Get("Location"))
	}
	p := b.do(http.MethodPost, "/webhooks/"+hook+"/test", url.Values{}, "HX-Request", "true")
	if p.header.Get("HX-Redirect") != "/link-ended" {
		t.Errorf("an htmx request after expiry: %d, HX-Redirect %q, want /link-ended", p.status, p.header.Get("HX-Redirect"))
	}
	ended("the ended page after expiry", b)

	if p := keyed.get("/webhooks"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/login?next=%2Fwebhooks" {
		t.Errorf("a key's session after expiry, in a browser that once came from a link: %d to %q, want the sign-in form",
			p.status, p.header.Get("Location"))
	}
	if p := e.browser().get("/link-ended"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/login" {
		t.Errorf("the ended page in a browser that never came from a link: %d to %q, want 303 to /login", p.status, p.header.Get("Location"))
	}

	// The cookie is the browser's to change: a return_url a link could not have gets no link.
	forged := url.Values{"provider": {"<b>Evil</b>"}, "return_url": {"javascript:alert(1)"}}.Encode()
	p = e.browser().do(http.MethodGet, "/link-ended", nil, "Cookie", "herald_link="+forged)
	wantPage(t, "a forged link cookie", p, http.StatusGone, "open Webhooks again from &lt;b&gt;Evil&lt;/b&gt;")
	if strings.Contains(p.body, "javascript:") || strings.Contains(p.body, `id="return"`) {
		t.Errorf("a forged return_url reached the page:\n%s", p.body)
	}
}
