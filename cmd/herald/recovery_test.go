package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestCrashRecoveryWithinTwoSeconds SIGKILLs a SQLite server while attempts are in
// flight to a receiver that hangs and a backlog for it is queued, restarts it on the
// same data, and requires every delivery that was pending at the kill (those in flight
// and the backlog) to be attempted within 2 s of the restarted server being ready: no
// lease of the dead process holds them back, nor holds the endpoint's slots.
func TestCrashRecoveryWithinTwoSeconds(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and kills a real server")
	}
	const events = 40
	var (
		mu      sync.Mutex
		arrived = map[string][]time.Time{} // event id → when each attempt arrived
		hang    = make(chan struct{})      // closed after the kill: the receiver answers again
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("webhook-id")
		mu.Lock()
		arrived[id] = append(arrived[id], time.Now())
		mu.Unlock()
		if strings.HasPrefix(id, "evt_recovery_") {
			select { // in flight until the kill
			case <-hang:
			case <-r.Context().Done():
			}
		}
	}))
	t.Cleanup(srv.Close)
	attempts := func(id string) []time.Time {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Time(nil), arrived[id]...)
	}

	bin := buildHerald(t)
	dataDir := t.TempDir()
	p := startProcess(t, bin, dataDir) // default attempt timeout: a lease would outlast 30 s
	var wh webhookResource
	if code := api(t, p.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{
		"name": "hangs", "url": srv.URL, "events": []string{"schedule.paused"},
	}, &wh); code != 201 {
		t.Fatalf("create webhook: %d", code)
	}
	ids := make([]string, events)
	for i := range ids {
		ids[i] = fmt.Sprintf("evt_recovery_%d", i)
		if code := api(t, p.URL, "POST", "/api/v1/events", testAdminKey, map[string]any{
			"id": ids[i], "type": "schedule.paused",
			"data": map[string]string{"schedule_id": "s", "name": "n", "paused_by": "u"},
		}, nil); code != 202 {
			t.Fatalf("publish: %d", code)
		}
	}
	inFlight := func() int {
		n := 0
		for _, id := range ids {
			if len(attempts(id)) > 0 {
				n++
			}
		}
		return n
	}
	// The endpoint's slots fill with attempts that hang; the rest is backlog.
	if !waitUntil(10*time.Second, func() bool { return inFlight() >= 8 }) {
		t.Fatalf("%d attempts in flight before the kill, want 8 (the endpoint's slots)", inFlight())
	}
	before := inFlight()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait() // killed: its exit status says only that
	killed := time.Now()
	close(hang)

	p = startProcess(t, bin, dataDir)
	ready := time.Now()
	// Every event must now arrive once more, from the new process.
	since := func(id string) (time.Time, bool) {
		for _, at := range attempts(id) {
			if at.After(killed) {
				return at, true
			}
		}
		return time.Time{}, false
	}
	allAttempted := func() bool {
		for _, id := range ids {
			if _, ok := since(id); !ok {
				return false
			}
		}
		return true
	}
	if !waitUntil(30*time.Second, allAttempted) {
		missing := 0
		for _, id := range ids {
			if _, ok := since(id); !ok {
				missing++
			}
		}
		t.Fatalf("%d of %d deliveries pending at the kill not attempted 30 s after the restart", missing, events)
	}
	var last time.Duration
	for _, id := range ids {
		at, _ := since(id)
		last = max(last, at.Sub(ready))
	}
	if last > 2*time.Second {
		t.Errorf("the last delivery pending at the kill was attempted %s after the restart was ready, want within 2 s", last.Round(time.Millisecond))
	}
	t.Logf("SIGKILL with %d attempts in flight and %d queued: all %d attempted within %s of the restart being ready",
		before, events-before, events, last.Round(time.Millisecond))
}
