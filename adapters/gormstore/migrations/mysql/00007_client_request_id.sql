-- +goose Up
-- The id a client sent with its request (X-Request-Id), kept apart from
-- the request id the server made, and only when it has the safe form
-- (1-64 of A-Z a-z 0-9 . _ : -); NULL when the client sent none.
-- scope holds every scope a verification required, comma-separated (all
-- six take 95 characters). Two statements, so that each keeps its cheap
-- algorithm: a nullable column added last is instant (MySQL 8.0.12+,
-- MariaDB 10.3+), and lengthening a VARCHAR whose length prefix is
-- already two bytes (64 utf8mb4 characters) is done in place, copying no
-- row.
ALTER TABLE audit_events ADD COLUMN client_request_id VARCHAR(64) NULL;
ALTER TABLE audit_events MODIFY COLUMN scope VARCHAR(255) NOT NULL DEFAULT '';

-- +goose Down
-- scope stays wide: narrowing it would cut stored values the hash chains
-- cover, and code of the previous version writes at most 64 characters.
ALTER TABLE audit_events DROP COLUMN client_request_id;
