package dispatch

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald"
)

// metrics are the dispatcher's Prometheus series.
type metrics struct {
	attempts *prometheus.CounterVec
	duration *prometheus.HistogramVec
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
		reg.MustRegister(m.attempts, m.duration, m.inFlight, m.disabled)
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
