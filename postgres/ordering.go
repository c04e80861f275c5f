package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald"
)

// SkipDelivery gives a pending delivery up by hand: failed, with herald.SkippedByHand
// as its last error and no attempt, so its ordering key's next delivery is claimable
// at once, and every process hears that it is due. ECONFLICT if it is not pending or
// leased now by a living process (an attempt is under way). A claim taking it at the
// same moment is waited for, and its lease then seen.
func (s *Store) SkipDelivery(ctx context.Context, id string, now time.Time) (*herald.Delivery, error) {
	now = stored(now)
	err := s.inTx(ctx, "skip delivery "+id, func(ctx context.Context, tx pgx.Tx) error {
		var status string
		err := tx.QueryRow(ctx, "SELECT status FROM deliveries WHERE id = $1 FOR NO KEY UPDATE", id).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("delivery", id)
		}
		if err != nil {
			return err
		}
		var leased bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM leases l WHERE l.delivery_id = $1 AND `+livingLease("$2")+`)`,
			id, now).Scan(&leased); err != nil {
			return err
		}
		if err := herald.DecideSkip(id, herald.DeliveryStatus(status), leased); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET status = 'failed', next_attempt_at = NULL, last_error = $2,
			updated_at = $3 WHERE id = $1`, id, herald.SkippedByHand, now); err != nil {
			return err
		}
		return notify(ctx, tx, now)
	})
	if err != nil {
		return nil, err
	}
	return s.Delivery(ctx, id)
}

// blockedKeysQuery lists the heads of webhook $1's ordering keys that have failed
// attempts, oldest first, up to $2, with how many pending deliveries wait behind each.
const blockedKeysQuery = `SELECT d.ordering_key, d.id, d.event_id, d.event_type, d.attempt_count, d.last_error,
		d.next_attempt_at, d.created_at,
		(SELECT count(*) FROM deliveries q
			WHERE q.webhook_id = d.webhook_id AND q.ordering_key = d.ordering_key
				AND q.status = 'pending' AND q.ordering_key <> '') - 1
	FROM deliveries d
	WHERE d.webhook_id = $1 AND d.status = 'pending' AND d.ordering_key <> '' AND d.attempt_count > 0
		AND ` + headOnly + `
	ORDER BY d.created_at, d.id
	LIMIT $2`

// BlockedKeys lists the ordering keys of a webhook whose head has failed attempts,
// oldest head first, at most herald.MaxBlockedKeys. ENOTFOUND if there is no webhook.
func (s *Store) BlockedKeys(ctx context.Context, webhookID string) ([]herald.BlockedKey, error) {
	keys := []herald.BlockedKey{}
	err := s.readTx(ctx, "blocked keys of "+webhookID, func(ctx context.Context, tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM webhooks WHERE id = $1)", webhookID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return notFound("webhook", webhookID)
		}
		rows, err := tx.Query(ctx, blockedKeysQuery, webhookID, herald.MaxBlockedKeys)
		if err != nil {
			return err
		}
		keys = keys[:0]
		var k herald.BlockedKey
		_, err = pgx.ForEachRow(rows, []any{&k.Key, &k.HeadDeliveryID, &k.EventID, &k.EventType, &k.AttemptCount,
			&k.LastError, &k.NextAttemptAt, &k.CreatedAt, &k.Waiting}, func() error {
			b := k
			b.NextAttemptAt, b.CreatedAt = utcPtr(b.NextAttemptAt), b.CreatedAt.UTC()
			keys = append(keys, b)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}
