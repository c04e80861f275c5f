package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald"
)

// channelCondition selects the deliveries whose event carries a channel, found by the
// GIN index on events.channels and joined by deliveries' index on event_id.
const channelCondition = "d.event_id IN (SELECT id FROM events WHERE channels @> jsonb_build_array($%d::text))"

// loadChannels fills each delivery's Channels with its event's.
func loadChannels(ctx context.Context, tx pgx.Tx, ds []herald.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	ids := make([]string, len(ds))
	for i := range ds {
		ids[i] = ds[i].EventID
	}
	rows, err := tx.Query(ctx, "SELECT id, channels::text FROM events WHERE id = ANY($1)", ids)
	if err != nil {
		return err
	}
	byEvent := map[string][]string{}
	var id, channels string
	_, err = pgx.ForEachRow(rows, []any{&id, &channels}, func() error {
		var cs []string
		if err := json.Unmarshal([]byte(channels), &cs); err != nil {
			return fmt.Errorf("event %s channels: %w", id, err)
		}
		byEvent[id] = cs
		return nil
	})
	if err != nil {
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
	SELECT e.id, e.type, e.data::text, e.channels::text, e.ordering_key, e.timestamp, e.created_at,
		coalesce((SELECT d.status FROM deliveries d WHERE d.event_id = e.id AND d.webhook_id = $1
			ORDER BY d.created_at DESC, d.id DESC LIMIT 1), '')
	FROM events e
	WHERE e.tenant_id = $2 AND e.created_at >= $3 AND e.created_at < $4 AND (e.created_at, e.id) > ($5, $6)
	ORDER BY e.created_at, e.id
	LIMIT $7`

// Replay is one batch of a replay; see herald.Store.
func (s *Store) Replay(ctx context.Context, r herald.ReplayRequest) (herald.ReplayResult, error) {
	if r.Limit <= 0 {
		r.Limit = herald.ReplayBatch
	}
	now := stored(r.Now)
	var res herald.ReplayResult
	err := s.inTx(ctx, "replay to "+r.WebhookID, func(ctx context.Context, tx pgx.Tx) error {
		res = herald.ReplayResult{Next: r.After}
		var w herald.Webhook
		var events, channels, ordering string
		// FOR KEY SHARE orders this with a disable (FOR UPDATE), which fails what it
		// finds pending: the replayed deliveries too, if it comes second.
		err := tx.QueryRow(ctx, `SELECT id, tenant_id, enabled, events::text, channels::text, filter, ordering FROM webhooks
			WHERE id = $1 FOR KEY SHARE`, r.WebhookID).
			Scan(&w.ID, &w.TenantID, &w.Enabled, &events, &channels, &w.Filter, &ordering)
		if errors.Is(err, pgx.ErrNoRows) {
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
		rows, err := tx.Query(ctx, replayEventsQuery, w.ID, w.TenantID, stored(r.Since), stored(r.Until),
			stored(after.CreatedAt), after.ID, r.Limit)
		if err != nil {
			return err
		}
		var cs []herald.ReplayCandidate
		var c herald.ReplayCandidate
		var data, evChannels, status string
		dest := []any{&c.Event.ID, &c.Event.Type, &data, &evChannels, &c.Event.OrderingKey, &c.Event.Timestamp, &c.Event.CreatedAt, &status}
		_, err = pgx.ForEachRow(rows, dest, func() error {
			e := c.Event
			e.TenantID = w.TenantID
			e.Data = json.RawMessage(data)
			e.Timestamp, e.CreatedAt = e.Timestamp.UTC(), e.CreatedAt.UTC()
			e.Channels = nil
			if err := json.Unmarshal([]byte(evChannels), &e.Channels); err != nil {
				return fmt.Errorf("event %s channels: %w", e.ID, err)
			}
			cs = append(cs, herald.ReplayCandidate{Event: e, LatestStatus: herald.DeliveryStatus(status)})
			return nil
		})
		if err != nil {
			return err
		}
		var dl struct {
			ids, events, types, keys []string
			next                     []*time.Time
		}
		// A replayed delivery of an ordering key joins its key's queue like a new
		// event's: behind a pending one, it waits unscheduled (see unparkNext).
		keyPending := map[string]bool{}
		for i, d := range herald.PlanReplay(&w, &r, cs, filters) {
			e := &cs[i].Event
			switch d {
			case herald.ReplaySkip:
				res.Skipped++
			case herald.ReplaySend:
				id := herald.NewID(herald.PrefixDelivery)
				key := herald.DeliveryOrderingKey(e, w.Ordering == herald.OrderingKey)
				next := &now
				if key != "" {
					pending, seen := keyPending[key]
					if !seen {
						err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deliveries
							WHERE webhook_id = $1 AND ordering_key = $2 AND status = 'pending' AND ordering_key <> '')`, w.ID, key).Scan(&pending)
						if err != nil {
							return err
						}
					}
					if pending {
						next = nil
					}
					keyPending[key] = true
				}
				dl.ids, dl.events, dl.types = append(dl.ids, id), append(dl.events, e.ID), append(dl.types, e.Type)
				dl.keys, dl.next = append(dl.keys, key), append(dl.next, next)
			}
		}
		if len(dl.ids) > 0 {
			_, err := tx.Exec(ctx, `INSERT INTO deliveries (id, event_id, webhook_id, tenant_id, event_type, status,
					attempt_count, next_attempt_at, last_error, created_at, updated_at, ordering_key)
				SELECT id, event_id, $3, $4, event_type, 'pending', 0, next, '', $5, $5, ordering_key
				FROM unnest($1::text[], $2::text[], $6::text[], $7::text[], $8::timestamptz[]) AS u (id, event_id, event_type, ordering_key, next)`,
				dl.ids, dl.events, w.ID, w.TenantID, now, dl.types, dl.keys, dl.next)
			if err != nil {
				return err
			}
			res.Replayed, res.DeliveryIDs = len(dl.ids), dl.ids
			if err := notify(ctx, tx, now); err != nil {
				return err
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
