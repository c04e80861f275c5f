package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/httpapi"
)

func TestOpenAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.must(http.StatusOK, "GET", "/openapi.json", "", nil, nil)
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			OperationID string                         `json:"operationId"`
			Summary     string                         `json:"summary"`
			Tags        []string                       `json:"tags"`
			Security    []map[string][]string          `json:"security"`
			Responses   map[string]json.RawMessage     `json:"responses"`
			RequestBody map[string]json.RawMessage     `json:"requestBody"`
			Parameters  []map[string]json.RawMessage   `json:"parameters"`
			Extra       map[string]map[string]struct{} `json:"-"`
		} `json:"paths"`
		Components struct {
			SecuritySchemes map[string]struct {
				Type   string `json:"type"`
				Scheme string `json:"scheme"`
				In     string `json:"in"`
				Name   string `json:"name"`
			} `json:"securitySchemes"`
		} `json:"components"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	want := map[string][]string{
		"/api/v1/tenants":                     {"get", "post"},
		"/api/v1/tenants/{id}":                {"get", "patch", "delete"},
		"/api/v1/tenants/{id}/rotate-key":     {"post"},
		"/api/v1/tenants/{id}/portal-links":   {"post"},
		"/api/v1/events":                      {"post"},
		"/api/v1/events/batch":                {"post"},
		"/api/v1/events/{id}":                 {"get"},
		"/api/v1/webhooks":                    {"get", "post"},
		"/api/v1/webhooks/{id}":               {"get", "put", "patch", "delete"},
		"/api/v1/webhooks/events":             {"get"},
		"/api/v1/event-types":                 {"get", "post"},
		"/api/v1/webhooks/{id}/test":          {"post"},
		"/api/v1/webhooks/{id}/deliveries":    {"get"},
		"/api/v1/webhooks/{id}/rotate-secret": {"post"},
		"/api/v1/webhooks/{id}/reveal-secret": {"post"},
		"/api/v1/webhooks/{id}/recover":       {"post"},
		"/api/v1/webhooks/{id}/replay":        {"post"},
		"/api/v1/filters/test":                {"post"},
		"/api/v1/deliveries":                  {"get"},
		"/api/v1/deliveries/{id}":             {"get"},
		"/api/v1/deliveries/{id}/retry":       {"post"},
		"/api/v1/deliveries/{id}/attempts":    {"get"},
		"/api/v1/deliveries/{id}/skip":        {"post"},
		"/api/v1/webhooks/{id}/blocked-keys":  {"get"},
		"/healthz":                            {"get"},
		"/readyz":                             {"get"},
		"/metrics":                            {"get"},
		"/openapi.json":                       {"get"},
	}
	ids := map[string]bool{}
	for path, methods := range want {
		for _, m := range methods {
			op, ok := doc.Paths[path][m]
			if !ok {
				t.Errorf("%s %s is missing", strings.ToUpper(m), path)
				continue
			}
			if op.OperationID == "" || op.Summary == "" || len(op.Tags) == 0 {
				t.Errorf("%s %s lacks an operation id, summary or tag", m, path)
			}
			if ids[op.OperationID] {
				t.Errorf("operation id %q used twice", op.OperationID)
			}
			ids[op.OperationID] = true
			authed := strings.HasPrefix(path, "/api/")
			if authed != (len(op.Security) == 2) {
				t.Errorf("%s %s security %v", m, path, op.Security)
			}
		}
	}
	if len(doc.Paths) != len(want) {
		t.Errorf("%d paths documented, want %d", len(doc.Paths), len(want))
	}
	if s := doc.Components.SecuritySchemes["bearer"]; s.Type != "http" || s.Scheme != "bearer" {
		t.Errorf("bearer scheme %+v", s)
	}
	if s := doc.Components.SecuritySchemes["apiKey"]; s.Type != "apiKey" || s.In != "header" || s.Name != "X-API-Key" {
		t.Errorf("apiKey scheme %+v", s)
	}
	if strings.Contains(string(r.body), `"$schema"`) {
		t.Errorf("the description adds $schema fields to responses")
	}
	for _, path := range []string{"/docs", "/schemas/Webhook.json", "/openapi.yaml"} {
		checkError(t, e.do("GET", path, "", nil), 404, herald.ENOTFOUND)
	}
}

func TestResponsesHaveNoSchemaLinks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.createWebhook(e.adminKey, nil)
	for _, path := range []string{"/api/v1/webhooks/" + w.ID, "/api/v1/webhooks", "/healthz"} {
		r := e.must(http.StatusOK, "GET", path, e.adminKey, nil, nil)
		if strings.Contains(string(r.body), "$schema") || r.header.Get("Link") != "" {
			t.Errorf("GET %s carries a schema link: %v %s", path, r.header, r.body)
		}
	}
}

func TestErrorShape(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tt := range []struct {
		name   string
		method string
		path   string
		body   any
		status int
		code   string
	}{
		{"unknown route", "GET", "/api/v1/nothing", nil, 404, herald.ENOTFOUND},
		{"unknown top-level route", "GET", "/", nil, 404, herald.ENOTFOUND},
		{"trailing slash", "GET", "/api/v1/webhooks/", nil, 404, herald.ENOTFOUND},
		{"wrong method", "DELETE", "/api/v1/events", nil, 405, herald.ENOTFOUND},
		{"huma query validation", "GET", "/api/v1/webhooks?per_page=abc", nil, 422, herald.EINVALID},
		{"huma body validation", "POST", "/api/v1/webhooks", map[string]any{"name": 5, "url": hookURL}, 422, herald.EINVALID},
		{"huma parse error", "POST", "/api/v1/webhooks", `[1,2`, 400, herald.EMALFORMED},
		{"body of the wrong JSON type", "POST", "/api/v1/webhooks", `[]`, 422, herald.EINVALID},
		{"body too large", "POST", "/api/v1/tenants", `{"name":"` + strings.Repeat("x", 1<<20) + `"}`, 413, herald.ETOOLARGE},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := checkError(t, e.do(tt.method, tt.path, e.adminKey, tt.body), tt.status, tt.code)
			if tt.status == 405 && !strings.Contains(*b.Details, "POST") {
				t.Errorf("405 details %q do not list the allowed method", *b.Details)
			}
		})
	}
	b := checkError(t, e.do("GET", "/api/v1/webhooks?per_page=abc", e.adminKey, nil), 422, herald.EINVALID)
	if !strings.Contains(*b.Details, "per_page") {
		t.Errorf("validation details %q do not name the parameter", *b.Details)
	}
	r := e.do("POST", "/api/v1/webhooks", e.adminKey, `{"name":"x","url":"`+hookURL+`","secret":5}`)
	checkError(t, r, 422, herald.EINVALID)
	// A body of exactly 1 MiB is not over the limit.
	exact := `{"name":"` + strings.Repeat("x", 1<<20-len(`{"name":""}`)) + `"}`
	if len(exact) != 1<<20 {
		t.Fatalf("built %d bytes", len(exact))
	}
	r = e.do("POST", "/api/v1/tenants", e.adminKey, exact)
	checkError(t, r, 422, herald.EINVALID) // the name is too long, but the size is fine
}

func TestHealthReadyMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var health struct {
		Status, Version string
	}
	e.must(http.StatusOK, "GET", "/healthz", "", nil, &health)
	if health.Status != "ok" || health.Version != "test" {
		t.Errorf("healthz %+v", health)
	}
	e.must(http.StatusOK, "GET", "/readyz", "", nil, nil)
	e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, driftEvent(nil), nil)
	e.do("GET", "/nowhere", "", nil)

	r := e.must(http.StatusOK, "GET", "/metrics", e.adminKey, nil, nil)
	for _, want := range []string{
		`herald_events_accepted_total{type="drift.detected"} 1`,
		`herald_api_requests_total{route="POST /api/v1/events",status="202"} 1`,
		`herald_api_requests_total{route="unmatched",status="404"} 1`,
		`herald_api_request_duration_seconds_bucket{route="GET /readyz"`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	r = e.do("GET", "/readyz", "", nil)
	checkError(t, r, http.StatusServiceUnavailable, herald.EUNAVAILABLE)
	if r.header.Get("Retry-After") != "1" {
		t.Errorf("503 without Retry-After: 1")
	}
	e.must(http.StatusOK, "GET", "/healthz", "", nil, nil)
}

// flakyStore fails the calls a test picks.
type flakyStore struct {
	herald.Store
	publishErr error
}

func (s *flakyStore) Publish(ctx context.Context, ps []herald.Publication) ([]herald.PublishResult, error) {
	if s.publishErr != nil {
		return nil, s.publishErr
	}
	return s.Store.Publish(ctx, ps)
}

func TestStoreFailures(t *testing.T) {
	t.Parallel()
	flaky := &flakyStore{}
	e := newEnv(t, func(c *httpapi.Config) {
		flaky.Store = c.Store
		c.Store = flaky
	})

	flaky.publishErr = herald.Errorf(herald.EUNAVAILABLE, "the database is read-only")
	r := e.do("POST", "/api/v1/events", e.adminKey, driftEvent(nil))
	checkError(t, r, http.StatusServiceUnavailable, herald.EUNAVAILABLE)
	if r.header.Get("Retry-After") != "1" {
		t.Errorf("503 without Retry-After: 1")
	}
	checkError(t, e.do("POST", "/api/v1/events/batch", e.adminKey, map[string]any{"events": []any{driftEvent(nil)}}), 503, herald.EUNAVAILABLE)

	flaky.publishErr = errorString("disk I/O error at /var/lib/secret-path")
	r = e.do("POST", "/api/v1/events", e.adminKey, driftEvent(nil))
	b := checkError(t, r, http.StatusInternalServerError, herald.EINTERNAL)
	if strings.Contains(string(r.body), "secret-path") || *b.Error != "internal error" {
		t.Errorf("a 500 reveals the internal error: %s", r.body)
	}
	if e.disp.Wakes() != 0 {
		t.Errorf("failed publishes woke the dispatcher")
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

func TestPanicIsA500(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.createWebhook(e.adminKey, nil)
	e.disp.deliver = func(context.Context, string) (*herald.Attempt, error) { panic("dispatcher bug") }
	r := e.do("POST", "/api/v1/webhooks/"+w.ID+"/test", e.adminKey, nil)
	checkError(t, r, http.StatusInternalServerError, herald.EINTERNAL)
	// The server goes on.
	e.must(http.StatusOK, "GET", "/api/v1/webhooks/"+w.ID, e.adminKey, nil, nil)
	metrics := string(e.must(http.StatusOK, "GET", "/metrics", e.adminKey, nil, nil).body)
	if !strings.Contains(metrics, `route="POST /api/v1/webhooks/{id}/test",status="500"`) {
		t.Errorf("the panic was not counted as a 500")
	}
}

func TestTwoHandlersShareARegistry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := httpapi.Config{Store: e.store, Catalog: e.catalog, Dispatcher: e.disp, URLs: nopURLs{}, Metrics: e.metrics}
	h := httpapi.New(cfg) // registers the same series again: must not panic
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))
	e.must(http.StatusOK, "GET", "/healthz", "", nil, nil)
	metrics := string(e.must(http.StatusOK, "GET", "/metrics", e.adminKey, nil, nil).body)
	if !strings.Contains(metrics, `herald_api_requests_total{route="GET /healthz",status="200"} 2`) {
		t.Errorf("the two handlers do not share their series")
	}
}

type nopURLs struct{}

func (nopURLs) CheckURL(context.Context, string) error { return nil }

// TestOpenAPIErrorSchema: the error body is documented once, as ApiError, with every
// error code and a description of each field.
func TestOpenAPIErrorSchema(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Description string   `json:"description"`
					Enum        []string `json:"enum"`
				} `json:"properties"`
				Required []string `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	e.must(http.StatusOK, "GET", "/openapi.json", "", nil, &doc)
	s, ok := doc.Components.Schemas["ApiError"]
	if !ok {
		t.Fatal("no ApiError schema")
	}
	if got, want := strings.Join(s.Properties["code"].Enum, ","), strings.Join(herald.ErrorCodes(), ","); got != want {
		t.Errorf("code enum %s, want %s", got, want)
	}
	for _, name := range []string{"error", "code", "details"} {
		if s.Properties[name].Description == "" {
			t.Errorf("%s has no description", name)
		}
	}
	if got := strings.Join(s.Required, ","); got != "error,code,details" {
		t.Errorf("required %s, want error,code,details", got)
	}
}
