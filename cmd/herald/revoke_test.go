package main

import (
	"net/http"
	"testing"
)

// TestServeMetricsAccess: /metrics answers 401 without the admin key or the metrics
// token (--metrics-token, or HERALD_METRICS_TOKEN), and to anyone with --metrics-public.
func TestServeMetricsAccess(t *testing.T) {
	t.Parallel()
	const token = "prometheus-scrape-token-1234"
	scrapeAs := func(srv *testServer, key string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET /metrics: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	srv := startServerEnv(t, t.TempDir(), map[string]string{"HERALD_METRICS_TOKEN": token})
	for _, c := range []struct {
		name, key string
		want      int
	}{
		{"no key", "", 401},
		{"a wrong token", token + "x", 401},
		{"the metrics token", token, 200},
		{"the admin key", testAdminKey, 200},
	} {
		if got := scrapeAs(srv, c.key); got != c.want {
			t.Errorf("/metrics with %s: %d, want %d", c.name, got, c.want)
		}
	}

	public := startServer(t, t.TempDir(), "--metrics-public")
	if got := scrapeAs(public, ""); got != 200 {
		t.Errorf("/metrics with --metrics-public and no key: %d, want 200", got)
	}
}

// TestServeMaxWebhooksPerTenant: --max-webhooks-per-tenant refuses a tenant's webhook
// past the limit with 409; the admin's own (default) tenant is exempt.
func TestServeMaxWebhooksPerTenant(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir(), "--max-webhooks-per-tenant", "2")
	rc := newReceiver(t)
	var tenant struct {
		APIKey string `json:"api_key"`
	}
	if code := api(t, srv.URL, "POST", "/api/v1/tenants", testAdminKey, map[string]any{"name": "Capped"}, &tenant); code != 201 {
		t.Fatalf("create tenant: %d", code)
	}
	hook := map[string]any{"name": "hook", "url": rc.URL}
	for i := range 2 {
		if code := api(t, srv.URL, "POST", "/api/v1/webhooks", tenant.APIKey, hook, nil); code != 201 {
			t.Fatalf("webhook %d within the limit: %d, want 201", i+1, code)
		}
	}
	var refusal apiError
	if code := api(t, srv.URL, "POST", "/api/v1/webhooks", tenant.APIKey, hook, &refusal); code != http.StatusConflict ||
		!contains(refusal.Error, "--max-webhooks-per-tenant") {
		t.Errorf("the third webhook: %d %q, want 409 naming the flag", code, refusal.Error)
	}
	for i := range 3 {
		if code := api(t, srv.URL, "POST", "/api/v1/webhooks", testAdminKey, hook, nil); code != 201 {
			t.Fatalf("the default tenant's webhook %d: %d, want 201 (exempt)", i+1, code)
		}
	}
}
