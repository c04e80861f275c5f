package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/heraldhq/herald"
)

// SkipDelivery gives a pending delivery up by hand: failed, with herald.SkippedByHand
// as its last error and no attempt, so its ordering key's next delivery is claimable
// at once. ECONFLICT if it is not pending or leased now (an attempt is under way).
func (s *Store) SkipDelivery(ctx context.Context, id string, now time.Time) (*herald.Delivery, error) {
	err := s.inTx(ctx, "skip delivery "+id, func(ctx context.Context, tx *sql.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, "SELECT status FROM deliveries WHERE id = ?", id).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("delivery", id)
		}
		if err != nil {
			return err
		}
		// Claims run on the write connection too, so none can lease it between this
		// look and the write: the lease table is the whole truth here.
		leased := s.leases.leasedNow(id, now)
		if err := herald.DecideSkip(id, herald.DeliveryStatus(status), leased); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 'failed', next_attempt_at = NULL, last_error = ?,
			updated_at = ? WHERE id = ?`, herald.SkippedByHand, micros(now), id); err != nil {
			return err
		}
		return unparkNext(ctx, tx, id, now)
	})
	if err != nil {
		return nil, err
	}
	return s.Delivery(ctx, id)
}

// unparkQuery makes the new head of the ordering key of delivery ?1, which just
// finished, due at ?2 if it waits unscheduled (see herald.Delivery.NextAttemptAt): the
// first pending delivery of the key, whatever the order its publishes committed in.
const unparkQuery = `UPDATE deliveries SET next_attempt_at = ?2 WHERE next_attempt_at IS NULL AND id = (
		SELECT o.id FROM deliveries f
			JOIN deliveries o INDEXED BY deliveries_ordering ON o.webhook_id = f.webhook_id AND o.ordering_key = f.ordering_key
		WHERE f.id = ?1 AND f.ordering_key <> '' AND o.status = 'pending' AND o.ordering_key <> ''
		ORDER BY o.created_at, o.id LIMIT 1)`

// unparkNext makes due at at the delivery of id's ordering key that comes next, now
// that id is finished. Deliveries published behind a pending one of their key wait
// with no due time, so that claims, which walk the due deliveries in order, never read
// a key's backlog; this is what gives the next one its turn. The claim's head rule, not
// this, keeps the order: this only keeps a key moving.
func unparkNext(ctx context.Context, tx *sql.Tx, id string, at time.Time) error {
	_, err := tx.ExecContext(ctx, unparkQuery, id, micros(at))
	return err
}

// blockedKeysQuery lists the heads of webhook ?1's ordering keys that have failed
// attempts, oldest first, up to ?2, with how many pending deliveries wait behind each.
var blockedKeysQuery = `SELECT d.ordering_key, d.id, d.event_id, d.event_type, d.attempt_count, d.last_error,
		d.next_attempt_at, d.created_at,
		(SELECT count(*) FROM deliveries q INDEXED BY deliveries_ordering
			WHERE q.webhook_id = d.webhook_id AND q.ordering_key = d.ordering_key
				AND q.status = 'pending' AND q.ordering_key <> '') - 1
	FROM deliveries d INDEXED BY deliveries_ordering
	WHERE d.webhook_id = ?1 AND d.status = 'pending' AND d.ordering_key <> '' AND d.attempt_count > 0
		AND ` + headOnly + `
	ORDER BY d.created_at, d.id
	LIMIT ?2`

// BlockedKeys lists the ordering keys of a webhook whose head has failed attempts,
// oldest head first, at most herald.MaxBlockedKeys. ENOTFOUND if there is no webhook.
func (s *Store) BlockedKeys(ctx context.Context, webhookID string) ([]herald.BlockedKey, error) {
	keys := []herald.BlockedKey{}
	err := s.readTx(ctx, "blocked keys of "+webhookID, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM webhooks WHERE id = ?", webhookID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("webhook", webhookID)
		}
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, blockedKeysQuery, webhookID, herald.MaxBlockedKeys)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k herald.BlockedKey
			var next sql.NullInt64
			var created int64
			if err := rows.Scan(&k.Key, &k.HeadDeliveryID, &k.EventID, &k.EventType, &k.AttemptCount, &k.LastError,
				&next, &created, &k.Waiting); err != nil {
				return err
			}
			k.NextAttemptAt, k.CreatedAt = fromNullMicros(next), fromMicros(created)
			keys = append(keys, k)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}
