package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// revealed is the answer of POST /api/v1/webhooks/{id}/reveal-secret.
type revealed struct {
	Secret                  string     `json:"secret"`
	PublicKey               string     `json:"public_key"`
	PreviousSecret          string     `json:"previous_secret"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
}

func TestRevealSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createTenant("team_a")
	key := e.createTenant("team_b")
	w := e.createWebhook(key, map[string]any{"format": "infraaudit"})
	path := "/api/v1/webhooks/" + w.ID + "/reveal-secret"

	// The tenant's own key sees the secret it was shown at creation, whole.
	var out revealed
	e.must(http.StatusOK, "POST", path, key, nil, &out)
	if out.Secret == "" || out.Secret != w.Secret || out.PublicKey != "" || out.PreviousSecret != "" || out.PreviousSecretExpiresAt != nil {
		t.Fatalf("reveal answered %+v, want only the secret %q", out, w.Secret)
	}
	// So does the admin.
	out = revealed{}
	e.must(http.StatusOK, "POST", path, e.adminKey, nil, &out)
	if out.Secret != w.Secret {
		t.Errorf("reveal as the admin answered %q, want %q", out.Secret, w.Secret)
	}
	// Only a POST reveals it: a link, a prefetch or a cache never does.
	if r := e.do("GET", path, key, nil); r.code != http.StatusMethodNotAllowed && r.code != http.StatusNotFound {
		t.Errorf("GET %s answered %d, want 405 or 404", path, r.code)
	}

	// After a rotation with a grace period both secrets sign, and both are shown.
	var rotated struct {
		Secret string `json:"secret"`
	}
	e.must(http.StatusOK, "POST", "/api/v1/webhooks/"+w.ID+"/rotate-secret", key, map[string]any{"grace_period_seconds": 3600}, &rotated)
	out = revealed{}
	e.must(http.StatusOK, "POST", path, key, nil, &out)
	if out.Secret != rotated.Secret || out.PreviousSecret != w.Secret || out.PreviousSecretExpiresAt == nil {
		t.Fatalf("reveal after a rotation answered %+v, want secret %q and previous %q with its expiry", out, rotated.Secret, w.Secret)
	}
	if d := time.Until(*out.PreviousSecretExpiresAt); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("the previous secret expires in %v, want an hour", d)
	}
	// Without a grace period the old secret no longer signs, and is not shown.
	e.must(http.StatusOK, "POST", "/api/v1/webhooks/"+w.ID+"/rotate-secret", key, map[string]any{"grace_period_seconds": 0}, &rotated)
	out = revealed{}
	e.must(http.StatusOK, "POST", path, key, nil, &out)
	if out.Secret != rotated.Secret || out.PreviousSecret != "" || out.PreviousSecretExpiresAt != nil {
		t.Errorf("reveal after a rotation without grace answered %+v, want only %q", out, rotated.Secret)
	}

	// An ed25519 webhook shows its public key; its private key never leaves Herald.
	ed := e.createWebhook(key, map[string]any{"signing": "ed25519"})
	out = revealed{}
	r := e.must(http.StatusOK, "POST", "/api/v1/webhooks/"+ed.ID+"/reveal-secret", key, nil, &out)
	if !strings.HasPrefix(out.PublicKey, "whpk_") || out.Secret != "" || bytes.Contains(r.body, []byte("whsk_")) {
		t.Errorf("reveal of an ed25519 webhook answered %s, want its whpk_ public key only", r.body)
	}

	// Another tenant's key gets the 404 of a webhook that does not exist.
	other := e.createTenant("team_c")
	checkError(t, e.do("POST", path, other, nil), http.StatusNotFound, herald.ENOTFOUND)
	checkError(t, e.do("POST", path, "", nil), http.StatusUnauthorized, herald.EUNAUTHORIZED)
}

// testAnswer is the answer of POST /api/v1/webhooks/{id}/test.
type testAnswer struct {
	DeliveryID string `json:"delivery_id"`
	Success    bool   `json:"success"`
}

func TestWebhookTestSendsASubscribedTypesSample(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	key := e.createTenant("team_a")
	w := e.createWebhook(key, map[string]any{"events": []string{"drift.detected"}})
	// A second webhook of the tenant subscribes to the same type: the test must not
	// reach it.
	sibling := e.createWebhook(key, map[string]any{"events": []string{"drift.detected"}})
	path := "/api/v1/webhooks/" + w.ID + "/test"

	var out testAnswer
	e.must(http.StatusOK, "POST", path, key, map[string]any{"event_type": "drift.detected"}, &out)
	if !out.Success || out.DeliveryID == "" {
		t.Fatalf("test answered %+v", out)
	}
	d, err := e.store.Delivery(ctx, out.DeliveryID)
	if err != nil {
		t.Fatal(err)
	}
	if d.WebhookID != w.ID || d.EventType != "drift.detected" || d.TenantID != "team_a" {
		t.Errorf("the test's delivery is %s of %s for %s, want drift.detected of %s for team_a", d.EventType, d.WebhookID, d.TenantID, w.ID)
	}
	ev, err := e.store.Event(ctx, d.EventID)
	if err != nil {
		t.Fatal(err)
	}
	sample, ok := e.catalog.Lookup("drift.detected")
	if !ok || !bytes.Equal(ev.Data, sample.Sample) {
		t.Errorf("the test sent %s, want the catalog's sample %s", ev.Data, sample.Sample)
	}
	if n := e.countDeliveries(herald.DeliveryFilter{EventID: ev.ID}); n != 1 {
		t.Errorf("the test made %d deliveries, want 1: it is not a publish", n)
	}
	if n := e.countDeliveries(herald.DeliveryFilter{WebhookID: sibling.ID, EventType: "drift.detected"}); n != 0 {
		t.Errorf("the sibling webhook got %d drift.detected deliveries, want 0", n)
	}

	// Without a type, or with ping, it is a ping.
	for _, body := range []any{nil, map[string]any{}, map[string]any{"event_type": "ping"}} {
		out = testAnswer{}
		e.must(http.StatusOK, "POST", path, key, body, &out)
		if d, err := e.store.Delivery(ctx, out.DeliveryID); err != nil || d.EventType != herald.PingType {
			t.Errorf("test with body %v sent %+v (err %v), want a ping", body, d, err)
		}
	}

	// A type the webhook does not subscribe to, an unknown type, and a type without a
	// sample are refused, naming the field; nothing is sent.
	e.must(http.StatusCreated, "POST", "/api/v1/event-types", e.adminKey, map[string]any{
		"type": "nosample.created", "description": "no sample", "schema": map[string]any{"type": "object"},
	}, nil)
	every := e.createWebhook(key, map[string]any{"events": []string{"*"}})
	before := e.countDeliveries(herald.DeliveryFilter{})
	for _, c := range []struct{ webhook, eventType string }{
		{w.ID, "alert.created"},
		{w.ID, "no.such.type"},
		{every.ID, "nosample.created"},
	} {
		r := checkError(t, e.do("POST", "/api/v1/webhooks/"+c.webhook+"/test", key, map[string]any{"event_type": c.eventType}),
			http.StatusUnprocessableEntity, herald.EINVALID)
		if r.Error == nil || !strings.Contains(*r.Error, c.eventType) {
			t.Errorf("refusal of %s says %v, want it named", c.eventType, r.Error)
		}
	}
	if after := e.countDeliveries(herald.DeliveryFilter{}); after != before {
		t.Errorf("refused tests made %d deliveries", after-before)
	}
	// A webhook of every type tests any type that has a sample.
	out = testAnswer{}
	e.must(http.StatusOK, "POST", "/api/v1/webhooks/"+every.ID+"/test", key, map[string]any{"event_type": "alert.created"}, &out)
	if d, err := e.store.Delivery(ctx, out.DeliveryID); err != nil || d.EventType != "alert.created" {
		t.Errorf("test of alert.created on a webhook of every type sent %+v (err %v)", d, err)
	}
}

func TestWebhookDeliveriesByEventID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.createWebhook(e.adminKey, map[string]any{"events": []string{"drift.detected"}})
	var ids []string
	for range 3 {
		var res struct {
			ID string `json:"id"`
		}
		e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, driftEvent(nil), &res)
		ids = append(ids, res.ID)
	}
	var ds []herald.Delivery
	r := e.must(http.StatusOK, "GET", "/api/v1/webhooks/"+w.ID+"/deliveries?event_id="+ids[1], e.adminKey, nil, &ds)
	if len(ds) != 1 || ds[0].EventID != ids[1] || r.header.Get("X-Total-Count") != "1" {
		raw, _ := json.Marshal(ds)
		t.Errorf("event_id=%s gave %s, want its one delivery", ids[1], raw)
	}
	e.must(http.StatusOK, "GET", "/api/v1/webhooks/"+w.ID+"/deliveries?event_id=evt_none", e.adminKey, nil, &ds)
	if len(ds) != 0 {
		t.Errorf("event_id of no event gave %d deliveries", len(ds))
	}
}
