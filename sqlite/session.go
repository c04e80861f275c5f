package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald"
)

// RotateTenantKey makes keyHash the tenant's API key, keeps the key it replaces valid
// until previousExpiresAt (not at all unless that is after now), and ends the tenant's
// portal sessions, in one transaction.
func (s *Store) RotateTenantKey(ctx context.Context, id string, keyHash []byte, previousExpiresAt time.Time) error {
	if len(keyHash) == 0 {
		return herald.Errorf(herald.EINVALID, "a tenant needs an API key hash")
	}
	grace := previousExpiresAt.After(s.now())
	var expires sql.NullInt64
	if grace {
		expires = sql.NullInt64{Int64: micros(previousExpiresAt), Valid: true}
	}
	return s.inTx(ctx, "rotate tenant key "+id, func(ctx context.Context, tx *sql.Tx) error {
		var taken string
		err := tx.QueryRowContext(ctx, "SELECT id FROM tenants WHERE (api_key_hash = ? OR previous_key_hash = ?) AND id <> ?",
			keyHash, keyHash, id).Scan(&taken)
		switch {
		case err == nil:
			return herald.Errorf(herald.ECONFLICT, "another tenant has this API key")
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		// Every right-hand side reads the row as it was: the previous key is the one
		// being replaced.
		res, err := tx.ExecContext(ctx, `UPDATE tenants SET
			previous_key_hash = CASE WHEN ? THEN api_key_hash END,
			previous_key_expires_at = ?,
			api_key_hash = ?
			WHERE id = ?`, grace, expires, keyHash, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound("tenant", id)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM portal_sessions WHERE tenant_id = ?", id); err != nil {
			return err
		}
		// A link minted with the replaced key must not sign anyone in after it either.
		_, err = tx.ExecContext(ctx, "UPDATE portal_links SET used_at = ? WHERE tenant_id = ? AND used_at IS NULL", micros(s.now()), id)
		return err
	})
}

// CreateSession stores a portal session and purges the sessions expired before it.
func (s *Store) CreateSession(ctx context.Context, ps *herald.Session) error {
	if err := ps.Validate(); err != nil {
		return err
	}
	var tenant sql.NullString
	if !ps.Admin {
		tenant = sql.NullString{String: ps.TenantID, Valid: true}
	}
	return s.inTx(ctx, "create session", func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM portal_sessions WHERE expires_at <= ?", micros(ps.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			"INSERT INTO portal_sessions (id_hash, admin, tenant_id, key_hash, created_at, expires_at, via_link, read_only, return_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			ps.IDHash, ps.Admin, tenant, ps.KeyHash, micros(ps.CreatedAt), micros(ps.ExpiresAt), ps.Link, ps.ReadOnly, ps.ReturnURL)
		if isUniqueViolation(err) {
			return herald.Errorf(herald.ECONFLICT, "the session exists")
		}
		if isForeignKeyViolation(err) {
			return notFound("tenant", ps.TenantID)
		}
		return err
	})
}

// Session returns the unexpired session whose id hashes to idHash.
func (s *Store) Session(ctx context.Context, idHash []byte, now time.Time) (*herald.Session, error) {
	var ps herald.Session
	var tenant sql.NullString
	var created, expires int64
	err := s.read.QueryRowContext(ctx,
		"SELECT id_hash, admin, tenant_id, key_hash, created_at, expires_at, via_link, read_only, return_url FROM portal_sessions WHERE id_hash = ? AND expires_at > ?",
		idHash, micros(now)).Scan(&ps.IDHash, &ps.Admin, &tenant, &ps.KeyHash, &created, &expires, &ps.Link, &ps.ReadOnly, &ps.ReturnURL)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, herald.Errorf(herald.ENOTFOUND, "no such session")
	}
	if err != nil {
		return nil, fmt.Errorf("session: %w", unavailable(err))
	}
	ps.TenantID = tenant.String
	ps.CreatedAt, ps.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &ps, nil
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	return s.inTx(ctx, "delete session", func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM portal_sessions WHERE id_hash = ?", idHash)
		return err
	})
}

// CreatePortalLink stores a portal link and purges links long expired.
func (s *Store) CreatePortalLink(ctx context.Context, l *herald.PortalLink) error {
	if err := l.Validate(); err != nil {
		return err
	}
	return s.inTx(ctx, "create portal link", func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM portal_links WHERE expires_at <= ?", micros(l.CreatedAt.Add(-herald.PortalLinkKept))); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			"INSERT INTO portal_links (token_hash, tenant_id, read_only, return_url, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
			l.TokenHash, l.TenantID, l.ReadOnly, l.ReturnURL, micros(l.CreatedAt), micros(l.ExpiresAt))
		if isUniqueViolation(err) {
			return herald.Errorf(herald.ECONFLICT, "the portal link exists")
		}
		if isForeignKeyViolation(err) {
			return notFound("tenant", l.TenantID)
		}
		return err
	})
}

// RedeemPortalLink marks the link used and stores its session, in one transaction: the
// conditional UPDATE is what decides which of several redemptions wins.
func (s *Store) RedeemPortalLink(ctx context.Context, tokenHash []byte, ps *herald.Session) (*herald.PortalLink, error) {
	var link *herald.PortalLink
	var gone bool
	err := s.inTx(ctx, "redeem portal link", func(ctx context.Context, tx *sql.Tx) error {
		link, gone = nil, false
		l := herald.PortalLink{TokenHash: tokenHash}
		var created, expires int64
		var used sql.NullInt64
		err := tx.QueryRowContext(ctx, `UPDATE portal_links SET used_at = ?
			WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?
			RETURNING tenant_id, read_only, return_url, created_at, expires_at, used_at`,
			micros(ps.CreatedAt), tokenHash, micros(ps.CreatedAt)).Scan(&l.TenantID, &l.ReadOnly, &l.ReturnURL, &created, &expires, &used)
		if errors.Is(err, sql.ErrNoRows) {
			err = tx.QueryRowContext(ctx,
				"SELECT tenant_id, read_only, return_url, created_at, expires_at, used_at FROM portal_links WHERE token_hash = ?",
				tokenHash).Scan(&l.TenantID, &l.ReadOnly, &l.ReturnURL, &created, &expires, &used)
			if errors.Is(err, sql.ErrNoRows) {
				return herald.Errorf(herald.ENOTFOUND, "no such portal link")
			}
			gone = true
		}
		if err != nil {
			return err
		}
		l.CreatedAt, l.ExpiresAt = fromMicros(created), fromMicros(expires)
		if used.Valid {
			at := fromMicros(used.Int64)
			l.UsedAt = &at
		}
		link = &l
		if gone {
			return nil
		}
		ps.Admin, ps.TenantID, ps.Link, ps.ReadOnly, ps.ReturnURL = false, l.TenantID, true, l.ReadOnly, l.ReturnURL
		if err := ps.Validate(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM portal_sessions WHERE expires_at <= ?", micros(ps.CreatedAt)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx,
			"INSERT INTO portal_sessions (id_hash, admin, tenant_id, key_hash, created_at, expires_at, via_link, read_only, return_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			ps.IDHash, false, l.TenantID, ps.KeyHash, micros(ps.CreatedAt), micros(ps.ExpiresAt), true, ps.ReadOnly, ps.ReturnURL)
		if isUniqueViolation(err) {
			return herald.Errorf(herald.ECONFLICT, "the session exists")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if gone {
		return link, herald.Errorf(herald.EGONE, "this portal link has been used or has expired")
	}
	return link, nil
}
