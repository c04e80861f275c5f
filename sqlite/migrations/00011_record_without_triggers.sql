-- An attempt's record updates one row of deliveries. The retention triggers made every
-- change of a delivery's status a statement that may write other rows, so SQLite kept
-- a statement journal (a copy of each page it changed) for every record. Leases are
-- in the serving process's memory, so the lease columns are never written and their
-- trigger and index serve nothing. The one statement that makes a finished delivery
-- pending again (a requeue) now applies the two status rules itself: it skips a
-- delivery whose event's data was purged, and un-purges the ones it makes pending.
-- A manual retry's claim already refuses or un-purges the delivery it takes.

-- +goose Up
DROP TRIGGER deliveries_repending_unpurged;
DROP TRIGGER deliveries_purged_not_requeued;
DROP TRIGGER deliveries_purged_not_leased;
DROP INDEX deliveries_lease_owner;

-- +goose Down
CREATE INDEX deliveries_lease_owner ON deliveries (lease_owner) WHERE lease_owner IS NOT NULL;
-- +goose StatementBegin
CREATE TRIGGER deliveries_purged_not_leased BEFORE UPDATE OF lease_owner, lease_until ON deliveries
WHEN NEW.purged_at IS NOT NULL AND NEW.lease_owner IS NOT NULL AND NEW.lease_until IS NOT OLD.lease_until
    AND (SELECT purged_at FROM events WHERE id = NEW.event_id) IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'herald: payload removed by retention: this delivery''s event data was purged, so there is nothing to send');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER deliveries_purged_not_requeued BEFORE UPDATE OF status ON deliveries
WHEN NEW.purged_at IS NOT NULL AND NEW.status = 'pending' AND OLD.status != 'pending'
    AND (SELECT purged_at FROM events WHERE id = NEW.event_id) IS NOT NULL
BEGIN
    SELECT RAISE(IGNORE);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER deliveries_repending_unpurged AFTER UPDATE OF status, lease_owner, lease_until ON deliveries
WHEN NEW.purged_at IS NOT NULL AND ((NEW.status = 'pending' AND OLD.status != 'pending')
    OR (NEW.lease_owner IS NOT NULL AND NEW.lease_until IS NOT OLD.lease_until))
BEGIN
    UPDATE deliveries SET purged_at = NULL WHERE id = NEW.id;
END;
-- +goose StatementEnd
