package sqlite

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// leaseTable is the store's leases, held in memory: which owner is sending which
// delivery, until when. The process that owns the data directory is the only one
// using the file (see LockDir), so its memory is the only place a lease needs to be:
// taking one writes nothing, and after a crash none is left, so every delivery not
// recorded is due again the moment a new process opens the file.
//
// ClaimDue holds mu from the moment it reads which deliveries are leased until it has
// leased what it chose, and RecordAttempt drops a lease only after its record is
// committed. So a claim either sees a delivery leased or sees its attempt recorded:
// never a delivery no longer leased whose record it cannot see yet.
type leaseTable struct {
	mu   sync.Mutex
	held map[string]lease // by delivery id
}

// lease is one delivery's lease.
type lease struct {
	owner     string
	webhookID string
	until     time.Time
}

// leasedAt returns, with mu held, the ids of the deliveries under a lease that has not
// expired at now and how many of those each webhook has, and forgets the expired ones.
func (l *leaseTable) leasedAt(now time.Time) (ids []string, perWebhook map[string]int) {
	perWebhook = map[string]int{}
	for id, le := range l.held {
		if !le.until.After(now) {
			delete(l.held, id)
			continue
		}
		ids = append(ids, id)
		perWebhook[le.webhookID]++
	}
	return ids, perWebhook
}

// holder returns who holds the lease on a delivery, expired or not ("" for nobody).
func (l *leaseTable) holder(id string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held[id].owner
}

// tryTake leases one delivery to owner until until unless someone, owner included,
// holds an unexpired lease on it at now, and reports whether it did.
func (l *leaseTable) tryTake(id, webhookID, owner string, now, until time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if le, ok := l.held[id]; ok && le.until.After(now) {
		return false
	}
	l.held[id] = lease{owner: owner, webhookID: webhookID, until: until}
	return true
}

// drop ends owner's lease on a delivery; a lease someone else holds now stays theirs.
func (l *leaseTable) drop(id, owner string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[id].owner == owner {
		delete(l.held, id)
	}
}

// dropExact ends a lease only if it is still exactly the one given, so a failed
// ClaimDelivery undoes its own lease and never one taken since.
func (l *leaseTable) dropExact(id string, le lease) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[id] == le {
		delete(l.held, id)
	}
}

// release ends every lease owner holds.
func (l *leaseTable) release(owner string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	maps.DeleteFunc(l.held, func(_ string, le lease) bool { return le.owner == owner })
}

// unexpired returns the ids of the deliveries under a lease that has not expired at
// now, sorted.
func (l *leaseTable) unexpired(now time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	for id, le := range l.held {
		if le.until.After(now) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// leasedNow reports whether a delivery is under a lease that has not expired at now.
func (l *leaseTable) leasedNow(id string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	le, ok := l.held[id]
	return ok && le.until.After(now)
}
