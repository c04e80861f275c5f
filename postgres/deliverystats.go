package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald"
)

// The attempts of the window are found by their time and joined to their deliveries for
// the tenant. The index attempts_at (migration 00004) carries what these queries read,
// so the window's attempts come from an index-only scan, not a scan of every attempt of
// every tenant (EXPLAIN: Index Only Scan using attempts_at, then deliveries_pkey).
const (
	statsMinutesQuery = `
		SELECT date_trunc('minute', a.at), count(*) FILTER (WHERE a.success), count(*) FILTER (WHERE NOT a.success)
		FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
		WHERE a.at >= $1 AND a.at < $2 AND ($3 = '' OR d.tenant_id = $3)
		GROUP BY 1 ORDER BY 1`
	// percentile_disc is the nearest-rank percentile, as herald.NearestRank defines it.
	statsLatencyQuery = `
		SELECT coalesce(percentile_disc(0.5) WITHIN GROUP (ORDER BY a.duration_ms), 0),
			coalesce(percentile_disc(0.99) WITHIN GROUP (ORDER BY a.duration_ms), 0)
		FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
		WHERE a.at >= $1 AND a.at < $2 AND ($3 = '' OR d.tenant_id = $3)`
	statsPendingQuery = `
		SELECT count(*) FROM deliveries WHERE status = 'pending' AND ($1 = '' OR tenant_id = $1)`
	statsFailingQuery = `
		SELECT id, tenant_id, name, url, enabled, disabled_reason, consecutive_failures,
			failing_since, last_delivery_at, last_error
		FROM webhooks
		WHERE consecutive_failures > 0 AND ($1 = '' OR tenant_id = $1)
		ORDER BY consecutive_failures DESC, id
		LIMIT $2`
)

// DeliveryStats summarises the attempts made in [f.Since, f.Until) minute by minute,
// their latency percentiles, the deliveries pending now and the failing webhooks, of
// one tenant or all, from one snapshot.
func (s *Store) DeliveryStats(ctx context.Context, f herald.StatsFilter) (*herald.DeliveryStats, error) {
	f, err := f.Checked()
	if err != nil {
		return nil, err
	}
	var st *herald.DeliveryStats
	err = s.readTx(ctx, "delivery stats", func(ctx context.Context, tx pgx.Tx) error {
		st = &herald.DeliveryStats{} // afresh on every try
		since, until := stored(f.Since), stored(f.Until)
		rows, err := tx.Query(ctx, statsMinutesQuery, since, until, f.TenantID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var m herald.MinuteStats
			if err := rows.Scan(&m.Minute, &m.Succeeded, &m.Failed); err != nil {
				rows.Close()
				return err
			}
			m.Minute = m.Minute.UTC()
			st.Minutes = append(st.Minutes, m)
			st.Succeeded += m.Succeeded
			st.Failed += m.Failed
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, statsLatencyQuery, since, until, f.TenantID).Scan(&st.LatencyP50MS, &st.LatencyP99MS); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, statsPendingQuery, f.TenantID).Scan(&st.Pending); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, statsFailingQuery, f.TenantID, f.FailingLimit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var w herald.FailingWebhook
			if err := rows.Scan(&w.ID, &w.TenantID, &w.Name, &w.URL, &w.Enabled, &w.DisabledReason,
				&w.ConsecutiveFailures, &w.FailingSince, &w.LastDeliveryAt, &w.LastError); err != nil {
				return err
			}
			w.FailingSince, w.LastDeliveryAt = utcPtr(w.FailingSince), utcPtr(w.LastDeliveryAt)
			st.FailingWebhooks = append(st.FailingWebhooks, w)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// statsOutcomesQuery finds each webhook's deliveries of the window by
// deliveries_webhook_newest.
const statsOutcomesQuery = `
	SELECT webhook_id, count(*) FILTER (WHERE status = 'success'), count(*) FILTER (WHERE status = 'failed'),
		count(*) FILTER (WHERE status = 'pending')
	FROM deliveries
	WHERE webhook_id = ANY($1) AND created_at >= $2 AND (status <> 'pending' OR attempt_count > 0)
		AND ($3 = '' OR tenant_id = $3)
	GROUP BY webhook_id`

// DeliveryOutcomes counts the tried deliveries of each webhook of f created since
// f.Since by how they stand; see herald.Store. A webhook without any is left out of the map.
func (s *Store) DeliveryOutcomes(ctx context.Context, f herald.OutcomesFilter) (map[string]herald.DeliveryOutcomes, error) {
	f, err := f.Checked()
	if err != nil {
		return nil, err
	}
	var out map[string]herald.DeliveryOutcomes
	err = s.readTx(ctx, "delivery outcomes", func(ctx context.Context, tx pgx.Tx) error {
		out = map[string]herald.DeliveryOutcomes{} // afresh on every try
		rows, err := tx.Query(ctx, statsOutcomesQuery, f.WebhookIDs, stored(f.Since), f.TenantID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var o herald.DeliveryOutcomes
			if err := rows.Scan(&id, &o.Succeeded, &o.Failed, &o.Retrying); err != nil {
				return err
			}
			out[id] = o
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
