package httpapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// tenantFixture is one tenant's key and the ids of what it owns.
type tenantFixture struct {
	id, key           string
	webhook, event    string
	delivery, attempt string
}

// newTenantFixture makes tenant id with a webhook, an event published to it, and a
// delivery with an attempt.
func (e *env) newTenantFixture(id string) tenantFixture {
	e.t.Helper()
	f := tenantFixture{id: id, key: e.createTenant(id)}
	f.webhook = e.createWebhook(f.key, map[string]any{"name": "hook of " + id}).ID
	var pub struct{ ID string }
	e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, driftEvent(map[string]any{"tenant_id": id}), &pub)
	f.event = pub.ID
	var ev struct {
		Deliveries []struct {
			ID string `json:"id"`
		} `json:"deliveries"`
	}
	e.must(http.StatusOK, "GET", "/api/v1/events/"+f.event, f.key, nil, &ev)
	if len(ev.Deliveries) != 1 {
		e.t.Fatalf("tenant %s: event has %d deliveries, want 1", id, len(ev.Deliveries))
	}
	f.delivery = ev.Deliveries[0].ID
	var att struct {
		DeliveryID string `json:"delivery_id"`
	}
	e.must(http.StatusOK, "POST", "/api/v1/deliveries/"+f.delivery+"/retry", f.key, nil, &att)
	return f
}

// probe is one request of the matrix: tenant A's key against tenant B's things.
type probe struct {
	path string // with B's ids filled in, and any query
	body any
	// want is the status; 200 means the route is a list or a shared catalog, and the
	// answer must hold none of B's ids.
	want int
}

// TestTenantIsolationMatrix walks every route the API describes in /openapi.json with
// tenant A's key against tenant B's ids: each answers 404 (B's thing does not exist for
// A), 403 (admin only, or tenant_id=B), or a list without anything of B's. A route
// missing from the matrix fails the test, so a new route cannot be forgotten. Nothing of
// B's changes.
func TestTenantIsolationMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.newTenantFixture("team_a")
	b := e.newTenantFixture("team_b")
	bIDs := []string{b.webhook, b.event, b.delivery}

	id := func(s string) string {
		return strings.NewReplacer("{wh}", b.webhook, "{evt}", b.event, "{del}", b.delivery, "{tenant}", b.id).Replace(s)
	}
	matrix := map[string][]probe{
		"GET /healthz":      {{"/healthz", nil, 200}},
		"GET /readyz":       {{"/readyz", nil, 200}},
		"GET /metrics":      {{"/metrics", nil, 401}}, // the admin key's or the metrics token's
		"GET /openapi.json": {{"/openapi.json", nil, 200}},

		"POST /api/v1/events":       {{"/api/v1/events", driftEvent(map[string]any{"tenant_id": b.id}), 403}},
		"POST /api/v1/events/batch": {{"/api/v1/events/batch", map[string]any{"events": []any{driftEvent(map[string]any{"tenant_id": b.id})}}, 403}},
		"GET /api/v1/events/{id}":   {{id("/api/v1/events/{evt}"), nil, 404}},

		"GET /api/v1/webhooks": {
			{"/api/v1/webhooks", nil, 200},
			{id("/api/v1/webhooks?tenant_id={tenant}"), nil, 403},
		},
		"POST /api/v1/webhooks": {
			{"/api/v1/webhooks", map[string]any{"name": "x", "url": hookURL, "tenant_id": b.id}, 403},
		},
		"GET /api/v1/webhooks/{id}":    {{id("/api/v1/webhooks/{wh}"), nil, 404}},
		"PUT /api/v1/webhooks/{id}":    {{id("/api/v1/webhooks/{wh}"), map[string]any{"name": "taken", "url": hookURL}, 404}},
		"PATCH /api/v1/webhooks/{id}":  {{id("/api/v1/webhooks/{wh}"), map[string]any{"enabled": false}, 404}},
		"DELETE /api/v1/webhooks/{id}": {{id("/api/v1/webhooks/{wh}"), nil, 404}},
		"POST /api/v1/webhooks/{id}/test": {
			{id("/api/v1/webhooks/{wh}/test"), nil, 404},
			{id("/api/v1/webhooks/{wh}/test"), map[string]any{"event_type": "drift.detected"}, 404},
		},
		"POST /api/v1/webhooks/{id}/reveal-secret": {
			{id("/api/v1/webhooks/{wh}/reveal-secret"), nil, 404},
		},
		"GET /api/v1/webhooks/{id}/deliveries": {
			{id("/api/v1/webhooks/{wh}/deliveries"), nil, 404},
			{id("/api/v1/webhooks/{wh}/deliveries?tenant_id={tenant}"), nil, 404},
			{id("/api/v1/webhooks/{wh}/deliveries?event_id={evt}"), nil, 404},
		},
		"POST /api/v1/webhooks/{id}/rotate-secret": {
			{id("/api/v1/webhooks/{wh}/rotate-secret"), map[string]any{"secret": "whsec_" + strings.Repeat("A", 43) + "="}, 404},
		},
		"POST /api/v1/webhooks/{id}/recover": {
			{id("/api/v1/webhooks/{wh}/recover"), map[string]any{"since": "2000-01-01T00:00:00Z"}, 404},
		},
		"POST /api/v1/webhooks/{id}/replay": {
			{id("/api/v1/webhooks/{wh}/replay"), map[string]any{"since": "2000-01-01T00:00:00Z"}, 404},
		},
		// Evaluates a filter against the caller's own tenant and the catalog: nothing of B's.
		"POST /api/v1/filters/test": {
			{"/api/v1/filters/test", map[string]any{"filter": "tenant_id == \"team_b\"", "event_type": "drift.detected"}, 200},
		},
		"GET /api/v1/webhooks/events": {{"/api/v1/webhooks/events", nil, 200}},

		"GET /api/v1/deliveries": {
			{"/api/v1/deliveries", nil, 200},
			{id("/api/v1/deliveries?tenant_id={tenant}"), nil, 403},
			{id("/api/v1/deliveries?webhook_id={wh}"), nil, 200},
			{id("/api/v1/deliveries?event_id={evt}"), nil, 200},
		},
		"GET /api/v1/deliveries/{id}":            {{id("/api/v1/deliveries/{del}"), nil, 404}},
		"GET /api/v1/deliveries/{id}/attempts":   {{id("/api/v1/deliveries/{del}/attempts"), nil, 404}},
		"POST /api/v1/deliveries/{id}/retry":     {{id("/api/v1/deliveries/{del}/retry"), nil, 404}},
		"POST /api/v1/deliveries/{id}/skip":      {{id("/api/v1/deliveries/{del}/skip"), nil, 404}},
		"GET /api/v1/webhooks/{id}/blocked-keys": {{id("/api/v1/webhooks/{wh}/blocked-keys"), nil, 404}},

		"GET /api/v1/event-types": {{"/api/v1/event-types", nil, 200}},
		"POST /api/v1/event-types": {
			{"/api/v1/event-types", map[string]any{"type": "a.b", "schema": map[string]any{"type": "object"}}, 403},
		},

		"POST /api/v1/tenants":        {{"/api/v1/tenants", map[string]any{"id": "team_c", "name": "C"}, 403}},
		"GET /api/v1/tenants":         {{"/api/v1/tenants", nil, 403}},
		"GET /api/v1/tenants/{id}":    {{id("/api/v1/tenants/{tenant}"), nil, 403}},
		"DELETE /api/v1/tenants/{id}": {{id("/api/v1/tenants/{tenant}"), nil, 403}},
		"PATCH /api/v1/tenants/{id}":  {{id("/api/v1/tenants/{tenant}"), map[string]any{"name": "taken"}, 403}},
		"POST /api/v1/tenants/{id}/portal-links": {
			{id("/api/v1/tenants/{tenant}/portal-links"), nil, 404},
			{id("/api/v1/tenants/{tenant}/portal-links"), map[string]any{"read_only": true}, 404},
		},
		// Tenant B's key must keep working (the snapshot below reads with it).
		"POST /api/v1/tenants/{id}/rotate-key": {
			{id("/api/v1/tenants/{tenant}/rotate-key"), nil, 404},
			{id("/api/v1/tenants/{tenant}/rotate-key"), map[string]any{"grace_period_seconds": 60}, 404},
		},
	}

	// Every route the API describes must have probes.
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	e.must(http.StatusOK, "GET", "/openapi.json", "", nil, &doc)
	var routes []string
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "put", "post", "patch", "delete", "head", "options":
				routes = append(routes, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(routes)
	if len(routes) < 20 {
		t.Fatalf("/openapi.json describes %d routes; expected the whole API", len(routes))
	}

	for route := range matrix {
		if !slices.Contains(routes, route) {
			t.Errorf("the matrix lists %s, which /openapi.json does not describe", route)
		}
	}

	before := e.snapshot(b)
	for _, route := range routes {
		probes, ok := matrix[route]
		if !ok || len(probes) == 0 {
			t.Errorf("route %s has no entry in the tenant isolation matrix: add one", route)
			continue
		}
		method := strings.Fields(route)[0]
		for _, p := range probes {
			r := e.do(method, p.path, a.key, p.body)
			if r.code != p.want {
				t.Errorf("%s %s with tenant A's key: status %d, want %d; body %s", method, p.path, r.code, p.want, r.body)
				continue
			}
			if p.want != http.StatusOK {
				continue
			}
			for _, bid := range bIDs {
				if strings.Contains(string(r.body), bid) {
					t.Errorf("%s %s with tenant A's key shows tenant B's %s", method, p.path, bid)
				}
			}
		}
	}
	if after := e.snapshot(b); after != before {
		t.Errorf("tenant B's state changed under tenant A's requests:\nbefore %s\nafter  %s", before, after)
	}
	// A still sees its own, so the 404s above are isolation, not a broken API.
	e.must(http.StatusOK, "GET", "/api/v1/webhooks/"+a.webhook, a.key, nil, nil)
	e.must(http.StatusOK, "GET", "/api/v1/deliveries/"+a.delivery, a.key, nil, nil)
}

// snapshot is everything of tenant f's that the API shows its owner, as one string.
func (e *env) snapshot(f tenantFixture) string {
	e.t.Helper()
	var parts []string
	for _, path := range []string{
		"/api/v1/webhooks/" + f.webhook,
		"/api/v1/webhooks/" + f.webhook + "/deliveries",
		"/api/v1/events/" + f.event,
		"/api/v1/deliveries/" + f.delivery,
		"/api/v1/deliveries/" + f.delivery + "/attempts",
		"/api/v1/webhooks",
	} {
		r := e.must(http.StatusOK, "GET", path, f.key, nil, nil)
		parts = append(parts, string(r.body))
	}
	r := e.must(http.StatusOK, "GET", "/api/v1/tenants/"+f.id, e.adminKey, nil, nil)
	return strings.Join(append(parts, string(r.body)), "\n")
}
