package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

func testDeliveries(t *testing.T, open func(t *testing.T) herald.Store) {
	t.Run("Filters", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		a, b := addTenant(t, st), addTenant(t, st)
		wa1 := addWebhook(t, st, a)
		wa2 := addWebhook(t, st, a, subscribed("drift.detected"))
		addWebhook(t, st, b)

		e1 := publish(t, st, herald.Publication{Event: newEvent(a, "drift.detected", t0)})[0]               // → wa1, wa2
		e2 := publish(t, st, herald.Publication{Event: newEvent(a, "alert.created", t0.Add(time.Hour))})[0] // → wa1
		e3 := publish(t, st, herald.Publication{Event: newEvent(b, "drift.detected", t0.Add(2*time.Hour))})[0]
		of := func(r herald.PublishResult, webhook string) string {
			t.Helper()
			for _, id := range r.DeliveryIDs {
				if getDelivery(t, st, id).WebhookID == webhook {
					return id
				}
			}
			t.Fatalf("event %s has no delivery to %s", r.EventID, webhook)
			return ""
		}
		e1wa1, e1wa2, e2wa1, e3wb := of(e1, wa1.ID), of(e1, wa2.ID), e2.DeliveryIDs[0], e3.DeliveryIDs[0]
		succeed(t, st, "w1", e1wa1, t0.Add(time.Minute))
		fail(t, st, "w1", e1wa2, t0.Add(time.Minute), t0.Add(2*time.Minute))
		fail(t, st, "w1", e1wa2, t0.Add(2*time.Minute), time.Time{})
		fail(t, st, "w1", e2wa1, t0.Add(time.Hour), t0.Add(3*time.Hour)) // pending, retrying
		// e1's two deliveries share a creation time: newest first falls back to the id.
		e1Both := []string{max(e1wa1, e1wa2), min(e1wa1, e1wa2)}

		for _, tc := range []struct {
			name   string
			filter herald.DeliveryFilter
			want   []string // newest first
		}{
			{"All", herald.DeliveryFilter{}, append([]string{e3wb, e2wa1}, e1Both...)},
			{"Tenant", herald.DeliveryFilter{TenantID: a}, append([]string{e2wa1}, e1Both...)},
			{"Webhook", herald.DeliveryFilter{WebhookID: wa1.ID}, []string{e2wa1, e1wa1}},
			{"Event", herald.DeliveryFilter{EventID: e1.EventID}, e1Both},
			{"StatusPending", herald.DeliveryFilter{Status: herald.StatusPending}, []string{e3wb, e2wa1}},
			{"StatusSuccess", herald.DeliveryFilter{Status: herald.StatusSuccess}, []string{e1wa1}},
			{"StatusFailed", herald.DeliveryFilter{Status: herald.StatusFailed}, []string{e1wa2}},
			{"StatusRetrying", herald.DeliveryFilter{Status: herald.StatusRetrying}, []string{e2wa1}},
			{"RetryingOfTenant", herald.DeliveryFilter{TenantID: b, Status: herald.StatusRetrying}, []string{}},
			{"EventType", herald.DeliveryFilter{EventType: "alert.created"}, []string{e2wa1}},
			{"Since", herald.DeliveryFilter{Since: t0.Add(time.Hour)}, []string{e3wb, e2wa1}},
			{"Until", herald.DeliveryFilter{Until: t0.Add(time.Hour)}, e1Both},
			{"SinceUntil", herald.DeliveryFilter{Since: t0.Add(time.Hour), Until: t0.Add(2 * time.Hour)}, []string{e2wa1}},
			{"Combined", herald.DeliveryFilter{TenantID: a, EventType: "drift.detected", Status: herald.StatusFailed}, []string{e1wa2}},
			{"NoMatch", herald.DeliveryFilter{TenantID: b, Status: herald.StatusSuccess}, []string{}},
			{"Page", herald.DeliveryFilter{PerPage: 1, Page: 2}, []string{e2wa1}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ds, total, err := st.Deliveries(ctx, tc.filter)
				ok(t, err, "deliveries")
				wantTotal := len(tc.want)
				if tc.name == "Page" {
					wantTotal = 4
				}
				if got := deliveryIDs(ds); !slices.Equal(got, tc.want) || total != wantTotal {
					t.Errorf("deliveries = %v (total %d), want %v (total %d)", got, total, tc.want, wantTotal)
				}
			})
		}

		ds, _, err := st.Deliveries(ctx, herald.DeliveryFilter{EventID: e1.EventID})
		ok(t, err, "deliveries")
		for _, d := range ds {
			want := map[string][]int{e1wa1: {1}, e1wa2: {1, 2}}[d.ID]
			var got []int
			for _, a := range d.Attempts {
				got = append(got, a.Number)
			}
			if !slices.Equal(got, want) {
				t.Errorf("delivery %s has attempts %v, want %v (oldest first)", d.ID, got, want)
			}
		}
		if d := getDelivery(t, st, e1wa2); len(d.Attempts) != 2 || d.Attempts[0].Number != 1 || !d.Attempts[1].At.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("delivery %s attempts = %+v, want two, oldest first", e1wa2, d.Attempts)
		}
		if d := getDelivery(t, st, e3wb); len(d.Attempts) != 0 {
			t.Errorf("a delivery without attempts has %d", len(d.Attempts))
		}
		_, err = st.Delivery(ctx, "del_missing")
		wantCode(t, err, herald.ENOTFOUND, "missing delivery")
	})

	t.Run("PageSize", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		w := addWebhook(t, st, tenant)
		var ps []herald.Publication
		for i := range 105 {
			ps = append(ps, herald.Publication{Event: newEvent(tenant, "drift.detected", t0.Add(time.Duration(i)*time.Second))})
		}
		rs := publish(t, st, ps...)
		for _, tc := range []struct {
			name     string
			filter   herald.DeliveryFilter
			wantLen  int
			wantHead string
		}{
			{"Default20", herald.DeliveryFilter{WebhookID: w.ID}, 20, rs[104].DeliveryIDs[0]},
			{"AtMost100", herald.DeliveryFilter{WebhookID: w.ID, PerPage: 500}, 100, rs[104].DeliveryIDs[0]},
			{"LastPage", herald.DeliveryFilter{WebhookID: w.ID, PerPage: 50, Page: 3}, 5, rs[4].DeliveryIDs[0]},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ds, total, err := st.Deliveries(t.Context(), tc.filter)
				ok(t, err, "deliveries")
				if len(ds) != tc.wantLen || total != 105 {
					t.Fatalf("got %d of %d, want %d of 105", len(ds), total, tc.wantLen)
				}
				if ds[0].ID != tc.wantHead {
					t.Errorf("first = %s, want %s (newest first)", ds[0].ID, tc.wantHead)
				}
			})
		}
	})
}

func deliveryIDs(ds []herald.Delivery) []string {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids
}
