-- +goose Up
-- A key's own rate limit, as "<limit>/<window>" (e.g. "100/1m", windows
-- 1s, 1m and 1h); NULL: the key has no limit of its own.
ALTER TABLE api_keys ADD COLUMN rate_limit VARCHAR(32) NULL;

-- +goose Down
ALTER TABLE api_keys DROP COLUMN rate_limit;
