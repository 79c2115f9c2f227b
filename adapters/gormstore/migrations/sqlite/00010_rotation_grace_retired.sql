-- +goose Up
-- The secret a rotation with a grace period replaced, still accepted until
-- previous_expires_at (NULL: no previous secret).
ALTER TABLE api_keys ADD COLUMN previous_hash TEXT NULL;
ALTER TABLE api_keys ADD COLUMN previous_lookup TEXT NULL;
ALTER TABLE api_keys ADD COLUMN previous_hint TEXT NULL;
ALTER TABLE api_keys ADD COLUMN previous_expires_at DATETIME NULL;
CREATE UNIQUE INDEX api_keys_previous_lookup_key ON api_keys (previous_lookup);

-- The lookup digest of every secret a rotation replaced, kept forever (never
-- its hash), so that a later use of it is attributed to its key.
CREATE TABLE retired_secrets (
    lookup     TEXT     NOT NULL PRIMARY KEY,
    key_id     TEXT     NOT NULL,
    retired_at DATETIME NOT NULL
);
CREATE INDEX retired_secrets_key_idx ON retired_secrets (key_id);

-- +goose Down
DROP TABLE retired_secrets;
DROP INDEX api_keys_previous_lookup_key;
ALTER TABLE api_keys DROP COLUMN previous_expires_at;
ALTER TABLE api_keys DROP COLUMN previous_hint;
ALTER TABLE api_keys DROP COLUMN previous_lookup;
ALTER TABLE api_keys DROP COLUMN previous_hash;
