package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/catalog/catalogtest"
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
			"type": "drift.detected", "data": catalogtest.SeedExamples(t)["drift.detected"],
		}, nil); code != 202 {
			t.Fatalf("publish: %d", code)
		}
	}
	failed := func(n int) []deliveryResource {
		t.Helper()
		var ds []deliveryResource
		if !waitUntil(10*time.Second, func() bool {
			ds = nil
			api(t, srv.URL, "GET", fmt.Sprintf("/api/v1/webhooks/%s/deliveries?status=failed&event_type=drift.detected", wh.ID), testAdminKey, nil, &ds)
			return len(ds) == n
		}) {
			t.Fatalf("%d failed deliveries after 10s, want %d", len(ds), n)
		}
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

// TestRotationGracePeriod rotates the secrets of a standard and a frugally webhook with
// a grace period: standard deliveries carry two signatures, one per secret; frugally
// keeps its main header on the old secret and adds the -Next header on the new one.
func TestRotationGracePeriod(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir())
	for _, f := range []string{"standard", "frugally"} {
		rc := newReceiver(t)
		var wh webhookResource
		if code := api(t, srv.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{
			"name": f, "url": rc.URL, "format": f, "events": []string{"schedule.paused"},
		}, &wh); code != 201 {
			t.Fatalf("create %s webhook: %d", f, code)
		}
		rc.waitFor(t, 1, 10*time.Second) // the creation ping
		var rotated struct {
			Secret string `json:"secret"`
		}
		if code := api(t, srv.URL, "POST", "/api/v1/webhooks/"+wh.ID+"/rotate-secret", testAdminKey,
			map[string]any{"grace_period_seconds": 3600}, &rotated); code != 200 || rotated.Secret == "" || rotated.Secret == wh.Secret {
			t.Fatalf("%s rotate: %d, new secret %q", f, code, rotated.Secret)
		}
		if code := api(t, srv.URL, "POST", "/api/v1/events", testAdminKey, map[string]any{
			"type": "schedule.paused", "data": catalogtest.SeedExamples(t)["schedule.paused"],
		}, nil); code != 202 {
			t.Fatalf("publish: %d", code)
		}
		req := rc.waitFor(t, 2, 10*time.Second)[1]

		switch f {
		case "standard":
			if sigs := strings.Fields(req.Header.Get("webhook-signature")); len(sigs) != 2 {
				t.Fatalf("standard during grace: webhook-signature %q, want two signatures", sigs)
			}
			for _, secret := range []string{wh.Secret, rotated.Secret} {
				verifySignature(t, "standard", "", secret, req)
			}
		case "frugally":
			sign := func(secret string) string {
				mac := hmac.New(sha256.New, []byte(secret))
				mac.Write(req.Body)
				return "sha256=" + hex.EncodeToString(mac.Sum(nil))
			}
			if got := req.Header.Get("X-Frugally-Signature"); got != sign(wh.Secret) {
				t.Errorf("frugally during grace: main header %q, want the old secret's %q", got, sign(wh.Secret))
			}
			if got := req.Header.Get("X-Frugally-Signature-Next"); got != sign(rotated.Secret) {
				t.Errorf("frugally during grace: -Next header %q, want the new secret's %q", got, sign(rotated.Secret))
			}
		}
	}
}
