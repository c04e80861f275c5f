-- Retention: the payloads of old finished work are removed, their metadata kept.
-- deliveries.purged_at is when the response bodies of a delivery's attempts were
-- removed; events.purged_at when the event's data was (data is then JSON null). An
-- event's data goes only once every delivery of it is finished and purged, so nothing
-- that may still be sent loses what it sends. The names are SQLite's too.

-- +goose Up
ALTER TABLE deliveries ADD COLUMN purged_at timestamptz;
ALTER TABLE events ADD COLUMN purged_at timestamptz;

-- The purge walks finished, unpurged deliveries oldest first, and old unpurged events;
-- rows leave these indexes once purged, so each walk starts at work left to do.
CREATE INDEX deliveries_purgeable ON deliveries (updated_at) WHERE purged_at IS NULL AND status <> 'pending';
CREATE INDEX events_purgeable ON events (created_at) WHERE purged_at IS NULL;

-- A delivery whose event's data is gone has nothing to send: whatever asks (a manual
-- retry, a test, a claim), it is never leased, so never sent with an empty payload,
-- and never made pending again (a recover skips it). A purged delivery whose event
-- still has its data may go again (made pending, or leased for a manual retry), and is
-- then no longer purged, so the attempts it makes are purged in their turn. The
-- trigger's WHEN keeps it off every other update, the purge's own included.
-- +goose StatementBegin
CREATE FUNCTION herald_guard_purged_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
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

-- +goose Down
DROP TRIGGER deliveries_guard_purged ON deliveries;
DROP FUNCTION herald_guard_purged_delivery();
DROP INDEX events_purgeable;
DROP INDEX deliveries_purgeable;
ALTER TABLE events DROP COLUMN purged_at;
ALTER TABLE deliveries DROP COLUMN purged_at;
