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
		_, err = tx.ExecContext(ctx, "DELETE FROM portal_sessions WHERE tenant_id = ?", id)
		return err
	})
}

// CreateSession stores a portal session and purges the sessions expired before it.
func (s *Store) CreateSession(ctx context.Context, ps *herald.Session) error {
	if len(ps.IDHash) == 0 || len(ps.KeyHash) == 0 || ps.Admin != (ps.TenantID == "") {
		return herald.Errorf(herald.EINVALID, "a session needs an id hash, a key hash, and either the admin flag or a tenant")
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
			"INSERT INTO portal_sessions (id_hash, admin, tenant_id, key_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
			ps.IDHash, ps.Admin, tenant, ps.KeyHash, micros(ps.CreatedAt), micros(ps.ExpiresAt))
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
		"SELECT id_hash, admin, tenant_id, key_hash, created_at, expires_at FROM portal_sessions WHERE id_hash = ? AND expires_at > ?",
		idHash, micros(now)).Scan(&ps.IDHash, &ps.Admin, &tenant, &ps.KeyHash, &created, &expires)
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
