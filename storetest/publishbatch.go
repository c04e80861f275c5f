package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// RunPublishBatch checks the rules of Publish within one large batch, as the batch API
// sends them: repeats of an earlier publication of the same batch, by id or by
// idempotency key, get its result; a key past its window within the batch is taken
// over; every new event gets its own deliveries, in order, past the sizes a store
// writes its rows in.
func RunPublishBatch(t *testing.T, open func(t *testing.T) herald.Store) {
	t.Helper()
	st := open(t)
	ctx := t.Context()
	tenant := addTenant(t, st)
	addWebhook(t, st, tenant)
	addWebhook(t, st, tenant, subscribed("drift.detected"))

	const n = 600 // more than any one INSERT a store writes
	ps := make([]herald.Publication, 0, n+4)
	for i := range n {
		typ := "drift.detected"
		if i%3 == 0 {
			typ = "cost.anomaly" // one subscriber of two
		}
		ps = append(ps, herald.Publication{Event: newEvent(tenant, typ, t0)})
	}
	keyed := herald.Publication{Event: newEvent(tenant, "drift.detected", t0), IdempotencyKey: "k-1"}
	sameKey := herald.Publication{Event: newEvent(tenant, "drift.detected", t0.Add(time.Hour)), IdempotencyKey: "k-1"}
	lateKey := herald.Publication{Event: newEvent(tenant, "drift.detected", t0.Add(herald.IdempotencyWindow+time.Hour)), IdempotencyKey: "k-1"}
	ps = append(ps, keyed, sameKey, ps[5], lateKey)
	rs := publish(t, st, ps...)

	seen := map[string]bool{}
	for i := range n {
		want := 2
		if i%3 == 0 {
			want = 1
		}
		if r := rs[i]; r.Duplicate || r.EventID != ps[i].Event.ID || r.Deliveries != want || len(r.DeliveryIDs) != want {
			t.Fatalf("result %d = %+v, want new event %s with %d deliveries", i, r, ps[i].Event.ID, want)
		}
		for _, id := range rs[i].DeliveryIDs {
			if seen[id] {
				t.Fatalf("delivery id %s given twice", id)
			}
			seen[id] = true
		}
	}
	if rs[n].Duplicate || rs[n].Deliveries != 2 {
		t.Errorf("first use of a key = %+v, want new with 2 deliveries", rs[n])
	}
	wantDuplicate(t, rs[n+1], rs[n])
	wantDuplicate(t, rs[n+2], rs[5])
	if r := rs[n+3]; r.Duplicate || r.EventID != lateKey.Event.ID || r.Deliveries != 2 {
		t.Errorf("the key past its window = %+v, want new event %s", r, lateKey.Event.ID)
	}
	if _, total, err := st.Deliveries(ctx, herald.DeliveryFilter{TenantID: tenant}); err != nil || total != len(seen)+4 {
		t.Errorf("tenant has %d deliveries (%v), want %d", total, err, len(seen)+4)
	}
	for _, i := range []int{0, n - 1} {
		if d := getDelivery(t, st, rs[i].DeliveryIDs[0]); d.EventID != ps[i].Event.ID || d.Status != herald.StatusPending {
			t.Errorf("delivery of event %d = %+v, want pending for %s", i, *d, ps[i].Event.ID)
		}
	}

	// Another tenant's id in a batch refuses the whole batch.
	other := addTenant(t, st)
	stolen := ps[7]
	stolen.Event.TenantID = other
	fresh := herald.Publication{Event: newEvent(other, "drift.detected", t0)}
	_, err := st.Publish(ctx, []herald.Publication{fresh, stolen})
	wantCode(t, err, herald.ECONFLICT, fmt.Sprintf("another tenant's id %s in a batch", stolen.Event.ID))
	if _, err := st.Event(ctx, fresh.Event.ID); herald.ErrorCode(err) != herald.ENOTFOUND {
		t.Errorf("the refused batch's other event was stored: %v", err)
	}
}
