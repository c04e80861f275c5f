package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestPrivateEndpointsRefused registers loopback, private, link-local and metadata
// endpoints with private networks not allowed: each is refused with a 422 that names
// the flag to change, and nothing is stored.
func TestPrivateEndpointsRefused(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir(), "--allow-private-networks=false")
	for _, url := range []string{
		"http://127.0.0.1/hook",
		"http://[::1]/hook",
		"http://10.0.0.1/hook",
		"http://169.254.169.254/latest/meta-data",
		"http://localhost:8080/hook", // a host name that resolves to loopback
		"http://[::ffff:127.0.0.1]/hook",
		"http://2130706433/hook", // 127.0.0.1 as a decimal number
	} {
		var e apiError
		code := api(t, srv.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{"name": "x", "url": url}, &e)
		if code != 422 || !contains(e.Error+e.Details, "--allow-private-networks") {
			t.Errorf("%s: %d %q, want 422 naming --allow-private-networks", url, code, e.Error)
		}
	}
	var list []webhookResource
	if code := api(t, srv.URL, "GET", "/api/v1/webhooks", testAdminKey, nil, &list); code != 200 || len(list) != 0 {
		t.Fatalf("after refusals: %d webhooks stored (status %d), want 0", len(list), code)
	}
}

type deliveryResource struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Attempts []struct {
		Number     int    `json:"number"`
		StatusCode int    `json:"status_code"`
		Error      string `json:"error"`
	} `json:"attempts"`
}

// TestRetryTestAndRecover drives a webhook through failure and repair over the API
// with a shortened schedule: retries run out and the delivery fails; a manual retry
// and a recover send it again; the test endpoint reports a ping's result.
func TestRetryTestAndRecover(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir(), "--retry-schedule", "50ms,50ms")
	rc := newReceiver(t)
	rc.setStatus(http.StatusServiceUnavailable)
	var wh webhookResource
	if code := api(t, srv.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{
		"name": "flaky", "url": rc.URL, "format": "infraaudit", "events": []string{"drift.detected"},
	}, &wh); code != 201 {
		t.Fatalf("create webhook: %d", code)
	}
	publish := func() {
		t.Helper()
		if code := api(t, srv.URL, "POST", "/api/v1/events", testAdminKey, map[string]any{
			"type": "drift.detected", "data": seedExamples(t)["drift.detected"],
		}, nil); code != 202 {
			t.Fatalf("publish: %d", code)
		}
	}
	failed := func(n int) []deliveryResource {
		t.Helper()
		var ds []deliveryResource
		waitUntil(t, 10*time.Second, func() bool {
			ds = nil
			api(t, srv.URL, "GET", fmt.Sprintf("/api/v1/webhooks/%s/deliveries?status=failed&event_type=drift.detected", wh.ID), testAdminKey, nil, &ds)
			return len(ds) == n
		})
		return ds
	}

	publish()
	d := failed(1)[0]
	if len(d.Attempts) != 3 || d.Attempts[2].StatusCode != 503 {
		t.Fatalf("failed delivery has %d attempts, want 3 (first + 2 retries) ending in 503: %+v", len(d.Attempts), d.Attempts)
	}

	rc.setStatus(http.StatusOK)
	var retried deliveryResource
	if code := api(t, srv.URL, "POST", "/api/v1/deliveries/"+d.ID+"/retry", testAdminKey, nil, &retried); code != 200 {
		t.Fatalf("retry: %d", code)
	}
	if retried.Status != "success" || len(retried.Attempts) != 4 {
		t.Fatalf("after manual retry: %s with %d attempts, want success with 4", retried.Status, len(retried.Attempts))
	}

	rc.setStatus(http.StatusInternalServerError)
	since := time.Now().UTC().Format(time.RFC3339Nano)
	publish()
	failed(1)
	rc.setStatus(http.StatusOK)
	var rec struct {
		Requeued int `json:"requeued"`
	}
	if code := api(t, srv.URL, "POST", "/api/v1/webhooks/"+wh.ID+"/recover", testAdminKey, map[string]any{"since": since}, &rec); code != 202 || rec.Requeued != 1 {
		t.Fatalf("recover: %d requeued %d, want 202 and 1", code, rec.Requeued)
	}
	failed(0)

	var res struct {
		DeliveryID string `json:"delivery_id"`
		Success    bool   `json:"success"`
		StatusCode int    `json:"status_code"`
	}
	if code := api(t, srv.URL, "POST", "/api/v1/webhooks/"+wh.ID+"/test", testAdminKey, nil, &res); code != 200 || !res.Success || res.StatusCode != 200 {
		t.Fatalf("test ping: %d %+v, want a successful 200", code, res)
	}
}
