package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
)

func TestAuthMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	aKey := e.createTenant("team_a")
	bKey := e.createTenant("team_b")
	aHook := e.createWebhook(aKey, nil)
	bHook := e.createWebhook(bKey, nil)
	if bHook.TenantID != "team_b" {
		t.Fatalf("tenant B's webhook belongs to %q", bHook.TenantID)
	}
	var bEvent struct {
		ID string `json:"id"`
	}
	e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, driftEvent(map[string]any{"tenant_id": "team_b"}), &bEvent)
	var ds []herald.Delivery
	e.must(http.StatusOK, "GET", "/api/v1/webhooks/"+bHook.ID+"/deliveries", bKey, nil, &ds)
	bDelivery := ds[0].ID

	wh := "/api/v1/webhooks/" + bHook.ID
	since := `{"since":"2020-01-01T00:00:00Z"}`
	tests := []struct {
		name   string
		method string
		path   string
		key    string
		body   any
		status int
		code   string
	}{
		// No key, wrong key.
		{"no key", "GET", "/api/v1/webhooks", "", nil, 401, herald.EUNAUTHORIZED},
		{"unknown key", "GET", "/api/v1/webhooks", "hk_nope", nil, 401, herald.EUNAUTHORIZED},
		{"unknown key on publish", "POST", "/api/v1/events", "hk_nope", driftEvent(nil), 401, herald.EUNAUTHORIZED},
		{"no key on publish, malformed body", "POST", "/api/v1/events", "", `{`, 401, herald.EUNAUTHORIZED},
		{"no key on tenants", "GET", "/api/v1/tenants", "", nil, 401, herald.EUNAUTHORIZED},
		{"no key on deliveries", "GET", "/api/v1/deliveries/" + bDelivery, "", nil, 401, herald.EUNAUTHORIZED},

		// Tenant keys cannot publish, manage tenants or add event types: 403.
		{"tenant publishes", "POST", "/api/v1/events", aKey, driftEvent(nil), 403, herald.EFORBIDDEN},
		{"tenant publishes malformed", "POST", "/api/v1/events", aKey, `{`, 403, herald.EFORBIDDEN},
		{"tenant batch", "POST", "/api/v1/events/batch", aKey, map[string]any{"events": []any{driftEvent(nil)}}, 403, herald.EFORBIDDEN},
		{"tenant lists tenants", "GET", "/api/v1/tenants", aKey, nil, 403, herald.EFORBIDDEN},
		{"tenant creates tenant", "POST", "/api/v1/tenants", aKey, map[string]any{"name": "x"}, 403, herald.EFORBIDDEN},
		{"tenant reads own tenant", "GET", "/api/v1/tenants/team_a", aKey, nil, 403, herald.EFORBIDDEN},
		{"tenant deletes tenant", "DELETE", "/api/v1/tenants/team_b", aKey, nil, 403, herald.EFORBIDDEN},
		{"tenant adds event type", "POST", "/api/v1/event-types", aKey, map[string]any{"type": "x.y", "description": "", "schema": map[string]any{}}, 403, herald.EFORBIDDEN},
		{"tenant names another tenant on create", "POST", "/api/v1/webhooks", aKey, map[string]any{"name": "x", "url": hookURL, "tenant_id": "team_b"}, 403, herald.EFORBIDDEN},
		{"tenant filters another tenant", "GET", "/api/v1/webhooks?tenant_id=team_b", aKey, nil, 403, herald.EFORBIDDEN},
		{"tenant filters another tenant's deliveries", "GET", "/api/v1/deliveries?tenant_id=team_b", aKey, nil, 403, herald.EFORBIDDEN},

		// Tenant A on tenant B's things: 404, as if they did not exist.
		{"get B's webhook", "GET", wh, aKey, nil, 404, herald.ENOTFOUND},
		{"put B's webhook", "PUT", wh, aKey, map[string]any{"name": "mine"}, 404, herald.ENOTFOUND},
		{"patch B's webhook", "PATCH", wh, aKey, map[string]any{"enabled": false}, 404, herald.ENOTFOUND},
		{"delete B's webhook", "DELETE", wh, aKey, nil, 404, herald.ENOTFOUND},
		{"test B's webhook", "POST", wh + "/test", aKey, nil, 404, herald.ENOTFOUND},
		{"B's webhook deliveries", "GET", wh + "/deliveries", aKey, nil, 404, herald.ENOTFOUND},
		{"rotate B's secret", "POST", wh + "/rotate-secret", aKey, map[string]any{}, 404, herald.ENOTFOUND},
		{"recover B's webhook", "POST", wh + "/recover", aKey, since, 404, herald.ENOTFOUND},
		{"get B's delivery", "GET", "/api/v1/deliveries/" + bDelivery, aKey, nil, 404, herald.ENOTFOUND},
		{"retry B's delivery", "POST", "/api/v1/deliveries/" + bDelivery + "/retry", aKey, nil, 404, herald.ENOTFOUND},
		{"get B's event", "GET", "/api/v1/events/" + bEvent.ID, aKey, nil, 404, herald.ENOTFOUND},

		// What is allowed.
		{"B reads its webhook", "GET", wh, bKey, nil, 200, ""},
		{"B reads its event", "GET", "/api/v1/events/" + bEvent.ID, bKey, nil, 200, ""},
		{"B reads its delivery", "GET", "/api/v1/deliveries/" + bDelivery, bKey, nil, 200, ""},
		{"tenant reads the catalog", "GET", "/api/v1/event-types", aKey, nil, 200, ""},
		{"tenant reads the webhook catalog", "GET", "/api/v1/webhooks/events", aKey, nil, 200, ""},
		{"tenant names itself", "GET", "/api/v1/webhooks?tenant_id=team_a", aKey, nil, 200, ""},
		{"admin reads B's webhook", "GET", wh, e.adminKey, nil, 200, ""},
		{"admin reads B's delivery", "GET", "/api/v1/deliveries/" + bDelivery, e.adminKey, nil, 200, ""},
		{"admin lists tenants", "GET", "/api/v1/tenants", e.adminKey, nil, 200, ""},
		{"health needs no key", "GET", "/healthz", "", nil, 200, ""},
		{"readiness needs no key", "GET", "/readyz", "", nil, 200, ""},
		{"metrics need a key", "GET", "/metrics", "", nil, 401, herald.EUNAUTHORIZED},
		{"metrics refuse a tenant key", "GET", "/metrics", aKey, nil, 401, herald.EUNAUTHORIZED},
		{"metrics serve the admin key", "GET", "/metrics", e.adminKey, nil, 200, ""},
		{"openapi needs no key", "GET", "/openapi.json", "", nil, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.path, tt.key, tt.body)
			if tt.code == "" {
				if r.code != tt.status {
					t.Fatalf("status %d, want %d: %s", r.code, tt.status, r.body)
				}
				return
			}
			checkError(t, r, tt.status, tt.code)
			if r.code == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}

	// Nothing tenant A tried changed B's webhook or made deliveries.
	got, err := e.store.Webhook(context.Background(), bHook.ID)
	if err != nil || got.Name != "hook" || !got.Enabled || got.Secret != bHook.Secret {
		t.Errorf("tenant A changed B's webhook: %+v (err %v)", got, err)
	}
	if n := e.countDeliveries(herald.DeliveryFilter{WebhookID: bHook.ID}); n != 2 {
		t.Errorf("B's webhook has %d deliveries, want its ping and the event's", n)
	}

	// Lists: a tenant sees its own only; the admin sees all or filters.
	var ws []webhookResp
	e.must(http.StatusOK, "GET", "/api/v1/webhooks", aKey, nil, &ws)
	if len(ws) != 1 || ws[0].ID != aHook.ID {
		t.Errorf("tenant A lists %+v, want only its webhook", ws)
	}
	e.must(http.StatusOK, "GET", "/api/v1/webhooks", e.adminKey, nil, &ws)
	if len(ws) != 2 {
		t.Errorf("admin lists %d webhooks, want 2", len(ws))
	}
	e.must(http.StatusOK, "GET", "/api/v1/webhooks?tenant_id=team_b", e.adminKey, nil, &ws)
	if len(ws) != 1 || ws[0].ID != bHook.ID {
		t.Errorf("admin filtered to team_b lists %+v", ws)
	}
	e.must(http.StatusOK, "GET", "/api/v1/deliveries", aKey, nil, &ds)
	for _, d := range ds {
		if d.TenantID != "team_a" {
			t.Errorf("tenant A sees delivery %s of %s", d.ID, d.TenantID)
		}
	}
	if len(ds) != 1 {
		t.Errorf("tenant A sees %d deliveries, want its ping", len(ds))
	}
}

func TestAuthHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tt := range []struct {
		name   string
		hdr    []string
		status int
	}{
		{"bearer", []string{"Authorization", "Bearer " + e.adminKey}, 200},
		{"bearer any case", []string{"Authorization", "bearer " + e.adminKey}, 200},
		{"X-API-Key", []string{"X-API-Key", e.adminKey}, 200},
		{"basic is not a key", []string{"Authorization", "Basic " + e.adminKey}, 401},
		{"empty bearer", []string{"Authorization", "Bearer "}, 401},
		{"admin key with a typo", []string{"X-API-Key", e.adminKey + "x"}, 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("GET", "/api/v1/webhooks", "", nil, tt.hdr...)
			if r.code != tt.status {
				t.Errorf("status %d, want %d: %s", r.code, tt.status, r.body)
			}
			if strings.Contains(string(r.body), e.adminKey) {
				t.Errorf("the answer echoes the key")
			}
		})
	}
}
