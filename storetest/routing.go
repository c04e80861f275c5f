package storetest

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// filtered gives the webhook a content filter.
func filtered(f string) webhookOption { return func(w *herald.Webhook) { w.Filter = f } }

// onChannels gives the webhook channels.
func onChannels(cs ...string) webhookOption { return func(w *herald.Webhook) { w.Channels = cs } }

// routedEvent is an event of tenant and type at at, with data and channels.
func routedEvent(tenant, typ string, at time.Time, data string, channels ...string) herald.Event {
	e := newEvent(tenant, typ, at)
	e.Data, e.Channels = json.RawMessage(data), channels
	return e
}

// webhooksOf maps delivery ids to their webhooks' ids.
func webhooksOf(t *testing.T, st herald.Store, ids []string) []string {
	t.Helper()
	var out []string
	for _, id := range ids {
		out = append(out, getDelivery(t, st, id).WebhookID)
	}
	return out
}

func testRouting(t *testing.T, open func(t *testing.T) herald.Store) {
	t.Run("FanOut", func(t *testing.T) {
		st := open(t)
		tenant := addTenant(t, st)
		critical := addWebhook(t, st, tenant, filtered(`data.severity == "critical" && data.resource_type.startsWith("s3")`))
		prod := addWebhook(t, st, tenant, onChannels("prod", "eu"))
		both := addWebhook(t, st, tenant, onChannels("prod"), filtered(`"eu" in channels`))
		broken := addWebhook(t, st, tenant, filtered(`data.no.such.field == 1`))
		all := addWebhook(t, st, tenant)
		for _, tc := range []struct {
			name     string
			data     string
			channels []string
			want     []*herald.Webhook
		}{
			{"critical s3 without channels", `{"severity":"critical","resource_type":"s3_bucket"}`, nil, []*herald.Webhook{critical, all}},
			{"low s3 on prod", `{"severity":"low","resource_type":"s3_bucket"}`, []string{"prod"}, []*herald.Webhook{prod, all}},
			{"critical ec2 on prod and eu", `{"severity":"critical","resource_type":"ec2"}`, []string{"us", "eu", "prod"}, []*herald.Webhook{prod, both, all}},
			{"on another channel", `{}`, []string{"staging"}, []*herald.Webhook{all}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := publish(t, st, herald.Publication{Event: routedEvent(tenant, "drift.detected", t0.Add(time.Minute), tc.data, tc.channels...)})[0]
				var want []string
				for _, w := range tc.want {
					want = append(want, w.ID)
				}
				if got := webhooksOf(t, st, r.DeliveryIDs); !sameSet(got, want) {
					t.Errorf("delivered to %v, want %v (broken filter %s never)", got, want, broken.ID)
				}
			})
		}
		// A ping or a test goes to its target whatever its filter and channels.
		for _, w := range []*herald.Webhook{critical, prod, broken} {
			d := getDelivery(t, st, ping(t, st, w, t0.Add(2*time.Minute)))
			if d.WebhookID != w.ID {
				t.Errorf("ping to %s delivered to %s", w.ID, d.WebhookID)
			}
		}
	})

	t.Run("DeliveryChannels", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		tenant := addTenant(t, st)
		w := addWebhook(t, st, tenant)
		onProd := publish(t, st, herald.Publication{Event: routedEvent(tenant, "drift.detected", t0.Add(time.Minute), `{}`, "prod", "eu")})[0]
		onEU := publish(t, st, herald.Publication{Event: routedEvent(tenant, "drift.detected", t0.Add(2*time.Minute), `{}`, "eu")})[0]
		none := publish(t, st, herald.Publication{Event: routedEvent(tenant, "drift.detected", t0.Add(3*time.Minute), `{}`)})[0]
		d := getDelivery(t, st, onProd.DeliveryIDs[0])
		if !slices.Equal(d.Channels, []string{"prod", "eu"}) {
			t.Errorf("delivery channels = %v, want [prod eu]", d.Channels)
		}
		for _, tc := range []struct {
			channel string
			want    []string
		}{
			{"prod", onProd.DeliveryIDs},
			{"eu", append(slices.Clone(onEU.DeliveryIDs), onProd.DeliveryIDs...)},
			{"staging", nil},
			{"", append(append(slices.Clone(none.DeliveryIDs), onEU.DeliveryIDs...), onProd.DeliveryIDs...)},
		} {
			ds, total, err := st.Deliveries(ctx, herald.DeliveryFilter{WebhookID: w.ID, Channel: tc.channel})
			ok(t, err, "deliveries on "+tc.channel)
			if got := deliveryIDs(ds); !slices.Equal(got, tc.want) || total != len(tc.want) {
				t.Errorf("deliveries on channel %q = %v (total %d), want %v", tc.channel, got, total, tc.want)
			}
			for _, d := range ds {
				if d.Channels == nil {
					t.Errorf("delivery %s: Channels nil, want a list", d.ID)
				}
				if tc.channel != "" && !slices.Contains(d.Channels, tc.channel) {
					t.Errorf("delivery %s on %v listed for channel %q", d.ID, d.Channels, tc.channel)
				}
			}
		}
	})

	t.Run("Replay", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		tenant, other := addTenant(t, st), addTenant(t, st)
		w := addWebhook(t, st, tenant, subscribed("drift.detected", "alert.created"), onChannels("prod"),
			filtered(`data.severity != "low"`))
		addWebhook(t, st, other)
		at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
		pub := func(e herald.Event) herald.PublishResult { return publish(t, st, herald.Publication{Event: e})[0] }
		hit1 := pub(routedEvent(tenant, "drift.detected", at(1), `{"severity":"high"}`, "prod"))
		pub(routedEvent(tenant, "drift.detected", at(2), `{"severity":"low"}`, "prod"))     // filtered out
		pub(routedEvent(tenant, "drift.detected", at(3), `{"severity":"high"}`, "staging")) // not on its channel
		pub(routedEvent(tenant, "cost.anomaly", at(4), `{"severity":"high"}`, "prod"))      // not its type
		hit2 := pub(routedEvent(tenant, "alert.created", at(5), `{"severity":"critical"}`, "prod"))
		pub(routedEvent(other, "drift.detected", at(6), `{"severity":"high"}`, "prod")) // another tenant
		ping(t, st, w, at(7))                                                           // pings are never replayed
		hit3 := pub(routedEvent(tenant, "drift.detected", at(8), `{"severity":"high"}`, "prod"))
		late := pub(routedEvent(tenant, "drift.detected", at(20), `{"severity":"high"}`, "prod")) // after until

		now := at(30)
		replay := func(r herald.ReplayRequest) herald.ReplayResult {
			t.Helper()
			r.WebhookID, r.Now = w.ID, now
			var total herald.ReplayResult
			for range 100 {
				got, err := st.Replay(ctx, r)
				ok(t, err, "replay")
				total.Replayed += got.Replayed
				total.Skipped += got.Skipped
				total.DeliveryIDs = append(total.DeliveryIDs, got.DeliveryIDs...)
				if got.Done {
					return total
				}
				if got.Next == r.After {
					t.Fatalf("replay batch did not advance its cursor from %+v", r.After)
				}
				r.After = got.Next
			}
			t.Fatal("replay not done after 100 batches")
			return total
		}
		wantReplayed := func(got herald.ReplayResult, events []herald.PublishResult, skipped int, what string) {
			t.Helper()
			if got.Replayed != len(events) || got.Skipped != skipped || len(got.DeliveryIDs) != len(events) {
				t.Fatalf("%s: replayed %d, skipped %d, want %d and %d", what, got.Replayed, got.Skipped, len(events), skipped)
			}
			for i, id := range got.DeliveryIDs {
				d := getDelivery(t, st, id)
				if d.EventID != events[i].EventID || d.WebhookID != w.ID || d.TenantID != tenant || d.Status != herald.StatusPending ||
					d.AttemptCount != 0 {
					t.Errorf("%s: delivery %d = %+v, want a new pending delivery of event %s to %s", what, i, *d, events[i].EventID, w.ID)
				}
				wantTime(t, "replayed delivery's created_at", &d.CreatedAt, &now)
				wantTime(t, "replayed delivery's next_attempt_at", d.NextAttemptAt, &now)
			}
		}

		// In batches of 2: the same as in one batch.
		got := replay(herald.ReplayRequest{Since: at(0), Until: at(10), Limit: 2})
		wantReplayed(got, []herald.PublishResult{hit1, hit2, hit3}, 0, "replay in batches of 2")
		got = replay(herald.ReplayRequest{Since: at(0), Until: at(10)})
		wantReplayed(got, []herald.PublishResult{hit1, hit2, hit3}, 0, "replay in one batch")
		got = replay(herald.ReplayRequest{Since: at(5), Until: at(21), Types: []string{"drift.detected"}})
		wantReplayed(got, []herald.PublishResult{hit3, late}, 0, "replay of drift.detected since minute 5")
		got = replay(herald.ReplayRequest{Since: at(0), Until: at(1)})
		wantReplayed(got, nil, 0, "replay of an empty window")

		// Only the failed: the latest delivery of the event to the webhook failed.
		failed := deliveryOf(t, st, hit1.DeliveryIDs, w.ID)
		_, err := st.ClaimDelivery(ctx, failed, "owner", at(31), at(32))
		ok(t, err, "claim delivery")
		fail(t, st, "owner", failed, at(31), time.Time{})
		got = replay(herald.ReplayRequest{Since: at(0), Until: at(10), OnlyFailed: true})
		// hit1's latest delivery to w is a replayed one, still pending: not failed.
		wantReplayed(got, nil, 0, "only_failed while a newer delivery is pending")

		w2 := addWebhook(t, st, tenant, subscribed("drift.detected"))
		e4 := pub(routedEvent(tenant, "drift.detected", at(40), `{"severity":"high"}`))
		e5 := pub(routedEvent(tenant, "drift.detected", at(41), `{"severity":"high"}`))
		d4 := deliveryOf(t, st, e4.DeliveryIDs, w2.ID)
		_, err = st.ClaimDelivery(ctx, d4, "owner", at(42), at(43))
		ok(t, err, "claim delivery")
		fail(t, st, "owner", d4, at(42), time.Time{})
		r2, err := st.Replay(ctx, herald.ReplayRequest{WebhookID: w2.ID, Since: at(40), Until: at(50), OnlyFailed: true, Now: at(50)})
		ok(t, err, "replay only failed")
		if r2.Replayed != 1 || !r2.Done || getDelivery(t, st, r2.DeliveryIDs[0]).EventID != e4.EventID {
			t.Fatalf("only_failed replay = %+v, want event %s alone (not %s)", r2, e4.EventID, e5.EventID)
		}

		// An event whose data retention removed is skipped.
		d5 := deliveryOf(t, st, e5.DeliveryIDs, w2.ID)
		_, err = st.ClaimDelivery(ctx, d5, "owner", at(44), at(45))
		ok(t, err, "claim delivery")
		succeed(t, st, "owner", d5, at(44))
		purge(t, st, at(45), at(46), 0)
		wantData(t, st, e5.EventID, false, "e5 after the purge")
		r3, err := st.Replay(ctx, herald.ReplayRequest{WebhookID: w2.ID, Since: at(41), Until: at(42), Now: at(50)})
		ok(t, err, "replay of a purged event")
		if r3.Replayed != 0 || r3.Skipped != 1 {
			t.Fatalf("replay of a purged event = %+v, want 0 replayed, 1 skipped", r3)
		}

		// Replayed to a webhook ordering by key, the deliveries of a key queue as new
		// events' do: the first due now, the next unscheduled behind it; without a key,
		// due now.
		keyed := addWebhook(t, st, tenant, subscribed("invoice.paid"), func(w *herald.Webhook) { w.Ordering = herald.OrderingKey })
		for m, key := range []string{"k1", "k1", ""} {
			e := routedEvent(tenant, "invoice.paid", at(60+m), `{}`)
			e.OrderingKey = key
			pub(e)
		}
		rk, err := st.Replay(ctx, herald.ReplayRequest{WebhookID: keyed.ID, Since: at(59), Until: at(70), Now: at(70)})
		ok(t, err, "replay to a keyed webhook")
		if rk.Replayed != 3 {
			t.Fatalf("replay to a keyed webhook = %+v, want 3 replayed", rk)
		}
		// The originals of k1 are pending: both replays of k1 wait; the unkeyed one is due.
		for i, id := range rk.DeliveryIDs {
			d := getDelivery(t, st, id)
			if due := d.NextAttemptAt != nil; due != (i == 2) {
				t.Errorf("replayed delivery %d to the keyed webhook: next_attempt_at %v, want due only without a key", i, d.NextAttemptAt)
			}
		}
		late2 := addWebhook(t, st, tenant, subscribed("invoice.paid"), func(w *herald.Webhook) { w.Ordering = herald.OrderingKey })
		rk, err = st.Replay(ctx, herald.ReplayRequest{WebhookID: late2.ID, Since: at(59), Until: at(70), Now: at(71)})
		ok(t, err, "replay to a keyed webhook with nothing pending")
		if rk.Replayed != 3 {
			t.Fatalf("replay to a new keyed webhook = %+v, want 3 replayed", rk)
		}
		for i, id := range rk.DeliveryIDs {
			d := getDelivery(t, st, id)
			if due := d.NextAttemptAt != nil; due != (i != 1) {
				t.Errorf("replayed delivery %d to a new keyed webhook: next_attempt_at %v, want the first of k1 and the unkeyed due, the second of k1 waiting", i, d.NextAttemptAt)
			}
		}

		// A disabled webhook takes no replay; an unknown one is not found.
		off := addWebhook(t, st, tenant, disabled)
		_, err = st.Replay(ctx, herald.ReplayRequest{WebhookID: off.ID, Since: at(0), Until: at(50), Now: now})
		wantCode(t, err, herald.ECONFLICT, "replay to a disabled webhook")
		_, err = st.Replay(ctx, herald.ReplayRequest{WebhookID: "wh_missing", Since: at(0), Until: at(50), Now: now})
		wantCode(t, err, herald.ENOTFOUND, "replay to no webhook")
	})
}
