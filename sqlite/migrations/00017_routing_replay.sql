-- Replay walks a tenant's events in creation order, a batch at a time.

-- +goose Up
CREATE INDEX events_tenant_created ON events (tenant_id, created_at, id);

-- +goose Down
DROP INDEX events_tenant_created;
