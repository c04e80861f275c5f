// Package dispatch delivers webhooks: it claims due deliveries from the store under a
// lease, sends each attempt signed in its webhook's format, records the outcome and
// schedules the next retry. Any number of dispatchers, in one process or many, can share
// one store: the lease makes each delivery theirs alone until it expires, so a crashed
// process's work is picked up again and never lost.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/wire"
)

// Config is what a Dispatcher needs. Zero values take the defaults named.
type Config struct {
	Store herald.Store
	// Notifier, when set, tells this dispatcher when other processes sharing the store
	// commit work, so it starts that work at once rather than at its next poll. Nil when
	// no other process writes to the store.
	Notifier herald.Notifier
	// Policies overrides wire.DefaultPolicy per format.
	Policies map[herald.Format]wire.Policy
	// Client sends the requests. Its transport should dial through the egress guard;
	// the dispatcher never follows redirects whatever the client's CheckRedirect says.
	Client *http.Client
	// Brokers publishes the deliveries of webhooks whose URL names a message broker
	// (nats, amqp, redis, kafka); without it they fail with an error that says so. Its
	// owner closes it after Run returns.
	Brokers Brokers
	// Owner names this dispatcher in leases; default host-pid-random.
	Owner string
	// Concurrency bounds the requests in flight in this process; default 128. Tenants
	// share them fairly (see fairSlots). claimAhead times as many deliveries may be
	// claimed, each webhook's rounds ahead (see claimAhead).
	Concurrency int
	// PerWebhook bounds attempts in flight to one webhook in this process; default 8.
	PerWebhook int
	// PollInterval is how often the store is asked for due work when nothing wakes the
	// dispatcher; default 1s.
	PollInterval time.Duration
	// ShutdownGrace bounds how long Run waits for attempts in flight when its context
	// ends; default the longest policy timeout.
	ShutdownGrace time.Duration
	Clock         herald.Clock
	Logger        *slog.Logger
	// Rand returns a number in [0, 1) for retry jitter; default math/rand/v2.
	Rand func() float64
	// Metrics, when set, receives the dispatcher's counters.
	Metrics prometheus.Registerer
	// Notices, when set, is told when an attempt disables its webhook (webhook.disabled)
	// or ends its delivery failed with the webhook still enabled (delivery.exhausted).
	// It is called on the attempt's goroutine, after the attempt is recorded, so it must
	// not block for long. The dispatcher claims right after, so a delivery the notice
	// queued (to the operator webhook) starts at once.
	Notices func(ctx context.Context, n herald.Notice)
	// TracerProvider, when set, traces every attempt as a child of its event's publish
	// (see herald.Event.TraceParent).
	TracerProvider trace.TracerProvider
}

// claimCoalesce is how long Run waits after an attempt frees a slot before it claims,
// so that the slots freed meanwhile share one claim (see waitForWork): a claim takes
// the store's writer for a turn, and one per delivery was a third of the store's work
// at full speed.
const claimCoalesce = 2 * time.Millisecond

// claimAhead is how many rounds of a webhook's PerWebhook attempts the dispatcher
// leases at once. An attempt's lease is held from its claim until its record commits,
// so with only PerWebhook leased, the endpoint sat idle during every claim and every
// record: a busy webhook got PerWebhook attempts per claim-send-record cycle, about
// 1,000 a second on SQLite whatever the endpoint could take. With more rounds leased,
// one round is sent while others are recorded and the next claimed: two rounds gave
// one webhook about 4,000 deliveries a second on SQLite, four about 5,000-6,000 (eight
// no more than four). The semaphore still bounds the requests in flight to PerWebhook,
// and the lease covers a delivery that waits behind the other rounds' attempts.
const claimAhead = 4

// Dispatcher sends deliveries. Create one with New, run it with Run, and call Wake when
// new work is committed so it starts at once.
type Dispatcher struct {
	cfg     Config
	lease   time.Duration
	wake    chan struct{}
	freed   chan struct{}
	metrics *metrics
	tracer  trace.Tracer
	// endpoints holds the TLS clients and token caches of webhooks with auth.
	endpoints *endpoints

	// slots bounds the requests in flight to Concurrency and shares them between
	// tenants. A slot is taken after the webhook's own, so a delivery waiting for a hung
	// endpoint's slot holds none: claimed ahead, it must not keep others waiting.
	slots *fairSlots

	mu        sync.Mutex
	inFlight  int            // deliveries claimed and not yet recorded: up to Concurrency×claimAhead
	perTenant map[string]int // inFlight by tenant
	perHook   map[string]*hookState
	due       []time.Time // the known retries after now, earliest first: at most maxKnownDue
	// drained is whether the last claim left nothing due behind (see leftNothingDue).
	// Until something new is announced (Wake, a retry's time), a freed slot then has
	// nothing to claim.
	drained bool
}

// hookState is one webhook's share of this process: its attempts in flight, a
// semaphore bounding them, and its rate limiter (unlimited when limit is 0). Its fields
// are guarded by Dispatcher.mu, but sem and limiter are fixed at creation and safe to
// use without it.
type hookState struct {
	tenant   string
	inFlight int
	sem      chan struct{}
	limiter  *rate.Limiter
	limit    int
}

// New returns a dispatcher for cfg.
func New(cfg Config) *Dispatcher {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 128
	}
	if cfg.PerWebhook <= 0 {
		cfg.PerWebhook = 8
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = herald.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.Owner == "" {
		host, _ := os.Hostname() // a missing host name only makes the owner less readable
		cfg.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), herald.NewID("")[20:])
	}
	client := *cfg.Client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	client.Timeout = 0 // each attempt has its policy's timeout on its context
	cfg.Client = &client

	policies := make(map[herald.Format]wire.Policy, len(herald.Formats))
	var longest time.Duration
	for _, f := range herald.Formats {
		p, ok := cfg.Policies[f]
		if !ok {
			p = wire.DefaultPolicy(f)
		}
		policies[f] = p
		longest = max(longest, p.Timeout)
	}
	cfg.Policies = policies
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = longest
	}
	return &Dispatcher{
		cfg: cfg,
		// A claimed delivery may wait for its webhook's semaphore behind an attempt of
		// each other round leased with it before its own starts, so the lease covers
		// claimAhead timeouts and a margin. The margin also covers the wait for the
		// slowest rate limit, one attempt a second, behind every other delivery leased
		// with it.
		lease:     claimAhead*longest + max(10*time.Second, time.Duration(cfg.PerWebhook*claimAhead)*time.Second),
		wake:      make(chan struct{}, 1),
		freed:     make(chan struct{}, 1),
		slots:     newFairSlots(cfg.Concurrency),
		metrics:   newMetrics(cfg.Metrics),
		tracer:    newTracer(cfg.TracerProvider),
		perTenant: make(map[string]int),
		perHook:   make(map[string]*hookState),
		endpoints: newEndpoints(cfg.Client),
	}
}

// Owner returns the name this dispatcher leases deliveries under.
func (d *Dispatcher) Owner() string { return d.cfg.Owner }

// Wake tells the dispatcher new work was committed, so it claims now instead of at the
// next poll. It never blocks.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// WakeAt tells the dispatcher that work becomes due at at, so it claims then instead of
// at the next poll; at or before now it is Wake. It never blocks.
func (d *Dispatcher) WakeAt(at time.Time) {
	if !at.After(d.cfg.Clock.Now()) {
		d.Wake()
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	i, known := slices.BinarySearchFunc(d.due, at, time.Time.Compare)
	if known || i == maxKnownDue {
		return // past the last the dispatcher keeps: the poll finds it
	}
	d.due = slices.Insert(d.due, i, at)
	d.due = d.due[:min(len(d.due), maxKnownDue)]
	if i == 0 {
		d.Wake() // Run sleeps until the new earliest time
	}
}

// maxKnownDue bounds the retry times a dispatcher keeps. Each claim takes everything
// due by then, so keeping one time per retry, not only the earliest, is what lets a
// retry due a little after another start on time rather than at the poll; an endpoint
// that fails a backlog schedules more retries than are worth keeping.
const maxKnownDue = 4096

// sleep returns how long Run may sleep: until the poll or the next known retry, and 0
// when retries are due now, which it forgets: the claim Run makes next takes them.
func (d *Dispatcher) sleep() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.cfg.Clock.Now()
	passed := sort.Search(len(d.due), func(i int) bool { return d.due[i].After(now) })
	if passed > 0 {
		d.due = slices.Delete(d.due, 0, passed)
		return 0
	}
	if len(d.due) == 0 {
		return d.cfg.PollInterval
	}
	return min(d.due[0].Sub(now), d.cfg.PollInterval)
}

// Run claims and sends due deliveries until ctx ends. Then it stops claiming, waits up
// to ShutdownGrace for the attempts in flight, cancels the rest and hands their
// deliveries back to the store so another dispatcher can take them at once.
func (d *Dispatcher) Run(ctx context.Context) error {
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	var wg sync.WaitGroup

	if d.cfg.Notifier != nil {
		// Other processes tell this one when they commit work.
		wg.Go(func() {
			if err := d.cfg.Notifier.Listen(ctx, d.WakeAt); err != nil && ctx.Err() == nil {
				d.cfg.Logger.Error("listen for work", "err", err)
			}
		})
	}

	timer := time.NewTimer(0)
	defer timer.Stop()
	coalesce := time.NewTimer(0)
	defer coalesce.Stop()
	for ctx.Err() == nil {
		n, full, err := d.claimAndStart(ctx, sendCtx, &wg)
		if err != nil && ctx.Err() == nil {
			d.cfg.Logger.Error("claim deliveries", "err", err)
		}
		if n > 0 && full && err == nil && d.free() > 0 {
			// The claim took all it asked for: there may be more due work, so claim
			// again before sleeping. A claim that took less took all there was room for.
			continue
		}
		d.waitForWork(ctx, timer, coalesce)
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d.cfg.ShutdownGrace):
		d.cfg.Logger.Warn("shutdown grace over: cancelling attempts in flight")
		cancelSends()
		<-done
	}
	// Anything still leased to us (cancelled attempts) goes back now rather than when
	// its lease runs out.
	releaseCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := d.cfg.Store.ReleaseClaims(releaseCtx, d.cfg.Owner); err != nil {
		return fmt.Errorf("release claims: %w", err)
	}
	return nil
}

// waitForWork returns when Run should claim again: on new work, at the poll or the
// next known retry, or once a slot came free. A claim for each freed slot alone would
// cost the writer a turn per delivery, so after the first it waits claimCoalesce for
// the slots freed meanwhile to share one claim. A slot freed after a claim that left
// nothing due behind is no reason to claim at all.
func (d *Dispatcher) waitForWork(ctx context.Context, timer, coalesce *time.Timer) {
	for {
		timer.Reset(d.sleep())
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
			return
		case <-timer.C:
			return
		case <-d.freed:
		}
		if d.nothingToClaim() {
			continue
		}
		coalesce.Reset(claimCoalesce)
		select {
		case <-ctx.Done():
		case <-d.wake: // new work starts at once
		case <-coalesce.C:
		}
		return
	}
}

// nothingToClaim reports whether the last claim left nothing due behind (see drained).
func (d *Dispatcher) nothingToClaim() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.drained
}

// free returns how many more deliveries this process may claim: claimAhead rounds of
// Concurrency, as each webhook's are claimed claimAhead rounds ahead; slots bound
// the requests.
func (d *Dispatcher) free() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.freeLocked()
}

// freeLocked is free with d.mu held.
func (d *Dispatcher) freeLocked() int {
	return d.cfg.Concurrency*claimAhead - d.inFlight
}

// DeliverDue claims every due delivery it has room for and sends them, returning when
// those attempts are recorded. Run does the same continuously; DeliverDue is for
// callers that drive time themselves, such as tests with a fake clock.
func (d *Dispatcher) DeliverDue(ctx context.Context) (int, error) {
	var wg sync.WaitGroup
	n, _, err := d.claimAndStart(ctx, ctx, &wg)
	wg.Wait()
	return n, err
}

// claimAndStart claims as much due work as there is room for and starts each attempt
// in its own goroutine, counted in wg. It returns how many it claimed and whether that
// was all it asked for.
func (d *Dispatcher) claimAndStart(ctx, sendCtx context.Context, wg *sync.WaitGroup) (int, bool, error) {
	d.mu.Lock()
	limit := min(d.freeLocked(), 64)
	idle := d.inFlight == 0
	d.drained = false
	d.mu.Unlock()
	if limit <= 0 {
		return 0, false, nil
	}
	now := d.cfg.Clock.Now()
	r := herald.ClaimRequest{
		Owner:        d.cfg.Owner,
		Now:          now,
		LeaseUntil:   now.Add(d.lease),
		Limit:        limit,
		PerWebhook:   d.cfg.PerWebhook * claimAhead,
		SkipWebhooks: d.busyWebhooks(),
		SkipTenants:  d.busyTenants(),
	}
	claims, err := d.cfg.Store.ClaimDue(ctx, r)
	if err != nil {
		return 0, false, fmt.Errorf("claim deliveries: %w", err)
	}
	drained := idle && leftNothingDue(r, claims)
	d.mu.Lock()
	d.drained = drained
	d.mu.Unlock()
	for i := range claims {
		c := &claims[i]
		hook := d.acquire(&c.Webhook)
		wg.Go(func() {
			defer d.release(c.Webhook.TenantID)
			if _, err := d.deliver(sendCtx, c, hook); err != nil {
				d.cfg.Logger.Error("deliver", "delivery_id", c.Delivery.ID, "webhook_id", c.Webhook.ID, "err", err)
			}
		})
	}
	return len(claims), len(claims) == limit, nil
}

// leftNothingDue reports whether claim r, made with nothing of this process's leased,
// took everything that was due: it took less than it asked for, skipped no webhook or
// tenant and filled no webhook's cap, so nothing held a due delivery back. It took no
// keyed delivery either, whose record makes the next of its key due.
func leftNothingDue(r herald.ClaimRequest, claims []herald.Claim) bool {
	if len(claims) >= r.Limit || len(r.SkipWebhooks) > 0 || len(r.SkipTenants) > 0 {
		return false
	}
	perHook := map[string]int{}
	for _, c := range claims {
		if perHook[c.Webhook.ID]++; c.Delivery.OrderingKey != "" || perHook[c.Webhook.ID] >= r.PerWebhook {
			return false
		}
	}
	return true
}

// busyWebhooks lists the webhooks that have no room for another attempt now.
func (d *Dispatcher) busyWebhooks() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var busy []string
	for id, h := range d.perHook {
		switch {
		case h.inFlight >= d.cfg.PerWebhook*claimAhead || (h.limit > 0 && h.limiter.Tokens() < 1):
			busy = append(busy, id)
		case h.inFlight == 0 && h.limiter.Tokens() >= float64(h.limit):
			// Idle with a full bucket: a new state would be the same, so drop this one
			// and keep the map the size of the webhooks in use.
			delete(d.perHook, id)
		}
	}
	slices.Sort(busy)
	return busy
}

// busyTenants lists the tenants that hold their share of the claims: half of what this
// process may claim, divided among the tenants that hold claims. Deliveries waiting
// behind their own webhook's PerWebhook attempts count for little (up to an eighth of
// the claims), so one hung webhook's claimed-ahead round does not stop its tenant's
// other webhooks. A claim takes up to 64 deliveries of the tenants not listed, so a
// tenant may pass its share by that much; the rest stays for tenants with nothing
// claimed yet.
func (d *Dispatcher) busyTenants() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	claims := d.cfg.Concurrency * claimAhead
	share := max(1, claims/2/max(1, len(d.perTenant)))
	parked := map[string]int{}
	for _, h := range d.perHook {
		parked[h.tenant] += max(0, h.inFlight-d.cfg.PerWebhook)
	}
	var busy []string
	for id, n := range d.perTenant {
		if n-min(parked[id], claims/8) >= share {
			busy = append(busy, id)
		}
	}
	slices.Sort(busy)
	return busy
}

// acquire counts one more attempt in flight for w and returns its state.
func (d *Dispatcher) acquire(w *herald.Webhook) *hookState {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inFlight++
	d.perTenant[w.TenantID]++
	h := d.perHook[w.ID]
	if h == nil {
		h = &hookState{tenant: w.TenantID, sem: make(chan struct{}, d.cfg.PerWebhook), limiter: rate.NewLimiter(rate.Inf, 0)}
		d.perHook[w.ID] = h
	}
	if h.limit != w.RateLimit {
		// Adjust the limiter in place: attempts already waiting on it hold it too.
		h.limit = w.RateLimit
		if w.RateLimit > 0 {
			h.limiter.SetLimit(rate.Limit(w.RateLimit))
			h.limiter.SetBurst(w.RateLimit)
		} else {
			h.limiter.SetLimit(rate.Inf)
		}
	}
	h.inFlight++
	d.metrics.inFlight.Inc()
	return h
}

// sent marks that an attempt to webhookID has its answer: the webhook's slot is free
// for the next attempt while this one is still being recorded.
func (d *Dispatcher) sent(webhookID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := d.perHook[webhookID]
	h.inFlight--
	if h.inFlight == 0 && h.limit == 0 {
		delete(d.perHook, webhookID) // keep the map the size of the webhooks in use
	}
}

// release marks that an attempt of tenant's is recorded, and lets Run claim again if it
// was full.
func (d *Dispatcher) release(tenant string) {
	d.mu.Lock()
	d.inFlight--
	if d.perTenant[tenant]--; d.perTenant[tenant] == 0 {
		delete(d.perTenant, tenant)
	}
	d.mu.Unlock()
	d.metrics.inFlight.Dec()
	select {
	case d.freed <- struct{}{}:
	default:
	}
}

// DeliverNow claims one delivery whatever its state, sends one attempt now and returns
// it once recorded: a manual retry or a test ping. It waits for the same slots, rate
// limit and fair share as any attempt. ECONFLICT if another dispatcher is sending it at
// this moment.
func (d *Dispatcher) DeliverNow(ctx context.Context, deliveryID string) (*herald.Attempt, error) {
	now := d.cfg.Clock.Now()
	c, err := d.cfg.Store.ClaimDelivery(ctx, deliveryID, d.cfg.Owner, now, now.Add(d.lease))
	if err != nil {
		return nil, err
	}
	hook := d.acquire(&c.Webhook)
	d.mu.Lock()
	d.drained = false // its record may make more due: the next of its ordering key
	d.mu.Unlock()
	defer d.release(c.Webhook.TenantID)
	return d.deliver(ctx, c, hook)
}

// deliver sends one attempt of c, records it and schedules what comes next, after
// waiting for the limits of hook, the webhook's state in this process.
func (d *Dispatcher) deliver(ctx context.Context, c *herald.Claim, hook *hookState) (*herald.Attempt, error) {
	policy := d.cfg.Policies[c.Webhook.Format]
	a, retryAfter, err := d.sendInTurn(ctx, c, hook, policy)
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil && !a.Success {
		// Cancelled by shutdown, not failed by the endpoint: leave it to the lease so it
		// is sent again, rather than count a failure the receiver did not cause.
		return nil, ctx.Err()
	}

	rec := &herald.AttemptRecord{
		Owner:                  d.cfg.Owner,
		Attempt:                *a,
		DisableAfterFailures:   policy.DisableAfterFailures,
		DisableAfterFailingFor: policy.DisableAfterFailingFor,
	}
	switch {
	case a.Success:
		rec.Status = herald.StatusSuccess
	case policy.DisableOnGone && a.StatusCode == http.StatusGone:
		rec.Status = herald.StatusFailed
		rec.DisableReason = "endpoint answered 410 Gone"
	default:
		delay, retry := policy.NextDelay(a.Number, a.StatusCode, retryAfter, a.At, d.cfg.Rand())
		rec.Status = herald.StatusFailed
		if retry {
			rec.Status = herald.StatusPending
			// From when the attempt ended, not began: a standard attempt that timed
			// out after 15 s must not be retried at once for its "5 s" delay.
			rec.NextAttemptAt = d.cfg.Clock.Now().Add(delay)
		}
	}

	out, err := d.record(ctx, rec)
	if err != nil {
		return nil, fmt.Errorf("record attempt of %s: %w", c.Delivery.ID, err)
	}
	if rec.Status == herald.StatusPending {
		d.WakeAt(rec.NextAttemptAt)
	}
	a.Number = out.Number
	d.metrics.observe(c.Webhook.Format, a)
	d.metrics.observeDelivered(c, a)
	if a.Success {
		d.logAttempt(ctx, c, a, slog.LevelDebug, "delivered", "status", a.StatusCode, "duration_ms", a.DurationMS)
	} else {
		d.logAttempt(ctx, c, a, slog.LevelInfo, "attempt failed", "status", a.StatusCode, "error", a.Error, "next", rec.Status)
	}
	if out.WebhookDisabled {
		d.logAttempt(ctx, c, a, slog.LevelWarn, "webhook disabled", "reason", out.DisabledReason)
		d.metrics.disabled.Inc()
	}
	d.notify(ctx, c, a, rec.Status, out)
	return a, nil
}

// logAttempt logs msg about attempt a of claim c at level, with args after the ids. It
// formats nothing when the level is off: a delivered attempt, logged at debug, is the
// hot path.
func (d *Dispatcher) logAttempt(ctx context.Context, c *herald.Claim, a *herald.Attempt, level slog.Level, msg string, args ...any) {
	if !d.cfg.Logger.Enabled(ctx, level) {
		return
	}
	d.cfg.Logger.Log(ctx, level, msg, append([]any{"delivery_id", c.Delivery.ID, "webhook_id", c.Webhook.ID,
		"event_id", c.Event.ID, "attempt", a.Number}, args...)...)
}

// notify raises the notice a recorded attempt calls for, if any.
func (d *Dispatcher) notify(ctx context.Context, c *herald.Claim, a *herald.Attempt, status herald.DeliveryStatus, out herald.AttemptOutcome) {
	if d.cfg.Notices == nil {
		return
	}
	ctx = context.WithoutCancel(ctx) // the attempt is recorded: so is what it changed
	switch {
	case out.WebhookDisabled:
		d.cfg.Notices(ctx, herald.WebhookDisabledNotice(&c.Webhook, out.DisabledReason, d.cfg.Clock.Now()))
	case status == herald.StatusFailed:
		d.cfg.Notices(ctx, herald.DeliveryExhaustedNotice(&c.Delivery, &c.Event, a.Number, a.Error, a.At))
	default:
		return
	}
	d.Wake() // the notice may have queued a delivery to the operator webhook
}

// sendInTurn waits for a slot of the webhook's, its rate limit and a request slot of
// the tenant's share, then sends. The slots are held until the answer arrives, not
// while the attempt is recorded, so the store's commit does not slow the endpoint's
// deliveries down.
func (d *Dispatcher) sendInTurn(ctx context.Context, c *herald.Claim, hook *hookState, policy wire.Policy) (*herald.Attempt, string, error) {
	defer d.sent(c.Webhook.ID)
	select {
	case hook.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
	defer func() { <-hook.sem }()
	if err := hook.limiter.Wait(ctx); err != nil { // at once when the webhook has no limit
		return nil, "", fmt.Errorf("rate limit: %w", err)
	}
	if err := d.slots.acquire(ctx, c.Webhook.TenantID, c.Webhook.ID); err != nil {
		return nil, "", err
	}
	defer d.slots.release(c.Webhook.TenantID)
	a, retryAfter := d.send(ctx, c, policy)
	return a, retryAfter, nil
}

// record writes rec, trying again briefly if the store is momentarily unavailable: the
// attempt happened, and losing its record would only cause a repeat, but a repeat is
// worth a few tries to avoid.
func (d *Dispatcher) record(ctx context.Context, rec *herald.AttemptRecord) (herald.AttemptOutcome, error) {
	ctx = context.WithoutCancel(ctx) // the attempt is done: its record must not be cancelled
	var err error
	for try := range 5 {
		var out herald.AttemptOutcome
		if out, err = d.cfg.Store.RecordAttempt(ctx, rec); err == nil {
			return out, nil
		}
		if herald.ErrorCode(err) != herald.EUNAVAILABLE {
			break
		}
		time.Sleep(time.Duration(50<<try) * time.Millisecond)
	}
	return herald.AttemptOutcome{}, err
}

// errRedirect marks a 3xx answer: Herald never follows redirects.
var errRedirect = errors.New("redirect not followed")
