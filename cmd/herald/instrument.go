package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald"
)

// storeOperations label herald_store_operation_duration_seconds: the store methods that
// the API and the dispatcher call on every event, attempt, request or scrape.
var storeOperations = []string{
	"publish", "claim_due", "claim_delivery", "record_attempt",
	"delivery", "deliveries", "webhook", "webhooks", "backlog", "ping",
}

// instrumentedStore times the store's hot methods into a histogram by operation and
// passes every other method through untimed.
type instrumentedStore struct {
	herald.Store
	ops *prometheus.HistogramVec
}

// instrumentStore wraps s so that its hot methods are timed, and returns the histogram
// to register.
func instrumentStore(s herald.Store) (herald.Store, *prometheus.HistogramVec) {
	ops := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "herald_store_operation_duration_seconds",
		Help:    "How long store operations take, by operation, failures included.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"operation"})
	for _, op := range storeOperations {
		ops.WithLabelValues(op) // every series from the start, so a dashboard sees zero, not nothing
	}
	return &instrumentedStore{Store: s, ops: ops}, ops
}

// timer starts timing one call of operation op; ObserveDuration records it.
func (s *instrumentedStore) timer(op string) *prometheus.Timer {
	return prometheus.NewTimer(s.ops.WithLabelValues(op))
}

func (s *instrumentedStore) Publish(ctx context.Context, ps []herald.Publication) ([]herald.PublishResult, error) {
	defer s.timer("publish").ObserveDuration()
	return s.Store.Publish(ctx, ps)
}

func (s *instrumentedStore) ClaimDue(ctx context.Context, r herald.ClaimRequest) ([]herald.Claim, error) {
	defer s.timer("claim_due").ObserveDuration()
	return s.Store.ClaimDue(ctx, r)
}

func (s *instrumentedStore) ClaimDelivery(ctx context.Context, id, owner string, now, leaseUntil time.Time) (*herald.Claim, error) {
	defer s.timer("claim_delivery").ObserveDuration()
	return s.Store.ClaimDelivery(ctx, id, owner, now, leaseUntil)
}

func (s *instrumentedStore) RecordAttempt(ctx context.Context, r *herald.AttemptRecord) (herald.AttemptOutcome, error) {
	defer s.timer("record_attempt").ObserveDuration()
	return s.Store.RecordAttempt(ctx, r)
}

func (s *instrumentedStore) Delivery(ctx context.Context, id string) (*herald.Delivery, error) {
	defer s.timer("delivery").ObserveDuration()
	return s.Store.Delivery(ctx, id)
}

func (s *instrumentedStore) Deliveries(ctx context.Context, f herald.DeliveryFilter) ([]herald.Delivery, int, error) {
	defer s.timer("deliveries").ObserveDuration()
	return s.Store.Deliveries(ctx, f)
}

func (s *instrumentedStore) Webhook(ctx context.Context, id string) (*herald.Webhook, error) {
	defer s.timer("webhook").ObserveDuration()
	return s.Store.Webhook(ctx, id)
}

func (s *instrumentedStore) Webhooks(ctx context.Context, f herald.WebhookFilter) ([]herald.Webhook, int, error) {
	defer s.timer("webhooks").ObserveDuration()
	return s.Store.Webhooks(ctx, f)
}

func (s *instrumentedStore) Backlog(ctx context.Context, now time.Time) (herald.Backlog, error) {
	defer s.timer("backlog").ObserveDuration()
	return s.Store.Backlog(ctx, now)
}

func (s *instrumentedStore) Ping(ctx context.Context) error {
	defer s.timer("ping").ObserveDuration()
	return s.Store.Ping(ctx)
}
