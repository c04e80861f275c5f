-- A broker destination's URL may carry a password (amqp://user:pass@host/…). The url
-- column keeps the URL with *** in its place; the password is here, sealed by the
-- store's cipher like the webhook's secrets. NULL when the URL has none.

-- +goose Up
ALTER TABLE webhooks ADD COLUMN url_password BLOB;

-- +goose Down
ALTER TABLE webhooks DROP COLUMN url_password;
