package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

func testClaims(t *testing.T, open func(t *testing.T) herald.Store) {
	t.Run("DueOnlyOldestFirst", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		addWebhook(t, st, tenant)
		later := publishEvent(t, st, tenant, "drift.detected", t0.Add(2*time.Second))[0]
		oldest := publishEvent(t, st, tenant, "drift.detected", t0)[0]
		middle := publishEvent(t, st, tenant, "drift.detected", t0.Add(time.Second))[0]
		publishEvent(t, st, tenant, "drift.detected", t0.Add(time.Hour)) // not due yet

		if got := claim(t, st, "w1", t0.Add(time.Minute), 10); !slices.Equal(got, []string{oldest, middle, later}) {
			t.Errorf("claimed %v, want the due ones oldest first %v", got, []string{oldest, middle, later})
		}
	})

	t.Run("ClaimCarriesEventAndWebhook", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		w := addWebhook(t, st, tenant, func(w *herald.Webhook) { w.Headers = map[string]string{"X-A": "b"} })
		ok(t, st.RotateSecret(t.Context(), w.ID, "whsec_next", time.Now().Add(time.Hour)), "rotate secret")
		e := newEvent(tenant, "drift.detected", t0)
		e.TraceParent = testTraceParent
		r := publish(t, st, herald.Publication{Event: e})[0]
		cs, err := st.ClaimDue(t.Context(), herald.ClaimRequest{Owner: "w1", Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 5})
		ok(t, err, "claim due")
		if len(cs) != 1 {
			t.Fatalf("claimed %d, want 1", len(cs))
		}
		c := cs[0]
		if c.Delivery.ID != r.DeliveryIDs[0] || c.Delivery.EventID != e.ID || c.Delivery.WebhookID != w.ID ||
			c.Delivery.Status != herald.StatusPending || c.Delivery.AttemptCount != 0 {
			t.Errorf("claimed delivery = %+v", c.Delivery)
		}
		if c.Event.ID != e.ID || c.Event.Type != e.Type || c.Event.TenantID != tenant || !jsonEqual(c.Event.Data, e.Data) ||
			!c.Event.Timestamp.Equal(e.Timestamp) || c.Event.TraceParent != e.TraceParent {
			t.Errorf("claimed event = %+v, want %+v", c.Event, e)
		}
		if c.Webhook.ID != w.ID || c.Webhook.URL != w.URL || c.Webhook.Format != w.Format || c.Webhook.Headers["X-A"] != "b" {
			t.Errorf("claimed webhook = %+v", c.Webhook)
		}
		if c.Webhook.Secret != "whsec_next" || c.Webhook.PreviousSecret != w.Secret {
			t.Errorf("claimed webhook secrets = %q, %q; want whsec_next and %q, opened", c.Webhook.Secret, c.Webhook.PreviousSecret, w.Secret)
		}
	})

	t.Run("LimitAndLeases", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		addWebhook(t, st, tenant)
		var all []string
		for i := range 5 {
			all = append(all, publishEvent(t, st, tenant, "drift.detected", t0.Add(time.Duration(i)*time.Second))...)
		}
		now := t0.Add(time.Minute)
		a := claim(t, st, "a", now, 2) // leased until now+30s
		b := claim(t, st, "b", now, 2)
		c := claim(t, st, "c", now.Add(29*time.Second), 10)
		if !slices.Equal(a, all[:2]) || !slices.Equal(b, all[2:4]) || !slices.Equal(c, all[4:]) {
			t.Fatalf("claims = %v, %v, %v; want %v split 2, 2, 1", a, b, c, all)
		}
		if got := claim(t, st, "d", now.Add(29*time.Second), 10); len(got) != 0 {
			t.Errorf("claimed %v while every delivery is leased", got)
		}
		if got := claim(t, st, "d", now.Add(31*time.Second), 10); !slices.Equal(got, all[:4]) {
			t.Errorf("after the leases expired claimed %v, want %v", got, all[:4])
		}
	})

	t.Run("SkipWebhooks", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		busy := addWebhook(t, st, tenant)
		free := addWebhook(t, st, tenant)
		publishEvent(t, st, tenant, "drift.detected", t0)
		got, err := st.ClaimDue(t.Context(), herald.ClaimRequest{
			Owner: "w1", Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10, SkipWebhooks: []string{busy.ID},
		})
		ok(t, err, "claim due")
		if len(got) != 1 || got[0].Webhook.ID != free.ID {
			t.Errorf("claimed %v, want only the delivery to %s", claimIDs(got), free.ID)
		}
		if got := claim(t, st, "w1", t0, 10); len(got) != 1 {
			t.Errorf("claimed %d without a skip list, want the skipped webhook's delivery", len(got))
		}
	})

	t.Run("SkipTenants", func(t *testing.T) {
		st := open(t)
		greedy, other := addTenant(t, st), addTenant(t, st)
		for range 3 {
			addWebhook(t, st, greedy)
		}
		mine := addWebhook(t, st, other)
		for i := range 5 {
			publishEvent(t, st, greedy, "drift.detected", t0.Add(time.Duration(i)*time.Millisecond))
		}
		publishEvent(t, st, other, "drift.detected", t0.Add(time.Second))
		got, err := st.ClaimDue(t.Context(), herald.ClaimRequest{
			Owner: "w1", Now: t0.Add(time.Minute), LeaseUntil: t0.Add(2 * time.Minute), Limit: 4,
			PerWebhook: 2, SkipTenants: []string{greedy},
		})
		ok(t, err, "claim due")
		if len(got) != 1 || got[0].Webhook.ID != mine.ID {
			t.Errorf("claimed %v, want only the delivery to %s of the tenant not skipped", claimIDs(got), mine.ID)
		}
		if got := claim(t, st, "w1", t0.Add(time.Minute), 100); len(got) != 15 {
			t.Errorf("claimed %d without a skip list, want the skipped tenant's 15", len(got))
		}
	})

	t.Run("PerWebhook", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		busy := addWebhook(t, st, tenant, subscribed("drift.detected"))
		quiet := addWebhook(t, st, tenant, subscribed("cost.anomaly"))
		off := addWebhook(t, st, tenant, subscribed("alert.created"))
		// A backlog for busy in front, larger than any claim, then a little for the others.
		var ps []herald.Publication
		for i := range 300 {
			ps = append(ps, herald.Publication{Event: newEvent(tenant, "drift.detected", t0.Add(time.Duration(i)*time.Millisecond))})
		}
		for i, typ := range []string{"cost.anomaly", "alert.created", "cost.anomaly", "alert.created", "cost.anomaly"} {
			ps = append(ps, herald.Publication{Event: newEvent(tenant, typ, t0.Add(time.Second+time.Duration(i)*time.Millisecond))})
		}
		rs := publish(t, st, ps...)
		id := func(i int) string { return rs[i].DeliveryIDs[0] }
		// off's deliveries (301, 303) are pending until it is disabled, which fails them.
		offHook := *off
		offHook.Enabled = false
		ok(t, st.UpdateWebhook(t.Context(), &offHook), "disable webhook")

		now := t0.Add(time.Minute)
		for _, tc := range []struct {
			name string
			req  herald.ClaimRequest
			want []string
		}{
			{"Capped", herald.ClaimRequest{Limit: 5, PerWebhook: 2}, []string{id(0), id(1), id(300), id(302)}},
			{"CapAboveLimit", herald.ClaimRequest{Limit: 3, PerWebhook: 50}, []string{id(0), id(1), id(2)}},
			{"SkipTheBacklog", herald.ClaimRequest{Limit: 5, SkipWebhooks: []string{busy.ID}}, []string{id(300), id(302), id(304)}},
			{"SkipTheOthers", herald.ClaimRequest{Limit: 2, PerWebhook: 1, SkipWebhooks: []string{quiet.ID}}, []string{id(0)}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := tc.req
				r.Owner, r.Now, r.LeaseUntil = "w-"+tc.name, now, now.Add(time.Second)
				cs, err := st.ClaimDue(t.Context(), r)
				ok(t, err, "claim due")
				if got := claimIDs(cs); !slices.Equal(got, tc.want) {
					t.Errorf("claimed %v, want %v", got, tc.want)
				}
				ok(t, st.ReleaseClaims(t.Context(), r.Owner), "release claims")
			})
		}
	})

	t.Run("PerWebhookCountsEveryLease", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		busy := addWebhook(t, st, tenant, subscribed("drift.detected"))
		other := addWebhook(t, st, tenant, subscribed("cost.anomaly"))
		var ps []herald.Publication
		for i := range 6 {
			ps = append(ps, herald.Publication{Event: newEvent(tenant, "drift.detected", t0.Add(time.Duration(i)*time.Millisecond))})
		}
		ps = append(ps, herald.Publication{Event: newEvent(tenant, "cost.anomaly", t0.Add(time.Second))})
		publish(t, st, ps...)
		req := func(owner string, now time.Time) []herald.Claim {
			cs, err := st.ClaimDue(t.Context(), herald.ClaimRequest{
				Owner: owner, Now: now, LeaseUntil: now.Add(30 * time.Second), Limit: 10, PerWebhook: 3,
			})
			ok(t, err, "claim due by "+owner)
			return cs
		}
		now := t0.Add(time.Minute)
		if got := req("p1", now); len(got) != 4 {
			t.Fatalf("first process claimed %d, want 3 of %s and 1 of %s", len(got), busy.ID, other.ID)
		}
		// Another process finds the busy webhook at its cap: the first one's leases count.
		if got := req("p2", now); len(got) != 0 {
			t.Errorf("second process claimed %v while the first holds the webhook's cap", claimIDs(got))
		}
		// A claim with little room left still takes what the cap allows: the cap is
		// PerWebhook, not the claim's limit.
		cs, err := st.ClaimDue(t.Context(), herald.ClaimRequest{
			Owner: "p3", Now: now, LeaseUntil: now.Add(30 * time.Second), Limit: 2, PerWebhook: 5,
		})
		ok(t, err, "claim with a small limit")
		if len(cs) != 2 {
			t.Errorf("a claim of limit 2 under a cap of 5 with 3 leased took %d, want 2", len(cs))
		}
		ok(t, st.ReleaseClaims(t.Context(), "p3"), "release")
		// Once those leases expire, the cap is free again.
		if got := req("p2", now.Add(time.Minute)); len(got) != 4 {
			t.Errorf("after the leases expired the second process claimed %d, want 4", len(got))
		}
	})

	t.Run("EnabledWebhooksOnly", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		off := addWebhook(t, st, tenant, disabled)
		id := ping(t, st, off, t0)
		if got := claim(t, st, "w1", t0.Add(time.Minute), 10); len(got) != 0 {
			t.Errorf("claimed %v, a delivery of a disabled webhook", got)
		}
		// A manual send still can.
		c, err := st.ClaimDelivery(t.Context(), id, "w1", t0, t0.Add(time.Minute))
		ok(t, err, "claim delivery of a disabled webhook")
		if c.Delivery.ID != id || c.Webhook.ID != off.ID || c.Webhook.Secret != off.Secret {
			t.Errorf("claim = %s to %s, want %s to %s with its secret", c.Delivery.ID, c.Webhook.ID, id, off.ID)
		}
	})

	t.Run("ConcurrentClaimersNeverShare", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		for range 5 {
			addWebhook(t, st, tenant)
		}
		var ps []herald.Publication
		for i := range 100 {
			ps = append(ps, herald.Publication{Event: newEvent(tenant, "drift.detected", t0.Add(time.Duration(i)*time.Millisecond))})
		}
		publish(t, st, ps...)
		ClaimConcurrently(t, []herald.Store{st}, 8, 500, t0.Add(time.Hour))
	})

	t.Run("ClaimDelivery", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		tenant := addTenant(t, st)
		addWebhook(t, st, tenant)
		due := publishEvent(t, st, tenant, "drift.detected", t0)[0]
		future := publishEvent(t, st, tenant, "drift.detected", t0.Add(time.Hour))[0]

		c, err := st.ClaimDelivery(ctx, future, "a", t0, t0.Add(time.Minute))
		ok(t, err, "claim a delivery that is not due")
		if c.Delivery.ID != future || c.Event.ID != c.Delivery.EventID || c.Webhook.ID != c.Delivery.WebhookID {
			t.Errorf("claim = %+v", c.Delivery)
		}

		_, err = st.ClaimDelivery(ctx, due, "a", t0, t0.Add(time.Minute))
		ok(t, err, "claim a due delivery")
		if got := claim(t, st, "c", t0.Add(30*time.Second), 10); len(got) != 0 {
			t.Errorf("ClaimDue took %v, leased by ClaimDelivery", got)
		}
		_, err = st.ClaimDelivery(ctx, due, "b", t0.Add(30*time.Second), t0.Add(2*time.Minute))
		wantCode(t, err, herald.ECONFLICT, "claiming a delivery another owner holds")
		_, err = st.ClaimDelivery(ctx, due, "a", t0.Add(30*time.Second), t0.Add(2*time.Minute))
		wantCode(t, err, herald.ECONFLICT, "the owner claiming again while it holds the lease (it is sending it)")
		_, err = st.ClaimDelivery(ctx, due, "b", t0.Add(2*time.Minute), t0.Add(3*time.Minute))
		ok(t, err, "claiming after the lease expired")

		succeed(t, st, "b", due, t0.Add(150*time.Second))
		_, err = st.ClaimDelivery(ctx, due, "c", t0.Add(3*time.Minute), t0.Add(4*time.Minute))
		ok(t, err, "claiming a delivery that succeeded (manual retry)")

		_, err = st.ClaimDelivery(ctx, "del_missing", "a", t0, t0.Add(time.Minute))
		wantCode(t, err, herald.ENOTFOUND, "claiming a missing delivery")
	})

	t.Run("ReleaseClaims", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		addWebhook(t, st, tenant)
		for i := range 4 {
			publishEvent(t, st, tenant, "drift.detected", t0.Add(time.Duration(i)*time.Second))
		}
		now := t0.Add(time.Minute)
		a := claim(t, st, "a", now, 2)
		b := claim(t, st, "b", now, 2)
		ok(t, st.ReleaseClaims(t.Context(), "a"), "release claims")
		if got := claim(t, st, "c", now.Add(time.Second), 10); !slices.Equal(got, a) {
			t.Errorf("after a released claimed %v, want a's %v and not b's %v", got, a, b)
		}
		ok(t, st.ReleaseClaims(t.Context(), "nobody"), "releasing nothing")
	})

	t.Run("RequeueKeepsLeaseOfAttemptInFlight", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		w := addWebhook(t, st, tenant)
		id := publishEvent(t, st, tenant, "drift.detected", t0)[0]
		fail(t, st, "w1", id, t0.Add(time.Minute), time.Time{})
		// A manual retry is sending it when the failed deliveries are requeued.
		now := t0.Add(time.Hour)
		_, err := st.ClaimDelivery(t.Context(), id, "manual", now, now.Add(time.Minute))
		ok(t, err, "claim for a manual retry")
		n, err := st.Requeue(t.Context(), w.ID, t0, time.Time{}, now, 0)
		ok(t, err, "requeue")
		if n != 1 {
			t.Fatalf("requeued %d, want 1", n)
		}
		if got := claim(t, st, "w2", now.Add(time.Second), 10); len(got) != 0 {
			t.Errorf("claimed %v while the manual retry's lease runs: it would be sent twice at once", got)
		}
		if got := claim(t, st, "w2", now.Add(2*time.Minute), 10); len(got) != 1 {
			t.Errorf("after the lease ran out claimed %v, want the requeued delivery", got)
		}
	})

	t.Run("Requeue", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		tenant := addTenant(t, st)
		w := addWebhook(t, st, tenant)
		var ids []string // created at t0, +1h, +2h, +3h
		for i := range 4 {
			id := publishEvent(t, st, tenant, "drift.detected", t0.Add(time.Duration(i)*time.Hour))[0]
			fail(t, st, "w1", id, t0.Add(4*time.Hour), time.Time{})
			ids = append(ids, id)
		}
		other := addWebhook(t, st, tenant)
		otherID := ping(t, st, other, t0.Add(time.Hour))
		fail(t, st, "w1", otherID, t0.Add(4*time.Hour), time.Time{})
		delivered := ping(t, st, w, t0.Add(time.Hour))
		succeed(t, st, "w1", delivered, t0.Add(4*time.Hour))

		now := t0.Add(10 * time.Hour)
		n, err := st.Requeue(ctx, w.ID, t0.Add(time.Hour), t0.Add(3*time.Hour), now, 0)
		ok(t, err, "requeue")
		if n != 2 {
			t.Errorf("requeued %d, want the 2 failed deliveries created in the window", n)
		}
		for i, id := range ids {
			d := getDelivery(t, st, id)
			if inWindow := i == 1 || i == 2; inWindow {
				if d.Status != herald.StatusPending {
					t.Errorf("delivery created at +%dh is %s, want pending", i, d.Status)
				}
				wantTime(t, "requeued next_attempt_at", d.NextAttemptAt, &now)
			} else if d.Status != herald.StatusFailed {
				t.Errorf("delivery created at +%dh, outside the window, is %s, want failed", i, d.Status)
			}
		}
		if d := getDelivery(t, st, otherID); d.Status != herald.StatusFailed {
			t.Errorf("another webhook's delivery is %s, want failed", d.Status)
		}
		if d := getDelivery(t, st, delivered); d.Status != herald.StatusSuccess {
			t.Errorf("a delivered delivery is %s, want success", d.Status)
		}
		if got := claim(t, st, "w1", now, 10); !sameSet(got, ids[1:3]) {
			t.Errorf("claimed %v after requeue, want %v", got, ids[1:3])
		}

		n, err = st.Requeue(ctx, w.ID, t0, time.Time{}, now, 1)
		ok(t, err, "requeue one with no end")
		if n != 1 || getDelivery(t, st, ids[0]).Status != herald.StatusPending || getDelivery(t, st, ids[3]).Status != herald.StatusFailed {
			t.Errorf("requeue of at most 1 since t0 with no end: %d, want the oldest failed one alone", n)
		}
		n, err = st.Requeue(ctx, w.ID, t0, time.Time{}, now, 0)
		ok(t, err, "requeue with no end")
		if n != 1 {
			t.Errorf("requeue since t0 with no end: %d, want the last failed one", n)
		}
		// One recover's next batch (the same now) leaves a delivery it requeued alone,
		// even when that delivery has failed again meanwhile.
		claim(t, st, "w1", now, 10)
		fail(t, st, "w1", ids[0], now.Add(time.Second), time.Time{})
		if n, err := st.Requeue(ctx, w.ID, t0, time.Time{}, now, 0); err != nil || n != 0 {
			t.Errorf("a recover's second batch requeued %d (%v), want 0: the delivery failed again after this recover requeued it", n, err)
		}
		_, err = st.Requeue(ctx, "wh_missing", t0, now, now, 0)
		wantCode(t, err, herald.ENOTFOUND, "requeue of a missing webhook")
	})
}

// ClaimConcurrently has workers goroutines claim, from stores in turn, everything due at
// now, and fails t unless each of want deliveries is claimed exactly once and no claim
// fails. Backends use it with several stores on one database to show that claims hold
// across connections and processes.
func ClaimConcurrently(t *testing.T, stores []herald.Store, workers, want int, now time.Time) {
	t.Helper()
	var (
		mu      sync.Mutex
		claimed = map[string]string{} // delivery id → owner
		errs    []error
		wg      sync.WaitGroup
	)
	for i := range workers {
		st, owner := stores[i%len(stores)], fmt.Sprintf("worker-%d", i)
		wg.Go(func() {
			for {
				cs, err := st.ClaimDue(t.Context(), herald.ClaimRequest{
					Owner: owner, Now: now, LeaseUntil: now.Add(time.Hour), Limit: 7,
				})
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", owner, err))
					mu.Unlock()
					return
				}
				if len(cs) == 0 {
					return
				}
				mu.Lock()
				for _, c := range cs {
					if first, dup := claimed[c.Delivery.ID]; dup {
						errs = append(errs, fmt.Errorf("delivery %s claimed by %s and again by %s", c.Delivery.ID, first, owner))
					}
					claimed[c.Delivery.ID] = owner
				}
				stop := len(errs) > 0 // a store that hands out leased work would never run dry
				mu.Unlock()
				if stop {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if len(claimed) != want {
		t.Errorf("%d deliveries claimed, want all %d exactly once", len(claimed), want)
	}
}
