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

// orderedWebhook stores a webhook of tenant that orders by key and publishes n events
// of key to it, returning the webhook and the deliveries in publish order.
func orderedWebhook(t *testing.T, e *env, tenant, key string, n int) (*herald.Webhook, []string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	w := &herald.Webhook{ID: herald.NewID(herald.PrefixWebhook), TenantID: tenant, Name: "ordered", URL: hookURL,
		Enabled: true, Format: herald.FormatStandard, Ordering: herald.OrderingKey, Secret: herald.NewSecret(),
		CreatedAt: now, UpdatedAt: now}
	if err := e.store.CreateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range n {
		rs, err := e.store.Publish(ctx, []herald.Publication{{Event: herald.Event{
			ID: herald.NewID(herald.PrefixEvent), TenantID: tenant, Type: "drift.detected", Data: json.RawMessage(driftData),
			Timestamp: now.Truncate(time.Second), CreatedAt: now.Add(time.Duration(i) * time.Millisecond), OrderingKey: key,
		}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rs[0].DeliveryIDs...)
	}
	return w, ids
}

func TestBlockedKeysAndSkip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	w, ids := orderedWebhook(t, e, herald.DefaultTenantID, "vm-1", 3)
	path := "/api/v1/webhooks/" + w.ID + "/blocked-keys"

	var keys []herald.BlockedKey
	e.must(http.StatusOK, "GET", path, e.adminKey, nil, &keys)
	if len(keys) != 0 {
		t.Fatalf("blocked keys before any attempt: %+v", keys)
	}

	// The head fails once and waits for its retry.
	now := time.Now().UTC()
	if _, err := e.store.ClaimDue(ctx, herald.ClaimRequest{Owner: "d", Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10}); err != nil {
		t.Fatal(err)
	}
	next := now.Add(time.Hour)
	if _, err := e.store.RecordAttempt(ctx, &herald.AttemptRecord{Owner: "d", Status: herald.StatusPending, NextAttemptAt: next,
		Attempt: herald.Attempt{DeliveryID: ids[0], At: now, StatusCode: 503, Error: "endpoint answered 503 Service Unavailable"}}); err != nil {
		t.Fatal(err)
	}
	e.must(http.StatusOK, "GET", path, e.adminKey, nil, &keys)
	if len(keys) != 1 || keys[0].Key != "vm-1" || keys[0].HeadDeliveryID != ids[0] || keys[0].AttemptCount != 1 ||
		keys[0].Waiting != 2 || !strings.Contains(keys[0].LastError, "503") || keys[0].NextAttemptAt == nil {
		t.Fatalf("blocked keys = %+v; want vm-1 headed by %s, 1 attempt, 503, 2 waiting, a next attempt", keys, ids[0])
	}

	// A manual retry of a delivery behind the head is refused, naming the head.
	r := e.do("POST", "/api/v1/deliveries/"+ids[1]+"/retry", e.adminKey, nil)
	if b := checkError(t, r, http.StatusConflict, herald.ECONFLICT); b.Error == nil || !strings.Contains(*b.Error, ids[0]) {
		t.Errorf("retry of a waiting delivery: %s does not name the head %s", r.body, ids[0])
	}

	// Skipping the head releases the key.
	wakes := e.disp.Wakes()
	var d herald.Delivery
	e.must(http.StatusOK, "POST", "/api/v1/deliveries/"+ids[0]+"/skip", e.adminKey, nil, &d)
	if d.Status != herald.StatusFailed || d.LastError != herald.SkippedByHand || d.OrderingKey != "vm-1" || d.AttemptCount != 1 {
		t.Errorf("skipped delivery = %+v; want failed, %q, key vm-1, its one attempt", d, herald.SkippedByHand)
	}
	if e.disp.Wakes() == wakes {
		t.Error("a skip that released a key did not wake the dispatcher")
	}
	checkError(t, e.do("POST", "/api/v1/deliveries/"+ids[0]+"/skip", e.adminKey, nil), http.StatusConflict, herald.ECONFLICT)
	checkError(t, e.do("POST", "/api/v1/deliveries/del_nope/skip", e.adminKey, nil), http.StatusNotFound, herald.ENOTFOUND)
	e.must(http.StatusOK, "GET", path, e.adminKey, nil, &keys)
	if len(keys) != 0 {
		t.Errorf("blocked keys after the skip: %+v", keys)
	}
	e.must(http.StatusOK, "POST", "/api/v1/deliveries/"+ids[1]+"/retry", e.adminKey, nil, &d)
	if d.OrderingKey != "vm-1" || d.Status != herald.StatusSuccess {
		t.Errorf("retry of the new head = %+v", d)
	}

	// Another tenant sees neither.
	otherKey := e.createTenant("other")
	checkError(t, e.do("GET", path, otherKey, nil), http.StatusNotFound, herald.ENOTFOUND)
	checkError(t, e.do("POST", "/api/v1/deliveries/"+ids[2]+"/skip", otherKey, nil), http.StatusNotFound, herald.ENOTFOUND)
	checkError(t, e.do("GET", "/api/v1/webhooks/wh_nope/blocked-keys", e.adminKey, nil), http.StatusNotFound, herald.ENOTFOUND)

	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	e.must(http.StatusOK, "GET", "/openapi.json", "", nil, &doc)
	if doc.Paths["/api/v1/deliveries/{id}/skip"]["post"] == nil || doc.Paths["/api/v1/webhooks/{id}/blocked-keys"]["get"] == nil {
		t.Error("the OpenAPI document lacks skip or blocked-keys")
	}
}

// TestSkipWaitsForAttemptUnderWay: a skip that arrives while the delivery is being
// sent waits for the attempt's record, then gives the delivery up if it is still
// pending, or answers 409 if the attempt finished it.
func TestSkipWaitsForAttemptUnderWay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	_, ids := orderedWebhook(t, e, herald.DefaultTenantID, "vm-2", 2)
	for i, outcome := range []herald.DeliveryStatus{herald.StatusPending, herald.StatusSuccess} {
		id := ids[i]
		now := time.Now().UTC()
		if _, err := e.store.ClaimDelivery(ctx, id, "d", now, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		done := make(chan response, 1)
		go func() { done <- e.do("POST", "/api/v1/deliveries/"+id+"/skip", e.adminKey, nil) }()
		select {
		case r := <-done:
			t.Fatalf("skip answered %d while the attempt was under way", r.code)
		case <-time.After(200 * time.Millisecond):
		}
		rec := &herald.AttemptRecord{Owner: "d", Status: outcome, Attempt: herald.Attempt{DeliveryID: id, At: now, StatusCode: 200, Success: true}}
		if outcome == herald.StatusPending {
			rec.NextAttemptAt = now.Add(time.Hour)
			rec.Attempt.StatusCode, rec.Attempt.Success, rec.Attempt.Error = 500, false, "endpoint answered 500"
		}
		if _, err := e.store.RecordAttempt(ctx, rec); err != nil {
			t.Fatal(err)
		}
		r := <-done
		switch outcome {
		case herald.StatusPending:
			var d herald.Delivery
			if r.code != http.StatusOK || json.Unmarshal(r.body, &d) != nil || d.Status != herald.StatusFailed {
				t.Errorf("skip after a failed attempt: %d %s; want 200 and the delivery failed", r.code, r.body)
			}
		case herald.StatusSuccess:
			checkError(t, r, http.StatusConflict, herald.ECONFLICT)
		}
	}
}
