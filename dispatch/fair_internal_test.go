package dispatch

import (
	"context"
	"slices"
	"testing"
	"time"
)

// waitFor polls cond until it holds or a second has passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFairSlotsTakeTurns queues three attempts of one tenant's webhook, one of its
// second webhook, then two of another tenant's: as the slot comes free the tenants
// alternate, and within a tenant its webhooks do, so neither the first tenant's queue
// nor its first webhook's holds the others back.
func TestFairSlotsTakeTurns(t *testing.T) {
	t.Parallel()
	s := newFairSlots(1)
	if err := s.acquire(t.Context(), "a", "a1"); err != nil {
		t.Fatal(err)
	}
	granted := make(chan string, 10)
	queue := func(tenant, webhook string) {
		go func() {
			if err := s.acquire(context.Background(), tenant, webhook); err != nil {
				t.Error(err)
				return
			}
			granted <- tenant + "/" + webhook
		}()
	}
	for i, w := range []struct{ tenant, webhook string }{
		{"a", "a1"}, {"a", "a1"}, {"a", "a1"}, {"a", "a2"}, {"b", "b1"}, {"b", "b1"},
	} {
		queue(w.tenant, w.webhook)
		waitFor(t, "the attempt waits", func() bool { return s.waiting() == i+1 })
	}
	var order []string
	for range 6 {
		s.release(tenantOf(order, "a"))
		order = append(order, <-granted)
	}
	want := []string{"a/a1", "b/b1", "a/a2", "b/b1", "a/a1", "a/a1"}
	if !slices.Equal(order, want) {
		t.Errorf("slots granted in order %v, want %v", order, want)
	}
}

// tenantOf returns the tenant of the last grant, or first before any.
func tenantOf(order []string, first string) string {
	if len(order) == 0 {
		return first
	}
	return order[len(order)-1][:1]
}

// TestFairSlotsKeepAReserve fills a tenant's share while it is alone: the reserve stays
// free for the next tenant, which gets a slot at once although the first still waits,
// and the first's share then shrinks so it gets nothing more back until it is below.
func TestFairSlotsKeepAReserve(t *testing.T) {
	t.Parallel()
	s := newFairSlots(16) // a reserve of 2: 14 for a tenant alone, 7 each for two
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for range 14 {
		if err := s.acquire(ctx, "hung", "h"); err != nil {
			t.Fatal(err)
		}
	}
	go s.acquire(ctx, "hung", "h") // waits, at its share
	waitFor(t, "the 15th attempt waits", func() bool { return s.waiting() == 1 })
	for range 2 {
		done := make(chan error, 1)
		go func() { done <- s.acquire(ctx, "other", "o") }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(time.Second):
			t.Fatal("a tenant with nothing in flight waited behind one at its share")
		}
	}
	s.release("hung") // the hung tenant holds 13 of its share of 7: nothing for it
	if s.waiting() != 1 {
		t.Errorf("%d attempts wait, want the hung tenant's 1: it is over its share", s.waiting())
	}
	cancel()
	waitFor(t, "the cancelled attempt leaves", func() bool { return s.waiting() == 0 })
}
