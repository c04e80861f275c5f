package webhook_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// seenFunc returns a helper that calls d.Seen(key) and fails t unless it reports want.
func seenFunc(t *testing.T, d webhook.Deduper) func(key string, want bool) {
	return func(key string, want bool) {
		t.Helper()
		got, err := d.Seen(context.Background(), key)
		if err != nil || got != want {
			t.Fatalf("Seen(%s) = %v, %v; want %v", key, got, err, want)
		}
	}
}

func TestMemoryDeduper(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		d := webhook.NewMemoryDeduper(time.Hour)
		seen := seenFunc(t, d)

		seen("a", false)
		seen("a", true)
		seen("b", false)

		// Forgetting lets a key in again.
		if err := d.Forget(context.Background(), "a"); err != nil {
			t.Fatal(err)
		}
		seen("a", false)
		seen("a", true)

		// Seeing a key again does not extend its life: both were recorded at 0.
		time.Sleep(59 * time.Minute)
		seen("b", true)
		if n := d.Len(); n != 2 {
			t.Errorf("Len = %d before expiry, want 2", n)
		}
		time.Sleep(time.Minute)
		if n := d.Len(); n != 0 {
			t.Errorf("Len = %d after expiry, want 0", n)
		}
		seen("b", false)
		seen("a", false)
		seen("b", true)
	})
}

func TestMemoryDeduperDefaultTTL(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		d := webhook.NewMemoryDeduper(0)
		seen := seenFunc(t, d)
		seen("del_1", false)
		time.Sleep(webhook.DefaultDedupeTTL - time.Second)
		seen("del_1", true)
		time.Sleep(time.Second)
		seen("del_1", false)
	})
}

func TestMemoryDeduperMaxEntries(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		d := webhook.NewMemoryDeduper(time.Hour)
		d.MaxEntries = 3
		seen := seenFunc(t, d)
		for _, k := range []string{"a", "b", "c", "d"} { // d pushes a out
			seen(k, false)
			time.Sleep(time.Second)
		}
		if n := d.Len(); n != 3 {
			t.Errorf("Len = %d, want MaxEntries = 3", n)
		}
		seen("b", true)
		seen("a", false) // forgotten early; now pushes b out
		seen("b", false)
	})
}

// TestMemoryDeduperChurn forgets and records the same keys over and over, as failing
// handlers do, and checks the deduper stays right.
func TestMemoryDeduperChurn(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		d := webhook.NewMemoryDeduper(time.Hour)
		seen := seenFunc(t, d)
		for i := range 1000 {
			key := fmt.Sprint("k", i%10)
			seen(key, false)
			if err := d.Forget(ctx, key); err != nil {
				t.Fatal(err)
			}
		}
		seen("k1", false)
		seen("k1", true)
		time.Sleep(time.Hour)
		seen("k1", false)
		if n := d.Len(); n != 1 {
			t.Errorf("Len = %d, want 1", n)
		}
	})
}

// TestMemoryDeduperConcurrent checks that of many concurrent Seen calls for one key,
// exactly one reports it new (run with -race).
func TestMemoryDeduperConcurrent(t *testing.T) {
	t.Parallel()
	d := webhook.NewMemoryDeduper(time.Hour)
	var fresh atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			seen, err := d.Seen(context.Background(), "del_1")
			if err != nil {
				t.Error(err)
			}
			if !seen {
				fresh.Add(1)
			}
			_ = d.Forget(context.Background(), "other") // MemoryDeduper.Forget never fails
		})
	}
	wg.Wait()
	if n := fresh.Load(); n != 1 {
		t.Errorf("%d concurrent Seen calls reported the key new, want 1", n)
	}
}
