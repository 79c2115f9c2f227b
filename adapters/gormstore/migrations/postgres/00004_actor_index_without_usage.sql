-- +goose Up
-- The actor index leaves out usage events (key.used, key.auth_failed), one
-- per verification and by far the most numerous: their actor is always
-- "key:" + key_id, or "anonymous" with an empty key_id, so a search by
-- actor finds them through the key index instead (see ListEvents). Every
-- verification's event then goes into one index fewer. It can be run
-- again. Building the new index holds writes to audit_events until it is
-- built (a few seconds per million events); the writers wait, nothing is
-- lost.
DROP INDEX IF EXISTS audit_events_actor_occurred_idx;
CREATE INDEX IF NOT EXISTS audit_events_actor_mgmt_idx ON audit_events (actor, occurred_at)
    WHERE action NOT IN ('key.used', 'key.auth_failed');

-- +goose Down
DROP INDEX audit_events_actor_mgmt_idx;
CREATE INDEX audit_events_actor_occurred_idx ON audit_events (actor, occurred_at);
