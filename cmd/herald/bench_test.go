package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ratelimit "golang.org/x/time/rate"
)

// benchPublishers is how many clients publish at once, and how many the raw baseline
// uses to hit the receiver.
const benchPublishers = 8

// benchClient keeps a connection per publisher alive, as a real producer would.
var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchPublishers}}

// BenchmarkEndToEnd publishes b.N events as fast as benchPublishers clients can through
// the API of an in-process server on SQLite, and waits until a local receiver has them
// all. It reports deliveries per second and the ratio to a raw baseline: the same
// receiver hit directly by a plain net/http client with the same concurrency, measured
// in the same run. (Its latencies are queueing behind the backlog it builds; see
// BenchmarkLatency for latency.)
//
//	go test ./cmd/herald -run '^$' -bench EndToEnd -benchtime 3000x
func BenchmarkEndToEnd(b *testing.B) { endToEnd(b, benchSetup{webhooks: 1}) }

// BenchmarkEndToEndFanOut is BenchmarkEndToEnd with every event going to ten webhooks:
// b.N × 10 deliveries.
func BenchmarkEndToEndFanOut(b *testing.B) { endToEnd(b, benchSetup{webhooks: 10}) }

// BenchmarkEndToEndPostgres runs BenchmarkEndToEnd and its fan-out on PostgreSQL (the
// database HERALD_TEST_POSTGRES_URL names) with one and with three herald serve
// processes sharing it, publishers spread over them.
//
//	go test ./cmd/herald -run '^$' -bench EndToEndPostgres -benchtime 3000x
func BenchmarkEndToEndPostgres(b *testing.B) {
	for _, webhooks := range []int{1, 10} {
		for _, procs := range []int{1, 3} {
			b.Run(fmt.Sprintf("webhooks=%d/processes=%d", webhooks, procs), func(b *testing.B) {
				endToEnd(b, benchSetup{webhooks: webhooks, postgresProcesses: procs})
			})
		}
	}
}

// BenchmarkLatency publishes at a steady 200 events per second, well below capacity,
// and reports the publish-to-receipt latency: p50 and p99 from the moment the publish
// call starts to the moment the receiver has the delivery.
//
//	go test ./cmd/herald -run '^$' -bench Latency -benchtime 2000x
func BenchmarkLatency(b *testing.B) { endToEnd(b, benchSetup{webhooks: 1, rate: 200}) }

// benchSetup is what an end-to-end benchmark runs.
type benchSetup struct {
	rate              float64 // events per second; 0 as fast as the publishers go
	webhooks          int     // each subscribed to every event
	postgresProcesses int     // 0: one in-process server on SQLite; else herald serve processes on PostgreSQL
}

// endToEnd runs b.N events through the servers of setup.
func endToEnd(b *testing.B, setup benchSetup) {
	const event = `{"id":%q,"type":"drift.resolved","data":{"drift_id":55,"resolved_by":1,"resolved_at":"2024-01-15T15:00:00Z"}}`

	var mu sync.Mutex
	published := make(map[string]time.Time, b.N)
	deliveries := b.N * setup.webhooks
	latencies := make([]time.Duration, 0, deliveries)
	var got atomic.Int64
	all := make(chan struct{})
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		if id := r.Header.Get("webhook-id"); id != "" {
			mu.Lock()
			if at, ok := published[id]; ok {
				latencies = append(latencies, now.Sub(at))
				if got.Add(1) == int64(deliveries) {
					close(all)
				}
			}
			mu.Unlock()
		}
	}))
	defer rcv.Close()

	raw := rawBaseline(b, rcv.URL, []byte(fmt.Sprintf(event, "evt_raw")), b.N)

	servers := startBenchServers(b, setup.postgresProcesses)
	for range setup.webhooks {
		if code := api(b, servers[0], "POST", "/api/v1/webhooks", testAdminKey, map[string]any{
			"name": "bench", "url": rcv.URL, "events": []string{"drift.resolved"},
		}, nil); code != 201 {
			b.Fatalf("create webhook: %d", code)
		}
	}

	pace := func() {}
	if rate := setup.rate; rate > 0 {
		limiter := ratelimit.NewLimiter(ratelimit.Limit(rate), 1)
		pace = func() { limiter.Wait(context.Background()) } // never cancelled
	}

	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range benchPublishers {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				pace()
				id := fmt.Sprintf("evt_bench_%d", i)
				srv := servers[int(i)%len(servers)]
				req, _ := http.NewRequest("POST", srv+"/api/v1/events", bytes.NewReader([]byte(fmt.Sprintf(event, id))))
				req.Header.Set("Authorization", "Bearer "+testAdminKey)
				mu.Lock()
				published[id] = time.Now()
				mu.Unlock()
				resp, err := benchClient.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				drain(resp)
				if resp.StatusCode != http.StatusAccepted {
					b.Errorf("publish: %d", resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-all:
	case <-time.After(5*time.Minute + time.Duration(deliveries)*time.Millisecond):
		b.Fatalf("received %d of %d deliveries", got.Load(), deliveries)
	}
	elapsed := time.Since(start)
	b.StopTimer()

	delivered := float64(deliveries) / elapsed.Seconds()
	mu.Lock()
	slices.Sort(latencies)
	p50, p99 := percentile(latencies, 50), percentile(latencies, 99)
	mu.Unlock()
	b.ReportMetric(delivered, "deliveries/s")
	b.ReportMetric(raw, "raw-requests/s")
	b.ReportMetric(delivered/raw, "ratio-to-raw")
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
}

// startBenchServers starts one in-process server on SQLite (postgresProcesses 0) or that
// many herald serve processes on one new PostgreSQL database, and returns their URLs.
func startBenchServers(b *testing.B, postgresProcesses int) []string {
	b.Helper()
	if postgresProcesses == 0 {
		return []string{startServer(b, b.TempDir(), "--log-level", "error").URL}
	}
	dbURL, bin := postgresDatabase(b), buildHerald(b)
	args := []string{"--database-url", dbURL, "--encryption-key", newEncryptionKey(), "--log-level", "error"}
	var urls []string
	for range postgresProcesses {
		urls = append(urls, startProcess(b, bin, b.TempDir(), args...).URL)
	}
	return urls
}

// rawBaseline posts body n times to url with benchPublishers clients and returns
// requests per second: the ceiling for deliveries on this machine.
func rawBaseline(b *testing.B, url string, body []byte, n int) float64 {
	b.Helper()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range benchPublishers {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				resp, err := benchClient.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				drain(resp)
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

// drain reads and closes a response body so its connection is reused.
func drain(resp *http.Response) {
	io.Copy(io.Discard, resp.Body) // only the status matters here
	resp.Body.Close()
}
