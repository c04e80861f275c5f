package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/heraldhq/herald"
)

// eventOwnersQuery finds the tenants of the event ids in a JSON array, to tell a repeat
// from a conflict for a whole batch in one query rather than one query per event.
const eventOwnersQuery = "SELECT id, tenant_id FROM events WHERE id IN (SELECT value FROM json_each(?))"

// The multi-row INSERTs a publish writes its rows with. A batch is cut into statements
// of insertChunks rows, largest first, so a batch of 1,000 events is a dozen statement
// executions rather than 2,000 (each execution opens and closes a cursor on every index
// of the table, which cost more than the row itself), and every size is prepared once
// when the store opens (see hotQueries) rather than parsed per publish. Large chunks
// matter beyond that: a multi-row INSERT writes the pages it changes to a statement
// journal first (to undo a failed row), once per statement, so 64-row chunks spent a
// fifth of a batch's CPU there and 256-row chunks a quarter of that. 256 rows of
// deliveries are 2,048 parameters, far below SQLite's limit of 32,766.
var insertChunks = []int{256, 16, 1}

// eventParams is how many parameters a row of insertEventsQuery takes.
const eventParams = 9

// insertEventsQuery and insertDeliveriesQuery are the INSERTs of n rows.
func insertEventsQuery(n int) string {
	return "INSERT INTO events (id, tenant_id, type, data, timestamp, created_at, traceparent, channels, ordering_key) VALUES " +
		rowsOf("(?, ?, ?, ?, ?, ?, ?, ?, ?)", n)
}

func insertDeliveriesQuery(n int) string {
	return `INSERT INTO deliveries (id, event_id, webhook_id, tenant_id, event_type, status,
			attempt_count, next_attempt_at, last_error, created_at, updated_at, ordering_key) VALUES ` +
		rowsOf("(?, ?, ?, ?, ?, 'pending', 0, ?, '', ?, ?, ?)", n)
}

// rowsOf repeats a VALUES row n times.
func rowsOf(row string, n int) string {
	return strings.Repeat(row+", ", n-1) + row
}

// eventInserts and deliveryInserts hold the INSERT of each chunk size, built once.
var (
	eventInserts    = bySize(insertEventsQuery)
	deliveryInserts = bySize(insertDeliveriesQuery)
)

func bySize(query func(n int) string) map[int]string {
	qs := make(map[int]string, len(insertChunks))
	for _, n := range insertChunks {
		qs[n] = query(n)
	}
	return qs
}

// insertQueries are the hot INSERTs of every chunk size, for hotQueries.
func insertQueries() []string {
	var qs []string
	for _, n := range insertChunks {
		qs = append(qs, eventInserts[n], deliveryInserts[n])
	}
	return qs
}

// Publish stores events and their deliveries in one transaction: all or none. See
// herald.Publication for the rules. An event without an ID gets one, without a TenantID
// the default tenant, without a CreatedAt the current time.
//
// A batch costs about one statement per 64 rows: the repeats are found with one query
// for all the ids, and the rows are written with multi-row INSERTs once every
// publication is decided.
func (s *Store) Publish(ctx context.Context, ps []herald.Publication) ([]herald.PublishResult, error) {
	var results []herald.PublishResult
	err := s.inRepeatableTx(ctx, "publish", func(ctx context.Context, tx *sql.Tx) error {
		p := &publisher{s: s, ctx: ctx, tx: tx, now: s.now(), subscribers: map[string][]herald.Webhook{}}
		var err error
		results, err = p.publishAll(ps)
		return err
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// publisher publishes one batch within one transaction.
type publisher struct {
	s           *Store
	ctx         context.Context
	tx          *sql.Tx
	now         time.Time
	subscribers map[string][]herald.Webhook // enabled webhooks by tenant

	events []herald.Event // events to insert, in order
	rows   []any          // the deliveries' INSERT parameters, deliveryParams per row
	keys   []any          // the idempotency keys' upsert parameters, 4 per key

	// keyPending says, per webhook and ordering key, that a delivery of the key is
	// pending: stored, or queued by this batch.
	keyPending map[[2]string]bool
}

// dueAt is when a new delivery of webhookID with ordering key key, created at created,
// is due: then, unless a delivery of its key is pending before it, in which case it
// waits unscheduled (nil) until that one finishes (see unparkNext).
func (p *publisher) dueAt(webhookID, key string, created int64) (any, error) {
	if key == "" {
		return created, nil
	}
	k := [2]string{webhookID, key}
	pending, ok := p.keyPending[k]
	if !ok {
		err := p.tx.QueryRowContext(p.ctx, `SELECT EXISTS (SELECT 1 FROM deliveries INDEXED BY deliveries_ordering
			WHERE webhook_id = ? AND ordering_key = ? AND status = 'pending' AND ordering_key <> '')`, webhookID, key).Scan(&pending)
		if err != nil {
			return nil, err
		}
		if p.keyPending == nil {
			p.keyPending = map[[2]string]bool{}
		}
	}
	p.keyPending[k] = true
	if pending {
		return nil, nil
	}
	return created, nil
}

// deliveryParams is how many parameters one row of insertDeliveriesQuery takes.
const deliveryParams = 9

// publishAll reads what herald.PlanPublish needs, applies it, and queues and flushes the
// rows of what is new.
func (p *publisher) publishAll(ps []herald.Publication) ([]herald.PublishResult, error) {
	ps = herald.NormalizeEvents(ps, p.now)
	st, err := p.state(ps)
	if err != nil {
		return nil, err
	}
	plans, err := herald.PlanPublish(ps, st)
	if err != nil {
		return nil, err
	}
	keyed := herald.KeyedWebhooks(st)
	results := make([]herald.PublishResult, len(plans))
	for i := range plans {
		plan := &plans[i]
		switch {
		case plan.SameAs != 0:
			results[i] = results[plan.SameAs-1]
			results[i].Duplicate = true
		case plan.RepeatOf != "":
			if results[i], err = firstResult(p.ctx, p.tx, plan.RepeatOf); err != nil {
				return nil, err
			}
		default:
			e := plan.Event
			created := micros(e.CreatedAt)
			ids := make([]string, 0, len(plan.Targets))
			for _, webhookID := range plan.Targets {
				id := herald.NewID(herald.PrefixDelivery)
				key := herald.DeliveryOrderingKey(&e, keyed[webhookID])
				due, err := p.dueAt(webhookID, key, created)
				if err != nil {
					return nil, err
				}
				p.rows = append(p.rows, id, e.ID, webhookID, e.TenantID, e.Type, due, created, created, key)
				ids = append(ids, id)
			}
			p.events = append(p.events, e)
			if plan.TakesKey {
				p.keys = append(p.keys, e.TenantID, ps[i].IdempotencyKey, e.ID, created)
			}
			results[i] = herald.PublishResult{EventID: e.ID, Deliveries: len(ids), DeliveryIDs: ids}
		}
	}
	if err := p.flush(); err != nil {
		return nil, err
	}
	return results, nil
}

// state reads what the rules of herald.Publication depend on for ps: the events and
// idempotency keys stored already, the targets' tenants, the subscribers.
func (p *publisher) state(ps []herald.Publication) (*herald.PublishState, error) {
	st := &herald.PublishState{EventTenants: map[string]string{}, Keys: map[herald.TenantKey]herald.StoredKey{},
		TargetTenants: map[string]string{}, Subscribers: map[string][]herald.Webhook{}, Matcher: filters}
	ids := make([]string, len(ps))
	for i := range ps {
		ids[i] = ps[i].Event.ID
	}
	if err := p.loadOwners(ids, st.EventTenants); err != nil {
		return nil, err
	}
	for _, pub := range ps {
		e := &pub.Event
		if pub.IdempotencyKey != "" {
			k := herald.TenantKey{Tenant: e.TenantID, Key: pub.IdempotencyKey}
			if _, ok := st.Keys[k]; !ok {
				var firstID string
				var firstAt int64
				err := p.tx.QueryRowContext(p.ctx, "SELECT event_id, created_at FROM idempotency_keys WHERE tenant_id = ? AND key = ?",
					k.Tenant, k.Key).Scan(&firstID, &firstAt)
				switch {
				case err == nil:
					st.Keys[k] = herald.StoredKey{EventID: firstID, CreatedAt: fromMicros(firstAt)}
				case !errors.Is(err, sql.ErrNoRows):
					return nil, err
				}
			}
		}
		if pub.Target != "" {
			if _, ok := st.TargetTenants[pub.Target]; !ok {
				var tenant string
				err := p.tx.QueryRowContext(p.ctx, "SELECT tenant_id FROM webhooks WHERE id = ?", pub.Target).Scan(&tenant)
				switch {
				case err == nil:
					st.TargetTenants[pub.Target] = tenant
				case !errors.Is(err, sql.ErrNoRows):
					return nil, err
				}
			}
			continue
		}
		ws, err := p.enabledWebhooks(e.TenantID)
		if err != nil {
			return nil, err
		}
		st.Subscribers[e.TenantID] = ws
	}
	return st, nil
}

// loadOwners finds which of ids are stored already, and their tenants.
func (p *publisher) loadOwners(ids []string, owners map[string]string) error {
	list, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	rows, err := p.s.query(p.ctx, p.tx, eventOwnersQuery, string(list))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, tenant string
		if err := rows.Scan(&id, &tenant); err != nil {
			return err
		}
		owners[id] = tenant
	}
	return rows.Err()
}

// flush writes the queued rows: the events, then their deliveries and idempotency keys,
// which refer to them.
func (p *publisher) flush() error {
	params := make([]any, 0, len(p.events)*eventParams)
	for _, e := range p.events {
		data := string(e.Data)
		if data == "" {
			data = "null"
		}
		channels, err := jsonList(e.Channels)
		if err != nil {
			return err
		}
		params = append(params, e.ID, e.TenantID, e.Type, data, micros(e.Timestamp), micros(e.CreatedAt),
			e.TraceParent, channels, e.OrderingKey)
	}
	if err := p.insertRows(eventInserts, params, eventParams); err != nil {
		return err
	}
	if err := p.insertRows(deliveryInserts, p.rows, deliveryParams); err != nil {
		return err
	}
	for k := 0; k < len(p.keys); k += 4 {
		// A key past its window is taken over by this event.
		_, err := p.tx.ExecContext(p.ctx, `
			INSERT INTO idempotency_keys (tenant_id, key, event_id, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (tenant_id, key) DO UPDATE SET event_id = excluded.event_id, created_at = excluded.created_at`,
			p.keys[k:k+4]...)
		if err != nil {
			return err
		}
	}
	return nil
}

// insertRows runs the INSERTs of queries over params, perRow parameters a row, in chunks
// of the sizes of insertChunks, largest first.
func (p *publisher) insertRows(queries map[int]string, params []any, perRow int) error {
	for _, n := range insertChunks {
		for len(params) >= n*perRow {
			if _, err := p.s.exec(p.ctx, p.tx, queries[n], params[:n*perRow]...); err != nil {
				return err
			}
			params = params[n*perRow:]
		}
	}
	return nil
}

// subscribersQuery reads a tenant's enabled webhooks for enabledWebhooks.
const subscribersQuery = `SELECT id, events, filter, channels, ordering, updated_at FROM webhooks
	WHERE tenant_id = ? AND enabled = 1 ORDER BY created_at, id`

// enabledWebhooks returns the enabled webhooks of a tenant: what routing reads (id,
// events, filter, channels, ordering) and their version (UpdatedAt).
func (p *publisher) enabledWebhooks(tenantID string) ([]herald.Webhook, error) {
	if ws, ok := p.subscribers[tenantID]; ok {
		return ws, nil
	}
	rows, err := p.s.query(p.ctx, p.tx, subscribersQuery, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ws []herald.Webhook
	for rows.Next() {
		var w herald.Webhook
		var events, channels, ordering string
		var updated int64
		if err := rows.Scan(&w.ID, &events, &w.Filter, &channels, &ordering, &updated); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(events), &w.Events); err != nil {
			return nil, fmt.Errorf("webhook %s events: %w", w.ID, err)
		}
		if err := json.Unmarshal([]byte(channels), &w.Channels); err != nil {
			return nil, fmt.Errorf("webhook %s channels: %w", w.ID, err)
		}
		w.Ordering = herald.Ordering(ordering)
		w.UpdatedAt = fromMicros(updated)
		ws = append(ws, w)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	p.subscribers[tenantID] = ws
	return ws, nil
}

// firstResult is what publishing an event returned: its id and deliveries.
func firstResult(ctx context.Context, tx *sql.Tx, eventID string) (herald.PublishResult, error) {
	rows, err := tx.QueryContext(ctx, "SELECT id FROM deliveries WHERE event_id = ? ORDER BY rowid", eventID)
	if err != nil {
		return herald.PublishResult{}, err
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return herald.PublishResult{}, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return herald.PublishResult{}, err
	}
	return herald.PublishResult{EventID: eventID, Deliveries: len(ids), DeliveryIDs: ids, Duplicate: true}, nil
}

// Event returns one event, ENOTFOUND if there is none.
func (s *Store) Event(ctx context.Context, id string) (*herald.Event, error) {
	var e herald.Event
	var data, channels string
	var ts, created int64
	err := s.read.QueryRowContext(ctx, `SELECT id, tenant_id, type, data, timestamp, created_at, traceparent,
		channels, ordering_key FROM events WHERE id = ?`, id).
		Scan(&e.ID, &e.TenantID, &e.Type, &data, &ts, &created, &e.TraceParent, &channels, &e.OrderingKey)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("event", id)
	}
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", id, unavailable(err))
	}
	e.Data = json.RawMessage(data)
	e.Timestamp = fromMicros(ts)
	e.CreatedAt = fromMicros(created)
	if err := json.Unmarshal([]byte(channels), &e.Channels); err != nil {
		return nil, fmt.Errorf("event %s channels: %w", id, err)
	}
	return &e, nil
}
