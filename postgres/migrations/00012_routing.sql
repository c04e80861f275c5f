-- Routing: a webhook's content filter (CEL), its channels and how it orders its
-- deliveries; an event's channels and ordering key.

-- +goose Up
ALTER TABLE webhooks ADD COLUMN filter text NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN channels jsonb NOT NULL DEFAULT '[]';
ALTER TABLE webhooks ADD COLUMN ordering text NOT NULL DEFAULT 'none';
ALTER TABLE events ADD COLUMN channels jsonb NOT NULL DEFAULT '[]';
ALTER TABLE events ADD COLUMN ordering_key text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE events DROP COLUMN ordering_key;
ALTER TABLE events DROP COLUMN channels;
ALTER TABLE webhooks DROP COLUMN ordering;
ALTER TABLE webhooks DROP COLUMN channels;
ALTER TABLE webhooks DROP COLUMN filter;
