package sqlite_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/sqlite"
	"github.com/heraldhq/herald/storetest"
)

// TestOrderingThroughRestart: a process that dies while it sends a key's head leaves
// no lease behind (leases live in memory), so the next process takes the head again,
// and still nothing behind it, until the head is recorded.
func TestOrderingThroughRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	first, err := sqlite.Open(context.Background(), path, storetest.Cipher{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	w := &herald.Webhook{ID: herald.NewID(herald.PrefixWebhook), TenantID: herald.DefaultTenantID, Name: "ordered",
		URL: "https://receiver.example/hook", Enabled: true, Format: herald.FormatStandard, Ordering: herald.OrderingKey,
		Secret: herald.NewSecret(), CreatedAt: t0, UpdatedAt: t0}
	if err := first.CreateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 3 {
		rs, err := first.Publish(ctx, []herald.Publication{{Event: herald.Event{
			ID: herald.NewID(herald.PrefixEvent), TenantID: herald.DefaultTenantID, Type: "drift.detected",
			Data: json.RawMessage(`{}`), Timestamp: t0, CreatedAt: t0.Add(time.Duration(i) * time.Second), OrderingKey: "vm-1",
		}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rs[0].DeliveryIDs...)
	}
	claimIDs := func(s *sqlite.Store, owner string, now time.Time) []string {
		t.Helper()
		cs, err := s.ClaimDue(ctx, herald.ClaimRequest{Owner: owner, Now: now, LeaseUntil: now.Add(time.Hour), Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range cs {
			got = append(got, c.Delivery.ID)
		}
		return got
	}
	now := t0.Add(time.Minute)
	if got := claimIDs(first, "before", now); !slices.Equal(got, ids[:1]) {
		t.Fatalf("claimed %v, want the head %s", got, ids[0])
	}
	if err := first.Close(); err != nil { // dies with the head leased and unrecorded
		t.Fatal(err)
	}

	second := open(t, path)
	if got := claimIDs(second, "after", now); !slices.Equal(got, ids[:1]) {
		t.Fatalf("after the restart claimed %v, want the head %s again and nothing behind it", got, ids[0])
	}
	if got := claimIDs(second, "after", now); len(got) != 0 {
		t.Fatalf("claimed %v while the head is leased", got)
	}
	if _, err := second.RecordAttempt(ctx, &herald.AttemptRecord{Owner: "after", Status: herald.StatusSuccess,
		Attempt: herald.Attempt{DeliveryID: ids[0], At: now, StatusCode: 204, Success: true}}); err != nil {
		t.Fatal(err)
	}
	if got := claimIDs(second, "after", now); !slices.Equal(got, ids[1:2]) {
		t.Fatalf("after the head succeeded claimed %v, want %s", got, ids[1])
	}
}
