package portal

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/heraldhq/herald"
)

// Bounds on what the dashboard costs the database.
const (
	// statsTTL is how long a tenant's dashboard numbers are reused. The numbers span an
	// hour by the minute, so a quarter of a minute old is still right, and a room of
	// people reloading the dashboard costs one query every 15 s, not one per load.
	statsTTL = 15 * time.Second
	// statsTimeout bounds one DeliveryStats query, so a slow database answers the
	// dashboard with an error rather than holding requests and connections.
	statsTimeout = 15 * time.Second
)

// statsCache keeps each tenant's (and the admin's all-tenant) dashboard numbers for
// statsTTL, and makes concurrent loads of the same numbers share one store query.
type statsCache struct {
	store herald.Store
	clock herald.Clock
	group singleflight.Group

	mu      sync.Mutex
	entries map[string]statsEntry
}

type statsEntry struct {
	stats   *herald.DeliveryStats // shared by every page that shows it: read only
	expires time.Time
}

func newStatsCache(store herald.Store, clock herald.Clock) *statsCache {
	return &statsCache{store: store, clock: clock, entries: map[string]statsEntry{}}
}

// get returns the numbers f asks for, from the cache while they are fresh.
func (c *statsCache) get(ctx context.Context, f herald.StatsFilter) (*herald.DeliveryStats, error) {
	// The numbers are integers first, so the key cannot be confused whatever the
	// tenant id holds.
	key := fmt.Sprintf("%d %d %d %s", f.Since.UnixNano(), f.Until.UnixNano(), f.FailingLimit, f.TenantID)
	if st, ok := c.fresh(key); ok {
		return st, nil
	}
	ch := c.group.DoChan(key, func() (any, error) {
		// The query is shared by every request waiting for it, so it must not end when
		// the first of them goes away: it runs detached from that request, bounded by
		// its own timeout.
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statsTimeout)
		defer cancel()
		st, err := c.store.DeliveryStats(qctx, f)
		if err != nil {
			return nil, fmt.Errorf("delivery stats: %w", err)
		}
		c.put(key, st)
		return st, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*herald.DeliveryStats), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *statsCache) fresh(key string) (*herald.DeliveryStats, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !c.clock.Now().Before(e.expires) {
		return nil, false
	}
	return e.stats, true
}

// put keeps st under key, and drops the entries that expired: windows move each
// minute, so old keys are never asked for again.
func (c *statsCache) put(key string, st *herald.DeliveryStats) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	c.entries[key] = statsEntry{stats: st, expires: now.Add(statsTTL)}
}
