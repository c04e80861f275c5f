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
func BenchmarkEndToEnd(b *testing.B) { endToEnd(b, 0) }

// BenchmarkLatency publishes at a steady 200 events per second, well below capacity,
// and reports the publish-to-receipt latency: p50 and p99 from the moment the publish
// call starts to the moment the receiver has the delivery.
//
//	go test ./cmd/herald -run '^$' -bench Latency -benchtime 2000x
func BenchmarkLatency(b *testing.B) { endToEnd(b, 200) }

// endToEnd runs b.N events through a server at rate events per second (0: as fast as
// the publishers go).
func endToEnd(b *testing.B, rate float64) {
	const event = `{"id":%q,"type":"drift.resolved","data":{"drift_id":55,"resolved_by":1,"resolved_at":"2024-01-15T15:00:00Z"}}`

	var mu sync.Mutex
	published := make(map[string]time.Time, b.N)
	latencies := make([]time.Duration, 0, b.N)
	var got atomic.Int64
	all := make(chan struct{})
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		if id := r.Header.Get("webhook-id"); id != "" {
			mu.Lock()
			if at, ok := published[id]; ok {
				latencies = append(latencies, now.Sub(at))
				if got.Add(1) == int64(b.N) {
					close(all)
				}
			}
			mu.Unlock()
		}
	}))
	defer rcv.Close()

	raw := rawBaseline(b, rcv.URL, []byte(fmt.Sprintf(event, "evt_raw")), b.N)

	srv := startServer(b, b.TempDir(), "--log-level", "error")
	if code := api(b, srv.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{
		"name": "bench", "url": rcv.URL, "events": []string{"drift.resolved"},
	}, nil); code != 201 {
		b.Fatalf("create webhook: %d", code)
	}

	pace := func() {}
	if rate > 0 {
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
				req, _ := http.NewRequest("POST", srv.URL+"/api/v1/events", bytes.NewReader([]byte(fmt.Sprintf(event, id))))
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
	case <-time.After(5*time.Minute + time.Duration(b.N)*time.Millisecond):
		b.Fatalf("received %d of %d deliveries", got.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()

	delivered := float64(b.N) / elapsed.Seconds()
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
