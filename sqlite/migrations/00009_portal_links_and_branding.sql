-- Portal links and branding. A portal link signs its visitor in to one tenant's portal
-- once, with no API key: only the SHA-256 of its token is stored (token_hash), and
-- used_at is set by the one UPDATE that redeems it, so two visitors racing on one link
-- cannot both get in. Rows stay a day past expiry so a late visitor is told where to go
-- back to. A session begun by a link (via_link) acts as its tenant without a key, can be
-- read-only, and remembers the link's return_url. A tenant's branding (name, accent
-- colour, logo URL) is shown in its portal over the installation's.

-- +goose Up
CREATE TABLE portal_links (
    token_hash BLOB PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    read_only  INTEGER NOT NULL,
    return_url TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX portal_links_tenant ON portal_links (tenant_id);
CREATE INDEX portal_links_expires ON portal_links (expires_at);

ALTER TABLE portal_sessions ADD COLUMN via_link INTEGER NOT NULL DEFAULT 0;
ALTER TABLE portal_sessions ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0;
ALTER TABLE portal_sessions ADD COLUMN return_url TEXT NOT NULL DEFAULT '';

ALTER TABLE tenants ADD COLUMN brand_name TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN brand_color TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN brand_logo_url TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE tenants DROP COLUMN brand_logo_url;
ALTER TABLE tenants DROP COLUMN brand_color;
ALTER TABLE tenants DROP COLUMN brand_name;
ALTER TABLE portal_sessions DROP COLUMN return_url;
ALTER TABLE portal_sessions DROP COLUMN read_only;
ALTER TABLE portal_sessions DROP COLUMN via_link;
DROP TABLE portal_links;
