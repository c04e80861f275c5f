package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald"
)

// Setting returns a named value, ENOTFOUND if unset.
func (s *Store) Setting(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.read.QueryRowContext(ctx, "SELECT value FROM settings WHERE name = ?", name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("setting", name)
	}
	if err != nil {
		return nil, fmt.Errorf("setting %s: %w", name, unavailable(err))
	}
	return v, nil
}

// PutSetting sets a named value, replacing any earlier one.
func (s *Store) PutSetting(ctx context.Context, name string, value []byte) error {
	if value == nil {
		value = []byte{} // the column is NOT NULL; an empty value is still a value
	}
	return s.inTx(ctx, "put setting "+name, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			"INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
			name, value)
		return err
	})
}

// CreateSetting sets a named value unless it is set (ECONFLICT).
func (s *Store) CreateSetting(ctx context.Context, name string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	return s.inTx(ctx, "create setting "+name, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", name, value)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err == nil && n == 0 {
			return herald.Errorf(herald.ECONFLICT, "setting %q is set already", name)
		}
		return err
	})
}

// CreateTenant stores a tenant with the hash of its API key. ECONFLICT if the id or the
// key hash is taken. An empty ID gets a new one, a zero CreatedAt the current time.
func (s *Store) CreateTenant(ctx context.Context, t *herald.Tenant, keyHash []byte) error {
	if t.ID == "" {
		t.ID = herald.NewID(herald.PrefixTenant)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	if len(keyHash) == 0 {
		return herald.Errorf(herald.EINVALID, "a tenant needs an API key hash")
	}
	return s.inTx(ctx, "create tenant", func(ctx context.Context, tx *sql.Tx) error {
		var taken string
		err := tx.QueryRowContext(ctx, "SELECT id FROM tenants WHERE id = ? OR api_key_hash = ? OR previous_key_hash = ?", t.ID, keyHash, keyHash).Scan(&taken)
		switch {
		case err == nil && taken == t.ID:
			return conflict("tenant", t.ID)
		case err == nil:
			return herald.Errorf(herald.ECONFLICT, "another tenant has this API key")
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err = tx.ExecContext(ctx,
			"INSERT INTO tenants (id, name, notify_email, api_key_hash, created_at, brand_name, brand_color, brand_logo_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			t.ID, t.Name, t.NotifyEmail, keyHash, micros(t.CreatedAt), t.Branding.Name, t.Branding.Color, t.Branding.LogoURL)
		return err
	})
}

const tenantColumns = "id, name, notify_email, created_at, brand_name, brand_color, brand_logo_url"

func scanTenant(row interface{ Scan(...any) error }) (herald.Tenant, error) {
	var t herald.Tenant
	var created int64
	if err := row.Scan(&t.ID, &t.Name, &t.NotifyEmail, &created, &t.Branding.Name, &t.Branding.Color, &t.Branding.LogoURL); err != nil {
		return t, err
	}
	t.CreatedAt = fromMicros(created)
	return t, nil
}

// Tenant returns one tenant, ENOTFOUND if there is none with that id.
func (s *Store) Tenant(ctx context.Context, id string) (*herald.Tenant, error) {
	t, err := scanTenant(s.read.QueryRowContext(ctx, "SELECT "+tenantColumns+" FROM tenants WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("tenant", id)
	}
	if err != nil {
		return nil, fmt.Errorf("tenant %s: %w", id, unavailable(err))
	}
	return &t, nil
}

// TenantByKeyHash finds the tenant whose API key hashes to keyHash, or whose previous
// key does until its grace ends after now.
func (s *Store) TenantByKeyHash(ctx context.Context, keyHash []byte, now time.Time) (*herald.Tenant, error) {
	t, err := scanTenant(s.read.QueryRowContext(ctx,
		"SELECT "+tenantColumns+" FROM tenants WHERE api_key_hash = ?"+
			" UNION ALL SELECT "+tenantColumns+" FROM tenants WHERE previous_key_hash = ? AND previous_key_expires_at > ?"+
			" LIMIT 1", keyHash, keyHash, micros(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, herald.Errorf(herald.ENOTFOUND, "no tenant has this API key")
	}
	if err != nil {
		return nil, fmt.Errorf("tenant by key: %w", unavailable(err))
	}
	return &t, nil
}

// Tenants returns every tenant, oldest first.
func (s *Store) Tenants(ctx context.Context) ([]herald.Tenant, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT "+tenantColumns+" FROM tenants ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("tenants: %w", unavailable(err))
	}
	defer rows.Close()
	ts := []herald.Tenant{}
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, fmt.Errorf("tenants: %w", unavailable(err))
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tenants: %w", unavailable(err))
	}
	return ts, nil
}

// UpdateTenant writes a tenant's name, notify email and branding.
func (s *Store) UpdateTenant(ctx context.Context, t *herald.Tenant) error {
	return s.inTx(ctx, "update tenant "+t.ID, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE tenants SET name = ?, notify_email = ?, brand_name = ?, brand_color = ?, brand_logo_url = ? WHERE id = ?",
			t.Name, t.NotifyEmail, t.Branding.Name, t.Branding.Color, t.Branding.LogoURL, t.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound("tenant", t.ID)
		}
		return nil
	})
}

// DeleteTenant removes a tenant and its webhooks, events, deliveries, attempts and portal
// sessions.
func (s *Store) DeleteTenant(ctx context.Context, id string) error {
	return s.inTx(ctx, "delete tenant "+id, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM tenants WHERE id = ?", id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound("tenant", id)
		}
		// Deliveries go with their webhooks and events (ON DELETE CASCADE), attempts
		// with their deliveries, idempotency keys with their events, portal sessions
		// with the tenant.
		for _, q := range []string{
			"DELETE FROM deliveries WHERE tenant_id = ?",
			"DELETE FROM webhooks WHERE tenant_id = ?",
			"DELETE FROM events WHERE tenant_id = ?",
			"DELETE FROM idempotency_keys WHERE tenant_id = ?",
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// CreateEventType adds a custom event type, ECONFLICT if it exists.
func (s *Store) CreateEventType(ctx context.Context, t *herald.EventType) error {
	var sample sql.NullString
	if len(t.Sample) > 0 {
		sample = sql.NullString{String: string(t.Sample), Valid: true}
	}
	schema := string(t.Schema)
	if schema == "" {
		schema = "{}"
	}
	return s.inTx(ctx, "create event type", func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			"INSERT INTO event_types (type, description, schema, sample, created_at) VALUES (?, ?, ?, ?, ?)",
			t.Type, t.Description, schema, sample, micros(s.now()))
		if isUniqueViolation(err) {
			return conflict("event type", t.Type)
		}
		return err
	})
}

// EventTypes returns the custom event types, oldest first.
func (s *Store) EventTypes(ctx context.Context) ([]herald.EventType, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT type, description, schema, sample FROM event_types ORDER BY created_at, rowid")
	if err != nil {
		return nil, fmt.Errorf("event types: %w", unavailable(err))
	}
	defer rows.Close()
	ts := []herald.EventType{}
	for rows.Next() {
		var t herald.EventType
		var schema string
		var sample sql.NullString
		if err := rows.Scan(&t.Type, &t.Description, &schema, &sample); err != nil {
			return nil, fmt.Errorf("event types: %w", unavailable(err))
		}
		t.Schema = []byte(schema)
		if sample.Valid {
			t.Sample = []byte(sample.String)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("event types: %w", unavailable(err))
	}
	return ts, nil
}
