package herald

import (
	"fmt"
	"time"
)

// NormalizeEvents returns the publications of ps with what their events left out filled
// in, as Publish stores them: an ID, the default tenant, CreatedAt now and a Timestamp
// of CreatedAt in whole seconds; times in UTC to the microsecond, as stores keep them.
func NormalizeEvents(ps []Publication, now time.Time) []Publication {
	out := make([]Publication, len(ps))
	for i, p := range ps {
		e := &p.Event
		if e.ID == "" {
			e.ID = NewID(PrefixEvent)
		}
		if e.TenantID == "" {
			e.TenantID = DefaultTenantID
		}
		if e.CreatedAt.IsZero() {
			e.CreatedAt = now
		}
		e.CreatedAt = e.CreatedAt.UTC().Truncate(time.Microsecond)
		if e.Timestamp.IsZero() {
			e.Timestamp = e.CreatedAt.Truncate(time.Second)
		}
		e.Timestamp = e.Timestamp.UTC().Truncate(time.Microsecond)
		out[i] = p
	}
	return out
}

// TenantKey is an idempotency key of a tenant.
type TenantKey struct{ Tenant, Key string }

// StoredKey is an idempotency key as stored: the event that took it, and when.
type StoredKey struct {
	EventID   string
	CreatedAt time.Time
}

// PublishState is what a store read, before a publish, of what the rules of Publication
// depend on, for the publications of one batch.
type PublishState struct {
	// EventTenants maps each of the batch's event ids that is stored already to its
	// tenant.
	EventTenants map[string]string
	// Keys maps each of the batch's idempotency keys that is stored already to what
	// took it.
	Keys map[TenantKey]StoredKey
	// TargetTenants maps each existing webhook named as a Target to its tenant.
	TargetTenants map[string]string
	// Subscribers maps each tenant publishing without a Target to its enabled webhooks,
	// oldest first (ID, Events, Channels and Filter are enough). Webhooks that do not
	// take an event may be among them: PlanPublish asks each (Webhook.Routes).
	Subscribers map[string][]Webhook
	// Matcher evaluates the subscribers' filters; when nil, no webhook with a filter
	// receives anything, so a store that forgot it leaks no event past a filter.
	Matcher Matcher
}

// PublishPlan is what Publish does with one publication, as PlanPublish decides it.
// Exactly one of RepeatOf, SameAs and a new event holds.
type PublishPlan struct {
	// Event is the publication's event; for a repeat of a stored idempotency key, its
	// ID is the stored event's, whose first result the publication returns.
	Event Event
	// RepeatOf, when set, is a stored event whose first result this publication
	// returns, marked Duplicate.
	RepeatOf string
	// SameAs, when above zero, is 1 plus the index of the earlier publication of the
	// batch whose result this one returns, marked Duplicate.
	SameAs int
	// Targets are the webhooks a new event is delivered to, one delivery each.
	Targets []string
	// TakesKey says this new event stores its idempotency key, in place of one stored
	// past its window. Of several new events of a batch with one key, the last takes it.
	TakesKey bool
}

// New reports whether the plan stores a new event.
func (p *PublishPlan) New() bool { return p.RepeatOf == "" && p.SameAs == 0 }

// PlanPublish applies the rules of Publication, in order, to normalized publications
// (see NormalizeEvents) and what is stored already (st), as if they came one by one.
// It fails, naming the publication within a batch, on an event id of another tenant
// (ECONFLICT) or a Target that is not the tenant's webhook (ENOTFOUND).
func PlanPublish(ps []Publication, st *PublishState) ([]PublishPlan, error) {
	plans := make([]PublishPlan, len(ps))
	batchEvents := map[string]int{}  // event id → index of the publication that stores it
	batchKeys := map[TenantKey]int{} // key → index of the last new publication with it
	for i, p := range ps {
		e := p.Event
		plans[i].Event = e
		fail := func(err error) ([]PublishPlan, error) {
			if len(ps) > 1 {
				return nil, fmt.Errorf("event %d of %d: %w", i+1, len(ps), err)
			}
			return nil, err
		}
		// The same event id: the first result for its tenant, a conflict for another.
		if j, ok := batchEvents[e.ID]; ok {
			if ps[j].Event.TenantID != e.TenantID {
				return fail(Errorf(ECONFLICT, "event %q already exists", e.ID))
			}
			plans[i].SameAs = j + 1
			continue
		}
		if owner, ok := st.EventTenants[e.ID]; ok {
			if owner != e.TenantID {
				return fail(Errorf(ECONFLICT, "event %q already exists", e.ID))
			}
			plans[i].RepeatOf = e.ID
			continue
		}
		// The same idempotency key within the window: the first result.
		tk := TenantKey{e.TenantID, p.IdempotencyKey}
		if p.IdempotencyKey != "" {
			if j, ok := batchKeys[tk]; ok && e.CreatedAt.Before(ps[j].Event.CreatedAt.Add(IdempotencyWindow)) {
				plans[i].SameAs = j + 1
				continue
			}
			if k, ok := st.Keys[tk]; ok && e.CreatedAt.Before(k.CreatedAt.Add(IdempotencyWindow)) {
				plans[i].RepeatOf = k.EventID
				plans[i].Event.ID = k.EventID
				continue
			}
		}
		if p.Target != "" {
			if tenant, ok := st.TargetTenants[p.Target]; !ok || tenant != e.TenantID {
				return fail(Errorf(ENOTFOUND, "webhook %q not found", p.Target))
			}
			plans[i].Targets = []string{p.Target}
		} else {
			var match func(string) bool // made at the first filter, once per event
			lazy := func(filter string) bool {
				if match == nil {
					if st.Matcher == nil {
						return false
					}
					match = st.Matcher.For(&plans[i].Event)
				}
				return match(filter)
			}
			for _, w := range st.Subscribers[e.TenantID] {
				if w.Routes(&e, lazy) {
					plans[i].Targets = append(plans[i].Targets, w.ID)
				}
			}
		}
		batchEvents[e.ID] = i
		if p.IdempotencyKey != "" {
			if j, ok := batchKeys[tk]; ok {
				plans[j].TakesKey = false
			}
			batchKeys[tk] = i
			plans[i].TakesKey = true
		}
	}
	return plans, nil
}
