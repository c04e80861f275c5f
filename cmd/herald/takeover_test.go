package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"
)

// holdingReceiver holds every request (pings aside) until released, then answers the
// held ones and every later one at once. It notes when each event's requests arrived.
type holdingReceiver struct {
	*httptest.Server
	release chan struct{}

	mu       sync.Mutex
	holding  int
	arrivals map[string][]time.Time // event id → when its requests arrived
}

func newHoldingReceiver(t *testing.T) *holdingReceiver {
	t.Helper()
	rc := &holdingReceiver{release: make(chan struct{}), arrivals: map[string][]time.Time{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if body.Type == "ping" {
			return
		}
		rc.mu.Lock()
		rc.arrivals[body.ID] = append(rc.arrivals[body.ID], time.Now())
		rc.holding++
		rc.mu.Unlock()
		defer func() { rc.mu.Lock(); rc.holding--; rc.mu.Unlock() }()
		select {
		case <-rc.release:
		case <-r.Context().Done(): // the sender died
		}
	}))
	t.Cleanup(rc.Close)
	t.Cleanup(rc.free) // before Close, which waits for the requests held
	return rc
}

// free answers the requests held and every one after.
func (rc *holdingReceiver) free() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	select {
	case <-rc.release:
	default:
		close(rc.release)
	}
}

// held returns how many requests are being held now.
func (rc *holdingReceiver) held() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.holding
}

// arrivedAfter returns, for each of ids, the first time a request for it arrived after
// since, and the ids with none.
func (rc *holdingReceiver) arrivedAfter(ids []string, since time.Time) (map[string]time.Time, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	first := map[string]time.Time{}
	var none []string
	for _, id := range ids {
		for _, at := range rc.arrivals[id] {
			if at.After(since) {
				first[id] = at
				break
			}
		}
		if _, ok := first[id]; !ok {
			none = append(none, id)
		}
	}
	return first, none
}

// TestPostgresTakeoverAfterSIGKILL has one herald serve process claim a webhook's
// deliveries, its attempts hanging on a receiver that does not answer, with an attempt
// timeout of a minute, and SIGKILLs it while a second process runs on the same database:
// the survivor attempts every delivery the dead one had in flight or claimed within 5
// seconds of the kill, not when the dead one's leases would have run out. The cap the
// dead one's leases filled frees at the same moment, or the survivor could not take
// them.
func TestPostgresTakeoverAfterSIGKILL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs real servers")
	}
	dbURL := postgresDatabase(t)
	bin := buildHerald(t)
	args := []string{"--database-url", dbURL, "--encryption-key", newEncryptionKey(),
		"--attempt-timeout", "60s", "--per-webhook-concurrency", "4"}
	victim := startProcess(t, bin, t.TempDir(), args...)
	rc := newHoldingReceiver(t)
	createPausedWebhook(t, victim.URL, "takeover", rc.URL)
	// 4 in flight and 12 more claimed behind them (three rounds ahead): the webhook's
	// cap of 16 leases, all the victim's. The other 4 wait for room under the cap.
	const events = 20
	var ids []string
	for i := range events {
		id := fmt.Sprintf("evt_takeover_%d", i)
		ids = append(ids, id)
		if code := api(t, victim.URL, "POST", "/api/v1/events", testAdminKey, map[string]any{
			"id": id, "type": "schedule.paused", "data": map[string]string{"schedule_id": "s", "name": "n", "paused_by": "u"},
		}, nil); code != 202 {
			t.Fatalf("publish %s: %d", id, code)
		}
	}
	if !waitUntil(30*time.Second, func() bool { return rc.held() == 4 }) {
		t.Fatalf("the victim has %d attempts in flight, want 4", rc.held())
	}
	survivor := startProcess(t, bin, t.TempDir(), args...)
	// The survivor is up and claiming; the victim's leases, a minute and more long,
	// keep it from the webhook's deliveries.
	if code := api(t, survivor.URL, "GET", "/readyz", "", nil, nil); code != 200 {
		t.Fatalf("survivor /readyz = %d", code)
	}

	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	victim.cmd.Wait()
	killed := time.Now()
	rc.free()

	var none []string
	if !waitUntil(30*time.Second, func() bool { _, none = rc.arrivedAfter(ids, killed); return len(none) == 0 }) {
		t.Fatalf("30 s after the kill %d of %d deliveries were not attempted again: %v", len(none), events, none)
	}
	first, _ := rc.arrivedAfter(ids, killed)
	var slowest time.Duration
	for id, at := range first {
		took := at.Sub(killed)
		slowest = max(slowest, took)
		if took > 5*time.Second {
			t.Errorf("%s attempted by the survivor %v after the kill, want within 5s", id, took.Round(time.Millisecond))
		}
	}
	t.Logf("the survivor attempted all %d of the dead process's deliveries within %v of the kill", events, slowest.Round(time.Millisecond))
}
