-- +goose Up
-- The secret a rotation with a grace period replaced, still accepted until
-- previous_expires_at (NULL: no previous secret).
ALTER TABLE api_keys
    ADD COLUMN previous_hash VARCHAR(255) NULL,
    ADD COLUMN previous_lookup CHAR(64) NULL,
    ADD COLUMN previous_hint VARCHAR(64) NULL,
    ADD COLUMN previous_expires_at DATETIME(6) NULL,
    ADD UNIQUE KEY api_keys_previous_lookup_key (previous_lookup);

-- The lookup digest of every secret a rotation replaced, kept forever (never
-- its hash), so that a later use of it is attributed to its key. Its
-- columns take api_keys' collation (NO PAD binary once 00006 has run;
-- 00006 converts this table too when it runs later), so that joining the
-- two never mixes collations.
SET @apikeys_collation = (SELECT TABLE_COLLATION FROM information_schema.TABLES
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'api_keys');
SET @apikeys_sql = CONCAT('CREATE TABLE retired_secrets (',
    ' lookup CHAR(64) NOT NULL, key_id VARCHAR(64) NOT NULL, retired_at DATETIME(6) NOT NULL,',
    ' PRIMARY KEY (lookup), KEY retired_secrets_key_idx (key_id)',
    ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=', @apikeys_collation);
PREPARE apikeys_stmt FROM @apikeys_sql;
EXECUTE apikeys_stmt;
DEALLOCATE PREPARE apikeys_stmt;
SET @apikeys_collation = NULL, @apikeys_sql = NULL;

-- +goose Down
DROP TABLE retired_secrets;
ALTER TABLE api_keys
    DROP INDEX api_keys_previous_lookup_key,
    DROP COLUMN previous_expires_at,
    DROP COLUMN previous_hint,
    DROP COLUMN previous_lookup,
    DROP COLUMN previous_hash;
