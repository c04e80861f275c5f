-- Leases leave the deliveries row, and every lease names the process that holds it.
--
-- A lease written into deliveries changed indexed columns, so each claim made a new
-- version of the row with an entry in each of its eight indexes, and each attempt
-- record another. A lease now is a row of its own in leases, which has two small
-- indexes and, being UNLOGGED, writes no WAL: it is state of the running processes,
-- not history. After a crash of the database (or on a promoted standby) it is empty,
-- and every delivery that was leased may be sent again: a repeat, never a loss.
--
-- processes holds one row per running store. Its holder keeps it alive: it holds a
-- session advisory lock on lock_key for as long as its connection lives, and moves
-- alive_until forward, by the database's clock, every second. A row whose lock is gone
-- (the process died and its connection with it) or whose alive_until has passed (its
-- host went silent) is dead, and so is every lease of its process, whatever the lease's
-- own until: survivors take that work over at once.
--
-- Processes of an older version write their leases into the columns dropped here and
-- fail: stop them before this migration runs.

-- +goose Up
CREATE UNLOGGED TABLE processes (
    id          text COLLATE "C" PRIMARY KEY,
    lock_key    bigint NOT NULL UNIQUE,
    alive_until timestamptz NOT NULL,
    started_at  timestamptz NOT NULL
);

-- No foreign keys: a lease is checked against the delivery it leases where it is used,
-- and one left behind by a delivery deleted while leased is removed when it expires.
CREATE UNLOGGED TABLE leases (
    delivery_id text COLLATE "C" PRIMARY KEY,
    webhook_id  text COLLATE "C" NOT NULL,
    owner       text NOT NULL,
    process     text COLLATE "C" NOT NULL,
    until       timestamptz NOT NULL
);

-- A capped claim counts a webhook's leases.
CREATE INDEX leases_webhook ON leases (webhook_id);

DROP TRIGGER deliveries_guard_purged ON deliveries;
DROP INDEX deliveries_leased;
ALTER TABLE deliveries DROP COLUMN lease_owner, DROP COLUMN lease_until;

-- The guard of migration 00003 without its lease clause: leasing no longer updates the
-- delivery, and ClaimDelivery refuses a purged one itself.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION herald_guard_purged_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM events WHERE id = NEW.event_id AND purged_at IS NOT NULL) THEN
        NEW.purged_at := NULL;
        RETURN NEW;
    END IF;
    RETURN NULL; -- skip the row: a delivery with nothing to send is not made pending
END
$$;
-- +goose StatementEnd

CREATE TRIGGER deliveries_guard_purged BEFORE UPDATE ON deliveries
FOR EACH ROW WHEN (NEW.purged_at IS NOT NULL AND NEW.status = 'pending' AND OLD.status <> 'pending')
EXECUTE FUNCTION herald_guard_purged_delivery();

-- +goose Down
DROP TRIGGER deliveries_guard_purged ON deliveries;
ALTER TABLE deliveries ADD COLUMN lease_owner text, ADD COLUMN lease_until timestamptz;
CREATE INDEX deliveries_leased ON deliveries (webhook_id, lease_until) INCLUDE (lease_owner)
    WHERE lease_owner IS NOT NULL;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION herald_guard_purged_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM events WHERE id = NEW.event_id AND purged_at IS NOT NULL) THEN
        NEW.purged_at := NULL;
        RETURN NEW;
    END IF;
    IF NEW.lease_owner IS NOT NULL AND NEW.lease_until IS DISTINCT FROM OLD.lease_until THEN
        RAISE EXCEPTION 'herald: payload removed by retention: this delivery''s event data was purged, so there is nothing to send'
            USING ERRCODE = 'P0001', DETAIL = NEW.id;
    END IF;
    IF NEW.status = 'pending' AND OLD.status <> 'pending' THEN
        RETURN NULL; -- skip the row
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER deliveries_guard_purged BEFORE UPDATE ON deliveries
FOR EACH ROW WHEN (NEW.purged_at IS NOT NULL AND ((NEW.status = 'pending' AND OLD.status <> 'pending')
    OR (NEW.lease_owner IS NOT NULL AND NEW.lease_until IS DISTINCT FROM OLD.lease_until)))
EXECUTE FUNCTION herald_guard_purged_delivery();
DROP TABLE leases;
DROP TABLE processes;
