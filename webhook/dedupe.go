package webhook

import (
	"context"
	"sync"
	"time"
)

// Deduper remembers delivery keys so that a retried delivery is handled once. Herald
// delivers at least once: a delivery whose answer was lost, or late, is sent again.
type Deduper interface {
	// Seen records key and reports whether it had been recorded before (and not
	// forgotten or expired since).
	Seen(ctx context.Context, key string) (bool, error)

	// Forget removes key, so that a delivery whose handling failed is handled again when
	// Herald retries it.
	Forget(ctx context.Context, key string) error
}

// DefaultDedupeTTL is how long NewMemoryDeduper(0) remembers a key: longer than Herald's
// longest retry schedule (standard's, about 28 hours, 33 with jitter).
const DefaultDedupeTTL = 48 * time.Hour

// MemoryDeduper is a Deduper that remembers keys in memory, each for a fixed time. It is
// safe for concurrent use. It suits a single process; several instances behind a load
// balancer need a shared Deduper (a database table with a unique key, Redis SET NX).
type MemoryDeduper struct {
	// MaxEntries, when positive, bounds the number of keys remembered: beyond it the
	// oldest are forgotten early. Set it before first use.
	MaxEntries int

	ttl time.Duration

	mu    sync.Mutex
	keys  map[string]record
	order []queued // keys in the order recorded, oldest first: expiry order too
	seq   uint64
}

// record is a remembered key: when it expires, and which recording it is.
type record struct {
	expires time.Time
	seq     uint64
}

// queued is one recording of a key. A key forgotten and recorded again is queued twice;
// seq tells the stale recording from the live one.
type queued struct {
	key string
	record
}

// NewMemoryDeduper returns a MemoryDeduper that remembers each key for ttl;
// ttl <= 0 means DefaultDedupeTTL.
func NewMemoryDeduper(ttl time.Duration) *MemoryDeduper {
	if ttl <= 0 {
		ttl = DefaultDedupeTTL
	}
	return &MemoryDeduper{ttl: ttl, keys: make(map[string]record)}
}

// Seen records key, for the deduper's TTL, and reports whether it was already
// remembered. Recording a key again does not extend its TTL. Expired keys are purged on
// every call.
func (d *MemoryDeduper) Seen(_ context.Context, key string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	d.purge(now)
	if _, ok := d.keys[key]; ok {
		return true, nil
	}
	d.seq++
	r := record{expires: now.Add(d.ttl), seq: d.seq}
	d.keys[key] = r
	d.order = append(d.order, queued{key, r})
	for d.MaxEntries > 0 && len(d.keys) > d.MaxEntries {
		d.dropOldest()
	}
	if len(d.order) > 2*len(d.keys)+64 { // mostly forgotten keys: keep memory bounded
		d.compact()
	}
	return false, nil
}

// Forget forgets key. It never fails.
func (d *MemoryDeduper) Forget(_ context.Context, key string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.keys, key)
	return nil
}

// Len reports how many keys are remembered, expired ones purged first.
func (d *MemoryDeduper) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.purge(time.Now())
	return len(d.keys)
}

// purge forgets the keys expired at now. Every key lives for the same TTL, so they
// expire in the order they were recorded.
func (d *MemoryDeduper) purge(now time.Time) {
	for len(d.order) > 0 && !d.order[0].expires.After(now) {
		d.dropOldest()
	}
}

// dropOldest dequeues the oldest recording, forgetting its key unless it was forgotten
// and recorded again since.
func (d *MemoryDeduper) dropOldest() {
	q := d.order[0]
	d.order[0] = queued{} // let the key's string be collected
	d.order = d.order[1:]
	if r, ok := d.keys[q.key]; ok && r.seq == q.seq {
		delete(d.keys, q.key)
	}
}

// compact drops the stale recordings of forgotten keys from the queue.
func (d *MemoryDeduper) compact() {
	live := make([]queued, 0, len(d.keys))
	for _, q := range d.order {
		if r, ok := d.keys[q.key]; ok && r.seq == q.seq {
			live = append(live, q)
		}
	}
	d.order = live
}
