-- +goose Up
-- Identifiers compare exactly. utf8mb4_bin is a PAD SPACE collation:
-- 'org_A' = 'org_A ' is true under it, so a query for an organization id
-- with a trailing space found org_A's rows. Every column of the three
-- tables moves to a NO PAD binary collation, where two strings are equal
-- only when their bytes are: MySQL 8's utf8mb4_0900_bin, or MariaDB's
-- utf8mb4_nopad_bin (MariaDB 10.2+, which has no 0900 collations). Both
-- order by code point, as utf8mb4_bin did, so no index changes order.
-- The tables' default collation changes too, so columns added later
-- compare exactly as well. (The service also refuses such identifiers at
-- its edges; this makes the database itself never equate them.)
--
-- CONVERT TO rebuilds each table, copying its rows: on a large audit
-- trail, run `apikeys migrate up` in a quiet hour.
SET @apikeys_collation = IF(
    EXISTS (SELECT 1 FROM information_schema.COLLATIONS WHERE COLLATION_NAME = 'utf8mb4_0900_bin'),
    'utf8mb4_0900_bin', 'utf8mb4_nopad_bin');

SET @apikeys_sql = CONCAT('ALTER TABLE api_keys CONVERT TO CHARACTER SET utf8mb4 COLLATE ', @apikeys_collation);
PREPARE apikeys_stmt FROM @apikeys_sql;
EXECUTE apikeys_stmt;
DEALLOCATE PREPARE apikeys_stmt;

SET @apikeys_sql = CONCAT('ALTER TABLE audit_events CONVERT TO CHARACTER SET utf8mb4 COLLATE ', @apikeys_collation);
PREPARE apikeys_stmt FROM @apikeys_sql;
EXECUTE apikeys_stmt;
DEALLOCATE PREPARE apikeys_stmt;

SET @apikeys_sql = CONCAT('ALTER TABLE audit_chains CONVERT TO CHARACTER SET utf8mb4 COLLATE ', @apikeys_collation);
PREPARE apikeys_stmt FROM @apikeys_sql;
EXECUTE apikeys_stmt;
DEALLOCATE PREPARE apikeys_stmt;

-- retired_secrets (migration 00010) joins api_keys: when 00010 ran first
-- (an upgrade applying 00006 out of order), it moves too.
SET @apikeys_sql = IF(
    EXISTS (SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'retired_secrets'),
    CONCAT('ALTER TABLE retired_secrets CONVERT TO CHARACTER SET utf8mb4 COLLATE ', @apikeys_collation), 'DO 0');
PREPARE apikeys_stmt FROM @apikeys_sql;
EXECUTE apikeys_stmt;
DEALLOCATE PREPARE apikeys_stmt;

-- organization_policies (migration 00011) holds organization ids: when
-- 00011 ran first, it moves too.
SET @apikeys_sql = IF(
    EXISTS (SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'organization_policies'),
    CONCAT('ALTER TABLE organization_policies CONVERT TO CHARACTER SET utf8mb4 COLLATE ', @apikeys_collation), 'DO 0');
PREPARE apikeys_stmt FROM @apikeys_sql;
EXECUTE apikeys_stmt;
DEALLOCATE PREPARE apikeys_stmt;

SET @apikeys_collation = NULL, @apikeys_sql = NULL;

-- +goose Down
SET @apikeys_sql = IF(
    EXISTS (SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'organization_policies'),
    'ALTER TABLE organization_policies CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin', 'DO 0');
PREPARE apikeys_stmt FROM @apikeys_sql;
EXECUTE apikeys_stmt;
DEALLOCATE PREPARE apikeys_stmt;
SET @apikeys_sql = IF(
    EXISTS (SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'retired_secrets'),
    'ALTER TABLE retired_secrets CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin', 'DO 0');
PREPARE apikeys_stmt FROM @apikeys_sql;
EXECUTE apikeys_stmt;
DEALLOCATE PREPARE apikeys_stmt;
SET @apikeys_sql = NULL;
ALTER TABLE audit_chains CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE audit_events CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE api_keys CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
