package webhook_test

import (
	"context"
	"fmt"
	"sync"
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

// doneFunc returns a helper that calls d.Done(key) and fails t if it fails.
func doneFunc(t *testing.T, d webhook.Deduper) func(key string) {
	return func(key string) {
		t.Helper()
		if err := d.Done(context.Background(), key); err != nil {
			t.Fatalf("Done(%s) = %v", key, err)
		}
	}
}

func TestMemoryDeduper(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		d := webhook.NewMemoryDeduper(time.Hour)
		seen, done := seenFunc(t, d), doneFunc(t, d)

		// Seen records nothing: a delivery being handled, or whose handling died, is
		// not a duplicate.
		seen("a", false)
		seen("a", false)
		if n := d.Len(); n != 0 {
			t.Fatalf("Len = %d after Seen alone, want 0", n)
		}

		done("a")
		seen("a", true)
		seen("b", false)
		done("b")
		seen("b", true)

		// Marking a key again does not extend its life: both were marked at 0.
		time.Sleep(59 * time.Minute)
		done("a")
		seen("b", true)
		if n := d.Len(); n != 2 {
			t.Errorf("Len = %d before expiry, want 2", n)
		}
		time.Sleep(time.Minute)
		if n := d.Len(); n != 0 {
			t.Errorf("Len = %d after expiry, want 0", n)
		}
		seen("a", false)
		seen("b", false)

		// An expired key is marked afresh, for a whole TTL.
		done("a")
		time.Sleep(59 * time.Minute)
		seen("a", true)
		time.Sleep(time.Minute)
		seen("a", false)
	})
}

func TestMemoryDeduperDefaultTTL(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		d := webhook.NewMemoryDeduper(0)
		seen, done := seenFunc(t, d), doneFunc(t, d)
		done("del_1")
		time.Sleep(webhook.DefaultDedupeTTL - time.Second)
		seen("del_1", true)
		time.Sleep(time.Second)
		seen("del_1", false)
	})
}

// TestMemoryDeduperTTLFromDone checks that a key's life starts when it is marked Done,
// not when it was first asked about: handling can take long.
func TestMemoryDeduperTTLFromDone(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		d := webhook.NewMemoryDeduper(time.Hour)
		seen, done := seenFunc(t, d), doneFunc(t, d)
		seen("del_1", false)
		time.Sleep(30 * time.Minute)
		done("del_1")
		time.Sleep(59 * time.Minute)
		seen("del_1", true)
		time.Sleep(time.Minute)
		seen("del_1", false)
	})
}

func TestMemoryDeduperMaxEntries(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		d := webhook.NewMemoryDeduper(time.Hour)
		d.MaxEntries = 3
		seen, done := seenFunc(t, d), doneFunc(t, d)
		for _, k := range []string{"a", "b", "c", "d"} { // d pushes a out
			done(k)
			time.Sleep(time.Second)
		}
		if n := d.Len(); n != 3 {
			t.Errorf("Len = %d, want MaxEntries = 3", n)
		}
		seen("a", false) // forgotten early
		seen("b", true)
		done("b") // already marked: pushes nothing out
		seen("c", true)
		done("a") // pushes b out
		seen("b", false)
		seen("a", true)
		if n := d.Len(); n != 3 {
			t.Errorf("Len = %d, want MaxEntries = 3", n)
		}
	})
}

// TestMemoryDeduperChurn marks keys over and over, through their expiries and
// MaxEntries' evictions, and checks the deduper stays right.
func TestMemoryDeduperChurn(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		d := webhook.NewMemoryDeduper(time.Hour)
		d.MaxEntries = 5
		seen, done := seenFunc(t, d), doneFunc(t, d)
		for i := range 1000 {
			done(fmt.Sprint("k", i%10))
			if i%100 == 99 {
				time.Sleep(time.Hour) // everything expires
				if n := d.Len(); n != 0 {
					t.Fatalf("Len = %d after expiry, want 0", n)
				}
			}
		}
		// Empty now; mark five keys, the last five of ten in a row.
		for i := range 10 {
			done(fmt.Sprint("k", i))
		}
		for i := range 10 {
			seen(fmt.Sprint("k", i), i >= 5)
		}
	})
}

// TestMemoryDeduperConcurrent marks and checks one key from many goroutines at once
// (run with -race): it ends up marked once.
func TestMemoryDeduperConcurrent(t *testing.T) {
	t.Parallel()
	d := webhook.NewMemoryDeduper(time.Hour)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			ctx := context.Background()
			if _, err := d.Seen(ctx, "del_1"); err != nil {
				t.Error(err)
			}
			if err := d.Done(ctx, "del_1"); err != nil {
				t.Error(err)
			}
			_ = d.Len()
		})
	}
	wg.Wait()
	seenFunc(t, d)("del_1", true)
	if n := d.Len(); n != 1 {
		t.Errorf("Len = %d after marking one key from 50 goroutines, want 1", n)
	}
}
