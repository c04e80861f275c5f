package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/egress"
	"github.com/heraldhq/herald/httpapi"
	"github.com/heraldhq/herald/webhook"
)

func TestWebhookCreateRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	valid := func(extra map[string]any) map[string]any {
		b := map[string]any{"name": "hook", "url": hookURL}
		for k, v := range extra {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		return b
	}
	tests := []struct {
		name     string
		body     any
		status   int
		contains string
	}{
		{"malformed JSON", `{"name":`, 400, ""},
		{"missing name", valid(map[string]any{"name": nil}), 422, ""},
		{"blank name", valid(map[string]any{"name": "   "}), 422, "name"},
		{"name too long", valid(map[string]any{"name": strings.Repeat("n", 201)}), 422, ""},
		{"missing url", valid(map[string]any{"url": nil}), 422, ""},
		{"url not http", valid(map[string]any{"url": "ftp://127.0.0.1/x"}), 422, "http"},
		{"url relative", valid(map[string]any{"url": "/hook"}), 422, ""},
		{"url with credentials", valid(map[string]any{"url": "http://u:p@127.0.0.1/x"}), 422, "credentials"},
		{"unknown event type", valid(map[string]any{"events": []string{"drift.detected", "nope"}}), 422, `"nope"`},
		{"unknown format", valid(map[string]any{"format": "xml"}), 422, ""},
		{"short standard secret", valid(map[string]any{"secret": "whsec_c2hvcnQ="}), 422, "24 to 64 bytes"},
		{"standard secret without prefix", valid(map[string]any{"secret": strings.Repeat("a", 40)}), 422, "whsec_"},
		{"short infraaudit secret", valid(map[string]any{"format": "infraaudit", "secret": "short"}), 422, "16 to 256"},
		{"secret with an ed25519 prefix", valid(map[string]any{"format": "infraaudit", "secret": "whsk_abcdefghijklmnop"}), 422, "whsk_"},
		{"negative rate limit", valid(map[string]any{"rate_limit": -1}), 422, ""},
		{"reserved header", valid(map[string]any{"headers": map[string]string{"Content-Type": "text/plain"}}), 422, "Content-Type"},
		{"signature header", valid(map[string]any{"headers": map[string]string{"webhook-signature": "v1,x"}}), 422, ""},
		{"bad header name", valid(map[string]any{"headers": map[string]string{"X Bad": "1"}}), 422, ""},
		{"header value with newline", valid(map[string]any{"headers": map[string]string{"X-Ok": "a\r\nX-Evil: 1"}}), 422, ""},
		{"same header twice", valid(map[string]any{"headers": map[string]string{"x-team": "a", "X-Team": "b"}}), 422, "twice"},
		{"tenant_id naming no tenant", valid(map[string]any{"tenant_id": "ghost"}), 422, `"ghost"`},
		{"unknown field", valid(map[string]any{"colour": "blue"}), 422, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("POST", "/api/v1/webhooks", e.adminKey, tt.body)
			code := herald.EINVALID
			if tt.status == 400 {
				code = herald.EMALFORMED
			}
			b := checkError(t, r, tt.status, code)
			if tt.contains != "" && !strings.Contains(*b.Error, tt.contains) {
				t.Errorf("error %q does not contain %q", *b.Error, tt.contains)
			}
			if strings.Contains(string(r.body), "whsec_c2hvcnQ=") || strings.Contains(string(r.body), strings.Repeat("a", 40)) {
				t.Errorf("the error echoes the secret: %s", r.body)
			}
		})
	}
	if _, total, err := e.store.Webhooks(context.Background(), herald.WebhookFilter{}); err != nil || total != 0 {
		t.Errorf("refused registrations stored %d webhooks (err %v)", total, err)
	}
	if n := e.countDeliveries(herald.DeliveryFilter{}); n != 0 || e.disp.Wakes() != 0 {
		t.Errorf("refused registrations made %d deliveries, %d wakes", n, e.disp.Wakes())
	}
}

func TestWebhookPrivateURLRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *httpapi.Config) { c.URLs = &egress.Guard{} })
	r := e.do("POST", "/api/v1/webhooks", e.adminKey, map[string]any{"name": "hook", "url": "http://127.0.0.1:8080/hook"})
	b := checkError(t, r, 422, herald.EINVALID)
	if !strings.Contains(*b.Error, "--allow-private-networks") {
		t.Errorf("refusal %q does not name --allow-private-networks", *b.Error)
	}
	if _, total, _ := e.store.Webhooks(context.Background(), herald.WebhookFilter{}); total != 0 {
		t.Errorf("a refused webhook was stored")
	}
}

func TestWebhookCreateSendsPingAndShowsSecretOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.createWebhook(e.adminKey, map[string]any{
		"events":  []string{"drift.detected", "drift.detected", "alert.created"},
		"headers": map[string]string{"x-team": "infra"},
		"format":  "frugally",
		"secret":  "my-own-secret-1234567890",
	})
	if w.Secret != "my-own-secret-1234567890" || w.Format != "frugally" || w.TenantID != herald.DefaultTenantID || !w.Enabled {
		t.Errorf("created %+v", w)
	}
	if fmt.Sprint(w.Events) != "[drift.detected alert.created]" || w.Headers["X-Team"] != "infra" {
		t.Errorf("events %v headers %v: want repeats dropped and canonical header names", w.Events, w.Headers)
	}
	if e.disp.Wakes() != 1 {
		t.Errorf("creation woke the dispatcher %d times, want 1", e.disp.Wakes())
	}

	var ds []herald.Delivery
	e.must(http.StatusOK, "GET", "/api/v1/webhooks/"+w.ID+"/deliveries", e.adminKey, nil, &ds)
	if len(ds) != 1 || ds[0].EventType != herald.PingType || ds[0].Status != herald.StatusPending {
		t.Fatalf("deliveries after creation: %+v, want one pending ping", ds)
	}
	ev, err := e.store.Event(context.Background(), ds[0].EventID)
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]string
	if err := json.Unmarshal(ev.Data, &data); err != nil || data["webhook_id"] != w.ID || data["message"] != "Webhook endpoint verified" {
		t.Errorf("ping data %s", ev.Data)
	}

	// The ping went to this webhook only.
	other := e.createWebhook(e.adminKey, nil)
	if n := e.countDeliveries(herald.DeliveryFilter{WebhookID: w.ID}); n != 1 {
		t.Errorf("the second webhook's ping reached the first: %d deliveries", n)
	}

	// The secret never shows again.
	for _, path := range []string{"/api/v1/webhooks/" + w.ID, "/api/v1/webhooks", "/api/v1/webhooks/" + other.ID} {
		r := e.must(http.StatusOK, "GET", path, e.adminKey, nil, nil)
		if strings.Contains(string(r.body), w.Secret) || strings.Contains(string(r.body), `"secret"`) {
			t.Errorf("GET %s shows a secret: %s", path, r.body)
		}
	}
	r := e.must(http.StatusOK, "PATCH", "/api/v1/webhooks/"+w.ID, e.adminKey, map[string]any{"name": "renamed"}, nil)
	if strings.Contains(string(r.body), `"secret"`) {
		t.Errorf("PATCH shows a secret: %s", r.body)
	}

	// Created disabled: no ping, a reason.
	d := e.createWebhook(e.adminKey, map[string]any{"enabled": false})
	if d.Enabled || d.DisabledReason == "" {
		t.Errorf("created disabled: %+v", d)
	}
	if n := e.countDeliveries(herald.DeliveryFilter{WebhookID: d.ID}); n != 0 {
		t.Errorf("a disabled webhook got %d pings", n)
	}
	// Defaults: the configured format, a new whsec_ secret, events [] and headers {}.
	if other.Format != "standard" || !strings.HasPrefix(other.Secret, herald.SecretPrefix) ||
		other.Events == nil || other.Headers == nil {
		t.Errorf("defaults: %+v", other)
	}
}

func TestWebhookUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.createWebhook(e.adminKey, map[string]any{"events": []string{"drift.detected"}, "headers": map[string]string{"X-A": "1"}})
	path := "/api/v1/webhooks/" + w.ID

	var got webhookResp
	e.must(http.StatusOK, "PATCH", path, e.adminKey, map[string]any{"name": "renamed"}, &got)
	if got.Name != "renamed" || got.URL != hookURL || fmt.Sprint(got.Events) != "[drift.detected]" || got.Headers["X-A"] != "1" {
		t.Errorf("PATCH name changed more than the name: %+v", got)
	}
	got = webhookResp{}
	e.must(http.StatusOK, "PUT", path, e.adminKey, map[string]any{"events": []string{}, "headers": map[string]string{}}, &got)
	if got.Name != "renamed" || len(got.Events) != 0 || got.Events == nil || len(got.Headers) != 0 || got.Headers == nil {
		t.Errorf("PUT events and headers: %+v", got)
	}

	// Disable: a reason; pending deliveries fail. Enable: the reason goes.
	e.must(http.StatusOK, "PUT", path, e.adminKey, map[string]any{"enabled": false}, &got)
	if got.Enabled || got.DisabledReason != "disabled through the API" {
		t.Errorf("disabled: %+v", got)
	}
	if n := e.countDeliveries(herald.DeliveryFilter{WebhookID: w.ID, Status: herald.StatusPending}); n != 0 {
		t.Errorf("%d deliveries still pending after disabling", n)
	}
	e.must(http.StatusOK, "PATCH", path, e.adminKey, map[string]any{"enabled": true}, &got)
	if !got.Enabled || got.DisabledReason != "" {
		t.Errorf("enabled: %+v", got)
	}

	for _, tt := range []struct {
		name string
		body any
	}{
		{"empty name", map[string]any{"name": ""}},
		{"null name", `{"name":null}`},
		{"bad url", map[string]any{"url": "gopher://x"}},
		{"unknown type", map[string]any{"events": []string{"nope"}}},
		{"bad format", map[string]any{"format": "soap"}},
		{"reserved header", map[string]any{"headers": map[string]string{"Host": "x"}}},
		{"negative rate", map[string]any{"rate_limit": -5}},
		{"secret", map[string]any{"secret": "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
		{"tenant", map[string]any{"tenant_id": "default"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkError(t, e.do("PATCH", path, e.adminKey, tt.body), 422, herald.EINVALID)
		})
	}
	e.must(http.StatusOK, "GET", path, e.adminKey, nil, &got)
	if got.Name != "renamed" || got.URL != hookURL || !got.Enabled {
		t.Errorf("refused updates changed the webhook: %+v", got)
	}
	checkError(t, e.do("PATCH", "/api/v1/webhooks/wh_missing", e.adminKey, map[string]any{"name": "x"}), 404, herald.ENOTFOUND)

	e.must(http.StatusNoContent, "DELETE", path, e.adminKey, nil, nil)
	checkError(t, e.do("GET", path, e.adminKey, nil), 404, herald.ENOTFOUND)
	checkError(t, e.do("DELETE", path, e.adminKey, nil), 404, herald.ENOTFOUND)
}

func TestWebhookFormatChangeNeedsAStandardSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.createWebhook(e.adminKey, map[string]any{"format": "infraaudit", "secret": "plain-secret-of-infraaudit"})
	path := "/api/v1/webhooks/" + w.ID

	b := checkError(t, e.do("PATCH", path, e.adminKey, map[string]any{"format": "standard"}), 422, herald.EINVALID)
	if !strings.Contains(*b.Error, "rotate") {
		t.Errorf("refusal %q does not say to rotate the secret", *b.Error)
	}
	// A rotation with grace keeps the old secret in use: still refused.
	e.must(http.StatusOK, "POST", path+"/rotate-secret", e.adminKey, map[string]any{}, nil)
	checkError(t, e.do("PATCH", path, e.adminKey, map[string]any{"format": "standard"}), 422, herald.EINVALID)
	// Without grace, it goes.
	e.must(http.StatusOK, "POST", path+"/rotate-secret", e.adminKey, map[string]any{"grace_period_seconds": 0}, nil)
	var got webhookResp
	e.must(http.StatusOK, "PATCH", path, e.adminKey, map[string]any{"format": "standard"}, &got)
	if got.Format != "standard" {
		t.Errorf("format %q after the change", got.Format)
	}
	// Standard to frugally: any whsec_ secret is fine there.
	e.must(http.StatusOK, "PATCH", path, e.adminKey, map[string]any{"format": "frugally"}, nil)
}

func TestRotateSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.createWebhook(e.adminKey, nil)
	path := "/api/v1/webhooks/" + w.ID + "/rotate-secret"

	var out struct {
		Secret string `json:"secret"`
	}
	e.must(http.StatusOK, "POST", path, e.adminKey, nil, &out)
	if !strings.HasPrefix(out.Secret, herald.SecretPrefix) || out.Secret == w.Secret {
		t.Errorf("rotated secret %q (was %q)", out.Secret, w.Secret)
	}
	stored, err := e.store.Webhook(context.Background(), w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Secret != out.Secret || stored.PreviousSecret != w.Secret {
		t.Errorf("store has secret %q previous %q", stored.Secret, stored.PreviousSecret)
	}
	if d := time.Until(stored.PreviousSecretExpiresAt); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("default grace ends in %v, want 24 h", d)
	}

	mine := "whsec_" + strings.Repeat("QUFB", 11) // 33 bytes
	e.must(http.StatusOK, "POST", path, e.adminKey, map[string]any{"secret": mine, "grace_period_seconds": 60}, &out)
	if out.Secret != mine {
		t.Errorf("rotated to %q, want the caller's", out.Secret)
	}
	for _, body := range []map[string]any{
		{"grace_period_seconds": -1},
		{"grace_period_seconds": 30*24*3600 + 1},
		{"secret": "too-short"},
	} {
		r := e.do("POST", path, e.adminKey, body)
		checkError(t, r, 422, herald.EINVALID)
		if strings.Contains(string(r.body), "too-short") {
			t.Errorf("the refusal echoes the secret: %s", r.body)
		}
	}
}

func TestWebhookTestSendsPingNow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.createWebhook(e.adminKey, nil)
	wakes := e.disp.Wakes()
	var out struct {
		DeliveryID string  `json:"delivery_id"`
		Success    bool    `json:"success"`
		StatusCode int     `json:"status_code"`
		DurationMS int64   `json:"duration_ms"`
		Error      *string `json:"error"`
	}
	e.must(http.StatusOK, "POST", "/api/v1/webhooks/"+w.ID+"/test", e.adminKey, nil, &out)
	if !out.Success || out.StatusCode != 200 || out.DurationMS != 3 || out.Error != nil || out.DeliveryID == "" {
		t.Errorf("test answered %+v", out)
	}
	d, err := e.store.Delivery(context.Background(), out.DeliveryID)
	if err != nil || d.WebhookID != w.ID || d.EventType != herald.PingType || len(d.Attempts) != 1 {
		t.Errorf("test delivery %+v (err %v)", d, err)
	}
	if e.disp.Wakes() != wakes {
		t.Errorf("test woke the dispatcher, which would race DeliverNow")
	}

	// A failed send is reported, not an error.
	e.disp.deliver = func(_ context.Context, id string) (*herald.Attempt, error) {
		return &herald.Attempt{DeliveryID: id, StatusCode: 0, DurationMS: 10000, Error: "timeout after 10s"}, nil
	}
	r := e.must(http.StatusOK, "POST", "/api/v1/webhooks/"+w.ID+"/test", e.adminKey, nil, &out)
	if out.Success || out.Error == nil || *out.Error != "timeout after 10s" {
		t.Errorf("failed test answered %s", r.body)
	}
	// The dispatcher found the ping first: DeliverNow is refused, and the test reports
	// the dispatcher's attempt.
	e.disp.deliver = func(ctx context.Context, id string) (*herald.Attempt, error) {
		now := time.Now().UTC()
		if _, err := e.store.ClaimDelivery(ctx, id, "dispatcher", now, now.Add(time.Minute)); err != nil {
			return nil, err
		}
		a := herald.Attempt{ID: herald.NewID(herald.PrefixAttempt), DeliveryID: id, At: now, StatusCode: 202, DurationMS: 7, Success: true}
		if _, err := e.store.RecordAttempt(ctx, &herald.AttemptRecord{Owner: "dispatcher", Attempt: a, Status: herald.StatusSuccess}); err != nil {
			return nil, err
		}
		return nil, herald.Errorf(herald.ECONFLICT, "delivery is being sent right now")
	}
	out = struct {
		DeliveryID string  `json:"delivery_id"`
		Success    bool    `json:"success"`
		StatusCode int     `json:"status_code"`
		DurationMS int64   `json:"duration_ms"`
		Error      *string `json:"error"`
	}{}
	e.must(http.StatusOK, "POST", "/api/v1/webhooks/"+w.ID+"/test", e.adminKey, nil, &out)
	if !out.Success || out.StatusCode != 202 || out.DurationMS != 7 {
		t.Errorf("test of a ping the dispatcher sent answered %+v, want its 202 attempt", out)
	}
}

// failDelivery records a failed final attempt for a delivery, as the dispatcher would.
func failDelivery(t *testing.T, e *env, id string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	if _, err := e.store.ClaimDelivery(ctx, id, "t", now, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	_, err := e.store.RecordAttempt(ctx, &herald.AttemptRecord{Owner: "t", Status: herald.StatusFailed,
		Attempt: herald.Attempt{ID: herald.NewID(herald.PrefixAttempt), DeliveryID: id, At: now, StatusCode: 500}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRecover(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.createWebhook(e.adminKey, nil)
	path := "/api/v1/webhooks/" + w.ID + "/recover"
	var ds []herald.Delivery
	e.must(http.StatusOK, "GET", "/api/v1/webhooks/"+w.ID+"/deliveries", e.adminKey, nil, &ds)
	failDelivery(t, e, ds[0].ID)

	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	checkError(t, e.do("POST", path, e.adminKey, map[string]any{"since": "last week"}), 422, herald.EINVALID)
	checkError(t, e.do("POST", path, e.adminKey, map[string]any{"since": since, "until": since}), 422, herald.EINVALID)

	wakes := e.disp.Wakes()
	var out struct {
		Requeued int `json:"requeued"`
	}
	e.must(http.StatusAccepted, "POST", path, e.adminKey, map[string]any{"since": since}, &out)
	if out.Requeued != 1 || e.disp.Wakes() != wakes+1 {
		t.Errorf("requeued %d, %d wakes; want 1, 1", out.Requeued, e.disp.Wakes()-wakes)
	}
	d, _ := e.store.Delivery(context.Background(), ds[0].ID)
	if d.Status != herald.StatusPending {
		t.Errorf("delivery %s after recover, want pending", d.Status)
	}

	e.must(http.StatusOK, "PATCH", "/api/v1/webhooks/"+w.ID, e.adminKey, map[string]any{"enabled": false}, nil)
	b := checkError(t, e.do("POST", path, e.adminKey, map[string]any{"since": since}), 409, herald.ECONFLICT)
	if !strings.Contains(*b.Error, "enable it first") {
		t.Errorf("refusal %q", *b.Error)
	}
}

func TestDeliveryListsFiltersAndPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.createWebhook(e.adminKey, nil) // one ping delivery
	for i := 0; i < 3; i++ {
		e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, driftEvent(nil), nil)
	}
	base := "/api/v1/webhooks/" + w.ID + "/deliveries"

	var ds []herald.Delivery
	r := e.must(http.StatusOK, "GET", base+"?per_page=2", e.adminKey, nil, &ds)
	if r.header.Get("X-Total-Count") != "4" || len(ds) != 2 {
		t.Fatalf("page 1: %d items, X-Total-Count %q; want 2 of 4", len(ds), r.header.Get("X-Total-Count"))
	}
	if !ds[0].CreatedAt.After(ds[1].CreatedAt) && ds[0].ID < ds[1].ID {
		t.Errorf("not newest first: %s then %s", ds[0].ID, ds[1].ID)
	}
	first := ds[0].ID
	e.must(http.StatusOK, "GET", base+"?per_page=2&page=2", e.adminKey, nil, &ds)
	if len(ds) != 2 || ds[0].ID == first {
		t.Errorf("page 2: %+v", ds)
	}
	e.must(http.StatusOK, "GET", base+"?per_page=2&page=3", e.adminKey, nil, &ds)
	if ds == nil || len(ds) != 0 {
		t.Errorf("page 3 is %v, want []", ds)
	}
	r = e.must(http.StatusOK, "GET", base+"?event_type=ping", e.adminKey, nil, &ds)
	if len(ds) != 1 || ds[0].EventType != "ping" || r.header.Get("X-Total-Count") != "1" {
		t.Errorf("event_type=ping gave %d", len(ds))
	}
	e.must(http.StatusOK, "GET", base+"?status=success", e.adminKey, nil, &ds)
	if len(ds) != 0 {
		t.Errorf("status=success gave %d", len(ds))
	}
	e.must(http.StatusOK, "GET", base+"?status=pending&since="+time.Now().Add(-time.Minute).UTC().Format(time.RFC3339), e.adminKey, nil, &ds)
	if len(ds) != 4 {
		t.Errorf("status=pending since a minute ago gave %d, want 4", len(ds))
	}
	e.must(http.StatusOK, "GET", base+"?until="+time.Now().Add(-time.Minute).UTC().Format(time.RFC3339), e.adminKey, nil, &ds)
	if len(ds) != 0 {
		t.Errorf("until a minute ago gave %d, want 0", len(ds))
	}
	r = e.must(http.StatusOK, "GET", "/api/v1/deliveries?webhook_id="+w.ID+"&event_type=drift.detected", e.adminKey, nil, &ds)
	if len(ds) != 3 || r.header.Get("X-Total-Count") != "3" {
		t.Errorf("GET /deliveries filtered gave %d", len(ds))
	}
	for _, q := range []string{"per_page=101", "per_page=0", "page=0", "page=x", "status=lost", "since=yesterday"} {
		checkError(t, e.do("GET", base+"?"+q, e.adminKey, nil), 422, herald.EINVALID)
		checkError(t, e.do("GET", "/api/v1/deliveries?"+q, e.adminKey, nil), 422, herald.EINVALID)
	}
}

func TestWebhookListPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, e.createWebhook(e.adminKey, map[string]any{"name": fmt.Sprint("hook ", i)}).ID)
	}
	var ws []webhookResp
	r := e.must(http.StatusOK, "GET", "/api/v1/webhooks?per_page=2", e.adminKey, nil, &ws)
	if r.header.Get("X-Total-Count") != "3" || len(ws) != 2 || ws[0].ID != ids[2] || ws[1].ID != ids[1] {
		t.Errorf("page 1: %+v, total %q; want the newest two of 3", ws, r.header.Get("X-Total-Count"))
	}
	e.must(http.StatusOK, "GET", "/api/v1/webhooks?per_page=2&page=2", e.adminKey, nil, &ws)
	if len(ws) != 1 || ws[0].ID != ids[0] {
		t.Errorf("page 2: %+v", ws)
	}
	for _, q := range []string{"per_page=101", "page=0", "per_page=-1"} {
		checkError(t, e.do("GET", "/api/v1/webhooks?"+q, e.adminKey, nil), 422, herald.EINVALID)
	}
}

func TestDeliveryGetAndRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.createWebhook(e.adminKey, nil)
	var ds []herald.Delivery
	e.must(http.StatusOK, "GET", "/api/v1/webhooks/"+w.ID+"/deliveries", e.adminKey, nil, &ds)
	id := ds[0].ID

	var d herald.Delivery
	e.must(http.StatusOK, "GET", "/api/v1/deliveries/"+id, e.adminKey, nil, &d)
	if d.ID != id || d.Attempts == nil || len(d.Attempts) != 0 {
		t.Errorf("GET delivery %+v", d)
	}
	e.must(http.StatusOK, "POST", "/api/v1/deliveries/"+id+"/retry", e.adminKey, nil, &d)
	if d.Status != herald.StatusSuccess || len(d.Attempts) != 1 || d.Attempts[0].StatusCode != 200 {
		t.Errorf("after retry: %+v", d)
	}
	r := e.must(http.StatusOK, "POST", "/api/v1/deliveries/"+id+"/retry", e.adminKey, nil, &d)
	if len(d.Attempts) != 2 {
		t.Errorf("a second retry of a successful delivery made %d attempts, want 2", len(d.Attempts))
	}
	if got := r.header.Get("Herald-Attempt"); got != "2" {
		t.Errorf("the second retry's Herald-Attempt is %q, want 2: the attempt it made", got)
	}
	e.disp.deliver = func(context.Context, string) (*herald.Attempt, error) {
		return nil, herald.Errorf(herald.ECONFLICT, "leased by someone else")
	}
	checkError(t, e.do("POST", "/api/v1/deliveries/"+id+"/retry", e.adminKey, nil), 409, herald.ECONFLICT)
	checkError(t, e.do("GET", "/api/v1/deliveries/del_missing", e.adminKey, nil), 404, herald.ENOTFOUND)
	checkError(t, e.do("POST", "/api/v1/deliveries/del_missing/retry", e.adminKey, nil), 404, herald.ENOTFOUND)
}

// TestEd25519Webhook creates a standard webhook that signs with ed25519: the API shows
// the public key, never the private one, and keeps the key pair through edits.
func TestEd25519Webhook(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	type resp struct {
		ID        string `json:"id"`
		Signing   string `json:"signing"`
		PublicKey string `json:"public_key"`
		Secret    *string
	}
	var created resp
	r := e.must(http.StatusCreated, "POST", "/api/v1/webhooks", e.adminKey,
		map[string]any{"name": "ed", "url": hookURL, "signing": "ed25519"}, &created)
	if created.Signing != "ed25519" || !strings.HasPrefix(created.PublicKey, "whpk_") {
		t.Fatalf("created signing %q, public key %q; want ed25519 and a whpk_ key", created.Signing, created.PublicKey)
	}
	if strings.Contains(string(r.body), `"secret"`) || strings.Contains(string(r.body), "whsk_") {
		t.Fatalf("the response shows a secret: %s", r.body)
	}
	stored, err := e.store.Webhook(context.Background(), created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if public, err := webhook.PublicKey(stored.Secret); err != nil || public != created.PublicKey {
		t.Fatalf("stored key's public key %q (%v), want %q", public, err, created.PublicKey)
	}

	var got resp
	e.must(http.StatusOK, "GET", "/api/v1/webhooks/"+created.ID, e.adminKey, nil, &got)
	if got.PublicKey != created.PublicKey || got.Signing != "ed25519" {
		t.Errorf("GET shows %q %q, want the public key", got.Signing, got.PublicKey)
	}
	b := checkError(t, e.do("PATCH", "/api/v1/webhooks/"+created.ID, e.adminKey, map[string]any{"format": "frugally"}), 422, herald.EINVALID)
	if !strings.Contains(*b.Error, "ed25519") {
		t.Errorf("format change error %q does not say why", *b.Error)
	}
	e.must(http.StatusOK, "PATCH", "/api/v1/webhooks/"+created.ID, e.adminKey, map[string]any{"format": "standard", "name": "ed2"}, nil)

	var rotated struct {
		Secret    string `json:"secret"`
		PublicKey string `json:"public_key"`
	}
	checkError(t, e.do("POST", "/api/v1/webhooks/"+created.ID+"/rotate-secret", e.adminKey, map[string]any{"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}), 422, herald.EINVALID)
	e.must(http.StatusOK, "POST", "/api/v1/webhooks/"+created.ID+"/rotate-secret", e.adminKey, map[string]any{}, &rotated)
	if rotated.Secret != "" || !strings.HasPrefix(rotated.PublicKey, "whpk_") || rotated.PublicKey == created.PublicKey {
		t.Errorf("rotate gave secret %q and public key %q; want only a new public key", rotated.Secret, rotated.PublicKey)
	}

	for name, body := range map[string]map[string]any{
		"ed25519 for infraaudit": {"name": "x", "url": hookURL, "signing": "ed25519", "format": "infraaudit"},
		"ed25519 with a secret":  {"name": "x", "url": hookURL, "signing": "ed25519", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		"unknown signing":        {"name": "x", "url": hookURL, "signing": "rsa"},
	} {
		t.Run(name, func(t *testing.T) {
			checkError(t, e.do("POST", "/api/v1/webhooks", e.adminKey, body), 422, herald.EINVALID)
		})
	}
}
