package postgres_test

import (
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// TestConcurrentRecordsActAsOne records, all at once, the failed attempts of forty
// deliveries of one webhook that is disabled after thirty consecutive failures. Records
// made at the same moment share transactions, and each must still be applied as if
// alone, in turn: every failure counts, exactly one attempt disables the webhook, and
// it is the thirtieth.
func TestConcurrentRecordsActAsOne(t *testing.T) {
	t.Parallel()
	const n, disableAt = 40, 30
	s, w, _ := publishedStore(t, n)
	ctx := t.Context()
	now := at.Add(time.Minute)
	cs, err := s.ClaimDue(ctx, herald.ClaimRequest{Owner: "w1", Now: now, LeaseUntil: now.Add(time.Minute), Limit: n})
	if err != nil || len(cs) != n {
		t.Fatalf("claimed %d, %v; want %d", len(cs), err, n)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		disabled []string
	)
	for i, c := range cs {
		wg.Go(func() {
			out, err := s.RecordAttempt(ctx, &herald.AttemptRecord{
				Owner:                "w1",
				Attempt:              herald.Attempt{DeliveryID: c.Delivery.ID, At: now.Add(time.Duration(i) * time.Millisecond), StatusCode: 500},
				Status:               herald.StatusPending,
				NextAttemptAt:        now.Add(time.Hour),
				DisableAfterFailures: disableAt,
			})
			if err != nil {
				t.Errorf("record attempt of %s: %v", c.Delivery.ID, err)
				return
			}
			if out.Number != 1 {
				t.Errorf("attempt of %s numbered %d, want 1", c.Delivery.ID, out.Number)
			}
			if out.WebhookDisabled {
				mu.Lock()
				disabled = append(disabled, out.DisabledReason)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(disabled) != 1 || disabled[0] != "30 consecutive failed attempts" {
		t.Errorf("attempts that disabled the webhook said %q, want one saying 30 consecutive failed attempts", disabled)
	}
	got, err := s.Webhook(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Enabled || got.ConsecutiveFailures != n {
		t.Errorf("webhook enabled %v with %d consecutive failures, want disabled with all %d", got.Enabled, got.ConsecutiveFailures, n)
	}
	var pending, leased int
	if err := s.Pool().QueryRow(ctx, "SELECT (SELECT count(*) FROM deliveries WHERE status = 'pending'), (SELECT count(*) FROM leases)").
		Scan(&pending, &leased); err != nil {
		t.Fatal(err)
	}
	if pending != 0 || leased != 0 {
		t.Errorf("%d deliveries pending and %d leased after every attempt was recorded and the webhook disabled, want none", pending, leased)
	}
}

// TestConcurrentRecordsOfOneDelivery records, all at once, twenty failed attempts of
// one delivery. Records that share a transaction write most attempts together; two of
// the same delivery must still each count, in turn, so the delivery ends with twenty
// attempts numbered 1 to 20.
func TestConcurrentRecordsOfOneDelivery(t *testing.T) {
	t.Parallel()
	s, _, ids := publishedStore(t, 1)
	ctx := t.Context()
	id := ids[0]
	now := at.Add(time.Minute)
	const n = 20
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		numbers = map[int]bool{}
	)
	for i := range n {
		wg.Go(func() {
			out, err := s.RecordAttempt(ctx, &herald.AttemptRecord{
				Owner:         "w1",
				Attempt:       herald.Attempt{DeliveryID: id, At: now.Add(time.Duration(i) * time.Millisecond), StatusCode: 500},
				Status:        herald.StatusPending,
				NextAttemptAt: now.Add(time.Hour),
			})
			if err != nil {
				t.Errorf("record attempt %d: %v", i, err)
				return
			}
			mu.Lock()
			numbers[out.Number] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	for i := 1; i <= n; i++ {
		if !numbers[i] {
			t.Errorf("no attempt numbered %d among %v", i, numbers)
		}
	}
	d, err := s.Delivery(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var stored int
	if err := s.Pool().QueryRow(ctx, "SELECT count(DISTINCT number) FROM attempts WHERE delivery_id = $1", id).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if d.AttemptCount != n || stored != n {
		t.Errorf("delivery counts %d attempts and stores %d, want %d and %d", d.AttemptCount, stored, n, n)
	}
}
