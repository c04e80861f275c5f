package dispatch

import (
	"context"
	"slices"
	"sync"
)

// fairSlots hands out the dispatcher's request slots fairly between tenants. A slot
// that comes free goes to the next tenant in turn that has an attempt waiting and room
// under its share, and within that tenant to the next of its webhooks in turn, so an
// attempt waits behind at most one attempt of each other tenant and webhook, however
// many each has queued.
//
// A tenant holds at most its share: the slots less a reserve, divided among the
// tenants sending or waiting now. The reserve stays free for a tenant with nothing in
// flight yet, so one tenant whose endpoints hang, holding their slots until the
// attempt timeout, never makes a newcomer wait for them; when the newcomer arrives,
// every share shrinks and the slots the hung attempts give back go to the others.
type fairSlots struct {
	mu      sync.Mutex
	total   int
	reserve int
	held    int
	tenants map[string]*tenantSlots // tenants holding or waiting for a slot
	turn    []string                // tenants with attempts waiting, next served first
}

// tenantSlots is one tenant's part of fairSlots.
type tenantSlots struct {
	held  int
	queue map[string][]chan struct{} // webhook id → its waiting attempts, oldest first
	turn  []string                   // webhooks with attempts waiting, next served first
}

func newFairSlots(total int) *fairSlots {
	return &fairSlots{total: total, reserve: total / 8, tenants: map[string]*tenantSlots{}}
}

// share is how many slots one tenant may hold now.
func (s *fairSlots) share() int {
	return max(1, (s.total-s.reserve)/max(1, len(s.tenants)))
}

// acquire waits for a slot for an attempt of tenant to webhook, or for ctx to end.
func (s *fairSlots) acquire(ctx context.Context, tenant, webhook string) error {
	s.mu.Lock()
	t := s.tenants[tenant]
	if t == nil {
		t = &tenantSlots{queue: map[string][]chan struct{}{}}
		s.tenants[tenant] = t
	}
	if len(t.turn) == 0 && s.held < s.total && t.held < s.share() {
		s.held++
		t.held++
		s.mu.Unlock()
		return nil
	}
	ready := make(chan struct{})
	if len(t.queue[webhook]) == 0 {
		t.turn = append(t.turn, webhook)
	}
	t.queue[webhook] = append(t.queue[webhook], ready)
	if len(t.turn) == 1 && len(t.queue[webhook]) == 1 {
		s.turn = append(s.turn, tenant)
	}
	s.mu.Unlock()

	select {
	case <-ready:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-ready: // granted as ctx ended: hand the slot on
		s.releaseLocked(tenant)
	default:
		s.dropLocked(tenant, webhook, ready)
	}
	return ctx.Err()
}

// release gives back a slot tenant held and grants the freed room in turn.
func (s *fairSlots) release(tenant string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked(tenant)
}

func (s *fairSlots) releaseLocked(tenant string) {
	t := s.tenants[tenant]
	s.held--
	t.held--
	if t.held == 0 && len(t.turn) == 0 {
		delete(s.tenants, tenant)
	}
	s.grantLocked()
}

// grantLocked gives free slots to waiting attempts, tenant by tenant in turn, passing
// over tenants at their share.
func (s *fairSlots) grantLocked() {
	for passed := 0; s.held < s.total && passed < len(s.turn); {
		id := s.turn[0]
		t := s.tenants[id]
		if t.held >= s.share() {
			s.turn = append(s.turn[1:], id)
			passed++
			continue
		}
		webhook := t.turn[0]
		ready := t.queue[webhook][0]
		t.queue[webhook] = t.queue[webhook][1:]
		t.turn = t.turn[1:]
		if len(t.queue[webhook]) > 0 {
			t.turn = append(t.turn, webhook)
		} else {
			delete(t.queue, webhook)
		}
		s.turn = s.turn[1:]
		if len(t.turn) > 0 {
			s.turn = append(s.turn, id)
		}
		s.held++
		t.held++
		close(ready)
		passed = 0
	}
}

// dropLocked removes a waiting attempt whose caller gave up.
func (s *fairSlots) dropLocked(tenant, webhook string, ready chan struct{}) {
	t := s.tenants[tenant]
	t.queue[webhook] = slices.DeleteFunc(t.queue[webhook], func(c chan struct{}) bool { return c == ready })
	if len(t.queue[webhook]) == 0 {
		delete(t.queue, webhook)
		t.turn = slices.DeleteFunc(t.turn, func(w string) bool { return w == webhook })
	}
	if len(t.turn) == 0 {
		s.turn = slices.DeleteFunc(s.turn, func(id string) bool { return id == tenant })
		if t.held == 0 {
			delete(s.tenants, tenant)
		}
	}
	s.grantLocked() // the tenants' count, and so the share, may have changed
}

// waiting reports how many attempts wait for a slot, for tests.
func (s *fairSlots) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, t := range s.tenants {
		for _, q := range t.queue {
			n += len(q)
		}
	}
	return n
}
