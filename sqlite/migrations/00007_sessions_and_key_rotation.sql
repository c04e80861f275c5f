-- Revocation. A tenant's API key can be rotated with a grace period: the replaced key's
-- hash stays beside the new one until previous_key_expires_at (Unix microseconds).
-- Portal sessions are rows, so signing out, rotating the key or deleting the tenant ends
-- them at once: the browser's cookie holds a random id, and only its SHA-256 is stored
-- (id_hash). An admin session has no tenant. Expired rows are removed at each sign-in.

-- +goose Up
ALTER TABLE tenants ADD COLUMN previous_key_hash BLOB;
ALTER TABLE tenants ADD COLUMN previous_key_expires_at INTEGER;
CREATE UNIQUE INDEX tenants_previous_key_hash ON tenants (previous_key_hash) WHERE previous_key_hash IS NOT NULL;

CREATE TABLE portal_sessions (
    id_hash    BLOB PRIMARY KEY,
    admin      INTEGER NOT NULL,
    tenant_id  TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    key_hash   BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    CHECK ((admin = 1) = (tenant_id IS NULL))
) STRICT, WITHOUT ROWID;
CREATE INDEX portal_sessions_tenant ON portal_sessions (tenant_id);
CREATE INDEX portal_sessions_expires ON portal_sessions (expires_at);

-- +goose Down
DROP TABLE portal_sessions;
DROP INDEX tenants_previous_key_hash;
ALTER TABLE tenants DROP COLUMN previous_key_expires_at;
ALTER TABLE tenants DROP COLUMN previous_key_hash;
