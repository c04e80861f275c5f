package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// testBrokerURLs checks that a broker URL's password comes back from every read that
// returns the webhook, is replaced or removed by an update, and that the list of
// webhooks does not hand it out where the URL is only shown.
func testBrokerURLs(t *testing.T, open func(t *testing.T) herald.Store) {
	ctx := t.Context()
	st := open(t)
	tenant := addTenant(t, st)
	const withPassword = "amqp://herald:s3cr%40t@rabbit.example:5672/prod?exchange=events&routing_key=orders"
	w := addWebhook(t, st, tenant, func(w *herald.Webhook) { w.URL = withPassword })

	got, err := st.Webhook(ctx, w.ID)
	ok(t, err, "read webhook")
	if got.URL != withPassword {
		t.Fatalf("URL read back as %q, want %q with its password", got.URL, withPassword)
	}
	list, _, err := st.Webhooks(ctx, herald.WebhookFilter{TenantID: tenant})
	ok(t, err, "list webhooks")
	if len(list) != 1 || list[0].URL != withPassword {
		t.Fatalf("listed %v, want the one webhook with its password", list)
	}

	// The dispatcher reads it from a claim: it must have the password to connect.
	publish(t, st, herald.Publication{Event: newEvent(tenant, "drift.detected", t0)})
	claims, err := st.ClaimDue(ctx, herald.ClaimRequest{Owner: "w1", Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 5})
	ok(t, err, "claim")
	if len(claims) != 1 || claims[0].Webhook.URL != withPassword {
		t.Fatalf("claimed %d deliveries; want one whose webhook URL has its password", len(claims))
	}

	const newPassword = "amqp://herald:rotated@rabbit.example:5672/prod?exchange=events&routing_key=orders"
	got.URL = newPassword
	ok(t, st.UpdateWebhook(ctx, got), "update webhook")
	again, err := st.Webhook(ctx, w.ID)
	ok(t, err, "read updated webhook")
	if again.URL != newPassword {
		t.Errorf("URL after changing the password = %q, want %q", again.URL, newPassword)
	}
	again.URL = "nats://nats.example:4222/orders.events"
	ok(t, st.UpdateWebhook(ctx, again), "update webhook to a URL without a password")
	last, err := st.Webhook(ctx, w.ID)
	ok(t, err, "read webhook")
	if last.URL != again.URL || strings.Contains(last.URL, "***") {
		t.Errorf("URL after removing the password = %q, want %q", last.URL, again.URL)
	}
}
