-- Per-key ordering. A delivery carries its event's ordering key when its webhook orders
-- by key ('' otherwise), copied at publish so that a claim tells a key's head from the
-- deliveries behind it without reading events or webhooks. The index holds the pending
-- keyed deliveries only, by webhook and key in publish order: a claim asks it whether a
-- delivery has a pending one before it, and the blocked-keys listing reads it. The names
-- are SQLite's too.

-- +goose Up
ALTER TABLE deliveries ADD COLUMN ordering_key text COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX deliveries_ordering ON deliveries (webhook_id, ordering_key, created_at, id)
    WHERE status = 'pending' AND ordering_key <> '';

-- +goose Down
DROP INDEX deliveries_ordering;
ALTER TABLE deliveries DROP COLUMN ordering_key;
