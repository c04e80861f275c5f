package portal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/catalog"
	"github.com/heraldhq/herald/dispatch"
	"github.com/heraldhq/herald/egress"
	"github.com/heraldhq/herald/httpapi"
	"github.com/heraldhq/herald/portal"
	"github.com/heraldhq/herald/secretbox"
	"github.com/heraldhq/herald/sqlite"
	"github.com/heraldhq/herald/wire"
)

// clock is a herald.Clock a test moves; it starts at the real time.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().UTC().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// env is the portal and the real API over a fresh SQLite file, with a real dispatcher,
// served on a test server as `herald serve` mounts them.
type env struct {
	t        *testing.T
	store    herald.Store
	srv      *httptest.Server
	handler  http.Handler // the portal alone
	clock    *clock
	adminKey string
	receiver *httptest.Server
	status   atomic.Int32 // what the receiver answers
}

// envConfig is what an option may change: the API's and the portal's configuration,
// and what stands between the portal and the API.
type envConfig struct {
	api     httpapi.Config
	portal  portal.Config
	wrapAPI func(http.Handler) http.Handler // for the portal's calls only
}

// option changes a test's env.
type option func(*envConfig)

func newEnv(t *testing.T, opts ...option) *env {
	t.Helper()
	ctx := context.Background()
	box, err := secretbox.New(bytes.Repeat([]byte{9}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "herald.db"), box)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() }) // closing twice is harmless
	if err := st.CreateTenant(ctx, &herald.Tenant{ID: herald.DefaultTenantID, Name: "Default", CreatedAt: time.Now().UTC()},
		herald.HashKey(herald.NewAPIKey(herald.PrefixTenantKey))); err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: st, clock: &clock{}, adminKey: herald.NewAPIKey(herald.PrefixAdminKey)}
	e.status.Store(http.StatusOK)
	e.receiver = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(e.status.Load()))
		_, _ = w.Write([]byte(`{"received":true}`))
	}))
	t.Cleanup(e.receiver.Close)

	guard := &egress.Guard{AllowPrivate: true}
	policies := map[herald.Format]wire.Policy{}
	for _, f := range herald.Formats {
		p := wire.DefaultPolicy(f)
		p.Schedule = []time.Duration{time.Hour}
		policies[f] = p
	}
	disp := dispatch.New(dispatch.Config{Store: st, Policies: policies, Client: &http.Client{Transport: guard.Transport()}})
	cfg := envConfig{
		api: httpapi.Config{
			Store: st, Catalog: cat, Dispatcher: disp, URLs: guard,
			AdminKeyHash: herald.HashKey(e.adminKey), Version: "test",
		},
		portal: portal.Config{Store: st, AdminKeyHash: herald.HashKey(e.adminKey), Wake: disp.Wake, Clock: e.clock,
			Logger: slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))},
		wrapAPI: func(h http.Handler) http.Handler { return h },
	}
	for _, o := range opts {
		o(&cfg)
	}
	api := httpapi.New(cfg.api)
	cfg.portal.API = cfg.wrapAPI(api)
	e.handler, err = portal.New(cfg.portal)
	if err != nil {
		t.Fatalf("portal.New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	mux.Handle("/", e.handler)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// tWriter logs into the test's output, so a failing test shows what the portal logged.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// api calls the API as key and decodes the answer into out; it fails t unless the
// status is want.
func (e *env) api(key, method, path string, body, out any, want int) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, data, want)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
}

type idOnly struct {
	ID     string `json:"id"`
	APIKey string `json:"api_key"`
}

// addTenant creates a tenant and returns its id and key.
func (e *env) addTenant(name string) (id, key string) {
	e.t.Helper()
	var out idOnly
	e.api(e.adminKey, http.MethodPost, "/api/v1/tenants", map[string]string{"name": name}, &out, http.StatusCreated)
	return out.ID, out.APIKey
}

// addWebhook creates a webhook pointing at the receiver as key (of tenant, for the admin).
func (e *env) addWebhook(key, tenant, name string) string {
	e.t.Helper()
	body := map[string]any{"name": name, "url": e.receiver.URL + "/hook"}
	if tenant != "" {
		body["tenant_id"] = tenant
	}
	var out idOnly
	e.api(key, http.MethodPost, "/api/v1/webhooks", body, &out, http.StatusCreated)
	return out.ID
}

// browser is a client with a cookie jar that does not follow redirects, so tests see
// each answer.
type browser struct {
	e      *env
	client *http.Client
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &browser{e: e, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// page is one answer the browser got.
type page struct {
	status int
	header http.Header
	body   string
}

// do sends a request as a same-origin page of the portal would.
func (b *browser) do(method, path string, form url.Values, hdr ...string) page {
	b.e.t.Helper()
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.srv.URL+path, rd)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method != http.MethodGet {
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("Origin", b.e.srv.URL)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return page{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

func (b *browser) get(path string) page {
	b.e.t.Helper()
	return b.do(http.MethodGet, path, nil)
}

// signIn signs in with key and fails t unless it works.
func (b *browser) signIn(key string) {
	b.e.t.Helper()
	p := b.do(http.MethodPost, "/login", url.Values{"api_key": {key}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/" {
		b.e.t.Fatalf("sign in: %d to %q, want 303 to /\n%s", p.status, p.header.Get("Location"), p.body)
	}
}

// wantPage fails t unless p has status want and contains every one of texts.
func wantPage(t *testing.T, what string, p page, want int, texts ...string) {
	t.Helper()
	if p.status != want {
		t.Fatalf("%s: status %d, want %d\n%s", what, p.status, want, p.body)
	}
	for _, s := range texts {
		if !strings.Contains(p.body, s) {
			t.Errorf("%s: page lacks %q\n%s", what, s, p.body)
		}
	}
}

func TestEveryPageRendersWithStrictHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	b.signIn(e.adminKey)
	hook := e.addWebhook(e.adminKey, "", "Alerts <script>")
	var del struct {
		ID string `json:"delivery_id"`
	}
	e.api(e.adminKey, http.MethodPost, "/api/v1/webhooks/"+hook+"/test", nil, &del, http.StatusOK)

	for _, c := range []struct {
		path  string
		want  int
		texts []string
	}{
		{"/", 200, []string{"Attempts per minute", "<svg", "Queue depth"}},
		{"/webhooks", 200, []string{"Alerts &lt;script&gt;", "100%"}},
		{"/webhooks?tenant_id=default", 200, []string{"Alerts &lt;script&gt;"}},
		{"/webhooks/new", 200, []string{`name="url"`, "drift.detected"}},
		{"/webhooks/" + hook, 200, []string{"Delivery log", del.ID, "Send test"}},
		{"/webhooks/" + hook + "?status=failed", 200, []string{"No deliveries match."}},
		{"/webhooks/" + hook + "?since=not-a-time", 200, []string{"not a date and time"}},
		{"/webhooks/" + hook + "/edit", 200, []string{"Save changes"}},
		{"/webhooks/" + hook + "/delete", 200, []string{"cannot be undone"}},
		{"/webhooks/" + hook + "/reveal-secret", 200, []string{"Show the signing secret?"}},
		{"/webhooks/" + hook + "?event_id=evt_none", 200, []string{"No deliveries match.", "How to verify"}},
		{"/deliveries", 200, []string{del.ID, "Alerts &lt;script&gt;"}},
		{"/deliveries?status=success&event_type=ping", 200, []string{del.ID}},
		{"/deliveries/" + del.ID, 200, []string{"Attempt 1", "Webhook endpoint verified", "Request headers", "received"}},
		{"/catalog", 200, []string{"drift.detected", "budget.exceeded"}},
		{"/catalog/drift.detected", 200, []string{"Send sample", "JSON Schema", "data-lake"}},
		{"/catalog/no.such.type", 404, nil},
		{"/deliveries/del_nothing", 404, []string{"another tenant"}},
		{"/nowhere", 404, nil},
		{"/login", 200, []string{"Signed in as Admin", `name="api_key"`}}, // the form, even signed in
	} {
		p := b.get(c.path)
		wantPage(t, c.path, p, c.want, c.texts...)
		if got := p.header.Get("Content-Security-Policy"); got != portal.ContentSecurityPolicy {
			t.Errorf("%s: Content-Security-Policy %q, want %q", c.path, got, portal.ContentSecurityPolicy)
		}
		if got := p.header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", c.path, got)
		}
		if got := p.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", c.path, got)
		}
		if got := p.header.Get("Referrer-Policy"); got != "no-referrer" {
			t.Errorf("%s: Referrer-Policy %q", c.path, got)
		}
		// The CSP forbids inline script and style: no page may need either.
		for _, bad := range []string{" style=", "<style", "<script>", " onclick=", " onload=", "javascript:"} {
			if strings.Contains(p.body, bad) {
				t.Errorf("%s: page contains %q, which the Content-Security-Policy refuses", c.path, bad)
			}
		}
	}
}

func TestStaticFilesAreVersionedAndCached(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.browser().get("/login")
	wantPage(t, "login", p, 200, "/static/htmx.min.js?v=", "/static/portal.css?v=", "/static/portal.js?v=")
	start := strings.Index(p.body, "/static/htmx.min.js?v=")
	src := p.body[start : start+strings.IndexByte(p.body[start:], '"')]
	js := e.browser().get(src)
	wantPage(t, src, js, 200, "htmx")
	if got := js.header.Get("Cache-Control"); !strings.Contains(got, "immutable") {
		t.Errorf("versioned asset Cache-Control %q, want immutable", got)
	}
	if got := js.header.Get("Content-Type"); !strings.HasPrefix(got, "text/javascript") {
		t.Errorf("htmx Content-Type %q", got)
	}
	if got := e.browser().get("/static/htmx.min.js").header.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("unversioned asset Cache-Control %q, want no-cache", got)
	}
	b := e.browser()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+src, nil)
	req.Header.Set("If-None-Match", js.header.Get("ETag"))
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("asset with its ETag: %d, want 304", resp.StatusCode)
	}
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	b := e.browser()
	p := b.get("/webhooks?page=2")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/login?next="+url.QueryEscape("/webhooks?page=2") {
		t.Fatalf("signed out: %d to %q, want 303 to the sign-in page", p.status, p.header.Get("Location"))
	}
	wantPage(t, "a bad key", b.do(http.MethodPost, "/login", url.Values{"api_key": {"hk_wrong"}}), 401, "not valid")
	wantPage(t, "no key", b.do(http.MethodPost, "/login", url.Values{"api_key": {" "}}), 422, "Enter an API key")
	if len(b.client.Jar.Cookies(mustURL(t, e.srv.URL))) != 0 {
		t.Fatal("a refused sign-in set a cookie")
	}

	// next brings the browser back, but never to another site.
	p = b.do(http.MethodPost, "/login", url.Values{"api_key": {e.adminKey}, "next": {"/deliveries?status=failed"}})
	if p.header.Get("Location") != "/deliveries?status=failed" {
		t.Errorf("sign in with next: to %q", p.header.Get("Location"))
	}
	for _, next := range []string{
		"//evil.example/", "https://evil.example/", "https:evil.example", "javascript:alert(1)",
		"/\\evil.example", "\\\\evil.example", "\\/evil.example", "/\\/evil.example",
		// Browsers drop tabs and newlines: "/\t/evil.example" is "//evil.example" to them.
		"/\t/evil.example/", "/\n/evil.example", "/\r\n/evil.example", "\t//evil.example", "/\x7f/evil.example",
		"/\x00/evil.example",
		// Encoded, they reach the path decoded.
		"/%2F/evil.example", "/%2f%2fevil.example", "/%09/evil.example", "/%5Cevil.example", "/%0a/evil.example",
		" /evil", "evil.example", "", "//", "///evil.example", "/%zz",
	} {
		p = e.browser().do(http.MethodPost, "/login", url.Values{"api_key": {e.adminKey}, "next": {next}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/" {
			t.Errorf("sign in with next %q: %d to %q, want 303 to /", next, p.status, p.header.Get("Location"))
		}
		// The sign-in page carries next only when it is local, too.
		if page := e.browser().get("/login?next=" + url.QueryEscape(next)); !strings.Contains(page.body, `name="next" value="/"`) {
			t.Errorf("the sign-in page keeps next %q:\n%s", next, page.body)
		}
	}
	for _, next := range []string{"/deliveries?status=failed", "/webhooks/wh_1?page=2&status=failed", "/catalog/drift.detected"} {
		p = e.browser().do(http.MethodPost, "/login", url.Values{"api_key": {e.adminKey}, "next": {next}})
		if p.header.Get("Location") != next {
			t.Errorf("sign in with the local next %q: to %q", next, p.header.Get("Location"))
		}
	}

	wantPage(t, "signed in", b.get("/webhooks"), 200, "Sign out")
	p = b.do(http.MethodPost, "/logout", url.Values{})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/login" {
		t.Fatalf("sign out: %d to %q", p.status, p.header.Get("Location"))
	}
	if p := b.get("/webhooks"); p.status != http.StatusSeeOther {
		t.Fatalf("after sign out: %d, want 303 to sign in", p.status)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSessionCookie(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct {
		target string
		proto  string // X-Forwarded-Proto
		secure bool
	}{
		{"http://herald.test/login", "", false},
		{"https://herald.test/login", "", true},
		// Behind a proxy that ends TLS, the proxy says so.
		{"http://herald.test/login", "https", true},
		{"http://herald.test/login", "HTTPS", true},
		{"http://herald.test/login", "https, http", true},
		{"http://herald.test/login", "http", false},
		// A header that says plain HTTP never weakens a TLS connection's cookie.
		{"https://herald.test/login", "http", true},
	} {
		req := httptest.NewRequest(http.MethodPost, c.target, strings.NewReader(url.Values{"api_key": {e.adminKey}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		if c.proto != "" {
			req.Header.Set("X-Forwarded-Proto", c.proto)
		}
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		cookies := rec.Result().Cookies()
		if rec.Code != http.StatusSeeOther || len(cookies) != 1 {
			t.Fatalf("%s: %d with %d cookies, want 303 with one", c.target, rec.Code, len(cookies))
		}
		ck := cookies[0]
		name := portal.SessionCookie
		if c.secure {
			// __Host-: only a Secure cookie with Path=/ and no Domain is accepted.
			name = portal.SecureSessionCookie
		}
		if ck.Name != name || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure != c.secure || ck.Path != "/" || ck.Domain != "" {
			t.Errorf("%s with X-Forwarded-Proto %q: cookie %+v, want %s, HttpOnly, SameSite=Strict, Path=/, no Domain, Secure=%v",
				c.target, c.proto, ck, name, c.secure)
		}
		if ck.MaxAge < int((11*time.Hour).Seconds()) || ck.MaxAge > int((12*time.Hour).Seconds()) {
			t.Errorf("%s: cookie Max-Age %d, want about 12 hours", c.target, ck.MaxAge)
		}
		if strings.Contains(ck.Value, e.adminKey) || strings.Contains(ck.Value, "hk_admin") {
			t.Errorf("%s: the cookie holds the key in the clear", c.target)
		}
	}
}

func TestSessionEnds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	// An altered cookie is no session.
	b := e.browser()
	b.signIn(e.adminKey)
	u := mustURL(t, e.srv.URL)
	ck := b.client.Jar.Cookies(u)[0]
	tampered := []byte(ck.Value)
	tampered[len(tampered)/2] ^= 1
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: ck.Name, Value: string(tampered), Path: "/"}})
	if p := b.get("/webhooks"); p.status != http.StatusSeeOther {
		t.Errorf("altered cookie: %d, want 303 to sign in", p.status)
	}

	// A session ends after 12 hours.
	b = e.browser()
	b.signIn(e.adminKey)
	wantPage(t, "fresh session", b.get("/webhooks"), 200)
	e.clock.advance(12*time.Hour + time.Second)
	if p := b.get("/webhooks"); p.status != http.StatusSeeOther {
		t.Errorf("after 12 hours: %d, want 303 to sign in", p.status)
	}

	// A tenant deleted: its key, and so its session, is no longer valid.
	id, key := e.addTenant("Gone soon")
	b = e.browser()
	b.signIn(key)
	wantPage(t, "tenant session", b.get("/webhooks"), 200, "Gone soon")
	e.api(e.adminKey, http.MethodDelete, "/api/v1/tenants/"+id, nil, nil, http.StatusNoContent)
	if p := b.get("/webhooks"); p.status != http.StatusSeeOther {
		t.Errorf("the tenant deleted: %d, want 303 to sign in", p.status)
	}
}

// TestSignOutEndsTheSession: signing out ends the session in the store, so the same
// cookie, replayed (copied from the browser before it signed out), opens nothing.
func TestSignOutEndsTheSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := mustURL(t, e.srv.URL)
	_, tenantKey := e.addTenant("Signs out")
	for _, key := range []string{e.adminKey, tenantKey} {
		b := e.browser()
		b.signIn(key)
		wantPage(t, "signed in", b.get("/webhooks"), http.StatusOK)
		copied := b.client.Jar.Cookies(u)
		if len(copied) != 1 {
			t.Fatalf("%d cookies after signing in, want 1", len(copied))
		}
		if p := b.do(http.MethodPost, "/logout", url.Values{}); p.status != http.StatusSeeOther {
			t.Fatalf("sign out: %d, want 303", p.status)
		}
		replay := e.browser()
		replay.client.Jar.SetCookies(u, copied)
		if p := replay.get("/webhooks"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/login") {
			t.Errorf("the cookie of a signed-out session: %d to %q, want 303 to /login", p.status, p.header.Get("Location"))
		}
	}
}

// TestKeyRotationEndsSessions: rotating a tenant's key ends its portal sessions at
// once, even while the old key is still in its grace period for the API; other
// tenants' sessions go on. A session begun with the old key during its grace ends when
// the grace does.
func TestKeyRotationEndsSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *envConfig) { c.api.Clock = c.portal.Clock })
	id, key := e.addTenant("Rotates")
	_, otherKey := e.addTenant("Stays")
	b, other := e.browser(), e.browser()
	b.signIn(key)
	other.signIn(otherKey)
	wantPage(t, "before the rotation", b.get("/webhooks"), http.StatusOK, "Rotates")

	var rotated struct {
		APIKey string `json:"api_key"`
	}
	e.api(key, http.MethodPost, "/api/v1/tenants/"+id+"/rotate-key", map[string]int{"grace_period_seconds": 3600}, &rotated, http.StatusOK)
	if p := b.get("/webhooks"); p.status != http.StatusSeeOther {
		t.Errorf("a session after its tenant's key was rotated: %d, want 303 to sign in", p.status)
	}
	wantPage(t, "another tenant's session", other.get("/webhooks"), http.StatusOK, "Stays")

	// The new key signs in; so does the old one while its grace lasts, as it still
	// works for the API, but that session ends with the grace.
	b = e.browser()
	b.signIn(rotated.APIKey)
	wantPage(t, "the new key's session", b.get("/webhooks"), http.StatusOK, "Rotates")
	old := e.browser()
	old.signIn(key)
	wantPage(t, "the old key's session in its grace", old.get("/webhooks"), http.StatusOK, "Rotates")
	e.clock.advance(time.Hour)
	if p := old.get("/webhooks"); p.status != http.StatusSeeOther {
		t.Errorf("a session begun with the old key, after its grace: %d, want 303 to sign in", p.status)
	}
	wantPage(t, "the new key's session after the grace", b.get("/webhooks"), http.StatusOK, "Rotates")
}

func TestCrossOriginFormsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hook := e.addWebhook(e.adminKey, "", "Keep me")
	b := e.browser()
	b.signIn(e.adminKey)

	for _, hdr := range [][]string{
		{"Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example"},
		{"Sec-Fetch-Site", "same-site", "Origin", "http://other.herald.test"},
	} {
		// do sets same-origin headers first; these replace them.
		p := b.do(http.MethodPost, "/webhooks/"+hook+"/delete", url.Values{}, hdr...)
		wantPage(t, "cross-origin delete", p, http.StatusForbidden, "another site")
		if got := p.header.Get("Content-Security-Policy"); got != portal.ContentSecurityPolicy {
			t.Errorf("the refusal lacks the CSP: %q", got)
		}
	}
	// Without Sec-Fetch-Site (an older browser), Origin must match the host.
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/webhooks/"+hook+"/disable", nil)
	req.Header.Set("Origin", "http://evil.example")
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin disable by Origin alone: %d, want 403", resp.StatusCode)
	}
	wantPage(t, "cross-origin sign in", e.browser().do(http.MethodPost, "/login", url.Values{"api_key": {e.adminKey}},
		"Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example"), http.StatusForbidden)

	var wh struct {
		Enabled bool `json:"enabled"`
	}
	e.api(e.adminKey, http.MethodGet, "/api/v1/webhooks/"+hook, nil, &wh, http.StatusOK)
	if !wh.Enabled {
		t.Fatal("a refused cross-origin form disabled the webhook")
	}

	// The same form from the portal itself works.
	if p := b.do(http.MethodPost, "/webhooks/"+hook+"/delete", url.Values{}); p.status != http.StatusSeeOther {
		t.Fatalf("same-origin delete: %d\n%s", p.status, p.body)
	}
	e.api(e.adminKey, http.MethodGet, "/api/v1/webhooks/"+hook, nil, nil, http.StatusNotFound)
}

func TestTenantSeesOnlyItsOwn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	teamA, keyA := e.addTenant("Team A")
	teamB, _ := e.addTenant("Team B")
	hookA := e.addWebhook(e.adminKey, teamA, "A's hook")
	hookB := e.addWebhook(e.adminKey, teamB, "B's hook")
	var del struct {
		ID string `json:"delivery_id"`
	}
	e.status.Store(http.StatusInternalServerError)
	e.api(e.adminKey, http.MethodPost, "/api/v1/webhooks/"+hookB+"/test", nil, &del, http.StatusOK)

	b := e.browser()
	b.signIn(keyA)
	p := b.get("/webhooks")
	wantPage(t, "A's webhooks", p, 200, "A&#39;s hook", "Team A")
	if strings.Contains(p.body, "B&#39;s hook") || strings.Contains(p.body, hookB) {
		t.Error("tenant A's webhook list shows B's webhook")
	}
	if strings.Contains(p.body, `name="tenant_id"`) {
		t.Error("a tenant session has the admin's tenant filter")
	}
	// Asking for B's things by id is a 404, exactly as for ids that do not exist.
	for _, path := range []string{"/webhooks/" + hookB, "/webhooks/" + hookB + "/edit", "/deliveries/" + del.ID,
		"/webhooks/" + hookB + "/delete"} {
		wantPage(t, "A asks for "+path, b.get(path), http.StatusNotFound)
	}
	for _, path := range []string{"/webhooks/" + hookB + "/delete", "/webhooks/" + hookB + "/disable",
		"/deliveries/" + del.ID + "/retry", "/webhooks/" + hookB + "/test"} {
		wantPage(t, "A posts "+path, b.do(http.MethodPost, path, url.Values{}), http.StatusNotFound)
	}
	// Sending a sample publishes, which tenant keys cannot: an admin page, which does
	// not exist for a tenant session whatever the webhook, its own included, and the
	// form is not shown.
	for _, hook := range []string{hookB, hookA} {
		p = b.do(http.MethodPost, "/catalog/drift.detected/send", url.Values{"webhook_id": {hook}})
		wantPage(t, "A sends a sample", p, http.StatusNotFound)
	}
	p = b.get("/catalog/drift.detected")
	wantPage(t, "A's event type page", p, http.StatusOK, "JSON Schema")
	if strings.Contains(p.body, "Send sample") || strings.Contains(p.body, "/send") {
		t.Error("a tenant session is offered the form that sends a sample")
	}
	e.api(e.adminKey, http.MethodGet, "/api/v1/webhooks/"+hookB, nil, nil, http.StatusOK)

	// A's logs and dashboard leave B out, whatever the address asks for.
	p = b.get("/deliveries?tenant_id=" + teamB)
	if strings.Contains(p.body, del.ID) {
		t.Error("A's delivery log shows B's delivery")
	}
	p = b.get("/?tenant_id=" + teamB)
	wantPage(t, "A's dashboard", p, 200, "Every endpoint")
	if strings.Contains(p.body, "B&#39;s hook") {
		t.Error("A's dashboard lists B's failing webhook")
	}

	// The admin sees both, and B's failure on the dashboard.
	admin := e.browser()
	admin.signIn(e.adminKey)
	wantPage(t, "admin's webhooks", admin.get("/webhooks"), 200, "A&#39;s hook", "B&#39;s hook")
	wantPage(t, "admin's dashboard", admin.get("/"), 200, "B&#39;s hook", "1 failed")
	p = admin.get("/webhooks?tenant_id=" + teamA)
	if strings.Contains(p.body, "B&#39;s hook") {
		t.Error("the admin's tenant filter left B's webhook in")
	}
}

func TestWebhookForms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	b.signIn(e.adminKey)

	// The API's refusal is shown on the form, with what was typed.
	p := b.do(http.MethodPost, "/webhooks", url.Values{"name": {"Bad"}, "url": {"ftp://example.com/x"}, "scope": {"all"}})
	wantPage(t, "a bad URL", p, http.StatusUnprocessableEntity, `role="alert"`, "ftp://example.com/x")
	p = b.do(http.MethodPost, "/webhooks", url.Values{"name": {"Bad"}, "url": {e.receiver.URL}, "scope": {"some"}})
	wantPage(t, "no event type", p, http.StatusUnprocessableEntity, "at least one event type")
	p = b.do(http.MethodPost, "/webhooks", url.Values{"name": {"Bad"}, "url": {e.receiver.URL}, "headers": {"no colon"}})
	wantPage(t, "a bad header line", p, http.StatusUnprocessableEntity, "Name: value")

	// Created: the secret is shown once, with its copy button.
	p = b.do(http.MethodPost, "/webhooks", url.Values{"name": {"Orders"}, "url": {e.receiver.URL + "/orders"},
		"scope": {"some"}, "events": {"drift.detected", "alert.created"}, "format": {"infraaudit"},
		"tenant_id": {herald.DefaultTenantID}, "headers": {"X-Team: ops"}})
	wantPage(t, "created", p, http.StatusCreated, "whsec_", `data-copy="secret-value"`, "show it again")
	var hooks []struct {
		ID      string            `json:"id"`
		Events  []string          `json:"events"`
		Format  string            `json:"format"`
		Headers map[string]string `json:"headers"`
	}
	e.api(e.adminKey, http.MethodGet, "/api/v1/webhooks", nil, &hooks, http.StatusOK)
	if len(hooks) != 1 || hooks[0].Format != "infraaudit" || len(hooks[0].Events) != 2 || hooks[0].Headers["X-Team"] != "ops" {
		t.Fatalf("created webhook %+v", hooks)
	}
	id := hooks[0].ID
	var revealed struct {
		Secret string `json:"secret"`
	}
	e.api(e.adminKey, http.MethodPost, "/api/v1/webhooks/"+id+"/reveal-secret", nil, &revealed, http.StatusOK)
	if body := b.get("/webhooks/" + id).body; revealed.Secret == "" || strings.Contains(body, revealed.Secret) ||
		strings.Contains(body, strings.ReplaceAll(revealed.Secret, "+", "&#43;")) {
		t.Error("the webhook's page shows its secret")
	}

	// Edited, disabled, enabled.
	p = b.do(http.MethodPost, "/webhooks/"+id, url.Values{"name": {"Orders v2"}, "url": {e.receiver.URL + "/v2"}, "scope": {"all"}, "format": {"standard"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("edit: %d\n%s", p.status, p.body)
	}
	wantPage(t, "after the edit", b.get(p.header.Get("Location")), 200, "Changes saved.", "Orders v2", "All event types")
	b.do(http.MethodPost, "/webhooks/"+id+"/disable", url.Values{})
	wantPage(t, "disabled", b.get("/webhooks/"+id+"?msg=disabled"), 200, "Webhook disabled", ">Enable<")
	b.do(http.MethodPost, "/webhooks/"+id+"/enable", url.Values{})
	wantPage(t, "enabled", b.get("/webhooks/"+id), 200, ">Disable<")

	// Tested: inline for htmx, the whole page without a script.
	frag := b.do(http.MethodPost, "/webhooks/"+id+"/test", url.Values{}, "HX-Request", "true")
	wantPage(t, "htmx test", frag, 200, "Test ping delivered", "HTTP 200")
	if strings.Contains(frag.body, "<html") {
		t.Error("the htmx test answer is a whole page, want the fragment")
	}
	e.status.Store(http.StatusServiceUnavailable)
	wantPage(t, "plain test", b.do(http.MethodPost, "/webhooks/"+id+"/test", url.Values{}), 200, "<html", "Test ping failed", "HTTP 503")

	// Rotated: the new secret once.
	p = b.do(http.MethodPost, "/webhooks/"+id+"/rotate-secret", url.Values{"grace_hours": {"1"}})
	wantPage(t, "rotated", p, 200, "Secret rotated", "whsec_", "for 1 hours")

	// Recovered: the failed test is pending again.
	p = b.do(http.MethodPost, "/webhooks/"+id+"/recover", url.Values{"since": {time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04")}})
	if p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Location"), "msg=requeued&n=1") {
		t.Fatalf("recover: %d to %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	wantPage(t, "recover without a time", b.do(http.MethodPost, "/webhooks/"+id+"/recover", url.Values{"since": {"soon"}}),
		http.StatusUnprocessableEntity, "Give the time")

	// A sample sent from the catalog becomes a delivery to that webhook alone.
	p = b.do(http.MethodPost, "/catalog/drift.detected/send", url.Values{"webhook_id": {id}})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/deliveries/del_") {
		t.Fatalf("send sample: %d to %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	wantPage(t, "the sample's delivery", b.get(p.header.Get("Location")), 200, "drift.detected", "data-lake-bucket")
}

func TestRetryShowsTheNewAttempt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hook := e.addWebhook(e.adminKey, "", "Flaky")
	e.status.Store(http.StatusBadGateway)
	var del struct {
		ID string `json:"delivery_id"`
	}
	e.api(e.adminKey, http.MethodPost, "/api/v1/webhooks/"+hook+"/test", nil, &del, http.StatusOK)
	b := e.browser()
	b.signIn(e.adminKey)
	p := b.get("/deliveries/" + del.ID)
	wantPage(t, "failed delivery", p, 200, "Attempt 1", "HTTP 502")
	if strings.Contains(p.body, "Attempt 2") {
		t.Fatal("a second attempt before the retry")
	}
	before, err := e.store.Delivery(context.Background(), del.ID)
	if err != nil || before.NextAttemptAt == nil {
		t.Fatalf("the failed ping is not scheduled for a retry: %+v, %v", before, err)
	}
	retry := func() page {
		t.Helper()
		p := b.do(http.MethodPost, "/deliveries/"+del.ID+"/retry", url.Values{})
		if p.status != http.StatusSeeOther {
			t.Fatalf("retry: %d\n%s", p.status, p.body)
		}
		return b.get(p.header.Get("Location"))
	}

	// A retry that fails says so in red, and leaves the scheduled retry where it was
	// (this webhook's schedule has one retry, which the manual one would use up).
	e.status.Store(http.StatusInternalServerError)
	p = retry()
	wantPage(t, "after a failed retry", p, 200,
		`<p class="error" role="status" id="retry-result">Attempt 2`, "failed: endpoint answered 500 Internal Server Error.", "The next attempt is due in ")
	after, err := e.store.Delivery(context.Background(), del.ID)
	if err != nil || after.Status != herald.StatusPending || after.NextAttemptAt == nil || !after.NextAttemptAt.Equal(*before.NextAttemptAt) {
		t.Errorf("after a failed manual retry the delivery is %+v (%v), want pending, still due at %v", after, err, before.NextAttemptAt)
	}

	e.status.Store(http.StatusOK)
	p = retry()
	wantPage(t, "after a successful retry", p, 200, `<p class="flash" role="status" id="retry-result">Attempt 3`, "succeeded: HTTP 200")
	if newest, oldest := strings.Index(p.body, `id="attempt-3"`), strings.Index(p.body, `id="attempt-1"`); newest < 0 || newest > oldest {
		t.Error("the attempts are not listed newest first")
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	if _, err := portal.New(portal.Config{}); err == nil {
		t.Fatal("portal.New without dependencies: no error")
	}
}

// TestFailingWebhookIsObvious: a webhook whose endpoint answers 500 sorts first in the
// list with a red "failing" pill, its last error and a success rate of 0, the dashboard
// opens with it, and its retrying delivery reads "retrying" in the log.
func TestFailingWebhookIsObvious(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.status.Store(http.StatusInternalServerError)
	broken := e.addWebhook(e.adminKey, "", "Broken endpoint")
	var del struct {
		ID string `json:"delivery_id"`
	}
	e.api(e.adminKey, http.MethodPost, "/api/v1/webhooks/"+broken+"/test", nil, &del, http.StatusOK)
	e.status.Store(http.StatusOK)
	healthy := e.addWebhook(e.adminKey, "", "Healthy endpoint") // newer
	e.api(e.adminKey, http.MethodPost, "/api/v1/webhooks/"+healthy+"/test", nil, nil, http.StatusOK)

	b := e.browser()
	b.signIn(e.adminKey)
	p := b.get("/webhooks")
	wantPage(t, "webhooks", p, http.StatusOK, `<tr class="failing">`, `<span class="badge failed">failing</span>`,
		"endpoint answered 500 Internal Server Error", `0% <span class="muted">of 1, 1 retrying`, `<span class="badge success">healthy</span>`)
	if i, j := strings.Index(p.body, "Broken endpoint"), strings.Index(p.body, "Healthy endpoint"); i < 0 || i > j {
		t.Error("the failing webhook is not listed before the newer healthy one")
	}
	if strings.Contains(p.body, ">enabled<") {
		t.Error("the webhook list still shows an enabled pill")
	}

	p = b.get("/")
	wantPage(t, "dashboard", p, http.StatusOK, `id="failing-endpoints"`, "Broken endpoint", "endpoint answered 500 Internal Server Error")
	if i, j := strings.Index(p.body, `id="failing-endpoints"`), strings.Index(p.body, "Attempts per minute"); i > j {
		t.Error("the dashboard does not open with the failing endpoints")
	}

	p = b.get("/deliveries?status=retrying")
	wantPage(t, "retrying deliveries", p, http.StatusOK, del.ID, `<span class="badge retrying">retrying</span>`, "next in ")
	if strings.Count(p.body, `href="/deliveries/del_`) != 1 {
		t.Errorf("status=retrying lists %d deliveries, want the broken webhook's one", strings.Count(p.body, `href="/deliveries/del_`))
	}
	wantPage(t, "its webhook's page", b.get("/webhooks/"+broken), http.StatusOK, `id="failing"`, "(1 failed in a row): the last attempt got endpoint answered 500")
}
