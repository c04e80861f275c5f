package postgres_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// TestStrandedKeyStarts: a delivery left waiting with no pending delivery of its key
// before it (a publish that committed while its key's head finished) is made due by the
// store's own maintenance within seconds, so no key stalls.
func TestStrandedKeyStarts(t *testing.T) {
	t.Parallel()
	s := open(t, freshSchema(t))
	ctx := t.Context()
	now := time.Now().UTC()
	w := &herald.Webhook{ID: herald.NewID(herald.PrefixWebhook), TenantID: herald.DefaultTenantID, Name: "ordered",
		URL: "https://receiver.example/hook", Enabled: true, Format: herald.FormatStandard, Ordering: herald.OrderingKey,
		Secret: herald.NewSecret(), CreatedAt: now, UpdatedAt: now}
	if err := s.CreateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 2 {
		rs, err := s.Publish(ctx, []herald.Publication{{Event: herald.Event{
			ID: herald.NewID(herald.PrefixEvent), TenantID: herald.DefaultTenantID, Type: "drift.detected",
			Data: json.RawMessage(`{}`), Timestamp: now.Truncate(time.Second), CreatedAt: now.Add(time.Duration(i) * time.Millisecond),
			OrderingKey: "vm-1",
		}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rs[0].DeliveryIDs...)
	}
	if d, err := s.Delivery(ctx, ids[1]); err != nil || d.NextAttemptAt != nil {
		t.Fatalf("the second delivery = %+v, %v; want it waiting unscheduled", d, err)
	}
	// The head finishes behind the store's back, as if the race had happened.
	if _, err := s.Pool().Exec(ctx, "UPDATE deliveries SET status = 'success', next_attempt_at = NULL WHERE id = $1", ids[0]); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := s.Delivery(ctx, ids[1])
		if err != nil {
			t.Fatal(err)
		}
		if d.NextAttemptAt != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stranded delivery was not made due within 30s")
		}
		time.Sleep(100 * time.Millisecond) // polling the condition, not waiting it out
	}
	cs, err := s.ClaimDue(ctx, herald.ClaimRequest{Owner: "o", Now: time.Now().UTC(), LeaseUntil: time.Now().Add(time.Minute), Limit: 10})
	if err != nil || len(cs) != 1 || cs[0].Delivery.ID != ids[1] {
		t.Fatalf("claimed %d (%v), want the stranded one", len(cs), err)
	}
}
