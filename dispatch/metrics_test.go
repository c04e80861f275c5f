package dispatch_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/dispatch"
	"github.com/heraldhq/herald/wire"
)

// TestDeliveryLatency checks herald_delivery_latency_seconds: one observation per
// delivery, at its first success, from its event's acceptance to the end of that
// attempt, retries included; none for a failure or for a resend of a delivered one.
func TestDeliveryLatency(t *testing.T) {
	t.Parallel()
	policies := map[herald.Format]wire.Policy{herald.FormatStandard: {Schedule: []time.Duration{time.Minute}, Timeout: 5 * time.Second}}
	e := newEnv(t, policies)
	reg := prometheus.NewRegistry()
	e.d = dispatch.New(dispatch.Config{
		Store: e.store, Policies: policies, Client: &http.Client{}, Clock: e.clock,
		Rand: func() float64 { return 0.5 }, Metrics: reg,
	})
	var status atomic.Int64
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(srv.Close)
	e.webhook(srv.URL, herald.FormatStandard)

	first := e.publish()[0] // accepted at t0
	e.deliverDue(t0.Add(3 * time.Second))
	wantLatency(t, reg, 1, 3, "delivered 3 s after acceptance")

	status.Store(http.StatusInternalServerError)
	e.clock.Set(t0.Add(10 * time.Second))
	e.publish()
	e.deliverDue(t0.Add(10 * time.Second))
	wantLatency(t, reg, 1, 3, "a failed attempt")

	status.Store(http.StatusOK)
	e.deliverDue(t0.Add(70 * time.Second))
	wantLatency(t, reg, 2, 3+60, "delivered by its retry a minute after acceptance")

	if _, err := e.d.DeliverNow(context.Background(), first); err != nil {
		t.Fatalf("resend a delivered delivery: %v", err)
	}
	wantLatency(t, reg, 2, 3+60, "a resend of a delivered delivery")
}

// wantLatency fails t unless the standard format's delivery latency histogram in reg
// has count observations summing to sum seconds, give or take the attempts' own time.
func wantLatency(t *testing.T, reg *prometheus.Registry, count uint64, sum float64, what string) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != "herald_delivery_latency_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != 1 || m.GetLabel()[0].GetName() != "format" || m.GetLabel()[0].GetValue() != "standard" {
				t.Fatalf("after %s: delivery latency series with labels %v, want format=standard only", what, m.GetLabel())
			}
			h := m.GetHistogram()
			if h.GetSampleCount() != count || h.GetSampleSum() < sum || h.GetSampleSum() > sum+float64(count) {
				t.Errorf("after %s: delivery latency %d observations summing to %.3fs, want %d summing to %gs (+ under 1s each)",
					what, h.GetSampleCount(), h.GetSampleSum(), count, sum)
			}
			return
		}
	}
	t.Errorf("after %s: no herald_delivery_latency_seconds series, want %d observations", what, count)
}
