-- +goose Up
-- A key's metadata, the compact JSON text of an object of at most 1 KiB
-- (NULL: none), and its IP allowlist, a JSON array of normalized CIDR
-- networks (NULL: usable from anywhere).
ALTER TABLE api_keys ADD COLUMN metadata TEXT NULL;
ALTER TABLE api_keys ADD COLUMN ip_allowlist TEXT NULL;

-- +goose Down
ALTER TABLE api_keys DROP COLUMN ip_allowlist;
ALTER TABLE api_keys DROP COLUMN metadata;
