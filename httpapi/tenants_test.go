package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

func TestTenants(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var created struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		NotifyEmail string `json:"notify_email"`
		APIKey      string `json:"api_key"`
	}
	e.must(http.StatusCreated, "POST", "/api/v1/tenants", e.adminKey, map[string]any{"name": "Acme", "notify_email": "ops@acme.test"}, &created)
	if !strings.HasPrefix(created.ID, herald.PrefixTenant) || created.Name != "Acme" || created.NotifyEmail != "ops@acme.test" ||
		!strings.HasPrefix(created.APIKey, herald.PrefixTenantKey) {
		t.Errorf("created %+v", created)
	}
	// The key works, and is stored only as its hash.
	e.must(http.StatusOK, "GET", "/api/v1/webhooks", created.APIKey, nil, nil)
	if tn, err := e.store.TenantByKeyHash(context.Background(), herald.HashKey(created.APIKey), time.Now()); err != nil || tn.ID != created.ID {
		t.Errorf("TenantByKeyHash: %+v, %v", tn, err)
	}
	r := e.must(http.StatusOK, "GET", "/api/v1/tenants/"+created.ID, e.adminKey, nil, nil)
	if strings.Contains(string(r.body), created.APIKey) || strings.Contains(string(r.body), "api_key") {
		t.Errorf("GET tenant shows the key: %s", r.body)
	}
	var list []map[string]any
	r = e.must(http.StatusOK, "GET", "/api/v1/tenants", e.adminKey, nil, &list)
	if len(list) != 2 || list[0]["id"] != created.ID || r.header.Get("X-Total-Count") != "2" {
		t.Errorf("tenants %v, want the new one first, then default", list)
	}
	if strings.Contains(string(r.body), "api_key") {
		t.Errorf("the tenant list shows keys")
	}

	for _, tt := range []struct {
		name   string
		body   any
		status int
	}{
		{"duplicate id", map[string]any{"id": created.ID, "name": "again"}, 409},
		{"bad id", map[string]any{"id": "no spaces", "name": "x"}, 422},
		{"id too long", map[string]any{"id": strings.Repeat("a", 65), "name": "x"}, 422},
		{"no name", map[string]any{"id": "team_x"}, 422},
		{"blank name", map[string]any{"id": "team_x", "name": " "}, 422},
		{"bad email", map[string]any{"name": "x", "notify_email": "not-an-email"}, 422},
		{"email with a display name", map[string]any{"name": "x", "notify_email": "Ops <ops@acme.test>"}, 422},
		{"malformed", `{"name":`, 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code := map[int]string{400: herald.EMALFORMED, 409: herald.ECONFLICT, 422: herald.EINVALID}[tt.status]
			checkError(t, e.do("POST", "/api/v1/tenants", e.adminKey, tt.body), tt.status, code)
		})
	}
	if ts, _ := e.store.Tenants(context.Background()); len(ts) != 2 {
		t.Errorf("%d tenants after refusals, want 2", len(ts))
	}

	e.must(http.StatusCreated, "POST", "/api/v1/tenants", e.adminKey, map[string]any{"id": "team_xyz", "name": "Frugally team"}, nil)
	checkError(t, e.do("DELETE", "/api/v1/tenants/default", e.adminKey, nil), 409, herald.ECONFLICT)
	e.must(http.StatusNoContent, "DELETE", "/api/v1/tenants/team_xyz", e.adminKey, nil, nil)
	checkError(t, e.do("GET", "/api/v1/tenants/team_xyz", e.adminKey, nil), 404, herald.ENOTFOUND)
	checkError(t, e.do("DELETE", "/api/v1/tenants/team_xyz", e.adminKey, nil), 404, herald.ENOTFOUND)
}

func TestEventTypes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	type entry struct {
		Type        string          `json:"type"`
		Description string          `json:"description"`
		Schema      json.RawMessage `json:"schema"`
		Sample      json.RawMessage `json:"sample"`
	}
	var types, hookTypes []entry
	e.must(http.StatusOK, "GET", "/api/v1/event-types", e.adminKey, nil, &types)
	e.must(http.StatusOK, "GET", "/api/v1/webhooks/events", e.adminKey, nil, &hookTypes)
	if len(types) != 25 || len(hookTypes) != 25 {
		t.Fatalf("catalog lists %d and %d types, want the 25 built-in", len(types), len(hookTypes))
	}
	for _, et := range types {
		if et.Type == "" || et.Description == "" || len(et.Schema) == 0 || len(et.Sample) == 0 {
			t.Errorf("catalog entry incomplete: %+v", et)
		}
	}

	custom := map[string]any{
		"type": "invoice.paid", "description": "An invoice is paid",
		"schema": map[string]any{"type": "object", "required": []string{"amount"}, "properties": map[string]any{"amount": map[string]any{"type": "number"}}},
		"sample": map[string]any{"amount": 12.5},
	}
	var got entry
	e.must(http.StatusCreated, "POST", "/api/v1/event-types", e.adminKey, custom, &got)
	if got.Type != "invoice.paid" || string(got.Sample) != `{"amount":12.5}` {
		t.Errorf("created %+v", got)
	}
	checkError(t, e.do("POST", "/api/v1/event-types", e.adminKey, custom), 409, herald.ECONFLICT)
	custom["type"] = "drift.detected"
	checkError(t, e.do("POST", "/api/v1/event-types", e.adminKey, custom), 409, herald.ECONFLICT)
	checkError(t, e.do("POST", "/api/v1/event-types", e.adminKey, map[string]any{"type": "bad.schema", "description": "", "schema": map[string]any{"type": 5}}), 422, herald.EINVALID)
	checkError(t, e.do("POST", "/api/v1/event-types", e.adminKey, map[string]any{"type": "no.schema", "description": ""}), 422, herald.EINVALID)

	stored, err := e.store.EventTypes(context.Background())
	if err != nil || len(stored) != 1 || stored[0].Type != "invoice.paid" {
		t.Errorf("stored event types %+v (err %v)", stored, err)
	}
	e.must(http.StatusOK, "GET", "/api/v1/event-types", e.adminKey, nil, &types)
	if len(types) != 26 {
		t.Errorf("catalog lists %d types after adding one", len(types))
	}
	e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, map[string]any{"type": "invoice.paid", "data": map[string]any{"amount": 3}}, nil)
	w := e.createWebhook(e.adminKey, map[string]any{"events": []string{"invoice.paid"}})
	if len(w.Events) != 1 {
		t.Errorf("subscribing to the custom type: %+v", w)
	}
}
