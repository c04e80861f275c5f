-- The due indexes hold pending deliveries alone, as PostgreSQL's do. Recording an
-- attempt that finishes a delivery then removes its entries instead of moving them to
-- the finished part of each index, and claims and the backlog count read an index the
-- size of the backlog, not of the whole history.

-- +goose Up
DROP INDEX deliveries_due;
DROP INDEX deliveries_webhook_due;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_webhook_due ON deliveries (webhook_id, next_attempt_at) WHERE status = 'pending';

-- +goose Down
DROP INDEX deliveries_due;
DROP INDEX deliveries_webhook_due;
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_webhook_due ON deliveries (webhook_id, status, next_attempt_at);
