package storetest

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

func testSettings(t *testing.T, open func(t *testing.T) herald.Store) {
	st := open(t)
	ctx := t.Context()
	ok(t, st.Ping(ctx), "ping")

	_, err := st.Setting(ctx, "admin_key_hash")
	wantCode(t, err, herald.ENOTFOUND, "unset setting")

	for _, v := range [][]byte{[]byte("first"), {0, 1, 2, 255}} {
		ok(t, st.PutSetting(ctx, "admin_key_hash", v), "put setting")
		got, err := st.Setting(ctx, "admin_key_hash")
		ok(t, err, "setting")
		if !bytes.Equal(got, v) {
			t.Errorf("setting = %q, want %q (the last value put)", got, v)
		}
	}

	ok(t, st.CreateSetting(ctx, "first_wins", []byte("a")), "create setting")
	wantCode(t, st.CreateSetting(ctx, "first_wins", []byte("b")), herald.ECONFLICT, "create a setting that is set")
	if got, err := st.Setting(ctx, "first_wins"); err != nil || string(got) != "a" {
		t.Errorf("setting after a refused create = %q, %v; want the first value", got, err)
	}
}

func testTenants(t *testing.T, open func(t *testing.T) herald.Store) {
	t.Run("CreateAndRead", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		want := herald.Tenant{ID: "team_acme", Name: "Acme", NotifyEmail: "ops@acme.example", CreatedAt: t0}
		ok(t, st.CreateTenant(ctx, &want, herald.HashKey("key-acme")), "create tenant")
		other := herald.Tenant{ID: "team_other", Name: "Other", CreatedAt: t0.Add(time.Second)}
		ok(t, st.CreateTenant(ctx, &other, herald.HashKey("key-other")), "create tenant")

		got, err := st.Tenant(ctx, "team_acme")
		ok(t, err, "tenant")
		if got.ID != want.ID || got.Name != want.Name || got.NotifyEmail != want.NotifyEmail {
			t.Errorf("tenant = %+v, want %+v", *got, want)
		}
		wantTime(t, "tenant created_at", &got.CreatedAt, &want.CreatedAt)

		byKey, err := st.TenantByKeyHash(ctx, herald.HashKey("key-other"), t0)
		ok(t, err, "tenant by key hash")
		if byKey.ID != "team_other" {
			t.Errorf("tenant by key hash = %q, want team_other", byKey.ID)
		}
		_, err = st.TenantByKeyHash(ctx, herald.HashKey("no such key"), t0)
		wantCode(t, err, herald.ENOTFOUND, "tenant by unknown key hash")
		_, err = st.Tenant(ctx, "team_nobody")
		wantCode(t, err, herald.ENOTFOUND, "missing tenant")

		all, err := st.Tenants(ctx)
		ok(t, err, "tenants")
		var ids []string
		for _, tn := range all {
			ids = append(ids, tn.ID)
		}
		if !sameSet(ids, []string{"team_acme", "team_other"}) {
			t.Errorf("tenants = %v, want team_acme and team_other", ids)
		}
	})

	t.Run("Conflicts", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		ok(t, st.CreateTenant(ctx, &herald.Tenant{ID: "team_a", Name: "A", CreatedAt: t0}, herald.HashKey("key-a")), "create tenant")
		err := st.CreateTenant(ctx, &herald.Tenant{ID: "team_a", Name: "again", CreatedAt: t0}, herald.HashKey("key-b"))
		wantCode(t, err, herald.ECONFLICT, "tenant with a taken id")
		err = st.CreateTenant(ctx, &herald.Tenant{ID: "team_b", Name: "B", CreatedAt: t0}, herald.HashKey("key-a"))
		wantCode(t, err, herald.ECONFLICT, "tenant with a taken key hash")
		if _, err := st.Tenant(ctx, "team_b"); herald.ErrorCode(err) != herald.ENOTFOUND {
			t.Errorf("a refused tenant was stored (err %v)", err)
		}
	})

	t.Run("DeleteRemovesEverythingItOwns", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		gone, kept := addTenant(t, st), addTenant(t, st)
		type owned struct {
			webhook  *herald.Webhook
			event    string
			delivery string
		}
		own := func(tenant string) owned {
			w := addWebhook(t, st, tenant)
			r := publish(t, st, herald.Publication{Event: newEvent(tenant, "drift.detected", t0)})[0]
			if len(r.DeliveryIDs) != 1 {
				t.Fatalf("publish: %d deliveries, want 1", len(r.DeliveryIDs))
			}
			fail(t, st, "w1", r.DeliveryIDs[0], t0.Add(time.Second), t0.Add(time.Minute))
			return owned{w, r.EventID, r.DeliveryIDs[0]}
		}
		g, k := own(gone), own(kept)

		ok(t, st.DeleteTenant(ctx, gone), "delete tenant")
		_, err := st.Tenant(ctx, gone)
		wantCode(t, err, herald.ENOTFOUND, "deleted tenant")
		_, err = st.TenantByKeyHash(ctx, herald.HashKey(gone), t0)
		wantCode(t, err, herald.ENOTFOUND, "deleted tenant's key")
		_, err = st.Webhook(ctx, g.webhook.ID)
		wantCode(t, err, herald.ENOTFOUND, "deleted tenant's webhook")
		_, err = st.Event(ctx, g.event)
		wantCode(t, err, herald.ENOTFOUND, "deleted tenant's event")
		_, err = st.Delivery(ctx, g.delivery)
		wantCode(t, err, herald.ENOTFOUND, "deleted tenant's delivery")
		if ds, total, err := st.Deliveries(ctx, herald.DeliveryFilter{TenantID: gone}); err != nil || total != 0 || len(ds) != 0 {
			t.Errorf("deleted tenant's deliveries: %d (total %d, err %v), want none", len(ds), total, err)
		}

		_, err = st.Webhook(ctx, k.webhook.ID)
		ok(t, err, "other tenant's webhook")
		_, err = st.Event(ctx, k.event)
		ok(t, err, "other tenant's event")
		if d := getDelivery(t, st, k.delivery); len(d.Attempts) != 1 {
			t.Errorf("other tenant's delivery has %d attempts, want 1", len(d.Attempts))
		}

		wantCode(t, st.DeleteTenant(ctx, gone), herald.ENOTFOUND, "deleting a deleted tenant")
	})
}

func testEventTypes(t *testing.T, open func(t *testing.T) herald.Store) {
	st := open(t)
	ctx := t.Context()
	got, err := st.EventTypes(ctx)
	ok(t, err, "event types")
	if len(got) != 0 {
		t.Fatalf("a new store has %d custom event types, want 0", len(got))
	}
	want := []herald.EventType{
		{Type: "order.shipped", Description: "An order left the warehouse",
			Schema: json.RawMessage(`{"type":"object","required":["order_id"]}`),
			Sample: json.RawMessage(`{"order_id":"o_1"}`)},
		{Type: "invoice.paid", Description: "Paid", Schema: json.RawMessage(`{"type":"object"}`)},
		{Type: "a.first.alphabetically", Schema: json.RawMessage(`{}`)},
	}
	for i := range want {
		ok(t, st.CreateEventType(ctx, &want[i]), "create event type")
	}
	dup := herald.EventType{Type: "invoice.paid", Schema: json.RawMessage(`{}`)}
	wantCode(t, st.CreateEventType(ctx, &dup), herald.ECONFLICT, "an existing event type")

	got, err = st.EventTypes(ctx)
	ok(t, err, "event types")
	if len(got) != len(want) {
		t.Fatalf("event types: %d, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Type != w.Type || g.Description != w.Description || !jsonEqual(g.Schema, w.Schema) {
			t.Errorf("event type %d = %s %q %s, want %s %q %s (oldest first)",
				i, g.Type, g.Description, g.Schema, w.Type, w.Description, w.Schema)
		}
	}
	if !jsonEqual(got[0].Sample, want[0].Sample) {
		t.Errorf("sample = %s, want %s", got[0].Sample, want[0].Sample)
	}
	if slices.ContainsFunc(got[1:], func(e herald.EventType) bool { return len(e.Sample) > 0 && string(e.Sample) != "null" }) {
		t.Errorf("an event type created without a sample came back with one")
	}
}
