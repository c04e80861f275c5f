package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// testRetention checks PurgePayloads: old finished work loses its payloads and keeps
// its metadata; work that may still be sent, or is recent, keeps everything.
func testRetention(t *testing.T, open func(t *testing.T) herald.Store) {
	t.Run("PurgesOldFinishedOnly", func(t *testing.T) {
		t.Parallel()
		testPurgeOldFinished(t, open(t))
	})
	t.Run("PurgedDeliveryIsNeverSentAgain", func(t *testing.T) {
		t.Parallel()
		testPurgedNeverSent(t, open(t))
	})
	t.Run("RequeueUnpurges", func(t *testing.T) {
		t.Parallel()
		testRequeueUnpurges(t, open(t))
	})
	t.Run("Batches", func(t *testing.T) {
		t.Parallel()
		testPurgeBatches(t, open(t))
	})
	t.Run("PassesOverKeptEventsOnce", func(t *testing.T) {
		t.Parallel()
		testPurgeWalk(t, open(t))
	})
}

// purge runs a pass of PurgePayloads, each batch resuming where the last one left
// the walk of events, until one says it is done, and returns the totals.
func purge(t *testing.T, st herald.Store, before, now time.Time, limit int) herald.PurgeResult {
	t.Helper()
	var total herald.PurgeResult
	r := herald.PurgeRequest{Before: before, Now: now, Limit: limit}
	for range 1000 {
		got, err := st.PurgePayloads(t.Context(), r)
		ok(t, err, "purge payloads")
		total.Deliveries += got.Deliveries
		total.Events += got.Events
		if got.Done {
			return total
		}
		r.AfterEvent = got.NextEvent
	}
	t.Fatal("PurgePayloads still not done after 1000 batches")
	return total
}

func getEvent(t *testing.T, st herald.Store, id string) *herald.Event {
	t.Helper()
	e, err := st.Event(t.Context(), id)
	ok(t, err, "event "+id)
	return e
}

// wantPurged fails t unless delivery id's attempts have lost their bodies (purged) or
// kept them, and kept their metadata either way.
func wantPurged(t *testing.T, st herald.Store, id string, purged bool, what string) {
	t.Helper()
	d := getDelivery(t, st, id)
	if len(d.Attempts) == 0 {
		t.Fatalf("%s: delivery %s has no attempts", what, id)
	}
	for _, a := range d.Attempts {
		if got := a.ResponseBody == ""; got != purged {
			t.Errorf("%s: attempt %d of %s has response body %q; want it removed: %v", what, a.Number, id, a.ResponseBody, purged)
		}
		if a.StatusCode == 0 || a.DurationMS == 0 || a.At.IsZero() || len(a.RequestHeaders) == 0 || len(a.ResponseHeaders) == 0 {
			t.Errorf("%s: attempt %d of %s lost its metadata: %+v", what, a.Number, id, a)
		}
	}
	if d.Status == "" || d.EventType == "" || d.AttemptCount != len(d.Attempts) {
		t.Errorf("%s: delivery %s lost its metadata: %+v", what, id, d)
	}
}

// wantData fails t unless event id's data is kept (want true) or removed.
func wantData(t *testing.T, st herald.Store, id string, kept bool, what string) {
	t.Helper()
	e := getEvent(t, st, id)
	if got := string(e.Data) != "null"; got != kept {
		t.Errorf("%s: event %s has data %s; want it kept: %v", what, id, e.Data, kept)
	}
	if e.Type == "" || e.CreatedAt.IsZero() || e.TenantID == "" {
		t.Errorf("%s: event %s lost its metadata: %+v", what, id, e)
	}
}

func testPurgeOldFinished(t *testing.T, st herald.Store) {
	tenant := addTenant(t, st)
	a := addWebhook(t, st, tenant)
	b := addWebhook(t, st, tenant)
	const owner = "retention-test"
	cutoff := t0.Add(time.Hour)

	// Both deliveries succeeded long ago: everything goes but metadata.
	done := publishEvent(t, st, tenant, "drift.detected", t0)
	// One delivery failed for good long ago: that is finished too.
	failedEv := publish(t, st, herald.Publication{Event: newEvent(tenant, "drift.detected", t0), Target: a.ID})[0]
	// One delivery done long ago, the other still retrying: the event keeps its data,
	// or the retry would have nothing to send.
	mixed := publishEvent(t, st, tenant, "drift.detected", t0)
	// Finished, but recently.
	recent := publishEvent(t, st, tenant, "drift.detected", t0.Add(2*time.Hour))
	// An event no webhook took, published long ago.
	nobody := publish(t, st, herald.Publication{Event: newEvent(addTenant(t, st), "drift.detected", t0)})[0]

	claim(t, st, owner, t0.Add(3*time.Hour), 100)
	for _, id := range done {
		succeed(t, st, owner, id, t0.Add(time.Minute))
	}
	fail(t, st, owner, failedEv.DeliveryIDs[0], t0.Add(time.Minute), time.Time{})
	mixedA, mixedB := deliveryOf(t, st, mixed, a.ID), deliveryOf(t, st, mixed, b.ID)
	succeed(t, st, owner, mixedA, t0.Add(time.Minute))
	fail(t, st, owner, mixedB, t0.Add(time.Minute), t0.Add(5*time.Hour))
	for _, id := range recent {
		succeed(t, st, owner, id, t0.Add(2*time.Hour))
	}

	now := t0.Add(3 * time.Hour)
	got := purge(t, st, cutoff, now, 0)
	want := herald.PurgeResult{Deliveries: 4, Events: 3}
	if got != want {
		t.Errorf("purge: %+v, want %+v (deliveries: 2 done, 1 failed, 1 done of the mixed event; events: done, failed, nobody's)", got, want)
	}
	for _, id := range done {
		wantPurged(t, st, id, true, "succeeded long ago")
	}
	wantData(t, st, publishEventID(t, st, done[0]), false, "every delivery succeeded long ago")
	wantPurged(t, st, failedEv.DeliveryIDs[0], true, "failed for good long ago")
	wantData(t, st, failedEv.EventID, false, "its one delivery failed for good long ago")
	wantPurged(t, st, mixedA, true, "succeeded long ago, beside a retrying delivery")
	wantPurged(t, st, mixedB, false, "still retrying")
	wantData(t, st, publishEventID(t, st, mixedB), true, "one delivery still retrying")
	for _, id := range recent {
		wantPurged(t, st, id, false, "finished after the cutoff")
	}
	wantData(t, st, publishEventID(t, st, recent[0]), true, "finished after the cutoff")
	wantData(t, st, nobody.EventID, false, "no deliveries, published long ago")

	if again := purge(t, st, cutoff, now, 0); again != (herald.PurgeResult{}) {
		t.Errorf("a second purge removed %+v, want nothing", again)
	}

	// The purged delivery of the mixed event can still be sent again by hand, since its
	// event has its data; the new attempt is kept until it is old in its turn.
	_, err := st.ClaimDelivery(t.Context(), mixedA, "retrier", now, now.Add(time.Minute))
	ok(t, err, "manual retry of a purged delivery whose event keeps its data")
	succeed(t, st, "retrier", mixedA, now)
	if d := getDelivery(t, st, mixedA); d.Attempts[len(d.Attempts)-1].ResponseBody == "" {
		t.Error("the manual retry's attempt lost its response body at once")
	}

	// The retry succeeds; once it is old too, the event's data goes.
	claim(t, st, owner, t0.Add(5*time.Hour), 100)
	succeed(t, st, owner, mixedB, t0.Add(5*time.Hour))
	wantData(t, st, publishEventID(t, st, mixedB), true, "its last delivery just finished")
	if got := purge(t, st, t0.Add(6*time.Hour), t0.Add(7*time.Hour), 0); got != (herald.PurgeResult{Deliveries: 4, Events: 2}) {
		t.Errorf("purge after the retries finished: %+v, want 4 deliveries (the mixed event's two, the recent two) and 2 events", got)
	}
	wantPurged(t, st, mixedA, true, "retried by hand, then old")
	wantPurged(t, st, mixedB, true, "retried to success, then old")
	wantData(t, st, publishEventID(t, st, mixedB), false, "every delivery finished and old")
}

// deliveryOf returns the id, among ids, of webhook's delivery.
func deliveryOf(t *testing.T, st herald.Store, ids []string, webhookID string) string {
	t.Helper()
	for _, id := range ids {
		if getDelivery(t, st, id).WebhookID == webhookID {
			return id
		}
	}
	t.Fatalf("no delivery of webhook %s among %v", webhookID, ids)
	return ""
}

// publishEventID returns the event of delivery id.
func publishEventID(t *testing.T, st herald.Store, id string) string {
	t.Helper()
	return getDelivery(t, st, id).EventID
}

func testPurgedNeverSent(t *testing.T, st herald.Store) {
	ctx := t.Context()
	tenant := addTenant(t, st)
	w := addWebhook(t, st, tenant)
	const owner = "retention-test"
	failedIDs := publishEvent(t, st, tenant, "drift.detected", t0)
	leasedIDs := publishEvent(t, st, tenant, "drift.detected", t0)
	claim(t, st, owner, t0, 100)
	fail(t, st, owner, failedIDs[0], t0.Add(time.Minute), time.Time{})
	succeed(t, st, owner, leasedIDs[0], t0.Add(time.Minute))

	// A manual retry of the second is in flight when the purge runs: it keeps all.
	now := t0.Add(2 * time.Hour)
	_, err := st.ClaimDelivery(ctx, leasedIDs[0], "retrier", now, now.Add(time.Minute))
	ok(t, err, "claim for a manual retry")
	got := purge(t, st, t0.Add(time.Hour), now, 0)
	if got != (herald.PurgeResult{Deliveries: 1, Events: 1}) {
		t.Errorf("purge: %+v, want the failed delivery and its event only", got)
	}
	wantPurged(t, st, leasedIDs[0], false, "leased by a manual retry in flight")
	wantData(t, st, publishEventID(t, st, leasedIDs[0]), true, "its delivery is being retried")

	// The purged one is never leased again, so never sent with no payload...
	_, err = st.ClaimDelivery(ctx, failedIDs[0], "retrier", now, now.Add(time.Minute))
	if err == nil {
		t.Fatal("ClaimDelivery of a delivery whose event data was purged: no error; it would be sent with no payload")
	}
	if code := herald.ErrorCode(err); code != herald.EGONE {
		t.Errorf("ClaimDelivery of a purged delivery: code %s (%v), want %s so the API answers 410", code, err, herald.EGONE)
	}
	// ...nor made pending by a recover.
	n, err := st.Requeue(ctx, w.ID, t0.Add(-time.Hour), time.Time{}, now, 0)
	ok(t, err, "requeue")
	if n != 0 {
		t.Errorf("requeue made %d purged deliveries pending, want 0", n)
	}
	if d := getDelivery(t, st, failedIDs[0]); d.Status != herald.StatusFailed {
		t.Errorf("purged delivery is %s after a requeue, want failed", d.Status)
	}
	if ids := claim(t, st, owner, now.Add(time.Hour), 100); len(ids) != 0 {
		t.Errorf("claimed %v after purge and requeue, want nothing", ids)
	}
}

// testRequeueUnpurges requeues a failed delivery whose attempts' bodies were purged
// while its event keeps its data (another delivery of it is retrying): it is pending
// again, sent, and its new attempt is purged in its turn.
func testRequeueUnpurges(t *testing.T, st herald.Store) {
	tenant := addTenant(t, st)
	a := addWebhook(t, st, tenant)
	b := addWebhook(t, st, tenant)
	const owner = "retention-test"
	ids := publishEvent(t, st, tenant, "drift.detected", t0)
	claim(t, st, owner, t0, 100)
	failed, retrying := deliveryOf(t, st, ids, a.ID), deliveryOf(t, st, ids, b.ID)
	fail(t, st, owner, failed, t0.Add(time.Minute), time.Time{})
	fail(t, st, owner, retrying, t0.Add(time.Minute), t0.Add(10*time.Hour))
	if got := purge(t, st, t0.Add(time.Hour), t0.Add(2*time.Hour), 0); got != (herald.PurgeResult{Deliveries: 1}) {
		t.Fatalf("purge: %+v, want the failed delivery only", got)
	}
	wantPurged(t, st, failed, true, "failed for good long ago")

	now := t0.Add(3 * time.Hour)
	n, err := st.Requeue(t.Context(), a.ID, t0.Add(-time.Hour), time.Time{}, now, 0)
	ok(t, err, "requeue")
	if n != 1 {
		t.Fatalf("requeue made %d deliveries pending, want the purged one whose event keeps its data", n)
	}
	if got := claim(t, st, owner, now, 100); len(got) != 1 || got[0] != failed {
		t.Fatalf("claimed %v after the requeue, want [%s]", got, failed)
	}
	succeed(t, st, owner, failed, now)
	if d := getDelivery(t, st, failed); d.Attempts[len(d.Attempts)-1].ResponseBody == "" {
		t.Error("the requeued delivery's new attempt lost its response body at once")
	}
	if got := purge(t, st, now.Add(time.Hour), now.Add(2*time.Hour), 0); got != (herald.PurgeResult{Deliveries: 1}) {
		t.Errorf("purge after the requeued delivery succeeded: %+v, want it purged again (it was left marked purged)", got)
	}
	wantPurged(t, st, failed, true, "requeued, sent, then old")
}

func testPurgeBatches(t *testing.T, st herald.Store) {
	tenant := addTenant(t, st)
	addWebhook(t, st, tenant)
	addWebhook(t, st, tenant)
	const owner = "retention-test"
	var ids []string
	for i := range 7 {
		ids = append(ids, publishEvent(t, st, tenant, "drift.detected", t0.Add(time.Duration(i)*time.Second))...)
	}
	claim(t, st, owner, t0.Add(time.Minute), 100)
	for _, id := range ids {
		succeed(t, st, owner, id, t0.Add(time.Minute))
	}
	now := t0.Add(2 * time.Hour)
	r, err := st.PurgePayloads(t.Context(), herald.PurgeRequest{Before: t0.Add(time.Hour), Now: now, Limit: 3})
	ok(t, err, "purge one batch")
	if r.Deliveries != 3 || r.Events > 3 {
		t.Errorf("one batch of 3: %+v, want 3 deliveries and at most 3 events", r)
	}
	total := purge(t, st, t0.Add(time.Hour), now, 3)
	total.Deliveries += r.Deliveries
	total.Events += r.Events
	if total != (herald.PurgeResult{Deliveries: 14, Events: 7}) {
		t.Errorf("batches of 3 purged %+v in all, want 14 deliveries and 7 events", total)
	}
	for _, id := range ids {
		wantPurged(t, st, id, true, "after batches")
	}
}

// testPurgeWalk checks that a pass walks the old events once: those that must keep
// their data (a delivery still pending, its endpoint down longer than the retention
// period) are examined by one batch, not by every batch, so that with a large backlog
// of them a pass stays linear and its batches short, and the purgeable events after
// them are reached.
func testPurgeWalk(t *testing.T, st herald.Store) {
	kept := addTenant(t, st)
	addWebhook(t, st, kept)
	gone := addTenant(t, st) // no webhook: its events have no delivery to wait for

	// The walk's order: creation time, then id. Ten events whose deliveries are
	// pending come first; four purgeable ones follow, created at the same instant, so
	// that a batch ends between two of them and the next must resume by id.
	var walk []herald.PurgeCursor
	for i := range 10 {
		at := t0.Add(time.Duration(i) * time.Second)
		walk = append(walk, herald.PurgeCursor{CreatedAt: at, ID: publish(t, st, herald.Publication{Event: newEvent(kept, "drift.detected", at)})[0].EventID})
	}
	at := t0.Add(30 * time.Second)
	var purgeable []herald.PurgeCursor
	for range 4 {
		purgeable = append(purgeable, herald.PurgeCursor{CreatedAt: at, ID: publish(t, st, herald.Publication{Event: newEvent(gone, "drift.detected", at)})[0].EventID})
	}
	slices.SortFunc(purgeable, func(a, b herald.PurgeCursor) int { return strings.Compare(a.ID, b.ID) })
	walk = append(walk, purgeable...)
	position := func(c herald.PurgeCursor) int {
		for i, w := range walk {
			if w.ID == c.ID && w.CreatedAt.Equal(c.CreatedAt) {
				return i
			}
		}
		return -2 // neither an event nor the start
	}

	// Fourteen old events in batches of two: seven batches examine them, and an
	// eighth at most finds the walk at the cutoff.
	const limit, maxBatches = 2, 8
	r := herald.PurgeRequest{Before: t0.Add(time.Hour), Now: t0.Add(2 * time.Hour), Limit: limit}
	pos := -1 // position of the cursor in walk; -1 before the first event
	events := 0
	for batch := 1; ; batch++ {
		if batch > maxBatches {
			t.Fatalf("pass not done after %d batches of %d over %d old events (%d purged): batches re-read the events already examined", maxBatches, limit, len(walk), events)
		}
		got, err := st.PurgePayloads(t.Context(), r)
		ok(t, err, "purge payloads")
		if got.Deliveries != 0 {
			t.Errorf("batch %d purged %d deliveries, want 0: all are pending", batch, got.Deliveries)
		}
		events += got.Events
		if got.Done {
			break
		}
		next := position(got.NextEvent)
		switch {
		case next == -2:
			t.Fatalf("batch %d: NextEvent %+v is none of the old events", batch, got.NextEvent)
		case next <= pos:
			t.Fatalf("batch %d: NextEvent went from position %d to %d; each batch must move on", batch, pos, next)
		case next > pos+limit:
			t.Fatalf("batch %d: NextEvent went from position %d to %d: a batch examined more than %d events, or skipped kept ones without counting them",
				batch, pos, next, limit)
		case got.Events > next-pos:
			t.Fatalf("batch %d purged %d events but examined %d", batch, got.Events, next-pos)
		}
		pos = next
		r.AfterEvent = got.NextEvent
	}
	if events != len(purgeable) {
		t.Errorf("the pass purged %d events, want the %d purgeable ones", events, len(purgeable))
	}
	for i, w := range walk {
		wantData(t, st, w.ID, i < 10, "in the walk")
	}
}
