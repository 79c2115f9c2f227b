-- +goose Up
-- Each organization's key policy (GET/PATCH /api/v1/organizations/{id}),
-- as a JSON document of its settings. An organization without a row has
-- the default policy: organizations are created implicitly by their keys.
-- The table takes api_keys' collation (NO PAD binary since 00006), so
-- that organization ids compare exactly, as they do in api_keys.
SET @apikeys_collation = (SELECT TABLE_COLLATION FROM information_schema.TABLES
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'api_keys');
SET @apikeys_sql = CONCAT('CREATE TABLE organization_policies (',
    ' organization_id VARCHAR(128) NOT NULL, settings TEXT NOT NULL, updated_at DATETIME(6) NOT NULL,',
    ' PRIMARY KEY (organization_id)',
    ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=', @apikeys_collation);
PREPARE apikeys_stmt FROM @apikeys_sql;
EXECUTE apikeys_stmt;
DEALLOCATE PREPARE apikeys_stmt;
SET @apikeys_collation = NULL, @apikeys_sql = NULL;

-- +goose Down
DROP TABLE organization_policies;
