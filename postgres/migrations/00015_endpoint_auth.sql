-- How Herald authenticates to a webhook's endpoint (basic, bearer, OAuth2 client
-- credentials or mutual TLS): its JSON sealed with the store's cipher, like the signing
-- secret, or NULL for none. The name is SQLite's too.

-- +goose Up
ALTER TABLE webhooks ADD COLUMN auth bytea;

-- +goose Down
ALTER TABLE webhooks DROP COLUMN auth;
