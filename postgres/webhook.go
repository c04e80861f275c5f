package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald"
)

// defaultPerPage and maxPerPage bound a page of webhooks or deliveries.
const (
	defaultPerPage = 20
	maxPerPage     = 100
)

// page turns a filter's page and per_page into LIMIT and OFFSET.
func page(p, perPage int) (limit, offset int) {
	if perPage <= 0 {
		perPage = defaultPerPage
	}
	perPage = min(perPage, maxPerPage)
	p = max(p, 1)
	return perPage, (p - 1) * perPage
}

// scanner is a row to scan: pgx.Row, pgx.Rows and pgx.CollectableRow all are.
type scanner interface {
	Scan(dest ...any) error
}

// CreateWebhook stores a webhook with its secrets sealed, ECONFLICT if the id exists. An
// empty ID gets a new one and zero CreatedAt and UpdatedAt the current time.
func (s *Store) CreateWebhook(ctx context.Context, w *herald.Webhook) error {
	if w.ID == "" {
		w.ID = herald.NewID(herald.PrefixWebhook)
	}
	if w.CreatedAt.IsZero() {
		w.CreatedAt = s.now()
	}
	if w.UpdatedAt.IsZero() {
		w.UpdatedAt = w.CreatedAt
	}
	if w.TenantID == "" {
		w.TenantID = herald.DefaultTenantID
	}
	secret, err := s.cipher.Seal([]byte(w.Secret))
	if err != nil {
		return fmt.Errorf("create webhook: seal secret: %w", err)
	}
	var previous []byte
	var previousUntil *time.Time
	if w.PreviousSecret != "" {
		if previous, err = s.cipher.Seal([]byte(w.PreviousSecret)); err != nil {
			return fmt.Errorf("create webhook: seal previous secret: %w", err)
		}
		previousUntil = storedPtr(&w.PreviousSecretExpiresAt)
	}
	storedURL, urlPassword, err := herald.SealURLPassword(s.cipher, w.URL)
	if err != nil {
		return fmt.Errorf("create webhook: seal url password: %w", err)
	}
	events, headers, channels, err := webhookJSON(w)
	if err != nil {
		return fmt.Errorf("create webhook: %w", err)
	}
	auth, err := herald.SealAuth(s.cipher, w.Auth)
	if err != nil {
		return fmt.Errorf("create webhook: seal auth: %w", err)
	}
	return s.inTx(ctx, "create webhook", func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO webhooks (id, tenant_id, name, description, url, events, enabled, format,
				rate_limit, headers, disabled_reason, created_at, updated_at, last_delivery_status,
				last_delivery_at, secret, previous_secret, previous_secret_expires_at,
				consecutive_failures, failing_since, last_error, last_success_at, filter, channels,
				ordering, auth, url_password)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,
				$23, $24, $25, $26, $27)`,
			w.ID, w.TenantID, w.Name, w.Description, storedURL, events, w.Enabled, string(w.Format),
			w.RateLimit, headers, w.DisabledReason, stored(w.CreatedAt), stored(w.UpdatedAt),
			w.LastDeliveryStatus, storedPtr(w.LastDeliveryAt), secret, previous, previousUntil,
			w.ConsecutiveFailures, storedPtr(w.FailingSince), w.LastError, storedPtr(w.LastSuccessAt),
			w.Filter, channels, string(w.Ordering), auth, urlPassword)
		if isUniqueViolation(err) {
			return conflict("webhook", w.ID)
		}
		return err
	})
}

// webhookJSON encodes a webhook's event list, headers and channels for their jsonb
// columns.
func webhookJSON(w *herald.Webhook) (events, headers, channels string, err error) {
	hs := w.Headers
	if hs == nil {
		hs = map[string]string{}
	}
	if events, err = jsonList(w.Events); err != nil {
		return "", "", "", err
	}
	if headers, err = jsonText(hs); err != nil {
		return "", "", "", err
	}
	if channels, err = jsonList(w.Channels); err != nil {
		return "", "", "", err
	}
	return events, headers, channels, nil
}

// jsonList encodes a list for a JSON column: [] for none, never null.
func jsonList(l []string) (string, error) {
	if l == nil {
		l = []string{}
	}
	return jsonText(l)
}

// jsonText encodes v for a JSON column.
func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// webhookColumns are read by scanWebhook, in its order, from a table aliased w.
const webhookColumns = `w.id, w.tenant_id, w.name, w.description, w.url, w.events::text, w.enabled,
	w.format, w.rate_limit, w.headers::text, w.disabled_reason, w.created_at, w.updated_at,
	w.last_delivery_status, w.last_delivery_at, w.secret, w.previous_secret,
	w.previous_secret_expires_at, w.consecutive_failures, w.failing_since, w.last_error,
	w.last_success_at, w.filter, w.channels::text, w.ordering, w.auth, w.url_password`

// webhookRow holds a webhook as scanned, before its secrets are opened.
type webhookRow struct {
	w                       herald.Webhook
	secret, previous, auth  []byte
	urlPassword             []byte // sealed; nil when the URL has none
	events, headers, format string
	channels, ordering      string
	previousUntil           *time.Time
}

func (r *webhookRow) dest() []any {
	return []any{&r.w.ID, &r.w.TenantID, &r.w.Name, &r.w.Description, &r.w.URL, &r.events,
		&r.w.Enabled, &r.format, &r.w.RateLimit, &r.headers, &r.w.DisabledReason, &r.w.CreatedAt,
		&r.w.UpdatedAt, &r.w.LastDeliveryStatus, &r.w.LastDeliveryAt, &r.secret, &r.previous,
		&r.previousUntil, &r.w.ConsecutiveFailures, &r.w.FailingSince, &r.w.LastError, &r.w.LastSuccessAt,
		&r.w.Filter, &r.channels, &r.ordering, &r.auth, &r.urlPassword}
}

// webhook finishes a scanned row: decodes JSON, puts times in UTC and opens the secrets.
func (s *Store) webhook(r *webhookRow) (herald.Webhook, error) {
	w := r.w
	w.Format = herald.Format(r.format)
	w.CreatedAt = w.CreatedAt.UTC()
	w.UpdatedAt = w.UpdatedAt.UTC()
	w.LastDeliveryAt = utcPtr(w.LastDeliveryAt)
	w.FailingSince = utcPtr(w.FailingSince)
	w.LastSuccessAt = utcPtr(w.LastSuccessAt)
	if r.previousUntil != nil {
		w.PreviousSecretExpiresAt = r.previousUntil.UTC()
	}
	w.Events = []string{}
	if err := json.Unmarshal([]byte(r.events), &w.Events); err != nil {
		return w, fmt.Errorf("webhook %s events: %w", w.ID, err)
	}
	w.Headers = map[string]string{}
	if err := json.Unmarshal([]byte(r.headers), &w.Headers); err != nil {
		return w, fmt.Errorf("webhook %s headers: %w", w.ID, err)
	}
	w.Channels = []string{}
	if err := json.Unmarshal([]byte(r.channels), &w.Channels); err != nil {
		return w, fmt.Errorf("webhook %s channels: %w", w.ID, err)
	}
	w.Ordering = herald.Ordering(r.ordering)
	secret, err := s.cipher.Open(r.secret)
	if err != nil {
		return w, fmt.Errorf("webhook %s: open secret: %w", w.ID, err)
	}
	w.Secret = string(secret)
	if r.previous != nil {
		previous, err := s.cipher.Open(r.previous)
		if err != nil {
			return w, fmt.Errorf("webhook %s: open previous secret: %w", w.ID, err)
		}
		w.PreviousSecret = string(previous)
	}
	if w.Auth, err = herald.OpenAuth(s.cipher, r.auth); err != nil {
		return w, fmt.Errorf("webhook %s: open auth: %w", w.ID, err)
	}
	if w.URL, err = herald.OpenURLPassword(s.cipher, w.URL, r.urlPassword); err != nil {
		return w, fmt.Errorf("webhook %s: open url password: %w", w.ID, err)
	}
	return w, nil
}

// Webhook returns a webhook with its secrets opened, ENOTFOUND if there is none.
func (s *Store) Webhook(ctx context.Context, id string) (*herald.Webhook, error) {
	var r webhookRow
	err := s.read(ctx, "webhook "+id, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, "SELECT "+webhookColumns+" FROM webhooks w WHERE w.id = $1", id).Scan(r.dest()...)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("webhook", id)
	}
	if err != nil {
		return nil, err
	}
	w, err := s.webhook(&r)
	if err != nil {
		return nil, err
	}
	return &w, nil
}

// Webhooks returns one page of webhooks, newest first (failing ones first when
// f.FailingFirst), and the total matching.
func (s *Store) Webhooks(ctx context.Context, f herald.WebhookFilter) ([]herald.Webhook, int, error) {
	where, args := "", []any{}
	if f.TenantID != "" {
		where, args = " WHERE w.tenant_id = $1", append(args, f.TenantID)
	}
	limit, offset := page(f.Page, f.PerPage)
	order := " ORDER BY w.created_at DESC, w.id DESC"
	if f.FailingFirst {
		order = " ORDER BY (w.enabled AND w.consecutive_failures > 0) DESC, w.created_at DESC, w.id DESC"
	}
	var rows []webhookRow
	var total int
	err := s.readTx(ctx, "webhooks", func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM webhooks w"+where, args...).Scan(&total); err != nil {
			return err
		}
		n := len(args)
		rs, err := tx.Query(ctx, "SELECT "+webhookColumns+" FROM webhooks w"+where+
			order+fmt.Sprintf(" LIMIT $%d OFFSET $%d", n+1, n+2),
			append(args, limit, offset)...)
		if err != nil {
			return err
		}
		rows, err = pgx.CollectRows(rs, func(row pgx.CollectableRow) (webhookRow, error) {
			var r webhookRow
			return r, row.Scan(r.dest()...)
		})
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	ws := make([]herald.Webhook, 0, len(rows))
	for i := range rows {
		w, err := s.webhook(&rows[i])
		if err != nil {
			return nil, 0, err
		}
		ws = append(ws, w)
	}
	return ws, total, nil
}

// nextVersion is what every write of a webhook sets updated_at to, given the time as $1:
// the time, but always after the last write, so that updated_at is a version
// UpdateWebhook can check even when two writes fall in one microsecond.
const nextVersion = "GREATEST($1::timestamptz, updated_at + interval '1 microsecond')"

// UpdateWebhook writes every field of w except the id, tenant, creation time, secrets
// (its Auth is written, sealed), health and last delivery (which RecordAttempt keeps), and sets UpdatedAt. Disabling a
// webhook fails its pending deliveries; enabling one resets its health and clears its
// disabled reason. A w read before the webhook last changed is refused with ECONFLICT.
func (s *Store) UpdateWebhook(ctx context.Context, w *herald.Webhook) error {
	storedURL, urlPassword, err := herald.SealURLPassword(s.cipher, w.URL)
	if err != nil {
		return fmt.Errorf("update webhook: seal url password: %w", err)
	}
	events, headers, channels, err := webhookJSON(w)
	if err != nil {
		return fmt.Errorf("update webhook: %w", err)
	}
	auth, err := herald.SealAuth(s.cipher, w.Auth)
	if err != nil {
		return fmt.Errorf("update webhook: seal auth: %w", err)
	}
	now := s.now()
	var updated time.Time // the version read, then the one written
	err = s.inTx(ctx, "update webhook "+w.ID, func(ctx context.Context, tx pgx.Tx) error {
		var wasEnabled bool
		// FOR UPDATE, the lock a publish's read of subscribers waits for: a publish that
		// read this webhook enabled commits first, and failPending below sees its
		// deliveries; one that reads it after this commits sees it disabled.
		err := tx.QueryRow(ctx, "SELECT enabled, updated_at FROM webhooks WHERE id = $1 FOR UPDATE", w.ID).Scan(&wasEnabled, &updated)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("webhook", w.ID)
		}
		if err != nil {
			return err
		}
		if !w.UpdatedAt.IsZero() && !stored(w.UpdatedAt).Equal(updated) {
			return herald.Errorf(herald.ECONFLICT,
				"webhook %q changed since it was read (its failures may have disabled it); read it again and retry", w.ID)
		}
		reason := w.DisabledReason
		if w.Enabled {
			reason = ""
		}
		health := ""
		if !wasEnabled && w.Enabled {
			health = ", consecutive_failures = 0, failing_since = NULL, last_error = ''"
		}
		err = tx.QueryRow(ctx, `
			UPDATE webhooks SET name = $2, description = $3, url = $4, events = $5, enabled = $6,
				format = $7, rate_limit = $8, headers = $9, disabled_reason = $10, filter = $12,
				channels = $13, ordering = $14, auth = $15, url_password = $16,
				updated_at = `+nextVersion+health+`
			WHERE id = $11 RETURNING updated_at`,
			now, w.Name, w.Description, storedURL, events, w.Enabled, string(w.Format), w.RateLimit,
			headers, reason, w.ID, w.Filter, channels, string(w.Ordering), auth, urlPassword).Scan(&updated)
		if err != nil {
			return err
		}
		if wasEnabled && !w.Enabled {
			return failPending(ctx, tx, w.ID, reason, now)
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.UpdatedAt = updated.UTC()
	if w.Enabled {
		w.DisabledReason = ""
		w.ConsecutiveFailures, w.FailingSince = 0, nil
	}
	return nil
}

// failPendingQuery fails the pending deliveries of the webhook $1, just disabled, with
// the error $2 at $3. Leases stay, so an attempt in flight is not sent a second time by
// a manual retry before it is recorded.
const failPendingQuery = `
	UPDATE deliveries SET status = 'failed', next_attempt_at = NULL, last_error = $2, updated_at = $3
	WHERE webhook_id = $1 AND status = 'pending'`

// failPending fails the pending deliveries of a webhook that has just been disabled.
func failPending(ctx context.Context, tx pgx.Tx, webhookID, reason string, now time.Time) error {
	_, err := tx.Exec(ctx, failPendingQuery, webhookID, herald.DisabledError(reason), now)
	return err
}

// RotateSecret makes secret the webhook's signing secret and keeps the old one valid
// until previousExpiresAt, or drops it when that is not after now.
func (s *Store) RotateSecret(ctx context.Context, id, secret string, previousExpiresAt time.Time) error {
	sealed, err := s.cipher.Seal([]byte(secret))
	if err != nil {
		return fmt.Errorf("rotate secret: seal: %w", err)
	}
	now := s.now()
	// During a grace period the current secret, still sealed, becomes the previous one.
	q := `UPDATE webhooks SET previous_secret = secret, previous_secret_expires_at = $2,
		secret = $3, updated_at = ` + nextVersion + ` WHERE id = $4`
	until := storedPtr(&previousExpiresAt)
	if !previousExpiresAt.After(now) {
		q = `UPDATE webhooks SET previous_secret = NULL, previous_secret_expires_at = $2,
			secret = $3, updated_at = ` + nextVersion + ` WHERE id = $4`
		until = nil
	}
	return s.inTx(ctx, "rotate secret of "+id, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, q, now, until, sealed, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("webhook", id)
		}
		return nil
	})
}

// DeleteWebhook removes a webhook with its deliveries and their attempts.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	return s.inTx(ctx, "delete webhook "+id, func(ctx context.Context, tx pgx.Tx) error {
		// Deliveries and attempts go too: ON DELETE CASCADE.
		tag, err := tx.Exec(ctx, "DELETE FROM webhooks WHERE id = $1", id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("webhook", id)
		}
		return nil
	})
}
