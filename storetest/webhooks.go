package storetest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

func testWebhooks(t *testing.T, open func(t *testing.T) herald.Store) {
	t.Run("CreateAndRead", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		tenant := addTenant(t, st)
		want := herald.Webhook{
			ID:          herald.NewID(herald.PrefixWebhook),
			TenantID:    tenant,
			Name:        "Billing",
			Description: "billing events",
			URL:         "https://billing.example/hooks?x=1",
			Events:      []string{"budget.exceeded", "budget.threshold_breached"},
			Enabled:     true,
			Format:      herald.FormatFrugally,
			RateLimit:   5,
			Headers:     map[string]string{"X-Team": "billing", "Authorization": "Bearer t"},
			Filter:      `data.severity == "critical"`,
			Channels:    []string{"eu-west", "billing:prod"},
			Ordering:    herald.OrderingKey,
			CreatedAt:   t0,
			UpdatedAt:   t0.Add(time.Second),
			Secret:      "whsec_" + strings.Repeat("c2VjcmV0", 4),
		}
		w := want
		ok(t, st.CreateWebhook(ctx, &w), "create webhook")
		got := getWebhook(t, st, want.ID)
		checkWebhook(t, got, &want)
		wantTime(t, "updated_at", &got.UpdatedAt, &want.UpdatedAt)
		if got.Secret != want.Secret || got.PreviousSecret != "" {
			t.Errorf("secrets = %q, %q; want %q and none", got.Secret, got.PreviousSecret, want.Secret)
		}
		if got.LastDeliveryStatus != "" || got.LastDeliveryAt != nil || got.ConsecutiveFailures != 0 ||
			got.FailingSince != nil || got.DisabledReason != "" {
			t.Errorf("a new webhook has delivery state %q %v %d %v %q, want none",
				got.LastDeliveryStatus, got.LastDeliveryAt, got.ConsecutiveFailures, got.FailingSince, got.DisabledReason)
		}

		all := addWebhook(t, st, tenant, subscribed())
		if got := getWebhook(t, st, all.ID); len(got.Events) != 0 && !slices.Equal(got.Events, []string{"*"}) {
			t.Errorf("webhook created with no events has events %q, want none", got.Events)
		}

		dup := want
		dup.Name = "again"
		wantCode(t, st.CreateWebhook(ctx, &dup), herald.ECONFLICT, "a webhook with a taken id")
		_, err := st.Webhook(ctx, "wh_missing")
		wantCode(t, err, herald.ENOTFOUND, "missing webhook")
	})

	t.Run("List", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		a, b := addTenant(t, st), addTenant(t, st)
		var aIDs []string // oldest first
		for i := range 25 {
			aIDs = append(aIDs, addWebhook(t, st, a, createdAt(t0.Add(time.Duration(i)*time.Minute))).ID)
		}
		for i := range 3 {
			addWebhook(t, st, b, createdAt(t0.Add(time.Duration(i)*time.Second)))
		}
		newest := slices.Clone(aIDs)
		slices.Reverse(newest)

		for _, tc := range []struct {
			name      string
			filter    herald.WebhookFilter
			want      []string // nil: only check the count
			wantCount int
			wantTotal int
		}{
			{"FirstPageOf20", herald.WebhookFilter{TenantID: a}, newest[:20], 20, 25},
			{"SecondPage", herald.WebhookFilter{TenantID: a, Page: 2}, newest[20:], 5, 25},
			{"PerPage", herald.WebhookFilter{TenantID: a, Page: 3, PerPage: 7}, newest[14:21], 7, 25},
			{"PastTheEnd", herald.WebhookFilter{TenantID: a, Page: 9}, []string{}, 0, 25},
			{"OtherTenant", herald.WebhookFilter{TenantID: b}, nil, 3, 3},
			{"AllTenants", herald.WebhookFilter{PerPage: 100}, nil, 28, 28},
			{"UnknownTenant", herald.WebhookFilter{TenantID: "team_nobody"}, []string{}, 0, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ws, total, err := st.Webhooks(ctx, tc.filter)
				ok(t, err, "webhooks")
				if total != tc.wantTotal {
					t.Errorf("total = %d, want %d", total, tc.wantTotal)
				}
				if len(ws) != tc.wantCount {
					t.Fatalf("got %d webhooks, want %d", len(ws), tc.wantCount)
				}
				for _, w := range ws {
					if tc.filter.TenantID != "" && w.TenantID != tc.filter.TenantID {
						t.Errorf("webhook %s of tenant %s in a list for %s", w.ID, w.TenantID, tc.filter.TenantID)
					}
				}
				if tc.want != nil && !slices.Equal(webhookIDs(ws), tc.want) {
					t.Errorf("webhooks = %v, want %v (newest first)", webhookIDs(ws), tc.want)
				}
			})
		}
	})

	t.Run("ListTiesNewestIDFirst", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		first := addWebhook(t, st, tenant)
		second := addWebhook(t, st, tenant) // same CreatedAt, later id
		ws, _, err := st.Webhooks(t.Context(), herald.WebhookFilter{TenantID: tenant})
		ok(t, err, "webhooks")
		if want := []string{second.ID, first.ID}; !slices.Equal(webhookIDs(ws), want) {
			t.Errorf("webhooks = %v, want %v", webhookIDs(ws), want)
		}
	})

	t.Run("ListFailingFirst", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		failing := func(w *herald.Webhook) { w.ConsecutiveFailures, w.FailingSince = 2, ptr(t0) }
		w0 := addWebhook(t, st, tenant, createdAt(t0))
		w1 := addWebhook(t, st, tenant, createdAt(t0.Add(time.Minute)), failing)
		w2 := addWebhook(t, st, tenant, createdAt(t0.Add(2*time.Minute)), failing, disabled) // disabled: not failing
		w3 := addWebhook(t, st, tenant, createdAt(t0.Add(3*time.Minute)))
		w4 := addWebhook(t, st, tenant, createdAt(t0.Add(4*time.Minute)), failing)
		for _, tc := range []struct {
			filter herald.WebhookFilter
			want   []string
		}{
			{herald.WebhookFilter{TenantID: tenant}, []string{w4.ID, w3.ID, w2.ID, w1.ID, w0.ID}},
			{herald.WebhookFilter{TenantID: tenant, FailingFirst: true}, []string{w4.ID, w1.ID, w3.ID, w2.ID, w0.ID}},
			{herald.WebhookFilter{TenantID: tenant, FailingFirst: true, PerPage: 2, Page: 2}, []string{w3.ID, w2.ID}},
		} {
			ws, _, err := st.Webhooks(t.Context(), tc.filter)
			ok(t, err, "webhooks")
			if !slices.Equal(webhookIDs(ws), tc.want) {
				t.Errorf("webhooks of %+v = %v, want %v", tc.filter, webhookIDs(ws), tc.want)
			}
		}
	})

	t.Run("PerPageAtMost100", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		for range 101 {
			addWebhook(t, st, tenant)
		}
		ws, total, err := st.Webhooks(t.Context(), herald.WebhookFilter{TenantID: tenant, PerPage: 1000})
		ok(t, err, "webhooks")
		if len(ws) != 100 || total != 101 {
			t.Errorf("per_page 1000: %d webhooks of %d, want 100 of 101", len(ws), total)
		}
	})

	t.Run("Update", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		tenant := addTenant(t, st)
		orig := addWebhook(t, st, tenant, subscribed("drift.detected"))
		before := time.Now()

		w := *orig
		w.Name, w.Description, w.URL = "renamed", "new description", "https://new.example/hook"
		w.Events = []string{"alert.created"}
		w.Format, w.RateLimit = herald.FormatInfraAudit, 9
		w.Headers = map[string]string{"X-New": "1"}
		w.Filter, w.Channels, w.Ordering = `type == "alert.created"`, []string{"us-east"}, herald.OrderingKey
		// What UpdateWebhook must not write:
		w.TenantID, w.CreatedAt = "team_thief", t0.Add(-time.Hour)
		w.Secret, w.PreviousSecret = "whsec_stolen", "whsec_stolen_too"
		w.ConsecutiveFailures, w.FailingSince = 42, ptr(t0)
		ok(t, st.UpdateWebhook(ctx, &w), "update webhook")

		got := getWebhook(t, st, orig.ID)
		want := w
		want.TenantID, want.CreatedAt = orig.TenantID, orig.CreatedAt
		checkWebhook(t, got, &want)
		if got.Secret != orig.Secret || got.PreviousSecret != "" {
			t.Errorf("update changed the secrets to %q, %q", got.Secret, got.PreviousSecret)
		}
		if got.ConsecutiveFailures != 0 || got.FailingSince != nil {
			t.Errorf("update changed the health to %d, %v", got.ConsecutiveFailures, got.FailingSince)
		}
		if got.UpdatedAt.Before(before.Add(-time.Minute)) || got.UpdatedAt.After(time.Now().Add(time.Minute)) {
			t.Errorf("updated_at = %v, want about now (%v)", got.UpdatedAt, before)
		}

		missing := w
		missing.ID = "wh_missing"
		wantCode(t, st.UpdateWebhook(ctx, &missing), herald.ENOTFOUND, "updating a missing webhook")
	})

	t.Run("DisablingFailsPendingDeliveries", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		tenant := addTenant(t, st)
		w := addWebhook(t, st, tenant)
		other := addWebhook(t, st, tenant)
		done := publishEvent(t, st, tenant, "drift.detected", t0)
		pending := publishEvent(t, st, tenant, "drift.detected", t0.Add(time.Hour))
		for _, id := range done {
			succeed(t, st, "w1", id, t0.Add(time.Second))
		}

		off := *w
		off.Enabled, off.DisabledReason = false, "paused by the owner"
		ok(t, st.UpdateWebhook(ctx, &off), "disable webhook")
		if got := getWebhook(t, st, w.ID); got.Enabled || got.DisabledReason != "paused by the owner" {
			t.Errorf("disabled webhook: enabled %v, reason %q", got.Enabled, got.DisabledReason)
		}
		for _, id := range pending {
			d := getDelivery(t, st, id)
			switch d.WebhookID {
			case w.ID:
				if d.Status != herald.StatusFailed || d.NextAttemptAt != nil || !strings.Contains(d.LastError, "webhook disabled") {
					t.Errorf("pending delivery of a disabled webhook: %s, next %v, error %q; want failed, none, \"webhook disabled…\"",
						d.Status, d.NextAttemptAt, d.LastError)
				}
			case other.ID:
				if d.Status != herald.StatusPending {
					t.Errorf("another webhook's delivery is %s, want pending", d.Status)
				}
			}
		}
		for _, id := range done {
			if d := getDelivery(t, st, id); d.Status != herald.StatusSuccess {
				t.Errorf("a delivered delivery became %s when its webhook was disabled", d.Status)
			}
		}
		if got := claim(t, st, "w1", t0.Add(2*time.Hour), 10); len(got) != 1 {
			t.Errorf("claimed %d deliveries, want only the other webhook's", len(got))
		}
	})

	t.Run("EnablingResetsHealth", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		tenant := addTenant(t, st)
		w := addWebhook(t, st, tenant)
		id := publishEvent(t, st, tenant, "drift.detected", t0)[0]
		fail(t, st, "w1", id, t0, t0.Add(time.Minute))
		fail(t, st, "w1", id, t0.Add(time.Minute), t0.Add(time.Hour))
		if got := getWebhook(t, st, w.ID); got.ConsecutiveFailures != 2 || got.FailingSince == nil {
			t.Fatalf("after two failures: %d consecutive failures, failing since %v", got.ConsecutiveFailures, got.FailingSince)
		}

		off := *getWebhook(t, st, w.ID)
		off.Enabled, off.DisabledReason = false, "too many failures"
		ok(t, st.UpdateWebhook(ctx, &off), "disable webhook")
		on := *getWebhook(t, st, w.ID)
		on.Enabled = true
		ok(t, st.UpdateWebhook(ctx, &on), "enable webhook")
		got := getWebhook(t, st, w.ID)
		if !got.Enabled || got.DisabledReason != "" || got.ConsecutiveFailures != 0 || got.FailingSince != nil {
			t.Errorf("re-enabled webhook: enabled %v, reason %q, %d failures since %v; want enabled, healthy",
				got.Enabled, got.DisabledReason, got.ConsecutiveFailures, got.FailingSince)
		}
	})

	t.Run("RotateSecret", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		w := addWebhook(t, st, addTenant(t, st))
		grace := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
		ok(t, st.RotateSecret(ctx, w.ID, "whsec_second", grace), "rotate with grace")
		got := getWebhook(t, st, w.ID)
		if got.Secret != "whsec_second" || got.PreviousSecret != w.Secret || !got.PreviousSecretExpiresAt.Equal(grace) {
			t.Errorf("after rotation with grace: secret %q, previous %q until %v; want whsec_second, %q until %v",
				got.Secret, got.PreviousSecret, got.PreviousSecretExpiresAt, w.Secret, grace)
		}

		ok(t, st.RotateSecret(ctx, w.ID, "whsec_third", time.Now().Add(-time.Hour)), "rotate without grace")
		got = getWebhook(t, st, w.ID)
		if got.Secret != "whsec_third" || got.PreviousSecret != "" {
			t.Errorf("after rotation without grace: secret %q, previous %q; want whsec_third and none",
				got.Secret, got.PreviousSecret)
		}
		wantCode(t, st.RotateSecret(ctx, "wh_missing", "whsec_x", grace), herald.ENOTFOUND, "rotating a missing webhook")
	})

	t.Run("Delete", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		tenant := addTenant(t, st)
		gone := addWebhook(t, st, tenant)
		kept := addWebhook(t, st, tenant)
		r := publish(t, st, herald.Publication{Event: newEvent(tenant, "drift.detected", t0)})[0]
		for _, id := range r.DeliveryIDs {
			fail(t, st, "w1", id, t0, t0.Add(time.Minute))
		}

		ok(t, st.DeleteWebhook(ctx, gone.ID), "delete webhook")
		_, err := st.Webhook(ctx, gone.ID)
		wantCode(t, err, herald.ENOTFOUND, "deleted webhook")
		ds, total, err := st.Deliveries(ctx, herald.DeliveryFilter{EventID: r.EventID})
		ok(t, err, "deliveries")
		if total != 1 || len(ds) != 1 || ds[0].WebhookID != kept.ID || len(ds[0].Attempts) != 1 {
			t.Errorf("deliveries after deleting a webhook: %d (total %d), want only the other webhook's", len(ds), total)
		}
		for _, id := range r.DeliveryIDs {
			if d, err := st.Delivery(ctx, id); err == nil && d.WebhookID == gone.ID {
				t.Errorf("delivery %s of a deleted webhook is still there", id)
			}
		}
		_, err = st.Event(ctx, r.EventID)
		ok(t, err, "the event outlives a webhook")
		wantCode(t, st.DeleteWebhook(ctx, gone.ID), herald.ENOTFOUND, "deleting a deleted webhook")
	})
}

func webhookIDs(ws []herald.Webhook) []string {
	ids := make([]string, len(ws))
	for i, w := range ws {
		ids[i] = w.ID
	}
	return ids
}

// checkWebhook compares the fields a caller sets, in a way every backend can meet: no
// events means all whatever the spelling, and no headers is an empty map or nil.
func checkWebhook(t *testing.T, got, want *herald.Webhook) {
	t.Helper()
	var diffs []string
	diff := func(field string, g, w any) {
		diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", field, g, w))
	}
	if got.ID != want.ID {
		diff("id", got.ID, want.ID)
	}
	if got.TenantID != want.TenantID {
		diff("tenant_id", got.TenantID, want.TenantID)
	}
	if got.Name != want.Name || got.Description != want.Description || got.URL != want.URL {
		diff("name, description, url", []string{got.Name, got.Description, got.URL}, []string{want.Name, want.Description, want.URL})
	}
	if !slices.Equal(got.Events, want.Events) && !(len(got.Events) == 0 && len(want.Events) == 0) {
		diff("events", got.Events, want.Events)
	}
	if got.Enabled != want.Enabled || got.Format != want.Format || got.RateLimit != want.RateLimit {
		diff("enabled, format, rate_limit", []any{got.Enabled, got.Format, got.RateLimit}, []any{want.Enabled, want.Format, want.RateLimit})
	}
	if !maps.Equal(got.Headers, want.Headers) {
		diff("headers", got.Headers, want.Headers)
	}
	if got.Filter != want.Filter || got.Ordering != want.Ordering {
		diff("filter, ordering", []any{got.Filter, got.Ordering}, []any{want.Filter, want.Ordering})
	}
	if !slices.Equal(got.Channels, want.Channels) && !(len(got.Channels) == 0 && len(want.Channels) == 0) {
		diff("channels", got.Channels, want.Channels)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) || got.CreatedAt.Location() != time.UTC {
		diff("created_at", got.CreatedAt, want.CreatedAt)
	}
	for _, d := range diffs {
		t.Errorf("webhook %s: %s", want.ID, d)
	}
}
