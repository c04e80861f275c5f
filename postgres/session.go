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
		_, err = tx.Exec(ctx, "DELETE FROM portal_sessions WHERE tenant_id = $1", id)
		return err
	})
}

// CreateSession stores a portal session and purges the sessions expired before it.
func (s *Store) CreateSession(ctx context.Context, ps *herald.Session) error {
	if len(ps.IDHash) == 0 || len(ps.KeyHash) == 0 || ps.Admin != (ps.TenantID == "") {
		return herald.Errorf(herald.EINVALID, "a session needs an id hash, a key hash, and either the admin flag or a tenant")
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
			"INSERT INTO portal_sessions (id_hash, admin, tenant_id, key_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
			ps.IDHash, ps.Admin, tenant, ps.KeyHash, stored(ps.CreatedAt), stored(ps.ExpiresAt))
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
			"SELECT id_hash, admin, tenant_id, key_hash, created_at, expires_at FROM portal_sessions WHERE id_hash = $1 AND expires_at > $2",
			idHash, stored(now)).Scan(&ps.IDHash, &ps.Admin, &tenant, &ps.KeyHash, &ps.CreatedAt, &ps.ExpiresAt)
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
