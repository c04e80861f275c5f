package webhook

import (
	"context"
	"sync"
	"time"
)

// Deduper remembers which deliveries were handled, so a retried delivery is handled
// once. Herald delivers at least once: a delivery whose answer was lost, late or not
// 2xx is sent again.
//
// A key is marked only once its delivery was handled, never before: a receiver that
// dies while handling (a deploy, the OOM killer) leaves it unmarked, and Herald's retry,
// which it sends since it got no 2xx, is handled rather than skipped as a duplicate.
// The other side of that bargain is that a delivery can be handled twice, when a copy
// arrives before the first finished handling on another instance, or when marking it
// fails: at least once, not exactly once. A handler that must not act twice records the
// key itself, in the same transaction as its work.
type Deduper interface {
	// Seen reports whether key was marked Done (and has not expired). It records
	// nothing.
	Seen(ctx context.Context, key string) (bool, error)

	// Done marks key handled. Call it only after the delivery's handling succeeded: a
	// receiver that dies before it leaves the key unmarked, and Herald's retry is
	// handled.
	Done(ctx context.Context, key string) error
}

// DefaultDedupeTTL is how long NewMemoryDeduper(0) remembers a key: longer than Herald's
// longest retry schedule (standard's, about 28 hours, 33 with jitter).
const DefaultDedupeTTL = 48 * time.Hour

// MemoryDeduper is a Deduper that remembers keys in memory, each for a fixed time from
// when it was marked Done. It is safe for concurrent use. It suits a single process; it
// forgets everything on restart, and several instances behind a load balancer need a
// shared Deduper (a database table with a unique key, a Redis key with an expiry).
type MemoryDeduper struct {
	// MaxEntries, when positive, bounds the number of keys remembered: beyond it the
	// oldest are forgotten early. Set it before first use.
	MaxEntries int

	ttl time.Duration

	mu    sync.Mutex
	keys  map[string]struct{} // the keys marked and not expired: each is queued once
	order []marked            // keys in the order marked, oldest first: expiry order too
}

// marked is one key marked Done, and when it expires.
type marked struct {
	key     string
	expires time.Time
}

// NewMemoryDeduper returns a MemoryDeduper that remembers each key for ttl;
// ttl <= 0 means DefaultDedupeTTL.
func NewMemoryDeduper(ttl time.Duration) *MemoryDeduper {
	if ttl <= 0 {
		ttl = DefaultDedupeTTL
	}
	return &MemoryDeduper{ttl: ttl, keys: make(map[string]struct{})}
}

// Seen reports whether key was marked Done within the deduper's TTL. It records nothing.
// It never fails.
func (d *MemoryDeduper) Seen(_ context.Context, key string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.purge(time.Now())
	_, ok := d.keys[key]
	return ok, nil
}

// Done remembers key for the deduper's TTL. Marking a key again before it expired does
// not extend its TTL. It never fails.
func (d *MemoryDeduper) Done(_ context.Context, key string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	d.purge(now)
	if _, ok := d.keys[key]; ok {
		return nil
	}
	d.keys[key] = struct{}{}
	d.order = append(d.order, marked{key: key, expires: now.Add(d.ttl)})
	for d.MaxEntries > 0 && len(d.keys) > d.MaxEntries {
		d.dropOldest()
	}
	return nil
}

// Len reports how many keys are remembered, expired ones purged first.
func (d *MemoryDeduper) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.purge(time.Now())
	return len(d.keys)
}

// purge forgets the keys expired at now. Every key lives for the same TTL from when it
// was marked, so they expire in the order they were marked.
func (d *MemoryDeduper) purge(now time.Time) {
	for len(d.order) > 0 && !d.order[0].expires.After(now) {
		d.dropOldest()
	}
}

// dropOldest forgets the oldest key. Keys leave only through here, and a key is marked
// again only once it has left, so the queue and the map hold the same keys.
func (d *MemoryDeduper) dropOldest() {
	delete(d.keys, d.order[0].key)
	d.order[0] = marked{} // let the key's string be collected
	d.order = d.order[1:]
}
