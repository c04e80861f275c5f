package main

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTenantsMatrixOnRealServer runs the API's hostile-tenant defences through a real
// `herald serve` and its HTTP server, where the in-process tests of httpapi cannot
// reach: tenant A's key against tenant B's ids over the wire, the --api-rate-limit flag
// (429 with an honest Retry-After; operations endpoints never limited), the server's
// header limit (431) and its body limits (413).
func TestTenantsMatrixOnRealServer(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir(), "--api-rate-limit", "2")
	rc := newReceiver(t)

	keys := map[string]string{}
	for _, id := range []string{"team_a", "team_b"} {
		var tenant struct {
			APIKey string `json:"api_key"`
		}
		if code := api(t, srv.URL, "POST", "/api/v1/tenants", testAdminKey, map[string]any{"id": id, "name": id}, &tenant); code != 201 {
			t.Fatalf("create tenant %s: %d", id, code)
		}
		keys[id] = tenant.APIKey
	}
	var hookB webhookResource
	if code := api(t, srv.URL, "POST", "/api/v1/webhooks", testAdminKey,
		map[string]any{"name": "b", "url": rc.URL, "tenant_id": "team_b"}, &hookB); code != 201 {
		t.Fatalf("create B's webhook: %d", code)
	}

	// Tenant A's key against B: 404 for B's webhook, 403 for B's tenant_id, 403 for
	// admin routes. Four requests: within A's burst of 2×2.
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/api/v1/webhooks/" + hookB.ID, 404},
		{"DELETE", "/api/v1/webhooks/" + hookB.ID, 404},
		{"GET", "/api/v1/webhooks?tenant_id=team_b", 403},
		{"GET", "/api/v1/tenants/team_b", 403},
	} {
		if code := api(t, srv.URL, c.method, c.path, keys["team_a"], nil, nil); code != c.want {
			t.Errorf("%s %s with A's key: %d, want %d", c.method, c.path, code, c.want)
		}
	}
	if code := api(t, srv.URL, "GET", "/api/v1/webhooks/"+hookB.ID, keys["team_b"], nil, nil); code != 200 {
		t.Errorf("B's webhook after A's attempts: %d, want 200 (still there)", code)
	}

	// A's burst is spent: 429 with Retry-After, in the error shape.
	resp := matrixRequest(t, srv.URL+"/api/v1/webhooks", keys["team_a"], nil)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("A's fifth request at 2/s: %d, want 429", resp.StatusCode)
	}
	wait, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || wait < 1 {
		t.Fatalf("Retry-After %q, want whole seconds", resp.Header.Get("Retry-After"))
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json"} {
		want := http.StatusOK
		if path == "/metrics" {
			want = http.StatusUnauthorized // never a tenant key's; but not 429
		}
		for range 5 {
			if r := matrixRequest(t, srv.URL+path, keys["team_a"], nil); r.StatusCode != want {
				t.Fatalf("GET %s while A is limited: %d, want %d", path, r.StatusCode, want)
			}
		}
	}
	// The admin key is not limited by default: the producer's publishing is not throttled.
	for range 10 {
		if r := matrixRequest(t, srv.URL+"/api/v1/tenants", testAdminKey, nil); r.StatusCode != 200 {
			t.Fatalf("admin key: %d", r.StatusCode)
		}
	}
	time.Sleep(time.Duration(wait) * time.Second)
	if r := matrixRequest(t, srv.URL+"/api/v1/webhooks", keys["team_a"], nil); r.StatusCode != 200 {
		t.Fatalf("after waiting Retry-After (%d s): %d, want 200", wait, r.StatusCode)
	}

	// Gigantic headers: 431 from the server, before any handler.
	req, err := http.NewRequest("GET", srv.URL+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Padding", strings.Repeat("a", 200<<10))
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("request with a 200 KiB header: %v", err)
	}
	_ = r.Body.Close() // only the status matters
	if r.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("200 KiB header: %d, want 431", r.StatusCode)
	}

	// Bodies over the limits: 413, for the single endpoint and the batch.
	for _, c := range []struct {
		path string
		size int
	}{{"/api/v1/events", 1<<20 + 1}, {"/api/v1/events/batch", 16<<20 + 1}} {
		body := `{"type":"ping","data":{"pad":"` + strings.Repeat("x", c.size) + `"}}`
		if r := matrixRequest(t, srv.URL+c.path, testAdminKey, []byte(body)); r.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("POST %s with %d bytes: %d, want 413", c.path, len(body), r.StatusCode)
		}
	}
}

// matrixRequest makes a request as key (a POST when body is not nil) and returns the response,
// its body read and closed.
func matrixRequest(t *testing.T, url, key string, body []byte) *http.Response {
	t.Helper()
	method := "GET"
	if body != nil {
		method = "POST"
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body) // drained so the connection is reused; the status is what matters
	_ = resp.Body.Close()
	return resp
}
