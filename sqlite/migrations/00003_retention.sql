-- Retention: the payloads of old finished work are removed, their metadata kept.
-- deliveries.purged_at is when the response bodies of a delivery's attempts were
-- removed; events.purged_at when the event's data was (data is then JSON null). An
-- event's data goes only once every delivery of it is finished and purged, so nothing
-- that may still be sent loses what it sends. Times are Unix microseconds, as elsewhere.

-- +goose Up
ALTER TABLE deliveries ADD COLUMN purged_at INTEGER;
ALTER TABLE events ADD COLUMN purged_at INTEGER;

-- The purge walks finished, unpurged deliveries oldest first, and old unpurged events;
-- rows leave these indexes once purged, so each walk starts at work left to do.
CREATE INDEX deliveries_purgeable ON deliveries (updated_at) WHERE purged_at IS NULL AND status != 'pending';
CREATE INDEX events_purgeable ON events (created_at) WHERE purged_at IS NULL;

-- A delivery whose event's data is gone has nothing to send. Whatever asks (a manual
-- retry, a test, a claim), it is never leased, so never sent with an empty payload;
-- the claim fails with this message.
-- +goose StatementBegin
CREATE TRIGGER deliveries_purged_not_leased BEFORE UPDATE OF lease_owner, lease_until ON deliveries
WHEN NEW.purged_at IS NOT NULL AND NEW.lease_owner IS NOT NULL AND NEW.lease_until IS NOT OLD.lease_until
    AND (SELECT purged_at FROM events WHERE id = NEW.event_id) IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'herald: payload removed by retention: this delivery''s event data was purged, so there is nothing to send');
END;
-- +goose StatementEnd

-- Nor is it made pending again (a recover of failed deliveries): the row is skipped.
-- +goose StatementBegin
CREATE TRIGGER deliveries_purged_not_requeued BEFORE UPDATE OF status ON deliveries
WHEN NEW.purged_at IS NOT NULL AND NEW.status = 'pending' AND OLD.status != 'pending'
    AND (SELECT purged_at FROM events WHERE id = NEW.event_id) IS NOT NULL
BEGIN
    SELECT RAISE(IGNORE);
END;
-- +goose StatementEnd

-- A purged delivery whose event still has its data may go again (made pending, or
-- leased for a manual retry); it is then work in progress, no longer purged, so the
-- attempts it makes are purged in their turn.
-- +goose StatementBegin
CREATE TRIGGER deliveries_repending_unpurged AFTER UPDATE OF status, lease_owner, lease_until ON deliveries
WHEN NEW.purged_at IS NOT NULL AND ((NEW.status = 'pending' AND OLD.status != 'pending')
    OR (NEW.lease_owner IS NOT NULL AND NEW.lease_until IS NOT OLD.lease_until))
BEGIN
    UPDATE deliveries SET purged_at = NULL WHERE id = NEW.id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER deliveries_repending_unpurged;
DROP TRIGGER deliveries_purged_not_requeued;
DROP TRIGGER deliveries_purged_not_leased;
DROP INDEX events_purgeable;
DROP INDEX deliveries_purgeable;
ALTER TABLE events DROP COLUMN purged_at;
ALTER TABLE deliveries DROP COLUMN purged_at;
