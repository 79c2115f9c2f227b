-- +goose Up
-- The id a client sent with its request (X-Request-Id), kept apart from
-- the request id the server made, and only when it has the safe form
-- (1-64 of A-Z a-z 0-9 . _ : -); NULL when the client sent none.
ALTER TABLE audit_events ADD COLUMN client_request_id TEXT NULL;

-- +goose Down
ALTER TABLE audit_events DROP COLUMN client_request_id;
