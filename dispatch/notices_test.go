package dispatch_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/dispatch"
	"github.com/heraldhq/herald/wire"
)

// TestNotices checks which notices attempts raise: a 410 that disables a standard
// webhook raises webhook.disabled alone; a delivery that runs out of retries raises
// delivery.exhausted; a success or a scheduled retry raises nothing.
func TestNotices(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		format herald.Format
		want   []string // notice types, in order
	}{
		{"success", http.StatusOK, herald.FormatInfraAudit, nil},
		{"retries run out", http.StatusInternalServerError, herald.FormatInfraAudit, []string{herald.NoticeDeliveryExhausted}},
		{"410 disables", http.StatusGone, herald.FormatStandard, []string{herald.NoticeWebhookDisabled}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			policies := map[herald.Format]wire.Policy{}
			for _, f := range herald.Formats {
				p := wire.DefaultPolicy(f)
				p.Schedule, p.Jitter = []time.Duration{time.Minute}, 0
				policies[f] = p
			}
			e := newEnv(t, policies)
			var mu sync.Mutex
			var got []herald.Notice
			d := dispatch.New(dispatch.Config{
				Store: e.store, Policies: policies, Client: &http.Client{}, Clock: e.clock,
				Rand: func() float64 { return 0.5 },
				Notices: func(_ context.Context, n herald.Notice) {
					mu.Lock()
					defer mu.Unlock()
					got = append(got, n)
				},
			})
			srv, _ := receiver(t, tt.status, nil, "")
			w := e.webhook(srv.URL, tt.format)
			id := e.publish()[0]
			e.d = d
			if n := e.deliverDue(t0); n != 1 {
				t.Fatalf("first attempt: %d sent", n)
			}
			if tt.status == http.StatusInternalServerError && len(got) != 0 {
				t.Fatalf("a scheduled retry raised %+v, want nothing yet", got)
			}
			e.deliverDue(t0.Add(time.Hour))

			mu.Lock()
			defer mu.Unlock()
			var types []string
			for _, n := range got {
				types = append(types, n.Type)
				if n.WebhookID != w.ID || n.TenantID != "team_a" {
					t.Errorf("%s names webhook %s of %s, want %s of team_a", n.Type, n.WebhookID, n.TenantID, w.ID)
				}
			}
			if strings.Join(types, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("notices %v, want %v", types, tt.want)
			}
			if len(got) == 0 {
				return
			}
			switch n := got[0]; n.Type {
			case herald.NoticeWebhookDisabled:
				var data herald.WebhookDisabledData
				if err := json.Unmarshal(n.Data, &data); err != nil || !strings.Contains(data.Reason, "410") || data.URL != srv.URL || data.Name != "hook" {
					t.Errorf("webhook.disabled data %s (%v), want the 410 reason, URL and name", n.Data, err)
				}
			case herald.NoticeDeliveryExhausted:
				var data herald.DeliveryExhaustedData
				if err := json.Unmarshal(n.Data, &data); err != nil || data.DeliveryID != id || data.Attempts != 2 ||
					!strings.Contains(data.LastError, "500") || data.EventType != "drift.detected" || !data.FailedAt.Equal(t0.Add(time.Hour)) {
					t.Errorf("delivery.exhausted data %s (%v), want delivery %s, 2 attempts, a 500, drift.detected, failed at t0+1h", n.Data, err, id)
				}
			}
		})
	}
}

// claimWatch is the real store, telling the test each time a claim of due work returns.
type claimWatch struct {
	herald.Store
	claimed chan struct{}
}

func (s claimWatch) ClaimDue(ctx context.Context, r herald.ClaimRequest) ([]herald.Claim, error) {
	cs, err := s.Store.ClaimDue(ctx, r)
	select {
	case s.claimed <- struct{}{}:
	default:
	}
	return cs, err
}

// TestNoticeStartsAtOnce: a notice that queues a delivery (as one to the operator
// webhook does) has it sent at once, though the poll is an hour away and the attempt
// that raised it was a manual one, outside Run's own slots.
func TestNoticeStartsAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	gone, _ := receiver(t, http.StatusGone, nil, "")
	healthy, hits := receiver(t, http.StatusOK, nil, "")
	e.webhook(gone.URL, herald.FormatStandard)
	e.clock.Set(t0.Add(time.Hour)) // the first event is not due until then
	id := e.publish()[0]
	e.clock.Set(t0)
	e.webhook(healthy.URL, herald.FormatStandard)

	watch := claimWatch{Store: e.store, claimed: make(chan struct{}, 1)}
	d := dispatch.New(dispatch.Config{
		Store: watch, Client: &http.Client{}, Clock: e.clock, PollInterval: time.Hour,
		Notices: func(context.Context, herald.Notice) { e.publish() }, // now due, to the healthy webhook only
	})
	runUntilEnd(t, d)
	<-watch.claimed // Run found nothing due and sleeps for the poll

	a, err := d.DeliverNow(context.Background(), id)
	if err != nil || a.StatusCode != http.StatusGone {
		t.Fatalf("manual attempt: %+v, %v; want the endpoint's 410", a, err)
	}
	deadline := time.Now().Add(10 * time.Second) // the poll would take an hour
	for hits.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the notice's delivery was not sent within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
