package httpapi

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// apiMetrics are the API's own series.
type apiMetrics struct {
	eventsAccepted  *prometheus.CounterVec
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
}

func newAPIMetrics(reg prometheus.Registerer) *apiMetrics {
	return &apiMetrics{
		eventsAccepted: registerCollector(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_events_accepted_total",
			Help: "Events accepted by the API (stored with their deliveries), by type; repeats are not counted.",
		}, []string{"type"})),
		requests: registerCollector(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_api_requests_total",
			Help: "API requests by route (method and pattern, \"unmatched\" for none) and status.",
		}, []string{"route", "status"})),
		requestDuration: registerCollector(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_api_request_duration_seconds",
			Help:    "How long API requests take, by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"})),
	}
}

// registerCollector adds c to reg, or returns the collector registered before under the same
// description, so two handlers built on one registry share their series.
func registerCollector[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic("httpapi: register metrics: " + err.Error())
	}
	return c
}

func (m *apiMetrics) observe(route string, status int, took time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.requestDuration.WithLabelValues(route).Observe(took.Seconds())
}
