package dispatch_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/dispatch"
)

// TestPerWebhookBoundsRequestsInFlight runs a dispatcher against one slow endpoint with
// a backlog of deliveries: however many it leases ahead, never more than PerWebhook
// requests reach the endpoint at once, and every delivery arrives exactly once.
func TestPerWebhookBoundsRequestsInFlight(t *testing.T) {
	t.Parallel()
	const perWebhook, deliveries = 3, 60
	e := newEnv(t, nil)
	e.clock.Set(time.Now().UTC())
	var now, most, total atomic.Int64
	seen := make(chan string, deliveries*2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := now.Add(1)
		defer now.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(5 * time.Millisecond) // long enough for the others to pile up
		total.Add(1)
		seen <- r.Header.Get("webhook-id")
	}))
	t.Cleanup(srv.Close)
	e.webhook(srv.URL, herald.FormatStandard)
	e.d = dispatch.New(dispatch.Config{Store: e.store, Client: &http.Client{}, Clock: e.clock, PerWebhook: perWebhook})
	for range deliveries {
		e.publish()
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.d.Run(ctx) }()
	got := map[string]bool{}
	timeout := time.After(30 * time.Second)
	for len(got) < deliveries {
		select {
		case id := <-seen:
			if got[id] {
				t.Errorf("event %s delivered twice", id)
			}
			got[id] = true
		case <-timeout:
			t.Fatalf("only %d of %d deliveries arrived in 30s", len(got), deliveries)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if m := most.Load(); m > perWebhook {
		t.Errorf("%d requests in flight to one endpoint at once, want at most %d (PerWebhook)", m, perWebhook)
	} else if m < 2 {
		t.Errorf("at most %d request in flight at once: the endpoint was never used concurrently, so the test proves nothing", m)
	}
	if n := total.Load(); n != deliveries {
		t.Errorf("%d requests for %d deliveries", n, deliveries)
	}
}
