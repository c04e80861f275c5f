package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// orderReceiver answers 500 to a share of requests at random and records, per ordering
// key, the sequence numbers of the events in the order of their first successful
// receipt (a 2xx answered), and how many successful receipts repeated one.
type orderReceiver struct {
	mu       sync.Mutex
	rng      *rand.Rand
	failRate float64
	firsts   map[string][]int        // key → sequence numbers, in order of first receipt
	seen     map[string]map[int]bool // key → sequence numbers received
	repeats  int
	received int // first receipts, all keys
	requests int
}

func newOrderReceiver(t *testing.T, failRate float64, seed uint64) (*orderReceiver, string) {
	t.Helper()
	rc := &orderReceiver{rng: rand.New(rand.NewPCG(seed, 7)), failRate: failRate,
		firsts: map[string][]int{}, seen: map[string]map[int]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Data struct {
				Key string `json:"key"`
				Seq int    `json:"seq"`
			} `json:"data"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.requests++
		if rc.rng.Float64() < rc.failRate {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		k, seq := body.Data.Key, body.Data.Seq
		if rc.seen[k] == nil {
			rc.seen[k] = map[int]bool{}
		}
		if rc.seen[k][seq] {
			rc.repeats++
		} else {
			rc.seen[k][seq] = true
			rc.firsts[k] = append(rc.firsts[k], seq)
			rc.received++
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return rc, srv.URL
}

// firstReceipts returns how many events arrived, and the keys whose first receipts are
// out of publish order, each with the first sequence number out of place.
func (rc *orderReceiver) firstReceipts() (received int, disorder map[string]string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	disorder = map[string]string{}
	for k, seqs := range rc.firsts {
		for i, seq := range seqs {
			if seq != i {
				disorder[k] = fmt.Sprintf("first receipt #%d is event %d", i, seq)
				break
			}
		}
	}
	return rc.received, disorder
}

// TestPostgresOrderingChaos runs three herald serve processes on one PostgreSQL
// database, delivering 10 ordering keys × 200 events to a webhook that orders by key,
// through a receiver that fails 30% of requests at random, and SIGKILLs one process
// mid-run. For every key the first successful receipt of each event is in publish
// order, and every event arrives. A second webhook, not ordered, receives the same
// events through a receiver failing as often: that its receipts do come out of order
// shows the check can fail.
func TestPostgresOrderingChaos(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs three real servers")
	}
	dbURL := postgresDatabase(t)
	bin := buildHerald(t)
	key := newEncryptionKey()
	// Twelve retries: the chance that a 30% failure rate exhausts them is 0.3^13, so
	// every event arrives; short, so a key's 200 events take seconds.
	args := []string{"--database-url", dbURL, "--encryption-key", key,
		"--retry-schedule", "50ms,100ms,100ms,200ms,200ms,200ms,500ms,500ms,500ms,500ms,500ms,500ms",
		"--attempt-timeout", "2s", "--per-webhook-concurrency", "10", "--poll-interval", "200ms"}
	var procs []*process
	for range 3 {
		procs = append(procs, startProcess(t, bin, t.TempDir(), args...))
	}

	// The producer writes to the database itself: the API's fields for ordering are
	// not what this test is about.
	producer := openPostgres(t, dbURL, key)

	ordered, orderedURL := newOrderReceiver(t, 0.3, 1)
	unordered, unorderedURL := newOrderReceiver(t, 0.3, 2)
	now := time.Now().UTC()
	var hooks []string
	for _, h := range []struct {
		url      string
		ordering herald.Ordering
	}{{orderedURL, herald.OrderingKey}, {unorderedURL, herald.OrderingNone}} {
		w := &herald.Webhook{ID: herald.NewID(herald.PrefixWebhook), TenantID: herald.DefaultTenantID, Name: "order",
			URL: h.url, Events: []string{"inventory.changed"}, Enabled: true, Format: herald.FormatStandard,
			Ordering: h.ordering, Secret: herald.NewSecret(), CreatedAt: now, UpdatedAt: now}
		if err := producer.CreateWebhook(t.Context(), w); err != nil {
			t.Fatal(err)
		}
		hooks = append(hooks, w.ID)
	}

	const keys, perKey = 10, 200
	start := time.Now()
	published := make(chan error, 1)
	go func() {
		// One batch per round, a round's events one per key: each event of a key is
		// published after the one before it was acknowledged.
		for seq := range perKey {
			ps := make([]herald.Publication, keys)
			for k := range keys {
				key := fmt.Sprintf("key-%d", k)
				ps[k] = herald.Publication{Event: herald.Event{
					ID: herald.NewID(herald.PrefixEvent), TenantID: herald.DefaultTenantID, Type: "inventory.changed",
					Data:      json.RawMessage(fmt.Sprintf(`{"key":%q,"seq":%d}`, key, seq)),
					Timestamp: time.Now().UTC().Truncate(time.Second), OrderingKey: key,
				}}
			}
			if _, err := producer.Publish(t.Context(), ps); err != nil {
				published <- fmt.Errorf("publish round %d: %w", seq, err)
				return
			}
			if seq%20 == 0 {
				time.Sleep(50 * time.Millisecond) // a stream, not one burst
			}
		}
		published <- nil
	}()

	const total = keys * perKey
	if !waitUntil(120*time.Second, func() bool { n, _ := ordered.firstReceipts(); return n >= total/3 }) {
		n, _ := ordered.firstReceipts()
		t.Fatalf("only %d of %d events arrived in 120s", n, total)
	}
	victim := procs[2]
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	victim.cmd.Wait()
	atKill, _ := ordered.firstReceipts()
	if err := <-published; err != nil {
		t.Fatal(err)
	}

	if !waitUntil(240*time.Second, func() bool {
		a, _ := ordered.firstReceipts()
		b, _ := unordered.firstReceipts()
		return a == total && b == total
	}) {
		a, _ := ordered.firstReceipts()
		b, _ := unordered.firstReceipts()
		t.Fatalf("LOST: the ordered webhook received %d and the other %d of %d events", a, b, total)
	}
	took := time.Since(start)
	_, disorder := ordered.firstReceipts()
	for k, why := range disorder {
		t.Errorf("OUT OF ORDER: key %s: %s", k, why)
	}
	if _, control := unordered.firstReceipts(); len(control) == 0 {
		t.Errorf("the webhook that does not order received every key in order: the check proves nothing")
	}
	for _, id := range hooks {
		n := 0
		if !waitUntil(60*time.Second, func() bool { n = pendingOrFailed(t, procs[0].URL, id); return n == 0 }) {
			t.Errorf("STUCK: webhook %s has %d deliveries pending or failed after every event arrived", id, n)
		}
	}
	ordered.mu.Lock()
	requests, repeats := ordered.requests, ordered.repeats
	ordered.mu.Unlock()
	t.Logf("ordering chaos: %d keys x %d events over 3 processes in %s, one SIGKILLed at %d; %d requests to the ordered webhook, %d repeats; the other's keys out of order: %d",
		keys, perKey, took.Round(time.Millisecond), atKill, requests, repeats, len(func() map[string]string { _, d := unordered.firstReceipts(); return d }()))
}

// TestClientDeliveriesSkip gives a retrying delivery up with `herald deliveries skip`,
// and a second skip fails saying why.
func TestClientDeliveriesSkip(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir(), "--retry-schedule", "1h")
	rc := newReceiver(t)
	rc.setStatus(http.StatusInternalServerError)
	out := mustCLI(t, srv, testAdminKey, "webhooks", "create", "--url", rc.URL, "--name", "broken")
	var ds []deliveryResource
	cliJSON(t, srv, testAdminKey, &ds, "webhooks", "deliveries", field(t, out, "ID"), "--status", "retrying")
	if len(ds) != 1 {
		t.Fatalf("%d deliveries retrying, want the failed ping", len(ds))
	}
	out = mustCLI(t, srv, testAdminKey, "deliveries", "skip", ds[0].ID)
	if field(t, out, "STATUS") != "failed" || field(t, out, "LAST ERROR") != herald.SkippedByHand {
		t.Errorf("skip: want the delivery failed, %q:\n%s", herald.SkippedByHand, out)
	}
	_, errOut, err := cli(t, srv, testAdminKey, "deliveries", "skip", ds[0].ID)
	if err == nil || !contains(errOut+err.Error(), "only a pending delivery can be skipped") {
		t.Errorf("second skip: error %v, stderr %q; want the conflict saying why", err, errOut)
	}
}
