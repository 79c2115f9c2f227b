-- +goose Up
-- retired_secrets was created (00010) with utf8mb4_bin, a PAD SPACE
-- collation, while 00006 had moved api_keys to a NO PAD binary one: the
-- join of a retired digest to its key mixed the two, which MySQL refuses.
-- It takes api_keys' collation, so that its ids and digests compare
-- exactly, like every other identifier.
SET @apikeys_collation = (SELECT TABLE_COLLATION FROM information_schema.TABLES
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'api_keys');
SET @apikeys_sql = CONCAT('ALTER TABLE retired_secrets CONVERT TO CHARACTER SET utf8mb4 COLLATE ', @apikeys_collation);
PREPARE apikeys_stmt FROM @apikeys_sql;
EXECUTE apikeys_stmt;
DEALLOCATE PREPARE apikeys_stmt;
SET @apikeys_collation = NULL, @apikeys_sql = NULL;

-- +goose Down
ALTER TABLE retired_secrets CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
