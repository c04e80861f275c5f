-- Replay walks a tenant's events in creation order, a batch at a time; the delivery
-- log is searched by an event's channel.

-- +goose Up
CREATE INDEX events_tenant_created ON events (tenant_id, created_at, id);
CREATE INDEX events_channels ON events USING gin (channels jsonb_path_ops);

-- +goose Down
DROP INDEX events_channels;
DROP INDEX events_tenant_created;
