-- Herald's schema on PostgreSQL. The tables and columns are SQLite's, by the same names,
-- so a copy between the two maps columns by name; the types are PostgreSQL's own: times
-- are timestamptz (microseconds, UTC), flags boolean, sealed secrets and key hashes
-- bytea, and JSON that is only ever read back whole is jsonb. An event's data is text,
-- not jsonb, because it must come back byte for byte as published, and jsonb reorders
-- keys and drops spacing. Ids sort bytewise (COLLATE "C"), as they do in Go: they are
-- time-sortable ULIDs, and newest-first lists break ties on them.

-- +goose Up
CREATE TABLE settings (
    name  text PRIMARY KEY,
    value bytea NOT NULL
);

CREATE TABLE tenants (
    id           text COLLATE "C" PRIMARY KEY,
    name         text NOT NULL,
    notify_email text NOT NULL DEFAULT '',
    api_key_hash bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL
);

CREATE TABLE event_types (
    type        text PRIMARY KEY,
    description text NOT NULL DEFAULT '',
    schema      text NOT NULL, -- the JSON Schema as given, so it reads back as written
    sample      text,
    created_at  timestamptz NOT NULL
);

-- Webhooks and events refer to their tenant by id without a foreign key: the default
-- tenant owns things without ever being created as a row.
CREATE TABLE webhooks (
    id                         text COLLATE "C" PRIMARY KEY,
    tenant_id                  text COLLATE "C" NOT NULL,
    name                       text NOT NULL,
    description                text NOT NULL DEFAULT '',
    url                        text NOT NULL,
    events                     jsonb NOT NULL DEFAULT '[]', -- array of types
    enabled                    boolean NOT NULL,
    format                     text NOT NULL,
    rate_limit                 integer NOT NULL DEFAULT 0,
    headers                    jsonb NOT NULL DEFAULT '{}', -- object of strings
    disabled_reason            text NOT NULL DEFAULT '',
    created_at                 timestamptz NOT NULL,
    updated_at                 timestamptz NOT NULL,
    last_delivery_status       text NOT NULL DEFAULT '',
    last_delivery_at           timestamptz,
    secret                     bytea NOT NULL, -- sealed with the store's Cipher
    previous_secret            bytea,          -- sealed too
    previous_secret_expires_at timestamptz,
    consecutive_failures       integer NOT NULL DEFAULT 0,
    failing_since              timestamptz
);

CREATE INDEX webhooks_tenant_newest ON webhooks (tenant_id, created_at, id);
CREATE INDEX webhooks_newest ON webhooks (created_at, id);

CREATE TABLE events (
    id         text COLLATE "C" PRIMARY KEY,
    tenant_id  text COLLATE "C" NOT NULL,
    type       text NOT NULL,
    data       text NOT NULL, -- JSON, byte for byte as published
    timestamp  timestamptz NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE INDEX events_tenant ON events (tenant_id);

-- The first event published with a key; a key older than the idempotency window is
-- taken over by the next event that uses it.
CREATE TABLE idempotency_keys (
    tenant_id  text COLLATE "C" NOT NULL,
    key        text NOT NULL,
    event_id   text COLLATE "C" NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

CREATE INDEX idempotency_keys_event ON idempotency_keys (event_id);

CREATE TABLE deliveries (
    id              text COLLATE "C" PRIMARY KEY,
    event_id        text COLLATE "C" NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    webhook_id      text COLLATE "C" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    tenant_id       text COLLATE "C" NOT NULL,
    event_type      text NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'success', 'failed')),
    attempt_count   integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz, -- NULL once finished
    lease_owner     text,
    lease_until     timestamptz,
    last_error      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- ClaimDue walks the first in due order and stops at its limit; when a backlog of
-- webhooks it cannot take (skipped, or at their cap) is in the way, it seeks each
-- webhook's due deliveries in the second. Both hold pending deliveries only, so the
-- delivered and failed history, however long, costs a claim nothing.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX deliveries_webhook_due ON deliveries (webhook_id, next_attempt_at, id) WHERE status = 'pending';
-- Leases: a capped claim counts a webhook's, and ReleaseClaims finds an owner's, among
-- the few deliveries that hold one. One index serves both because every index costs
-- each lease an entry: a lease changes indexed columns, so it is never a HOT update.
CREATE INDEX deliveries_leased ON deliveries (webhook_id, lease_until) INCLUDE (lease_owner)
    WHERE lease_owner IS NOT NULL;
-- The delivery log, newest first, by webhook, by tenant, by event and overall.
CREATE INDEX deliveries_webhook_newest ON deliveries (webhook_id, created_at, id);
CREATE INDEX deliveries_tenant_newest ON deliveries (tenant_id, created_at, id);
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_newest ON deliveries (created_at, id);

CREATE TABLE attempts (
    id               text COLLATE "C" PRIMARY KEY,
    delivery_id      text COLLATE "C" NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number           integer NOT NULL,
    at               timestamptz NOT NULL,
    status_code      integer NOT NULL DEFAULT 0,
    duration_ms      bigint NOT NULL DEFAULT 0,
    success          boolean NOT NULL,
    error            text NOT NULL DEFAULT '',
    request_headers  jsonb NOT NULL DEFAULT '{}', -- object of arrays of strings
    response_headers jsonb NOT NULL DEFAULT '{}',
    response_body    text NOT NULL DEFAULT '',
    UNIQUE (delivery_id, number)
);

-- +goose Down
DROP TABLE attempts;
DROP TABLE deliveries;
DROP TABLE idempotency_keys;
DROP TABLE events;
DROP TABLE webhooks;
DROP TABLE event_types;
DROP TABLE tenants;
DROP TABLE settings;
