//go:build unix

package sqlite_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// BenchmarkDeliveryWork is the store's whole part of batch-published deliveries with
// nothing else running, all at once: events published in batches of 1,000 to one
// webhook; claimed as the dispatcher claims for one busy webhook, at most 32 leased
// (four rounds of 8) and a claim when at least 8 are free; and each attempt recorded
// from one of 16 goroutines. No HTTP is sent or served, so its deliveries/s is the most
// Herald on SQLite can deliver on this machine however cheap the rest becomes.
// Run with: go test ./sqlite -run '^$' -bench DeliveryWork -benchtime 50000x
func BenchmarkDeliveryWork(b *testing.B) {
	s := openBench(b)
	ctx := b.Context()
	tenant := benchTenant(b, s, 1)
	data := []byte(`{"resource_id":"i-0abc","provider":"aws","severity":"high","changes":{"instance_type":["t3.micro","t3.large"]}}`)
	headers := http.Header{"Content-Type": {"application/json"}, "Webhook-Id": {"evt_x"}}
	const owner, batch, leaseAhead, round = "bench", 1000, 32, 8

	cpu := cpuTime(b)
	b.ResetTimer()
	claimed := make(chan string, leaseAhead)
	var wg sync.WaitGroup
	wg.Go(func() {
		for published := 0; published < b.N; published += batch {
			ps := make([]herald.Publication, min(batch, b.N-published))
			for i := range ps {
				ps[i] = herald.Publication{Event: herald.Event{TenantID: tenant.ID, Type: "drift.detected", Data: data}}
			}
			if _, err := s.Publish(ctx, ps); err != nil {
				b.Error(err)
				return
			}
		}
	})
	var leased atomic.Int64
	wg.Go(func() {
		defer close(claimed)
		for got := 0; got < b.N && !b.Failed(); { // a failed publish ends it too
			free := leaseAhead - leased.Load()
			if free < round {
				time.Sleep(2 * time.Millisecond) // the dispatcher's claimCoalesce
				continue
			}
			now := time.Now()
			cs, err := s.ClaimDue(ctx, herald.ClaimRequest{Owner: owner, Now: now, LeaseUntil: now.Add(time.Hour), Limit: int(free)})
			if err != nil {
				b.Error(err)
				return
			}
			if len(cs) == 0 {
				time.Sleep(time.Millisecond) // the publisher is behind
			}
			leased.Add(int64(len(cs)))
			for _, c := range cs {
				claimed <- c.Delivery.ID
			}
			got += len(cs)
		}
	})
	for range 16 {
		wg.Go(func() {
			for id := range claimed {
				_, err := s.RecordAttempt(ctx, &herald.AttemptRecord{Owner: owner, Status: herald.StatusSuccess,
					Attempt: herald.Attempt{DeliveryID: id, StatusCode: 204, Success: true, DurationMS: 1,
						RequestHeaders: headers, ResponseHeaders: headers}})
				if err != nil {
					b.Error(err)
				}
				leased.Add(-1)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric((cpuTime(b)-cpu).Seconds()*1000/float64(b.N), "cpu-ms/delivery")
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		b.Fatal(err)
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
