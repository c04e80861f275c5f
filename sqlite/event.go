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

// insertEventsQuery and insertDeliveriesQuery are the INSERTs of n rows.
func insertEventsQuery(n int) string {
	return "INSERT INTO events (id, tenant_id, type, data, timestamp, created_at, traceparent) VALUES " +
		rowsOf("(?, ?, ?, ?, ?, ?, ?)", n)
}

func insertDeliveriesQuery(n int) string {
	return `INSERT INTO deliveries (id, event_id, webhook_id, tenant_id, event_type, status,
			attempt_count, next_attempt_at, last_error, created_at, updated_at) VALUES ` +
		rowsOf("(?, ?, ?, ?, ?, 'pending', 0, ?, '', ?, ?)", n)
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
		p := &publisher{s: s, ctx: ctx, tx: tx, now: s.now(), subscribers: map[string][]herald.Webhook{},
			byID: make(map[string]int, len(ps))}
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

	owners  map[string]string // tenant of each id of the batch already stored
	byID    map[string]int    // index of the publication that stores each new id
	byKey   map[tenantKey]int // index of the publication that took each idempotency key
	results []herald.PublishResult
	events  []herald.Event // events to insert, in order
	// eventResult[j] is the index in results of events[j].
	eventResult []int
	rows        []any // the deliveries' INSERT parameters, deliveryParams per row
	keys        []any // the idempotency keys' upsert parameters, 4 per key
}

// tenantKey is an idempotency key of a tenant.
type tenantKey struct{ tenant, key string }

// deliveryParams is how many parameters one row of insertDeliveriesQuery takes.
const deliveryParams = 8

func (p *publisher) publishAll(ps []herald.Publication) ([]herald.PublishResult, error) {
	p.results = make([]herald.PublishResult, len(ps))
	evs := make([]herald.Event, len(ps))
	ids := make([]string, len(ps))
	for i := range ps {
		evs[i] = p.normalize(ps[i].Event)
		ids[i] = evs[i].ID
	}
	if err := p.loadOwners(ids); err != nil {
		return nil, err
	}
	for i := range ps {
		if err := p.publish(i, evs[i], ps[i]); err != nil {
			if len(ps) > 1 {
				return nil, fmt.Errorf("event %d of %d: %w", i+1, len(ps), err)
			}
			return nil, err
		}
	}
	if err := p.flush(); err != nil {
		return nil, err
	}
	return p.results, nil
}

// normalize fills in what an event left out.
func (p *publisher) normalize(e herald.Event) herald.Event {
	if e.ID == "" {
		e.ID = herald.NewID(herald.PrefixEvent)
	}
	if e.TenantID == "" {
		e.TenantID = herald.DefaultTenantID
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = p.now
	}
	if e.Timestamp.IsZero() {
		e.Timestamp = e.CreatedAt.Truncate(time.Second)
	}
	return e
}

// loadOwners finds which of ids are stored already, and their tenants.
func (p *publisher) loadOwners(ids []string) error {
	list, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	rows, err := p.s.query(p.ctx, p.tx, eventOwnersQuery, string(list))
	if err != nil {
		return err
	}
	defer rows.Close()
	p.owners = map[string]string{}
	for rows.Next() {
		var id, tenant string
		if err := rows.Scan(&id, &tenant); err != nil {
			return err
		}
		p.owners[id] = tenant
	}
	return rows.Err()
}

// publish decides publication i: a repeat of what is stored or of an earlier one of
// the batch, or a new event whose rows are queued for flush.
func (p *publisher) publish(i int, e herald.Event, pub herald.Publication) error {
	ctx, tx := p.ctx, p.tx

	// The same event id: the first result for its tenant, a conflict for another.
	if owner, ok := p.owners[e.ID]; ok {
		if owner != e.TenantID {
			return conflict("event", e.ID)
		}
		r, err := firstResult(ctx, tx, e.ID)
		p.results[i] = r
		return err
	}
	if j, ok := p.byID[e.ID]; ok {
		if p.events[j].TenantID != e.TenantID {
			return conflict("event", e.ID)
		}
		p.results[i] = p.repeatOf(j)
		return nil
	}

	// The same idempotency key within the window: the first result. Earlier
	// publications of the batch are not written yet, so they are looked up first.
	if pub.IdempotencyKey != "" {
		k := tenantKey{e.TenantID, pub.IdempotencyKey}
		if j, ok := p.byKey[k]; ok {
			if e.CreatedAt.Before(p.events[j].CreatedAt.Add(herald.IdempotencyWindow)) {
				p.results[i] = p.repeatOf(j)
				return nil
			}
		} else {
			var firstID string
			var firstAt int64
			err := tx.QueryRowContext(ctx, "SELECT event_id, created_at FROM idempotency_keys WHERE tenant_id = ? AND key = ?",
				e.TenantID, pub.IdempotencyKey).Scan(&firstID, &firstAt)
			switch {
			case err == nil && e.CreatedAt.Before(fromMicros(firstAt).Add(herald.IdempotencyWindow)):
				r, err := firstResult(ctx, tx, firstID)
				p.results[i] = r
				return err
			case err != nil && !errors.Is(err, sql.ErrNoRows):
				return err
			}
		}
	}

	var targets []string
	if pub.Target != "" {
		var tenant string
		err := tx.QueryRowContext(ctx, "SELECT tenant_id FROM webhooks WHERE id = ?", pub.Target).Scan(&tenant)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && tenant != e.TenantID) {
			return notFound("webhook", pub.Target)
		}
		if err != nil {
			return err
		}
		targets = []string{pub.Target}
	} else {
		subs, err := p.enabledWebhooks(e.TenantID)
		if err != nil {
			return err
		}
		for i := range subs {
			if subs[i].Subscribes(e.Type) {
				targets = append(targets, subs[i].ID)
			}
		}
	}

	created := micros(e.CreatedAt)
	ids := make([]string, 0, len(targets))
	for _, webhookID := range targets {
		id := herald.NewID(herald.PrefixDelivery)
		p.rows = append(p.rows, id, e.ID, webhookID, e.TenantID, e.Type, created, created, created)
		ids = append(ids, id)
	}
	// p.events[j] is the event of the publication that byID and byKey name by j.
	j := len(p.events)
	p.events = append(p.events, e)
	p.byID[e.ID] = j
	if pub.IdempotencyKey != "" {
		if p.byKey == nil {
			p.byKey = map[tenantKey]int{}
		}
		p.byKey[tenantKey{e.TenantID, pub.IdempotencyKey}] = j
		p.keys = append(p.keys, e.TenantID, pub.IdempotencyKey, e.ID, created)
	}
	p.results[i] = herald.PublishResult{EventID: e.ID, Deliveries: len(ids), DeliveryIDs: ids}
	p.eventResult = append(p.eventResult, i)
	return nil
}

// repeatOf is the result of a repeat of the batch's j-th new event.
func (p *publisher) repeatOf(j int) herald.PublishResult {
	r := p.results[p.eventResult[j]]
	r.Duplicate = true
	return r
}

// flush writes the queued rows: the events, then their deliveries and idempotency keys,
// which refer to them.
func (p *publisher) flush() error {
	params := make([]any, 0, len(p.events)*7)
	for _, e := range p.events {
		data := string(e.Data)
		if data == "" {
			data = "null"
		}
		params = append(params, e.ID, e.TenantID, e.Type, data, micros(e.Timestamp), micros(e.CreatedAt), e.TraceParent)
	}
	if err := p.insertRows(eventInserts, params, 7); err != nil {
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

// enabledWebhooks returns the enabled webhooks of a tenant (id and events only).
func (p *publisher) enabledWebhooks(tenantID string) ([]herald.Webhook, error) {
	if ws, ok := p.subscribers[tenantID]; ok {
		return ws, nil
	}
	rows, err := p.tx.QueryContext(p.ctx,
		"SELECT id, events FROM webhooks WHERE tenant_id = ? AND enabled = 1 ORDER BY created_at, id", tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ws []herald.Webhook
	for rows.Next() {
		var w herald.Webhook
		var events string
		if err := rows.Scan(&w.ID, &events); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(events), &w.Events); err != nil {
			return nil, fmt.Errorf("webhook %s events: %w", w.ID, err)
		}
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
	var data string
	var ts, created int64
	err := s.read.QueryRowContext(ctx, "SELECT id, tenant_id, type, data, timestamp, created_at, traceparent FROM events WHERE id = ?", id).
		Scan(&e.ID, &e.TenantID, &e.Type, &data, &ts, &created, &e.TraceParent)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("event", id)
	}
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", id, unavailable(err))
	}
	e.Data = json.RawMessage(data)
	e.Timestamp = fromMicros(ts)
	e.CreatedAt = fromMicros(created)
	return &e, nil
}
