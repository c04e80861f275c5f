package storetest

import (
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// testDisableRaces checks the rules that keep a webhook disabled by its failures from
// being undone by work that started before the disable.
func testDisableRaces(t *testing.T, open func(t *testing.T) herald.Store) {
	t.Run("EditReadBeforeAutoDisable", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		w := addWebhook(t, st, tenant)
		id := publishEvent(t, st, tenant, "drift.detected", t0)[0]
		edit := getWebhook(t, st, w.ID) // an API edit reads the webhook here...

		claim(t, st, "w1", t0, 10)
		_, err := st.RecordAttempt(t.Context(), &herald.AttemptRecord{
			Owner: "w1", Attempt: attempt(id, t0, false), Status: herald.StatusFailed,
			DisableReason: "endpoint answered 410 Gone",
		})
		ok(t, err, "record the disabling attempt")

		edit.Name = "renamed" // ...and writes it back, enabled, after the disable
		wantCode(t, st.UpdateWebhook(t.Context(), edit), herald.ECONFLICT, "an edit of a webhook read before it was disabled")
		if got := getWebhook(t, st, w.ID); got.Enabled || got.Name == "renamed" {
			t.Errorf("after the refused edit: enabled %v name %q, want still disabled and unchanged", got.Enabled, got.Name)
		}
		fresh := getWebhook(t, st, w.ID)
		fresh.Name = "renamed"
		ok(t, st.UpdateWebhook(t.Context(), fresh), "an edit of the webhook read again")
	})

	t.Run("AttemptInFlightWhenDisabled", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		w := addWebhook(t, st, tenant)
		id := publishEvent(t, st, tenant, "drift.detected", t0)[0]
		claim(t, st, "w1", t0, 10)

		off := getWebhook(t, st, w.ID)
		off.Enabled, off.DisabledReason = false, "disabled through the API"
		ok(t, st.UpdateWebhook(t.Context(), off), "disable while an attempt is in flight")
		_, err := st.RecordAttempt(t.Context(), &herald.AttemptRecord{
			Owner: "w1", Attempt: attempt(id, t0, false),
			Status: herald.StatusPending, NextAttemptAt: t0.Add(time.Minute),
		})
		ok(t, err, "record the attempt that was in flight")
		if d := getDelivery(t, st, id); d.Status != herald.StatusFailed {
			t.Errorf("delivery of a disabled webhook after a failed attempt: %s, want failed", d.Status)
		}
	})
}
