package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald"
)

// backlogTimeout bounds the store read of one scrape: a scrape that waits longer than
// this for a busy database reports the backlog as missing rather than hang.
const backlogTimeout = 2 * time.Second

// backlogCollector reads the store's backlog at each scrape and exports it as gauges.
// The numbers are the database's, not this process's: every process sharing one
// PostgreSQL database reports the same ones, so aggregate them with max, not sum.
type backlogCollector struct {
	store  herald.Store
	clock  herald.Clock
	logger *slog.Logger

	pending, oldestAge, disabled *prometheus.Desc

	// Counting pending deliveries costs the database time in proportion to them, and
	// /metrics may be public (--metrics-public): one read runs at a time, and scrapes
	// that arrive during it share its answer.
	mu     sync.Mutex
	readAt time.Time // when the last read finished
	last   herald.Backlog
}

func newBacklogCollector(store herald.Store, clock herald.Clock, logger *slog.Logger) *backlogCollector {
	return &backlogCollector{
		store: store, clock: clock, logger: logger,
		pending: prometheus.NewDesc("herald_deliveries_pending",
			"Pending deliveries in the store: due or waiting for a retry, being sent or not.", nil, nil),
		oldestAge: prometheus.NewDesc("herald_oldest_pending_delivery_age_seconds",
			"How long the pending delivery that has been due the longest has waited since it became due "+
				"(0 when none is due): how far dispatching is behind.", nil, nil),
		disabled: prometheus.NewDesc("herald_webhooks_disabled",
			"Webhooks disabled now, by an operator or by their format's auto-disable rule.", nil, nil),
	}
}

// Describe sends the three gauges' descriptions.
func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.oldestAge
	ch <- c.disabled
}

// Collect reads the backlog and sends the gauges. When the store cannot answer in time
// the gauges are left out of this scrape, and the failure logged, rather than fail the
// whole scrape: the process's other series matter most when the database is in trouble.
func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.clock.Now()
	b, err := c.backlog(now)
	if err != nil {
		c.logger.Warn("metrics: read the delivery backlog", "err", err)
		return
	}
	var age time.Duration
	if b.OldestPendingDue != nil {
		age = max(now.Sub(*b.OldestPendingDue), 0)
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(b.Pending))
	ch <- prometheus.MustNewConstMetric(c.oldestAge, prometheus.GaugeValue, age.Seconds())
	ch <- prometheus.MustNewConstMetric(c.disabled, prometheus.GaugeValue, float64(b.DisabledWebhooks))
}

// backlog returns the store's backlog: a read that finished after the caller asked, or
// a new one.
func (c *backlogCollector) backlog(now time.Time) (herald.Backlog, error) {
	asked := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readAt.After(asked) {
		return c.last, nil // read while this scrape waited
	}
	ctx, cancel := context.WithTimeout(context.Background(), backlogTimeout)
	defer cancel()
	b, err := c.store.Backlog(ctx, now)
	if err != nil {
		return herald.Backlog{}, err
	}
	c.readAt, c.last = time.Now(), b
	return b, nil
}
