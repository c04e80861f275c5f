package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald"
)

// deliveryColumns are read by deliveryRow, in its order, from a table aliased d.
const deliveryColumns = `d.id, d.event_id, d.webhook_id, d.tenant_id, d.event_type, d.status,
	d.attempt_count, d.next_attempt_at, d.last_error, d.created_at, d.updated_at, d.ordering_key`

// deliveryRow holds a delivery as scanned.
type deliveryRow struct {
	d      herald.Delivery
	status string
}

func (r *deliveryRow) dest() []any {
	return []any{&r.d.ID, &r.d.EventID, &r.d.WebhookID, &r.d.TenantID, &r.d.EventType, &r.status,
		&r.d.AttemptCount, &r.d.NextAttemptAt, &r.d.LastError, &r.d.CreatedAt, &r.d.UpdatedAt, &r.d.OrderingKey}
}

func (r *deliveryRow) delivery() herald.Delivery {
	d := r.d
	d.Status = herald.DeliveryStatus(r.status)
	d.NextAttemptAt = utcPtr(d.NextAttemptAt)
	d.CreatedAt = d.CreatedAt.UTC()
	d.UpdatedAt = d.UpdatedAt.UTC()
	return d
}

func scanDelivery(row pgx.CollectableRow) (herald.Delivery, error) {
	var r deliveryRow
	if err := row.Scan(r.dest()...); err != nil {
		return herald.Delivery{}, err
	}
	return r.delivery(), nil
}

// Delivery returns one delivery with its attempts, ENOTFOUND if there is none.
func (s *Store) Delivery(ctx context.Context, id string) (*herald.Delivery, error) {
	var ds []herald.Delivery
	err := s.readTx(ctx, "delivery "+id, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT "+deliveryColumns+" FROM deliveries d WHERE d.id = $1", id)
		if err != nil {
			return err
		}
		if ds, err = pgx.CollectRows(rows, scanDelivery); err != nil {
			return err
		}
		if err := loadChannels(ctx, tx, ds); err != nil {
			return err
		}
		return loadAttempts(ctx, tx, ds)
	})
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, notFound("delivery", id)
	}
	return &ds[0], nil
}

// Deliveries returns one page of deliveries, newest first, each with its attempts, and
// the total matching.
func (s *Store) Deliveries(ctx context.Context, f herald.DeliveryFilter) ([]herald.Delivery, int, error) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	if f.TenantID != "" {
		add("d.tenant_id = $%d", f.TenantID)
	}
	if f.WebhookID != "" {
		add("d.webhook_id = $%d", f.WebhookID)
	}
	if f.EventID != "" {
		add("d.event_id = $%d", f.EventID)
	}
	switch f.Status {
	case "":
	case herald.StatusRetrying:
		conds = append(conds, "d.status = 'pending' AND d.attempt_count > 0")
	default:
		add("d.status = $%d", string(f.Status))
	}
	if f.EventType != "" {
		add("d.event_type = $%d", f.EventType)
	}
	if f.Channel != "" {
		add(channelCondition, f.Channel)
	}
	if !f.Since.IsZero() {
		add("d.created_at >= $%d", stored(f.Since))
	}
	if !f.Until.IsZero() {
		add("d.created_at < $%d", stored(f.Until))
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	limit, offset := page(f.Page, f.PerPage)
	if f.Offset > 0 {
		offset = f.Offset
	}
	var ds []herald.Delivery
	var total int
	err := s.readTx(ctx, "deliveries", func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM deliveries d"+where, args...).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT "+deliveryColumns+" FROM deliveries d"+where+
			fmt.Sprintf(" ORDER BY d.created_at DESC, d.id DESC LIMIT $%d OFFSET $%d", len(args)+1, len(args)+2),
			append(args, limit, offset)...)
		if err != nil {
			return err
		}
		if ds, err = pgx.CollectRows(rows, scanDelivery); err != nil {
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
	if ds == nil {
		ds = []herald.Delivery{}
	}
	return ds, total, nil
}

// attemptColumns are read by attemptRow, in its order, from a table aliased a.
const attemptColumns = `a.id, a.delivery_id, a.number, a.at, a.status_code, a.duration_ms, a.success, a.error,
	a.request_headers::text, a.response_headers::text, a.response_body, a.trace_id`

// attemptRow holds an attempt as scanned.
type attemptRow struct {
	a                       herald.Attempt
	reqHeaders, respHeaders string
}

func (r *attemptRow) dest() []any {
	return []any{&r.a.ID, &r.a.DeliveryID, &r.a.Number, &r.a.At, &r.a.StatusCode, &r.a.DurationMS,
		&r.a.Success, &r.a.Error, &r.reqHeaders, &r.respHeaders, &r.a.ResponseBody, &r.a.TraceID}
}

func (r *attemptRow) attempt() (herald.Attempt, error) {
	a := r.a
	a.At = a.At.UTC()
	a.RequestHeaders, a.ResponseHeaders = nil, nil
	if err := json.Unmarshal([]byte(r.reqHeaders), &a.RequestHeaders); err != nil {
		return a, fmt.Errorf("attempt %s request headers: %w", a.ID, err)
	}
	if err := json.Unmarshal([]byte(r.respHeaders), &a.ResponseHeaders); err != nil {
		return a, fmt.Errorf("attempt %s response headers: %w", a.ID, err)
	}
	return a, nil
}

// loadAttempts fills the latest attempts of ds, at most herald.MaxEmbeddedAttempts
// each, oldest first, with one query, and their AttemptsDropped. Attempt numbers run
// to the delivery's count, so the latest are those above count minus the limit.
func loadAttempts(ctx context.Context, tx pgx.Tx, ds []herald.Delivery) error {
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
	rows, err := tx.Query(ctx, "SELECT "+attemptColumns+`
		FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
		WHERE a.delivery_id = ANY($1) AND a.number > d.attempt_count - $2
		ORDER BY a.delivery_id, a.number`, ids, herald.MaxEmbeddedAttempts)
	if err != nil {
		return err
	}
	var r attemptRow
	_, err = pgx.ForEachRow(rows, r.dest(), func() error {
		a, err := r.attempt()
		if err != nil {
			return err
		}
		i := index[a.DeliveryID]
		ds[i].Attempts = append(ds[i].Attempts, a)
		return nil
	})
	return err
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
	err := s.readTx(ctx, "attempts of "+f.DeliveryID, func(ctx context.Context, tx pgx.Tx) error {
		as = as[:0]
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM attempts WHERE delivery_id = $1", f.DeliveryID).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT "+attemptColumns+` FROM attempts a
			WHERE a.delivery_id = $1 ORDER BY a.number DESC LIMIT $2 OFFSET $3`, f.DeliveryID, limit, offset)
		if err != nil {
			return err
		}
		var r attemptRow
		_, err = pgx.ForEachRow(rows, r.dest(), func() error {
			a, err := r.attempt()
			as = append(as, a)
			return err
		})
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return as, total, nil
}

// claimLockClass is the first key of the transaction advisory lock a capped claim takes
// on each webhook it leases from (the second is the hash of the webhook's id), so that
// no two claims count one webhook's leases at once. The constant is "hrld" in ASCII.
const claimLockClass = 0x68726c64

// headOnly keeps a delivery d only if it is the head of its ordering key (see
// herald.BlockedKey): no pending delivery of its webhook and key comes before it in
// publish order, leased or not, due or not. Only keyed deliveries look, and they look in
// deliveries_ordering, which holds the pending keyed deliveries alone.
//
// Every statement that leases checks it in its own snapshot (leaseDue checks again what
// pickDue chose), and a head stays pending until the transaction that records its last
// attempt or skips it commits, so no snapshot shows a key with no head in flight and its
// next delivery claimable while the head could still be sent.
const headOnly = `(d.ordering_key = '' OR NOT EXISTS (
		SELECT 1 FROM deliveries o
		WHERE o.webhook_id = d.webhook_id AND o.ordering_key = d.ordering_key
			AND o.status = 'pending' AND o.ordering_key <> ''
			AND (o.created_at, o.id) < (d.created_at, d.id)))`

// dueInOrder lists due, unleased deliveries of enabled webhooks but those in $3 and of
// tenants but those in $4, oldest due first, up to $2 of them at $1. It walks
// deliveries_due in order and stops at its limit. The skip lists come first, so the
// deliveries of webhooks the caller has no room for (those it is busy sending, at the
// head of the queue) cost no look-up of their lease or webhook.
var dueInOrder = `
	SELECT d.id, d.webhook_id, d.tenant_id FROM deliveries d
	WHERE d.status = 'pending' AND d.next_attempt_at <= $1
		AND NOT (d.webhook_id = ANY($3)) AND NOT (d.tenant_id = ANY($4))
		AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.delivery_id = d.id AND ` + livingLease("$1") + `)
		AND EXISTS (SELECT 1 FROM webhooks w WHERE w.id = d.webhook_id AND w.enabled)
		AND ` + headOnly + `
	ORDER BY d.next_attempt_at, d.id
	LIMIT $2`

// dueByWebhook gives the same answer as walking dueInOrder and leaving out the webhooks
// in $2, the tenants in $5 and every delivery past the $3rd of its webhook, up to $4 of
// them, but it costs
// one seek into deliveries_webhook_due per enabled webhook instead of a walk through a
// backlog that belongs to webhooks the claim cannot take.
var dueByWebhook = `
	SELECT c.id, c.webhook_id, w.tenant_id FROM webhooks w
	CROSS JOIN LATERAL (
		SELECT d.id, d.webhook_id, d.next_attempt_at FROM deliveries d
		WHERE d.webhook_id = w.id AND d.status = 'pending' AND d.next_attempt_at <= $1
			AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.delivery_id = d.id AND ` + livingLease("$1") + `)
			AND ` + headOnly + `
		ORDER BY d.next_attempt_at, d.id
		LIMIT $3) c
	WHERE w.enabled AND NOT (w.id = ANY($2)) AND NOT (w.tenant_id = ANY($5))
	ORDER BY c.next_attempt_at, c.id
	LIMIT $4`

// claimColumns are what a claim is loaded from: a delivery d, its event e and webhook w.
const claimColumns = deliveryColumns + `,
	e.id, e.tenant_id, e.type, e.data, e.timestamp, e.created_at, e.traceparent, ` + webhookColumns

// leaseDue leases, to $3 of the process $6 until $4, up to $5 of the deliveries $1 that
// are still due at $2 and unleased, oldest due first, skipping those another
// transaction has locked (another claim is taking them, or an attempt is being
// recorded), and loads them. The lease is a row of leases, replacing one that expired
// or whose process died; the delivery's row is locked, not written.
//
// The rows are locked by primary key and checked once locked, as they are now: a
// condition on status and due time beside the ids would let a planner without
// statistics read the whole backlog through deliveries_due to find them.
var leaseDue = `
	WITH locked AS (
		SELECT d.* FROM deliveries d WHERE d.id = ANY($1)
		FOR NO KEY UPDATE SKIP LOCKED
	), picked AS (
		SELECT d.* FROM locked d
		WHERE d.status = 'pending' AND d.next_attempt_at <= $2
			AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.delivery_id = d.id AND ` + livingLease("$2") + `)
			AND ` + headOnly + `
		ORDER BY d.next_attempt_at, d.id
		LIMIT $5
	), leased AS (
		` + upsertLease + `
		SELECT id, webhook_id, $3, $6, $4 FROM picked
		` + onLeaseConflict("$2") + `
		RETURNING l.delivery_id
	)
	SELECT ` + claimColumns + `
	FROM picked d JOIN leased ON leased.delivery_id = d.id
		JOIN events e ON e.id = d.event_id JOIN webhooks w ON w.id = d.webhook_id
	ORDER BY d.next_attempt_at, d.id`

// upsertLease begins the statement that writes leases: an INSERT … SELECT, with
// onLeaseConflict after it.
const upsertLease = `INSERT INTO leases AS l (delivery_id, webhook_id, owner, process, until)`

// onLeaseConflict replaces a delivery's lease only if it no longer holds at now: a
// concurrent lease of the same delivery is waited for, and then kept.
func onLeaseConflict(now string) string {
	return `ON CONFLICT (delivery_id) DO UPDATE SET webhook_id = excluded.webhook_id, owner = excluded.owner,
			process = excluded.process, until = excluded.until
		WHERE NOT (` + livingLease(now) + `)`
}

// recordSettings is the first statement of a transaction that records attempts, and
// claimSettings of one that leases deliveries. Both let it commit without waiting for
// its WAL to reach disk: if the database crashes and loses a lease or a record, the
// delivery is sent again (a repeat, which receivers deduplicate), never lost, while
// every attempt stops paying for an fsync. Publishes, which are acknowledged as
// durable, never do.
//
// They also fix the planner's choice. These statements find their rows by key, or walk
// an index in order and stop at a limit. Planned on statistics that have not seen a
// table grow (a new database's first minutes, a burst after a quiet hour), the planner
// read whole tables for a few keys instead, and a connection keeps a plan until the next
// analysis (see maintainTables): sequential scans of deliveries for id = ANY, a hash
// join of all of it for a batch's update, and for the due walk a bitmap scan or hash
// join of the whole backlog, then a sort (BENCHMARKS.md, "Plans that do not depend on
// the statistics"). With those plans priced out the index is the plan; where nothing
// else can run (the sort of the few rows a claim leases) the priced-out plan still
// runs, with JIT off, which its cost would otherwise set off. unparkQuery and
// failPendingQuery also run, rarely, in transactions without these settings (a skipped
// delivery, a webhook disabled by hand); a connection that ran them there five times
// may have cached a plan of theirs that the settings would have refused.
const (
	recordSettings = `SELECT set_config('synchronous_commit', 'off', true), set_config('jit', 'off', true),
		set_config('enable_seqscan', 'off', true)`
	claimSettings = recordSettings + `,
		set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true)`
)

// ClaimDue leases up to Limit pending deliveries that are due, of enabled webhooks,
// oldest due first, skipping those leased by anyone until after Now and those of
// SkipWebhooks and SkipTenants. With PerWebhook set it leases at most PerWebhook minus the deliveries of
// a webhook already leased, by anyone. Claims in any number of processes never wait for
// each other and never lease one delivery twice: a delivery another claim is taking at
// the same moment is skipped (FOR NO KEY UPDATE SKIP LOCKED), and so is, under a cap, a
// webhook another capped claim is counting.
func (s *Store) ClaimDue(ctx context.Context, r herald.ClaimRequest) ([]herald.Claim, error) {
	if r.Limit <= 0 {
		return []herald.Claim{}, nil
	}
	r.Now, r.LeaseUntil = stored(r.Now), stored(r.LeaseUntil)
	var claims []herald.Claim
	err := s.inTx(ctx, "claim deliveries", func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, claimSettings); err != nil {
			return err
		}
		ids, limit, err := pickDue(ctx, tx, r)
		if err != nil || len(ids) == 0 {
			claims = []herald.Claim{}
			return err
		}
		claims, err = s.lease(ctx, tx, leaseDue, ids, r.Now, r.Owner, r.LeaseUntil, limit, s.process)
		return err
	})
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// pickDue chooses the deliveries ClaimDue may lease, oldest due first, and how many of
// them at most. Usually the first rows in due order are the answer, so it reads a few
// more than the limit and filters them; when the filters (skip list, per-webhook cap)
// throw most of them away, a backlog of webhooks the claim cannot take stands in front,
// and it asks webhook by webhook instead.
//
// Without a cap it returns every candidate it read and lets the lease take the first
// Limit that no concurrent claim is taking, so claimers that read the same rows still
// share them out. With a cap it holds the claim lock of each webhook it returns rows
// of, and returns only what the cap leaves room for.
func pickDue(ctx context.Context, tx pgx.Tx, r herald.ClaimRequest) (ids []string, limit int, err error) {
	c := capper{now: r.Now, perWebhook: r.PerWebhook, perClaim: r.Limit, skip: map[string]bool{},
		skipTenant: map[string]bool{}, room: map[string]int{}}
	if r.PerWebhook > 0 {
		c.perClaim = min(r.PerWebhook, r.Limit)
	}
	for _, id := range r.SkipWebhooks {
		c.skip[id] = true
	}
	skipTenants := []string{}
	for _, id := range r.SkipTenants {
		c.skipTenant[id] = true
		skipTenants = append(skipTenants, id)
	}
	pick := func(rows []dueRow) ([]dueRow, error) {
		if r.PerWebhook <= 0 {
			return c.pick(rows, false, -1), nil
		}
		return c.pickCapped(ctx, tx, rows, r.Limit)
	}
	// Twice the limit and some: enough for a claim whose first rows are partly leased,
	// skipped or capped, little enough to cost nothing.
	budget := 2*r.Limit + 64
	skipWebhooks := r.SkipWebhooks
	if skipWebhooks == nil {
		skipWebhooks = []string{}
	}
	rows, err := dueRows(ctx, tx, dueInOrder, r.Now, budget, skipWebhooks, skipTenants)
	if err != nil {
		return nil, 0, err
	}
	picked, err := pick(rows)
	if err != nil {
		return nil, 0, err
	}
	if len(picked) < r.Limit && len(rows) == budget {
		// Not enough, and more is due: ask each webhook the claim can take.
		skipList := make([]string, 0, len(c.skip)+len(c.room))
		for id := range c.skip {
			skipList = append(skipList, id)
		}
		for id, n := range c.room {
			if n <= 0 && !c.skip[id] {
				skipList = append(skipList, id)
			}
		}
		if rows, err = dueRows(ctx, tx, dueByWebhook, r.Now, skipList, c.perClaim, budget, skipTenants); err != nil {
			return nil, 0, err
		}
		if picked, err = pick(rows); err != nil {
			return nil, 0, err
		}
	}
	ids = make([]string, len(picked))
	for i, row := range picked {
		ids[i] = row.id
	}
	return ids, min(len(ids), r.Limit), nil
}

// dueRow is a due delivery, its webhook and their tenant.
type dueRow struct{ id, webhookID, tenantID string }

// dueRows runs a query of (delivery id, webhook id, tenant id) rows.
func dueRows(ctx context.Context, tx pgx.Tx, q string, args ...any) ([]dueRow, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var out []dueRow
	var row dueRow
	_, err = pgx.ForEachRow(rows, []any{&row.id, &row.webhookID, &row.tenantID}, func() error {
		out = append(out, row)
		return nil
	})
	return out, err
}

// capper applies a claim's skip list and per-webhook cap to due rows.
type capper struct {
	now        time.Time
	perWebhook int             // PerWebhook: at most this many of one webhook leased at once, 0 for no cap
	perClaim   int             // at most this many of one webhook in this claim
	skip       map[string]bool // webhooks the claim must not take
	skipTenant map[string]bool // tenants the claim must not take
	room       map[string]int  // under a cap, each webhook tried: how many more it may lease
}

// pick keeps, in order, up to want (all when negative) of rows: none of a skipped
// webhook or tenant, and none past the perClaim-th of one or, when capped, past its room. A
// webhook not tried yet is assumed to have room for perClaim.
func (c *capper) pick(rows []dueRow, capped bool, want int) []dueRow {
	var out []dueRow
	taken := map[string]int{}
	for _, row := range rows {
		if want >= 0 && len(out) >= want {
			break
		}
		limit := c.perClaim
		if n, tried := c.room[row.webhookID]; capped && tried {
			limit = n
		}
		if c.skip[row.webhookID] || c.skipTenant[row.tenantID] || taken[row.webhookID] >= limit {
			continue
		}
		taken[row.webhookID]++
		out = append(out, row)
	}
	return out
}

// pickCapped picks up to want of rows under the cap. It tries the claim lock only of the
// webhooks whose rows it would take, as it comes to them, so that a claim holds a few
// locks, not one per webhook it reads: it picks assuming room for webhooks not tried
// yet, tries those among the picked, and picks again, until every webhook picked is
// one whose lock it holds and whose leases it has counted.
func (c *capper) pickCapped(ctx context.Context, tx pgx.Tx, rows []dueRow, want int) ([]dueRow, error) {
	for {
		picked := c.pick(rows, true, want)
		var fresh []string
		for _, row := range picked {
			if _, tried := c.room[row.webhookID]; !tried {
				c.room[row.webhookID] = 0
				fresh = append(fresh, row.webhookID)
			}
		}
		if len(fresh) == 0 {
			return picked, nil
		}
		if err := c.reserve(ctx, tx, fresh); err != nil {
			return nil, err
		}
	}
}

// reserve takes the claim lock of each of webhooks, without waiting, and then counts the
// leases of those it got: each one's room is the cap minus its deliveries under an
// unexpired lease of a living process. A webhook whose lock another claim holds gets no room. The count runs
// after the lock is held, so it sees the leases of every claim that held it before.
func (c *capper) reserve(ctx context.Context, tx pgx.Tx, webhooks []string) error {
	rows, err := tx.Query(ctx, "SELECT id FROM unnest($1::text[]) AS id WHERE pg_try_advisory_xact_lock($2, hashtext(id))",
		webhooks, int32(claimLockClass))
	if err != nil {
		return err
	}
	locked, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(locked) == 0 {
		return err
	}
	for _, id := range locked {
		c.room[id] = c.perWebhook
	}
	rows, err = tx.Query(ctx, `SELECT l.webhook_id, count(*) FROM leases l
		WHERE l.webhook_id = ANY($1) AND `+livingLease("$2")+`
		GROUP BY l.webhook_id`, locked, c.now)
	if err != nil {
		return err
	}
	var id string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error {
		c.room[id] = max(c.perWebhook-n, 0)
		return nil
	})
	return err
}

// lease runs q, one of the lease queries, and turns the rows it loads into claims. A
// delivery whose webhook cannot be read (its secret sealed under another key, say) is
// failed, saying why, rather than stall every claim that would take it.
func (s *Store) lease(ctx context.Context, tx pgx.Tx, q string, args ...any) ([]herald.Claim, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	claims := []herald.Claim{}
	webhooks := map[string]herald.Webhook{} // each webhook's secrets opened once
	unreadable := map[string]string{}       // delivery id → why its webhook cannot be read
	var dr deliveryRow
	var wr webhookRow
	var e herald.Event
	var data string
	dest := append(dr.dest(), &e.ID, &e.TenantID, &e.Type, &data, &e.Timestamp, &e.CreatedAt, &e.TraceParent)
	_, err = pgx.ForEachRow(rows, append(dest, wr.dest()...), func() error {
		ev := e
		ev.Data = json.RawMessage(data)
		ev.Timestamp, ev.CreatedAt = ev.Timestamp.UTC(), ev.CreatedAt.UTC()
		w, ok := webhooks[wr.w.ID]
		if !ok {
			var err error
			if w, err = s.webhook(&wr); err != nil {
				unreadable[dr.d.ID] = fmt.Sprintf("cannot read webhook %s: %v; check --encryption-key, then recover", wr.w.ID, err)
				return nil
			}
			webhooks[w.ID] = w
		}
		claims = append(claims, herald.Claim{Delivery: dr.delivery(), Event: ev, Webhook: w})
		return nil
	})
	if err != nil {
		return nil, err
	}
	for id, why := range unreadable {
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET status = 'failed', next_attempt_at = NULL,
			last_error = $2 WHERE id = $1`, id, why); err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM leases WHERE delivery_id = $1", id); err != nil {
			return nil, err
		}
		if err := unparkNext(ctx, tx, []string{id}, []time.Time{s.now()}); err != nil {
			return nil, err
		}
	}
	return claims, nil
}

// keyHeadQuery finds the head of the ordering key of delivery $1 (webhook $2, key $3,
// created $4) when that is another delivery: the first pending one before it.
const keyHeadQuery = `SELECT o.id FROM deliveries o
	WHERE o.webhook_id = $2 AND o.ordering_key = $3 AND o.status = 'pending' AND o.ordering_key <> ''
		AND (o.created_at, o.id) < ($4, $1::text COLLATE "C")
	ORDER BY o.created_at, o.id LIMIT 1`

// loadOne loads the delivery $1 as a claim.
const loadOne = `
	SELECT ` + claimColumns + `
	FROM deliveries d JOIN events e ON e.id = d.event_id JOIN webhooks w ON w.id = d.webhook_id
	WHERE d.id = $1`

// ClaimDelivery leases one delivery whatever its status or due time. ECONFLICT if anyone,
// owner included, holds an unexpired lease on it, unless its process is dead. A claim
// taking the delivery at the same moment is waited for, and its lease then seen. A
// delivery whose event's data was purged is refused (herald.ErrPurged); one whose own
// attempts' bodies were, but not its event's, goes again and is no longer purged.
func (s *Store) ClaimDelivery(ctx context.Context, id, owner string, now, leaseUntil time.Time) (*herald.Claim, error) {
	now, leaseUntil = stored(now), stored(leaseUntil)
	var claim herald.Claim
	err := s.inTx(ctx, "claim delivery "+id, func(ctx context.Context, tx pgx.Tx) error {
		// The lock first, then, in statements of their own that see what the claim
		// waited for committed, the lease and the event.
		var webhookID, status, key string
		var purged bool
		var created time.Time
		err := tx.QueryRow(ctx, `SELECT webhook_id, purged_at IS NOT NULL, status, ordering_key, created_at
			FROM deliveries WHERE id = $1 FOR NO KEY UPDATE`, id).
			Scan(&webhookID, &purged, &status, &key, &created)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("delivery", id)
		}
		if err != nil {
			return err
		}
		var held, dataGone bool
		err = tx.QueryRow(ctx, `SELECT
				EXISTS (SELECT 1 FROM leases l WHERE l.delivery_id = d.id AND `+livingLease("$2")+`),
				EXISTS (SELECT 1 FROM events e WHERE e.id = d.event_id AND e.purged_at IS NOT NULL)
			FROM deliveries d WHERE d.id = $1`, id, now).Scan(&held, &dataGone)
		if err != nil {
			return err
		}
		switch {
		case held:
			return herald.Errorf(herald.ECONFLICT, "delivery %q is being sent right now; try again shortly", id)
		case dataGone:
			return herald.ErrPurged(id)
		}
		if status == string(herald.StatusPending) && key != "" {
			var head string
			err := tx.QueryRow(ctx, keyHeadQuery, id, webhookID, key, created).Scan(&head)
			switch {
			case err == nil:
				return herald.ErrNotHead(id, key, head)
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
		}
		b := &pgx.Batch{}
		b.Queue(upsertLease+" VALUES ($1, $2, $3, $4, $5) "+onLeaseConflict("$6"), id, webhookID, owner, s.process, leaseUntil, now)
		if purged {
			b.Queue("UPDATE deliveries SET purged_at = NULL WHERE id = $1", id)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		claims, err := s.lease(ctx, tx, loadOne, id)
		if err != nil {
			return err
		}
		if len(claims) != 1 {
			return fmt.Errorf("delivery %s: its webhook cannot be read", id)
		}
		claim = claims[0]
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &claim, nil
}

// RecordAttempt applies one finished attempt atomically; see herald.AttemptRecord. It
// reads the delivery and its webhook, and writes what herald.DecideAttempt makes of
// them: an attempt without an ID gets one, without At the current time.
//
// Attempts recorded at the same moment share one transaction (see recorder): each is
// applied as if alone, in the order they came, and all commit together.
func (s *Store) RecordAttempt(ctx context.Context, r *herald.AttemptRecord) (herald.AttemptOutcome, error) {
	return s.records.record(ctx, &pendingRecord{r: r})
}

// recordBatch applies the attempts of jobs in tx, in turn, each as herald.DecideAttempt
// decides it from what the ones before it left, setting each one's outcome or error. It
// returns an error only for what fails the transaction.
//
// One round trip locks the webhooks, then the deliveries, in id order: the order in
// which every writer that takes both locks them (disabling a webhook fails its
// deliveries; deleting one deletes them), so that recording never deadlocks with them
// nor with another batch. The locks are FOR NO KEY UPDATE, which a publish's foreign
// key checks do not wait for; only disabling a webhook takes the stronger lock that a
// publish does wait for. The leases are read in a statement after the deliveries are
// locked, so that it sees those of the claims the lock waited for.
func (s *Store) recordBatch(ctx context.Context, tx pgx.Tx, jobs []*pendingRecord) error {
	ids := make([]string, 0, len(jobs))
	for _, j := range jobs {
		ids = append(ids, j.r.Attempt.DeliveryID)
		j.out, j.err = herald.AttemptOutcome{}, nil
	}
	hooks := map[string]*herald.WebhookHealth{}
	type deliveryState struct {
		webhookID, status, key string
		count                  int
		next                   *time.Time
	}
	deliveries := map[string]*deliveryState{}
	holders := map[string]string{}
	b := &pgx.Batch{}
	b.Queue(recordSettings)
	b.Queue(`SELECT id, enabled, disabled_reason, consecutive_failures, failing_since, last_success_at FROM webhooks
		WHERE id IN (SELECT webhook_id FROM deliveries WHERE id = ANY($1))
		ORDER BY id FOR NO KEY UPDATE`, ids).Query(func(rows pgx.Rows) error {
		var id string
		var h herald.WebhookHealth
		_, err := pgx.ForEachRow(rows, []any{&id, &h.Enabled, &h.DisabledReason, &h.ConsecutiveFailures, &h.FailingSince,
			&h.LastSuccessAt}, func() error {
			hh := h
			hh.FailingSince, hh.LastSuccessAt = utcPtr(h.FailingSince), utcPtr(h.LastSuccessAt)
			hooks[id] = &hh
			return nil
		})
		return err
	})
	b.Queue(lockDeliveries, ids).
		Query(func(rows pgx.Rows) error {
			var id string
			var d deliveryState
			_, err := pgx.ForEachRow(rows, []any{&id, &d.webhookID, &d.status, &d.count, &d.next, &d.key}, func() error {
				dd := d
				dd.next = utcPtr(d.next)
				deliveries[id] = &dd
				return nil
			})
			return err
		})
	b.Queue("SELECT delivery_id, owner FROM leases WHERE delivery_id = ANY($1)", ids).Query(func(rows pgx.Rows) error {
		var id, owner string
		_, err := pgx.ForEachRow(rows, []any{&id, &owner}, func() error {
			holders[id] = owner
			return nil
		})
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}

	w := &pgx.Batch{}
	writes := newAttemptWrites()
	now := s.now()
	lastAt := map[string]time.Time{} // webhooks attempted → when their last attempt was
	var finished []string            // keyed deliveries this batch finishes, whose key moves on
	var finishedAt []time.Time       // when, by their attempts
	for _, j := range jobs {
		d := deliveries[j.r.Attempt.DeliveryID]
		var h *herald.WebhookHealth
		if d != nil {
			h = hooks[d.webhookID]
		}
		if h == nil {
			j.err = notFound("delivery", j.r.Attempt.DeliveryID)
			continue
		}
		c := herald.DecideAttempt(j.r, herald.AttemptState{DeliveryStatus: herald.DeliveryStatus(d.status),
			AttemptCount: d.count, LeaseOwner: holders[j.r.Attempt.DeliveryID], NextAttemptAt: d.next, Webhook: *h}, now)
		if err := writes.add(w, &c, d.webhookID); err != nil {
			j.err = err
			continue
		}
		j.out, j.attemptID = c.Outcome, c.Attempt.ID
		lastAt[d.webhookID] = c.Attempt.At
		// What the next attempt of the batch sees.
		*h, d.count = c.Webhook, c.AttemptCount
		if !c.KeepOutcome {
			d.status, d.next = string(c.Status), c.NextAttemptAt
			if d.key != "" && c.Status != herald.StatusPending {
				finished, finishedAt = append(finished, j.r.Attempt.DeliveryID), append(finishedAt, c.Attempt.At)
			}
		}
		if c.ReleaseLease {
			delete(holders, j.r.Attempt.DeliveryID)
		}
	}
	writes.flush(w)
	if len(finished) > 0 {
		w.Queue(unparkQuery, finished, finishedAt)
	}
	for id, at := range lastAt {
		queueHealth(w, id, hooks[id], at)
	}
	return tx.SendBatch(ctx, w).Close()
}

// lockDeliveries locks the deliveries $1 and reads what an attempt's record decides on.
const lockDeliveries = `SELECT id, webhook_id, status, attempt_count, next_attempt_at, ordering_key FROM deliveries
	WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`

// attemptWrites gathers the writes of the attempts of a batch that decide a delivery's
// outcome and nothing more, the usual case, so that a batch writes them with three
// statements (attempts inserted, deliveries updated, leases deleted) rather than three
// per attempt: every statement costs the database an execution of its own. An attempt
// that does more (drops old attempts, disables its webhook, records a delivery that
// already succeeded) or whose delivery is among those gathered is written alone, after
// the gathered ones, so that every write lands in the order the attempts came.
type attemptWrites struct {
	deliveries map[string]bool // those gathered

	// The attempts' columns.
	ids, deliveryIDs, errors, reqHeaders, respHeaders, bodies, traceIDs []string
	numbers, statusCodes                                                []int32
	ats                                                                 []time.Time
	durations                                                           []int64
	successes                                                           []bool

	// The deliveries' new state.
	statuses, lastErrors []string
	counts               []int32
	nextAttempts         []*time.Time

	released []string // deliveries whose lease is deleted
}

func newAttemptWrites() *attemptWrites {
	return &attemptWrites{deliveries: map[string]bool{}}
}

// add gathers the writes of what DecideAttempt decided, but the webhook's health,
// which a batch writes once per webhook (see queueHealth), or queues them in b, after
// those gathered so far, when they cannot be gathered.
func (g *attemptWrites) add(b *pgx.Batch, c *herald.AttemptChange, webhookID string) error {
	a := &c.Attempt
	reqHeaders, err := jsonText(a.RequestHeaders)
	if err != nil {
		return fmt.Errorf("record attempt: %w", err)
	}
	respHeaders, err := jsonText(a.ResponseHeaders)
	if err != nil {
		return fmt.Errorf("record attempt: %w", err)
	}
	if c.KeepOutcome || c.DropAttempts != [2]int{} || c.Disable != "" || c.FailPending != "" || g.deliveries[a.DeliveryID] {
		g.flush(b)
		queueAttempt(b, c, webhookID, reqHeaders, respHeaders)
		return nil
	}
	g.deliveries[a.DeliveryID] = true
	g.ids, g.deliveryIDs, g.numbers, g.ats = append(g.ids, a.ID), append(g.deliveryIDs, a.DeliveryID),
		append(g.numbers, int32(a.Number)), append(g.ats, a.At)
	g.statusCodes, g.durations, g.successes, g.errors = append(g.statusCodes, int32(a.StatusCode)),
		append(g.durations, a.DurationMS), append(g.successes, a.Success), append(g.errors, a.Error)
	g.reqHeaders, g.respHeaders, g.bodies, g.traceIDs = append(g.reqHeaders, reqHeaders),
		append(g.respHeaders, respHeaders), append(g.bodies, a.ResponseBody), append(g.traceIDs, a.TraceID)
	g.statuses, g.counts, g.nextAttempts, g.lastErrors = append(g.statuses, string(c.Status)),
		append(g.counts, int32(c.AttemptCount)), append(g.nextAttempts, c.NextAttemptAt), append(g.lastErrors, c.LastError)
	if c.ReleaseLease { // another owner's lease is theirs to drop
		g.released = append(g.released, a.DeliveryID)
	}
	if c.NextAttemptAt != nil {
		queueNotice(b, *c.NextAttemptAt)
	}
	return nil
}

// flush queues in b the writes gathered so far, and starts gathering again.
func (g *attemptWrites) flush(b *pgx.Batch) {
	if len(g.ids) == 0 {
		return
	}
	b.Queue(`
		INSERT INTO attempts (id, delivery_id, number, at, status_code, duration_ms, success,
			error, request_headers, response_headers, response_body, trace_id)
		SELECT id, delivery_id, number, at, status_code, duration_ms, success,
			error, request_headers::jsonb, response_headers::jsonb, response_body, trace_id
		FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[], $5::int[], $6::bigint[], $7::boolean[],
			$8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
			AS a (id, delivery_id, number, at, status_code, duration_ms, success,
				error, request_headers, response_headers, response_body, trace_id)`,
		g.ids, g.deliveryIDs, g.numbers, g.ats, g.statusCodes, g.durations, g.successes,
		g.errors, g.reqHeaders, g.respHeaders, g.bodies, g.traceIDs)
	b.Queue(`
		UPDATE deliveries d SET status = u.status, attempt_count = u.attempt_count,
			next_attempt_at = u.next_attempt_at, last_error = u.last_error, updated_at = u.at
		FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[], $5::text[], $6::timestamptz[])
			AS u (id, status, attempt_count, next_attempt_at, last_error, at)
		WHERE d.id = u.id`,
		g.deliveryIDs, g.statuses, g.counts, g.nextAttempts, g.lastErrors, g.ats)
	if len(g.released) > 0 {
		b.Queue("DELETE FROM leases WHERE delivery_id = ANY($1)", g.released)
	}
	*g = *newAttemptWrites()
}

// queueAttempt queues in b the writes of what DecideAttempt decided for one attempt,
// alone, but the webhook's health (see queueHealth).
func queueAttempt(b *pgx.Batch, c *herald.AttemptChange, webhookID, reqHeaders, respHeaders string) {
	a := &c.Attempt
	b.Queue(`
		INSERT INTO attempts (id, delivery_id, number, at, status_code, duration_ms, success,
			error, request_headers, response_headers, response_body, trace_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		a.ID, a.DeliveryID, a.Number, a.At, a.StatusCode, a.DurationMS, a.Success, a.Error,
		reqHeaders, respHeaders, a.ResponseBody, a.TraceID)
	if c.DropAttempts != [2]int{} {
		b.Queue("DELETE FROM attempts WHERE delivery_id = $1 AND number BETWEEN $2 AND $3",
			a.DeliveryID, c.DropAttempts[0], c.DropAttempts[1])
	}
	if c.KeepOutcome {
		b.Queue("UPDATE deliveries SET attempt_count = $2, updated_at = $3 WHERE id = $1", a.DeliveryID, c.AttemptCount, a.At)
	} else {
		b.Queue(`
			UPDATE deliveries SET status = $2, attempt_count = $3, next_attempt_at = $4, last_error = $5,
				updated_at = $6
			WHERE id = $1`,
			a.DeliveryID, string(c.Status), c.AttemptCount, c.NextAttemptAt, c.LastError, a.At)
		if c.ReleaseLease { // another owner's lease is theirs to drop
			b.Queue("DELETE FROM leases WHERE delivery_id = $1", a.DeliveryID)
		}
	}
	if c.Disable != "" {
		// Disabling takes the lock that publishes wait for (see publish), so none adds
		// a delivery that the failing of pending ones does not see.
		b.Queue("SELECT 1 FROM webhooks WHERE id = $1 FOR UPDATE", webhookID)
		b.Queue("UPDATE webhooks SET enabled = false, disabled_reason = $2, updated_at = "+nextVersion+" WHERE id = $3",
			a.At, c.Disable, webhookID)
	}
	switch {
	case c.FailPending != "":
		b.Queue(failPendingQuery, webhookID, c.FailPending, a.At)
	case c.NextAttemptAt != nil:
		queueNotice(b, *c.NextAttemptAt)
	}
}

// queueHealth queues the write of a webhook's health h and last delivery at lastAt:
// once per batch, not once per attempt, since every attempt of a busy webhook would
// otherwise make a new version of its row.
func queueHealth(b *pgx.Batch, webhookID string, h *herald.WebhookHealth, lastAt time.Time) {
	b.Queue(`UPDATE webhooks SET last_delivery_status = $2, last_delivery_at = $3, consecutive_failures = $4,
			failing_since = $5, last_error = $6, last_success_at = $7
		WHERE id = $1`, webhookID, h.LastDeliveryStatus, lastAt, h.ConsecutiveFailures, h.FailingSince,
		h.LastError, h.LastSuccessAt)
}

// ReleaseClaims drops the leases owner holds so others can take the deliveries now, and
// tells every listener they can.
func (s *Store) ReleaseClaims(ctx context.Context, owner string) error {
	now := s.now()
	return s.inTx(ctx, "release claims of "+owner, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM leases WHERE owner = $1", owner)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return notify(ctx, tx, now)
	})
}

// Requeue makes up to limit failed deliveries of a webhook created in [since, until),
// oldest first, pending and due at now, and returns how many. A zero until means no
// upper bound. ENOTFOUND if the webhook does not exist.
func (s *Store) Requeue(ctx context.Context, webhookID string, since, until, now time.Time, limit int) (int, error) {
	now = stored(now)
	if limit <= 0 {
		limit = herald.RequeueBatch
	}
	var n int64
	err := s.inTx(ctx, "requeue deliveries of "+webhookID, func(ctx context.Context, tx pgx.Tx) error {
		// FOR KEY SHARE orders this with a disable (FOR UPDATE), which fails what it
		// finds pending: the requeued deliveries too, if it comes second.
		var one int
		err := tx.QueryRow(ctx, "SELECT 1 FROM webhooks WHERE id = $1 FOR KEY SHARE", webhookID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("webhook", webhookID)
		}
		if err != nil {
			return err
		}
		// Leases stay: a delivery being sent right now (a manual retry) is claimed
		// again only when that attempt is recorded or its lease runs out.
		q := `UPDATE deliveries SET status = 'pending', next_attempt_at = $1, updated_at = $1
			WHERE id IN (SELECT id FROM deliveries
				WHERE webhook_id = $2 AND status = 'failed' AND created_at >= $3 AND updated_at < $1`
		args := []any{now, webhookID, stored(since), limit}
		if !until.IsZero() {
			q += " AND created_at < $5"
			args = append(args, stored(until))
		}
		q += " ORDER BY created_at, id LIMIT $4 FOR UPDATE)"
		tag, err := tx.Exec(ctx, q, args...)
		if err != nil {
			return err
		}
		if n = tag.RowsAffected(); n == 0 {
			return nil
		}
		return notify(ctx, tx, now)
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}
