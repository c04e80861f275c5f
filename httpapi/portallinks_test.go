package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/httpapi"
)

type mintedLink struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

func TestCreatePortalLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *httpapi.Config) { c.PublicURL = "https://herald.example.com/" })
	own := e.createTenant("team_link")
	other := e.createTenant("team_other")

	var l mintedLink
	e.must(http.StatusCreated, "POST", "/api/v1/tenants/team_link/portal-links", e.adminKey, nil, &l)
	if !strings.HasPrefix(l.URL, "https://herald.example.com"+herald.PortalLinkPath) || len(l.URL) < len("https://herald.example.com/links/")+40 {
		t.Errorf("url = %q, want the public URL, %s and a long token", l.URL, herald.PortalLinkPath)
	}
	if d := time.Until(l.ExpiresAt); d < 14*time.Minute || d > 15*time.Minute {
		t.Errorf("expires_at is %v from now, want the default 15 minutes", d)
	}
	// Only the token's hash is stored: the URL's token hashes to a stored link.
	token := strings.TrimPrefix(l.URL, "https://herald.example.com"+herald.PortalLinkPath)
	if _, err := e.store.RedeemPortalLink(t.Context(), herald.HashSessionID(token), &herald.Session{
		IDHash: herald.HashSessionID("s"), KeyHash: herald.HashSessionID(token), CreatedAt: time.Now().UTC(),
		ExpiresAt: time.Now().Add(time.Hour).UTC()}); err != nil {
		t.Errorf("the link's token does not find its stored hash: %v", err)
	}

	// The tenant's own key mints for itself, with every field.
	e.must(http.StatusCreated, "POST", "/api/v1/tenants/team_link/portal-links", own,
		map[string]any{"ttl": "24h", "read_only": true, "return_url": "https://app.example.com/settings"}, &l)
	if d := time.Until(l.ExpiresAt); d < 23*time.Hour {
		t.Errorf("a 24h link expires in %v", d)
	}

	for _, c := range []struct {
		name, key, path string
		body            any
		status          int
		code            string
	}{
		{"another tenant's key", other, "/api/v1/tenants/team_link/portal-links", nil, 404, herald.ENOTFOUND},
		{"no such tenant", e.adminKey, "/api/v1/tenants/team_nobody/portal-links", nil, 404, herald.ENOTFOUND},
		{"no key", "", "/api/v1/tenants/team_link/portal-links", nil, 401, herald.EUNAUTHORIZED},
		{"ttl over 24h", own, "/api/v1/tenants/team_link/portal-links", map[string]any{"ttl": "24h1s"}, 422, herald.EINVALID},
		{"ttl zero", own, "/api/v1/tenants/team_link/portal-links", map[string]any{"ttl": "0s"}, 422, herald.EINVALID},
		{"ttl not a duration", own, "/api/v1/tenants/team_link/portal-links", map[string]any{"ttl": "15"}, 422, herald.EINVALID},
		{"javascript return_url", own, "/api/v1/tenants/team_link/portal-links", map[string]any{"return_url": "javascript:alert(1)"}, 422, herald.EINVALID},
		{"relative return_url", own, "/api/v1/tenants/team_link/portal-links", map[string]any{"return_url": "/settings"}, 422, herald.EINVALID},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkError(t, e.do("POST", c.path, c.key, c.body), c.status, c.code)
		})
	}

	// Without a public URL the link is on the request's own scheme and host.
	bare := newEnv(t)
	bare.createTenant("team_bare")
	bare.must(http.StatusCreated, "POST", "/api/v1/tenants/team_bare/portal-links", bare.adminKey, nil, &l)
	if !strings.HasPrefix(l.URL, "http://example.com/links/") {
		t.Errorf("url without a public URL = %q, want http://example.com/links/…", l.URL)
	}
	bare.must(http.StatusCreated, "POST", "/api/v1/tenants/team_bare/portal-links", bare.adminKey, nil, &l, "X-Forwarded-Proto", "https")
	if !strings.HasPrefix(l.URL, "https://example.com/links/") {
		t.Errorf("url behind a TLS proxy = %q, want https://example.com/links/…", l.URL)
	}

	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	e.must(http.StatusOK, "GET", "/openapi.json", "", nil, &doc)
	if _, ok := doc.Paths["/api/v1/tenants/{id}/portal-links"]["post"]; !ok {
		t.Error("/openapi.json does not describe POST /api/v1/tenants/{id}/portal-links")
	}
}

// linkSession follows a new link of tenant and returns the session it began.
func (e *env) linkSession(tenant string, readOnly bool) *herald.Session {
	e.t.Helper()
	token := herald.NewSessionID()
	now := time.Now().UTC()
	if err := e.store.CreatePortalLink(e.t.Context(), &herald.PortalLink{TokenHash: herald.HashSessionID(token), TenantID: tenant,
		ReadOnly: readOnly, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		e.t.Fatal(err)
	}
	s := &herald.Session{IDHash: herald.HashSessionID(herald.NewSessionID()), KeyHash: herald.HashSessionID(token),
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if _, err := e.store.RedeemPortalLink(e.t.Context(), herald.HashSessionID(token), s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// asSession sends a request as the portal does for a session: in-process, no key.
func (e *env) asSession(s *herald.Session, method, path string, body any) response {
	e.t.Helper()
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			e.t.Fatal(err)
		}
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(raw))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req = req.WithContext(herald.WithSession(req.Context(), s))
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return response{code: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func TestPortalLinkSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := e.createTenant("team_s")
	otherKey := e.createTenant("team_t")
	mine := e.createWebhook(key, map[string]any{"name": "mine"})
	theirs := e.createWebhook(otherKey, map[string]any{"name": "theirs"})

	rw := e.linkSession("team_s", false)
	ro := e.linkSession("team_s", true)
	for _, s := range []*herald.Session{rw, ro} {
		var list []webhookResp
		r := e.asSession(s, "GET", "/api/v1/webhooks", nil)
		if r.code != http.StatusOK || json.Unmarshal(r.body, &list) != nil || len(list) != 1 || list[0].ID != mine.ID {
			t.Errorf("a link session (read-only %v) lists %d %s, want its tenant's one webhook", s.ReadOnly, r.code, r.body)
		}
		checkError(t, e.asSession(s, "GET", "/api/v1/webhooks/"+theirs.ID, nil), http.StatusNotFound, herald.ENOTFOUND)
		checkError(t, e.asSession(s, "GET", "/api/v1/tenants", nil), http.StatusForbidden, herald.EFORBIDDEN)
		checkError(t, e.asSession(s, "POST", "/api/v1/tenants/team_s/rotate-key", nil), http.StatusForbidden, herald.EFORBIDDEN)
		checkError(t, e.asSession(s, "POST", "/api/v1/tenants/team_s/portal-links", nil), http.StatusForbidden, herald.EFORBIDDEN)
	}

	// A writable link session changes its tenant's things; a read-only one nothing.
	if r := e.asSession(rw, "POST", "/api/v1/webhooks", map[string]any{"name": "by link", "url": hookURL}); r.code != http.StatusCreated {
		t.Errorf("a writable link session creating a webhook: %d %s", r.code, r.body)
	}
	for _, c := range []struct{ method, path string }{
		{"POST", "/api/v1/webhooks"},
		{"PATCH", "/api/v1/webhooks/" + mine.ID},
		{"PUT", "/api/v1/webhooks/" + mine.ID},
		{"DELETE", "/api/v1/webhooks/" + mine.ID},
		{"POST", "/api/v1/webhooks/" + mine.ID + "/test"},
		{"POST", "/api/v1/webhooks/" + mine.ID + "/rotate-secret"},
		{"POST", "/api/v1/webhooks/" + mine.ID + "/recover"},
	} {
		b := checkError(t, e.asSession(ro, c.method, c.path, map[string]any{"name": "x", "url": hookURL}), http.StatusForbidden, herald.EFORBIDDEN)
		if !strings.Contains(*b.Error, "read-only") {
			t.Errorf("%s %s by a read-only session: %q does not say it is read-only", c.method, c.path, *b.Error)
		}
	}
	var still webhookResp
	e.must(http.StatusOK, "GET", "/api/v1/webhooks/"+mine.ID, key, nil, &still)
	if still.Name != "mine" {
		t.Errorf("the read-only session's refusals changed the webhook: %+v", still)
	}

	// Deleting the tenant ends its link sessions.
	e.must(http.StatusNoContent, "DELETE", "/api/v1/tenants/team_s", e.adminKey, nil, nil)
	checkError(t, e.asSession(rw, "GET", "/api/v1/webhooks", nil), http.StatusUnauthorized, herald.EUNAUTHORIZED)
}

func TestTenantBranding(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	type tenantResp struct {
		Name     string          `json:"name"`
		Branding herald.Branding `json:"branding"`
	}
	brand := herald.Branding{Name: "Acme Cloud", Color: "#0a7", LogoURL: "https://cdn.example.com/logo.png"}
	var got tenantResp
	e.must(http.StatusCreated, "POST", "/api/v1/tenants", e.adminKey, map[string]any{"id": "team_b", "name": "B", "branding": brand}, &got)
	if got.Branding != brand {
		t.Errorf("created branding = %+v, want %+v", got.Branding, brand)
	}
	e.must(http.StatusOK, "GET", "/api/v1/tenants/team_b", e.adminKey, nil, &got)
	if got.Branding != brand {
		t.Errorf("read branding = %+v, want %+v", got.Branding, brand)
	}
	got = tenantResp{} // absent fields would keep their old values
	e.must(http.StatusOK, "PATCH", "/api/v1/tenants/team_b", e.adminKey, map[string]any{"branding": map[string]string{"color": "#123456"}}, &got)
	if got.Branding != (herald.Branding{Color: "#123456"}) || got.Name != "B" {
		t.Errorf("after PATCH branding the tenant is %+v, want only the colour, name kept", got)
	}
	got = tenantResp{}
	e.must(http.StatusOK, "PATCH", "/api/v1/tenants/team_b", e.adminKey, map[string]any{"name": "Bee"}, &got)
	if got.Name != "Bee" || got.Branding.Color != "#123456" {
		t.Errorf("after PATCH name the tenant is %+v, want the branding kept", got)
	}
	for _, c := range []struct {
		name string
		body map[string]any
	}{
		{"colour name", map[string]any{"branding": map[string]string{"color": "red"}}},
		{"css in colour", map[string]any{"branding": map[string]string{"color": "#fff}body{x:y"}}},
		{"http logo", map[string]any{"branding": map[string]string{"logo_url": "http://cdn.example.com/logo.png"}}},
		{"svg data logo", map[string]any{"branding": map[string]string{"logo_url": "data:image/svg+xml;base64,PHN2Zz4="}}},
		{"javascript logo", map[string]any{"branding": map[string]string{"logo_url": "javascript:alert(1)"}}},
	} {
		checkError(t, e.do("PATCH", "/api/v1/tenants/team_b", e.adminKey, c.body), http.StatusUnprocessableEntity, herald.EINVALID)
		checkError(t, e.do("POST", "/api/v1/tenants", e.adminKey, map[string]any{"name": "x", "branding": c.body["branding"]}),
			http.StatusUnprocessableEntity, herald.EINVALID)
	}
	own := e.createTenant("team_c")
	checkError(t, e.do("PATCH", "/api/v1/tenants/team_c", own, map[string]any{"name": "mine now"}), http.StatusForbidden, herald.EFORBIDDEN)
	checkError(t, e.do("PATCH", "/api/v1/tenants/team_nobody", e.adminKey, map[string]any{"name": "x"}), http.StatusNotFound, herald.ENOTFOUND)
}
