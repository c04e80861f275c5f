package postgres

import (
	"context"
	"time"

	"github.com/heraldhq/herald"
)

// backlogQuery answers Backlog in one statement, so its numbers come from one snapshot.
// The deliveries are read from deliveries_due alone, the partial index of the pending
// ones: an index-only count, and a seek to its first entry for the oldest due, whatever
// the length of the history. Webhooks have no index on enabled: they are few, and a scan
// of them costs less than an index every webhook write would pay for.
const backlogQuery = `
	SELECT
		(SELECT count(*) FROM deliveries WHERE status = 'pending'),
		(SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $1),
		(SELECT count(*) FROM webhooks WHERE NOT enabled)`

// Backlog counts the pending deliveries and the disabled webhooks, and finds the
// earliest due time among the pending deliveries due at now.
func (s *Store) Backlog(ctx context.Context, now time.Time) (herald.Backlog, error) {
	var b herald.Backlog
	err := s.read(ctx, "backlog", func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, backlogQuery, stored(now)).Scan(&b.Pending, &b.OldestPendingDue, &b.DisabledWebhooks)
	})
	if err != nil {
		return herald.Backlog{}, err
	}
	b.OldestPendingDue = utcPtr(b.OldestPendingDue)
	return b, nil
}
