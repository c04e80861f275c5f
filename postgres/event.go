package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heraldhq/herald"
)

// Publish stores events and their deliveries in one transaction: all or none. See
// herald.Publication for the rules, and PublishTx for how.
func (s *Store) Publish(ctx context.Context, ps []herald.Publication) ([]herald.PublishResult, error) {
	var results []herald.PublishResult
	var due time.Time
	err := s.inTx(ctx, "publish", func(ctx context.Context, tx pgx.Tx) (err error) {
		due = time.Time{}
		results, err = publish(ctx, tx, ps, s.now(), func(at time.Time) { due = at })
		return err
	})
	if err != nil {
		return nil, err
	}
	if !due.IsZero() {
		s.announce(due)
	}
	return results, nil
}

// PublishTx does what Store.Publish does inside the caller's transaction tx, on the
// database a Store uses: the events and their deliveries exist if and only if the caller
// commits. This is the transactional outbox: a producer that keeps its own data in the
// same database publishes in the transaction that changes it, so an event is never lost
// nor sent for a change that was rolled back. The notice that wakes dispatchers is
// queued in tx too, and PostgreSQL sends it only on commit.
//
// An event without an ID gets one, without a TenantID the default tenant, without a
// CreatedAt the current time. When PublishTx fails, tx is aborted and the caller must roll
// it back. A publish that meets another one writing the same event id or idempotency key
// at the same moment fails with ECONFLICT; run the transaction again to get the
// duplicate's result.
func PublishTx(ctx context.Context, tx pgx.Tx, ps []herald.Publication) ([]herald.PublishResult, error) {
	results, err := publish(ctx, tx, ps, stored(time.Now()), nil)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", dbError(err))
	}
	return results, nil
}

// publish stores the events of ps and their deliveries in tx, with two round trips
// whatever their number: one batch reads what the rules need (events and keys already
// stored, targets, subscribers), the other writes everything with one INSERT … SELECT
// FROM unnest(…) per table and queues the notice in tx; or, when announce is set, passes
// the notice's due time to it instead, for the caller to send after commit.
func publish(ctx context.Context, tx pgx.Tx, ps []herald.Publication, now time.Time, announce func(due time.Time)) ([]herald.PublishResult, error) {
	ps = herald.NormalizeEvents(ps, now)
	var eventIDs, targetIDs, tenants, keyTenants, keys []string
	types := []string{"*"} // what a subscriber of one of the events subscribes to
	seenTenant, seenType := map[string]bool{}, map[string]bool{"*": true}
	for _, p := range ps {
		e := &p.Event
		eventIDs = append(eventIDs, e.ID)
		if p.IdempotencyKey != "" {
			keyTenants, keys = append(keyTenants, e.TenantID), append(keys, p.IdempotencyKey)
		}
		if p.Target != "" {
			targetIDs = append(targetIDs, p.Target)
			continue
		}
		if !seenTenant[e.TenantID] {
			seenTenant[e.TenantID] = true
			tenants = append(tenants, e.TenantID)
		}
		if !seenType[e.Type] {
			seenType[e.Type] = true
			types = append(types, e.Type)
		}
	}

	// What is stored already.
	st := &herald.PublishState{EventTenants: map[string]string{}, Keys: map[herald.TenantKey]herald.StoredKey{},
		TargetTenants: map[string]string{}, Subscribers: map[string][]herald.Webhook{}, Matcher: filters}
	b := &pgx.Batch{}
	b.Queue("SELECT id, tenant_id FROM events WHERE id = ANY($1)", eventIDs).Query(func(rows pgx.Rows) error {
		var id, tenant string
		_, err := pgx.ForEachRow(rows, []any{&id, &tenant}, func() error {
			st.EventTenants[id] = tenant
			return nil
		})
		return err
	})
	if len(keys) > 0 {
		b.Queue(`SELECT k.tenant_id, k.key, k.event_id, k.created_at FROM idempotency_keys k
			JOIN unnest($1::text[], $2::text[]) AS u (tenant_id, key) ON k.tenant_id = u.tenant_id AND k.key = u.key`,
			keyTenants, keys).Query(func(rows pgx.Rows) error {
			var tk herald.TenantKey
			var k herald.StoredKey
			_, err := pgx.ForEachRow(rows, []any{&tk.Tenant, &tk.Key, &k.EventID, &k.CreatedAt}, func() error {
				st.Keys[tk] = k
				return nil
			})
			return err
		})
	}
	if len(targetIDs) > 0 {
		b.Queue("SELECT id, tenant_id FROM webhooks WHERE id = ANY($1)", targetIDs).Query(func(rows pgx.Rows) error {
			var id, tenant string
			_, err := pgx.ForEachRow(rows, []any{&id, &tenant}, func() error {
				st.TargetTenants[id] = tenant
				return nil
			})
			return err
		})
	}
	if len(tenants) > 0 {
		// FOR KEY SHARE: a webhook being disabled (which takes FOR UPDATE) is waited
		// for and read again, so no delivery is added behind the back of the disable,
		// which fails the pending ones. Attempts being recorded (FOR NO KEY UPDATE) are
		// not waited for.
		b.Queue(`SELECT id, tenant_id, events::text, filter, channels::text, ordering, updated_at FROM webhooks
			WHERE tenant_id = ANY($1) AND enabled AND (events = '[]' OR events ?| $2)
			ORDER BY created_at, id
			FOR KEY SHARE`, tenants, types).Query(func(rows pgx.Rows) error {
			var w herald.Webhook
			var tenant, subscribed, channels, ordering string
			dest := []any{&w.ID, &tenant, &subscribed, &w.Filter, &channels, &ordering, &w.UpdatedAt}
			_, err := pgx.ForEachRow(rows, dest, func() error {
				w.Events, w.Channels = nil, nil
				if err := json.Unmarshal([]byte(subscribed), &w.Events); err != nil {
					return fmt.Errorf("webhook %s events: %w", w.ID, err)
				}
				if err := json.Unmarshal([]byte(channels), &w.Channels); err != nil {
					return fmt.Errorf("webhook %s channels: %w", w.ID, err)
				}
				w.Ordering = herald.Ordering(ordering)
				w.UpdatedAt = w.UpdatedAt.UTC()
				st.Subscribers[tenant] = append(st.Subscribers[tenant], w)
				return nil
			})
			return err
		})
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}

	plans, err := herald.PlanPublish(ps, st)
	if err != nil {
		return nil, err
	}
	keyed := herald.KeyedWebhooks(st)
	keyPending, err := pendingKeys(ctx, tx, plans, keyed)
	if err != nil {
		return nil, err
	}
	results := make([]herald.PublishResult, len(plans))
	var repeats []string // stored events repeated, whose deliveries to load
	for i := range plans {
		switch p := &plans[i]; {
		case p.RepeatOf != "":
			repeats = append(repeats, p.RepeatOf)
		case p.New():
			ids := make([]string, len(p.Targets))
			for j := range ids {
				ids[j] = herald.NewID(herald.PrefixDelivery)
			}
			results[i] = herald.PublishResult{EventID: p.Event.ID, Deliveries: len(ids), DeliveryIDs: ids}
		}
	}

	// Write what is new, and read the deliveries of what repeats stored events.
	var ev struct {
		ids, tenants, types, data, traceparents []string
		channels, orderingKeys                  []string
		timestamps, created                     []time.Time
	}
	var dl struct {
		ids, events, webhooks, tenants, types, keys []string
		created                                     []time.Time
		next                                        []*time.Time
	}
	var ik struct {
		tenants, keys, events []string
		created               []time.Time
	}
	var due time.Time // the earliest new delivery's due time, for the notice
	for i := range plans {
		p := &plans[i]
		e := &p.Event
		if !p.New() {
			continue // a repeat
		}
		data := string(e.Data)
		if data == "" {
			data = "null"
		}
		ev.ids, ev.tenants, ev.types = append(ev.ids, e.ID), append(ev.tenants, e.TenantID), append(ev.types, e.Type)
		ev.data, ev.timestamps, ev.created = append(ev.data, data), append(ev.timestamps, e.Timestamp), append(ev.created, e.CreatedAt)
		ev.traceparents = append(ev.traceparents, herald.Storable(e.TraceParent))
		channels, err := jsonList(e.Channels)
		if err != nil {
			return nil, fmt.Errorf("publish: event %s channels: %w", e.ID, err)
		}
		ev.channels, ev.orderingKeys = append(ev.channels, channels), append(ev.orderingKeys, e.OrderingKey)
		for j, id := range results[i].DeliveryIDs {
			dl.ids, dl.events, dl.webhooks = append(dl.ids, id), append(dl.events, e.ID), append(dl.webhooks, p.Targets[j])
			dl.tenants, dl.types, dl.created = append(dl.tenants, e.TenantID), append(dl.types, e.Type), append(dl.created, e.CreatedAt)
			key := herald.DeliveryOrderingKey(e, keyed[p.Targets[j]])
			dl.keys = append(dl.keys, key)
			// Behind a pending delivery of its key, it waits unscheduled (see unparkNext).
			next := &e.CreatedAt
			if k := [2]string{p.Targets[j], key}; key != "" {
				if keyPending[k] {
					next = nil
				}
				keyPending[k] = true
			}
			dl.next = append(dl.next, next)
			if due.IsZero() || e.CreatedAt.Before(due) {
				due = e.CreatedAt
			}
		}
		if p.TakesKey {
			ik.tenants, ik.keys = append(ik.tenants, e.TenantID), append(ik.keys, ps[i].IdempotencyKey)
			ik.events, ik.created = append(ik.events, e.ID), append(ik.created, e.CreatedAt)
		}
	}
	b = &pgx.Batch{}
	if len(ev.ids) > 0 {
		b.Queue(`INSERT INTO events (id, tenant_id, type, data, timestamp, created_at, traceparent, channels, ordering_key)
			SELECT id, tenant, type, data, ts, created, tp, channels::jsonb, ordering_key
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::text[],
				$8::text[], $9::text[]) AS u (id, tenant, type, data, ts, created, tp, channels, ordering_key)`,
			ev.ids, ev.tenants, ev.types, ev.data, ev.timestamps, ev.created, ev.traceparents, ev.channels, ev.orderingKeys)
	}
	if len(dl.ids) > 0 {
		b.Queue(`INSERT INTO deliveries (id, event_id, webhook_id, tenant_id, event_type, status,
				attempt_count, next_attempt_at, last_error, created_at, updated_at, ordering_key)
			SELECT id, event_id, webhook_id, tenant_id, event_type, 'pending', 0, next, '', created, created, ordering_key
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::timestamptz[])
				AS u (id, event_id, webhook_id, tenant_id, event_type, created, ordering_key, next)`,
			dl.ids, dl.events, dl.webhooks, dl.tenants, dl.types, dl.created, dl.keys, dl.next)
	}
	if len(ik.keys) > 0 {
		// A key is taken over only past its window: if another publish took it since
		// it was read, fewer rows are written, and this publish has raced with it.
		b.Queue(`INSERT INTO idempotency_keys AS k (tenant_id, key, event_id, created_at)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
			ON CONFLICT (tenant_id, key) DO UPDATE SET event_id = excluded.event_id, created_at = excluded.created_at
			WHERE excluded.created_at >= k.created_at + $5::bigint * interval '1 microsecond'`,
			ik.tenants, ik.keys, ik.events, ik.created, herald.IdempotencyWindow.Microseconds()).
			Exec(func(tag pgconn.CommandTag) error {
				if tag.RowsAffected() != int64(len(ik.keys)) {
					return errRaced
				}
				return nil
			})
	}
	firsts := map[string][]string{} // stored event id → its delivery ids
	if len(repeats) > 0 {
		b.Queue("SELECT event_id, id FROM deliveries WHERE event_id = ANY($1) ORDER BY event_id, id", repeats).
			Query(func(rows pgx.Rows) error {
				var eventID, id string
				_, err := pgx.ForEachRow(rows, []any{&eventID, &id}, func() error {
					firsts[eventID] = append(firsts[eventID], id)
					return nil
				})
				return err
			})
	}
	switch {
	case due.IsZero():
	case announce != nil:
		announce(due)
	default:
		queueNotice(b, due)
	}
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return nil, markRaced(err)
		}
	}

	for i := range plans {
		p := &plans[i]
		switch {
		case p.SameAs != 0:
			first := results[p.SameAs-1]
			results[i] = herald.PublishResult{EventID: first.EventID, Deliveries: first.Deliveries,
				DeliveryIDs: first.DeliveryIDs, Duplicate: true}
		case p.RepeatOf != "":
			ids := firsts[p.RepeatOf]
			if ids == nil {
				ids = []string{}
			}
			results[i] = herald.PublishResult{EventID: p.RepeatOf, Deliveries: len(ids), DeliveryIDs: ids, Duplicate: true}
		}
	}
	return results, nil
}

// queueNotice queues, in b, the notice that deliveries are due at due: pg_notify, so it
// is sent when, and only if, the transaction commits.
func queueNotice(b *pgx.Batch, due time.Time) {
	b.Queue("SELECT pg_notify($1, $2)", noticeChannel, strconv.FormatInt(due.UnixMicro(), 10))
}

// markRaced marks a unique or foreign key violation of a publish's writes as errRaced:
// another transaction stored the same event id or idempotency key, or deleted a
// subscriber, between the publish's reads and its writes. Store.Publish runs again and
// sees what it did.
func markRaced(err error) error {
	if code := sqlState(err); code == "23505" || code == "23503" {
		return fmt.Errorf("%w: %w", errRaced, err)
	}
	return err
}

// Event returns one event, ENOTFOUND if there is none.
func (s *Store) Event(ctx context.Context, id string) (*herald.Event, error) {
	var e herald.Event
	var data, channels string
	err := s.read(ctx, "event "+id, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `SELECT id, tenant_id, type, data, timestamp, created_at, traceparent,
			channels::text, ordering_key FROM events WHERE id = $1`, id).
			Scan(&e.ID, &e.TenantID, &e.Type, &data, &e.Timestamp, &e.CreatedAt, &e.TraceParent, &channels, &e.OrderingKey)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("event", id)
	}
	if err != nil {
		return nil, err
	}
	e.Data = json.RawMessage(data)
	e.Timestamp, e.CreatedAt = e.Timestamp.UTC(), e.CreatedAt.UTC()
	if err := json.Unmarshal([]byte(channels), &e.Channels); err != nil {
		return nil, fmt.Errorf("event %s channels: %w", id, err)
	}
	return &e, nil
}
