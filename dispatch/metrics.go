package dispatch

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald"
)

// metrics are the dispatcher's Prometheus series.
type metrics struct {
	attempts *prometheus.CounterVec
	duration *prometheus.HistogramVec
	latency  *prometheus.HistogramVec
	inFlight prometheus.Gauge
	disabled prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_attempts_total",
			Help: "Delivery attempts by format, outcome and status class.",
		}, []string{"format", "outcome", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_attempt_duration_seconds",
			Help:    "How long an attempt took, from request to response body read.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
		}, []string{"format"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "herald_delivery_latency_seconds",
			Help: "How long a delivery took from its event's acceptance to the end of the attempt that delivered it, retries included.",
			// From an attempt that succeeds at once to one that succeeds after retries
			// spread over a day or more.
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600,
				3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600, 3 * 24 * 3600},
		}, []string{"format"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_attempts_in_flight",
			Help: "Attempts being sent by this process now.",
		}),
		disabled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_webhooks_disabled_total",
			Help: "Webhooks disabled by their format's auto-disable rule.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.attempts, m.duration, m.latency, m.inFlight, m.disabled)
	}
	return m
}

func (m *metrics) observe(f herald.Format, a *herald.Attempt) {
	outcome := "failure"
	if a.Success {
		outcome = "success"
	}
	status := "none"
	if a.StatusCode > 0 {
		status = strconv.Itoa(a.StatusCode/100) + "xx"
	}
	m.attempts.WithLabelValues(string(f), outcome, status).Inc()
	m.duration.WithLabelValues(string(f)).Observe(float64(a.DurationMS) / 1000)
}

// observeDelivered records the latency of a delivery that attempt a of claim c has just
// delivered. A resend of a delivery that had succeeded already (a manual retry) is not
// a delivery: its event's age says nothing about how fast Herald delivers.
func (m *metrics) observeDelivered(c *herald.Claim, a *herald.Attempt) {
	if !a.Success || c.Delivery.Status == herald.StatusSuccess {
		return
	}
	end := a.At.Add(time.Duration(a.DurationMS) * time.Millisecond)
	m.latency.WithLabelValues(string(c.Webhook.Format)).Observe(max(end.Sub(c.Event.CreatedAt).Seconds(), 0))
}
