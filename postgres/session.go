package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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
	var expires *time.Time
	if grace {
		e := stored(previousExpiresAt)
		expires = &e
	}
	return s.inTx(ctx, "rotate tenant key "+id, func(ctx context.Context, tx pgx.Tx) error {
		var taken bool
		err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM tenants WHERE (api_key_hash = $1 OR previous_key_hash = $1) AND id <> $2)",
			keyHash, id).Scan(&taken)
		if err != nil {
			return err
		}
		if taken {
			return herald.Errorf(herald.ECONFLICT, "another tenant has this API key")
		}
		// Every right-hand side reads the row as it was: the previous key is the one
		// being replaced.
		tag, err := tx.Exec(ctx, `UPDATE tenants SET
			previous_key_hash = CASE WHEN $1 THEN api_key_hash END,
			previous_key_expires_at = $2,
			api_key_hash = $3
			WHERE id = $4`, grace, expires, keyHash, id)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			return herald.Errorf(herald.ECONFLICT, "another tenant has this API key")
		}
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("tenant", id)
		}
		if _, err := tx.Exec(ctx, "DELETE FROM portal_sessions WHERE tenant_id = $1", id); err != nil {
			return err
		}
		// A link minted with the replaced key must not sign anyone in after it either.
		_, err = tx.Exec(ctx, "UPDATE portal_links SET used_at = $1 WHERE tenant_id = $2 AND used_at IS NULL", s.now(), id)
		return err
	})
}

// CreateSession stores a portal session and purges the sessions expired before it.
func (s *Store) CreateSession(ctx context.Context, ps *herald.Session) error {
	if err := ps.Validate(); err != nil {
		return err
	}
	var tenant *string
	if !ps.Admin {
		tenant = &ps.TenantID
	}
	return s.inTx(ctx, "create session", func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM portal_sessions WHERE expires_at <= $1", stored(ps.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx,
			"INSERT INTO portal_sessions (id_hash, admin, tenant_id, key_hash, created_at, expires_at, via_link, read_only, return_url) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
			ps.IDHash, ps.Admin, tenant, ps.KeyHash, stored(ps.CreatedAt), stored(ps.ExpiresAt), ps.Link, ps.ReadOnly, ps.ReturnURL)
		var pe *pgconn.PgError
		switch {
		case errors.As(err, &pe) && pe.Code == "23505":
			return herald.Errorf(herald.ECONFLICT, "the session exists")
		case errors.As(err, &pe) && pe.Code == "23503":
			return notFound("tenant", ps.TenantID)
		}
		return err
	})
}

// Session returns the unexpired session whose id hashes to idHash.
func (s *Store) Session(ctx context.Context, idHash []byte, now time.Time) (*herald.Session, error) {
	var ps herald.Session
	var tenant *string
	err := s.read(ctx, "session", func(ctx context.Context) error {
		return s.pool.QueryRow(ctx,
			"SELECT id_hash, admin, tenant_id, key_hash, created_at, expires_at, via_link, read_only, return_url FROM portal_sessions WHERE id_hash = $1 AND expires_at > $2",
			idHash, stored(now)).Scan(&ps.IDHash, &ps.Admin, &tenant, &ps.KeyHash, &ps.CreatedAt, &ps.ExpiresAt, &ps.Link, &ps.ReadOnly, &ps.ReturnURL)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, herald.Errorf(herald.ENOTFOUND, "no such session")
	}
	if err != nil {
		return nil, err
	}
	if tenant != nil {
		ps.TenantID = *tenant
	}
	ps.CreatedAt, ps.ExpiresAt = ps.CreatedAt.UTC(), ps.ExpiresAt.UTC()
	return &ps, nil
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	return s.inTx(ctx, "delete session", func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "DELETE FROM portal_sessions WHERE id_hash = $1", idHash)
		return err
	})
}

// CreatePortalLink stores a portal link and purges links long expired.
func (s *Store) CreatePortalLink(ctx context.Context, l *herald.PortalLink) error {
	if err := l.Validate(); err != nil {
		return err
	}
	return s.inTx(ctx, "create portal link", func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM portal_links WHERE expires_at <= $1", stored(l.CreatedAt.Add(-herald.PortalLinkKept))); err != nil {
			return err
		}
		_, err := tx.Exec(ctx,
			"INSERT INTO portal_links (token_hash, tenant_id, read_only, return_url, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
			l.TokenHash, l.TenantID, l.ReadOnly, l.ReturnURL, stored(l.CreatedAt), stored(l.ExpiresAt))
		switch sqlState(err) {
		case "23505":
			return herald.Errorf(herald.ECONFLICT, "the portal link exists")
		case "23503":
			return notFound("tenant", l.TenantID)
		}
		return err
	})
}

// RedeemPortalLink marks the link used and stores its session, in one transaction. Of
// two concurrent redemptions the second UPDATE waits on the first's row lock, then
// re-reads the row, finds used_at set and matches nothing.
func (s *Store) RedeemPortalLink(ctx context.Context, tokenHash []byte, ps *herald.Session) (*herald.PortalLink, error) {
	var link *herald.PortalLink
	var gone bool
	err := s.inTx(ctx, "redeem portal link", func(ctx context.Context, tx pgx.Tx) error {
		link, gone = nil, false
		l := herald.PortalLink{TokenHash: tokenHash}
		err := tx.QueryRow(ctx, `UPDATE portal_links SET used_at = $1
			WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1
			RETURNING tenant_id, read_only, return_url, created_at, expires_at, used_at`,
			stored(ps.CreatedAt), tokenHash).Scan(&l.TenantID, &l.ReadOnly, &l.ReturnURL, &l.CreatedAt, &l.ExpiresAt, &l.UsedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			err = tx.QueryRow(ctx,
				"SELECT tenant_id, read_only, return_url, created_at, expires_at, used_at FROM portal_links WHERE token_hash = $1",
				tokenHash).Scan(&l.TenantID, &l.ReadOnly, &l.ReturnURL, &l.CreatedAt, &l.ExpiresAt, &l.UsedAt)
			if errors.Is(err, pgx.ErrNoRows) {
				return herald.Errorf(herald.ENOTFOUND, "no such portal link")
			}
			gone = true
		}
		if err != nil {
			return err
		}
		l.CreatedAt, l.ExpiresAt = l.CreatedAt.UTC(), l.ExpiresAt.UTC()
		if l.UsedAt != nil {
			at := l.UsedAt.UTC()
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
		if _, err := tx.Exec(ctx, "DELETE FROM portal_sessions WHERE expires_at <= $1", stored(ps.CreatedAt)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx,
			"INSERT INTO portal_sessions (id_hash, admin, tenant_id, key_hash, created_at, expires_at, via_link, read_only, return_url) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
			ps.IDHash, false, l.TenantID, ps.KeyHash, stored(ps.CreatedAt), stored(ps.ExpiresAt), true, ps.ReadOnly, ps.ReturnURL)
		if sqlState(err) == "23505" {
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
