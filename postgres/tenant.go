package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heraldhq/herald"
)

// Setting returns a named value, ENOTFOUND if unset.
func (s *Store) Setting(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.read(ctx, "setting "+name, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, "SELECT value FROM settings WHERE name = $1", name).Scan(&v)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("setting", name)
	}
	if err != nil {
		return nil, err
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// PutSetting sets a named value, replacing any earlier one.
func (s *Store) PutSetting(ctx context.Context, name string, value []byte) error {
	if value == nil {
		value = []byte{} // the column is NOT NULL; an empty value is still a value
	}
	return s.inTx(ctx, "put setting "+name, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			"INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
			name, value)
		return err
	})
}

// CreateSetting sets a named value unless it is set (ECONFLICT).
func (s *Store) CreateSetting(ctx context.Context, name string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	return s.inTx(ctx, "create setting "+name, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", name, value)
		if err == nil && tag.RowsAffected() == 0 {
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
	return s.inTx(ctx, "create tenant", func(ctx context.Context, tx pgx.Tx) error {
		var previous bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM tenants WHERE previous_key_hash = $1)", keyHash).Scan(&previous); err != nil {
			return err
		}
		if previous {
			return herald.Errorf(herald.ECONFLICT, "another tenant has this API key")
		}
		_, err := tx.Exec(ctx,
			"INSERT INTO tenants (id, name, notify_email, api_key_hash, created_at, brand_name, brand_color, brand_logo_url) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
			t.ID, t.Name, t.NotifyEmail, keyHash, stored(t.CreatedAt), t.Branding.Name, t.Branding.Color, t.Branding.LogoURL)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			if pe.ConstraintName == "tenants_pkey" {
				return conflict("tenant", t.ID)
			}
			return herald.Errorf(herald.ECONFLICT, "another tenant has this API key")
		}
		return err
	})
}

const tenantColumns = "id, name, notify_email, created_at, brand_name, brand_color, brand_logo_url"

func scanTenant(row scanner) (herald.Tenant, error) {
	var t herald.Tenant
	if err := row.Scan(&t.ID, &t.Name, &t.NotifyEmail, &t.CreatedAt, &t.Branding.Name, &t.Branding.Color, &t.Branding.LogoURL); err != nil {
		return t, err
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return t, nil
}

// Tenant returns one tenant, ENOTFOUND if there is none with that id.
func (s *Store) Tenant(ctx context.Context, id string) (*herald.Tenant, error) {
	var t herald.Tenant
	err := s.read(ctx, "tenant "+id, func(ctx context.Context) (err error) {
		t, err = scanTenant(s.pool.QueryRow(ctx, "SELECT "+tenantColumns+" FROM tenants WHERE id = $1", id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("tenant", id)
	}
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// TenantByKeyHash finds the tenant whose API key hashes to keyHash, or whose previous
// key does until its grace ends after now.
func (s *Store) TenantByKeyHash(ctx context.Context, keyHash []byte, now time.Time) (*herald.Tenant, error) {
	var t herald.Tenant
	err := s.read(ctx, "tenant by key", func(ctx context.Context) (err error) {
		t, err = scanTenant(s.pool.QueryRow(ctx,
			"SELECT "+tenantColumns+" FROM tenants WHERE api_key_hash = $1"+
				" UNION ALL SELECT "+tenantColumns+" FROM tenants WHERE previous_key_hash = $1 AND previous_key_expires_at > $2"+
				" LIMIT 1", keyHash, stored(now)))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, herald.Errorf(herald.ENOTFOUND, "no tenant has this API key")
	}
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// Tenants returns every tenant, oldest first.
func (s *Store) Tenants(ctx context.Context) ([]herald.Tenant, error) {
	var ts []herald.Tenant
	err := s.read(ctx, "tenants", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, "SELECT "+tenantColumns+" FROM tenants ORDER BY created_at, id")
		if err != nil {
			return err
		}
		ts, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (herald.Tenant, error) { return scanTenant(row) })
		return err
	})
	if err != nil {
		return nil, err
	}
	if ts == nil {
		ts = []herald.Tenant{}
	}
	return ts, nil
}

// UpdateTenant writes a tenant's name, notify email and branding.
func (s *Store) UpdateTenant(ctx context.Context, t *herald.Tenant) error {
	return s.inTx(ctx, "update tenant "+t.ID, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			"UPDATE tenants SET name = $1, notify_email = $2, brand_name = $3, brand_color = $4, brand_logo_url = $5 WHERE id = $6",
			t.Name, t.NotifyEmail, t.Branding.Name, t.Branding.Color, t.Branding.LogoURL, t.ID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("tenant", t.ID)
		}
		return nil
	})
}

// DeleteTenant removes a tenant and its webhooks, events, deliveries, attempts and portal
// sessions (ON DELETE CASCADE).
func (s *Store) DeleteTenant(ctx context.Context, id string) error {
	return s.inTx(ctx, "delete tenant "+id, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM tenants WHERE id = $1", id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("tenant", id)
		}
		// Webhooks first, taking their deliveries with them (ON DELETE CASCADE): the
		// order every writer locks in, webhook before delivery, so this never deadlocks
		// with an attempt being recorded. Attempts go with their deliveries and
		// idempotency keys with their events.
		for _, q := range []string{
			"DELETE FROM webhooks WHERE tenant_id = $1",
			"DELETE FROM deliveries WHERE tenant_id = $1",
			"DELETE FROM events WHERE tenant_id = $1",
			"DELETE FROM idempotency_keys WHERE tenant_id = $1",
		} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// CreateEventType adds a custom event type, ECONFLICT if it exists.
func (s *Store) CreateEventType(ctx context.Context, t *herald.EventType) error {
	var sample *string
	if len(t.Sample) > 0 {
		v := string(t.Sample)
		sample = &v
	}
	schema := string(t.Schema)
	if schema == "" {
		schema = "{}"
	}
	now := s.now()
	return s.inTx(ctx, "create event type", func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			"INSERT INTO event_types (type, description, schema, sample, created_at) VALUES ($1, $2, $3, $4, $5)",
			t.Type, t.Description, schema, sample, now)
		if isUniqueViolation(err) {
			return conflict("event type", t.Type)
		}
		return err
	})
}

// EventTypes returns the custom event types, oldest first.
func (s *Store) EventTypes(ctx context.Context) ([]herald.EventType, error) {
	var ts []herald.EventType
	err := s.read(ctx, "event types", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, "SELECT type, description, schema, sample FROM event_types ORDER BY created_at, type")
		if err != nil {
			return err
		}
		ts, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (herald.EventType, error) {
			var t herald.EventType
			var schema string
			var sample *string
			if err := row.Scan(&t.Type, &t.Description, &schema, &sample); err != nil {
				return t, err
			}
			t.Schema = []byte(schema)
			if sample != nil {
				t.Sample = []byte(*sample)
			}
			return t, nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	if ts == nil {
		ts = []herald.EventType{}
	}
	return ts, nil
}
