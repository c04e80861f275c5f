package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald"
)

// dispatcherPerWebhook is herald serve's default --per-webhook-concurrency: the most
// attempts one endpoint gets at once, so the concurrency a raw client must match for a
// fair comparison with one webhook.
const dispatcherPerWebhook = 8

// dispatcherConcurrency is herald serve's default --concurrency: the most attempts in
// flight at once, whatever the endpoints.
const dispatcherConcurrency = 128

// RawResult is the physical ceiling: the receiver hit by a plain net/http client.
type RawResult struct {
	Runs []RawRun `json:"runs"`
}

// RawRun is one raw measurement at one concurrency.
type RawRun struct {
	Concurrency int     `json:"concurrency"`
	Requests    int     `json:"requests"`
	PerSecond   float64 `json:"per_second"`
}

func (r *RawResult) at(concurrency int) float64 {
	for _, run := range r.Runs {
		if run.Concurrency == concurrency {
			return run.PerSecond
		}
	}
	return 0
}

// raw posts a delivery-sized body to the receiver as fast as concurrency clients can,
// at the dispatcher's per-webhook and whole-process concurrency.
func (b *harness) raw(ctx context.Context) (*RawResult, error) {
	body := []byte(`{"type":"drift.resolved","timestamp":"2024-01-15T15:00:00Z","data":{"drift_id":55,"resolved_by":1,"resolved_at":"2024-01-15T15:00:00Z"}}`)
	dur := min(b.cfg.duration, 5*time.Second)
	if b.cfg.short {
		dur = 300 * time.Millisecond
	}
	res := &RawResult{}
	for _, concurrency := range []int{dispatcherPerWebhook, dispatcherConcurrency} {
		client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: concurrency}}
		var n atomic.Int64
		var firstErr atomic.Value
		start := time.Now()
		deadline := start.Add(dur)
		var wg sync.WaitGroup
		for range concurrency {
			wg.Go(func() {
				for time.Now().Before(deadline) && ctx.Err() == nil {
					req, err := http.NewRequestWithContext(ctx, "POST", b.target+"/raw/0", bytes.NewReader(body))
					if err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("webhook-id", "evt_raw")
					resp, err := client.Do(req)
					if err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
					drainBody(resp)
					if resp.StatusCode < 200 || resp.StatusCode > 299 {
						firstErr.CompareAndSwap(nil, fmt.Errorf("receiver answered %d", resp.StatusCode))
						return
					}
					n.Add(1)
				}
			})
		}
		wg.Wait()
		client.CloseIdleConnections()
		if err, _ := firstErr.Load().(error); err != nil {
			return nil, fmt.Errorf("raw baseline: %w", err)
		}
		run := RawRun{Concurrency: concurrency, Requests: int(n.Load()), PerSecond: round(float64(n.Load())/time.Since(start).Seconds(), 0)}
		b.logf("  raw at %d: %.0f requests/s", concurrency, run.PerSecond)
		res.Runs = append(res.Runs, run)
	}
	return res, nil
}

// E2EResult is events published through the API until the receiver has them all: to
// one webhook, then to many.
type E2EResult struct {
	Publishers            int                  `json:"publishers"`
	SingleEvents          int                  `json:"single_events"`
	SinglePublish         float64              `json:"single_publish_per_second"` // events accepted per second
	SinglePerSecond       float64              `json:"single_per_second"`         // deliveries per second, publish to last receipt
	SingleServerCPUMS     float64              `json:"single_server_cpu_ms_per_delivery"`
	RawConcurrency        int                  `json:"raw_concurrency"`
	RatioToRaw            float64              `json:"ratio_to_raw"`
	BatchSize             int                  `json:"batch_size"`
	BatchEvents           int                  `json:"batch_events"`
	BatchPublishPerSecond float64              `json:"batch_publish_per_second"`
	BatchPerSecond        float64              `json:"batch_per_second"`
	BatchRatioToRaw       float64              `json:"batch_ratio_to_raw"`
	BatchServerCPUMS      float64              `json:"batch_server_cpu_ms_per_delivery"`
	Many                  *ManyEndpointsResult `json:"many,omitempty"`
}

// ManyEndpointsResult is the end-to-end run with every event due at many webhooks on
// the one receiver host, where the dispatcher's whole pool, not one endpoint's share of
// it, is the bound: so it is compared with the raw client at the pool's size.
type ManyEndpointsResult struct {
	Webhooks          int     `json:"webhooks"`
	RawConcurrency    int     `json:"raw_concurrency"`
	SingleEvents      int     `json:"single_events"`
	SinglePerSecond   float64 `json:"single_per_second"`
	SingleRatioToRaw  float64 `json:"single_ratio_to_raw"`
	SingleServerCPUMS float64 `json:"single_server_cpu_ms_per_delivery"`
	BatchEvents       int     `json:"batch_events"`
	BatchPerSecond    float64 `json:"batch_per_second"`
	BatchRatioToRaw   float64 `json:"batch_ratio_to_raw"`
	BatchServerCPUMS  float64 `json:"batch_server_cpu_ms_per_delivery"`
}

// manyWebhooks is how many webhooks the many-endpoint run has: as many as it takes for
// their per-webhook caps (8 each) to add up to the dispatcher's pool (128).
const manyWebhooks = dispatcherConcurrency / dispatcherPerWebhook

// endToEnd publishes to one webhook through the single-event API from several clients
// for the duration, then through the batch API, and times each until the receiver has
// every delivery; then does the same on a new server with every event due at many
// webhooks. Each run also reads the server's CPU per delivery.
func (b *harness) endToEnd(ctx context.Context, raw *RawResult) (*E2EResult, error) {
	s, err := b.servers(ctx, "e2e", 1, "")
	if err != nil {
		return nil, err
	}
	defer s.stop()
	ids, err := b.createWebhooks(ctx, s, 1, func(int) string { return "/e2e/0" }, nil)
	if err != nil {
		return nil, err
	}
	defer func() { b.deleteWebhooks(ctx, s, ids) }()
	if err := b.waitIdle(ctx, s, time.Minute); err != nil {
		return nil, err
	}

	res := &E2EResult{Publishers: 8, RawConcurrency: dispatcherPerWebhook}
	cpu := startCPU(s.meter())
	single, err := b.publishFor(ctx, s, res.Publishers, b.cfg.duration, 0, 1)
	if err != nil {
		return nil, err
	}
	res.SingleServerCPUMS = b.cpuPerDelivery(cpu, single.deliveries, "server CPU, single publish")
	res.SingleEvents = single.events
	res.SinglePublish = round(single.publishRate(), 0)
	res.SinglePerSecond = round(single.deliveryRate(), 0)
	b.logf("  single: %d events, accepted %.0f/s, delivered %.0f/s", single.events, res.SinglePublish, res.SinglePerSecond)

	res.BatchSize, res.BatchEvents = 1000, 50_000
	if b.cfg.short {
		res.BatchSize, res.BatchEvents = 100, 1000
	}
	cpu = startCPU(s.meter())
	batch, err := b.publishBatches(ctx, s, res.BatchEvents, res.BatchSize, 2, 1, nil)
	if err != nil {
		return nil, err
	}
	res.BatchServerCPUMS = b.cpuPerDelivery(cpu, batch.deliveries, "server CPU, batch publish")
	res.BatchPublishPerSecond = round(batch.publishRate(), 0)
	res.BatchPerSecond = round(batch.deliveryRate(), 0)
	b.logf("  batch: %d events, accepted %.0f/s, delivered %.0f/s", batch.events, res.BatchPublishPerSecond, res.BatchPerSecond)
	if raw != nil && raw.at(res.RawConcurrency) > 0 {
		res.RatioToRaw = round(res.SinglePerSecond/raw.at(res.RawConcurrency), 4)
		res.BatchRatioToRaw = round(res.BatchPerSecond/raw.at(res.RawConcurrency), 4)
	}
	// The many-endpoint run has a server of its own: one at a time on the machine (and,
	// on a --server, without this webhook, which would take every event too).
	s.stop()
	b.deleteWebhooks(ctx, s, ids)
	ids = nil

	res.Many, err = b.endToEndMany(ctx, raw, res.BatchEvents, res.BatchSize)
	if err != nil {
		return nil, fmt.Errorf("many endpoints: %w", err)
	}
	return res, nil
}

// endToEndMany is endToEnd's run with every event due at manyWebhooks webhooks:
// deliveries in all, as many as the one-endpoint batch run made, published once
// through the single-event API (for at most the duration) and once through the batch
// API.
func (b *harness) endToEndMany(ctx context.Context, raw *RawResult, deliveries, batchSize int) (*ManyEndpointsResult, error) {
	s, err := b.servers(ctx, "e2e-many", 1, "")
	if err != nil {
		return nil, err
	}
	defer s.stop()
	res := &ManyEndpointsResult{Webhooks: manyWebhooks, RawConcurrency: dispatcherConcurrency}
	ids, err := b.createWebhooks(ctx, s, res.Webhooks, func(i int) string { return fmt.Sprintf("/e2e-many/%d", i) }, nil)
	if err != nil {
		return nil, err
	}
	defer b.deleteWebhooks(ctx, s, ids)
	if err := b.waitIdle(ctx, s, time.Minute); err != nil {
		return nil, err
	}
	events := max(deliveries/res.Webhooks, 1)

	cpu := startCPU(s.meter())
	single, err := b.publishFor(ctx, s, 8, b.cfg.duration, events, res.Webhooks)
	if err != nil {
		return nil, err
	}
	res.SingleServerCPUMS = b.cpuPerDelivery(cpu, single.deliveries, "server CPU, single publish to many")
	res.SingleEvents = single.events
	res.SinglePerSecond = round(single.deliveryRate(), 0)
	b.logf("  single to %d webhooks: %d events, delivered %.0f/s", res.Webhooks, single.events, res.SinglePerSecond)

	cpu = startCPU(s.meter())
	batch, err := b.publishBatches(ctx, s, events, min(batchSize, events), 2, res.Webhooks, nil)
	if err != nil {
		return nil, err
	}
	res.BatchServerCPUMS = b.cpuPerDelivery(cpu, batch.deliveries, "server CPU, batch publish to many")
	res.BatchEvents = batch.events
	res.BatchPerSecond = round(batch.deliveryRate(), 0)
	b.logf("  batch to %d webhooks: %d events, delivered %.0f/s", res.Webhooks, batch.events, res.BatchPerSecond)
	if raw != nil && raw.at(res.RawConcurrency) > 0 {
		res.SingleRatioToRaw = round(res.SinglePerSecond/raw.at(res.RawConcurrency), 4)
		res.BatchRatioToRaw = round(res.BatchPerSecond/raw.at(res.RawConcurrency), 4)
	}
	return res, nil
}

// published is what one publishing run did.
type published struct {
	events, deliveries int
	start              time.Time
	publishDone        time.Time // the last publish was acknowledged
	delivered          time.Time // the last delivery arrived
}

func (p *published) publishRate() float64 {
	return float64(p.events) / p.publishDone.Sub(p.start).Seconds()
}

func (p *published) deliveryRate() float64 {
	return float64(p.deliveries) / p.delivered.Sub(p.start).Seconds()
}

// publishFor publishes single events from publishers clients, spread over the servers,
// for dur (or until limit events when limit > 0), each due at want webhooks, and waits
// for every delivery.
func (b *harness) publishFor(ctx context.Context, s *heraldServers, publishers int, dur time.Duration, limit, want int) (*published, error) {
	if b.rcv != nil {
		b.rcv.Reset()
	}
	p := &published{start: time.Now()}
	deadline := p.start.Add(dur)
	var n atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := range publishers {
		wg.Go(func() {
			base := s.urls[w%len(s.urls)]
			for time.Now().Before(deadline) && ctx.Err() == nil && firstErr.Load() == nil {
				if limit > 0 && n.Load() >= int64(limit) {
					return
				}
				id := herald.NewID(herald.PrefixEvent)
				if b.rcv != nil {
					b.rcv.Expect(id, time.Now(), want)
				}
				if err := b.call(ctx, s, base, "POST", "/api/v1/events", newEvent(id, ""), nil); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	p.publishDone = time.Now()
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	p.events = int(n.Load())
	p.deliveries = p.events * want
	return p, b.waitDelivered(ctx, s, p)
}

// waitDelivered waits until the receiver has every delivery of p and notes when the
// last arrived; with an external receiver, until the server has nothing pending.
func (b *harness) waitDelivered(ctx context.Context, s *heraldServers, p *published) error {
	timeout := 2*time.Minute + time.Duration(p.deliveries)*2*time.Millisecond
	if b.rcv == nil {
		if err := b.waitIdle(ctx, s, timeout); err != nil {
			return err
		}
		p.delivered = time.Now()
		return nil
	}
	if err := b.rcv.WaitReceived(ctx, p.deliveries, timeout); err != nil {
		return err
	}
	rs := b.rcv.snapshot()
	p.delivered = rs[len(rs)-1].at
	return nil
}

// publishBatches publishes total events through the batch API, size per call, from
// publishers clients; tenant, when set, gives event i's tenant. Each event is due at
// want webhooks. It waits for every delivery unless hold is set: then it returns once
// published and hold.wait finishes the job.
func (b *harness) publishBatches(ctx context.Context, s *heraldServers, total, size, publishers, want int, tenant func(i int) string) (*published, error) {
	if b.rcv != nil {
		b.rcv.Reset()
	}
	p, err := b.publishBatchesOnly(ctx, s, total, size, publishers, want, tenant)
	if err != nil {
		return nil, err
	}
	return p, b.waitDelivered(ctx, s, p)
}

func (b *harness) publishBatchesOnly(ctx context.Context, s *heraldServers, total, size, publishers, want int, tenant func(i int) string) (*published, error) {
	p := &published{start: time.Now()}
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	batches := (total + size - 1) / size
	for w := range publishers {
		wg.Go(func() {
			base := s.urls[w%len(s.urls)]
			for i := int(next.Add(1)) - 1; i < batches && ctx.Err() == nil && firstErr.Load() == nil; i = int(next.Add(1)) - 1 {
				events := make([]map[string]any, 0, size)
				now := time.Now()
				for j := i * size; j < min((i+1)*size, total); j++ {
					id := herald.NewID(herald.PrefixEvent)
					t := ""
					if tenant != nil {
						t = tenant(j)
					}
					events = append(events, newEvent(id, t))
					if b.rcv != nil {
						b.rcv.Expect(id, now, want)
					}
				}
				var out struct {
					Results []struct {
						Status int    `json:"status"`
						Error  string `json:"error"`
					} `json:"results"`
				}
				if err := b.call(ctx, s, base, "POST", "/api/v1/events/batch", map[string]any{"events": events}, &out); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				for _, r := range out.Results {
					if r.Status != http.StatusAccepted {
						firstErr.CompareAndSwap(nil, fmt.Errorf("batch item refused: %d %s", r.Status, r.Error))
						return
					}
				}
			}
		})
	}
	wg.Wait()
	p.publishDone = time.Now()
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, fmt.Errorf("publish batches: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.events = total
	p.deliveries = total * want
	return p, nil
}

// LatencyResult is publish-to-receipt latency at one fixed rate.
type LatencyResult struct {
	Rate   float64 `json:"rate"`
	Events int     `json:"events"`
	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P99MS  float64 `json:"p99_ms"`
	MaxMS  float64 `json:"max_ms"`
	Behind int     `json:"pacer_behind"` // publishes that started over 5 ms late
	// ServerCPUMS is the server's CPU per delivery over the run, idle moments included:
	// what an installation at this rate pays per event.
	ServerCPUMS float64 `json:"server_cpu_ms_per_delivery"`
}

// latency publishes single events at fixed rates with an open-loop pacer: event i is
// due at start + i/rate whatever happened to the earlier ones, and its latency runs
// from that instant to its receipt, so a slow answer cannot hide behind a lower offered
// rate.
func (b *harness) latency(ctx context.Context) ([]LatencyResult, error) {
	if b.rcv == nil {
		return nil, skip("needs the in-process receiver to time each receipt")
	}
	s, err := b.servers(ctx, "latency", 1, "")
	if err != nil {
		return nil, err
	}
	defer s.stop()
	ids, err := b.createWebhooks(ctx, s, 1, func(int) string { return "/latency/0" }, nil)
	if err != nil {
		return nil, err
	}
	defer b.deleteWebhooks(ctx, s, ids)
	if err := b.waitIdle(ctx, s, time.Minute); err != nil {
		return nil, err
	}
	var out []LatencyResult
	for _, rate := range []float64{100, 1000} {
		r, err := b.latencyAt(ctx, s, rate)
		if err != nil {
			return nil, err
		}
		b.logf("  %g/s: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms", rate, r.P50MS, r.P90MS, r.P99MS, r.MaxMS)
		out = append(out, *r)
	}
	return out, nil
}

func (b *harness) latencyAt(ctx context.Context, s *heraldServers, rate float64) (*LatencyResult, error) {
	b.rcv.Reset()
	n := int(rate * b.cfg.duration.Seconds())
	res := &LatencyResult{Rate: rate, Events: n}
	cpu := startCPU(s.meter())
	run, err := b.publishPaced(ctx, s, n, rate, func(int) string { return "" }, nil)
	res.Behind = run.behind
	if err != nil {
		return nil, fmt.Errorf("publish at %g/s: %w", rate, err)
	}
	if err := b.rcv.WaitReceived(ctx, n, time.Minute); err != nil {
		return nil, err
	}
	res.ServerCPUMS = b.cpuPerDelivery(cpu, n, fmt.Sprintf("server CPU at %g/s", rate))
	lat := latencies(b.rcv.snapshot(), nil)
	res.P50MS, res.P90MS, res.P99MS, res.MaxMS = msOf(quantile(lat, 0.50)), msOf(quantile(lat, 0.90)), msOf(quantile(lat, 0.99)), msOf(lat[len(lat)-1])
	return res, nil
}

// FanOutResult is one event sent to many webhooks.
type FanOutResult struct {
	Webhooks      int     `json:"webhooks"`
	Rounds        int     `json:"rounds"`
	AllReceivedMS float64 `json:"all_received_ms"` // median over the rounds
	PerSecond     float64 `json:"per_second"`
	P50MS         float64 `json:"p50_ms"`
	P99MS         float64 `json:"p99_ms"`
	ServerCPUMS   float64 `json:"server_cpu_ms_per_delivery"` // over every round
}

// fanOut publishes one event to many webhooks, a few rounds one after another, and
// times each until every webhook has it.
func (b *harness) fanOut(ctx context.Context) (*FanOutResult, error) {
	res := &FanOutResult{Webhooks: 1000, Rounds: 3}
	if b.cfg.short {
		res.Webhooks, res.Rounds = 20, 1
	}
	s, err := b.servers(ctx, "fanout", 1, "")
	if err != nil {
		return nil, err
	}
	defer s.stop()
	ids, err := b.createWebhooks(ctx, s, res.Webhooks, func(i int) string { return fmt.Sprintf("/fanout/%d", i) }, nil)
	if err != nil {
		return nil, err
	}
	defer b.deleteWebhooks(ctx, s, ids)
	if err := b.waitIdle(ctx, s, 2*time.Minute+time.Duration(res.Webhooks)*20*time.Millisecond); err != nil {
		return nil, err
	}
	var rounds []time.Duration
	var all []time.Duration
	cpu := startCPU(s.meter())
	for range res.Rounds {
		p, err := b.publishFor(ctx, s, 1, time.Hour, 1, res.Webhooks)
		if err != nil {
			return nil, err
		}
		rounds = append(rounds, p.delivered.Sub(p.start))
		if b.rcv != nil {
			all = append(all, latencies(b.rcv.snapshot(), nil)...)
		}
	}
	res.ServerCPUMS = b.cpuPerDelivery(cpu, res.Webhooks*res.Rounds, "server CPU")
	slices.Sort(rounds)
	median := rounds[len(rounds)/2]
	res.AllReceivedMS = msOf(median)
	res.PerSecond = round(float64(res.Webhooks)/median.Seconds(), 0)
	if len(all) > 0 {
		slices.Sort(all)
		res.P50MS, res.P99MS = msOf(quantile(all, 0.5)), msOf(quantile(all, 0.99))
	}
	b.logf("  %d webhooks: all received in %.1f ms (median of %d), %.0f deliveries/s", res.Webhooks, res.AllReceivedMS, res.Rounds, res.PerSecond)
	return res, nil
}

// BacklogResult is a large backlog built up while deliveries cannot go out, then drained.
type BacklogResult struct {
	Deliveries                 int       `json:"deliveries"`
	Webhooks                   int       `json:"webhooks"`
	PublishEventsPerSecond     float64   `json:"publish_events_per_second"`
	PublishDeliveriesPerSecond float64   `json:"publish_deliveries_per_second"`
	DrainSeconds               float64   `json:"drain_seconds"`
	DrainPerSecond             float64   `json:"drain_per_second"`
	TenthsPerSecond            []float64 `json:"tenths_per_second,omitempty"`
	FirstTenthPerSecond        float64   `json:"first_tenth_per_second"`
	LastTenthPerSecond         float64   `json:"last_tenth_per_second"`
	LastToFirstTenth           float64   `json:"last_to_first_tenth"`
	PeakRSSMB                  float64   `json:"peak_rss_mb"`
	DrainServerCPUMS           float64   `json:"drain_server_cpu_ms_per_delivery"`
}

// backlogWebhooks is how many endpoints share the backlog.
const backlogWebhooks = 10

// backlog accumulates backlog-size deliveries for ten webhooks throttled to one attempt
// a second (an endpoint that is down: disabling it would not do, since events published
// while a webhook is disabled are not queued for it, and a 503 would spread the drain
// over the retry schedule), then lifts the throttle and times the drain, tenth by tenth.
func (b *harness) backlog(ctx context.Context) (*BacklogResult, error) {
	res := &BacklogResult{Webhooks: backlogWebhooks}
	events := b.cfg.backlogSize / backlogWebhooks
	res.Deliveries = events * backlogWebhooks
	s, err := b.servers(ctx, "backlog", 1, "")
	if err != nil {
		return nil, err
	}
	defer s.stop()
	ids, err := b.createWebhooks(ctx, s, backlogWebhooks, func(i int) string { return fmt.Sprintf("/backlog/%d", i) },
		func(int) map[string]any { return map[string]any{"rate_limit": 1} })
	if err != nil {
		return nil, err
	}
	defer b.deleteWebhooks(ctx, s, ids)
	if err := b.waitIdle(ctx, s, time.Minute); err != nil {
		return nil, err
	}
	if b.rcv != nil {
		b.rcv.Reset()
	}
	size := min(1000, max(events/10, 1))
	b.logf("  publishing %d events × %d webhooks in batches of %d", events, backlogWebhooks, size)
	p, err := b.publishBatchesOnly(ctx, s, events, size, 2, backlogWebhooks, nil)
	if err != nil {
		return nil, err
	}
	res.PublishEventsPerSecond = round(p.publishRate(), 0)
	res.PublishDeliveriesPerSecond = round(p.publishRate()*backlogWebhooks, 0)
	b.logf("  published at %.0f events/s; draining", res.PublishEventsPerSecond)

	drainStart := time.Now()
	cpu := startCPU(s.meter())
	for _, id := range ids {
		if err := b.call(ctx, s, s.urls[0], "PATCH", "/api/v1/webhooks/"+id, map[string]any{"rate_limit": 0}, nil); err != nil {
			return nil, err
		}
	}
	if err := b.waitDelivered(ctx, s, p); err != nil {
		return nil, err
	}
	res.DrainSeconds = round(p.delivered.Sub(drainStart).Seconds(), 2)
	res.PeakRSSMB = s.peakRSSMB()
	// The drain's deliveries are nearly all of them: the throttle let some 10 a second
	// through while the backlog was published.
	res.DrainServerCPUMS = b.cpuPerDelivery(cpu, res.Deliveries, "server CPU, drain")
	if b.rcv == nil {
		res.DrainPerSecond = round(float64(res.Deliveries)/p.delivered.Sub(drainStart).Seconds(), 0)
		return res, nil
	}
	// The drain: what arrived once the throttle was lifted, from the first of those
	// (noticing the lifted throttle takes the dispatcher up to a second).
	var drained []time.Time
	for _, r := range b.rcv.snapshot() {
		if r.at.After(drainStart) {
			drained = append(drained, r.at)
		}
	}
	if len(drained) < 20 {
		return nil, fmt.Errorf("only %d deliveries arrived after the throttle was lifted", len(drained))
	}
	first, last := drained[0], drained[len(drained)-1]
	res.DrainPerSecond = round(float64(len(drained))/last.Sub(first).Seconds(), 0)
	prev := first
	for k := 1; k <= 10; k++ {
		i := len(drained)*k/10 - 1
		d := drained[i].Sub(prev)
		res.TenthsPerSecond = append(res.TenthsPerSecond, round(float64(len(drained))/10/d.Seconds(), 0))
		prev = drained[i]
	}
	res.FirstTenthPerSecond, res.LastTenthPerSecond = res.TenthsPerSecond[0], res.TenthsPerSecond[9]
	res.LastToFirstTenth = round(res.LastTenthPerSecond/res.FirstTenthPerSecond, 3)
	b.logf("  drained %d at %.0f/s (tenths %v), peak RSS %.0f MB", len(drained), res.DrainPerSecond, res.TenthsPerSecond, res.PeakRSSMB)
	return res, nil
}

// IsolationResult is the latency of healthy endpoints while some hang.
type IsolationResult struct {
	Webhooks          int     `json:"webhooks"`
	Hanging           int     `json:"hanging"`
	AttemptTimeoutMS  float64 `json:"attempt_timeout_ms"`
	Rate              float64 `json:"rate"`
	HealthyDeliveries int     `json:"healthy_deliveries"`
	HealthyP50MS      float64 `json:"healthy_p50_ms"`
	HealthyP99MS      float64 `json:"healthy_p99_ms"`
	HealthyMaxMS      float64 `json:"healthy_max_ms"`
	ServerCPUMS       float64 `json:"server_cpu_ms_per_event"` // over the run, hung attempts included
}

// isolation gives each of many webhooks a tenant of its own, makes one in ten hang
// until the attempt timeout, publishes to all of them round robin at a fixed rate and
// measures the healthy ones' publish-to-receipt latency.
func (b *harness) isolation(ctx context.Context) (*IsolationResult, error) {
	if b.rcv == nil {
		return nil, skip("needs the in-process receiver to hang some endpoints")
	}
	if b.cfg.server != "" {
		return nil, skip("needs its own server with a short --attempt-timeout")
	}
	res := &IsolationResult{Webhooks: 100, Rate: 500, AttemptTimeoutMS: 2000}
	if b.cfg.short {
		res.Webhooks, res.Rate, res.AttemptTimeoutMS = 20, 200, 500
	}
	res.Hanging = res.Webhooks / 10
	hangs := func(i int) bool { return i%10 == 0 }
	// A long retry schedule: a timed-out attempt comes back after the run, so the
	// figures measure the hung attempts in flight, not their retries.
	s, err := b.servers(ctx, "isolation", 1, "", "--attempt-timeout", fmt.Sprintf("%dms", int(res.AttemptTimeoutMS)), "--retry-schedule", "1h")
	if err != nil {
		return nil, err
	}
	defer s.stop()
	tenant := func(i int) string { return fmt.Sprintf("bench-isolation-%d", i%res.Webhooks) }
	for i := range res.Webhooks {
		if err := b.call(ctx, s, s.urls[0], "POST", "/api/v1/tenants", map[string]any{"id": tenant(i), "name": tenant(i)}, nil); err != nil {
			return nil, err
		}
	}
	b.rcv.Reset()
	before := b.rcv.Answered()
	_, err = b.createWebhooks(ctx, s, res.Webhooks, func(i int) string {
		if hangs(i) {
			return fmt.Sprintf("/hang/%d", i)
		}
		return fmt.Sprintf("/isolation/%d", i)
	}, func(i int) map[string]any { return map[string]any{"tenant_id": tenant(i)} })
	if err != nil {
		return nil, err
	}
	if err := b.waitAnswered(ctx, before+int64(res.Webhooks-res.Hanging)); err != nil {
		return nil, err
	}

	n := int(res.Rate * b.cfg.duration.Seconds())
	cpu := startCPU(s.meter())
	run, err := b.publishPaced(ctx, s, n, res.Rate, tenant, func(i int) bool { return !hangs(i % res.Webhooks) })
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	res.HealthyDeliveries = run.expected
	if err := b.rcv.WaitReceived(ctx, res.HealthyDeliveries, time.Minute); err != nil {
		return nil, err
	}
	res.ServerCPUMS = b.cpuPerDelivery(cpu, n, "server CPU per event")
	lat := latencies(b.rcv.snapshot(), nil)
	res.HealthyP50MS, res.HealthyP99MS, res.HealthyMaxMS = msOf(quantile(lat, 0.5)), msOf(quantile(lat, 0.99)), msOf(lat[len(lat)-1])
	b.logf("  %d of %d hang: healthy p50 %.2f ms, p99 %.2f ms, max %.2f ms", res.Hanging, res.Webhooks, res.HealthyP50MS, res.HealthyP99MS, res.HealthyMaxMS)
	return res, nil
}

// PostgresResult is end-to-end throughput on PostgreSQL with one and three processes,
// and what each delivery costs the database.
type PostgresResult struct {
	Webhooks       int     `json:"webhooks"`
	OneProcess     float64 `json:"one_process_per_second"`
	ThreeProcesses float64 `json:"three_processes_per_second"`
	Ratio          float64 `json:"ratio"`
	// OnePostgresCPUMS and ThreePostgresCPUMS are the PostgreSQL server's own CPU per
	// delivery (its processes on this machine, from /proc) in each run; 0 when the
	// server is not on this machine.
	OnePostgresCPUMS   float64 `json:"one_process_postgres_cpu_ms_per_delivery"`
	ThreePostgresCPUMS float64 `json:"three_processes_postgres_cpu_ms_per_delivery"`
	// OneServerCPUMS is herald serve's CPU per delivery in the one-process run.
	OneServerCPUMS float64 `json:"one_process_server_cpu_ms_per_delivery"`
	// PerDatabaseCore is a projection, not a measurement: the deliveries a second one
	// core of database would carry at the one-process run's PostgreSQL CPU per delivery
	// (1000 ÷ OnePostgresCPUMS), however many Herald processes feed it.
	PerDatabaseCore float64 `json:"projected_deliveries_per_second_per_database_core"`
}

// postgresRun is what one postgres run measured.
type postgresRun struct {
	perSecond              float64
	postgresCPU, heraldCPU float64 // ms per delivery
}

// postgres runs the single-publish end-to-end run on a new PostgreSQL database with one
// herald serve process, then on another with three, publishers spread over them. Ten
// webhooks, so that the per-webhook cap, which holds across processes, leaves the
// three processes room to add concurrency. Each run reads the CPU the PostgreSQL
// server's processes on this machine used, and the servers'.
func (b *harness) postgres(ctx context.Context) (*PostgresResult, error) {
	switch {
	case b.cfg.server != "":
		return nil, skip("needs to start its own processes")
	case b.cfg.databaseURL == "":
		return nil, skip("no --database-url or HERALD_BENCH_POSTGRES_URL")
	}
	res := &PostgresResult{Webhooks: 10}
	for _, procs := range []int{1, 3} {
		run, err := b.postgresRun(ctx, procs, res.Webhooks)
		if err != nil {
			return nil, fmt.Errorf("%d process(es): %w", procs, err)
		}
		b.logf("  %d process(es): %.0f deliveries/s", procs, run.perSecond)
		if procs == 1 {
			res.OneProcess, res.OnePostgresCPUMS, res.OneServerCPUMS = round(run.perSecond, 0), run.postgresCPU, run.heraldCPU
		} else {
			res.ThreeProcesses, res.ThreePostgresCPUMS = round(run.perSecond, 0), run.postgresCPU
		}
	}
	res.Ratio = round(res.ThreeProcesses/res.OneProcess, 3)
	if res.OnePostgresCPUMS > 0 {
		res.PerDatabaseCore = round(1000/res.OnePostgresCPUMS, 0)
	}
	return res, nil
}

func (b *harness) postgresRun(ctx context.Context, procs, webhooks int) (*postgresRun, error) {
	dbURL, database, drop, err := freshPostgresDatabase(ctx, b.cfg.databaseURL)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := drop(); err != nil {
			b.logf("  %v", err)
		}
	}()
	s, err := b.servers(ctx, fmt.Sprintf("postgres-%d", procs), procs, dbURL)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	if _, err := b.createWebhooks(ctx, s, webhooks, func(i int) string { return fmt.Sprintf("/postgres/%d", i) }, nil); err != nil {
		return nil, err
	}
	if err := b.waitIdle(ctx, s, time.Minute); err != nil {
		return nil, err
	}
	var db cpuMeter
	if local(dbURL) {
		db = postgresMeter{database: database}
	} else {
		b.logf("  PostgreSQL is not on this machine: its CPU is not measured")
	}
	dbCPU, heraldCPU := startCPU(db), startCPU(s.meter())
	p, err := b.publishFor(ctx, s, 8, b.cfg.duration, 0, webhooks)
	if err != nil {
		return nil, err
	}
	return &postgresRun{
		perSecond:   p.deliveryRate(),
		postgresCPU: b.cpuPerDelivery(dbCPU, p.deliveries, "PostgreSQL CPU"),
		heraldCPU:   b.cpuPerDelivery(heraldCPU, p.deliveries, "server CPU"),
	}, nil
}

// local reports whether the database URL names a server on this machine, whose
// processes /proc shows.
func local(databaseURL string) bool {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return false
	}
	switch u.Hostname() {
	case "", "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// freshPostgresDatabase creates a new database on the server base names and returns
// its URL, its name and a function that drops it.
func freshPostgresDatabase(ctx context.Context, base string) (dbURL, name string, drop func() error, err error) {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", "", nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	random := make([]byte, 6)
	_, _ = rand.Read(random) // crypto/rand.Read never fails
	name = "herald_bench_" + hex.EncodeToString(random)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", "", nil, fmt.Errorf("--database-url: %w", err)
	}
	u.Path = "/" + name
	drop = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	return u.String(), name, drop, nil
}

// latencies returns the sorted latencies of rs whose path keep accepts (all when nil).
func latencies(rs []receipt, keep func(path string) bool) []time.Duration {
	out := make([]time.Duration, 0, len(rs))
	for _, r := range rs {
		if keep == nil || keep(r.path) {
			out = append(out, r.latency)
		}
	}
	slices.Sort(out)
	return out
}

// quantile is the q-th quantile (0..1) of sorted durations, nearest rank.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func msOf(d time.Duration) float64 { return round(float64(d.Microseconds())/1000, 2) }

// drainBody reads and closes a response body so its connection is reused.
func drainBody(resp *http.Response) {
	_, _ = io.Copy(io.Discard, resp.Body) // only the status matters here
	_ = resp.Body.Close()
}
