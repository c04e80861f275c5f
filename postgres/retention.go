package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald"
)

// purgeableDelivery holds of a delivery, aliased d, that retention may remove its
// attempts' bodies: finished, unpurged, last active before $1 and not leased at $2. The
// first three terms are deliveries_purgeable's, so the walk uses it.
var purgeableDelivery = `d.purged_at IS NULL AND d.status <> 'pending' AND d.updated_at < $1
	AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.delivery_id = d.id AND ` + livingLease("$2") + `)`

// eventDeliveriesDone holds of an event, aliased e, whose deliveries all let it lose
// its data: purged, finished, last active before $1 and not leased at $2.
var eventDeliveriesDone = `NOT EXISTS (
	SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND (d.purged_at IS NULL OR d.status = 'pending'
		OR d.updated_at >= $1
		OR EXISTS (SELECT 1 FROM leases l WHERE l.delivery_id = d.id AND ` + livingLease("$2") + `)))`

// purgeableEvent holds of an event, aliased e, that retention may remove its data:
// unpurged, created before $1, and every delivery of it purged, finished, last active
// before $1 and not leased at $2.
var purgeableEvent = `e.purged_at IS NULL AND e.created_at < $1 AND ` + eventDeliveriesDone

// PurgePayloads removes one batch of old payloads; see herald.Store. It chooses the
// rows without locking them, then removes them in two short transactions whose
// conditions are checked again on the locked rows, so a delivery retried meanwhile, by
// any process, keeps everything. Metadata stays: ids, types, statuses, times, status
// codes, headers.
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
	before, now := stored(r.Before), stored(r.Now)
	out := herald.PurgeResult{NextEvent: r.AfterEvent}

	ids, err := s.purgeDeliveryCandidates(ctx, before, now, limit)
	if err != nil {
		return out, fmt.Errorf("purge deliveries: %w", err)
	}
	if len(ids) > 0 {
		err = s.inTx(ctx, "purge deliveries", func(ctx context.Context, tx pgx.Tx) error {
			// Lock and mark the deliveries first: a claim waiting on one of them then
			// sees it purged, and its attempts are the ones cleared.
			rows, err := tx.Query(ctx, `UPDATE deliveries d SET purged_at = $4
				WHERE d.id = ANY($3) AND `+purgeableDelivery+` RETURNING d.id`, before, now, ids, now)
			if err != nil {
				return err
			}
			purged, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			out.Deliveries = len(purged)
			_, err = tx.Exec(ctx, `UPDATE attempts SET response_body = ''
				WHERE delivery_id = ANY($1) AND response_body <> ''`, purged)
			return err
		})
		if err != nil {
			return out, err
		}
	}
	if len(ids) == limit {
		return out, nil
	}

	ids, examined, err := s.purgeEventCandidates(ctx, before, now, limit, r.AfterEvent, &out.NextEvent)
	if err != nil {
		return out, fmt.Errorf("purge events: %w", err)
	}
	out.Done = examined < limit
	if len(ids) > 0 {
		err = s.inTx(ctx, "purge events", func(ctx context.Context, tx pgx.Tx) error {
			// The deliveries are locked first, so that none is leased or requeued
			// between the check and the removal; a claim that deadlocks with this
			// (both are retried by inTx) is rare, as claims take pending deliveries.
			// NO KEY UPDATE is enough to exclude those, which update the rows, and
			// unlike UPDATE it lets an attempt be inserted meanwhile: its foreign key
			// takes KEY SHARE on its delivery.
			if _, err := tx.Exec(ctx, `SELECT 1 FROM deliveries WHERE event_id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, ids); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `UPDATE events e SET data = 'null', purged_at = $4
				WHERE e.id = ANY($3) AND `+purgeableEvent, before, now, ids, now)
			out.Events = int(tag.RowsAffected())
			return err
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// purgeDeliveryCandidates returns up to limit deliveries purgeable at before and now,
// the longest finished first.
func (s *Store) purgeDeliveryCandidates(ctx context.Context, before, now time.Time, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT d.id FROM deliveries d WHERE `+purgeableDelivery+`
		ORDER BY d.updated_at LIMIT $3`, before, now, limit)
	if err != nil {
		return nil, dbError(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, dbError(err)
	}
	return ids, nil
}

// purgeEventCandidates examines up to limit unpurged events created before before,
// in order after the cursor after, sets *next to the last one examined, and returns
// those that may lose their data and how many it examined. Whether an event may is
// read with it, not in the WHERE clause, so that the events that must keep their
// data count towards the limit and are passed over once.
func (s *Store) purgeEventCandidates(ctx context.Context, before, now time.Time, limit int, after herald.PurgeCursor, next *herald.PurgeCursor) ([]string, int, error) {
	// events_purgeable is ordered by created_at alone: the range starts at the
	// cursor's time, and equal times, rare, are put in id order by a sort of just those.
	// The limit is taken in a subquery, before the deliveries are read: over the whole
	// range, the planner would read them all at once, into a hash, for every batch.
	rows, err := s.pool.Query(ctx, `SELECT e.id, e.created_at, `+eventDeliveriesDone+`
		FROM (SELECT e.id, e.created_at FROM events e
			WHERE e.purged_at IS NULL AND e.created_at < $1 AND e.created_at >= $4 AND (e.created_at, e.id) > ($4, $5)
			ORDER BY e.created_at, e.id LIMIT $3) e
		ORDER BY e.created_at, e.id`, before, now, limit, stored(after.CreatedAt), after.ID)
	if err != nil {
		return nil, 0, dbError(err)
	}
	var ids []string
	examined := 0
	var id string
	var created time.Time
	var purgeable bool
	_, err = pgx.ForEachRow(rows, []any{&id, &created, &purgeable}, func() error {
		examined++
		*next = herald.PurgeCursor{CreatedAt: created, ID: id}
		if purgeable {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, 0, dbError(err)
	}
	return ids, examined, nil
}
