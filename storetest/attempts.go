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

func testRecordAttempt(t *testing.T, open func(t *testing.T) herald.Store) {
	t.Run("RetryThenSuccess", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		w := addWebhook(t, st, tenant)
		id := publishEvent(t, st, tenant, "drift.detected", t0)[0]

		var sent []herald.Attempt
		for i, step := range []struct {
			at      time.Time
			success bool
			status  herald.DeliveryStatus
			next    *time.Time
		}{
			{t0, false, herald.StatusPending, ptr(t0.Add(5 * time.Minute))},
			{t0.Add(5 * time.Minute), false, herald.StatusPending, ptr(t0.Add(35 * time.Minute))},
			{t0.Add(35 * time.Minute), true, herald.StatusSuccess, nil},
		} {
			if got := claim(t, st, "w1", step.at, 10); !slices.Equal(got, []string{id}) {
				t.Fatalf("attempt %d: claimed %v, want %s", i+1, got, id)
			}
			a := attempt(id, step.at, step.success)
			if i == 0 {
				a.ID = herald.NewID(herald.PrefixAttempt) // kept when given
			}
			if i != 1 {
				a.TraceID = "4bf92f3577b34da6a3ce929d0e0e473" + string(rune('6'+i)) // the second has none
			}
			a.RequestHeaders.Set("Webhook-Attempt", string(rune('1'+i)))
			r := herald.AttemptRecord{Owner: "w1", Attempt: a, Status: step.status}
			if step.next != nil {
				r.NextAttemptAt = *step.next
			}
			out := record(t, st, r)
			if out.Number != i+1 || out.WebhookDisabled {
				t.Errorf("attempt %d: outcome %+v, want number %d and no disabling", i+1, out, i+1)
			}
			sent = append(sent, a)

			d := getDelivery(t, st, id)
			if d.Status != step.status || d.AttemptCount != i+1 {
				t.Errorf("after attempt %d: %s with %d attempts, want %s with %d", i+1, d.Status, d.AttemptCount, step.status, i+1)
			}
			wantTime(t, "next_attempt_at", d.NextAttemptAt, step.next)
			if !step.success && d.LastError == "" {
				t.Errorf("after failed attempt %d: no last_error", i+1)
			}
			// The lease went with the attempt: another worker may take a retry when due.
			if step.next != nil {
				if got := claim(t, st, "w2", *step.next, 10); !slices.Equal(got, []string{id}) {
					t.Errorf("after attempt %d: retry not claimable when due (claimed %v)", i+1, got)
				}
				ok(t, st.ReleaseClaims(t.Context(), "w2"), "release")
			}

			wh := getWebhook(t, st, w.ID)
			wantLast := map[bool]string{true: "success", false: "failed"}[step.success]
			if wh.LastDeliveryStatus != wantLast {
				t.Errorf("after attempt %d: last_delivery_status %q, want %q", i+1, wh.LastDeliveryStatus, wantLast)
			}
			wantTime(t, "last_delivery_at", wh.LastDeliveryAt, &step.at)
			wantFailures := map[bool]int{true: 0, false: i + 1}[step.success]
			wantSince := map[bool]*time.Time{true: nil, false: &t0}[step.success]
			if wh.ConsecutiveFailures != wantFailures {
				t.Errorf("after attempt %d: %d consecutive failures, want %d", i+1, wh.ConsecutiveFailures, wantFailures)
			}
			wantTime(t, "failing_since", wh.FailingSince, wantSince)
		}

		d := getDelivery(t, st, id)
		if len(d.Attempts) != len(sent) {
			t.Fatalf("delivery has %d attempts, want %d", len(d.Attempts), len(sent))
		}
		for i, got := range d.Attempts {
			want := sent[i]
			if got.Number != i+1 || got.DeliveryID != id || got.ID == "" || (want.ID != "" && got.ID != want.ID) {
				t.Errorf("attempt %d: number %d, delivery %s, id %q; want number %d of %s, id %q", i, got.Number, got.DeliveryID, got.ID, i+1, id, want.ID)
			}
			if got.StatusCode != want.StatusCode || got.DurationMS != want.DurationMS || got.Success != want.Success ||
				got.Error != want.Error || got.ResponseBody != want.ResponseBody || got.TraceID != want.TraceID {
				t.Errorf("attempt %d = %d %dms %v %q %q trace %q, want %d %dms %v %q %q trace %q", i+1,
					got.StatusCode, got.DurationMS, got.Success, got.Error, got.ResponseBody, got.TraceID,
					want.StatusCode, want.DurationMS, want.Success, want.Error, want.ResponseBody, want.TraceID)
			}
			if !maps.EqualFunc(got.RequestHeaders, want.RequestHeaders, slices.Equal) ||
				!maps.EqualFunc(got.ResponseHeaders, want.ResponseHeaders, slices.Equal) {
				t.Errorf("attempt %d headers = %v, %v; want %v, %v", i+1, got.RequestHeaders, got.ResponseHeaders, want.RequestHeaders, want.ResponseHeaders)
			}
			wantTime(t, "attempt at", &got.At, &want.At)
		}
		// The delivery log loads attempts the same way.
		ds, _, err := st.Deliveries(t.Context(), herald.DeliveryFilter{WebhookID: w.ID})
		ok(t, err, "deliveries")
		if len(ds) != 1 || len(ds[0].Attempts) != len(sent) {
			t.Fatalf("delivery log = %d deliveries, want 1 with %d attempts", len(ds), len(sent))
		}
		for i, got := range ds[0].Attempts {
			if got.TraceID != sent[i].TraceID {
				t.Errorf("delivery log attempt %d trace %q, want %q", i+1, got.TraceID, sent[i].TraceID)
			}
		}
	})

	t.Run("FinalFailure", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		addWebhook(t, st, tenant)
		id := publishEvent(t, st, tenant, "drift.detected", t0)[0]
		claim(t, st, "w1", t0, 1)
		fail(t, st, "w1", id, t0, time.Time{})
		d := getDelivery(t, st, id)
		if d.Status != herald.StatusFailed || d.NextAttemptAt != nil || d.AttemptCount != 1 {
			t.Errorf("after a final failure: %s, next %v, %d attempts; want failed, none, 1", d.Status, d.NextAttemptAt, d.AttemptCount)
		}
		if got := claim(t, st, "w1", t0.Add(time.Hour), 10); len(got) != 0 {
			t.Errorf("claimed %v, a failed delivery", got)
		}
	})

	t.Run("Disable", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			rule func(r *herald.AttemptRecord)
			// failures are recorded this far apart; the last one must disable, none before
			failures int
			every    time.Duration
			reason   string // "" for any non-empty reason
		}{
			{"Reason", func(r *herald.AttemptRecord) { r.DisableReason = "endpoint answered 410 Gone" }, 1, 0, "endpoint answered 410 Gone"},
			{"ConsecutiveFailures", func(r *herald.AttemptRecord) { r.DisableAfterFailures = 3 }, 3, time.Minute, ""},
			{"FailingFor", func(r *herald.AttemptRecord) { r.DisableAfterFailingFor = 5 * 24 * time.Hour }, 6, 24 * time.Hour, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				st := open(t)
				tenant := addTenant(t, st)
				w := addWebhook(t, st, tenant)
				bystander := addWebhook(t, st, tenant, subscribed("cost.anomaly"))
				id := publishEvent(t, st, tenant, "drift.detected", t0)[0]
				queued := publishEvent(t, st, tenant, "drift.detected", t0.Add(10*24*time.Hour))[0]
				untouched := ping(t, st, bystander, t0.Add(10*24*time.Hour))

				for i := range tc.failures {
					at := t0.Add(time.Duration(i) * tc.every)
					r := herald.AttemptRecord{Owner: "w1", Attempt: attempt(id, at, false),
						Status: herald.StatusPending, NextAttemptAt: at.Add(time.Minute)}
					tc.rule(&r)
					out := record(t, st, r)
					last := i == tc.failures-1
					if out.WebhookDisabled != last {
						t.Fatalf("failure %d of %d: webhook disabled = %v, want %v", i+1, tc.failures, out.WebhookDisabled, last)
					}
					if last && (out.DisabledReason == "" || tc.reason != "" && out.DisabledReason != tc.reason) {
						t.Errorf("disabled reason = %q, want %q", out.DisabledReason, tc.reason)
					}
				}
				got := getWebhook(t, st, w.ID)
				if got.Enabled || got.DisabledReason == "" || (tc.reason != "" && got.DisabledReason != tc.reason) {
					t.Errorf("webhook: enabled %v, reason %q; want disabled with reason %q", got.Enabled, got.DisabledReason, tc.reason)
				}
				for _, did := range []string{id, queued} {
					d := getDelivery(t, st, did)
					if d.Status != herald.StatusFailed || d.NextAttemptAt != nil ||
						!strings.HasPrefix(d.LastError, "webhook disabled") || !strings.Contains(d.LastError, got.DisabledReason) {
						t.Errorf("delivery %s of the disabled webhook: %s, next %v, error %q; want failed with \"webhook disabled: %s\"",
							did, d.Status, d.NextAttemptAt, d.LastError, got.DisabledReason)
					}
				}
				if d := getDelivery(t, st, untouched); d.Status != herald.StatusPending {
					t.Errorf("another webhook's delivery is %s, want pending", d.Status)
				}

				// Already disabled: a manual retry that fails again disables nothing more.
				_, err := st.ClaimDelivery(t.Context(), id, "w1", t0.Add(20*24*time.Hour), t0.Add(21*24*time.Hour))
				ok(t, err, "claim delivery")
				r := herald.AttemptRecord{Owner: "w1", Attempt: attempt(id, t0.Add(20*24*time.Hour), false), Status: herald.StatusFailed}
				tc.rule(&r)
				if out := record(t, st, r); out.WebhookDisabled {
					t.Errorf("an attempt to an already disabled webhook reported disabling it")
				}
			})
		}
	})

	t.Run("SuccessResetsFailureCount", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		w := addWebhook(t, st, tenant)
		id := publishEvent(t, st, tenant, "drift.detected", t0)[0]
		rec := func(i int, success bool) herald.AttemptOutcome {
			at := t0.Add(time.Duration(i) * 24 * time.Hour)
			r := herald.AttemptRecord{Owner: "w1", Attempt: attempt(id, at, success), Status: herald.StatusPending,
				NextAttemptAt: at, DisableAfterFailures: 3, DisableAfterFailingFor: 3 * 24 * time.Hour}
			return record(t, st, r)
		}
		for i, success := range []bool{false, false, true, false, false} {
			if out := rec(i, success); out.WebhookDisabled {
				t.Fatalf("attempt %d disabled the webhook: %q", i+1, out.DisabledReason)
			}
		}
		if got := getWebhook(t, st, w.ID); !got.Enabled || got.ConsecutiveFailures != 2 {
			t.Errorf("webhook: enabled %v, %d failures; want enabled with 2", got.Enabled, got.ConsecutiveFailures)
		}
	})

	t.Run("HealthKeepsLastErrorAndSuccess", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		w := addWebhook(t, st, tenant)
		id := publishEvent(t, st, tenant, "drift.detected", t0)[0]
		health := func(what string, wantError string, wantSuccess *time.Time) *herald.Webhook {
			t.Helper()
			got := getWebhook(t, st, w.ID)
			if got.LastError != wantError {
				t.Errorf("%s: last error %q, want %q", what, got.LastError, wantError)
			}
			wantTime(t, what+": last success", got.LastSuccessAt, wantSuccess)
			return got
		}
		health("new webhook", "", nil)
		fail(t, st, "w1", id, t0, t0.Add(time.Minute))
		health("after a failure", "HTTP 500", nil)
		succeeded := t0.Add(time.Minute)
		succeed(t, st, "w1", id, succeeded)
		health("after a success", "", &succeeded)
		id2 := publishEvent(t, st, tenant, "drift.detected", t0.Add(time.Hour))[0]
		a := attempt(id2, t0.Add(time.Hour), false)
		a.Error = ""
		record(t, st, herald.AttemptRecord{Owner: "w1", Attempt: a, Status: herald.StatusFailed})
		got := health("after a 500 without an error", "HTTP 500 Internal Server Error", &succeeded)
		if h := got.Health(); h.State != herald.HealthFailing || h.ConsecutiveFailures != 1 {
			t.Errorf("health = %+v, want failing once", h)
		}

		// Enabling a disabled webhook resets its health, last error included; when it
		// last succeeded stays true.
		got.Enabled, got.DisabledReason = false, "by hand"
		ok(t, st.UpdateWebhook(t.Context(), got), "disable")
		got = getWebhook(t, st, w.ID)
		got.Enabled = true
		ok(t, st.UpdateWebhook(t.Context(), got), "enable")
		if got := health("after enabling", "", &succeeded); got.Health().State != herald.HealthHealthy {
			t.Errorf("state after enabling = %q, want healthy", got.Health().State)
		}
	})

	t.Run("ManualRetryKeepsSchedule", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		addWebhook(t, st, tenant)
		id := publishEvent(t, st, tenant, "drift.detected", t0)[0]
		claim(t, st, "w1", t0, 1)
		scheduled := t0.Add(time.Hour)
		fail(t, st, "w1", id, t0, scheduled)

		// A manual retry that fails would, by its own schedule, come back later, or
		// not at all: the retry scheduled before it stays.
		for i, next := range []time.Time{t0.Add(2 * time.Hour), {}} {
			at := t0.Add(time.Duration(i+1) * time.Minute)
			_, err := st.ClaimDelivery(t.Context(), id, "manual", at, at.Add(30*time.Second))
			ok(t, err, "claim for a manual retry")
			fail(t, st, "manual", id, at, next)
			d := getDelivery(t, st, id)
			if d.Status != herald.StatusPending || d.AttemptCount != i+2 {
				t.Errorf("after manual retry %d: %s with %d attempts, want pending with %d", i+1, d.Status, d.AttemptCount, i+2)
			}
			wantTime(t, fmt.Sprintf("next attempt after manual retry %d", i+1), d.NextAttemptAt, &scheduled)
		}
		if got := claim(t, st, "w1", scheduled, 1); !slices.Equal(got, []string{id}) {
			t.Errorf("claimed %v at the scheduled time, want %s", got, id)
		}
	})

	t.Run("LeaseLostKeepsSuccess", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		addWebhook(t, st, tenant)
		id := publishEvent(t, st, tenant, "drift.detected", t0)[0]
		claim(t, st, "slow", t0, 1) // leased until t0+30s, then lost
		if got := claim(t, st, "fast", t0.Add(time.Minute), 1); !slices.Equal(got, []string{id}) {
			t.Fatalf("claimed %v after the lease expired, want %s", got, id)
		}
		succeed(t, st, "fast", id, t0.Add(61*time.Second))
		out := fail(t, st, "slow", id, t0.Add(62*time.Second), t0.Add(time.Hour))
		if out.Number != 2 {
			t.Errorf("the late attempt is number %d, want 2", out.Number)
		}
		d := getDelivery(t, st, id)
		if d.Status != herald.StatusSuccess || d.NextAttemptAt != nil || len(d.Attempts) != 2 {
			t.Errorf("delivery: %s, next %v, %d attempts; want success kept, both attempts logged", d.Status, d.NextAttemptAt, len(d.Attempts))
		}
	})

	t.Run("LeaseLostKeepsNewOwnersLease", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		addWebhook(t, st, tenant)
		id := publishEvent(t, st, tenant, "drift.detected", t0)[0]
		claim(t, st, "slow", t0, 1)
		claim(t, st, "fast", t0.Add(time.Minute), 1) // leased until t0+90s
		fail(t, st, "slow", id, t0.Add(62*time.Second), t0.Add(63*time.Second))
		if got := claim(t, st, "third", t0.Add(64*time.Second), 1); len(got) != 0 {
			t.Errorf("claimed %v while fast still holds its lease", got)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		addWebhook(t, st, tenant)
		id := publishEvent(t, st, tenant, "drift.detected", t0)[0]
		_, err := st.RecordAttempt(t.Context(), &herald.AttemptRecord{Owner: "w1", Attempt: attempt("del_missing", t0, true), Status: herald.StatusSuccess})
		wantCode(t, err, herald.ENOTFOUND, "recording an attempt of a missing delivery")

		a := attempt(id, t0, false)
		a.ID = herald.NewID(herald.PrefixAttempt)
		record(t, st, herald.AttemptRecord{Owner: "w1", Attempt: a, Status: herald.StatusPending, NextAttemptAt: t0})
		_, err = st.RecordAttempt(t.Context(), &herald.AttemptRecord{Owner: "w1", Attempt: a, Status: herald.StatusPending, NextAttemptAt: t0})
		wantCode(t, err, herald.ECONFLICT, "recording an attempt id twice")
		if d := getDelivery(t, st, id); d.AttemptCount != 1 || len(d.Attempts) != 1 {
			t.Errorf("a refused attempt changed the delivery: %d attempts", d.AttemptCount)
		}
	})
}
