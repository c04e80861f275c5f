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
		if err := unparkNext(ctx, tx, []string{id}, []time.Time{now}); err != nil {
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

// pendingKeys says, of each webhook and ordering key the new deliveries of plans carry,
// whether a delivery of it is pending already, so a new one waits unscheduled behind it
// (see unparkNext). One query, and none when no delivery carries a key.
func pendingKeys(ctx context.Context, tx pgx.Tx, plans []herald.PublishPlan, keyed map[string]bool) (map[[2]string]bool, error) {
	pending := map[[2]string]bool{}
	var webhooks, keys []string
	seen := map[[2]string]bool{}
	for i := range plans {
		p := &plans[i]
		if !p.New() {
			continue
		}
		for _, w := range p.Targets {
			k := [2]string{w, herald.DeliveryOrderingKey(&p.Event, keyed[w])}
			if k[1] != "" && !seen[k] {
				seen[k] = true
				webhooks, keys = append(webhooks, k[0]), append(keys, k[1])
			}
		}
	}
	if len(keys) == 0 {
		return pending, nil
	}
	rows, err := tx.Query(ctx, `SELECT u.webhook_id, u.ordering_key FROM unnest($1::text[], $2::text[]) AS u (webhook_id, ordering_key)
		WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = u.webhook_id AND d.ordering_key = u.ordering_key
			AND d.status = 'pending' AND d.ordering_key <> '')`, webhooks, keys)
	if err != nil {
		return nil, err
	}
	var k [2]string
	_, err = pgx.ForEachRow(rows, []any{&k[0], &k[1]}, func() error {
		pending[k] = true
		return nil
	})
	return pending, err
}

// unparkQuery makes the new head of the ordering key of each delivery in $1, which just
// finished, due at the matching time of $2 if it waits unscheduled (see
// herald.Delivery.NextAttemptAt): the first pending delivery of the key.
const unparkQuery = `UPDATE deliveries d SET next_attempt_at = u.at
	FROM (SELECT (SELECT o.id FROM deliveries o
				WHERE o.webhook_id = f.webhook_id AND o.ordering_key = f.ordering_key
					AND o.status = 'pending' AND o.ordering_key <> ''
				ORDER BY o.created_at, o.id LIMIT 1) AS id, min(x.at) AS at
			FROM unnest($1::text[], $2::timestamptz[]) AS x (id, at) JOIN deliveries f ON f.id = x.id
			WHERE f.ordering_key <> ''
			GROUP BY 1) u
	WHERE d.id = u.id AND d.next_attempt_at IS NULL`

// unparkNext makes due at ats the deliveries of the ordering keys of ids that come
// next, now that ids are finished (at the matching time of ats). Deliveries published
// behind a pending one of their key wait with no due time, so that claims, which walk
// the due deliveries in order, never read a key's backlog; this gives the next one its
// turn. The claim's head rule, not this, keeps the order: this only keeps a key moving.
// A publish committing while its key's head finishes may leave its delivery waiting
// with no pending one before it; unparkStranded, run with the maintenance, starts those.
func unparkNext(ctx context.Context, tx pgx.Tx, ids []string, ats []time.Time) error {
	_, err := tx.Exec(ctx, unparkQuery, ids, ats)
	return err
}

// unparkStranded makes due at now the keyed deliveries that wait unscheduled with no
// pending delivery of their key before them (see unparkNext), and notifies when it did.
func (s *Store) unparkStranded(ctx context.Context) error {
	return s.inTx(ctx, "start stranded ordering keys", func(ctx context.Context, tx pgx.Tx) error {
		now := s.now()
		tag, err := tx.Exec(ctx, `UPDATE deliveries d SET next_attempt_at = $1
			WHERE d.status = 'pending' AND d.ordering_key <> '' AND d.next_attempt_at IS NULL
				AND NOT EXISTS (SELECT 1 FROM deliveries o
					WHERE o.webhook_id = d.webhook_id AND o.ordering_key = d.ordering_key
						AND o.status = 'pending' AND o.ordering_key <> ''
						AND (o.created_at, o.id) < (d.created_at, d.id))`, now)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return notify(ctx, tx, now)
	})
}
