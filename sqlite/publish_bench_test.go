package sqlite_test

import (
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/sqlite"
	"github.com/heraldhq/herald/storetest"
)

// BenchmarkPublishBatch publishes batches of 1,000 events, as POST /api/v1/events/batch
// does, to a tenant with one and with ten subscribed webhooks, on a real file with
// synchronous=FULL. The figure to watch is events/s: the batch API's target is 20,000.
// Run with: go test ./sqlite -run '^$' -bench PublishBatch -benchtime 20x
func BenchmarkPublishBatch(b *testing.B) {
	for _, bc := range []struct {
		name     string
		webhooks int
	}{{"1Webhook", 1}, {"10Webhooks", 10}} {
		b.Run(bc.name, func(b *testing.B) {
			s := openBench(b)
			ctx := b.Context()
			tenant := benchTenant(b, s, bc.webhooks)
			data := []byte(`{"resource_id":"i-0abc","provider":"aws","severity":"high","changes":{"instance_type":["t3.micro","t3.large"]}}`)
			const size = 1000
			events := 0
			for b.Loop() {
				ps := make([]herald.Publication, size)
				now := time.Now().UTC()
				for i := range ps {
					ps[i] = herald.Publication{Event: herald.Event{ID: herald.NewID(herald.PrefixEvent), TenantID: tenant.ID,
						Type: "drift.detected", Data: data, Timestamp: now.Truncate(time.Second)}}
				}
				rs, err := s.Publish(ctx, ps)
				if err != nil || len(rs) != size || rs[size-1].Deliveries != bc.webhooks {
					b.Fatalf("publish: %d results, %v", len(rs), err)
				}
				events += size
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// benchTenant creates a tenant with n webhooks that take every event.
func benchTenant(b *testing.B, s *sqlite.Store, n int) herald.Tenant {
	b.Helper()
	tenant := herald.Tenant{ID: "team_bench", Name: "Bench"}
	if err := s.CreateTenant(b.Context(), &tenant, herald.HashKey("k")); err != nil {
		b.Fatal(err)
	}
	for range n {
		w := &herald.Webhook{TenantID: tenant.ID, Name: "r", URL: "https://r.example", Enabled: true,
			Format: herald.FormatStandard, Secret: herald.NewSecret()}
		if err := s.CreateWebhook(b.Context(), w); err != nil {
			b.Fatal(err)
		}
	}
	return tenant
}

// openBench opens a store on a new file and closes it when the benchmark ends.
func openBench(b *testing.B) *sqlite.Store {
	b.Helper()
	s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "herald.db"), storetest.Cipher{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Errorf("close: %v", err)
		}
	})
	return s
}

// BenchmarkRecordAttempts records successful attempts from 16 goroutines at once, as
// the dispatcher does with attempts in flight, so that records share group commits.
// Run with: go test ./sqlite -run '^$' -bench RecordAttempts -benchtime 5000x
func BenchmarkRecordAttempts(b *testing.B) {
	s := openBench(b)
	ctx := b.Context()
	tenant := benchTenant(b, s, 1)
	const owner = "bench"
	ids := make(chan string, 1<<20)
	fill := func(n int) {
		ps := make([]herald.Publication, n)
		for i := range ps {
			ps[i] = herald.Publication{Event: herald.Event{TenantID: tenant.ID, Type: "drift.detected", Data: []byte(`{}`)}}
		}
		if _, err := s.Publish(ctx, ps); err != nil {
			b.Fatal(err)
		}
		for {
			now := time.Now()
			cs, err := s.ClaimDue(ctx, herald.ClaimRequest{Owner: owner, Now: now, LeaseUntil: now.Add(time.Hour), Limit: 1000})
			if err != nil {
				b.Fatal(err)
			}
			if len(cs) == 0 {
				return
			}
			for _, c := range cs {
				ids <- c.Delivery.ID
			}
		}
	}
	fill(b.N)
	headers := http.Header{"Content-Type": {"application/json"}, "Webhook-Id": {"evt_x"}}
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				select {
				case id := <-ids:
					_, err := s.RecordAttempt(ctx, &herald.AttemptRecord{Owner: owner, Status: herald.StatusSuccess,
						Attempt: herald.Attempt{DeliveryID: id, StatusCode: 204, Success: true, DurationMS: 1,
							RequestHeaders: headers, ResponseHeaders: headers}})
					if err != nil {
						b.Error(err)
						return
					}
				default:
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func TestPublishBatchContract(t *testing.T) {
	t.Parallel()
	storetest.RunPublishBatch(t, func(t *testing.T) herald.Store {
		return open(t, filepath.Join(t.TempDir(), "herald.db"))
	})
}
