package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald"
)

// deliveryColumns are read by scanDelivery, in its order, from a table aliased d.
const deliveryColumns = `d.id, d.event_id, d.webhook_id, d.tenant_id, d.event_type, d.status,
	d.attempt_count, d.next_attempt_at, d.last_error, d.created_at, d.updated_at, d.ordering_key`

// deliveryRow holds a delivery as scanned.
type deliveryRow struct {
	d                herald.Delivery
	status           string
	next             sql.NullInt64
	created, updated int64
}

func (r *deliveryRow) dest() []any {
	return []any{&r.d.ID, &r.d.EventID, &r.d.WebhookID, &r.d.TenantID, &r.d.EventType, &r.status,
		&r.d.AttemptCount, &r.next, &r.d.LastError, &r.created, &r.updated, &r.d.OrderingKey}
}

func (r *deliveryRow) delivery() herald.Delivery {
	d := r.d
	d.Status = herald.DeliveryStatus(r.status)
	d.NextAttemptAt = fromNullMicros(r.next)
	d.CreatedAt = fromMicros(r.created)
	d.UpdatedAt = fromMicros(r.updated)
	return d
}

// Delivery returns one delivery with its attempts, ENOTFOUND if there is none.
func (s *Store) Delivery(ctx context.Context, id string) (*herald.Delivery, error) {
	var d herald.Delivery
	err := s.readTx(ctx, "delivery "+id, func(tx *sql.Tx) error {
		var r deliveryRow
		err := tx.QueryRowContext(ctx, "SELECT "+deliveryColumns+" FROM deliveries d WHERE d.id = ?", id).Scan(r.dest()...)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("delivery", id)
		}
		if err != nil {
			return err
		}
		ds := []herald.Delivery{r.delivery()}
		if err := loadChannels(ctx, tx, ds); err != nil {
			return err
		}
		if err := loadAttempts(ctx, tx, ds); err != nil {
			return err
		}
		d = ds[0]
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// Deliveries returns one page of deliveries, newest first, each with its attempts, and
// the total matching.
func (s *Store) Deliveries(ctx context.Context, f herald.DeliveryFilter) ([]herald.Delivery, int, error) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		conds = append(conds, cond)
		args = append(args, arg)
	}
	if f.TenantID != "" {
		add("d.tenant_id = ?", f.TenantID)
	}
	if f.WebhookID != "" {
		add("d.webhook_id = ?", f.WebhookID)
	}
	if f.EventID != "" {
		add("d.event_id = ?", f.EventID)
	}
	switch f.Status {
	case "":
	case herald.StatusRetrying:
		conds = append(conds, "d.status = 'pending' AND d.attempt_count > 0")
	default:
		add("d.status = ?", string(f.Status))
	}
	if f.EventType != "" {
		add("d.event_type = ?", f.EventType)
	}
	if f.Channel != "" {
		add(channelCondition, f.Channel)
	}
	if !f.Since.IsZero() {
		add("d.created_at >= ?", micros(f.Since))
	}
	if !f.Until.IsZero() {
		add("d.created_at < ?", micros(f.Until))
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	limit, offset := page(f.Page, f.PerPage)
	if f.Offset > 0 {
		offset = f.Offset
	}
	ds := []herald.Delivery{}
	var total int
	err := s.readTx(ctx, "deliveries", func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM deliveries d"+where, args...).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, "SELECT "+deliveryColumns+" FROM deliveries d"+where+
			" ORDER BY d.created_at DESC, d.id DESC LIMIT ? OFFSET ?", append(args, limit, offset)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r deliveryRow
			if err := rows.Scan(r.dest()...); err != nil {
				return err
			}
			ds = append(ds, r.delivery())
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if err := loadChannels(ctx, tx, ds); err != nil {
			return err
		}
		return loadAttempts(ctx, tx, ds)
	})
	if err != nil {
		return nil, 0, err
	}
	return ds, total, nil
}

// attemptColumns are read by scanAttempt, in its order, from a table aliased a.
const attemptColumns = `a.id, a.delivery_id, a.number, a.at, a.status_code, a.duration_ms, a.success, a.error,
	a.request_headers, a.response_headers, a.response_body, a.trace_id`

// scanAttempt reads one attempt of attemptColumns.
func scanAttempt(rows *sql.Rows) (herald.Attempt, error) {
	var a herald.Attempt
	var at int64
	var reqHeaders, respHeaders string
	if err := rows.Scan(&a.ID, &a.DeliveryID, &a.Number, &at, &a.StatusCode, &a.DurationMS,
		&a.Success, &a.Error, &reqHeaders, &respHeaders, &a.ResponseBody, &a.TraceID); err != nil {
		return a, err
	}
	a.At = fromMicros(at)
	if err := json.Unmarshal([]byte(reqHeaders), &a.RequestHeaders); err != nil {
		return a, fmt.Errorf("attempt %s request headers: %w", a.ID, err)
	}
	if err := json.Unmarshal([]byte(respHeaders), &a.ResponseHeaders); err != nil {
		return a, fmt.Errorf("attempt %s response headers: %w", a.ID, err)
	}
	return a, nil
}

// loadAttempts fills the latest attempts of ds, at most herald.MaxEmbeddedAttempts
// each, oldest first, with one query, and their AttemptsDropped. Attempt numbers run
// to the delivery's count, so the latest are those above count minus the limit.
func loadAttempts(ctx context.Context, q queryer, ds []herald.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	index := make(map[string]int, len(ds))
	ids := make([]string, len(ds))
	for i := range ds {
		ds[i].Attempts = []herald.Attempt{}
		ds[i].AttemptsDropped = herald.AttemptsDropped(ds[i].AttemptCount)
		index[ds[i].ID] = i
		ids[i] = ds[i].ID
	}
	list, err := jsonText(ids)
	if err != nil {
		return err
	}
	rows, err := q.QueryContext(ctx, "SELECT "+attemptColumns+`
		FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
		WHERE a.delivery_id IN (SELECT value FROM json_each(?)) AND a.number > d.attempt_count - ?
		ORDER BY a.delivery_id, a.number`, list, herald.MaxEmbeddedAttempts)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return err
		}
		i := index[a.DeliveryID]
		ds[i].Attempts = append(ds[i].Attempts, a)
	}
	return rows.Err()
}

// Attempts returns one page of a delivery's stored attempts, newest first, and how many
// it stores.
func (s *Store) Attempts(ctx context.Context, f herald.AttemptFilter) ([]herald.Attempt, int, error) {
	limit, offset := page(f.Page, f.PerPage)
	if f.Offset > 0 {
		offset = f.Offset
	}
	as := []herald.Attempt{}
	var total int
	err := s.readTx(ctx, "attempts of "+f.DeliveryID, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM attempts WHERE delivery_id = ?", f.DeliveryID).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, "SELECT "+attemptColumns+` FROM attempts a
			WHERE a.delivery_id = ? ORDER BY a.number DESC LIMIT ? OFFSET ?`, f.DeliveryID, limit, offset)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanAttempt(rows)
			if err != nil {
				return err
			}
			as = append(as, a)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, err
	}
	return as, total, nil
}

// headOnly keeps a delivery d only if it is the head of its ordering key (see
// herald.BlockedKey): no pending delivery of its webhook and key comes before it in
// publish order, leased or not, due or not. Only keyed deliveries look, and they look in
// deliveries_ordering, which holds the pending keyed deliveries alone.
const headOnly = `(d.ordering_key = '' OR NOT EXISTS (
		SELECT 1 FROM deliveries p INDEXED BY deliveries_ordering
		WHERE p.webhook_id = d.webhook_id AND p.ordering_key = d.ordering_key
			AND p.status = 'pending' AND p.ordering_key <> ''
			AND (p.created_at, p.id) < (d.created_at, d.id)))`

// headOnlyX is headOnly of a delivery aliased x.
var headOnlyX = strings.ReplaceAll(headOnly, "d.", "x.")

// dueInOrder lists due deliveries of enabled webhooks, oldest due first, but for those
// in the JSON list ?3 (leased now). It walks deliveries_due in order and stops at its
// limit, looking each row's webhook up by primary key. The plan is pinned (INDEXED BY,
// and CROSS JOIN to keep deliveries the outer loop): with the statistics of a few
// webhooks and many deliveries, SQLite would otherwise loop over the webhooks and sort
// all their pending deliveries, a second per claim at 200,000.
var dueInOrder = `
	SELECT d.id, d.webhook_id, d.tenant_id FROM deliveries d INDEXED BY deliveries_due
		CROSS JOIN webhooks w ON w.id = d.webhook_id
	WHERE d.status = 'pending' AND d.next_attempt_at <= ?1
		AND d.id NOT IN (SELECT value FROM json_each(?3))
		AND w.enabled = 1
		AND ` + headOnly + `
	ORDER BY d.next_attempt_at
	LIMIT ?2`

// dueByWebhook gives the same answer as walking dueInOrder and leaving out the webhooks
// in the JSON list ?2, the tenants in the JSON list ?5 and every delivery past the ?3rd
// of its webhook, but it costs one seek into deliveries_webhook_due per enabled webhook
// instead of a walk through a backlog that belongs to webhooks the claim cannot take.
// ?6 lists the leased deliveries, left out.
var dueByWebhook = `
	SELECT d.id, d.webhook_id, d.tenant_id FROM webhooks w
		CROSS JOIN deliveries d
	WHERE w.enabled = 1 AND w.id NOT IN (SELECT value FROM json_each(?2))
		AND w.tenant_id NOT IN (SELECT value FROM json_each(?5))
		AND d.id IN (
			SELECT x.id FROM deliveries x INDEXED BY deliveries_webhook_due
			WHERE x.webhook_id = w.id AND x.status = 'pending' AND x.next_attempt_at <= ?1
				AND x.id NOT IN (SELECT value FROM json_each(?6))
				AND ` + headOnlyX + `
			ORDER BY x.next_attempt_at
			LIMIT ?3)
	ORDER BY d.next_attempt_at, d.rowid
	LIMIT ?4`

// ClaimDue leases up to Limit pending deliveries that are due, of enabled webhooks,
// oldest due first, skipping those leased by anyone until after Now and those of
// SkipWebhooks and SkipTenants, and taking at most PerWebhook of one webhook when that
// is set. The leases are in memory (see leaseTable): choosing reads, and leasing writes
// nothing. The claim runs on the write connection all the same, in its turn among the
// writes, whose page cache is warm: a read connection would reread every page a write
// changed since its last read. A claim alone commits nothing, so it costs no sync.
// Claims are exclusive because the lease table is locked from the moment a claim reads
// which deliveries are leased until it has leased what it chose.
func (s *Store) ClaimDue(ctx context.Context, r herald.ClaimRequest) ([]herald.Claim, error) {
	if r.Limit <= 0 {
		return []herald.Claim{}, nil
	}
	var claims []herald.Claim
	var taken map[string]lease // what this claim leased, to undo if it is not committed
	undo := func() {
		for id, le := range taken {
			s.leases.dropExact(id, le)
		}
		taken = nil
	}
	err := s.inClaimTx(ctx, "claim deliveries", func(ctx context.Context, tx *sql.Tx) error {
		undo() // a repeated run starts afresh
		s.leases.mu.Lock()
		defer s.leases.mu.Unlock()
		leased, perWebhook := s.leases.leasedAt(r.Now)
		ids, err := s.pickDue(ctx, tx, r, leased, perWebhook)
		if err != nil {
			return err
		}
		var unreadable map[string]string
		if claims, unreadable, err = s.claims(ctx, tx, ids); err != nil {
			return err
		}
		if err := failUnreadable(ctx, tx, unreadable, r.Now); err != nil {
			return err
		}
		taken = make(map[string]lease, len(claims))
		for _, c := range claims {
			le := lease{owner: r.Owner, webhookID: c.Webhook.ID, until: r.LeaseUntil}
			s.leases.held[c.Delivery.ID] = le
			taken[c.Delivery.ID] = le
		}
		return nil
	})
	if err != nil {
		undo()
		return nil, err
	}
	return claims, nil
}

// pickDue chooses the deliveries ClaimDue leases, none of those in leased, and counting
// leasedPerWebhook against the cap. Usually the first rows in due order are the answer,
// so it reads a few more than the limit and filters them. When the filters (skip lists,
// per-webhook cap) throw most of those away, a backlog of webhooks the claim cannot take
// stands in front, and it asks webhook by webhook instead.
func (s *Store) pickDue(ctx context.Context, tx *sql.Tx, r herald.ClaimRequest, leased []string, leasedPerWebhook map[string]int) ([]string, error) {
	perWebhook := r.PerWebhook // leased by anyone plus taken now, per webhook
	if perWebhook <= 0 {
		perWebhook = r.Limit
	}
	skip := make(map[string]bool, len(r.SkipWebhooks))
	for _, id := range r.SkipWebhooks {
		skip[id] = true
	}
	skipTenants := make(map[string]bool, len(r.SkipTenants))
	for _, id := range r.SkipTenants {
		skipTenants[id] = true
	}
	// The cap counts what anyone holds already.
	taken := map[string]int{}
	if r.PerWebhook > 0 {
		taken = leasedPerWebhook
		for id, n := range taken {
			if n >= perWebhook {
				skip[id] = true
			}
		}
	}
	leasedList, err := jsonText(append([]string{}, leased...)) // [] not null: NOT IN (NULL) excludes all
	if err != nil {
		return nil, err
	}
	// Twice the limit and some: enough for a claim whose first rows are partly capped,
	// little enough to cost nothing.
	budget := 2*r.Limit + 64
	// After a walk in due order found too little it could take, the next claims that
	// skip webhooks go straight to the per-webhook query, which gives the same answer:
	// with a claim costing no write, a dispatcher claims each time a slot frees, and
	// walking the same capped backlog every time was most of a claim's cost.
	if len(skip) == 0 && len(skipTenants) == 0 || s.walkAgainIn == 0 {
		ids, read, err := s.pickRows(ctx, tx, r.Limit, perWebhook, skip, skipTenants, maps.Clone(taken), dueInOrder,
			micros(r.Now), budget, leasedList)
		if err != nil || len(ids) == r.Limit || read < budget {
			return ids, err // the answer, or every due delivery was read
		}
		s.walkAgainIn = walkAgainAfter
	} else {
		s.walkAgainIn--
	}
	skipList, err := jsonText(append([]string{}, slices.Collect(maps.Keys(skip))...))
	if err != nil {
		return nil, err
	}
	tenantList, err := jsonText(append([]string{}, r.SkipTenants...))
	if err != nil {
		return nil, err
	}
	ids, _, err := s.pickRows(ctx, tx, r.Limit, perWebhook, skip, skipTenants, taken, dueByWebhook,
		micros(r.Now), skipList, min(perWebhook, r.Limit), r.Limit, tenantList, leasedList)
	return ids, err
}

// walkAgainAfter is how many claims go straight to the per-webhook query after a walk
// in due order that found too little to take, before a claim walks again.
const walkAgainAfter = 16

// pickRows reads (delivery id, webhook id, tenant id) rows from query q and keeps up to
// limit of them, none of a skipped webhook or tenant and none past the perWebhook-th of
// one webhook, counting taken, which it updates. It returns how many rows it read.
func (s *Store) pickRows(ctx context.Context, tx *sql.Tx, limit, perWebhook int, skip, skipTenants map[string]bool,
	taken map[string]int, q string, args ...any) (ids []string, read int, err error) {
	rows, err := s.query(ctx, tx, q, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	for len(ids) < limit && rows.Next() {
		read++
		var id, webhookID, tenantID string
		if err := rows.Scan(&id, &webhookID, &tenantID); err != nil {
			return nil, 0, err
		}
		if skip[webhookID] || skipTenants[tenantID] || taken[webhookID] >= perWebhook {
			continue
		}
		taken[webhookID]++
		ids = append(ids, id)
	}
	return ids, read, rows.Err()
}

// claimsQuery loads claimed deliveries, listed as JSON, by primary key.
const claimsQuery = "SELECT " + deliveryColumns + `,
			e.id, e.tenant_id, e.type, e.data, e.timestamp, e.created_at, e.traceparent, ` + webhookColumns + `
		FROM deliveries d
		JOIN events e ON e.id = d.event_id
		JOIN webhooks w ON w.id = d.webhook_id
		WHERE d.id IN (SELECT value FROM json_each(?))
		ORDER BY d.next_attempt_at, d.rowid`

// claims loads deliveries with their events and webhooks, oldest due first. A delivery
// whose webhook cannot be read is left out and returned in unreadable, with why, to be
// failed (see failUnreadable).
func (s *Store) claims(ctx context.Context, tx *sql.Tx, ids []string) (
	claims []herald.Claim, unreadable map[string]string, err error) {
	claims = make([]herald.Claim, 0, len(ids))
	if len(ids) == 0 {
		return claims, nil, nil
	}
	list, err := jsonText(ids)
	if err != nil {
		return nil, nil, err
	}
	rows, err := s.query(ctx, tx, claimsQuery, list)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	webhooks := map[string]herald.Webhook{} // each webhook's secrets opened once
	for rows.Next() {
		var dr deliveryRow
		var wr webhookRow
		var e herald.Event
		var data string
		var ts, created int64
		dest := append(dr.dest(), &e.ID, &e.TenantID, &e.Type, &data, &ts, &created, &e.TraceParent)
		if err := rows.Scan(append(dest, wr.dest()...)...); err != nil {
			return nil, nil, err
		}
		e.Data = json.RawMessage(data)
		e.Timestamp = fromMicros(ts)
		e.CreatedAt = fromMicros(created)
		w, ok := webhooks[wr.w.ID]
		if !ok {
			if w, err = s.webhook(&wr); err != nil {
				// One webhook that cannot be read (its secret sealed under another key,
				// say) must not stall every claim: its delivery fails, saying why.
				if unreadable == nil {
					unreadable = map[string]string{}
				}
				unreadable[dr.d.ID] = fmt.Sprintf("cannot read webhook %s: %v; check --encryption-key, then recover", wr.w.ID, err)
				continue
			}
			webhooks[w.ID] = w
		}
		claims = append(claims, herald.Claim{Delivery: dr.delivery(), Event: e, Webhook: w})
	}
	return claims, unreadable, rows.Err()
}

// failUnreadable fails the deliveries of webhooks claims could not read, saying why.
func failUnreadable(ctx context.Context, tx *sql.Tx, unreadable map[string]string, now time.Time) error {
	for id, why := range unreadable {
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 'failed', next_attempt_at = NULL,
			last_error = ? WHERE id = ?`, why, id); err != nil {
			return err
		}
		if err := unparkNext(ctx, tx, id, now); err != nil {
			return err
		}
	}
	return nil
}

// claimDeliveryQuery reads what ClaimDelivery checks: the delivery's webhook, and
// whether its attempts' bodies and its event's data were purged.
const claimDeliveryQuery = `SELECT d.webhook_id, d.purged_at IS NOT NULL, e.purged_at IS NOT NULL,
		d.status, d.ordering_key, d.created_at
	FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = ?`

// keyHeadQuery finds the head of the ordering key of delivery ?1 (webhook ?2, key ?3,
// created ?4) when that is another delivery: the first pending one before it.
const keyHeadQuery = `SELECT p.id FROM deliveries p INDEXED BY deliveries_ordering
	WHERE p.webhook_id = ?2 AND p.ordering_key = ?3 AND p.status = 'pending' AND p.ordering_key <> ''
		AND (p.created_at, p.id) < (?4, ?1)
	ORDER BY p.created_at, p.id LIMIT 1`

// ClaimDelivery leases one delivery whatever its status or due time. ECONFLICT if
// anyone holds an unexpired lease on it; ErrPurged if its event's data is gone. A
// delivery whose attempts' bodies were purged, while its event keeps its data, is
// work in progress again: it is no longer purged, so its new attempts are in their turn.
func (s *Store) ClaimDelivery(ctx context.Context, id, owner string, now, leaseUntil time.Time) (*herald.Claim, error) {
	var claim herald.Claim
	var mine *lease // the lease this call took, to undo if its write is not committed
	err := s.inTx(ctx, "claim delivery "+id, func(ctx context.Context, tx *sql.Tx) error {
		var webhookID, status, key string
		var purged, eventPurged bool
		var created int64
		err := tx.QueryRowContext(ctx, claimDeliveryQuery, id).Scan(&webhookID, &purged, &eventPurged, &status, &key, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("delivery", id)
		}
		if err != nil {
			return err
		}
		if purged && eventPurged {
			return herald.ErrPurged(id)
		}
		if status == string(herald.StatusPending) && key != "" {
			var head string
			err := tx.QueryRowContext(ctx, keyHeadQuery, id, webhookID, key, created).Scan(&head)
			switch {
			case err == nil:
				return herald.ErrNotHead(id, key, head)
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
		}
		if !s.leases.tryTake(id, webhookID, owner, now, leaseUntil) {
			return herald.Errorf(herald.ECONFLICT, "delivery %q is being sent right now; try again shortly", id)
		}
		mine = &lease{owner: owner, webhookID: webhookID, until: leaseUntil}
		if purged {
			if _, err := tx.ExecContext(ctx, "UPDATE deliveries SET purged_at = NULL WHERE id = ?", id); err != nil {
				return err
			}
		}
		claims, unreadable, err := s.claims(ctx, tx, []string{id})
		if err != nil {
			return err
		}
		if len(claims) != 1 {
			if why, ok := unreadable[id]; ok {
				return errors.New(why)
			}
			return fmt.Errorf("delivery %s: its event or webhook is missing", id)
		}
		claim = claims[0]
		return nil
	})
	if err != nil {
		if mine != nil {
			s.leases.dropExact(id, *mine)
		}
		return nil, err
	}
	return &claim, nil
}

// The statements of an attempt's record.
const (
	attemptStateQuery = `SELECT d.webhook_id, d.ordering_key, d.status, d.attempt_count, d.next_attempt_at,
			w.enabled, w.disabled_reason, w.consecutive_failures, w.failing_since, w.last_success_at
		FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = ?`
	insertAttemptQuery = `
		INSERT INTO attempts (id, delivery_id, number, at, status_code, duration_ms, success,
			error, request_headers, response_headers, response_body, trace_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	recordDeliveryQuery = `
		UPDATE deliveries SET status = ?, attempt_count = ?, next_attempt_at = ?, last_error = ?,
			updated_at = ?
		WHERE id = ?`
	recordSucceededQuery = "UPDATE deliveries SET attempt_count = ?, updated_at = ? WHERE id = ?"
	updateHealthQuery    = `
		UPDATE webhooks SET last_delivery_status = ?, last_delivery_at = ?, consecutive_failures = ?,
			failing_since = ?, last_error = ?, last_success_at = ?
		WHERE id = ?`
	dropAttemptsQuery = "DELETE FROM attempts WHERE delivery_id = ? AND number BETWEEN ? AND ?"
)

// RecordAttempt applies one finished attempt atomically; see herald.AttemptRecord. It
// reads the delivery and its webhook, and writes what herald.DecideAttempt makes of
// them: an attempt without an ID gets one, without At the current time.
func (s *Store) RecordAttempt(ctx context.Context, r *herald.AttemptRecord) (herald.AttemptOutcome, error) {
	// Who holds the lease now. It changes only when a lease expires and another claim
	// takes the delivery, and then the attempt is logged either way.
	holder := s.leases.holder(r.Attempt.DeliveryID)
	var out herald.AttemptOutcome
	err := s.inRecordTx(ctx, "record attempt of "+r.Attempt.DeliveryID, func(ctx context.Context, tx *sql.Tx) error {
		var st herald.AttemptState
		var webhookID, key, status string
		var next, since, lastSuccess sql.NullInt64
		err := s.queryRow(ctx, tx, attemptStateQuery, r.Attempt.DeliveryID).Scan(&webhookID, &key, &status, &st.AttemptCount, &next,
			&st.Webhook.Enabled, &st.Webhook.DisabledReason, &st.Webhook.ConsecutiveFailures, &since, &lastSuccess)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("delivery", r.Attempt.DeliveryID)
		}
		if err != nil {
			return err
		}
		st.DeliveryStatus, st.LeaseOwner, st.NextAttemptAt = herald.DeliveryStatus(status), holder, fromNullMicros(next)
		st.Webhook.FailingSince, st.Webhook.LastSuccessAt = fromNullMicros(since), fromNullMicros(lastSuccess)
		c := herald.DecideAttempt(r, st, s.now())
		out = c.Outcome
		if err := s.applyAttempt(ctx, tx, &c, webhookID); err != nil {
			return err
		}
		if key != "" && !c.KeepOutcome && c.Status != herald.StatusPending {
			return unparkNext(ctx, tx, r.Attempt.DeliveryID, c.Attempt.At)
		}
		return nil
	})
	if herald.ErrorCode(err) == herald.ENOTFOUND {
		s.leases.drop(r.Attempt.DeliveryID, r.Owner) // deleted meanwhile: nothing left to lease
	}
	if err != nil {
		return herald.AttemptOutcome{}, err
	}
	// Only now that the record is committed: a claim finds either the lease or it. A
	// lease someone else holds now stays theirs.
	s.leases.drop(r.Attempt.DeliveryID, r.Owner)
	return out, nil
}

// applyAttempt writes what DecideAttempt decided.
func (s *Store) applyAttempt(ctx context.Context, tx *sql.Tx, c *herald.AttemptChange, webhookID string) error {
	a := &c.Attempt
	reqHeaders, err := headersJSON(a.RequestHeaders)
	if err != nil {
		return err
	}
	respHeaders, err := headersJSON(a.ResponseHeaders)
	if err != nil {
		return err
	}
	at := micros(a.At)
	_, err = s.exec(ctx, tx, insertAttemptQuery,
		a.ID, a.DeliveryID, a.Number, at, a.StatusCode, a.DurationMS, a.Success, a.Error,
		reqHeaders, respHeaders, a.ResponseBody, a.TraceID)
	if isUniqueViolation(err) {
		return conflict("attempt", a.ID)
	}
	if err != nil {
		return err
	}
	if c.DropAttempts != [2]int{} {
		if _, err := s.exec(ctx, tx, dropAttemptsQuery, a.DeliveryID, c.DropAttempts[0], c.DropAttempts[1]); err != nil {
			return err
		}
	}
	switch {
	case c.KeepOutcome:
		_, err = s.exec(ctx, tx, recordSucceededQuery, c.AttemptCount, at, a.DeliveryID)
	default:
		var next sql.NullInt64
		if c.NextAttemptAt != nil {
			next = sql.NullInt64{Int64: micros(*c.NextAttemptAt), Valid: true}
		}
		_, err = s.exec(ctx, tx, recordDeliveryQuery, string(c.Status), c.AttemptCount, next, c.LastError, at, a.DeliveryID)
	}
	if err != nil {
		return err
	}
	if _, err := s.exec(ctx, tx, updateHealthQuery, c.Webhook.LastDeliveryStatus, at, c.Webhook.ConsecutiveFailures,
		nullMicros(c.Webhook.FailingSince), c.Webhook.LastError, nullMicros(c.Webhook.LastSuccessAt), webhookID); err != nil {
		return err
	}
	if c.Disable != "" {
		if _, err := tx.ExecContext(ctx, "UPDATE webhooks SET enabled = 0, disabled_reason = ?, updated_at = "+nextVersion+" WHERE id = ?",
			c.Disable, at, webhookID); err != nil {
			return err
		}
	}
	if c.FailPending != "" {
		_, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 'failed', next_attempt_at = NULL, last_error = ?, updated_at = ?
			WHERE webhook_id = ? AND status = 'pending'`, c.FailPending, at, webhookID)
		return err
	}
	return nil
}

// headersJSON encodes headers for a JSON text column; nil becomes {}.
func headersJSON(h http.Header) (string, error) {
	if h == nil {
		h = http.Header{}
	}
	return jsonText(h)
}

// ReleaseClaims drops the leases owner holds so others can take the deliveries now.
func (s *Store) ReleaseClaims(ctx context.Context, owner string) error {
	s.leases.release(owner)
	return nil
}

// requeueQuery makes failed deliveries of webhook ?3 created in [?4, ?5) pending and
// due at ?1, up to ?6 of them, oldest first; a NULL ?5 is no upper bound. Only those
// last changed before ?2 (now) are taken, so one recover never requeues a delivery
// twice (see herald.Store.Requeue). A delivery whose event's data was purged has
// nothing to send and stays failed; one whose attempts' bodies alone were purged is
// work in progress again, so no longer purged.
const requeueQuery = `UPDATE deliveries SET status = 'pending', next_attempt_at = ?1, updated_at = ?2, purged_at = NULL
	WHERE id IN (SELECT d.id FROM deliveries d
		WHERE d.webhook_id = ?3 AND d.status = 'failed' AND d.created_at >= ?4 AND d.updated_at < ?2
			AND (?5 IS NULL OR d.created_at < ?5)
			AND (d.purged_at IS NULL OR (SELECT e.purged_at FROM events e WHERE e.id = d.event_id) IS NULL)
		ORDER BY d.created_at, d.id LIMIT ?6)`

// Requeue makes up to limit failed deliveries of a webhook created in [since, until),
// oldest first, pending and due at now, and returns how many. A zero until means no
// upper bound. ENOTFOUND if the webhook does not exist.
func (s *Store) Requeue(ctx context.Context, webhookID string, since, until, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		limit = herald.RequeueBatch
	}
	var n int64
	err := s.inTx(ctx, "requeue deliveries of "+webhookID, func(ctx context.Context, tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM webhooks WHERE id = ?", webhookID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("webhook", webhookID)
		}
		if err != nil {
			return err
		}
		// Leases stay: a delivery being sent right now (a manual retry) is claimed
		// again only when that attempt is recorded or its lease runs out.
		args := []any{micros(now), micros(now), webhookID, micros(since), nil}
		if !until.IsZero() {
			args[4] = micros(until)
		}
		res, err := tx.ExecContext(ctx, requeueQuery, append(args, limit)...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}
