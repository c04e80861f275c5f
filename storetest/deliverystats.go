package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// testDeliveryStats checks DeliveryStats: attempts counted by minute and outcome within
// the window only, nearest-rank latency percentiles, pending deliveries and failing
// webhooks, each scoped to the tenant asked about or to all.
func testDeliveryStats(t *testing.T, open func(t *testing.T) herald.Store) {
	st := open(t)
	ctx := t.Context()
	tenantA, tenantB, idle := addTenant(t, st), addTenant(t, st), addTenant(t, st)
	a1, a2 := addWebhook(t, st, tenantA), addWebhook(t, st, tenantA)
	b1 := addWebhook(t, st, tenantB)

	e1 := byWebhook(t, st, publishEvent(t, st, tenantA, "drift.detected", t0))
	e2 := byWebhook(t, st, publishEvent(t, st, tenantA, "drift.detected", t0))
	e3 := byWebhook(t, st, publishEvent(t, st, tenantA, "drift.detected", t0))
	eb := byWebhook(t, st, publishEvent(t, st, tenantB, "drift.detected", t0))
	if got := claim(t, st, "w1", t0, 100); len(got) != 7 {
		t.Fatalf("claimed %d deliveries, want 7", len(got))
	}

	took := func(id string, at time.Duration, success bool, ms int64, next time.Duration) {
		t.Helper()
		a := attempt(id, t0.Add(at), success)
		a.DurationMS = ms
		r := herald.AttemptRecord{Owner: "w1", Attempt: a, Status: herald.StatusFailed}
		switch {
		case success:
			r.Status = herald.StatusSuccess
		case next > 0:
			r.Status, r.NextAttemptAt = herald.StatusPending, t0.Add(next)
		}
		record(t, st, r)
	}
	took(e1[a1.ID], 10*time.Second, true, 100, 0)
	took(e1[a2.ID], 20*time.Second, false, 300, time.Hour) // pending, retried in an hour
	took(eb[b1.ID], 30*time.Second, false, 5000, time.Hour)
	took(e2[a1.ID], 70*time.Second, true, 200, 0)
	took(e2[a2.ID], 80*time.Second, false, 400, 0) // failed for good
	took(e3[a1.ID], 130*time.Second, true, 50, 0)  // after the window
	minute0, minute1 := t0, t0.Add(time.Minute)    // t0 is on a minute
	window := herald.StatsFilter{Since: t0, Until: t0.Add(2 * time.Minute)}

	a2Failing := herald.FailingWebhook{ID: a2.ID, TenantID: tenantA, Name: a2.Name, URL: a2.URL, Enabled: true,
		ConsecutiveFailures: 2, FailingSince: ptr(t0.Add(20 * time.Second)), LastDeliveryAt: ptr(t0.Add(80 * time.Second)), LastError: "HTTP 500"}
	b1Failing := herald.FailingWebhook{ID: b1.ID, TenantID: tenantB, Name: b1.Name, URL: b1.URL, Enabled: true,
		ConsecutiveFailures: 1, FailingSince: ptr(t0.Add(30 * time.Second)), LastDeliveryAt: ptr(t0.Add(30 * time.Second)), LastError: "HTTP 500"}

	for _, c := range []struct {
		what   string
		filter func(f herald.StatsFilter) herald.StatsFilter
		want   herald.DeliveryStats
	}{{
		what:   "one tenant's two minutes",
		filter: func(f herald.StatsFilter) herald.StatsFilter { f.TenantID = tenantA; return f },
		want: herald.DeliveryStats{
			Minutes:   []herald.MinuteStats{{Minute: minute0, Succeeded: 1, Failed: 1}, {Minute: minute1, Succeeded: 1, Failed: 1}},
			Succeeded: 2, Failed: 2, LatencyP50MS: 200, LatencyP99MS: 400,
			Pending:         2, // e1 to a2 waiting for its retry, e3 to a2 never attempted
			FailingWebhooks: []herald.FailingWebhook{a2Failing},
		},
	}, {
		what: "every tenant",
		want: herald.DeliveryStats{
			Minutes:   []herald.MinuteStats{{Minute: minute0, Succeeded: 1, Failed: 2}, {Minute: minute1, Succeeded: 1, Failed: 1}},
			Succeeded: 2, Failed: 3, LatencyP50MS: 300, LatencyP99MS: 5000,
			Pending:         3,
			FailingWebhooks: []herald.FailingWebhook{a2Failing, b1Failing},
		},
	}, {
		what: "every tenant, one failing webhook at most",
		filter: func(f herald.StatsFilter) herald.StatsFilter {
			f.FailingLimit = 1
			return f
		},
		want: herald.DeliveryStats{
			Minutes:   []herald.MinuteStats{{Minute: minute0, Succeeded: 1, Failed: 2}, {Minute: minute1, Succeeded: 1, Failed: 1}},
			Succeeded: 2, Failed: 3, LatencyP50MS: 300, LatencyP99MS: 5000,
			Pending:         3,
			FailingWebhooks: []herald.FailingWebhook{a2Failing},
		},
	}, {
		what: "one tenant's second minute only",
		filter: func(f herald.StatsFilter) herald.StatsFilter {
			f.TenantID, f.Since = tenantA, minute1
			return f
		},
		want: herald.DeliveryStats{
			Minutes:   []herald.MinuteStats{{Minute: minute1, Succeeded: 1, Failed: 1}},
			Succeeded: 1, Failed: 1, LatencyP50MS: 200, LatencyP99MS: 400,
			Pending:         2,
			FailingWebhooks: []herald.FailingWebhook{a2Failing},
		},
	}, {
		what:   "a tenant with nothing",
		filter: func(f herald.StatsFilter) herald.StatsFilter { f.TenantID = idle; return f },
		want:   herald.DeliveryStats{},
	}} {
		f := window
		if c.filter != nil {
			f = c.filter(f)
		}
		got, err := st.DeliveryStats(ctx, f)
		ok(t, err, "delivery stats of "+c.what)
		if !reflect.DeepEqual(*got, c.want) {
			t.Errorf("delivery stats of %s:\n got %+v\nwant %+v", c.what, *got, c.want)
		}
	}

	// A success ends a webhook's failing streak: it leaves the list.
	took(e3[a2.ID], 90*time.Second, true, 10, 0)
	got, err := st.DeliveryStats(ctx, herald.StatsFilter{TenantID: tenantA, Since: t0, Until: t0.Add(time.Hour)})
	ok(t, err, "delivery stats after a2 succeeded")
	if len(got.FailingWebhooks) != 0 {
		t.Errorf("failing webhooks after a success: %+v, want none", got.FailingWebhooks)
	}

	testDeliveryOutcomes(t, st, tenantA, tenantB, a1.ID, a2.ID, b1.ID)

	for _, f := range []herald.StatsFilter{
		{Until: t0},
		{Since: t0},
		{Since: t0, Until: t0},
		{Since: t0.Add(time.Minute), Until: t0},
	} {
		_, err := st.DeliveryStats(ctx, f)
		wantCode(t, err, herald.EINVALID, "delivery stats over a window without two ordered ends")
	}
}

// testDeliveryOutcomes checks DeliveryOutcomes on the deliveries testDeliveryStats left:
// a1 delivered three events, a2 one delivered, one failed for good and one retrying, b1
// (tenant B) one retrying and, added here, one not tried yet; every delivery was
// created at t0.
func testDeliveryOutcomes(t *testing.T, st herald.Store, tenantA, tenantB, a1, a2, b1 string) {
	t.Helper()
	ctx := t.Context()
	publishEvent(t, st, tenantB, "drift.detected", t0) // not tried: not counted
	for _, c := range []struct {
		what string
		f    herald.OutcomesFilter
		want map[string]herald.DeliveryOutcomes
	}{{
		what: "tenant A's webhooks, B's asked for too",
		f:    herald.OutcomesFilter{TenantID: tenantA, WebhookIDs: []string{a1, a2, b1}, Since: t0},
		want: map[string]herald.DeliveryOutcomes{a1: {Succeeded: 3}, a2: {Succeeded: 1, Failed: 1, Retrying: 1}},
	}, {
		what: "any tenant, a retrying delivery only",
		f:    herald.OutcomesFilter{WebhookIDs: []string{b1}, Since: t0},
		want: map[string]herald.DeliveryOutcomes{b1: {Retrying: 1}},
	}, {
		what: "any tenant, one webhook",
		f:    herald.OutcomesFilter{WebhookIDs: []string{a2}, Since: t0},
		want: map[string]herald.DeliveryOutcomes{a2: {Succeeded: 1, Failed: 1, Retrying: 1}},
	}, {
		what: "tenant B asking for A's webhook",
		f:    herald.OutcomesFilter{TenantID: tenantB, WebhookIDs: []string{a1}, Since: t0},
		want: map[string]herald.DeliveryOutcomes{},
	}, {
		what: "deliveries created after all of them",
		f:    herald.OutcomesFilter{WebhookIDs: []string{a1, a2}, Since: t0.Add(time.Second)},
		want: map[string]herald.DeliveryOutcomes{},
	}} {
		got, err := st.DeliveryOutcomes(ctx, c.f)
		ok(t, err, "delivery outcomes of "+c.what)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("delivery outcomes of %s: got %+v, want %+v", c.what, got, c.want)
		}
	}
	tooMany := make([]string, herald.MaxOutcomeWebhooks+1)
	for i := range tooMany {
		tooMany[i] = a1
	}
	for _, f := range []herald.OutcomesFilter{
		{Since: t0},
		{WebhookIDs: tooMany, Since: t0},
		{WebhookIDs: []string{a1}},
	} {
		_, err := st.DeliveryOutcomes(ctx, f)
		wantCode(t, err, herald.EINVALID, "delivery outcomes without ids, with too many, or without a start")
	}
}
