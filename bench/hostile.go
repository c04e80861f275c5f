package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald"
)

// HostileResult is one tenant's healthy endpoint, timed while another tenant's webhooks
// point at a black hole: an endpoint that takes connections and never answers.
type HostileResult struct {
	WebhooksWanted  int     `json:"webhooks_wanted"`
	WebhooksCreated int     `json:"webhooks_created"`
	CreateSeconds   float64 `json:"create_seconds"`
	// RefusedStatus is the 409 or 422 with which the server refused the hostile tenant
	// more webhooks, and RefusedMessage its error; 0 and empty when it created them all.
	RefusedStatus     int     `json:"refused_status,omitempty"`
	RefusedMessage    string  `json:"refused_message,omitempty"`
	AttemptTimeoutMS  float64 `json:"attempt_timeout_ms"`
	Rate              float64 `json:"rate"`
	HealthyDeliveries int     `json:"healthy_deliveries"`
	HealthyP50MS      float64 `json:"healthy_p50_ms"`
	HealthyP99MS      float64 `json:"healthy_p99_ms"`
	HealthyMaxMS      float64 `json:"healthy_max_ms"`
	// ServerCPUMS is the server's CPU per healthy event over the run, the hung attempts'
	// cost included.
	ServerCPUMS float64 `json:"server_cpu_ms_per_event"`
}

// hostile is a tenant that registers many webhooks, with its own key, all pointing at a
// black hole, so that their creation pings hang until the attempt timeout; then, while
// they hang, another tenant's events are published at a fixed rate, from the open-loop
// pacer latency uses, to one healthy endpoint, and their publish-to-receipt latency is
// measured. The hostile tenant stops at the first 409 or 422 (a cap on webhooks per
// tenant) and the report says how many it got. The attempt timeout is the standard
// format's default, 15 s, so the pings hold their request slots for the whole of a run
// up to about that long.
func (b *harness) hostile(ctx context.Context) (*HostileResult, error) {
	if b.rcv == nil {
		return nil, skip("needs the in-process receiver to time each receipt")
	}
	if b.cfg.server != "" {
		return nil, skip("needs its own server, whose webhooks it may fill with black holes")
	}
	res := &HostileResult{WebhooksWanted: 300, AttemptTimeoutMS: 15_000, Rate: 100}
	if b.cfg.short {
		res.WebhooksWanted, res.AttemptTimeoutMS = 40, 1000
	}
	hole, err := startBlackHole()
	if err != nil {
		return nil, err
	}
	s, err := b.servers(ctx, "hostile", 1, "", "--attempt-timeout", fmt.Sprintf("%dms", int(res.AttemptTimeoutMS)))
	if err != nil {
		hole.close()
		return nil, err
	}
	defer s.stop()
	defer hole.close() // first: hung attempts end at once, so the server stops at once

	const healthy, attacker = "bench-healthy", "bench-hostile"
	var attackerKey string
	for _, tenant := range []string{healthy, attacker} {
		var out struct {
			APIKey string `json:"api_key"`
		}
		if err := b.call(ctx, s, s.urls[0], "POST", "/api/v1/tenants", map[string]any{"id": tenant, "name": tenant}, &out); err != nil {
			return nil, err
		}
		if tenant == attacker {
			attackerKey = out.APIKey
		}
	}
	b.rcv.Reset()
	before := b.rcv.Answered()
	if _, err := b.createWebhooks(ctx, s, 1, func(int) string { return "/hostile-healthy/0" },
		func(int) map[string]any { return map[string]any{"tenant_id": healthy} }); err != nil {
		return nil, err
	}
	if err := b.waitAnswered(ctx, before+1); err != nil {
		return nil, err
	}

	start := time.Now()
	if err := b.createHostileWebhooks(ctx, s.urls[0], attackerKey, hole.url, res); err != nil {
		return nil, err
	}
	res.CreateSeconds = round(time.Since(start).Seconds(), 2)
	b.logf("  %s created %d of %d webhooks into a black hole in %.1f s", attacker, res.WebhooksCreated, res.WebhooksWanted, res.CreateSeconds)
	if res.RefusedStatus != 0 {
		b.logf("  then refused: %d %s", res.RefusedStatus, res.RefusedMessage)
	}

	n := int(res.Rate * b.cfg.duration.Seconds())
	cpu := startCPU(s.meter())
	run, err := b.publishPaced(ctx, s, n, res.Rate, func(int) string { return healthy }, nil)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	res.HealthyDeliveries = run.expected
	// Each wave of hung pings holds the pool for an attempt timeout; a few waves, then
	// the healthy deliveries must be in.
	wait := time.Minute + 4*time.Duration(res.AttemptTimeoutMS)*time.Millisecond
	if err := b.rcv.WaitReceived(ctx, res.HealthyDeliveries, wait); err != nil {
		return nil, fmt.Errorf("healthy tenant: %w", err)
	}
	res.ServerCPUMS = b.cpuPerDelivery(cpu, res.HealthyDeliveries, "server CPU per healthy event")
	lat := latencies(b.rcv.snapshot(), nil)
	res.HealthyP50MS, res.HealthyP99MS, res.HealthyMaxMS = msOf(quantile(lat, 0.5)), msOf(quantile(lat, 0.99)), msOf(lat[len(lat)-1])
	b.logf("  healthy tenant at %g/s: p50 %.2f ms, p99 %.2f ms, max %.2f ms", res.Rate, res.HealthyP50MS, res.HealthyP99MS, res.HealthyMaxMS)
	return res, nil
}

// createHostileWebhooks registers res.WebhooksWanted webhooks at the black hole with
// the attacker's key, from 8 clients, as fast as the API's rate limit lets them (a 429
// is waited out and tried again), and stops at the first 409 or 422. It sets
// res.WebhooksCreated and, when refused, res.RefusedStatus and res.RefusedMessage.
func (b *harness) createHostileWebhooks(ctx context.Context, base, key, hole string, res *HostileResult) error {
	var next, created atomic.Int64
	var refused atomic.Pointer[herald.Error]
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for w := range errs {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < res.WebhooksWanted && refused.Load() == nil && ctx.Err() == nil; {
				body := map[string]any{"name": fmt.Sprintf("black hole %d", i), "url": fmt.Sprintf("%s/%d", hole, i),
					"format": "standard", "events": []string{eventType}}
				status, err := b.do(ctx, key, base, "POST", "/api/v1/webhooks", body, nil)
				var refusal *herald.Error
				switch {
				case err == nil:
					created.Add(1)
					i = int(next.Add(1)) - 1
				case status == http.StatusTooManyRequests:
					select { // the tenant's rate limit: wait as a client would, and again
					case <-ctx.Done():
					case <-time.After(250 * time.Millisecond):
					}
				case (status == http.StatusConflict || status == http.StatusUnprocessableEntity) && errors.As(err, &refusal):
					refused.CompareAndSwap(nil, refusal)
					return
				default:
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("create the hostile tenant's webhooks: %w", err)
	}
	res.WebhooksCreated = int(created.Load())
	if r := refused.Load(); r != nil {
		res.RefusedStatus, res.RefusedMessage = herald.ErrorStatus(r.Code), r.Error()
	}
	return ctx.Err()
}

// blackHole is an endpoint on loopback that accepts connections and never answers:
// a request to it waits for its sender's timeout.
type blackHole struct {
	ln    net.Listener
	url   string
	mu    sync.Mutex
	conns []net.Conn
	done  chan struct{}
}

// startBlackHole starts a black hole on a free loopback port; close stops it.
func startBlackHole() (*blackHole, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("black hole: %w", err)
	}
	h := &blackHole{ln: ln, url: "http://" + ln.Addr().String(), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed
			}
			h.mu.Lock()
			h.conns = append(h.conns, c) // held, never read from nor written to
			h.mu.Unlock()
		}
	}()
	return h, nil
}

// close stops accepting and drops every connection held.
func (h *blackHole) close() {
	_ = h.ln.Close() // ends the accept loop
	<-h.done
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		_ = c.Close() // the sender sees its connection end; nothing to do if that fails
	}
	h.conns = nil
}
