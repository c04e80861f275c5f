package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/dispatch"
	"github.com/heraldhq/herald/wire"
)

// blackHole is an endpoint that accepts connections and never answers, counting the
// connections open now and the most ever open at once.
type blackHole struct {
	URL        string
	open, most atomic.Int64
}

func newBlackHole(t *testing.T) *blackHole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackHole{URL: "http://" + ln.Addr().String() + "/hook"}
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); conns.Wait() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			n := b.open.Add(1)
			for m := b.most.Load(); n > m && !b.most.CompareAndSwap(m, n); m = b.most.Load() {
			}
			conns.Go(func() {
				defer b.open.Add(-1)
				defer conn.Close()
				var buf [4096]byte
				for { // read, never answer, until Herald gives up and closes
					if _, err := conn.Read(buf[:]); err != nil {
						return
					}
				}
			})
		}
	}()
	return b
}

// TestHostileTenantCannotStallOthers gives one tenant 300 webhooks on an endpoint that
// never answers, each with a delivery hanging until a timeout longer than the test,
// while another tenant publishes to a healthy endpoint. The hung tenant holds no more
// than its share of the request slots, and the healthy tenant's deliveries arrive at
// once, not after the hung attempts' timeout; a manual attempt of the hung tenant's
// waits for its share too. The fair share bounds what the hung tenant takes, the
// timing only shows the effect (the benchmark measures the latency).
func TestHostileTenantCannotStallOthers(t *testing.T) {
	t.Parallel()
	const concurrency, hostileHooks, healthyEvents = 64, 300, 100
	policy := wire.DefaultPolicy(herald.FormatStandard)
	policy.Timeout = time.Minute
	e := newEnvWith(t, dispatch.Config{
		Policies:      map[herald.Format]wire.Policy{herald.FormatStandard: policy},
		Concurrency:   concurrency,
		ShutdownGrace: 10 * time.Millisecond,
	})
	e.clock.Set(time.Now().UTC())
	ctx := context.Background()
	for _, id := range []string{"team_hostile", "team_healthy"} {
		if err := e.store.CreateTenant(ctx, &herald.Tenant{ID: id, Name: id, CreatedAt: t0}, herald.HashKey(id)); err != nil {
			t.Fatal(err)
		}
	}
	hole := newBlackHole(t)
	for range hostileHooks {
		if err := e.store.CreateWebhook(ctx, &herald.Webhook{
			ID: herald.NewID(herald.PrefixWebhook), TenantID: "team_hostile", Name: "hole", URL: hole.URL,
			Enabled: true, Format: herald.FormatStandard, Secret: herald.NewSecret(), CreatedAt: t0, UpdatedAt: t0,
		}); err != nil {
			t.Fatal(err)
		}
	}
	arrived := make(chan string, healthyEvents)
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- r.Header.Get("webhook-id")
	}))
	t.Cleanup(healthy.Close)
	if err := e.store.CreateWebhook(ctx, &herald.Webhook{
		ID: herald.NewID(herald.PrefixWebhook), TenantID: "team_healthy", Name: "ok", URL: healthy.URL,
		Enabled: true, Format: herald.FormatStandard, Secret: herald.NewSecret(), CreatedAt: t0, UpdatedAt: t0,
	}); err != nil {
		t.Fatal(err)
	}
	publish := func(tenant string) string {
		t.Helper()
		now := e.clock.Now()
		id := herald.NewID(herald.PrefixEvent)
		if _, err := e.store.Publish(ctx, []herald.Publication{{Event: herald.Event{
			ID: id, TenantID: tenant, Type: "drift.detected", Data: json.RawMessage(`{"drift_id":1}`),
			Timestamp: now, CreatedAt: now,
		}}}); err != nil {
			t.Fatalf("publish: %v", err)
		}
		e.d.Wake()
		return id
	}

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- e.d.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	publish("team_hostile") // one delivery to each of the 300 webhooks
	share := concurrency - concurrency/8
	waitUntil(t, "the hung tenant fills its share", func() bool { return hole.open.Load() >= int64(share) })

	published := map[string]time.Time{}
	var slowest time.Duration
	for range healthyEvents {
		id := publish("team_healthy")
		published[id] = time.Now()
		select {
		case got := <-arrived:
			slowest = max(slowest, time.Since(published[got]))
		case <-time.After(5 * time.Second):
			t.Fatalf("a healthy tenant's delivery did not arrive in 5s while another tenant's %d attempts hung", hole.open.Load())
		}
	}
	// A test ping or manual retry of the hung tenant's waits for its share like any
	// attempt, rather than opening one more request to the black hole.
	spare := &herald.Webhook{
		ID: herald.NewID(herald.PrefixWebhook), TenantID: "team_hostile", Name: "spare", URL: hole.URL,
		Enabled: false, Format: herald.FormatStandard, Secret: herald.NewSecret(), CreatedAt: t0, UpdatedAt: t0,
	}
	if err := e.store.CreateWebhook(ctx, spare); err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	res, err := e.store.Publish(ctx, []herald.Publication{{Target: spare.ID, Event: herald.Event{
		ID: herald.NewID(herald.PrefixEvent), TenantID: "team_hostile", Type: herald.PingType,
		Data: json.RawMessage(`{}`), Timestamp: now, CreatedAt: now,
	}}})
	if err != nil {
		t.Fatalf("publish a ping: %v", err)
	}
	nowCtx, cancelNow := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelNow()
	if _, err := e.d.DeliverNow(nowCtx, res[0].DeliveryIDs[0]); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a manual attempt of the hung tenant's ended with %v; want it to wait for a slot of its share until its deadline", err)
	}
	if slowest > time.Second {
		t.Errorf("the slowest healthy delivery took %v while another tenant's endpoints hung", slowest)
	}
	if m := hole.most.Load(); m > int64(share) {
		t.Errorf("the hung tenant held %d requests at once, want at most its share %d of %d", m, share, concurrency)
	}
	t.Logf("hung tenant held %d of %d slots; slowest of %d healthy deliveries %v", hole.most.Load(), concurrency, healthyEvents, slowest)
}

// waitUntil polls cond until it holds, failing the test after 10s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
