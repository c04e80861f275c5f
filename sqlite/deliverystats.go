package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/heraldhq/herald"
)

// The attempts of the window are found by their time and joined to their deliveries for
// the tenant. The covering index attempts_at (migration 00004) finds them by time without
// visiting the table, so a query reads the window's attempts, not every attempt of every
// tenant (EXPLAIN QUERY PLAN: SEARCH a USING COVERING INDEX attempts_at (at>? AND at<?),
// then SEARCH d USING INDEX sqlite_autoindex_deliveries_1 (id=?)).
const (
	statsMinutesQuery = `
		SELECT a.at / 60000000, sum(a.success), count(*) - sum(a.success)
		FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
		WHERE a.at >= ?1 AND a.at < ?2 AND (?3 = '' OR d.tenant_id = ?3)
		GROUP BY 1 ORDER BY 1`
	// statsLatencyQuery finds the duration of rank OFFSET+1, so a percentile costs one
	// sort inside the database rather than every duration sent out of it.
	statsLatencyQuery = `
		SELECT a.duration_ms
		FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
		WHERE a.at >= ?1 AND a.at < ?2 AND (?3 = '' OR d.tenant_id = ?3)
		ORDER BY a.duration_ms LIMIT 1 OFFSET ?4`
	statsPendingQuery = `
		SELECT count(*) FROM deliveries INDEXED BY deliveries_due
		WHERE status = 'pending' AND (?1 = '' OR tenant_id = ?1)`
	statsFailingQuery = `
		SELECT id, tenant_id, name, url, enabled, disabled_reason, consecutive_failures,
			failing_since, last_delivery_at, last_error
		FROM webhooks
		WHERE consecutive_failures > 0 AND (?1 = '' OR tenant_id = ?1)
		ORDER BY consecutive_failures DESC, id
		LIMIT ?2`
)

// DeliveryStats summarises the attempts made in [f.Since, f.Until) minute by minute,
// their latency percentiles, the deliveries pending now and the failing webhooks, of
// one tenant or all, from one snapshot.
func (s *Store) DeliveryStats(ctx context.Context, f herald.StatsFilter) (*herald.DeliveryStats, error) {
	f, err := f.Checked()
	if err != nil {
		return nil, err
	}
	st := &herald.DeliveryStats{}
	err = s.readTx(ctx, "delivery stats", func(tx *sql.Tx) error {
		since, until := micros(f.Since), micros(f.Until)
		rows, err := tx.QueryContext(ctx, statsMinutesQuery, since, until, f.TenantID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var minute int64
			var m herald.MinuteStats
			if err := rows.Scan(&minute, &m.Succeeded, &m.Failed); err != nil {
				return err
			}
			m.Minute = time.Unix(minute*60, 0).UTC()
			st.Minutes = append(st.Minutes, m)
			st.Succeeded += m.Succeeded
			st.Failed += m.Failed
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if n := st.Succeeded + st.Failed; n > 0 {
			for _, q := range []struct {
				p   float64
				out *int64
			}{{0.50, &st.LatencyP50MS}, {0.99, &st.LatencyP99MS}} {
				if err := tx.QueryRowContext(ctx, statsLatencyQuery, since, until, f.TenantID, herald.NearestRank(q.p, n)-1).Scan(q.out); err != nil {
					return err
				}
			}
		}
		if err := tx.QueryRowContext(ctx, statsPendingQuery, f.TenantID).Scan(&st.Pending); err != nil {
			return err
		}
		return s.failingWebhooks(ctx, tx, f, st)
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (s *Store) failingWebhooks(ctx context.Context, tx *sql.Tx, f herald.StatsFilter, st *herald.DeliveryStats) error {
	rows, err := tx.QueryContext(ctx, statsFailingQuery, f.TenantID, f.FailingLimit)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var w herald.FailingWebhook
		var failingSince, lastAt sql.NullInt64
		if err := rows.Scan(&w.ID, &w.TenantID, &w.Name, &w.URL, &w.Enabled, &w.DisabledReason,
			&w.ConsecutiveFailures, &failingSince, &lastAt, &w.LastError); err != nil {
			return err
		}
		w.FailingSince, w.LastDeliveryAt = fromNullMicros(failingSince), fromNullMicros(lastAt)
		st.FailingWebhooks = append(st.FailingWebhooks, w)
	}
	return rows.Err()
}

// DeliveryOutcomes counts the tried deliveries of each webhook of f created since
// f.Since by how they stand; see herald.Store. A webhook without any is left out of the map.
// Each webhook's deliveries of the window are found by deliveries_webhook_newest.
func (s *Store) DeliveryOutcomes(ctx context.Context, f herald.OutcomesFilter) (map[string]herald.DeliveryOutcomes, error) {
	f, err := f.Checked()
	if err != nil {
		return nil, err
	}
	// One placeholder per id: at most MaxOutcomeWebhooks of them.
	query := `SELECT webhook_id, sum(status = 'success'), sum(status = 'failed'), sum(status = 'pending')
		FROM deliveries
		WHERE webhook_id IN (?` + strings.Repeat(", ?", len(f.WebhookIDs)-1) + `)
			AND created_at >= ? AND (status != 'pending' OR attempt_count > 0) AND (? = '' OR tenant_id = ?)
		GROUP BY webhook_id`
	args := make([]any, 0, len(f.WebhookIDs)+3)
	for _, id := range f.WebhookIDs {
		args = append(args, id)
	}
	args = append(args, micros(f.Since), f.TenantID, f.TenantID)
	out := map[string]herald.DeliveryOutcomes{}
	err = s.readTx(ctx, "delivery outcomes", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, query, args...)
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
