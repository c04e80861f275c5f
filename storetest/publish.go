package storetest

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// testTraceParent is a W3C traceparent as the API stores one with an event.
const testTraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func testPublish(t *testing.T, open func(t *testing.T) herald.Store) {
	t.Run("FanOut", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		tenant, other := addTenant(t, st), addTenant(t, st)
		hooks := map[string]*herald.Webhook{
			"all":      addWebhook(t, st, tenant, subscribed()),
			"star":     addWebhook(t, st, tenant, subscribed("*")),
			"drift":    addWebhook(t, st, tenant, subscribed("drift.detected")),
			"alert":    addWebhook(t, st, tenant, subscribed("alert.created")),
			"both":     addWebhook(t, st, tenant, subscribed("alert.created", "drift.detected")),
			"disabled": addWebhook(t, st, tenant, disabled),
			"other":    addWebhook(t, st, other),
		}
		for _, tc := range []struct {
			typ  string
			want []string
		}{
			{"drift.detected", []string{"all", "star", "drift", "both"}},
			{"alert.created", []string{"all", "star", "alert", "both"}},
			{"cost.anomaly", []string{"all", "star"}},
		} {
			t.Run(tc.typ, func(t *testing.T) {
				e := newEvent(tenant, tc.typ, t0.Add(time.Minute))
				r := publish(t, st, herald.Publication{Event: e})[0]
				if r.EventID != e.ID || r.Duplicate || r.Deliveries != len(tc.want) || len(r.DeliveryIDs) != len(tc.want) {
					t.Fatalf("result = %+v, want event %s with %d new deliveries", r, e.ID, len(tc.want))
				}
				var wantHooks, gotHooks []string
				for _, name := range tc.want {
					wantHooks = append(wantHooks, hooks[name].ID)
				}
				for _, id := range r.DeliveryIDs {
					d := getDelivery(t, st, id)
					gotHooks = append(gotHooks, d.WebhookID)
					if d.EventID != e.ID || d.TenantID != tenant || d.EventType != tc.typ || d.Status != herald.StatusPending ||
						d.AttemptCount != 0 || len(d.Attempts) != 0 || d.LastError != "" {
						t.Errorf("new delivery = %+v, want a pending %s of event %s with no attempts", *d, tc.typ, e.ID)
					}
					wantTime(t, "next_attempt_at", d.NextAttemptAt, &e.CreatedAt)
					wantTime(t, "created_at", &d.CreatedAt, &e.CreatedAt)
				}
				if !sameSet(gotHooks, wantHooks) {
					t.Errorf("delivered to %v, want %v", gotHooks, wantHooks)
				}
			})
		}

		_, err := st.Event(ctx, "evt_missing")
		wantCode(t, err, herald.ENOTFOUND, "missing event")
	})

	t.Run("EventRoundTrip", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		e := newEvent(tenant, "job.completed", t0.Add(1500*time.Millisecond))
		e.Timestamp = t0.Add(-time.Hour)
		e.Data = json.RawMessage(`{"job_id":"j_1","status":"completed","counts":[1,2,3],"nested":{"a":null}}`)
		e.TraceParent = testTraceParent
		e.Channels, e.OrderingKey = []string{"eu-west", "project:42"}, "job-j_1"
		r := publish(t, st, herald.Publication{Event: e})[0]
		if r.Deliveries != 0 || len(r.DeliveryIDs) != 0 {
			t.Errorf("an event nobody subscribes to got %d deliveries", r.Deliveries)
		}
		got, err := st.Event(t.Context(), e.ID)
		ok(t, err, "event")
		if got.ID != e.ID || got.TenantID != e.TenantID || got.Type != e.Type || !jsonEqual(got.Data, e.Data) {
			t.Errorf("event = %s %s %s %s, want %s %s %s %s", got.ID, got.TenantID, got.Type, got.Data, e.ID, e.TenantID, e.Type, e.Data)
		}
		wantTime(t, "timestamp", &got.Timestamp, &e.Timestamp)
		wantTime(t, "created_at", &got.CreatedAt, &e.CreatedAt)
		if got.TraceParent != e.TraceParent {
			t.Errorf("event traceparent = %q, want %q", got.TraceParent, e.TraceParent)
		}
		if !slices.Equal(got.Channels, e.Channels) || got.OrderingKey != e.OrderingKey {
			t.Errorf("event channels, ordering key = %q, %q; want %q, %q", got.Channels, got.OrderingKey, e.Channels, e.OrderingKey)
		}
		// Without one it stays empty.
		plain := publish(t, st, herald.Publication{Event: newEvent(tenant, "job.completed", t0)})[0]
		got, err = st.Event(t.Context(), plain.EventID)
		ok(t, err, "event")
		if got.TraceParent != "" {
			t.Errorf("event published without a traceparent has %q, want none", got.TraceParent)
		}
	})

	t.Run("Target", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		tenant, other := addTenant(t, st), addTenant(t, st)
		off := addWebhook(t, st, tenant, disabled, subscribed("drift.detected"))
		bystander := addWebhook(t, st, tenant)
		for _, w := range []*herald.Webhook{off, bystander} {
			id := ping(t, st, w, t0)
			if d := getDelivery(t, st, id); d.WebhookID != w.ID || d.Status != herald.StatusPending || d.EventType != herald.PingType {
				t.Errorf("ping delivery = %s %s %s, want a pending ping to %s", d.WebhookID, d.Status, d.EventType, w.ID)
			}
		}

		foreign := addWebhook(t, st, other)
		for name, target := range map[string]string{"missing": "wh_missing", "another tenant's": foreign.ID} {
			e := newEvent(tenant, herald.PingType, t0)
			_, err := st.Publish(ctx, []herald.Publication{{Event: e, Target: target}})
			wantCode(t, err, herald.ENOTFOUND, "publishing to a "+name+" target")
			if _, err := st.Event(ctx, e.ID); herald.ErrorCode(err) != herald.ENOTFOUND {
				t.Errorf("publishing to a %s target stored the event (err %v)", name, err)
			}
		}
	})

	t.Run("BatchIsAtomic", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		tenant, other := addTenant(t, st), addTenant(t, st)
		addWebhook(t, st, tenant)
		taken := newEvent(other, "drift.detected", t0)
		publish(t, st, herald.Publication{Event: taken})

		for _, tc := range []struct {
			name string
			bad  herald.Publication
			code string
		}{
			{"ConflictingID", herald.Publication{Event: func() herald.Event {
				e := newEvent(tenant, "drift.detected", t0)
				e.ID = taken.ID
				return e
			}()}, herald.ECONFLICT},
			{"MissingTarget", herald.Publication{Event: newEvent(tenant, herald.PingType, t0), Target: "wh_missing"}, herald.ENOTFOUND},
		} {
			t.Run(tc.name, func(t *testing.T) {
				good := newEvent(tenant, "drift.detected", t0)
				_, err := st.Publish(ctx, []herald.Publication{{Event: good}, tc.bad, {Event: newEvent(tenant, "drift.detected", t0)}})
				wantCode(t, err, tc.code, "batch with a bad publication")
				if _, err := st.Event(ctx, good.ID); herald.ErrorCode(err) != herald.ENOTFOUND {
					t.Errorf("a failed batch stored its first event (err %v)", err)
				}
				if _, total, err := st.Deliveries(ctx, herald.DeliveryFilter{TenantID: tenant}); err != nil || total != 0 {
					t.Errorf("a failed batch left %d deliveries (err %v), want 0", total, err)
				}
			})
		}

		rs := publish(t, st,
			herald.Publication{Event: newEvent(tenant, "drift.detected", t0)},
			herald.Publication{Event: newEvent(tenant, "cost.anomaly", t0)})
		if rs[0].Deliveries != 1 || rs[1].Deliveries != 1 || rs[0].EventID == rs[1].EventID {
			t.Errorf("batch results = %+v, want one per publication, in order", rs)
		}
	})

	t.Run("IdempotentByID", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		tenant, other := addTenant(t, st), addTenant(t, st)
		addWebhook(t, st, tenant)
		addWebhook(t, st, tenant)
		e := newEvent(tenant, "drift.detected", t0)
		first := publish(t, st, herald.Publication{Event: e})[0]

		again := e
		again.Data = json.RawMessage(`{"different":true}`)
		again.CreatedAt = t0.Add(48 * time.Hour) // ids never expire
		addWebhook(t, st, tenant)                // a new subscriber must not get the repeat
		dup := publish(t, st, herald.Publication{Event: again})[0]
		wantDuplicate(t, dup, first)
		if _, total, _ := st.Deliveries(ctx, herald.DeliveryFilter{EventID: e.ID}); total != 2 {
			t.Errorf("event has %d deliveries after a repeat, want 2", total)
		}
		if got, _ := st.Event(ctx, e.ID); got == nil || !jsonEqual(got.Data, e.Data) {
			t.Errorf("a repeat changed the event's data")
		}

		// Repeats within one batch.
		e2 := newEvent(tenant, "drift.detected", t0)
		rs := publish(t, st, herald.Publication{Event: e2}, herald.Publication{Event: e2})
		if rs[0].Duplicate || rs[0].Deliveries != 3 {
			t.Errorf("first of a batch = %+v, want new with 3 deliveries", rs[0])
		}
		wantDuplicate(t, rs[1], rs[0])

		stolen := e
		stolen.TenantID = other
		_, err := st.Publish(ctx, []herald.Publication{{Event: stolen}})
		wantCode(t, err, herald.ECONFLICT, "another tenant's event id")
	})

	t.Run("IdempotentByKey", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		tenant, other := addTenant(t, st), addTenant(t, st)
		addWebhook(t, st, tenant)
		addWebhook(t, st, other)
		pub := func(tenant string, at time.Time) herald.PublishResult {
			return publish(t, st, herald.Publication{Event: newEvent(tenant, "drift.detected", at), IdempotencyKey: "key-1"})[0]
		}
		first := pub(tenant, t0)
		if first.Duplicate || first.Deliveries != 1 {
			t.Fatalf("first = %+v, want new with 1 delivery", first)
		}

		dup := publish(t, st, herald.Publication{Event: newEvent(tenant, "drift.detected", t0.Add(herald.IdempotencyWindow-time.Minute)), IdempotencyKey: "key-1"})
		wantDuplicate(t, dup[0], first)
		if _, total, _ := st.Deliveries(ctx, herald.DeliveryFilter{TenantID: tenant}); total != 1 {
			t.Errorf("tenant has %d deliveries after a repeated key, want 1", total)
		}

		if r := pub(other, t0.Add(time.Minute)); r.Duplicate || r.EventID == first.EventID || r.Deliveries != 1 {
			t.Errorf("another tenant's use of the key = %+v, want a new event", r)
		}
		later := pub(tenant, t0.Add(herald.IdempotencyWindow+time.Second))
		if later.Duplicate || later.EventID == first.EventID || later.Deliveries != 1 {
			t.Errorf("the key after the window = %+v, want a new event", later)
		}
		// The key now belongs to the later event.
		wantDuplicate(t, pub(tenant, t0.Add(herald.IdempotencyWindow+time.Hour)), later)
	})
}

// wantDuplicate fails t unless got is first's result marked as a duplicate.
func wantDuplicate(t *testing.T, got, first herald.PublishResult) {
	t.Helper()
	if !got.Duplicate || got.EventID != first.EventID || got.Deliveries != first.Deliveries || !sameSet(got.DeliveryIDs, first.DeliveryIDs) {
		t.Errorf("repeat = %+v, want the first result %+v marked duplicate", got, first)
	}
	if slices.ContainsFunc(got.DeliveryIDs, func(id string) bool { return id == "" }) {
		t.Errorf("repeat has an empty delivery id: %v", got.DeliveryIDs)
	}
}
