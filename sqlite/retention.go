package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/heraldhq/herald"
)

// purgeableDelivery holds of a delivery, aliased d, that retention may remove its
// attempts' bodies: finished, unpurged, last active before ?1 and not in the JSON list
// ?2 of the deliveries leased now. The first three terms are deliveries_purgeable's, so
// the walk uses it.
const purgeableDelivery = `d.purged_at IS NULL AND d.status != 'pending' AND d.updated_at < ?1
	AND d.id NOT IN (SELECT value FROM json_each(?2))`

// eventDeliveriesDone holds of an event, aliased e, whose deliveries all let it lose
// its data: purged, finished, last active before ?1 and not in the JSON list ?2 of the
// deliveries leased now.
const eventDeliveriesDone = `NOT EXISTS (
	SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND (d.purged_at IS NULL OR d.status = 'pending'
		OR d.updated_at >= ?1 OR d.id IN (SELECT value FROM json_each(?2))))`

// purgeableEvent holds of an event, aliased e, that retention may remove its data:
// unpurged, created before ?1, and every delivery of it purged, finished, last active
// before ?1 and not leased (in the JSON list ?2).
const purgeableEvent = `e.purged_at IS NULL AND e.created_at < ?1 AND ` + eventDeliveriesDone

// PurgePayloads removes one batch of old payloads; see herald.Store. It chooses the
// rows on a reader, without holding the write lock, then removes them in two short
// writes whose conditions are checked again, so a delivery retried meanwhile keeps
// everything. Metadata stays: ids, types, statuses, times, status codes, headers.
//
// The deliveries come first: while a full batch of them was found, the events wait,
// for an event is purgeable only once its deliveries are purged, and the walk of
// events, which resumes after r.AfterEvent, does not come back to one it passed.
// deliveries_purgeable holds only finished, unpurged deliveries, so every batch can
// start at its oldest entry: the ones before the cutoff that stay are those leased
// by a retry in flight, few and briefly.
func (s *Store) PurgePayloads(ctx context.Context, r herald.PurgeRequest) (herald.PurgeResult, error) {
	limit := r.Limit
	if limit <= 0 {
		limit = herald.PurgeBatch
	}
	before, now := micros(r.Before), micros(r.Now)
	out := herald.PurgeResult{NextEvent: r.AfterEvent}
	// The leases are in memory; each write reads them again, in the writer, where a
	// ClaimDelivery's lease is taken too.
	leased := func() (string, error) { return jsonText(append([]string{}, s.leases.unexpired(r.Now)...)) }
	leasedNow, err := leased()
	if err != nil {
		return out, err
	}

	ids, err := s.purgeDeliveryCandidates(ctx, before, leasedNow, limit)
	if err != nil {
		return out, fmt.Errorf("purge deliveries: %w", err)
	}
	if len(ids) > 0 {
		list, err := jsonText(ids)
		if err != nil {
			return out, err
		}
		err = s.inTx(ctx, "purge deliveries", func(ctx context.Context, tx *sql.Tx) error {
			leasedNow, err := leased()
			if err != nil {
				return err
			}
			chosen := `SELECT d.id FROM deliveries d WHERE d.id IN (SELECT value FROM json_each(?3)) AND ` + purgeableDelivery
			if _, err := tx.ExecContext(ctx, `UPDATE attempts SET response_body = ''
				WHERE delivery_id IN (`+chosen+`) AND response_body != ''`, before, leasedNow, list); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `UPDATE deliveries SET purged_at = ?4 WHERE id IN (`+chosen+`)`, before, leasedNow, list, now)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			out.Deliveries = int(n)
			return err
		})
		if err != nil {
			return out, err
		}
	}
	if len(ids) == limit {
		return out, nil
	}

	ids, examined, err := s.purgeEventCandidates(ctx, before, leasedNow, limit, r.AfterEvent, &out.NextEvent)
	if err != nil {
		return out, fmt.Errorf("purge events: %w", err)
	}
	out.Done = examined < limit
	if len(ids) > 0 {
		list, err := jsonText(ids)
		if err != nil {
			return out, err
		}
		err = s.inTx(ctx, "purge events", func(ctx context.Context, tx *sql.Tx) error {
			leasedNow, err := leased()
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `UPDATE events AS e SET data = 'null', purged_at = ?4
				WHERE e.id IN (SELECT value FROM json_each(?3)) AND `+purgeableEvent, before, leasedNow, list, now)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			out.Events = int(n)
			return err
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// purgeDeliveryCandidates returns up to limit deliveries purgeable at before, none of
// the JSON list leased, the longest finished first.
func (s *Store) purgeDeliveryCandidates(ctx context.Context, before int64, leased string, limit int) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT d.id FROM deliveries d INDEXED BY deliveries_purgeable
		WHERE `+purgeableDelivery+` ORDER BY d.updated_at LIMIT ?3`, before, leased, limit)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(err)
	}
	return ids, nil
}

// purgeEventCandidates examines up to limit unpurged events created before before,
// in order after the cursor after, sets *next to the last one examined, and returns
// those that may lose their data and how many it examined. Whether an event may is
// read with it, not in the WHERE clause, so that the events that must keep their
// data count towards the limit and are passed over once.
func (s *Store) purgeEventCandidates(ctx context.Context, before int64, leased string, limit int, after herald.PurgeCursor, next *herald.PurgeCursor) ([]string, int, error) {
	// The index is ordered by created_at alone; equal times, rare, are put in id
	// order by a sort of just those.
	rows, err := s.read.QueryContext(ctx, `SELECT e.id, e.created_at, `+eventDeliveriesDone+`
		FROM events e INDEXED BY events_purgeable
		WHERE e.purged_at IS NULL AND e.created_at < ?1 AND e.created_at >= ?4 AND (e.created_at > ?4 OR e.id > ?5)
		ORDER BY e.created_at, e.id LIMIT ?3`, before, leased, limit, micros(after.CreatedAt), after.ID)
	if err != nil {
		return nil, 0, unavailable(err)
	}
	defer rows.Close()
	var ids []string
	examined := 0
	for rows.Next() {
		var id string
		var created int64
		var purgeable bool
		if err := rows.Scan(&id, &created, &purgeable); err != nil {
			return nil, 0, err
		}
		examined++
		*next = herald.PurgeCursor{CreatedAt: fromMicros(created), ID: id}
		if purgeable {
			ids = append(ids, id)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, unavailable(err)
	}
	return ids, examined, nil
}
