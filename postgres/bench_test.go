package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/postgres"
	"github.com/heraldhq/herald/storetest"
)

// fillBacklog adds webhooks wh_1… of tenant team_a and pending deliveries, due one
// microsecond apart from at, spread over the webhooks; with heavy, wh_1 has all but the
// last 1,000, the way one slow endpoint hoards a backlog. Then it runs ANALYZE, so the
// planner sees a backlog's statistics.
func fillBacklog(b *testing.B, s *postgres.Store, webhooks, deliveries int, heavy bool) {
	b.Helper()
	ctx := b.Context()
	secret, err := storetest.Cipher{}.Seal([]byte(herald.NewSecret()))
	if err != nil {
		b.Fatal(err)
	}
	webhook := fmt.Sprintf("'wh_' || (i %% %d + 1)", webhooks)
	if heavy {
		webhook = fmt.Sprintf("CASE WHEN i <= %d THEN 'wh_1' ELSE %s END", deliveries-1000, webhook)
	}
	for _, q := range []string{
		`INSERT INTO webhooks (id, tenant_id, name, url, enabled, format, created_at, updated_at, secret)
			SELECT 'wh_' || i, 'team_a', 'w', 'https://r.example', true, 'standard', $1, $1, $2
			FROM generate_series(1, ` + fmt.Sprint(webhooks) + `) i`,
		`INSERT INTO events (id, tenant_id, type, data, timestamp, created_at)
			SELECT 'evt_' || i, 'team_a', 'drift.detected', '{}', $1, $1 FROM generate_series(1, 1000) i
			WHERE $2::bytea IS NOT NULL`,
		`INSERT INTO deliveries (id, event_id, webhook_id, tenant_id, event_type, status, next_attempt_at,
				created_at, updated_at)
			SELECT 'del_' || lpad(i::text, 10, '0'), 'evt_' || (i % 1000 + 1), ` + webhook + `, 'team_a',
				'drift.detected', 'pending', $1::timestamptz + i * interval '1 microsecond', $1, $1
			FROM generate_series(1, ` + fmt.Sprint(deliveries) + `) i WHERE $2::bytea IS NOT NULL`,
		`ANALYZE`,
	} {
		args := []any{at, secret}
		if q == "ANALYZE" {
			args = nil
		}
		if _, err := s.Pool().Exec(ctx, q, args...); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
}

// BenchmarkClaimDue claims 64 due deliveries at a time from 200,000 across 100 webhooks,
// as a dispatcher does; what it leases stays leased, so each claim takes the next ones.
func BenchmarkClaimDue(b *testing.B) {
	for _, bc := range []struct {
		name  string
		heavy bool
		req   herald.ClaimRequest
	}{
		{"Spread", false, herald.ClaimRequest{PerWebhook: 8}},
		{"HeavySkipped", true, herald.ClaimRequest{SkipWebhooks: []string{"wh_1"}}},
		{"HeavyCapped", true, herald.ClaimRequest{PerWebhook: 8}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := open(b, freshSchema(b))
			fillBacklog(b, s, 100, 200_000, bc.heavy)
			now := at.Add(time.Hour)
			r := bc.req
			r.Now, r.LeaseUntil, r.Limit = now, now.Add(time.Hour), 64
			b.ResetTimer()
			for i := range b.N {
				r.Owner = fmt.Sprint("owner-", i)
				cs, err := s.ClaimDue(b.Context(), r)
				if err != nil || len(cs) == 0 {
					b.Fatalf("claim %d: %d claimed, %v", i, len(cs), err)
				}
				// Hand the leases back, as finished attempts would, or the caps and the
				// other webhooks' deliveries run out.
				b.StopTimer()
				if err := s.ReleaseClaims(b.Context(), r.Owner); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkPublish publishes batches of events to a tenant with 10 webhooks, each event
// fanned out to every one.
func BenchmarkPublish(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprint("Batch", batch), func(b *testing.B) {
			s := open(b, freshSchema(b))
			tenant := herald.Tenant{ID: "team_a", Name: "A", CreatedAt: at}
			if err := s.CreateTenant(b.Context(), &tenant, herald.HashKey("team_a")); err != nil {
				b.Fatal(err)
			}
			for range 10 {
				if err := s.CreateWebhook(b.Context(), &herald.Webhook{TenantID: "team_a", Name: "r", URL: "https://r.example",
					Enabled: true, Format: herald.FormatStandard, Secret: herald.NewSecret()}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for range b.N {
				if _, err := s.Publish(b.Context(), events(batch, at)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkRecordAttempt records one failed attempt after another, each scheduling a
// retry, as dispatchers do for every delivery they send.
func BenchmarkRecordAttempt(b *testing.B) {
	s := open(b, freshSchema(b))
	tenant := herald.Tenant{ID: "team_a", Name: "A", CreatedAt: at}
	if err := s.CreateTenant(b.Context(), &tenant, herald.HashKey("team_a")); err != nil {
		b.Fatal(err)
	}
	if err := s.CreateWebhook(b.Context(), &herald.Webhook{TenantID: "team_a", Name: "r", URL: "https://r.example",
		Enabled: true, Format: herald.FormatStandard, Secret: herald.NewSecret()}); err != nil {
		b.Fatal(err)
	}
	rs, err := s.Publish(b.Context(), events(100, at))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		id := rs[i%len(rs)].DeliveryIDs[0]
		if _, err := s.RecordAttempt(b.Context(), &herald.AttemptRecord{Owner: "w", Status: herald.StatusPending,
			NextAttemptAt: at.Add(time.Minute), Attempt: herald.Attempt{DeliveryID: id, At: at, StatusCode: 500,
				RequestHeaders: map[string][]string{"Webhook-Id": {id}}, ResponseBody: "oops"}}); err != nil {
			b.Fatal(err)
		}
	}
}
