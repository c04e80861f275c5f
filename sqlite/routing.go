package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/heraldhq/herald"
)

// channelCondition selects the deliveries whose event carries a channel. SQLite has no
// index into a JSON array; the lookup is by the event's primary key, per delivery the
// other conditions leave.
const channelCondition = "EXISTS (SELECT 1 FROM events e, json_each(e.channels) c WHERE e.id = d.event_id AND c.value = ?)"

// loadChannels fills each delivery's Channels with its event's.
func loadChannels(ctx context.Context, tx *sql.Tx, ds []herald.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	ids := make([]string, len(ds))
	for i := range ds {
		ids[i] = ds[i].EventID
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, "SELECT id, channels FROM events WHERE id IN (SELECT value FROM json_each(?))", string(list))
	if err != nil {
		return err
	}
	defer rows.Close()
	byEvent := map[string][]string{}
	for rows.Next() {
		var id, channels string
		if err := rows.Scan(&id, &channels); err != nil {
			return err
		}
		var cs []string
		if err := json.Unmarshal([]byte(channels), &cs); err != nil {
			return fmt.Errorf("event %s channels: %w", id, err)
		}
		byEvent[id] = cs
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i := range ds {
		ds[i].Channels = byEvent[ds[i].EventID]
		if ds[i].Channels == nil {
			ds[i].Channels = []string{}
		}
	}
	return nil
}

// replayEventsQuery reads one batch of a replay's walk: the tenant's events of the
// window after the cursor, with the status of each one's latest delivery to the webhook.
const replayEventsQuery = `
	SELECT e.id, e.type, e.data, e.channels, e.ordering_key, e.timestamp, e.created_at,
		coalesce((SELECT d.status FROM deliveries d WHERE d.event_id = e.id AND d.webhook_id = ?
			ORDER BY d.created_at DESC, d.id DESC LIMIT 1), '')
	FROM events e
	WHERE e.tenant_id = ? AND e.created_at >= ? AND e.created_at < ?
		AND (e.created_at > ? OR (e.created_at = ? AND e.id > ?))
	ORDER BY e.created_at, e.id
	LIMIT ?`

// Replay is one batch of a replay; see herald.Store.
func (s *Store) Replay(ctx context.Context, r herald.ReplayRequest) (herald.ReplayResult, error) {
	if r.Limit <= 0 {
		r.Limit = herald.ReplayBatch
	}
	var res herald.ReplayResult
	err := s.inTx(ctx, "replay to "+r.WebhookID, func(ctx context.Context, tx *sql.Tx) error {
		res = herald.ReplayResult{Next: r.After}
		var w herald.Webhook
		var events, channels, ordering string
		err := tx.QueryRowContext(ctx, "SELECT id, tenant_id, enabled, events, channels, filter, ordering FROM webhooks WHERE id = ?", r.WebhookID).
			Scan(&w.ID, &w.TenantID, &w.Enabled, &events, &channels, &w.Filter, &ordering)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("webhook", r.WebhookID)
		}
		if err != nil {
			return err
		}
		if err := herald.ValidateReplayTarget(&w); err != nil {
			return err
		}
		w.Ordering = herald.Ordering(ordering)
		if err := json.Unmarshal([]byte(events), &w.Events); err != nil {
			return fmt.Errorf("webhook %s events: %w", w.ID, err)
		}
		if err := json.Unmarshal([]byte(channels), &w.Channels); err != nil {
			return fmt.Errorf("webhook %s channels: %w", w.ID, err)
		}
		after := r.Start()
		rows, err := tx.QueryContext(ctx, replayEventsQuery, w.ID, w.TenantID, micros(r.Since), micros(r.Until),
			micros(after.CreatedAt), micros(after.CreatedAt), after.ID, r.Limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		var cs []herald.ReplayCandidate
		for rows.Next() {
			var c herald.ReplayCandidate
			var data, channels, status string
			var ts, created int64
			if err := rows.Scan(&c.Event.ID, &c.Event.Type, &data, &channels, &c.Event.OrderingKey, &ts, &created, &status); err != nil {
				return err
			}
			c.Event.TenantID = w.TenantID
			c.Event.Data = json.RawMessage(data)
			c.Event.Timestamp, c.Event.CreatedAt = fromMicros(ts), fromMicros(created)
			c.LatestStatus = herald.DeliveryStatus(status)
			if err := json.Unmarshal([]byte(channels), &c.Event.Channels); err != nil {
				return fmt.Errorf("event %s channels: %w", c.Event.ID, err)
			}
			cs = append(cs, c)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		now := micros(r.Now)
		// A replayed delivery of an ordering key joins its key's queue like a new
		// event's: behind a pending one, it waits unscheduled (see publisher.dueAt).
		p := &publisher{s: s, ctx: ctx, tx: tx}
		for i, d := range herald.PlanReplay(&w, &r, cs, filters) {
			e := &cs[i].Event
			switch d {
			case herald.ReplaySkip:
				res.Skipped++
			case herald.ReplaySend:
				id := herald.NewID(herald.PrefixDelivery)
				key := herald.DeliveryOrderingKey(e, w.Ordering == herald.OrderingKey)
				due, err := p.dueAt(w.ID, key, now)
				if err != nil {
					return err
				}
				if _, err := s.exec(ctx, tx, deliveryInserts[1], id, e.ID, w.ID, w.TenantID, e.Type, due, now, now, key); err != nil {
					return err
				}
				res.Replayed++
				res.DeliveryIDs = append(res.DeliveryIDs, id)
			}
		}
		res.Advance(cs, r.Limit)
		return nil
	})
	if err != nil {
		return herald.ReplayResult{}, err
	}
	return res, nil
}
