package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/heraldhq/herald"
)

// backlogQuery answers Backlog in one statement, so its numbers come from one snapshot.
// The deliveries are read from deliveries_due alone (status, next_attempt_at): a count
// of its pending entries and a seek to the first one due, whatever the length of the
// history. Webhooks have no index on enabled: they are few, and a scan of them costs
// less than an index every webhook write would pay for.
const backlogQuery = `
	SELECT
		(SELECT count(*) FROM deliveries INDEXED BY deliveries_due WHERE status = 'pending'),
		(SELECT next_attempt_at FROM deliveries INDEXED BY deliveries_due
			WHERE status = 'pending' AND next_attempt_at <= ?
			ORDER BY next_attempt_at LIMIT 1),
		(SELECT count(*) FROM webhooks WHERE enabled = 0)`

// Backlog counts the pending deliveries and the disabled webhooks, and finds the
// earliest due time among the pending deliveries due at now.
func (s *Store) Backlog(ctx context.Context, now time.Time) (herald.Backlog, error) {
	var b herald.Backlog
	err := s.readTx(ctx, "backlog", func(tx *sql.Tx) error {
		var oldest sql.NullInt64
		if err := tx.QueryRowContext(ctx, backlogQuery, micros(now)).Scan(&b.Pending, &oldest, &b.DisabledWebhooks); err != nil {
			return err
		}
		b.OldestPendingDue = fromNullMicros(oldest)
		return nil
	})
	if err != nil {
		return herald.Backlog{}, err
	}
	return b, nil
}
