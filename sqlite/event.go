package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald"
)

// Publish stores events and their deliveries in one transaction: all or none. See
// herald.Publication for the rules. An event without an ID gets one, without a TenantID
// the default tenant, without a CreatedAt the current time.
func (s *Store) Publish(ctx context.Context, ps []herald.Publication) ([]herald.PublishResult, error) {
	results := make([]herald.PublishResult, len(ps))
	err := s.inTx(ctx, "publish", func(ctx context.Context, tx *sql.Tx) error {
		p, err := s.newPublisher(ctx, tx)
		if err != nil {
			return err
		}
		defer p.close()
		for i := range ps {
			if results[i], err = p.publish(ps[i]); err != nil {
				if len(ps) > 1 {
					return fmt.Errorf("event %d of %d: %w", i+1, len(ps), err)
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// publisher publishes within one transaction, with its statements prepared once and the
// subscribers of each tenant looked up once.
type publisher struct {
	ctx            context.Context
	tx             *sql.Tx
	now            time.Time
	insertEvent    *sql.Stmt
	insertDelivery *sql.Stmt
	subscribers    map[string][]herald.Webhook // enabled webhooks by tenant
}

func (s *Store) newPublisher(ctx context.Context, tx *sql.Tx) (*publisher, error) {
	p := &publisher{ctx: ctx, tx: tx, now: s.now(), subscribers: map[string][]herald.Webhook{}}
	var err error
	p.insertEvent, err = tx.PrepareContext(ctx,
		"INSERT INTO events (id, tenant_id, type, data, timestamp, created_at, traceparent) VALUES (?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		return nil, err
	}
	p.insertDelivery, err = tx.PrepareContext(ctx, `
		INSERT INTO deliveries (id, event_id, webhook_id, tenant_id, event_type, status,
			attempt_count, next_attempt_at, last_error, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, '', ?, ?)`)
	if err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *publisher) close() {
	for _, st := range []*sql.Stmt{p.insertEvent, p.insertDelivery} {
		if st != nil {
			_ = st.Close() // closing a statement of a finished transaction cannot lose data
		}
	}
}

func (p *publisher) publish(pub herald.Publication) (herald.PublishResult, error) {
	ctx, tx, e := p.ctx, p.tx, pub.Event
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
	data := string(e.Data)
	if data == "" {
		data = "null"
	}

	// The same event id: the first result for its tenant, a conflict for another.
	var owner string
	err := tx.QueryRowContext(ctx, "SELECT tenant_id FROM events WHERE id = ?", e.ID).Scan(&owner)
	switch {
	case err == nil && owner == e.TenantID:
		return firstResult(ctx, tx, e.ID)
	case err == nil:
		return herald.PublishResult{}, conflict("event", e.ID)
	case !errors.Is(err, sql.ErrNoRows):
		return herald.PublishResult{}, err
	}

	// The same idempotency key within the window: the first result.
	if pub.IdempotencyKey != "" {
		var firstID string
		var firstAt int64
		err := tx.QueryRowContext(ctx, "SELECT event_id, created_at FROM idempotency_keys WHERE tenant_id = ? AND key = ?",
			e.TenantID, pub.IdempotencyKey).Scan(&firstID, &firstAt)
		switch {
		case err == nil && e.CreatedAt.Before(fromMicros(firstAt).Add(herald.IdempotencyWindow)):
			return firstResult(ctx, tx, firstID)
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return herald.PublishResult{}, err
		}
	}

	var targets []string
	if pub.Target != "" {
		var tenant string
		err := tx.QueryRowContext(ctx, "SELECT tenant_id FROM webhooks WHERE id = ?", pub.Target).Scan(&tenant)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && tenant != e.TenantID) {
			return herald.PublishResult{}, notFound("webhook", pub.Target)
		}
		if err != nil {
			return herald.PublishResult{}, err
		}
		targets = []string{pub.Target}
	} else {
		subs, err := p.enabledWebhooks(e.TenantID)
		if err != nil {
			return herald.PublishResult{}, err
		}
		for i := range subs {
			if subs[i].Subscribes(e.Type) {
				targets = append(targets, subs[i].ID)
			}
		}
	}

	created := micros(e.CreatedAt)
	if _, err := p.insertEvent.ExecContext(ctx, e.ID, e.TenantID, e.Type, data, micros(e.Timestamp), created, e.TraceParent); err != nil {
		return herald.PublishResult{}, err
	}
	ids := make([]string, 0, len(targets))
	for _, webhookID := range targets {
		id := herald.NewID(herald.PrefixDelivery)
		if _, err := p.insertDelivery.ExecContext(ctx, id, e.ID, webhookID, e.TenantID, e.Type, created, created, created); err != nil {
			return herald.PublishResult{}, err
		}
		ids = append(ids, id)
	}
	if pub.IdempotencyKey != "" {
		// A key past its window is taken over by this event.
		_, err := tx.ExecContext(ctx, `
			INSERT INTO idempotency_keys (tenant_id, key, event_id, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (tenant_id, key) DO UPDATE SET event_id = excluded.event_id, created_at = excluded.created_at`,
			e.TenantID, pub.IdempotencyKey, e.ID, created)
		if err != nil {
			return herald.PublishResult{}, err
		}
	}
	return herald.PublishResult{EventID: e.ID, Deliveries: len(ids), DeliveryIDs: ids}, nil
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
