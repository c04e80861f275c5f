package main

import (
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestCrashLoop is the promise "accepted means durable" under repeated crashes: four
// publishers publish at a steady rate, each event with its own id, while `herald serve`
// is SIGKILLed at random moments and restarted on the same data, five times; then the
// server drains and every event that was acknowledged with a 2xx must have reached the
// receiver at least once. A publish that errors or is answered otherwise is not
// acknowledged and is not counted (the server may still have committed it: then it is
// delivered too, which is allowed). It logs a line such as
//
//	crash loop (sqlite): kills=5 acknowledged=1234 delivered=1234 lost=0 duplicated=3
//
// On SQLite one process runs at a time; on PostgreSQL (when HERALD_TEST_POSTGRES_URL is
// set) two processes share the database and are killed alternately while the other
// goes on serving.
//
// CI runs five kills per store, some 30 s each. The long run is
//
//	HERALD_CRASH_KILLS=50 go test ./cmd/herald -run CrashLoop -v -timeout 30m
//
// which kills each store's servers fifty times.
func TestCrashLoop(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and kills real servers")
	}
	kills := 5
	if v := os.Getenv("HERALD_CRASH_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("HERALD_CRASH_KILLS=%q: want a number of kills, at least 1", v)
		}
		kills = n
	}
	bin := buildHerald(t)
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		crashLoop(t, bin, "sqlite", kills, 1, nil)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		dbURL := postgresDatabase(t)
		crashLoop(t, bin, "postgres", kills, 2, []string{"--database-url", dbURL, "--encryption-key", newEncryptionKey()})
	})
}

// crashLoop runs procs servers of bin with args, publishes steadily to all of them, and
// SIGKILLs and restarts them in turn, kills times, then checks that every acknowledged
// event arrived.
func crashLoop(t *testing.T, bin, store string, kills, procs int, args []string) {
	// Short timeouts and retries keep the drain short: a killed process's claims come
	// back when their lease (two attempt timeouts and 10 s) runs out.
	args = append([]string{"--retry-schedule", "200ms,500ms,1s,1s,1s,1s,1s,1s", "--attempt-timeout", "1s",
		"--poll-interval", "50ms"}, args...)
	rc := newCountingReceiver(t, 5*time.Millisecond) // attempts in flight when a kill comes
	dataDirs := make([]string, procs)
	running := make([]*process, procs)
	urls := make([]atomic.Value, procs)
	for i := range procs {
		dataDirs[i] = t.TempDir()
		running[i] = startProcess(t, bin, dataDirs[i], args...)
		urls[i].Store(running[i].URL)
	}
	webhookID := createPausedWebhook(t, running[0].URL, "crash loop", rc.URL)

	start := time.Now()
	pub := publishSteadily("crashloop", 4, func(i int) string { return urls[i%procs].Load().(string) })
	stopPublishing := sync.OnceFunc(pub.stop)
	t.Cleanup(stopPublishing) // when the test fails before they are stopped
	// The first kill comes once deliveries are flowing, so some are in flight.
	delivered := func() int { events, _ := rc.Distinct(); return events }
	if !waitUntil(30*time.Second, func() bool { return delivered() >= 20 }) {
		t.Fatalf("before the first kill: %d acknowledged, %d delivered in 30s", pub.ackCount.Load(), delivered())
	}
	for k := range kills {
		// A random moment: anywhere from just after a restart to two seconds later.
		time.Sleep(100*time.Millisecond + rand.N(2*time.Second))
		i := k % procs
		if err := running[i].cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d: %v", k+1, err)
		}
		running[i].cmd.Wait() // killed: its exit status says only that
		running[i] = startProcess(t, bin, dataDirs[i], args...)
		urls[i].Store(running[i].URL)
	}
	time.Sleep(time.Second) // publishing goes on against the last restarted server
	stopPublishing()
	acked := int(pub.ackCount.Load())
	published := time.Since(start)

	missing := 0
	if !waitUntil(60*time.Second, func() bool {
		missing = pub.missing(rc.Arrived)
		return missing == 0
	}) {
		t.Fatalf("crash loop (%s): kills=%d acknowledged=%d delivered=%d lost=%d: LOST acknowledged events a minute after the last restart",
			store, kills, acked, acked-missing, missing)
	}
	// Whatever a killed server had claimed is sent again once its lease runs out:
	// nothing may stay pending.
	stuck := 0
	if !waitUntil(30*time.Second, func() bool { stuck = pendingOrFailed(t, running[0].URL, webhookID); return stuck == 0 }) {
		t.Errorf("STUCK: %d deliveries pending or failed 30s after every acknowledged event arrived", stuck)
	}
	arrived, duplicated := rc.Distinct()
	t.Logf("crash loop (%s): kills=%d acknowledged=%d delivered=%d lost=0 duplicated=%d (%d publishes refused or cut off while servers were down; %d unacknowledged events delivered anyway; %s of publishing)",
		store, kills, acked, acked-missing, duplicated, pub.refused.Load(), arrived-acked, published.Round(time.Second))
}
