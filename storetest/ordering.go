package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// orderedByKey makes the webhook deliver the events of one ordering key one at a time.
func orderedByKey(w *herald.Webhook) { w.Ordering = herald.OrderingKey }

// publishKeyed publishes one event of tenant with ordering key key at at and returns
// its delivery ids.
func publishKeyed(t *testing.T, st herald.Store, tenant, key string, at time.Time) []string {
	t.Helper()
	e := newEvent(tenant, "drift.detected", at)
	e.OrderingKey = key
	return publish(t, st, herald.Publication{Event: e})[0].DeliveryIDs
}

// openOrdered opens a store with a tenant and one webhook of it ordered by key.
func openOrdered(t *testing.T, open func(t *testing.T) herald.Store) (st herald.Store, tenant string, w *herald.Webhook) {
	t.Helper()
	st = open(t)
	tenant = addTenant(t, st)
	return st, tenant, addWebhook(t, st, tenant, orderedByKey)
}

func testOrdering(t *testing.T, open func(t *testing.T) herald.Store) {
	t.Run("OneAtATimeInPublishOrder", func(t *testing.T) {
		st, tenant, _ := openOrdered(t, open)
		a1 := publishKeyed(t, st, tenant, "a", t0)[0]
		b1 := publishKeyed(t, st, tenant, "b", t0.Add(time.Millisecond))[0]
		a2 := publishKeyed(t, st, tenant, "a", t0.Add(2*time.Millisecond))[0]
		free := publishKeyed(t, st, tenant, "", t0.Add(3*time.Millisecond))[0]
		// Two of one key in one batch, at one time: publish order is the batch's.
		e3, e4 := newEvent(tenant, "drift.detected", t0.Add(4*time.Millisecond)), newEvent(tenant, "drift.detected", t0.Add(4*time.Millisecond))
		e3.OrderingKey, e4.OrderingKey = "a", "a"
		rs := publish(t, st, herald.Publication{Event: e3}, herald.Publication{Event: e4})
		a3, a4 := rs[0].DeliveryIDs[0], rs[1].DeliveryIDs[0]
		if d := getDelivery(t, st, a1); d.OrderingKey != "a" {
			t.Errorf("delivery ordering_key = %q, want a", d.OrderingKey)
		}

		now := t0.Add(time.Minute)
		if got := claim(t, st, "w1", now, 10); !sameSet(got, []string{a1, b1, free}) {
			t.Fatalf("claimed %v, want the heads of a and b and the unkeyed one %v", got, []string{a1, b1, free})
		}
		if got := claim(t, st, "w2", now, 10); len(got) != 0 {
			t.Fatalf("claimed %v while every head is leased: a delivery behind a leased head went", got)
		}
		succeed(t, st, "w1", b1, now)
		succeed(t, st, "w1", free, now)
		fail(t, st, "w1", a1, now, now.Add(time.Hour))
		// a1 waits for its retry, and a2 waits for a1 though a2 is due.
		if got := claim(t, st, "w1", now.Add(time.Minute), 10); len(got) != 0 {
			t.Fatalf("claimed %v while a's head waits for its retry", got)
		}
		// A lease running out changes nothing: the head is what counts.
		if got := claim(t, st, "w1", now.Add(time.Hour), 10); !slices.Equal(got, []string{a1}) {
			t.Fatalf("at a1's retry claimed %v, want [a1]", got)
		}
		succeed(t, st, "w1", a1, now.Add(time.Hour))
		if got := claim(t, st, "w1", now.Add(time.Hour), 10); !slices.Equal(got, []string{a2}) {
			t.Fatalf("after a1 succeeded claimed %v, want [a2]", got)
		}
		fail(t, st, "w1", a2, now.Add(time.Hour), time.Time{}) // retries exhausted
		if got := claim(t, st, "w1", now.Add(time.Hour), 10); !slices.Equal(got, []string{a3}) {
			t.Fatalf("after a2 failed for good claimed %v, want [a3], the first of the batch", got)
		}
		succeed(t, st, "w1", a3, now.Add(time.Hour))
		if got := claim(t, st, "w1", now.Add(time.Hour), 10); !slices.Equal(got, []string{a4}) {
			t.Fatalf("after a3 claimed %v, want [a4]", got)
		}
	})

	t.Run("WaitingDeliveriesHaveNoDueTime", func(t *testing.T) {
		st, tenant, _ := openOrdered(t, open)
		head := publishKeyed(t, st, tenant, "a", t0)[0]
		e1, e2 := newEvent(tenant, "drift.detected", t0.Add(time.Second)), newEvent(tenant, "drift.detected", t0.Add(2*time.Second))
		e1.OrderingKey, e2.OrderingKey = "a", "a"
		rs := publish(t, st, herald.Publication{Event: e1}, herald.Publication{Event: e2})
		next, last := rs[0].DeliveryIDs[0], rs[1].DeliveryIDs[0]
		wantTime(t, "the head's due time", getDelivery(t, st, head).NextAttemptAt, ptr(t0))
		for _, id := range []string{next, last} {
			if d := getDelivery(t, st, id); d.NextAttemptAt != nil || d.Status != herald.StatusPending {
				t.Errorf("delivery behind the head: %s, next attempt %v; want pending with none", d.Status, d.NextAttemptAt)
			}
		}
		now := t0.Add(time.Minute)
		claim(t, st, "w1", now, 10)
		succeed(t, st, "w1", head, now)
		wantTime(t, "the new head's due time", getDelivery(t, st, next).NextAttemptAt, ptr(now))
		if d := getDelivery(t, st, last); d.NextAttemptAt != nil {
			t.Errorf("the last one got a due time %v while one before it is pending", d.NextAttemptAt)
		}
		b, err := st.Backlog(t.Context(), now)
		ok(t, err, "backlog")
		if b.Pending != 2 {
			t.Errorf("backlog counts %d pending, want 2: waiting deliveries are pending", b.Pending)
		}
		// Skipping finishes a head too.
		_, err = st.SkipDelivery(t.Context(), next, now)
		ok(t, err, "skip")
		wantTime(t, "after the skip, the last one's due time", getDelivery(t, st, last).NextAttemptAt, ptr(now))
		if got := claim(t, st, "w1", now, 10); !slices.Equal(got, []string{last}) {
			t.Errorf("claimed %v, want [last]", got)
		}
	})

	t.Run("OnlyOrderedWebhooksWait", func(t *testing.T) {
		st, tenant, ordered := openOrdered(t, open)
		plain := addWebhook(t, st, tenant)
		var first string
		for i := range 3 {
			for _, id := range publishKeyed(t, st, tenant, "k", t0.Add(time.Duration(i)*time.Second)) {
				d := getDelivery(t, st, id)
				switch d.WebhookID {
				case plain.ID:
					if d.OrderingKey != "" {
						t.Errorf("delivery to a webhook that does not order carries key %q", d.OrderingKey)
					}
				case ordered.ID:
					if i == 0 {
						first = id
					}
				}
			}
		}
		cs, err := st.ClaimDue(t.Context(), herald.ClaimRequest{Owner: "w1", Now: t0.Add(time.Minute), LeaseUntil: t0.Add(2 * time.Minute), Limit: 10})
		ok(t, err, "claim due")
		var toOrdered, toPlain []string
		for _, c := range cs {
			if c.Webhook.ID == ordered.ID {
				toOrdered = append(toOrdered, c.Delivery.ID)
			} else {
				toPlain = append(toPlain, c.Delivery.ID)
			}
		}
		if !slices.Equal(toOrdered, []string{first}) || len(toPlain) != 3 {
			t.Errorf("claimed %v of the ordered webhook and %d of the other; want [%s] and all 3", toOrdered, len(toPlain), first)
		}
	})

	t.Run("KeysInParallelUnderTheCap", func(t *testing.T) {
		st, tenant, _ := openOrdered(t, open)
		var heads []string
		for k := range 5 {
			for i := range 3 {
				id := publishKeyed(t, st, tenant, fmt.Sprint("key-", k), t0.Add(time.Duration(i*10+k)*time.Millisecond))[0]
				if i == 0 {
					heads = append(heads, id)
				}
			}
		}
		now := t0.Add(time.Minute)
		cs, err := st.ClaimDue(t.Context(), herald.ClaimRequest{Owner: "w1", Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10, PerWebhook: 3})
		ok(t, err, "claim due")
		if got := claimIDs(cs); !slices.Equal(got, heads[:3]) {
			t.Errorf("claimed %v under a cap of 3, want the first three heads %v", got, heads[:3])
		}
		cs, err = st.ClaimDue(t.Context(), herald.ClaimRequest{Owner: "w2", Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10, PerWebhook: 10})
		ok(t, err, "claim due")
		if got := claimIDs(cs); !slices.Equal(got, heads[3:]) {
			t.Errorf("claimed %v, want the other heads %v and nothing behind a leased head", got, heads[3:])
		}
	})

	t.Run("ManualRetryOfWaitingDeliveryRefused", func(t *testing.T) {
		st, tenant, _ := openOrdered(t, open)
		head := publishKeyed(t, st, tenant, "a", t0)[0]
		next := publishKeyed(t, st, tenant, "a", t0.Add(time.Second))[0]
		now := t0.Add(time.Minute)
		_, err := st.ClaimDelivery(t.Context(), next, "w1", now, now.Add(time.Minute))
		wantCode(t, err, herald.ECONFLICT, "manual retry of a delivery behind its key's head")
		if !strings.Contains(err.Error(), head) {
			t.Errorf("refusal %q does not name the head %s", err, head)
		}
		c, err := st.ClaimDelivery(t.Context(), head, "w1", now, now.Add(time.Minute))
		ok(t, err, "manual retry of the head")
		if c.Delivery.OrderingKey != "a" {
			t.Errorf("claimed head's ordering key = %q, want a", c.Delivery.OrderingKey)
		}
		succeed(t, st, "w1", head, now)
		_, err = st.ClaimDelivery(t.Context(), next, "w1", now, now.Add(time.Minute))
		ok(t, err, "manual retry of the new head")
		succeed(t, st, "w1", next, now)
		// A finished delivery may be sent again by hand whatever comes after it.
		later := publishKeyed(t, st, tenant, "a", t0.Add(2*time.Second))[0]
		_, err = st.ClaimDelivery(t.Context(), head, "w1", now, now.Add(time.Minute))
		ok(t, err, "manual retry of a finished delivery while its key has a pending one")
		if got := claim(t, st, "w2", now, 10); !slices.Equal(got, []string{later}) {
			t.Errorf("claimed %v, want %s: a finished delivery sent again by hand holds no key", got, later)
		}
	})

	t.Run("Skip", func(t *testing.T) {
		st, tenant, _ := openOrdered(t, open)
		head := publishKeyed(t, st, tenant, "a", t0)[0]
		next := publishKeyed(t, st, tenant, "a", t0.Add(time.Second))[0]
		now := t0.Add(time.Minute)

		_, err := st.SkipDelivery(t.Context(), "del_missing", now)
		wantCode(t, err, herald.ENOTFOUND, "skip of a missing delivery")
		if got := claim(t, st, "w1", now, 10); !slices.Equal(got, []string{head}) {
			t.Fatalf("claimed %v, want [head]", got)
		}
		_, err = st.SkipDelivery(t.Context(), head, now.Add(time.Second))
		wantCode(t, err, herald.ECONFLICT, "skip of a delivery being sent")
		fail(t, st, "w1", head, now.Add(time.Second), now.Add(time.Hour))

		d, err := st.SkipDelivery(t.Context(), head, now.Add(2*time.Second))
		ok(t, err, "skip the head")
		if d.Status != herald.StatusFailed || d.LastError != herald.SkippedByHand || d.AttemptCount != 1 || d.NextAttemptAt != nil {
			t.Errorf("skipped delivery = status %s, last error %q, %d attempts, next %v; want failed, %q, 1, nil",
				d.Status, d.LastError, d.AttemptCount, d.NextAttemptAt, herald.SkippedByHand)
		}
		if !d.UpdatedAt.Equal(now.Add(2 * time.Second)) {
			t.Errorf("skipped delivery updated_at = %v, want %v", d.UpdatedAt, now.Add(2*time.Second))
		}
		if got := claim(t, st, "w1", now.Add(2*time.Second), 10); !slices.Equal(got, []string{next}) {
			t.Errorf("after the skip claimed %v, want [next]", got)
		}
		_, err = st.SkipDelivery(t.Context(), head, now.Add(3*time.Second))
		wantCode(t, err, herald.ECONFLICT, "skip of a failed delivery")
		succeed(t, st, "w1", next, now.Add(3*time.Second))
		_, err = st.SkipDelivery(t.Context(), next, now.Add(4*time.Second))
		wantCode(t, err, herald.ECONFLICT, "skip of a delivered one")
	})

	t.Run("BlockedKeys", func(t *testing.T) {
		st, tenant, w := openOrdered(t, open)
		_, err := st.BlockedKeys(t.Context(), "wh_missing")
		wantCode(t, err, herald.ENOTFOUND, "blocked keys of a missing webhook")

		a1 := publishKeyed(t, st, tenant, "a", t0)[0]
		publishKeyed(t, st, tenant, "a", t0.Add(time.Second))
		publishKeyed(t, st, tenant, "a", t0.Add(2*time.Second))
		b1 := publishKeyed(t, st, tenant, "b", t0.Add(3*time.Second))[0]
		publishKeyed(t, st, tenant, "", t0.Add(4*time.Second))
		keys, err := st.BlockedKeys(t.Context(), w.ID)
		ok(t, err, "blocked keys")
		if len(keys) != 0 {
			t.Fatalf("blocked keys before any attempt = %+v, want none", keys)
		}
		now := t0.Add(time.Minute)
		claim(t, st, "w1", now, 10)
		fail(t, st, "w1", a1, now, now.Add(time.Hour))
		succeed(t, st, "w1", b1, now)
		keys, err = st.BlockedKeys(t.Context(), w.ID)
		ok(t, err, "blocked keys")
		if len(keys) != 1 {
			t.Fatalf("blocked keys = %+v, want key a alone", keys)
		}
		k := keys[0]
		if k.Key != "a" || k.HeadDeliveryID != a1 || k.AttemptCount != 1 || k.LastError != "HTTP 500" || k.Waiting != 2 ||
			k.EventType != "drift.detected" || k.EventID == "" || !k.CreatedAt.Equal(t0) {
			t.Errorf("blocked key = %+v; want a, head %s, 1 attempt, HTTP 500, 2 waiting, created %v", k, a1, t0)
		}
		wantTime(t, "blocked key's next attempt", k.NextAttemptAt, ptr(now.Add(time.Hour)))
		_, err = st.SkipDelivery(t.Context(), a1, now)
		ok(t, err, "skip")
		keys, err = st.BlockedKeys(t.Context(), w.ID)
		ok(t, err, "blocked keys")
		if len(keys) != 0 {
			t.Errorf("blocked keys after the head was skipped = %+v, want none: the next head has no attempt yet", keys)
		}
	})

	t.Run("ConcurrentClaimersKeepOrder", func(t *testing.T) {
		// Claimers racing with each other and with the records of failed and succeeded
		// heads: a delivery is never claimed while one before it of its key is unfinished.
		st, tenant, _ := openOrdered(t, open)
		const keys, perKey = 4, 15
		var order [][]string
		for k := range keys {
			order = append(order, nil)
			for i := range perKey {
				id := publishKeyed(t, st, tenant, fmt.Sprint("k", k), t0.Add(time.Duration(i*keys+k)*time.Millisecond))[0]
				order[k] = append(order[k], id)
			}
		}
		position := map[string][2]int{}
		for k, ids := range order {
			for i, id := range ids {
				position[id] = [2]int{k, i}
			}
		}
		var mu sync.Mutex
		finished := map[string]bool{} // set before the success is recorded
		var violations []string
		var wg sync.WaitGroup
		now := t0.Add(time.Minute)
		for w := range 4 {
			owner := fmt.Sprint("w", w)
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), 1))
				for range 400 {
					cs, err := st.ClaimDue(t.Context(), herald.ClaimRequest{Owner: owner, Now: now, LeaseUntil: now.Add(time.Hour), Limit: 3})
					if err != nil {
						t.Errorf("claim: %v", err)
						return
					}
					mu.Lock()
					done := len(finished) == keys*perKey
					for _, c := range cs {
						p := position[c.Delivery.ID]
						for _, before := range order[p[0]][:p[1]] {
							if !finished[before] {
								violations = append(violations, fmt.Sprintf("%s claimed before %s finished", c.Delivery.ID, before))
							}
						}
					}
					mu.Unlock()
					if done {
						return
					}
					for _, c := range cs {
						if rng.IntN(10) < 3 {
							if _, err := st.RecordAttempt(t.Context(), &herald.AttemptRecord{Owner: owner,
								Attempt: attempt(c.Delivery.ID, now, false), Status: herald.StatusPending, NextAttemptAt: now}); err != nil {
								t.Errorf("record failure: %v", err)
							}
							continue
						}
						mu.Lock()
						finished[c.Delivery.ID] = true
						mu.Unlock()
						if _, err := st.RecordAttempt(t.Context(), &herald.AttemptRecord{Owner: owner,
							Attempt: attempt(c.Delivery.ID, now, true), Status: herald.StatusSuccess}); err != nil {
							t.Errorf("record success: %v", err)
						}
					}
				}
			})
		}
		wg.Wait()
		if len(violations) > 0 {
			t.Fatalf("%d deliveries claimed out of turn, first: %s", len(violations), violations[0])
		}
		if len(finished) != keys*perKey {
			t.Fatalf("%d of %d deliveries succeeded", len(finished), keys*perKey)
		}
	})
}
