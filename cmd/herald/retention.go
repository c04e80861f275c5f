package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald"
)

// retentionConfig is how long herald serve keeps payloads, and how often it purges.
type retentionConfig struct {
	period   retentionPeriod
	interval time.Duration
	batch    int
	pause    time.Duration // between batches, so other writers take the lock in turn
}

func (c *retentionConfig) flags(fs *flag.FlagSet) {
	fs.Var(&c.period, "retention", "remove the event payloads and response bodies of deliveries finished longer ago than this, e.g. 30d or 12h, keeping their metadata (default 0: keep forever)")
	fs.DurationVar(&c.interval, "retention-interval", 10*time.Minute, "how often to look for payloads older than --retention")
	c.batch = herald.PurgeBatch
	c.pause = 50 * time.Millisecond
}

// validate checks the retention flags once parsed.
func (c *retentionConfig) validate() error {
	if c.period > 0 && c.interval <= 0 {
		return fmt.Errorf("--retention-interval must be above zero, not %s", c.interval)
	}
	return nil
}

// retentionPeriod is a flag.Value for --retention: a Go duration or a whole number of
// days with a d suffix (30d).
type retentionPeriod time.Duration

func (p *retentionPeriod) String() string {
	d := time.Duration(*p)
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

func (p *retentionPeriod) Set(s string) error {
	d, err := parseRetention(s)
	if err != nil {
		return err
	}
	*p = retentionPeriod(d)
	return nil
}

// parseRetention reads 30d, 36h, 90m or 0; a negative period is refused.
func parseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n > int64(1<<63-1)/int64(24*time.Hour) {
			return 0, fmt.Errorf("%q: want a duration such as 30d, 36h or 90m", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q: want a duration such as 30d, 36h or 90m", s)
		}
	}
	if d < 0 {
		return 0, fmt.Errorf("%q: a retention period cannot be negative", s)
	}
	return d, nil
}

// runRetention purges payloads older than the retention period every interval until
// ctx ends, starting at once. A failed purge is logged and tried again at the next
// interval: it never stops the server. With no retention period it returns at once.
func runRetention(ctx context.Context, cfg *retentionConfig, store herald.Store, logger *slog.Logger) error {
	if cfg.period <= 0 {
		return nil
	}
	for {
		r, took, err := purgeOnce(ctx, cfg, store, herald.SystemClock{})
		switch {
		case errors.Is(err, context.Canceled) && ctx.Err() != nil:
			return nil
		case err != nil:
			logger.Warn("retention: purge failed; trying again at the next interval", "error", err,
				"purged_deliveries", r.Deliveries, "purged_events", r.Events)
		case r.Deliveries > 0 || r.Events > 0:
			logger.Info("retention: removed old payloads", "purged_deliveries", r.Deliveries,
				"purged_events", r.Events, "duration_ms", took.Milliseconds(), "retention", cfg.period.String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(cfg.interval):
		}
	}
}

// purgeOnce purges batch after batch, each resuming the walk of events where the
// previous one left it, until one says the pass is done, and returns the totals and
// how long it took. It pauses after each batch that removed something, so that other
// writers take the lock in turn; a batch that only read goes straight on.
func purgeOnce(ctx context.Context, cfg *retentionConfig, store herald.Store, clock herald.Clock) (herald.PurgeResult, time.Duration, error) {
	start := clock.Now()
	// One cutoff for the whole pass, so a pass ends even while work keeps finishing.
	before := start.Add(-time.Duration(cfg.period))
	var total herald.PurgeResult
	var after herald.PurgeCursor
	for {
		r, err := store.PurgePayloads(ctx, herald.PurgeRequest{Before: before, Now: clock.Now(), Limit: cfg.batch, AfterEvent: after})
		total.Deliveries += r.Deliveries
		total.Events += r.Events
		if err != nil || r.Done {
			return total, clock.Now().Sub(start), err
		}
		after = r.NextEvent
		if r.Deliveries == 0 && r.Events == 0 {
			if err := ctx.Err(); err != nil {
				return total, clock.Now().Sub(start), err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return total, clock.Now().Sub(start), ctx.Err()
		case <-time.After(cfg.pause):
		}
	}
}
