-- +goose Up
-- The id a client sent with its request (X-Request-Id), kept apart from
-- the request id the server made, and only when it has the safe form
-- (1-64 of A-Z a-z 0-9 . _ : -); NULL when the client sent none.
-- scope holds every scope a verification required, comma-separated (all
-- six take 95 characters). Both changes only touch the catalog: adding a
-- nullable column without a default and lengthening a varchar rewrite no
-- row.
ALTER TABLE audit_events ADD COLUMN client_request_id varchar(64) COLLATE "C" NULL;
ALTER TABLE audit_events ALTER COLUMN scope TYPE varchar(255);

-- +goose Down
-- scope stays wide: narrowing it would cut stored values the hash chains
-- cover, and code of the previous version writes at most 64 characters.
ALTER TABLE audit_events DROP COLUMN client_request_id;
