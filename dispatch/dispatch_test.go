package dispatch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/dispatch"
	"github.com/heraldhq/herald/sqlite"
	"github.com/heraldhq/herald/storetest"
	"github.com/heraldhq/herald/wire"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// env is a store, a dispatcher on a fake clock, and helpers to publish into them.
type env struct {
	t     *testing.T
	store herald.Store
	clock *fakeClock
	d     *dispatch.Dispatcher
}

func newEnv(t *testing.T, policies map[herald.Format]wire.Policy) *env {
	t.Helper()
	return newEnvWith(t, dispatch.Config{Policies: policies})
}

// newEnvWith is newEnv with a dispatcher configured as cfg but for its store, clock and
// randomness.
func newEnvWith(t *testing.T, cfg dispatch.Config) *env {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "herald.db"), storetest.Cipher{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	tenant := &herald.Tenant{ID: "team_a", Name: "A", CreatedAt: t0}
	if err := store.CreateTenant(context.Background(), tenant, herald.HashKey("key-a")); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	clock := &fakeClock{now: t0}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	cfg.Store, cfg.Clock = store, clock
	cfg.Rand = func() float64 { return 0.5 } // no jitter unless a test says so
	d := dispatch.New(cfg)
	return &env{t: t, store: store, clock: clock, d: d}
}

// runUntilEnd runs d in the background until t ends, and checks that Run returned no
// error then.
func runUntilEnd(t *testing.T, d *dispatch.Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
}

func (e *env) webhook(url string, f herald.Format) *herald.Webhook {
	e.t.Helper()
	w := &herald.Webhook{
		ID: herald.NewID(herald.PrefixWebhook), TenantID: "team_a", Name: "hook", URL: url,
		Enabled: true, Format: f, Secret: herald.NewSecret(), CreatedAt: t0, UpdatedAt: t0,
	}
	if err := e.store.CreateWebhook(context.Background(), w); err != nil {
		e.t.Fatalf("create webhook: %v", err)
	}
	return w
}

// publish stores one drift.detected event now and returns its delivery ids.
func (e *env) publish() []string {
	e.t.Helper()
	now := e.clock.Now()
	res, err := e.store.Publish(context.Background(), []herald.Publication{{Event: herald.Event{
		ID: herald.NewID(herald.PrefixEvent), TenantID: "team_a", Type: "drift.detected",
		Data: json.RawMessage(`{"drift_id":55}`), Timestamp: now, CreatedAt: now,
	}}})
	if err != nil {
		e.t.Fatalf("publish: %v", err)
	}
	return res[0].DeliveryIDs
}

// deliverDue sends everything due at time at and returns how many attempts it made.
func (e *env) deliverDue(at time.Time) int {
	e.t.Helper()
	e.clock.Set(at)
	total := 0
	for {
		n, err := e.d.DeliverDue(context.Background())
		if err != nil {
			e.t.Fatalf("deliver due at %s: %v", at.Sub(t0), err)
		}
		if n == 0 {
			return total
		}
		total += n
	}
}

func (e *env) delivery(id string) *herald.Delivery {
	e.t.Helper()
	d, err := e.store.Delivery(context.Background(), id)
	if err != nil {
		e.t.Fatalf("read delivery: %v", err)
	}
	return d
}

// attempts returns every attempt delivery id keeps, oldest first.
func (e *env) attempts(id string) []herald.Attempt {
	e.t.Helper()
	as, _, err := e.store.Attempts(context.Background(), herald.AttemptFilter{DeliveryID: id, PerPage: 100})
	if err != nil {
		e.t.Fatalf("read attempts: %v", err)
	}
	slices.Reverse(as)
	return as
}

// receiver is an httptest server answering with status and counting requests.
func receiver(t *testing.T, status int, header http.Header, body string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// hangingReceiver is an endpoint that answers nothing until release is called or the
// request is cancelled; it is released and closed when the test ends.
func hangingReceiver(t *testing.T) (srv *httptest.Server, release func()) {
	t.Helper()
	hang := make(chan struct{})
	release = sync.OnceFunc(func() { close(hang) })
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { release(); srv.Close() })
	return srv, release
}

// TestRetriesFollowSchedule walks each format's default schedule on a fake clock: no
// attempt comes before it is due, each comes when it is due, and the last failure
// leaves the delivery failed.
func TestRetriesFollowSchedule(t *testing.T) {
	t.Parallel()
	for _, f := range herald.Formats {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			srv, hits := receiver(t, http.StatusInternalServerError, http.Header{"X-Reason": {"down"}}, strings.Repeat("x", 10_000))
			e.webhook(srv.URL, f)
			id := e.publish()[0]

			schedule := wire.DefaultPolicy(f).Schedule
			at := t0
			if n := e.deliverDue(at); n != 1 {
				t.Fatalf("first attempt: sent %d, want 1", n)
			}
			for i, delay := range schedule {
				if n := e.deliverDue(at.Add(delay - time.Second)); n != 0 {
					t.Fatalf("retry %d sent %s early", i+1, time.Second)
				}
				at = at.Add(delay)
				if n := e.deliverDue(at); n != 1 {
					t.Fatalf("retry %d due at +%s: sent %d, want 1", i+1, at.Sub(t0), n)
				}
			}
			if n := e.deliverDue(at.Add(100 * 24 * time.Hour)); n != 0 {
				t.Fatalf("sent %d after the schedule was exhausted", n)
			}

			d := e.delivery(id)
			logged := e.attempts(id)
			want := len(schedule) + 1
			if d.Status != herald.StatusFailed || d.AttemptCount != want || len(logged) != want || hits.Load() != int64(want) {
				t.Fatalf("status %s, %d attempts (%d logged, %d received); want failed after %d",
					d.Status, d.AttemptCount, len(logged), hits.Load(), want)
			}
			at = t0
			for i, a := range logged {
				if i > 0 {
					at = at.Add(schedule[i-1])
				}
				if a.Number != i+1 || !a.At.Equal(at) || a.StatusCode != 500 || a.Success {
					t.Errorf("attempt %d: number %d at +%s status %d success %v; want number %d at +%s status 500",
						i, a.Number, a.At.Sub(t0), a.StatusCode, a.Success, i+1, at.Sub(t0))
				}
				if len(a.ResponseBody) != herald.MaxResponseBody {
					t.Errorf("attempt %d: response body %d bytes, want truncated to %d", i, len(a.ResponseBody), herald.MaxResponseBody)
				}
				if a.ResponseHeaders.Get("X-Reason") != "down" || a.RequestHeaders.Get("User-Agent") != "Herald/"+herald.Version {
					t.Errorf("attempt %d: headers not logged: request %v response %v", i, a.RequestHeaders, a.ResponseHeaders)
				}
				if a.Error == "" {
					t.Errorf("attempt %d: no error logged for a 500", i)
				}
			}
		})
	}
}

func TestSuccessEndsDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	srv, hits := receiver(t, http.StatusNoContent, nil, "")
	w := e.webhook(srv.URL, herald.FormatStandard)
	id := e.publish()[0]
	e.deliverDue(t0)
	e.deliverDue(t0.Add(24 * time.Hour))

	d := e.delivery(id)
	if d.Status != herald.StatusSuccess || d.AttemptCount != 1 || hits.Load() != 1 || d.NextAttemptAt != nil {
		t.Fatalf("status %s after %d attempts (%d received), next %v; want success after 1", d.Status, d.AttemptCount, hits.Load(), d.NextAttemptAt)
	}
	got, _ := e.store.Webhook(context.Background(), w.ID)
	if got.LastDeliveryStatus != "success" || got.LastDeliveryAt == nil {
		t.Fatalf("webhook last delivery %q at %v, want success", got.LastDeliveryStatus, got.LastDeliveryAt)
	}
}

func TestJitterStaysWithinTwentyPercent(t *testing.T) {
	t.Parallel()
	for _, r := range []float64{0, 0.999} {
		e := newEnv(t, nil)
		e.d = dispatch.New(dispatch.Config{Store: e.store, Client: &http.Client{}, Clock: e.clock, Rand: func() float64 { return r }})
		srv, _ := receiver(t, http.StatusInternalServerError, nil, "")
		e.webhook(srv.URL, herald.FormatStandard)
		id := e.publish()[0]
		e.deliverDue(t0)
		next := e.delivery(id).NextAttemptAt
		delay := next.Sub(t0)
		if delay < 4*time.Second || delay > 6*time.Second || delay == 5*time.Second {
			t.Errorf("rand %v: first retry after %s, want 5s ±20%% and jittered", r, delay)
		}
	}
}

func TestRetryAfterIsHonouredWithinBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status     int
		retryAfter string
		want       time.Duration
	}{
		{503, "90", 90 * time.Second},   // within [1m, 2m]
		{429, "600", 2 * time.Minute},   // clamped to twice the scheduled 1m
		{503, "1", time.Minute},         // never sooner than scheduled
		{500, "90", time.Minute},        // only 429, 502, 503 and 504 count
		{502, "bogus", time.Minute},     // unparseable: ignored
		{504, "120", 120 * time.Second}, // the upper bound itself
		{429, "0", time.Minute},         // zero: scheduled delay
		{503, "-5", time.Minute},        // negative: ignored
		{503, " 75 ", 75 * time.Second}, // tolerate spaces
		{503, "60", 60 * time.Second},   // the lower bound itself
	}
	for _, tt := range tests {
		e := newEnv(t, nil)
		srv, _ := receiver(t, tt.status, http.Header{"Retry-After": {tt.retryAfter}}, "")
		e.webhook(srv.URL, herald.FormatFrugally)
		id := e.publish()[0]
		e.deliverDue(t0)
		if got := e.delivery(id).NextAttemptAt.Sub(t0); got != tt.want {
			t.Errorf("%d with Retry-After %q: next attempt after %s, want %s", tt.status, tt.retryAfter, got, tt.want)
		}
	}
}

// TestRetryDelayCountsFromTheAttemptsEnd has the endpoint take a minute (on the clock)
// to fail: the retry is due a scheduled delay after that, not after the attempt began.
func TestRetryDelayCountsFromTheAttemptsEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.clock.Set(t0.Add(time.Minute))
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	e.webhook(srv.URL, herald.FormatFrugally) // no jitter: first retry after 1 min
	id := e.publish()[0]
	e.deliverDue(t0)
	if got, want := e.delivery(id).NextAttemptAt, t0.Add(2*time.Minute); !got.Equal(want) {
		t.Errorf("next attempt at %s, want %s: a minute after the attempt ended", got, want)
	}
}

func TestGoneDisablesStandardWebhook(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	srv, hits := receiver(t, http.StatusGone, nil, "")
	w := e.webhook(srv.URL, herald.FormatStandard)
	first := e.publish()[0]
	second := e.publish()[0]
	e.clock.Set(t0)
	// Send only the first: claim it directly so the second stays pending.
	if _, err := e.d.DeliverNow(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	got, _ := e.store.Webhook(context.Background(), w.ID)
	if got.Enabled || !strings.Contains(got.DisabledReason, "410") {
		t.Fatalf("after 410: enabled %v reason %q; want disabled for 410", got.Enabled, got.DisabledReason)
	}
	if d := e.delivery(first); d.Status != herald.StatusFailed {
		t.Fatalf("the 410 delivery is %s, want failed at once", d.Status)
	}
	if d := e.delivery(second); d.Status != herald.StatusFailed {
		t.Fatalf("a pending delivery of the disabled webhook is %s, want failed", d.Status)
	}
	if ids := e.publish(); len(ids) != 0 {
		t.Fatalf("a disabled webhook got %d new deliveries, want none", len(ids))
	}
	e.deliverDue(t0.Add(time.Hour))
	if hits.Load() != 1 {
		t.Fatalf("receiver got %d requests, want 1", hits.Load())
	}
}

// TestAttemptLogsNameTheDelivery checks the log lines of attempts: a failure and a
// disabled webhook at their levels, each with the ids to find the delivery by, and a
// success only at debug.
func TestAttemptLogsNameTheDelivery(t *testing.T) {
	t.Parallel()
	var out syncLog
	e := newEnvWith(t, dispatch.Config{Logger: slog.New(slog.NewJSONHandler(&out, nil))})
	gone, _ := receiver(t, http.StatusGone, nil, "")
	ok, _ := receiver(t, http.StatusOK, nil, "")
	e.webhook(gone.URL, herald.FormatStandard)
	e.webhook(ok.URL, herald.FormatStandard)
	for _, id := range e.publish() {
		if _, err := e.d.DeliverNow(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	logged := out.String()
	for _, want := range []string{`"level":"INFO","msg":"attempt failed"`, `"level":"WARN","msg":"webhook disabled"`,
		`"delivery_id":"del_`, `"webhook_id":"wh_`, `"event_id":"evt_`, `"attempt":1`, `"status":410`} {
		if !strings.Contains(logged, want) {
			t.Errorf("the log has no %s:\n%s", want, logged)
		}
	}
	if strings.Contains(logged, `"msg":"delivered"`) {
		t.Errorf("a success was logged above debug:\n%s", logged)
	}
}

func TestGoneDoesNotDisableOtherFormats(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	srv, _ := receiver(t, http.StatusGone, nil, "")
	w := e.webhook(srv.URL, herald.FormatInfraAudit)
	id := e.publish()[0]
	e.deliverDue(t0)
	got, _ := e.store.Webhook(context.Background(), w.ID)
	if !got.Enabled || e.delivery(id).Status != herald.StatusPending {
		t.Fatalf("infraaudit webhook after 410: enabled %v, delivery %s; want enabled and retrying", got.Enabled, e.delivery(id).Status)
	}
}

func TestFrugallyDisablesAfterTenConsecutiveFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var fail atomic.Bool
	fail.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	w := e.webhook(srv.URL, herald.FormatFrugally)

	// Nine failures, a success (which resets the count), then ten failures.
	for range 9 {
		e.publish()
	}
	e.deliverDue(t0)
	fail.Store(false)
	e.publish()
	e.deliverDue(t0)
	fail.Store(true)
	for range 9 {
		e.publish()
	}
	e.deliverDue(t0)
	if got, _ := e.store.Webhook(context.Background(), w.ID); !got.Enabled {
		t.Fatalf("disabled after 9 consecutive failures (%q), want after 10", got.DisabledReason)
	}
	e.publish()
	e.deliverDue(t0)
	got, _ := e.store.Webhook(context.Background(), w.ID)
	if got.Enabled || got.DisabledReason == "" {
		t.Fatalf("enabled %v after 10 consecutive failures, want disabled with a reason", got.Enabled)
	}
	if ids := e.publish(); len(ids) != 0 {
		t.Fatalf("disabled webhook got %d new deliveries", len(ids))
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	target, targetHits := receiver(t, http.StatusOK, nil, "")
	srv, _ := receiver(t, http.StatusFound, http.Header{"Location": {target.URL}}, "")
	e.webhook(srv.URL, herald.FormatInfraAudit)
	id := e.publish()[0]
	e.deliverDue(t0)
	d := e.delivery(id)
	if targetHits.Load() != 0 {
		t.Fatal("the redirect target was called")
	}
	if a := d.Attempts[0]; a.Success || a.StatusCode != 302 || !strings.Contains(a.Error, "redirect not followed") {
		t.Fatalf("attempt: success %v status %d error %q; want a failed 302 saying the redirect was not followed", a.Success, a.StatusCode, a.Error)
	}
}

func TestTimeoutIsLoggedAndRetried(t *testing.T) {
	t.Parallel()
	policy := wire.DefaultPolicy(herald.FormatStandard)
	policy.Timeout = 100 * time.Millisecond
	e := newEnv(t, map[herald.Format]wire.Policy{herald.FormatStandard: policy})
	srv, _ := hangingReceiver(t)
	e.webhook(srv.URL, herald.FormatStandard)
	id := e.publish()[0]
	e.deliverDue(t0)
	d := e.delivery(id)
	if a := d.Attempts[0]; a.Success || a.StatusCode != 0 || !strings.Contains(a.Error, "no response within 100ms") {
		t.Fatalf("attempt: success %v status %d error %q; want a timeout", a.Success, a.StatusCode, a.Error)
	}
	if d.Status != herald.StatusPending {
		t.Fatalf("after a timeout the delivery is %s, want pending", d.Status)
	}
}

func TestDeliverNowResendsFinishedDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[herald.Format]wire.Policy{herald.FormatInfraAudit: {Timeout: time.Second}})
	var status atomic.Int64
	status.Store(500)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(srv.Close)
	e.webhook(srv.URL, herald.FormatInfraAudit)
	id := e.publish()[0]
	e.deliverDue(t0)
	if d := e.delivery(id); d.Status != herald.StatusFailed {
		t.Fatalf("with no retries the delivery is %s, want failed", d.Status)
	}
	status.Store(200)
	a, err := e.d.DeliverNow(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Success || a.Number != 2 {
		t.Fatalf("manual retry: success %v number %d, want success number 2", a.Success, a.Number)
	}
	if d := e.delivery(id); d.Status != herald.StatusSuccess || len(d.Attempts) != 2 {
		t.Fatalf("after manual retry: %s with %d attempts, want success with 2", d.Status, len(d.Attempts))
	}
}

// TestSlowEndpointDoesNotDelayOthers runs the dispatcher for real: while one endpoint
// hangs until its timeout, deliveries to another arrive at once.
func TestSlowEndpointDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	policy := wire.DefaultPolicy(herald.FormatStandard)
	policy.Timeout = 3 * time.Second
	e := newEnv(t, map[herald.Format]wire.Policy{herald.FormatStandard: policy})
	e.clock.Set(time.Now().UTC())

	slow, releaseSlow := hangingReceiver(t)
	fastGot := make(chan struct{}, 100)
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fastGot <- struct{}{} }))
	t.Cleanup(fast.Close)
	e.webhook(slow.URL, herald.FormatStandard)
	e.webhook(fast.URL, herald.FormatStandard)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.d.Run(ctx) }()
	for range 20 {
		e.publish() // each goes to both webhooks
	}
	e.d.Wake()
	timeout := time.After(policy.Timeout - 500*time.Millisecond) // before any slow attempt could end
	for i := range 20 {
		select {
		case <-fastGot:
		case <-timeout:
			t.Fatalf("only %d of 20 deliveries reached the fast endpoint while the slow one hung", i)
		}
	}
	releaseSlow() // let the slow attempts end so shutdown need not wait out their timeout
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

// TestHungEndpointDoesNotTakeEveryClaim has one endpoint hang with its webhook's slots
// claimed several times over (a round sending, rounds claimed ahead), which fills a
// concurrency of that size: another endpoint's deliveries must still go at once, as
// deliveries waiting for the hung endpoint's slots hold no request slot.
func TestHungEndpointDoesNotTakeEveryClaim(t *testing.T) {
	t.Parallel()
	policy := wire.DefaultPolicy(herald.FormatStandard)
	policy.Timeout = 3 * time.Second
	e := newEnvWith(t, dispatch.Config{
		Policies:    map[herald.Format]wire.Policy{herald.FormatStandard: policy},
		Concurrency: 4,
		PerWebhook:  2,
	})
	e.clock.Set(time.Now().UTC())
	slow, releaseSlow := hangingReceiver(t)
	e.webhook(slow.URL, herald.FormatStandard)
	for range 8 {
		e.publish() // only the slow webhook exists yet: it gets every one
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.d.Run(ctx) }()
	e.d.Wake()
	time.Sleep(300 * time.Millisecond) // the slow webhook's rounds are claimed and hang

	fastGot := make(chan struct{}, 10)
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fastGot <- struct{}{} }))
	t.Cleanup(fast.Close)
	e.webhook(fast.URL, herald.FormatStandard)
	e.publish()
	e.d.Wake()
	select {
	case <-fastGot:
	case <-time.After(policy.Timeout - time.Second):
		t.Fatal("a delivery to a healthy endpoint waited while a hung one held the claims")
	}
	releaseSlow()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

// TestShutdownHandsBackWork stops a dispatcher while its attempts hang: Run returns
// within the grace period and another dispatcher can claim the deliveries at once.
func TestShutdownHandsBackWork(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.clock.Set(time.Now().UTC())
	srv, _ := hangingReceiver(t)
	e.webhook(srv.URL, herald.FormatStandard)
	e.publish()
	e.publish()

	d := dispatch.New(dispatch.Config{Store: e.store, Client: &http.Client{}, Clock: e.clock, ShutdownGrace: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ds, _, _ := e.store.Deliveries(context.Background(), herald.DeliveryFilter{})
		claimed, _ := e.store.ClaimDue(context.Background(), herald.ClaimRequest{Owner: "probe", Now: e.clock.Now(), LeaseUntil: e.clock.Now(), Limit: 10})
		if len(claimed) == 0 && len(ds) == 2 {
			break // both leased by the running dispatcher
		}
		if time.Now().After(deadline) {
			t.Fatal("the dispatcher never claimed the deliveries")
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("shutdown took %s with a 200ms grace", took)
	}
	claimed, err := e.store.ClaimDue(context.Background(), herald.ClaimRequest{Owner: "next", Now: e.clock.Now(), LeaseUntil: e.clock.Now().Add(time.Minute), Limit: 10})
	if err != nil || len(claimed) != 2 {
		t.Fatalf("after shutdown another dispatcher claimed %d deliveries (err %v), want 2", len(claimed), err)
	}
	for _, c := range claimed {
		if c.Delivery.AttemptCount != 0 {
			t.Fatalf("a cancelled attempt was counted: attempt count %d", c.Delivery.AttemptCount)
		}
	}
}

// TestRateLimitSpacesAttempts runs the dispatcher for real against a webhook limited
// to 10 attempts a second: after a burst of 10, the rest come no faster than the limit,
// also when the limit changes while attempts wait on it.
func TestRateLimitSpacesAttempts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.clock.Set(time.Now().UTC())
	e.d = dispatch.New(dispatch.Config{Store: e.store, Client: &http.Client{}, Clock: e.clock, PollInterval: 50 * time.Millisecond})
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	t.Cleanup(srv.Close)
	w := e.webhook(srv.URL, herald.FormatStandard)
	w.RateLimit = 10
	if err := e.store.UpdateWebhook(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	for range 30 {
		e.publish()
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	start := time.Now()
	go func() { done <- e.d.Run(ctx) }()
	for got.Load() < 10 {
		time.Sleep(5 * time.Millisecond)
	}
	w.RateLimit = 12 // a change while attempts wait on the limiter
	if err := e.store.UpdateWebhook(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	for got.Load() < 30 {
		if time.Since(start) > 20*time.Second {
			t.Fatalf("only %d of 30 delivered in 20s", got.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// 10 at once, then 20 at no more than 12 a second: at least 20/12 s.
	if elapsed < 1600*time.Millisecond {
		t.Fatalf("30 deliveries took %s; a limit of 10-12/s needs at least 1.6s", elapsed)
	}
}

// notifier passes on to Listen what the test sends on it, as PostgreSQL's LISTEN
// passes on another process's commits.
type notifier chan time.Time

func (n notifier) Listen(ctx context.Context, due func(at time.Time)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case at := <-n:
			due(at)
		}
	}
}

// TestWorkStartsWithoutWaitingForPoll runs a dispatcher whose poll is an hour away: a
// retry starts when it is due, and work another process announces starts at once.
func TestWorkStartsWithoutWaitingForPoll(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.clock.Set(time.Now().UTC())
	others := make(notifier)
	policy := wire.DefaultPolicy(herald.FormatStandard)
	policy.Schedule, policy.Jitter = []time.Duration{300 * time.Millisecond}, 0
	e.d = dispatch.New(dispatch.Config{
		Store: e.store, Notifier: others, Client: &http.Client{}, Clock: herald.SystemClock{}, PollInterval: time.Hour,
		Policies: map[herald.Format]wire.Policy{herald.FormatStandard: policy},
	})
	var hits atomic.Int64
	got := make(chan int64, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := hits.Add(1); n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // the first attempt fails
		}
		got <- hits.Load()
	}))
	t.Cleanup(srv.Close)
	e.webhook(srv.URL, herald.FormatStandard)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.d.Run(ctx) }()
	wait := func(what string) {
		t.Helper()
		select {
		case <-got:
		case <-time.After(10 * time.Second): // the poll would take an hour
			t.Fatalf("%s: no attempt within 10s", what)
		}
	}
	time.Sleep(50 * time.Millisecond) // Run's first claim has found nothing: it sleeps
	id := e.publish()[0]              // committed by "another process": no Wake
	others <- time.Now()
	wait("announced event")
	wait("retry due 300ms later")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := e.delivery(id); d.Status != herald.StatusSuccess || len(d.Attempts) != 2 {
		t.Fatalf("delivery %s with %d attempts, want success after 2", d.Status, len(d.Attempts))
	}
}

// TestConcurrencyBoundsRequestsInFlight has three webhooks whose endpoints take their
// time, each allowed two requests at once: no more than Concurrency requests are ever
// in flight together, though more deliveries are claimed.
func TestConcurrencyBoundsRequestsInFlight(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, dispatch.Config{Concurrency: 3, PerWebhook: 2})
	e.clock.Set(time.Now().UTC())
	var now, most atomic.Int64
	var got atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := now.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(50 * time.Millisecond)
		now.Add(-1)
		got.Add(1)
	}))
	t.Cleanup(slow.Close)
	for range 3 {
		e.webhook(slow.URL, herald.FormatStandard)
	}
	for range 6 {
		e.publish() // to all three webhooks: 18 deliveries
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.d.Run(ctx) }()
	e.d.Wake()
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() < 18 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if got.Load() < 18 {
		t.Fatalf("%d of 18 deliveries arrived", got.Load())
	}
	if m := most.Load(); m > 3 || m < 2 {
		t.Errorf("at most %d requests in flight at once, want 3 (Concurrency)", m)
	}
}

// claimCounter is a store that counts its ClaimDue calls.
type claimCounter struct {
	herald.Store
	claims atomic.Int64
}

func (s *claimCounter) ClaimDue(ctx context.Context, r herald.ClaimRequest) ([]herald.Claim, error) {
	s.claims.Add(1)
	return s.Store.ClaimDue(ctx, r)
}

// TestFreedSlotClaimsOnlyWhenWorkWasLeft runs a dispatcher that polls once an hour. A
// claim that took everything due leaves nothing for the slot its attempt frees, so at
// low traffic each event costs one claim, not two. A keyed delivery's record makes the
// next of its key due without a wake, so that freed slot claims, and the second
// delivery of the key follows the first without waiting for the poll.
func TestFreedSlotClaimsOnlyWhenWorkWasLeft(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.clock.Set(time.Now().UTC())
	got := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("webhook-id")
	}))
	t.Cleanup(srv.Close)
	hook := e.webhook(srv.URL, herald.FormatStandard)
	store := &claimCounter{Store: e.store}
	d := dispatch.New(dispatch.Config{Store: store, Client: &http.Client{}, Clock: e.clock, PollInterval: time.Hour, PerWebhook: 1})
	runUntilEnd(t, d)
	waitFor := func(what string) {
		t.Helper()
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s never arrived", what)
		}
	}
	waitRecorded := func(id string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); e.delivery(id).Status != herald.StatusSuccess; {
			if time.Now().After(deadline) {
				t.Fatalf("delivery %s not recorded", id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	for store.claims.Load() == 0 { // Run's first claim, of nothing
		time.Sleep(time.Millisecond)
	}
	for range 3 {
		before := store.claims.Load()
		id := e.publish()[0]
		d.Wake()
		waitFor("the event")
		waitRecorded(id)
		time.Sleep(20 * claimCoalescePlus) // long past the wait a freed slot would start
		if n := store.claims.Load() - before; n != 1 {
			t.Fatalf("%d claims for one event, want 1: the freed slot claimed again with nothing left due", n)
		}
	}

	// More than the webhook's cap of claims (a round sending, rounds ahead): the claim
	// that reached the cap left work behind, and the slots its attempts free claim it.
	for range 5 {
		e.publish()
	}
	d.Wake()
	for i := range 5 {
		waitFor(fmt.Sprintf("event %d of 5 published at once", i+1))
	}

	hook.Ordering = herald.OrderingKey
	if err := e.store.UpdateWebhook(context.Background(), hook); err != nil {
		t.Fatalf("order by key: %v", err)
	}
	for range 2 {
		now := e.clock.Now()
		if _, err := e.store.Publish(context.Background(), []herald.Publication{{Event: herald.Event{
			ID: herald.NewID(herald.PrefixEvent), TenantID: "team_a", Type: "drift.detected", OrderingKey: "acct-1",
			Data: json.RawMessage(`{"drift_id":56}`), Timestamp: now, CreatedAt: now,
		}}}); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	d.Wake()
	waitFor("the first of the key")
	waitFor("the second of the key, after the first's record and no wake")
}

// claimCoalescePlus is a little more than the dispatcher's wait for freed slots.
const claimCoalescePlus = 3 * time.Millisecond

// TestRetriesDueOneAfterAnotherStartOnTime fails the first attempt of two events
// published 30 ms apart, on a dispatcher that polls once an hour: the second event's
// retry, due 30 ms after the first's, starts on time too, not at the poll.
func TestRetriesDueOneAfterAnotherStartOnTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.clock.Set(time.Now().UTC())
	var mu sync.Mutex
	seen := map[string]int{}
	delivered := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("webhook-id")
		mu.Lock()
		seen[id]++
		first := seen[id] == 1
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		delivered <- id
	}))
	t.Cleanup(srv.Close)
	e.webhook(srv.URL, herald.FormatStandard)
	policy := wire.DefaultPolicy(herald.FormatStandard)
	policy.Schedule, policy.Jitter = []time.Duration{100 * time.Millisecond}, 0
	d := dispatch.New(dispatch.Config{Store: e.store, Client: &http.Client{}, PollInterval: time.Hour,
		Policies: map[herald.Format]wire.Policy{herald.FormatStandard: policy}})
	runUntilEnd(t, d)

	e.publish()
	d.Wake()
	time.Sleep(30 * time.Millisecond)
	e.publish()
	d.Wake()
	for i := range 2 {
		select {
		case <-delivered:
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of 2 events delivered on their retry 5 s after publishing; the other waits for the poll", i)
		}
	}
}
