package portal_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

func TestBlockedKeysRetryAndSkip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	hook := e.addWebhook(e.adminKey, "", "Ordered")
	w, err := e.store.Webhook(ctx, hook)
	if err != nil {
		t.Fatal(err)
	}
	w.Ordering = herald.OrderingKey
	if err := e.store.UpdateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var ids []string
	for i := range 2 {
		rs, err := e.store.Publish(ctx, []herald.Publication{{Event: herald.Event{
			ID: herald.NewID(herald.PrefixEvent), TenantID: herald.DefaultTenantID, Type: "drift.detected",
			Data: json.RawMessage(`{}`), Timestamp: now.Truncate(time.Second), CreatedAt: now.Add(time.Duration(i) * time.Millisecond),
			OrderingKey: "bucket-7",
		}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rs[0].DeliveryIDs...)
	}
	// The head fails and waits an hour for its retry.
	if _, err := e.store.ClaimDelivery(ctx, ids[0], "test", now, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.RecordAttempt(ctx, &herald.AttemptRecord{Owner: "test", Status: herald.StatusPending, NextAttemptAt: now.Add(time.Hour),
		Attempt: herald.Attempt{DeliveryID: ids[0], At: now, StatusCode: 502, Error: "endpoint answered 502 Bad Gateway"}}); err != nil {
		t.Fatal(err)
	}

	b := e.browser()
	b.signIn(e.adminKey)
	p := b.get("/webhooks/" + hook)
	wantPage(t, "webhook with a blocked key", p, http.StatusOK, "Blocked ordering keys", "<code>bucket-7</code>", ids[0],
		"endpoint answered 502 Bad Gateway", `action="/deliveries/`+ids[0]+`/skip"`, `action="/deliveries/`+ids[0]+`/retry"`)
	wantPage(t, "waiting delivery", b.get("/deliveries/"+ids[1]), http.StatusOK, "Ordering key", "bucket-7", `id="skip"`)

	// Retrying the one behind the head is refused, naming the head.
	p = b.do(http.MethodPost, "/deliveries/"+ids[1]+"/retry", url.Values{})
	wantPage(t, "retry behind the head", p, http.StatusConflict, ids[0], "retry or skip that one first")

	p = b.do(http.MethodPost, "/deliveries/"+ids[0]+"/skip", url.Values{})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/webhooks/"+hook+"?msg=skipped" {
		t.Fatalf("skip: %d to %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	p = b.get(p.header.Get("Location"))
	wantPage(t, "after the skip", p, http.StatusOK, "The delivery was skipped")
	if strings.Contains(p.body, "Blocked ordering keys") {
		t.Error("the key is still shown blocked after its head was skipped")
	}
	if d, err := e.store.Delivery(ctx, ids[0]); err != nil || d.Status != herald.StatusFailed || d.LastError != herald.SkippedByHand {
		t.Errorf("skipped head = %+v, %v; want failed, %q", d, err, herald.SkippedByHand)
	}
	wantPage(t, "skip again", b.do(http.MethodPost, "/deliveries/"+ids[0]+"/skip", url.Values{}), http.StatusConflict,
		"only a pending delivery can be skipped")
}
