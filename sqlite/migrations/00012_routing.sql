-- Routing: a webhook's content filter (CEL), its channels (a JSON array) and how it
-- orders its deliveries; an event's channels (a JSON array) and ordering key.

-- +goose Up
ALTER TABLE webhooks ADD COLUMN filter TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN channels TEXT NOT NULL DEFAULT '[]';
ALTER TABLE webhooks ADD COLUMN ordering TEXT NOT NULL DEFAULT 'none';
ALTER TABLE events ADD COLUMN channels TEXT NOT NULL DEFAULT '[]';
ALTER TABLE events ADD COLUMN ordering_key TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE events DROP COLUMN ordering_key;
ALTER TABLE events DROP COLUMN channels;
ALTER TABLE webhooks DROP COLUMN ordering;
ALTER TABLE webhooks DROP COLUMN channels;
ALTER TABLE webhooks DROP COLUMN filter;
