package storetest

import (
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// testBacklog checks what Backlog counts as work moves through the store: every pending
// delivery, leased or not, due or scheduled; the earliest due time among those due at
// the time asked about; the disabled webhooks of every tenant.
func testBacklog(t *testing.T, open func(t *testing.T) herald.Store) {
	st := open(t)
	wantBacklog(t, st, t0, herald.Backlog{}, "an empty store")

	tenant, other := addTenant(t, st), addTenant(t, st)
	a := addWebhook(t, st, tenant)
	b := addWebhook(t, st, tenant)
	addWebhook(t, st, other, disabled)
	wantBacklog(t, st, t0, herald.Backlog{DisabledWebhooks: 1}, "a webhook created disabled, of another tenant")

	first := byWebhook(t, st, publishEvent(t, st, tenant, "drift.detected", t0))
	second := byWebhook(t, st, publishEvent(t, st, tenant, "drift.detected", t0.Add(10*time.Second)))
	wantBacklog(t, st, t0.Add(-time.Second), herald.Backlog{Pending: 4, DisabledWebhooks: 1},
		"four deliveries, none due yet")
	wantBacklog(t, st, t0.Add(5*time.Second), herald.Backlog{Pending: 4, OldestPendingDue: ptr(t0), DisabledWebhooks: 1},
		"four deliveries, two due")

	now := t0.Add(20 * time.Second)
	if got := claim(t, st, "w1", now, 10); len(got) != 4 {
		t.Fatalf("claimed %d deliveries, want 4", len(got))
	}
	wantBacklog(t, st, now, herald.Backlog{Pending: 4, OldestPendingDue: ptr(t0), DisabledWebhooks: 1},
		"four deliveries leased: being sent is still pending")

	succeed(t, st, "w1", first[a.ID], now)
	wantBacklog(t, st, now, herald.Backlog{Pending: 3, OldestPendingDue: ptr(t0), DisabledWebhooks: 1},
		"one delivered")

	retry := t0.Add(time.Hour)
	fail(t, st, "w1", first[b.ID], now, retry)
	wantBacklog(t, st, now, herald.Backlog{Pending: 3, OldestPendingDue: ptr(t0.Add(10 * time.Second)), DisabledWebhooks: 1},
		"the oldest failed and scheduled for a retry in an hour")
	wantBacklog(t, st, retry.Add(time.Second), herald.Backlog{Pending: 3, OldestPendingDue: ptr(t0.Add(10 * time.Second)), DisabledWebhooks: 1},
		"the same, asked after the retry is due")

	fail(t, st, "w1", second[a.ID], now, time.Time{})
	wantBacklog(t, st, now, herald.Backlog{Pending: 2, OldestPendingDue: ptr(t0.Add(10 * time.Second)), DisabledWebhooks: 1},
		"one failed for good")

	// b's last attempt disables it, which fails its pending deliveries.
	record(t, st, herald.AttemptRecord{
		Owner: "w1", Attempt: attempt(second[b.ID], now, false), Status: herald.StatusFailed,
		DisableReason: "endpoint answered 410 Gone",
	})
	wantBacklog(t, st, now, herald.Backlog{DisabledWebhooks: 2}, "the webhook of every pending delivery disabled")

	on := getWebhook(t, st, b.ID)
	on.Enabled, on.DisabledReason = true, ""
	ok(t, st.UpdateWebhook(t.Context(), on), "enable the webhook again")
	wantBacklog(t, st, now, herald.Backlog{DisabledWebhooks: 1}, "the webhook enabled again")

	off := getWebhook(t, st, a.ID)
	off.Enabled, off.DisabledReason = false, "disabled through the API"
	ok(t, st.UpdateWebhook(t.Context(), off), "disable a webhook")
	wantBacklog(t, st, now, herald.Backlog{DisabledWebhooks: 2}, "a webhook disabled through the API")
}

// byWebhook maps the webhook of each of the deliveries ids to the delivery's id.
func byWebhook(t *testing.T, st herald.Store, ids []string) map[string]string {
	t.Helper()
	m := make(map[string]string, len(ids))
	for _, id := range ids {
		m[getDelivery(t, st, id).WebhookID] = id
	}
	return m
}

// wantBacklog fails t unless the store's backlog at now is want.
func wantBacklog(t *testing.T, st herald.Store, now time.Time, want herald.Backlog, what string) {
	t.Helper()
	got, err := st.Backlog(t.Context(), now)
	ok(t, err, "backlog: "+what)
	if got.Pending != want.Pending || got.DisabledWebhooks != want.DisabledWebhooks {
		t.Errorf("backlog with %s: %d pending, %d disabled webhooks; want %d, %d",
			what, got.Pending, got.DisabledWebhooks, want.Pending, want.DisabledWebhooks)
	}
	wantTime(t, "oldest pending due with "+what, got.OldestPendingDue, want.OldestPendingDue)
}
