-- The dashboard (Store.DeliveryStats) reads the attempts of the last hour. Without an
-- index on their time it scanned every attempt of every tenant on each load. This index
-- finds the window's attempts by time and covers what the stats read of them, so the
-- table is not visited: each is joined to its delivery by primary key for the tenant.

-- +goose Up
CREATE INDEX attempts_at ON attempts (at, delivery_id, success, duration_ms);

-- +goose Down
DROP INDEX attempts_at;
