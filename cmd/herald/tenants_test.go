package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestClientTenantsRotateKey rotates a tenant's key on a running server with the CLI:
// without a grace period the old key is refused at once; with one, both work.
func TestClientTenantsRotateKey(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir())
	var tenant struct {
		ID     string `json:"id"`
		APIKey string `json:"api_key"`
	}
	if code := api(t, srv.URL, "POST", "/api/v1/tenants", testAdminKey, map[string]any{"name": "Rotates"}, &tenant); code != 201 {
		t.Fatalf("create tenant: %d", code)
	}

	// The tenant rotates its own key, with no grace: the old one stops at once.
	out := mustCLI(t, srv, tenant.APIKey, "tenants", "rotate-key", tenant.ID)
	second := field(t, out, "API KEY")
	if !strings.HasPrefix(second, "hk_") || second == tenant.APIKey || !contains(out, "no longer works") || !contains(out, "shown only this once") {
		t.Fatalf("rotate-key:\n%s", out)
	}
	if code := api(t, srv.URL, "GET", "/api/v1/webhooks", tenant.APIKey, nil, nil); code != http.StatusUnauthorized {
		t.Errorf("the old key after a rotation without grace: %d, want 401", code)
	}
	if code := api(t, srv.URL, "GET", "/api/v1/webhooks", second, nil, nil); code != http.StatusOK {
		t.Errorf("the new key: %d, want 200", code)
	}

	// The admin rotates it with an hour's grace: both keys work meanwhile.
	var rotated struct {
		APIKey               string `json:"api_key"`
		PreviousKeyExpiresAt string `json:"previous_key_expires_at"`
	}
	cliJSON(t, srv, testAdminKey, &rotated, "tenants", "rotate-key", tenant.ID, "--grace", "1h")
	if rotated.APIKey == "" || rotated.PreviousKeyExpiresAt == "" {
		t.Fatalf("rotate-key --grace 1h -o json: %+v", rotated)
	}
	for _, key := range []string{second, rotated.APIKey} {
		if code := api(t, srv.URL, "GET", "/api/v1/webhooks", key, nil, nil); code != http.StatusOK {
			t.Errorf("a key during the grace period: %d, want 200", code)
		}
	}

	// Another tenant's key may not rotate it, and learns nothing of it.
	var other struct {
		APIKey string `json:"api_key"`
	}
	api(t, srv.URL, "POST", "/api/v1/tenants", testAdminKey, map[string]any{"name": "Other"}, &other)
	if _, _, err := cli(t, srv, other.APIKey, "tenants", "rotate-key", tenant.ID); err == nil || !contains(err.Error(), "404 NOT_FOUND") {
		t.Errorf("another tenant rotating the key: error %v, want 404 NOT_FOUND", err)
	}
}

// TestClientTenantsPortalLink mints a portal link with the CLI; it signs a browser in once.
func TestClientTenantsPortalLink(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir())
	var tenant struct {
		ID     string `json:"id"`
		APIKey string `json:"api_key"`
	}
	if code := api(t, srv.URL, "POST", "/api/v1/tenants", testAdminKey, map[string]any{"name": "Links"}, &tenant); code != 201 {
		t.Fatalf("create tenant: %d", code)
	}
	out := mustCLI(t, srv, tenant.APIKey, "tenants", "portal-link", tenant.ID, "--ttl", "5m", "--read-only", "--return-url", "https://app.example.com/")
	link := field(t, out, "URL")
	if !strings.HasPrefix(link, srv.URL+"/links/") || !contains(out, "EXPIRES") {
		t.Fatalf("portal-link:\n%s", out)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i, want := range []int{http.StatusSeeOther, http.StatusGone} {
		resp, err := noRedirect.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("following the link, time %d: %d, want %d", i+1, resp.StatusCode, want)
		}
	}
	if _, _, err := cli(t, srv, tenant.APIKey, "tenants", "portal-link", tenant.ID, "--ttl", "25h"); err == nil || !contains(err.Error(), "422") {
		t.Errorf("a 25h link: error %v, want 422", err)
	}
}
