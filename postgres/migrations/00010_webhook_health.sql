-- A webhook's health as its owner sees it: the error of its latest failed attempt while
-- it is failing (cleared by a success), and when an attempt last succeeded. A webhook
-- whose last attempt succeeded starts with that time; one that is failing shows its last
-- error from its next failed attempt on. The names are SQLite's too.

-- +goose Up
ALTER TABLE webhooks ADD COLUMN last_error text NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN last_success_at timestamptz;
UPDATE webhooks SET last_success_at = last_delivery_at WHERE last_delivery_status = 'success';

-- +goose Down
ALTER TABLE webhooks DROP COLUMN last_success_at;
ALTER TABLE webhooks DROP COLUMN last_error;
