-- Herald's schema on SQLite. Every time is an INTEGER of Unix microseconds, UTC, so it
-- sorts and compares as a number. Tables are STRICT so a wrong type fails loudly.

-- +goose Up
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

CREATE TABLE tenants (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    notify_email TEXT NOT NULL DEFAULT '',
    api_key_hash BLOB NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE event_types (
    type        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    schema      TEXT NOT NULL,
    sample      TEXT,
    created_at  INTEGER NOT NULL
) STRICT;

-- Webhooks and events refer to their tenant by id without a foreign key: the default
-- tenant owns things without ever being created as a row.
CREATE TABLE webhooks (
    id                         TEXT PRIMARY KEY,
    tenant_id                  TEXT NOT NULL,
    name                       TEXT NOT NULL,
    description                TEXT NOT NULL DEFAULT '',
    url                        TEXT NOT NULL,
    events                     TEXT NOT NULL DEFAULT '[]', -- JSON array of types
    enabled                    INTEGER NOT NULL,
    format                     TEXT NOT NULL,
    rate_limit                 INTEGER NOT NULL DEFAULT 0,
    headers                    TEXT NOT NULL DEFAULT '{}', -- JSON object
    disabled_reason            TEXT NOT NULL DEFAULT '',
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL,
    last_delivery_status       TEXT NOT NULL DEFAULT '',
    last_delivery_at           INTEGER,
    secret                     BLOB NOT NULL, -- sealed with the store's Cipher
    previous_secret            BLOB,          -- sealed too
    previous_secret_expires_at INTEGER,
    consecutive_failures       INTEGER NOT NULL DEFAULT 0,
    failing_since              INTEGER
) STRICT;

CREATE INDEX webhooks_tenant_newest ON webhooks (tenant_id, created_at, id);
CREATE INDEX webhooks_newest ON webhooks (created_at, id);

CREATE TABLE events (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    type       TEXT NOT NULL,
    data       TEXT NOT NULL,
    timestamp  INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX events_tenant ON events (tenant_id);

-- The first event published with a key; a key older than the idempotency window is
-- taken over by the next event that uses it.
CREATE TABLE idempotency_keys (
    tenant_id  TEXT NOT NULL,
    key        TEXT NOT NULL,
    event_id   TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key)
) STRICT;

CREATE INDEX idempotency_keys_event ON idempotency_keys (event_id);

CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    tenant_id       TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'success', 'failed')),
    attempt_count   INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER, -- NULL once finished
    lease_owner     TEXT,
    lease_until     INTEGER,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

-- ClaimDue walks this index in due order and stops at its limit; when a backlog of
-- webhooks it cannot take (skipped, or at their per-claim cap) is in the way, it seeks
-- each webhook's due deliveries in the second.
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_webhook_due ON deliveries (webhook_id, status, next_attempt_at);
-- ReleaseClaims finds an owner's leases without scanning the table.
CREATE INDEX deliveries_lease_owner ON deliveries (lease_owner) WHERE lease_owner IS NOT NULL;
-- The delivery log, newest first, by webhook, by tenant, by event and overall.
CREATE INDEX deliveries_webhook_newest ON deliveries (webhook_id, created_at, id);
CREATE INDEX deliveries_tenant_newest ON deliveries (tenant_id, created_at, id);
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_newest ON deliveries (created_at, id);

CREATE TABLE attempts (
    id               TEXT PRIMARY KEY,
    delivery_id      TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number           INTEGER NOT NULL,
    at               INTEGER NOT NULL,
    status_code      INTEGER NOT NULL DEFAULT 0,
    duration_ms      INTEGER NOT NULL DEFAULT 0,
    success          INTEGER NOT NULL,
    error            TEXT NOT NULL DEFAULT '',
    request_headers  TEXT NOT NULL DEFAULT '{}', -- JSON object of arrays
    response_headers TEXT NOT NULL DEFAULT '{}',
    response_body    TEXT NOT NULL DEFAULT '',
    UNIQUE (delivery_id, number)
) STRICT;

-- +goose Down
DROP TABLE attempts;
DROP TABLE deliveries;
DROP TABLE idempotency_keys;
DROP TABLE events;
DROP TABLE webhooks;
DROP TABLE event_types;
DROP TABLE tenants;
DROP TABLE settings;
