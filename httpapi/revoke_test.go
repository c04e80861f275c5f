package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/httpapi"
)

// movingClock is a herald.Clock a test moves forward; it starts at the real time, since
// the store decides whether a grace period is still ahead by its own clock.
type movingClock struct{ offset atomic.Int64 }

func (c *movingClock) Now() time.Time          { return time.Now().UTC().Add(time.Duration(c.offset.Load())) }
func (c *movingClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

type rotated struct {
	APIKey               string     `json:"api_key"`
	PreviousKeyExpiresAt *time.Time `json:"previous_key_expires_at"`
}

func TestRotateTenantKey(t *testing.T) {
	t.Parallel()
	clock := &movingClock{}
	e := newEnv(t, func(c *httpapi.Config) { c.Clock = clock })
	old := e.createTenant("team_rot")
	other := e.createTenant("team_other")

	// Without a grace period the old key stops at once.
	var r1 rotated
	e.must(http.StatusOK, "POST", "/api/v1/tenants/team_rot/rotate-key", old, nil, &r1)
	if !strings.HasPrefix(r1.APIKey, herald.PrefixTenantKey) || r1.APIKey == old || r1.PreviousKeyExpiresAt != nil {
		t.Fatalf("rotate without grace answered %+v, want a new tenant key and no grace", r1)
	}
	checkError(t, e.do("GET", "/api/v1/webhooks", old, nil), http.StatusUnauthorized, herald.EUNAUTHORIZED)
	e.must(http.StatusOK, "GET", "/api/v1/webhooks", r1.APIKey, nil, nil)
	e.must(http.StatusOK, "GET", "/api/v1/webhooks", other, nil, nil)

	// With one, both keys work until it ends, then only the new one.
	var r2 rotated
	e.must(http.StatusOK, "POST", "/api/v1/tenants/team_rot/rotate-key", e.adminKey, map[string]any{"grace_period_seconds": 3600}, &r2)
	if r2.PreviousKeyExpiresAt == nil || r2.PreviousKeyExpiresAt.Sub(clock.Now()) < 59*time.Minute {
		t.Fatalf("rotate with an hour's grace answered %+v, want the old key to last an hour", r2)
	}
	e.must(http.StatusOK, "GET", "/api/v1/webhooks", r1.APIKey, nil, nil)
	e.must(http.StatusOK, "GET", "/api/v1/webhooks", r2.APIKey, nil, nil)
	clock.advance(59 * time.Minute)
	e.must(http.StatusOK, "GET", "/api/v1/webhooks", r1.APIKey, nil, nil)
	clock.advance(time.Minute)
	checkError(t, e.do("GET", "/api/v1/webhooks", r1.APIKey, nil), http.StatusUnauthorized, herald.EUNAUTHORIZED)
	e.must(http.StatusOK, "GET", "/api/v1/webhooks", r2.APIKey, nil, nil)

	// Refusals.
	for _, c := range []struct {
		name, key, path string
		body            any
		status          int
		code            string
	}{
		{"another tenant's id", other, "/api/v1/tenants/team_rot/rotate-key", nil, 404, herald.ENOTFOUND},
		{"no such tenant", e.adminKey, "/api/v1/tenants/team_nobody/rotate-key", nil, 404, herald.ENOTFOUND},
		{"negative grace", r2.APIKey, "/api/v1/tenants/team_rot/rotate-key", map[string]any{"grace_period_seconds": -1}, 422, herald.EINVALID},
		{"grace over 30 days", r2.APIKey, "/api/v1/tenants/team_rot/rotate-key", map[string]any{"grace_period_seconds": 2592001}, 422, herald.EINVALID},
		{"no key", "", "/api/v1/tenants/team_rot/rotate-key", nil, 401, herald.EUNAUTHORIZED},
	} {
		checkError(t, e.do("POST", c.path, c.key, c.body), c.status, c.code)
	}
	e.must(http.StatusOK, "GET", "/api/v1/webhooks", r2.APIKey, nil, nil) // the refusals changed nothing

	// The route is described.
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	e.must(http.StatusOK, "GET", "/openapi.json", "", nil, &doc)
	if _, ok := doc.Paths["/api/v1/tenants/{id}/rotate-key"]["post"]; !ok {
		t.Error("/openapi.json does not describe POST /api/v1/tenants/{id}/rotate-key")
	}
}

func TestMetricsNeedCredentials(t *testing.T) {
	t.Parallel()
	const token = "scrape-token-0123456789"
	e := newEnv(t, func(c *httpapi.Config) { c.MetricsToken = token })
	tenant := e.createTenant("team_m")
	for _, c := range []struct {
		name   string
		key    string
		hdr    []string
		status int
	}{
		{"no credentials", "", nil, http.StatusUnauthorized},
		{"a tenant key", tenant, nil, http.StatusUnauthorized},
		{"a wrong token", "scrape-token-wrong", nil, http.StatusUnauthorized},
		{"the token as X-API-Key", "", []string{"X-API-Key", token}, http.StatusUnauthorized},
		{"the admin key", e.adminKey, nil, http.StatusOK},
		{"the metrics token", token, nil, http.StatusOK},
	} {
		r := e.do("GET", "/metrics", c.key, nil, c.hdr...)
		if r.code != c.status {
			t.Errorf("/metrics with %s: %d, want %d", c.name, r.code, c.status)
		}
		if r.code == http.StatusOK && !strings.Contains(string(r.body), "herald_api_requests_total") {
			t.Errorf("/metrics with %s: no metrics in %.200s", c.name, r.body)
		}
		if r.code == http.StatusUnauthorized && strings.Contains(string(r.body), "herald_") {
			t.Errorf("/metrics with %s: refused but shows metrics", c.name)
		}
	}

	public := newEnv(t, func(c *httpapi.Config) { c.MetricsPublic = true })
	public.must(http.StatusOK, "GET", "/metrics", "", nil, nil)
}

func TestWebhooksPerTenantCap(t *testing.T) {
	t.Parallel()
	const limit = 100
	e := newEnv(t, func(c *httpapi.Config) { c.MaxWebhooksPerTenant = limit })
	key := e.createTenant("team_many")
	for i := range limit {
		e.createWebhook(key, map[string]any{"name": fmt.Sprintf("hook %d", i)})
	}
	b := checkError(t, e.do("POST", "/api/v1/webhooks", key, map[string]any{"name": "one too many", "url": hookURL}),
		http.StatusConflict, herald.ECONFLICT)
	for _, want := range []string{"100", "--max-webhooks-per-tenant", "HERALD_MAX_WEBHOOKS_PER_TENANT"} {
		if !strings.Contains(*b.Error, want) {
			t.Errorf("the refusal %q does not mention %s", *b.Error, want)
		}
	}
	// The admin creating for the tenant is held to the same cap.
	checkError(t, e.do("POST", "/api/v1/webhooks", e.adminKey, map[string]any{"name": "x", "url": hookURL, "tenant_id": "team_many"}),
		http.StatusConflict, herald.ECONFLICT)
	// Deleting one makes room for one.
	var list []webhookResp
	e.must(http.StatusOK, "GET", "/api/v1/webhooks?per_page=1", key, nil, &list)
	e.must(http.StatusNoContent, "DELETE", "/api/v1/webhooks/"+list[0].ID, key, nil, nil)
	e.createWebhook(key, map[string]any{"name": "after a delete"})

	// The default tenant (the admin's own) is exempt, and other tenants have their own count.
	for i := range limit + 1 {
		e.createWebhook(e.adminKey, map[string]any{"name": fmt.Sprintf("admin hook %d", i)})
	}
	e.createWebhook(e.createTenant("team_few"), nil)
}

// TestWebhooksPerTenantCapHoldsUnderConcurrency creates a tenant's webhooks from many
// clients at once: exactly the limit are created, however the requests interleave.
func TestWebhooksPerTenantCapHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	const limit, clients = 5, 20
	e := newEnv(t, func(c *httpapi.Config) { c.MaxWebhooksPerTenant = limit })
	key := e.createTenant("team_racing")
	var created atomic.Int64
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			r := e.do("POST", "/api/v1/webhooks", key, map[string]any{"name": fmt.Sprintf("hook %d", i), "url": hookURL})
			if r.code == http.StatusCreated {
				created.Add(1)
			}
		})
	}
	wg.Wait()
	if n := created.Load(); n != limit {
		t.Errorf("%d concurrent creations made %d webhooks, want exactly the limit %d", clients, n, limit)
	}
}
